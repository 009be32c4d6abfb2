"""Promotion workflow steps: the state machine calls this function with ``{"action": ..., "state": {...}}``."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.promotion.context import Clients, Promotion, environment_session
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


def _clients(config: PromotionSettings) -> Clients:
    """The function's own clients; with an environment, the endpoint's (SageMaker, CloudWatch, Application Auto
    Scaling) act in the environment's account through its deployment role, and the registry, the state table,
    the topic, capture and Step Functions stay here, in the tooling account."""
    local = boto3.session.Session()
    environment = config.target_environment
    remote = (
        local
        if environment is None
        else environment_session(local.client("sts"), environment.deployment_role_arn, environment.name)
    )
    return Clients(
        sagemaker=remote.client("sagemaker"),
        dynamodb=local.client("dynamodb"),
        sns=local.client("sns"),
        cloudwatch=remote.client("cloudwatch"),
        s3=local.client("s3"),
        autoscaling=remote.client("application-autoscaling"),
        registry=None if environment is None else local.client("sagemaker"),
        stepfunctions=None if environment is None else local.client("stepfunctions"),
    )


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    logger.info(
        "promotion step",
        extra={"action": step.action, "execution": step.state.get("execution"), "path": step.state.get("path")},
    )
    config = settings()
    return run_action(Promotion(config, _clients(config)), step.action, step.state, step.task_token)
