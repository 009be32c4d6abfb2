"""The drift functions in-process: the schedule starting a job, its end publishing the metrics, an alarm starting
retraining; each also refuses an event it cannot handle."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_kit.monitoring import naming
from mlops_kit.monitoring.publish import PublishAws
from mlops_kit.monitoring.retrain import RetrainAws
from mlops_kit.monitoring.start import BASELINE_PROPERTY, StartAws
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler, eventbridge_event
from tests.unit.handlers.examples import ARTIFACTS, DRIFT, ENDPOINT, GROUP, PUBLISH, RETRAIN, TOPIC
from tests.unit.monitoring.support import FakeS3
from tests.unit.promotion.fakes import FakeCloudWatch, FakeDynamoDB, FakeSageMaker, FakeSNS, _Exceptions

SCHEDULED = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
BASELINE = f"s3://{ARTIFACTS}/pipelines/run-1/Evaluate/evaluation/baseline.json"


class DriftSageMaker(FakeSageMaker):
    """The model packages of :class:`FakeSageMaker`, plus processing jobs and pipeline executions."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.executions: list[dict[str, Any]] = []

    def create_processing_job(self, **request: Any) -> dict[str, Any]:
        name = request["ProcessingJobName"]
        if name in self.jobs:
            raise _Exceptions.ClientError({"Error": {"Code": "ResourceInUse", "Message": "must be unique"}}, "Create")
        self.jobs[name] = {**copy.deepcopy(request), "ProcessingJobStatus": "InProgress"}
        return {"ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}"}

    def describe_processing_job(self, ProcessingJobName: str) -> dict[str, Any]:
        return copy.deepcopy(self.jobs[ProcessingJobName])

    def list_pipeline_executions(self, PipelineName: str, **_: Any) -> dict[str, Any]:
        runs = [e for e in reversed(self.executions) if e["PipelineName"] == PipelineName]
        return {"PipelineExecutionSummaries": [{k: v for k, v in e.items() if k != "PipelineName"} for e in runs]}

    def start_pipeline_execution(self, PipelineName: str, **request: Any) -> dict[str, Any]:
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{PipelineName}/execution/{len(self.executions) + 1}"
        self.executions.append(
            {
                "PipelineName": PipelineName,
                "PipelineExecutionArn": arn,
                "PipelineExecutionStatus": "Executing",
                **request,
            }
        )
        return {"PipelineExecutionArn": arn}


@pytest.fixture
def sagemaker() -> DriftSageMaker:
    """A registry whose Production version has a drift baseline."""
    fake = DriftSageMaker()
    fake.add_package(
        GROUP,
        1,
        ModelLifeCycle={"Stage": "Production", "StageStatus": "Approved"},
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={BASELINE_PROPERTY: BASELINE},
    )
    return fake


@pytest.fixture
def s3() -> FakeS3:
    """The baseline and one capture file in the window before the scheduled time."""
    fake = FakeS3()
    fake.put_object(Bucket=ARTIFACTS, Key=BASELINE.split("/", 3)[3], Body=b"{}")
    fake.put_object(Bucket=ARTIFACTS, Key=f"capture/{ENDPOINT}/blue/2026/03/10/11/capture-1.jsonl", Body=b"{}\n")
    return fake


