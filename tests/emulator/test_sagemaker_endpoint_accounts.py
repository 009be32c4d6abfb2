"""An endpoint in an environment account: its model's execution role reads the artifacts from the tooling account's
bucket and writes data capture back to it (each allowed by the role's own policy and by the bucket and key policies,
as across accounts on AWS), while its models, endpoint configs, metrics, alarms and scalable targets are the
environment account's own. The same endpoint name in two accounts names two endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from tests.support import tar_gz

ENVIRONMENT = "222222222222"
BUCKET = "tooling-artifacts"
ENDPOINT = "serving"
INFERENCE = """
import json, pathlib

def model_fn(model_dir):
    return float(pathlib.Path(model_dir, "factor.txt").read_text())

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, factor):
    return {"y": data["x"] * factor}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def tooling(emulator: Emulator) -> str:
    """The tooling account's key and bucket (encrypting with it by default) holding a model and its code."""
    key = str(emulator.client("kms").create_key(Description="platform")["KeyMetadata"]["Arn"])
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    s3.put_object(Bucket=BUCKET, Key="models/m1/model.tar.gz", Body=tar_gz({"factor.txt": "3"}))
    s3.put_object(Bucket=BUCKET, Key="models/code/sourcedir.tar.gz", Body=tar_gz({"inference.py": INFERENCE}))
    return key


