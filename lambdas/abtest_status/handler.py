"""Scheduled (EventBridge Scheduler): every running experiment's status, guardrail stops, ending splits, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.endpoint import ExperimentOperations, Serving
from mlops_kit.abtest.scheduled import run_status_job
from mlops_kit.abtest.settings import StatusSettings
from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry

observability = Observability.of_function()
logger = observability.logger


class StatusEvent(BaseModel):
    """The schedule sends ``{"trigger": "schedule"}``; an invocation without a trigger (the console's test event,
    ``aws lambda invoke``) is a manual run. Both check every experiment."""

    model_config = ConfigDict(extra="forbid")

    trigger: Literal["schedule", "manual"] = "manual"


@dataclass(frozen=True)
class StatusJob:
    """What the job works with: the experiments on the endpoint, and CloudWatch for their metrics."""

    operations: ExperimentOperations
    cloudwatch: Any


@cache
def settings() -> StatusSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(StatusSettings)


@cache
def job() -> StatusJob:
    config = settings()
    sagemaker, dynamodb = boto3.client("sagemaker"), boto3.client("dynamodb")
    operations = ExperimentOperations(
        DynamoDBRepository(dynamodb, config.experiment_table),
        Serving(
            sagemaker=sagemaker,
            autoscaling=boto3.client("application-autoscaling"),
            registry=ModelRegistry(sagemaker, config.model_package_group),
            locks=PromotionStore(dynamodb, config.promotion_table),
            endpoint_name=config.endpoint_name,
        ),
    )
    return StatusJob(operations, boto3.client("cloudwatch"))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings()
    request = StatusEvent.model_validate(event or {})
    status = job()
    results = run_status_job(status.operations, status.cloudwatch)
    for name, result in results.items():
        logger.info("experiment checked", extra={"experiment": name, "result": result, "trigger": request.trigger})
    return {"experiments": results}
