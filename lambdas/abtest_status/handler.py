"""Scheduled (EventBridge Scheduler): every running experiment's status, guardrail stops, ending splits, metrics."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.endpoint import ExperimentOperations, Serving
from mlops_kit.abtest.scheduled import run_status_job
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry

logger = Logger()
tracer = Tracer()


class StatusSettings(BaseModel):
    """The function's environment, validated on the first call (a bad deployment names the variable)."""

    model_config = ConfigDict(extra="ignore")

    MLOPS_EXPERIMENT_TABLE: str = Field(min_length=1)
    MLOPS_PROMOTION_TABLE: str = Field(min_length=1)
    MLOPS_ENDPOINT_NAME: str = Field(min_length=1)
    MLOPS_MODEL_PACKAGE_GROUP: str = Field(min_length=1)


@cache
def operations() -> ExperimentOperations:
    settings = StatusSettings.model_validate(dict(os.environ))
    sagemaker, dynamodb = boto3.client("sagemaker"), boto3.client("dynamodb")
    return ExperimentOperations(
        DynamoDBRepository(dynamodb, settings.MLOPS_EXPERIMENT_TABLE),
        Serving(
            sagemaker=sagemaker,
            autoscaling=boto3.client("application-autoscaling"),
            registry=ModelRegistry(sagemaker, settings.MLOPS_MODEL_PACKAGE_GROUP),
            locks=PromotionStore(dynamodb, settings.MLOPS_PROMOTION_TABLE),
            endpoint_name=settings.MLOPS_ENDPOINT_NAME,
        ),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = run_status_job(operations(), boto3.client("cloudwatch"))
    for name, result in results.items():
        logger.info("experiment checked", extra={"experiment": name, "result": result})
    return {"experiments": results}
