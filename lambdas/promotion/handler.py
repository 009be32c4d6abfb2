"""Promotion workflow steps: the state machine calls this function with ``{"action": ..., "state": {...}}``."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.promotion.context import Clients, Promotion
from mlops_kit.promotion.settings import PromotionSettings
from mlops_kit.promotion.steps import run_action

observability = Observability.of_function()
logger = observability.logger


class StepEvent(BaseModel):
    action: str
    state: dict[str, Any]
    task_token: str | None = None


@cache
def settings() -> PromotionSettings:
    """Read once per container; a bad deployment fails on the first call, naming the field."""
    return read_settings(PromotionSettings)


def _clients() -> Clients:
    return Clients(
        sagemaker=boto3.client("sagemaker"),
        dynamodb=boto3.client("dynamodb"),
        sns=boto3.client("sns"),
        cloudwatch=boto3.client("cloudwatch"),
        s3=boto3.client("s3"),
        autoscaling=boto3.client("application-autoscaling"),
    )


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    logger.info(
        "promotion step",
        extra={"action": step.action, "execution": step.state.get("execution"), "path": step.state.get("path")},
    )
    return run_action(Promotion(settings(), _clients()), step.action, step.state, step.task_token)
