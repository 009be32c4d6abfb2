"""Patch points sagemaker-*-endpoint*, sagemaker-runtime-invoke: endpoints serve, capture, update, roll back."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from tests.emulator.conftest import make_role
from tests.support import tar_gz

INFERENCE = """
import json, os, pathlib

def model_fn(model_dir):
    return float(pathlib.Path(model_dir, "factor.txt").read_text())

def input_fn(body, content_type):
    if content_type != "application/json":
        error = ValueError(f"unsupported content type {content_type}")
        error.status_code = 415
        raise error
    return json.loads(body)

def predict_fn(data, factor):
    if "x" not in data:
        error = ValueError("missing field x")
        error.status_code = 400
        raise error
    return {"y": data["x"] * factor, "model": os.environ.get("MODEL_LABEL")}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


@pytest.fixture
def hosting(emulator: Emulator):
    s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
    s3.create_bucket(Bucket="models-bucket")
    s3.put_object(Bucket="models-bucket", Key="code/sourcedir.tar.gz", Body=tar_gz({"inference.py": INFERENCE}))
    # The models' role: SageMaker fetches the artifacts and writes capture as it.
    make_role(emulator, "r", "sagemaker.amazonaws.com", "s3:GetObject", "s3:PutObject")

    def model(name: str, factor: float) -> str:
        s3.put_object(Bucket="models-bucket", Key=f"{name}/model.tar.gz", Body=tar_gz({"factor.txt": str(factor)}))
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
                "ModelDataUrl": f"s3://models-bucket/{name}/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://models-bucket/code/sourcedir.tar.gz",
                    "MODEL_LABEL": name,
                },
            },
        )
        return name

    def config(
        name: str,
        variants: list[tuple[str, str, float]],
        shadow: tuple[str, str] | None = None,
        *,
        instances: int = 1,
        instance_type: str = "ml.m5.large",
    ) -> str:
        request = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": v,
                    "ModelName": m,
                    "InitialInstanceCount": instances,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": w,
                }
                for v, m, w in variants
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": "s3://models-bucket/capture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            },
        }
        if shadow:
            request["ShadowProductionVariants"] = [
                {
                    "VariantName": shadow[0],
                    "ModelName": shadow[1],
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ]
        sagemaker.create_endpoint_config(**request)
        return name

    return model, config


def wait_in_service(emulator: Emulator, name: str) -> dict:
    def in_service() -> dict | None:
        described = emulator.client("sagemaker").describe_endpoint(EndpointName=name)
        return described if described["EndpointStatus"] == "InService" else None

    return dict(emulator.wait_until(in_service, timeout=3600, description=f"endpoint {name} InService"))


def every(emulator: Emulator, seconds: float, until: Any, *, limit: float = 7200) -> None:
    """Call ``until()`` now and after every ``seconds`` of emulated time, until it is true (``limit`` at most)."""
    waited = 0.0
    while not until():
        assert waited < limit, f"still not done after {limit:g} s of emulated time"
        emulator.advance(seconds)
        waited += seconds


def invoke(emulator: Emulator, name: str, payload: dict, **kwargs) -> tuple[dict, str]:
    response = emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=json.dumps(payload), ContentType="application/json", **kwargs
    )
    return json.loads(response["Body"].read()), response["InvokedProductionVariant"]


