"""Start retraining when a drift alarm goes to ALARM (EventBridge "CloudWatch Alarm State Change").

At most one run per ``drift.retrain_cooldown_hours`` and none while a run is in flight (see
``mlops_kit.monitoring.retrain``); the decision is returned and logged either way.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.monitoring.retrain import RetrainAws, retrain_on_drift
from mlops_kit.monitoring.settings import RetrainSettings
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger = observability.logger


class AlarmState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: str
    reason: str = ""


class AlarmStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alarmName: str  # noqa: N815  (the event's field name)
    state: AlarmState


class AlarmStateChangeEvent(EventBridgeEvent):
    detail: AlarmStateChange


@cache
def settings() -> RetrainSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(RetrainSettings)


@cache
def aws() -> RetrainAws:
    return RetrainAws(sagemaker=boto3.client("sagemaker"), dynamodb=boto3.client("dynamodb"), sns=boto3.client("sns"))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    change = AlarmStateChangeEvent.model_validate(event).detail
    if change.state.value != "ALARM":
        return {"alarm": change.alarmName, "started": False, "reason": f"state is {change.state.value}, not ALARM"}
    decision = retrain_on_drift(
        aws(),
        alarm=change.alarmName,
        pipeline_name=config.pipeline_name,
        model_package_group=config.model_package_group,
        table=config.state_table,
        endpoint=config.endpoint_name,
        cooldown_hours=config.cooldown_hours,
        now=time.time(),
        topic_arn=config.topic_arn,
    )
    logger.info("drift alarm handled", extra=decision.to_dict())
    return decision.to_dict()