def _share(emulator: Emulator, key: str, *, capture: bool = True) -> None:
    """The tooling account's grants to the environment account: read models, and (``capture``) write capture."""
    root = f"arn:aws:iam::{ENVIRONMENT}:root"
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/models/*",
        }
    ]
    if capture:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/capture/{ENDPOINT}/*",
            }
        )
    emulator.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=_policy(*statements))
    owner = f"arn:aws:iam::{emulator.account}:root"
    emulator.client("kms").put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=_policy(
            {"Effect": "Allow", "Principal": {"AWS": owner}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
            },
        ),
    )


def _environment(emulator: Emulator, key: str, *, capture_key: str | None = None) -> dict[str, Any]:
    """In the environment account: the model role (allowed the tooling account's objects and key), a model, an
    endpoint config capturing to the tooling bucket, and the endpoint, InService."""
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = _policy(
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    role = str(iam.create_role(RoleName="model", AssumeRolePolicyDocument=trust)["Role"]["Arn"])
    grants = _policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/models/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/capture/*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key},
    )
    iam.put_role_policy(RoleName="model", PolicyName="artifacts", PolicyDocument=grants)
    sagemaker = emulator.client("sagemaker", account=ENVIRONMENT)
    sagemaker.create_model(
        ModelName="m1",
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": f"s3://{BUCKET}/models/m1/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/models/code/sourcedir.tar.gz",
            },
        },
    )
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    if capture_key:
        capture["KmsKeyId"] = capture_key
    sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {"VariantName": "blue", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        DataCaptureConfig=capture,
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c1")
    emulator.wait_until(
        lambda: sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService", timeout=3600
    )
    return {"role": role, "sagemaker": sagemaker}


def _invoke(emulator: Emulator, account: str | None = ENVIRONMENT) -> dict[str, Any]:
    runtime = emulator.client("sagemaker-runtime", account=account)
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=b'{"x": 2}')
    return dict(json.loads(answer["Body"].read()))


def _captured(emulator: Emulator) -> list[str]:
    listed = emulator.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="capture/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_an_environment_endpoint_serves_a_model_of_the_tooling_account_and_captures_to_it(
    emulator: Emulator, tooling: str
) -> None:
    _share(emulator, tooling)
    _environment(emulator, tooling, capture_key=tooling)

    assert _invoke(emulator) == {"y": 6.0}
    emulator.sagemaker.flush_capture()

    (key,) = _captured(emulator)
    assert key.startswith(f"capture/{ENDPOINT}/blue/")
    head = emulator.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == tooling


def test_without_the_tooling_accounts_capture_grant_the_capture_write_is_denied(
    emulator: Emulator, tooling: str
) -> None:
    _share(emulator, tooling, capture=False)
    _environment(emulator, tooling)
    _invoke(emulator)

    with pytest.raises(ClientError) as raised:
        emulator.sagemaker.flush_capture()

    message = raised.value.response["Error"]["Message"]
    assert f"{ENVIRONMENT}:assumed-role/model/SageMaker is not authorized to perform: s3:PutObject" in message
    assert "because no resource-based policy allows the s3:PutObject action" in message
    assert _captured(emulator) == []


def test_without_the_bucket_policy_the_model_cannot_be_loaded(emulator: Emulator, tooling: str) -> None:
    _environment(emulator, tooling)  # nothing shared

    with pytest.raises(ClientError):
        _invoke(emulator)


def test_the_endpoints_metrics_and_alarms_are_the_environment_accounts(emulator: Emulator, tooling: str) -> None:
    _share(emulator, tooling)
    _environment(emulator, tooling)
    dimensions = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "blue"}]
    for account in (ENVIRONMENT, emulator.account):  # the same alarm in both accounts: only one sees the data
        emulator.client("cloudwatch", account=account).put_metric_alarm(
            AlarmName="invoked",
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            Dimensions=dimensions,
            Statistic="Sum",
            Period=300,  # the invocation stays inside the window for five minutes
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )

    _invoke(emulator)
    emulator.advance(60)

    def state(account: str) -> str:
        alarms = emulator.client("cloudwatch", account=account).describe_alarms(AlarmNames=["invoked"])
        return str(alarms["MetricAlarms"][0]["StateValue"])

    assert state(ENVIRONMENT) == "ALARM"
    assert state(emulator.account) == "OK"
    metrics = emulator.client("cloudwatch", account=ENVIRONMENT).list_metrics(Namespace="AWS/SageMaker")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"Invocations", "ModelLatency"}
    assert emulator.client("cloudwatch").list_metrics(Namespace="AWS/SageMaker")["Metrics"] == []


def test_the_environment_accounts_scalable_targets_guard_its_endpoint(emulator: Emulator, tooling: str) -> None:
    _share(emulator, tooling)
    env = _environment(emulator, tooling)
    emulator.client("application-autoscaling", account=ENVIRONMENT).register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/blue",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    env["sagemaker"].create_endpoint_config(
        EndpointConfigName="c2",
        ProductionVariants=[
            {"VariantName": "blue", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.c5.large"}
        ],
    )

    with pytest.raises(ClientError) as raised:
        env["sagemaker"].update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c2")

    assert "registered as scalable targets" in raised.value.response["Error"]["Message"]
    assert f":{ENVIRONMENT}:endpoint/{ENDPOINT}" in raised.value.response["Error"]["Message"]


def test_the_same_endpoint_name_in_two_accounts_names_two_endpoints(emulator: Emulator, tooling: str) -> None:
    _share(emulator, tooling)
    _environment(emulator, tooling)

    with pytest.raises(ClientError) as missing:
        _invoke(emulator, account=None)
    assert f"Endpoint {ENDPOINT} of account {emulator.account} not found" in str(missing.value)
    with pytest.raises(ClientError):
        emulator.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert _invoke(emulator) == {"y": 6.0}


def test_an_environment_alarm_notifies_through_its_own_accounts_topic(emulator: Emulator, tooling: str) -> None:
    _share(emulator, tooling)
    _environment(emulator, tooling)
    sns = emulator.client("sns", account=ENVIRONMENT)
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    emulator.client("cloudwatch", account=ENVIRONMENT).put_metric_alarm(
        AlarmName="invoked",
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "blue"}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )

    _invoke(emulator)
    emulator.advance(60)

    (mail,) = emulator.mailbox("oncall@example.com", account=ENVIRONMENT)
    assert "invoked" in str(mail)
    assert emulator.mailbox("oncall@example.com") == []
