"""Promotion workflow steps: the state machine calls this function with ``{"action": ..., "state": {...}}``."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.promotion.context import Clients, Promotion, assume_deployment_role
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


# One session per container, its clients made once and reused by every invocation (AWS's advice for Lambda: a client
# costs a service model to load and a connection pool to fill). A boto3 session is not thread-safe, so clients are
# made under a lock (the emulator may run two invocations of one function at once).
_SESSION_LOCK = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def _local(service: str) -> Any:
    with _SESSION_LOCK:
        return _session().client(service)


def _clients(config: PromotionSettings) -> Clients:
    """The function's own clients; with an environment, the endpoint's (SageMaker, CloudWatch, Application Auto
    Scaling) act in the environment's account through its deployment role, and the registry, the state table,
    the topic, capture and Step Functions stay here, in the tooling account. The environment's role is assumed on
    every invocation (a step runs for minutes, so its credentials never expire under it); its clients come from the
    function's session, which has the service models loaded."""
    environment = config.target_environment
    if environment is None:
        endpoint = {name: _local(name) for name in ("sagemaker", "cloudwatch", "application-autoscaling")}
    else:
        credentials = assume_deployment_role(_local("sts"), environment.deployment_role_arn, environment.name)
        with _SESSION_LOCK:
            endpoint = {
                name: _session().client(name, **credentials)
                for name in ("sagemaker", "cloudwatch", "application-autoscaling")
            }
    return Clients(
        sagemaker=endpoint["sagemaker"],
        dynamodb=_local("dynamodb"),
        sns=_local("sns"),
        cloudwatch=endpoint["cloudwatch"],
        s3=_local("s3"),
        autoscaling=endpoint["application-autoscaling"],
        registry=None if environment is None else _local("sagemaker"),
        stepfunctions=None if environment is None else _local("stepfunctions"),
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
