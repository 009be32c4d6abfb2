"""Start retraining when a drift alarm goes to ALARM (EventBridge "CloudWatch Alarm State Change").

At most one run per ``retrain_cooldown_hours`` and none while a run is in flight (see
``mlops_kit.monitoring.retrain``); the decision is returned and logged either way.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import envelopes, event_parser
from pydantic import BaseModel, ConfigDict

from mlops_kit.monitoring.retrain import RetrainAws, retrain_on_drift
from mlops_kit.monitoring.settings import DriftSettings

logger = Logger()
tracer = Tracer()
SETTINGS = DriftSettings.from_environment()


class AlarmState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: str
    reason: str = ""


class AlarmStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alarmName: str  # noqa: N815  (the event's field name)
    state: AlarmState


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=AlarmStateChange, envelope=envelopes.EventBridgeEnvelope)
def handler(event: AlarmStateChange, context: Any) -> dict[str, Any]:
    if event.state.value != "ALARM":
        return {"alarm": event.alarmName, "started": False, "reason": f"state is {event.state.value}, not ALARM"}
    decision = retrain_on_drift(
        RetrainAws(sagemaker=boto3.client("sagemaker"), dynamodb=boto3.client("dynamodb"), sns=boto3.client("sns")),
        alarm=event.alarmName,
        pipeline_name=SETTINGS.pipeline_name,
        model_package_group=SETTINGS.model_package_group,
        table=SETTINGS.state_table,
        endpoint=SETTINGS.endpoint_name,
        cooldown_hours=SETTINGS.retrain_cooldown_hours,
        now=time.time(),
        topic_arn=SETTINGS.topic_arn,
    )
    logger.info("drift alarm handled", extra=decision.to_dict())
    return decision.to_dict()
