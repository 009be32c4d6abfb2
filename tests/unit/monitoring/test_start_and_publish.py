"""Starting a run (window, capture listing, the job request the job program accepts) and publishing its metrics."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mlops_kit.monitoring import naming
from mlops_kit.monitoring.capture import list_capture
from mlops_kit.monitoring.job import run_drift
from mlops_kit.monitoring.publish import metric_data
from mlops_kit.monitoring.settings import DriftSettings, JobSettings
from mlops_kit.monitoring.start import DriftConfigurationError, baseline_of, drift_window, processing_job_request
from mlops_kit.registry import ModelVersion
from sagemaker_jobs import drift as drift_job
from tests.unit.monitoring.conftest import ARTIFACTS, ENDPOINT, SERVED, World
from tests.unit.monitoring.support import FakeS3

T = dt.datetime(2026, 3, 10, 12, 30, tzinfo=dt.UTC)
SETTINGS = DriftSettings(
    endpoint_name=ENDPOINT,
    model_package_group="models",
    use_case="mlops_kit.features.fraud",
    capture_uri=f"s3://{ARTIFACTS}/capture",
    artifacts_bucket=ARTIFACTS,
    offline_uri="s3://data/features",
    state_table="state",
    window_hours=24,
    baseline_mode="rolling",
    rolling_days=28,
    psi_investigate=0.1,
    psi_act=0.25,
    job=JobSettings(
        role_arn="arn:aws:iam::123456789012:role/job",
        image_uri="123.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
        launcher_uri="s3://assets/abc.py",
        launcher_file="abc.py",
        bundle_uri="s3://assets/def.gz",
        instance_type="ml.t3.medium",
        volume_gb=40,
        max_runtime_seconds=1800,
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
    ),
)


def test_the_window_ends_at_the_scheduled_time_and_never_reaches_before_the_deployment() -> None:
    assert drift_window(T, 24, None) == (T - dt.timedelta(hours=24), T)
    assert drift_window(T, 24, T - dt.timedelta(hours=3)) == (T - dt.timedelta(hours=3), T)
    assert drift_window(T, 24, T - dt.timedelta(days=3)) == (T - dt.timedelta(hours=24), T)
    assert drift_window(T, 24, T + dt.timedelta(minutes=1)) is None


def test_job_names_are_per_window_end_and_readable_back() -> None:
    name = naming.job_name("my-endpoint", T)

    assert name == "drift-my-endpoint-20260310-123000"
    assert name.startswith(naming.job_prefix("my-endpoint"))
    assert naming.job_window_end(name) == T
    assert len(naming.job_name("e" * 63, T)) <= 63


def test_the_job_request_runs_the_launcher_with_arguments_the_job_program_accepts() -> None:
    request = processing_job_request(
        SETTINGS, job_name="drift-ep-1", version=7, baseline_uri="s3://a/b.json", start=T - dt.timedelta(hours=1), end=T
    )

    app = request["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/abc.py"]
    assert app["ContainerArguments"][0] == "drift"
    inputs = drift_job.inputs_from(drift_job.parse_args(app["ContainerArguments"][1:]))
    assert (inputs.start, inputs.end, inputs.model_version) == (T - dt.timedelta(hours=1), T, "7")
    assert (inputs.thresholds.act, inputs.baseline_mode, inputs.offline_uri) == (0.25, "rolling", "s3://data/features")
    assert {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]} == {
        "code": "s3://assets/abc.py",
        "bundle": "s3://assets/def.gz",
    }
    (output,) = request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == f"s3://{ARTIFACTS}/drift/{ENDPOINT}/reports/drift-ep-1"
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == SETTINGS.job.kms_key_arn
    # One instance (the inputs are fully replicated: more would each write the same report); disk and time as set.
    assert request["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 40,
    }  # fmt: skip
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    assert request["Environment"][naming.ENDPOINT_ENVIRONMENT] == ENDPOINT


def _version(properties: dict[str, str]) -> ModelVersion:
    return ModelVersion(
        arn="arn:aws:sagemaker:us-east-1:1:model-package/models/4",
        group="models",
        version=4,
        stage="Production",
        stage_status="Deployed",
        approval_status="Approved",
        created=T,
        model_data_url="s3://m/model.tar.gz",
        properties=properties,
    )


def test_a_production_version_must_carry_a_baseline_that_exists() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket="a", Key="b/baseline.json", Body=b"{}")

    assert baseline_of(_version({"drift.baseline_uri": "s3://a/b/baseline.json"}), s3) == "s3://a/b/baseline.json"
    with pytest.raises(DriftConfigurationError, match=r"Production version 4 .* has no drift\.baseline_uri"):
        baseline_of(_version({}), s3)
    with pytest.raises(DriftConfigurationError, match=r"\(s3://a/gone.json\) cannot be read"):
        baseline_of(_version({"drift.baseline_uri": "s3://a/gone.json"}), s3)


def test_capture_is_listed_per_production_variant_and_hour_without_the_shadow() -> None:
    s3 = FakeS3()
    for variant, hour in (("blue", "2026/03/10/11"), ("blue", "2026/03/10/12"), ("green", "2026/03/10/12"),
                          ("shadow", "2026/03/10/12"), ("blue", "2026/03/09/12")):  # fmt: skip
        s3.put_object(Bucket="b", Key=f"capture/ep/{variant}/{hour}/f.jsonl", Body=b"x")

    listing = list_capture(s3, "s3://b/capture", "ep", T - dt.timedelta(minutes=20), T)

    assert listing.variants == ("blue", "green")
    assert [o.key for o in listing.objects] == [
        "capture/ep/blue/2026/03/10/11/f.jsonl",  # the hour before: SageMaker writes files a little late
        "capture/ep/blue/2026/03/10/12/f.jsonl",
        "capture/ep/green/2026/03/10/12/f.jsonl",
    ]
    assert listing.total_bytes == 3
    # From 10:30 to 12:30: the folders of 09:00 (the hour before the window's first) to 12:00, no other.
    hourly = FakeS3()
    for o_clock in range(7, 15):
        hourly.put_object(Bucket="b", Key=f"capture/ep/blue/2026/03/10/{o_clock:02d}/f.jsonl", Body=b"x")
    two_hours = list_capture(hourly, "s3://b/capture", "ep", T - dt.timedelta(hours=2), T)
    assert [o.key.split("/")[3:7] for o in two_hours.objects] == [
        ["2026", "03", "10", h] for h in ("09", "10", "11", "12")
    ]
    with pytest.raises(ValueError, match="must be before its end"):
        list_capture(s3, "s3://b/capture", "ep", T, T)


def test_a_long_window_is_listed_in_one_listing_per_variant_that_stops_past_its_last_hour() -> None:
    s3 = FakeS3(page_size=3)
    inside = [f"capture/ep/blue/2026/03/10/{h:02d}/f{n}.jsonl" for h in range(9, 13) for n in range(2)]
    inside.append("capture/ep/blue/2024/12/31/23/f.jsonl")  # the hour before the window
    outside = ["capture/ep/blue/2024/12/31/22/f.jsonl", "capture/ep/blue/2026/03/10/12x/f.jsonl"]
    outside += [f"capture/ep/blue/2026/03/{d}/00/f.jsonl" for d in range(11, 31)]  # later days: never read
    for key in inside + outside:
        s3.put_object(Bucket="b", Key=key, Body=b"x")

    # From 2025 to the end of 2026-03-10 12:00: a one-request-per-hour listing would be 10,000 requests.
    listing = list_capture(s3, "s3://b/capture", "ep", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), T)

    assert [o.key for o in listing.objects] == sorted(inside)
    assert s3.pages == 1 + 4  # the variants, then pages of 3 keys until the first one past 12:00


def test_metrics_are_psi_per_defined_feature_and_the_run_counts(world: World) -> None:
    world.serve(world.requests(200, drift=1.0, seed=2), name="drifted")
    report = run_drift(world.inputs(), world.s3).report.to_dict()
    report["features"][-1]["psi"] = None  # a feature without current data publishes nothing

    data = metric_data(report, ENDPOINT, SERVED)

    psi = {d["Dimensions"][1]["Value"]: d["Value"] for d in data if d["MetricName"] == naming.PSI_METRIC}
    assert len(psi) == len(report["features"])  # all features but one, plus the prediction
    assert report["features"][-1]["name"] not in psi
    assert psi["prediction"] == report["prediction"]["psi"]
    counts = {d["MetricName"]: d["Value"] for d in data if d["MetricName"] != naming.PSI_METRIC}
    acting = sum(1 for f in [*report["features"], report["prediction"]] if f["severity"] == "act")
    assert counts == {naming.ROWS_METRIC: 200.0, naming.ACT_METRIC: float(acting), naming.INSUFFICIENT_METRIC: 0.0}
    assert all(d["Dimensions"][0] == {"Name": "EndpointName", "Value": ENDPOINT} for d in data)
    with pytest.raises(ValueError, match="not a drift report"):
        metric_data({"kind": "other"}, ENDPOINT, SERVED)


def test_the_settings_name_a_bad_field() -> None:
    document = json.loads(SETTINGS.model_dump_json())

    with pytest.raises(ValueError, match="capture_uri"):
        DriftSettings.model_validate({**document, "capture_uri": "capture/ep"})
    with pytest.raises(ValueError, match="window_hours"):
        DriftSettings.model_validate({**document, "window_hours": 0})