def test_an_endpoint_is_created_then_serves_its_model_with_capture_and_metrics(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("c1", [("blue", model("m1", 2.0), 1.0)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c1")

    assert sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"] == "Creating"
    assert wait_in_service(emulator, "e")["EndpointStatus"] == "InService"
    results = [invoke(emulator, "e", {"x": i}) for i in range(5)]

    assert results[3] == ({"y": 6.0, "model": "m1"}, "blue")
    emulator.sagemaker.flush_capture()
    objects = emulator.client("s3").list_objects_v2(Bucket="models-bucket", Prefix="capture/e/blue/")["Contents"]
    lines = [
        json.loads(line)
        for o in objects
        for line in emulator.client("s3")
        .get_object(Bucket="models-bucket", Key=o["Key"])["Body"]
        .read()
        .decode()
        .splitlines()
    ]
    assert len(lines) == 5
    assert json.loads(lines[0]["captureData"]["endpointInput"]["data"]) == {"x": 0}
    assert lines[0]["captureData"]["endpointOutput"]["observedContentType"] == "application/json"
    stats = emulator.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "blue"}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(d["Sum"] for d in stats) == 5


def test_weights_and_target_variant_route_traffic(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("c1", [("a", model("ma", 1.0), 1.0), ("b", model("mb", 10.0), 3.0)])
    emulator.client("sagemaker").create_endpoint(EndpointName="e", EndpointConfigName="c1")
    wait_in_service(emulator, "e")

    served = [invoke(emulator, "e", {"x": 1})[1] for _ in range(200)]
    targeted = {invoke(emulator, "e", {"x": 1}, TargetVariant="a")[1] for _ in range(20)}

    assert 0.65 < served.count("b") / len(served) < 0.85
    assert targeted == {"a"}
    with pytest.raises(ClientError, match="Target variant"):
        invoke(emulator, "e", {"x": 1}, TargetVariant="nope")


def test_shadow_variant_gets_a_copy_that_is_captured_never_returned(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("c1", [("prod", model("m1", 1.0), 1.0)], shadow=("shadow", model("m2", 100.0)))
    emulator.client("sagemaker").create_endpoint(EndpointName="e", EndpointConfigName="c1")
    described = wait_in_service(emulator, "e")

    answers = {json.dumps(invoke(emulator, "e", {"x": 2})) for _ in range(10)}

    assert described["ShadowProductionVariants"][0]["VariantName"] == "shadow"
    assert answers == {json.dumps([{"y": 2.0, "model": "m1"}, "prod"])}
    emulator.sagemaker.flush_capture()
    shadow_objects = emulator.client("s3").list_objects_v2(Bucket="models-bucket", Prefix="capture/e/shadow/")[
        "Contents"
    ]
    body = (
        emulator.client("s3").get_object(Bucket="models-bucket", Key=shadow_objects[0]["Key"])["Body"].read().decode()
    )
    assert json.loads(json.loads(body.splitlines()[0])["captureData"]["endpointOutput"]["data"])["y"] == 200.0


def test_model_errors_are_surfaced_with_the_status_and_counted(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("c1", [("blue", model("m1", 1.0), 1.0)])
    emulator.client("sagemaker").create_endpoint(EndpointName="e", EndpointConfigName="c1")
    wait_in_service(emulator, "e")

    with pytest.raises(ClientError) as raised:
        invoke(emulator, "e", {"wrong": 1})

    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert "missing field x" in str(raised.value)
    with pytest.raises(ClientError, match="Endpoint missing of account 123456789012 not found") as missing:
        invoke(emulator, "missing", {"x": 1})
    assert missing.value.response["Error"]["Code"] == "ValidationError"  # the runtime's code, as on AWS


def test_a_model_error_carries_the_containers_status_and_message_as_sagemaker_sends_them(
    emulator: Emulator, hosting
) -> None:
    """ModelError (424): "client error" for the container's 4xx, "server error" for its 5xx, and its own status and
    message in OriginalStatusCode and OriginalMessage (botocore's ModelError shape)."""
    model, config = hosting
    config("c1", [("blue", model("m1", 1.0), 1.0)])
    emulator.client("sagemaker").create_endpoint(EndpointName="e", EndpointConfigName="c1")
    wait_in_service(emulator, "e")

    with pytest.raises(ClientError) as refused:
        invoke(emulator, "e", {"wrong": 1})
    with pytest.raises(ClientError) as crashed:
        invoke(emulator, "e", {"x": None})  # None * factor: a TypeError in the model's code

    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert (refused.value.response["OriginalStatusCode"], refused.value.response["OriginalMessage"]) == (
        400,
        "missing field x",
    )
    assert 'Received client error (400) from primary with message "missing field x"' in str(refused.value)
    assert refused.value.response["LogStreamArn"].startswith("arn:aws:logs:")
    assert crashed.value.response["OriginalStatusCode"] == 500
    assert "TypeError" in crashed.value.response["OriginalMessage"]
    assert "Received server error (500)" in str(crashed.value)


def test_injected_faults_trip_an_error_alarm(tmp_path) -> None:
    with Emulator(workdir=tmp_path / "e") as emulator:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket="models-bucket")
        s3.put_object(Bucket="models-bucket", Key="code/sourcedir.tar.gz", Body=tar_gz({"inference.py": INFERENCE}))
        s3.put_object(Bucket="models-bucket", Key="m1/model.tar.gz", Body=tar_gz({"factor.txt": "1"}))
        make_role(emulator, "r", "sagemaker.amazonaws.com", "s3:GetObject", "s3:PutObject")
        sagemaker = emulator.client("sagemaker")
        sagemaker.create_model(
            ModelName="m1",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={
                "Image": "i",
                "ModelDataUrl": "s3://models-bucket/m1/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://models-bucket/code/sourcedir.tar.gz",
                },
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[
                {"VariantName": "blue", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            ],
        )
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c1")
        wait_in_service(emulator, "e")
        emulator.client("cloudwatch").put_metric_alarm(
            AlarmName="e-5xx",
            Namespace="AWS/SageMaker",
            MetricName="Invocation5XXErrors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            Dimensions=[{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "blue"}],
        )

        emulator.sagemaker.inject_fault("blue", error_rate=1.0)
        with pytest.raises(ClientError):
            invoke(emulator, "e", {"x": 1})
        emulator.advance(60)  # CloudWatch evaluates at the next minute

        alarm = emulator.client("cloudwatch").describe_alarms(AlarmNames=["e-5xx"])["MetricAlarms"][0]
        assert alarm["StateValue"] == "ALARM"


def test_a_fault_with_a_minimum_share_goes_live_when_the_weights_reach_it(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("c1", [("blue", model("m1", 1.0), 0.95), ("green", model("m2", 2.0), 0.05)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c1")
    wait_in_service(emulator, "e")
    emulator.sagemaker.inject_fault("m2", error_rate=1.0, min_share=0.25)  # by model name, set in advance

    at_5_percent = invoke(emulator, "e", {"x": 1}, TargetVariant="green")[0]
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="e",
        DesiredWeightsAndCapacities=[{"VariantName": "blue", "DesiredWeight": 0.75},
                                     {"VariantName": "green", "DesiredWeight": 0.25}],
    )  # fmt: skip

    assert at_5_percent == {"y": 2.0, "model": "m2"}
    with pytest.raises(ClientError, match="injected fault on green"):
        invoke(emulator, "e", {"x": 1}, TargetVariant="green")
    assert invoke(emulator, "e", {"x": 1}, TargetVariant="blue")[0]["model"] == "m1"
    with pytest.raises(ValueError, match="min_share"):
        emulator.sagemaker.inject_fault("m2", min_share=1.5)


def _blue_green(config_name: str, alarms: list[str]) -> dict:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
                "WaitIntervalInSeconds": 300,
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 1800,
        },
        **({"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]}} if alarms else {}),
    }


def test_a_canary_update_shifts_traffic_and_completes(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)], instances=2)
    config("new", [("main", model("m2", 2.0), 1.0)], instances=2)  # a 20% canary is 1 of 2 instances
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")

    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="new", DeploymentConfig=_blue_green("new", []))
    statuses: list[str] = []
    seen_models: list[set[str]] = []

    def observed_in_service() -> bool:
        statuses.append(sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"])
        seen_models.append({invoke(emulator, "e", {"x": 1})[0]["model"] for _ in range(20)})
        return statuses[-1] == "InService"

    started = emulator.now()
    every(emulator, 60, observed_in_service)

    # Three minutes of provisioning on the old fleet, a five-minute canary bake (20% on the new fleet), a
    # five-minute bake with all traffic on the new fleet, then InService on the new config: 13 minutes.
    assert statuses == ["Updating"] * (len(statuses) - 1) + ["InService"]
    assert 13 * 60 <= (emulator.now() - started).total_seconds() <= 14 * 60
    phases = [("old" if m == {"m1"} else "new" if m == {"m2"} else "canary") for m in seen_models]
    assert phases == ["old"] * 3 + ["canary"] * phases.count("canary") + ["new"] * phases.count("new")
    assert phases.count("canary") >= 5
    assert phases.count("new") >= 5
    assert sagemaker.describe_endpoint(EndpointName="e")["EndpointConfigName"] == "new"


def test_an_alarm_during_the_canary_rolls_back_to_the_old_config(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)], instances=2)
    config("new", [("main", model("m2", 2.0), 1.0)], instances=2)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")
    emulator.client("cloudwatch").put_metric_alarm(
        AlarmName="always",
        Namespace="Test",
        MetricName="Always",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching",
    )

    emulator.advance(60)  # the alarm (breaching on missing data) is in ALARM from its first evaluation on
    sagemaker.update_endpoint(
        EndpointName="e", EndpointConfigName="new", DeploymentConfig=_blue_green("new", ["always"])
    )
    statuses: list[str] = []

    def back_in_service() -> bool:
        statuses.append(sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"])
        return statuses[-1] == "InService"

    every(emulator, 30, back_in_service)

    described = sagemaker.describe_endpoint(EndpointName="e")
    # Provisioning (3 min), the first canary check sees the alarm, rolling back (1 min), InService on the old config.
    assert statuses == ["Updating"] * 6 + ["RollingBack"] * 2 + ["InService"]
    assert described["EndpointConfigName"] == "old"
    assert "always" in described["FailureReason"]
    assert invoke(emulator, "e", {"x": 1})[0]["model"] == "m1"


def test_updates_of_a_busy_endpoint_and_renamed_variants_are_refused(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)])
    config("renamed", [("other", model("m2", 2.0), 1.0)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")

    with pytest.raises(ClientError, match="in-progress"):
        sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="renamed")
    wait_in_service(emulator, "e")
    with pytest.raises(ClientError, match="must keep the variant names"):
        sagemaker.update_endpoint(
            EndpointName="e", EndpointConfigName="renamed", DeploymentConfig=_blue_green("renamed", [])
        )


def test_a_model_or_endpoint_config_name_is_created_once(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("Config-1", [("main", model("Model-1", 1.0), 1.0)])
    sagemaker = emulator.client("sagemaker")
    prefix = f"arn:aws:sagemaker:{emulator.region}:{emulator.account}"

    with pytest.raises(ClientError) as model_again:
        model("Model-1", 5.0)
    with pytest.raises(ClientError) as config_again:
        config("Config-1", [("other", "Model-1", 1.0)])

    assert model_again.value.response["Error"]["Code"] == "ValidationException"
    assert model_again.value.response["Error"]["Message"] == (
        f'Cannot create already existing model "{prefix}:model/model-1".'
    )
    assert config_again.value.response["Error"]["Code"] == "ValidationException"
    assert config_again.value.response["Error"]["Message"] == (
        f'Cannot create already existing endpoint configuration "{prefix}:endpoint-config/config-1".'
    )
    # Nothing was overwritten (moto replaces both silently).
    described = sagemaker.describe_endpoint_config(EndpointConfigName="Config-1")
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["main"]


def _autoscale(emulator: Emulator, endpoint: str, variant: str) -> None:
    emulator.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{endpoint}/variant/{variant}",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )


def test_an_update_may_not_remove_or_retype_an_autoscaled_variant(emulator: Emulator, hosting) -> None:
    model, config = hosting
    m1, m2 = model("m1", 1.0), model("m2", 2.0)
    config("blue", [("blue", m1, 1.0)])
    config("green-only", [("green", m2, 1.0)])
    config("blue-bigger", [("blue", m1, 1.0)], instance_type="ml.c5.xlarge")
    config("blue-new-model", [("blue", m2, 1.0)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="blue")
    wait_in_service(emulator, "e")
    _autoscale(emulator, "e", "blue")
    _autoscale(emulator, "other-endpoint", "green")  # another endpoint's targets do not count

    with pytest.raises(ClientError, match=r"removes \['blue'\].*DeregisterScalableTarget") as removed:
        sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="green-only")
    with pytest.raises(ClientError, match=r"changes the instance type of \['blue'\]"):
        sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="blue-bigger")

    assert removed.value.response["Error"]["Code"] == "ValidationException"
    assert sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"
    # Changing only the model of an autoscaled variant is allowed (the guide's one exception).
    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="blue-new-model")
    assert wait_in_service(emulator, "e")["EndpointConfigName"] == "blue-new-model"
    # Deregistered, the variant may go.
    emulator.client("application-autoscaling").deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/e/variant/blue",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="green-only")
    assert wait_in_service(emulator, "e")["EndpointConfigName"] == "green-only"


@pytest.mark.parametrize("blue_green", [False, True], ids=["plain", "blue-green"])
def test_a_failed_update_ends_in_service_on_the_old_config_with_a_reason(
    emulator: Emulator, hosting, blue_green: bool
) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)], instances=2)
    config("new", [("main", model("m2", 2.0), 1.0)], instances=2)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")
    emulator.sagemaker.fail_next_update("e", "Insufficient capacity for ml.m5.large")

    sagemaker.update_endpoint(
        EndpointName="e",
        EndpointConfigName="new",
        **({"DeploymentConfig": _blue_green("new", [])} if blue_green else {}),
    )
    updating = sagemaker.describe_endpoint(EndpointName="e")
    described = wait_in_service(emulator, "e")

    assert updating["EndpointStatus"] == "Updating"
    assert described["EndpointConfigName"] == "old"
    assert described["FailureReason"] == "Insufficient capacity for ml.m5.large"
    assert "PendingDeploymentSummary" not in described
    assert invoke(emulator, "e", {"x": 1})[0]["model"] == "m1"
    # The hook fails one update: the next one succeeds and clears the reason.
    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="new")
    again = wait_in_service(emulator, "e")
    assert again["EndpointConfigName"] == "new"
    assert "FailureReason" not in again


