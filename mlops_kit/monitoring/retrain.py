"""Retraining on drift: a drift alarm starts the training pipeline, at most once per cooldown, never twice at once.

The gate's state is one item of the promotion state table (``pk = drift-retrain#<endpoint>``, ``sk = retrain``:
``started_at`` in epoch seconds, the ``alarm`` that claimed it, the ``execution_arn`` it started). Claiming it is
a conditional write (no item yet, or its ``started_at`` older than the cooldown), so several feature alarms
going off together start exactly one run. A run is *in flight* when the pipeline has an ``Executing`` or
``Stopping`` execution, whoever started it (an earlier alarm, a person with ``mlops pipeline run``); then no run
starts, whatever the cooldown. If starting fails after the claim, the claim is given back (the previous state
restored), so the next alarm can try again.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from mlops_kit.monitoring.naming import RETRAIN_PK_PREFIX

IN_FLIGHT = ("Executing", "Stopping")
_SK = "retrain"


@dataclass(frozen=True)
class RetrainAws:
    sagemaker: Any
    dynamodb: Any
    sns: Any


@dataclass(frozen=True)
class RetrainDecision:
    """What one alarm did: started a run (``execution_arn``) or not, and why."""

    alarm: str
    started: bool
    reason: str
    execution_arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def in_flight(sagemaker: Any, pipeline_name: str) -> str | None:
    """The ARN of a running execution of ``pipeline_name`` (newest first), or None."""
    page = sagemaker.list_pipeline_executions(
        PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=100
    )
    for summary in page.get("PipelineExecutionSummaries", []):
        if summary.get("PipelineExecutionStatus") in IN_FLIGHT:
            return str(summary["PipelineExecutionArn"])
    return None


class RetrainGate:
    """The cooldown of one endpoint's retraining, as a conditional write in ``table`` (a boto3 DynamoDB client)."""

    def __init__(self, dynamodb: Any, table: str, endpoint: str) -> None:
        self._dynamodb = dynamodb
        self.table = table
        self.key = {"pk": {"S": f"{RETRAIN_PK_PREFIX}{endpoint}"}, "sk": {"S": _SK}}

    def state(self) -> dict[str, Any] | None:
        """The last claim: ``started_at`` (epoch seconds), ``alarm``, ``execution_arn`` (when recorded)."""
        item = self._dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get("Item")
        if not item:
            return None
        return {
            "started_at": float(item["started_at"]["N"]),
            "alarm": item.get("alarm", {}).get("S"),
            "execution_arn": item.get("execution_arn", {}).get("S"),
        }

    def claim(self, *, alarm: str, now: float, cooldown_seconds: float) -> tuple[str, dict[str, Any] | None] | None:
        """Claim the gate: returns (claim token, the previous item to restore) or None within the cooldown."""
        previous = self._dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get("Item")
        token = uuid.uuid4().hex
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self.key,
                    "started_at": {"N": repr(float(now))},
                    "alarm": {"S": alarm},
                    "claim": {"S": token},
                },
                ConditionExpression="attribute_not_exists(pk) OR started_at <= :cutoff",
                ExpressionAttributeValues={":cutoff": {"N": repr(float(now - cooldown_seconds))}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return token, previous

    def record(self, token: str, execution_arn: str) -> None:
        """Store the execution the claim started."""
        self._dynamodb.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET execution_arn = :arn",
            ConditionExpression="claim = :token",
            ExpressionAttributeValues={":arn": {"S": execution_arn}, ":token": {"S": token}},
        )

    def release(self, token: str, previous: dict[str, Any] | None) -> None:
        """Give a claim back (starting failed): restore the previous item, or remove ours."""
        try:
            if previous is None:
                self._dynamodb.delete_item(
                    TableName=self.table,
                    Key=self.key,
                    ConditionExpression="claim = :token",
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            else:
                self._dynamodb.put_item(
                    TableName=self.table,
                    Item=previous,
                    ConditionExpression="claim = :token",
                    ExpressionAttributeValues={":token": {"S": token}},
                )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # someone claimed after us: theirs stands


def display_name(alarm: str) -> str:
    """A pipeline execution display name from an alarm name (letters, digits and hyphens, at most 82): the alarm
    says what started it (drift or a quality drop share this path)."""
    return ("retrain-" + re.sub(r"[^A-Za-z0-9]+", "-", alarm).strip("-"))[:82].rstrip("-")


def retrain_on_drift(
    aws: RetrainAws,
    *,
    alarm: str,
    pipeline_name: str,
    model_package_group: str,
    table: str,
    endpoint: str,
    cooldown_hours: float,
    now: float,
    topic_arn: str | None = None,
) -> RetrainDecision:
    """Start the training pipeline for drift alarm ``alarm`` unless a run is in flight or the cooldown holds."""
    from mlops_kit.pipeline.runs import start_run
    from mlops_kit.registry import ModelRegistry

    running = in_flight(aws.sagemaker, pipeline_name)
    if running is not None:
        return RetrainDecision(alarm, False, f"a training run is in flight ({running}); not starting another")
    gate = RetrainGate(aws.dynamodb, table, endpoint)
    claimed = gate.claim(alarm=alarm, now=now, cooldown_seconds=cooldown_hours * 3600)
    if claimed is None:
        last = gate.state() or {}
        return RetrainDecision(
            alarm,
            False,
            f"cooldown: retraining started {now - last.get('started_at', now):.0f} s ago by {last.get('alarm')} "
            f"({last.get('execution_arn') or 'starting'}); the cooldown is {cooldown_hours:g} h",
        )
    token, previous = claimed
    try:
        registry = ModelRegistry(aws.sagemaker, model_package_group)
        execution = start_run(aws.sagemaker, pipeline_name, registry=registry, display_name=display_name(alarm))
    except Exception:
        gate.release(token, previous)
        raise
    gate.record(token, execution)
    if topic_arn:
        aws.sns.publish(
            TopicArn=topic_arn,
            Subject=f"Retraining started for {endpoint} by {alarm}"[:100],
            Message=f"Alarm {alarm} started the training pipeline: {execution}. Further drift and quality "
            f"alarms are ignored for {cooldown_hours:g} h and while it runs.",
        )
    return RetrainDecision(alarm, True, "started", execution)
