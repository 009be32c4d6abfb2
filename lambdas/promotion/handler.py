"""Promotion workflow steps: the state machine calls this function with ``{"action": ..., "state": {...}}``."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from pydantic import BaseModel

from mlops_kit.promotion.actions import Aws, Promotion, Settings, run_action

logger = Logger()
tracer = Tracer()
# Validated once per container: a bad deployment fails on the first call with the field named.
SETTINGS = Settings.model_validate_json(os.environ.get("MLOPS_PROMOTION_SETTINGS", "{}"))


class StepEvent(BaseModel):
    action: str
    state: dict[str, Any]
    task_token: str | None = None


def _aws() -> Aws:
    return Aws(
        sagemaker=boto3.client("sagemaker"),
        dynamodb=boto3.client("dynamodb"),
        sns=boto3.client("sns"),
        cloudwatch=boto3.client("cloudwatch"),
        s3=boto3.client("s3"),
        autoscaling=boto3.client("application-autoscaling"),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    logger.info(
        "promotion step",
        extra={"action": step.action, "execution": step.state.get("execution"), "path": step.state.get("path")},
    )
    return run_action(Promotion(SETTINGS, _aws()), step.action, step.state, step.task_token)