@pytest.mark.parametrize("ends", ["UpdateRollbackFailed", "OutOfService", "Failed"])
def test_a_failed_update_can_leave_the_endpoint_broken(emulator: Emulator, hosting, ends: str) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)])
    config("new", [("main", model("m2", 2.0), 1.0)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")
    emulator.sagemaker.fail_next_update("e", "the new fleet failed its health checks", ends=ends)

    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="new")

    def ended() -> dict | None:
        described = sagemaker.describe_endpoint(EndpointName="e")
        return described if described["EndpointStatus"] != "Updating" else None

    described = emulator.wait_until(ended, timeout=3600, description="the update ends")
    assert described["EndpointStatus"] == ends
    assert described["EndpointConfigName"] == "old"
    assert described["FailureReason"] == "the new fleet failed its health checks"
    if ends == "UpdateRollbackFailed":  # in service, on a mix of configs: the emulator keeps the old one serving
        assert invoke(emulator, "e", {"x": 1})[0]["model"] == "m1"
    else:
        with pytest.raises(ClientError, match="not in service"):
            invoke(emulator, "e", {"x": 1})
    if ends == "Failed":
        with pytest.raises(ClientError, match="delete it"):
            sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="new")


def test_the_failure_hook_refuses_what_sagemaker_never_reports(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="ends must be one of"):
        emulator.sagemaker.fail_next_update("e", "x", ends="Deleting")
    with pytest.raises(ValueError, match="FailureReason"):
        emulator.sagemaker.fail_next_update("e", " ")


