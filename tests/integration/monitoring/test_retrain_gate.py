"""Retraining on drift on the emulator: one run per cooldown, none while one is in flight, claims given back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from mlops_kit.monitoring.retrain import RetrainAws, RetrainGate, in_flight, retrain_on_drift
from mlops_local.emulator import Emulator
from tests.support import create_pk_sk_table

TABLE = "state"
GROUP = "models"


def _definition(seconds: float) -> str:
    step = {
        "Name": "Work",
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                "ContainerEntrypoint": ["python3", "-c", f"import time; time.sleep({seconds})"],
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 1}
            },
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        },
    }
    parameters = [{"Name": "ProductionModelDataUrl", "Type": "String", "DefaultValue": "none"}]  # as start_run passes
    return json.dumps({"Version": "2020-12-01", "Parameters": parameters, "Steps": [step]})


@pytest.fixture
def aws(emulator: Emulator) -> RetrainAws:
    create_pk_sk_table(emulator.client("dynamodb"), TABLE)
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return RetrainAws(
        sagemaker=emulator.client("sagemaker"), dynamodb=emulator.client("dynamodb"), sns=emulator.client("sns")
    )


@pytest.fixture
def pipeline(emulator: Emulator) -> Callable[[float], str]:
    """A pipeline whose one step takes ``seconds``; returns its name."""
    # Its role creates the step's job, passing itself, and the job writes its logs (the emulator evaluates IAM).
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    grants = [
        "sagemaker:CreateProcessingJob",
        "iam:PassRole",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": grants, "Resource": "*"}]}
    iam = emulator.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", **trust}))
    iam.put_role_policy(RoleName="r", PolicyName="pipeline", PolicyDocument=json.dumps(policy))

    def create(seconds: float) -> str:
        name = f"training-{str(seconds).replace('.', '-')}"
        emulator.client("sagemaker").create_pipeline(
            PipelineName=name, PipelineDefinition=_definition(seconds), RoleArn="arn:aws:iam::123456789012:role/r"
        )
        return name

    return create


def _alarm(aws: RetrainAws, pipeline: str, alarm: str, *, cooldown: float, now: float | None = None):
    return retrain_on_drift(
        aws,
        alarm=alarm,
        pipeline_name=pipeline,
        model_package_group=GROUP,
        table=TABLE,
        endpoint="ep",
        cooldown_hours=cooldown,
        now=time.time() if now is None else now,
    )


def _wait_idle(emulator: Emulator, aws: RetrainAws, pipeline: str) -> None:
    emulator.wait_until(lambda: in_flight(aws.sagemaker, pipeline) is None, description="the pipeline run to end")


def test_a_second_alarm_within_the_cooldown_starts_nothing(emulator: Emulator, aws: RetrainAws, pipeline) -> None:
    name = pipeline(0)
    first = _alarm(aws, name, "ep-drift-amount", cooldown=24)
    _wait_idle(emulator, aws, name)

    second = _alarm(aws, name, "ep-drift-log_amount", cooldown=24)

    assert first.started
    assert not second.started
    assert second.reason.startswith("cooldown: retraining started")
    assert "by ep-drift-amount" in second.reason
    executions = aws.sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [first.execution_arn]
    state = RetrainGate(aws.dynamodb, TABLE, "ep").state()
    assert state is not None
    assert (state["alarm"], state["execution_arn"]) == ("ep-drift-amount", first.execution_arn)


def test_after_the_cooldown_an_alarm_starts_a_new_run(emulator: Emulator, aws: RetrainAws, pipeline) -> None:
    name = pipeline(0)
    first = _alarm(aws, name, "ep-drift-amount", cooldown=1, now=time.time() - 2 * 3600)
    _wait_idle(emulator, aws, name)

    second = _alarm(aws, name, "ep-drift-amount", cooldown=1)

    assert first.started
    assert second.started
    assert second.execution_arn != first.execution_arn


def test_a_run_in_flight_blocks_retraining_whatever_the_cooldown(aws: RetrainAws, pipeline) -> None:
    name = pipeline(30)
    running = aws.sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]

    decision = _alarm(aws, name, "ep-drift-amount", cooldown=0)

    assert not decision.started
    assert decision.reason == f"a training run is in flight ({running}); not starting another"
    assert RetrainGate(aws.dynamodb, TABLE, "ep").state() is None  # nothing claimed


def test_concurrent_alarms_claim_the_gate_once(aws: RetrainAws) -> None:
    gate = RetrainGate(aws.dynamodb, TABLE, "ep")
    now = time.time()

    claims = [gate.claim(alarm=f"ep-drift-{f}", now=now, cooldown_seconds=3600) for f in ("a", "b", "c")]

    assert [c is not None for c in claims] == [True, False, False]


def test_a_claim_is_given_back_when_starting_fails(aws: RetrainAws, pipeline) -> None:
    with pytest.raises(Exception, match="does-not-exist"):
        _alarm(aws, "does-not-exist", "ep-drift-amount", cooldown=24)

    assert RetrainGate(aws.dynamodb, TABLE, "ep").state() is None
    assert _alarm(aws, pipeline(0), "ep-drift-amount", cooldown=24).started