def test_the_schedule_starts_the_drift_job_of_the_window_ending_at_the_scheduled_time(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    sagemaker: DriftSageMaker,
    s3: FakeS3,
) -> None:
    module = load_handler("drift_start", DRIFT)
    monkeypatch.setattr(module, "aws", lambda: StartAws(sagemaker=sagemaker, s3=s3, dynamodb=FakeDynamoDB()))

    result = module.handler({"source": "schedule", "scheduled_time": SCHEDULED.isoformat()}, context)

    assert (result["started"], result["model_version"], result["capture_files"]) == (True, 1, 1)
    assert result["job_name"] == naming.job_name(ENDPOINT, SCHEDULED)
    job = sagemaker.jobs[result["job_name"]]
    assert job["RoleArn"] == DRIFT.job.role_arn
    assert job["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] == DRIFT.job.volume_gb
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": DRIFT.job.max_runtime_seconds}


def test_the_start_function_refuses_a_window_of_no_hours_naming_the_field(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    sagemaker: DriftSageMaker,
    s3: FakeS3,
) -> None:
    module = load_handler("drift_start", DRIFT)
    monkeypatch.setattr(module, "aws", lambda: StartAws(sagemaker=sagemaker, s3=s3, dynamodb=FakeDynamoDB()))

    with pytest.raises(ValidationError, match="window_hours"):
        module.handler({"source": "cli", "window_hours": 0}, context)
    assert sagemaker.jobs == {}


def job_state_change(detail: dict[str, Any]) -> dict[str, Any]:
    return eventbridge_event("aws.sagemaker", "SageMaker Processing Job State Change", detail)


def test_a_completed_drift_job_has_its_psi_published(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, s3: FakeS3
) -> None:
    # Given the job the start function asked for, completed with its report
    name = naming.job_name(ENDPOINT, SCHEDULED)
    sagemaker = DriftSageMaker()
    sagemaker.jobs[name] = {
        "ProcessingJobName": name,
        "ProcessingJobStatus": "Completed",
        "Environment": {naming.ENDPOINT_ENVIRONMENT: ENDPOINT},
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": naming.REPORT_OUTPUT,
                    "S3Output": {"S3Uri": naming.report_uri(ARTIFACTS, ENDPOINT, name)},
                }
            ]
        },
    }
    report = {
        "kind": "mlops_kit.drift.report",
        "severity": "act",
        "current_rows": 250,
        "features": [{"name": "log_amount", "psi": 0.31, "severity": "act"}],
        "prediction": {"name": naming.PREDICTION, "psi": 0.04, "severity": "stable"},
    }
    s3.put_object(
        Bucket=ARTIFACTS, Key=f"{naming.reports_prefix(ENDPOINT)}/{name}/drift_report.json", Body=json.dumps(report)
    )
    cloudwatch, sns = FakeCloudWatch(), FakeSNS()
    module = load_handler("drift_publish", PUBLISH)
    monkeypatch.setattr(module, "aws", lambda: PublishAws(sagemaker=sagemaker, s3=s3, cloudwatch=cloudwatch, sns=sns))

    # When its state change arrives
    result = module.handler(job_state_change({"ProcessingJobName": name, "ProcessingJobStatus": "Completed"}), context)

    # Then PSI per column, the rows and the count of acting columns are in CloudWatch; nobody is paged
    assert result["psi"] == {"log_amount": 0.31, naming.PREDICTION: 0.04}
    put = {(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"])): d["Value"] for d in cloudwatch.put}
    assert put == {
        (naming.PSI_METRIC, (ENDPOINT, "log_amount")): 0.31,
        (naming.PSI_METRIC, (ENDPOINT, naming.PREDICTION)): 0.04,
        (naming.ROWS_METRIC, (ENDPOINT,)): 250.0,
        (naming.ACT_METRIC, (ENDPOINT,)): 1.0,
        (naming.INSUFFICIENT_METRIC, (ENDPOINT,)): 0.0,
    }
    assert sns.messages == []


def test_a_job_state_change_without_the_job_name_is_refused_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, s3: FakeS3
) -> None:
    cloudwatch, sns = FakeCloudWatch(), FakeSNS()
    module = load_handler("drift_publish", PUBLISH)
    monkeypatch.setattr(
        module, "aws", lambda: PublishAws(sagemaker=DriftSageMaker(), s3=s3, cloudwatch=cloudwatch, sns=sns)
    )

    with pytest.raises(ValidationError, match="ProcessingJobName"):
        module.handler(job_state_change({"ProcessingJobStatus": "Completed"}), context)
    assert cloudwatch.put == []


# The retrain gate's two conditions, evaluated as DynamoDB would.
GATE_CONDITIONS = {
    "attribute_not_exists(pk) OR started_at <= :cutoff": lambda item, values: (
        item is None or float(item["started_at"]["N"]) <= float(values[":cutoff"]["N"])
    ),
    "claim = :token": lambda item, values: item is not None and item["claim"] == values[":token"],
}


class GateTable(FakeDynamoDB):
    """The promotion table with the retrain gate's conditional writes."""

    def _check(self, item: dict[str, Any] | None, request: dict[str, Any], operation: str) -> None:
        expression = request.get("ConditionExpression")
        if expression in GATE_CONDITIONS:
            if not GATE_CONDITIONS[expression](item, request.get("ExpressionAttributeValues", {})):
                raise _Exceptions.ConditionalCheckFailedException(operation)
            return
        super()._check(item, request, operation)


def alarm_change(detail: dict[str, Any]) -> dict[str, Any]:
    return eventbridge_event("aws.cloudwatch", "CloudWatch Alarm State Change", detail)


def test_a_drift_alarm_starts_the_training_pipeline_once_within_the_cooldown(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, sagemaker: DriftSageMaker
) -> None:
    aws = RetrainAws(sagemaker=sagemaker, dynamodb=GateTable(), sns=FakeSNS())
    module = load_handler("drift_retrain", RETRAIN)
    monkeypatch.setattr(module, "aws", lambda: aws)
    alarm = naming.drift_alarm(ENDPOINT, "log_amount")
    event = alarm_change({"alarmName": alarm, "state": {"value": "ALARM", "reason": "PSI 0.31 > 0.2"}})

    first = module.handler(event, context)
    sagemaker.executions[-1]["PipelineExecutionStatus"] = "Succeeded"  # the run ends; the cooldown holds
    second = module.handler(event, context)

    assert first["started"] is True
    assert [e["PipelineName"] for e in sagemaker.executions] == [RETRAIN.pipeline_name]
    assert second["started"] is False
    assert "cooldown" in second["reason"]
    assert [m["TopicArn"] for m in aws.sns.messages] == [TOPIC]


def test_an_alarm_state_change_without_a_state_is_refused_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, sagemaker: DriftSageMaker
) -> None:
    module = load_handler("drift_retrain", RETRAIN)
    monkeypatch.setattr(module, "aws", lambda: RetrainAws(sagemaker=sagemaker, dynamodb=GateTable(), sns=FakeSNS()))

    with pytest.raises(ValidationError, match="state"):
        module.handler(alarm_change({"alarmName": naming.drift_alarm(ENDPOINT, "log_amount")}), context)
    assert sagemaker.executions == []