def _routing(kind: str, size_type: str, value: int, *, wait: int = 300, timeout: int = 1800) -> dict:
    field = "CanarySize" if kind == "CANARY" else "LinearStepSize"
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": kind,
                field: {"Type": size_type, "Value": value},
                "WaitIntervalInSeconds": wait,
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }


@pytest.mark.parametrize(
    ("instances", "kind", "size_type", "value", "accepted"),
    [
        (1, "CANARY", "CAPACITY_PERCENT", 20, False),  # one instance is 100% of one
        (2, "CANARY", "CAPACITY_PERCENT", 50, True),
        (4, "CANARY", "CAPACITY_PERCENT", 60, False),
        (4, "CANARY", "INSTANCE_COUNT", 2, True),
        (4, "CANARY", "INSTANCE_COUNT", 3, False),
        (10, "LINEAR", "CAPACITY_PERCENT", 5, False),  # a linear step is 10-50%
        (10, "LINEAR", "CAPACITY_PERCENT", 10, True),
        (10, "LINEAR", "INSTANCE_COUNT", 6, False),
    ],
)
def test_blue_green_steps_must_fit_the_variants_instances(
    emulator: Emulator, hosting, instances: int, kind: str, size_type: str, value: int, accepted: bool
) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)], instances=instances)
    config("new", [("main", model("m2", 2.0), 1.0)], instances=instances)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")

    def update() -> None:
        sagemaker.update_endpoint(
            EndpointName="e", EndpointConfigName="new", DeploymentConfig=_routing(kind, size_type, value)
        )

    if accepted:
        update()
        assert sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"] == "Updating"
    else:
        with pytest.raises(ClientError, match="of the variant's instance count") as refused:
            update()
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"


def test_a_blue_green_timeout_must_exceed_its_waits(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)], instances=2)
    config("new", [("main", model("m2", 2.0), 1.0)], instances=2)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")

    with pytest.raises(ClientError, match="must be larger than TerminationWaitInSeconds plus WaitIntervalInSeconds"):
        sagemaker.update_endpoint(
            EndpointName="e",
            EndpointConfigName="new",
            DeploymentConfig=_routing("CANARY", "INSTANCE_COUNT", 1, wait=900, timeout=900),
        )


def test_shadow_variants_come_one_with_one_production_variant(emulator: Emulator, hosting) -> None:
    model, config = hosting
    m1, m2, m3 = model("m1", 1.0), model("m2", 2.0), model("m3", 3.0)
    sagemaker = emulator.client("sagemaker")

    def variant(name: str, model_name: str) -> dict:
        return {"VariantName": name, "ModelName": model_name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}

    with pytest.raises(ClientError, match="exactly one ProductionVariant and one ShadowProductionVariant; got 1 and 2"):
        sagemaker.create_endpoint_config(
            EndpointConfigName="two-shadows",
            ProductionVariants=[variant("main", m1)],
            ShadowProductionVariants=[variant("s1", m2), variant("s2", m3)],
        )
    with pytest.raises(ClientError, match="got 2 and 1"):
        sagemaker.create_endpoint_config(
            EndpointConfigName="two-production",
            ProductionVariants=[variant("a", m1), variant("b", m2)],
            ShadowProductionVariants=[variant("s", m3)],
        )
    config("one-and-one", [("main", m1, 1.0)], shadow=("shadow", m2))
    assert sagemaker.describe_endpoint_config(EndpointConfigName="one-and-one")["ShadowProductionVariants"]


def test_retained_variant_properties_keep_a_scaled_out_variants_instances(emulator: Emulator, hosting) -> None:
    model, config = hosting
    config("old", [("main", model("m1", 1.0), 1.0)])
    config("new", [("main", model("m2", 2.0), 1.0)])
    config("newer", [("main", model("m3", 3.0), 1.0)])
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="old")
    wait_in_service(emulator, "e")
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="e", DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredInstanceCount": 3}]
    )
    wait_in_service(emulator, "e")

    sagemaker.update_endpoint(
        EndpointName="e",
        EndpointConfigName="new",
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}],
    )
    retained = wait_in_service(emulator, "e")["ProductionVariants"][0]
    sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="newer")  # the default: the config's values
    reset = wait_in_service(emulator, "e")["ProductionVariants"][0]

    assert retained["CurrentInstanceCount"] == 3
    assert reset["CurrentInstanceCount"] == 1
