"""Start a batch scoring job (EventBridge Scheduler, or ``mlops batch``): model version, input, job.

Input: ``{"source": "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>"}`` from the schedule (its
``batch.schedule_input``, the Production version; the job is named after the scheduled time, so a retried
invocation starts nothing new), or ``{"source": "cli", "input_uri": "s3://...", "model_version": N}`` (both
optional). Returns what it started; a request that cannot run (no Production version, an input outside
``batch/input/``, empty, or of unknown format) fails with a message saying what to change.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any, Literal

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from mlops_kit.batch.settings import BatchSettings
from mlops_kit.batch.start import start_batch_job
from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger = observability.logger


class StartEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["schedule", "cli"] = "schedule"
    scheduled_time: dt.datetime | None = None
    input_uri: str | None = Field(None, min_length=6)
    model_version: int | None = Field(None, ge=1)


@cache
def settings() -> BatchSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(BatchSettings)


@cache
def clients() -> tuple[Any, Any]:
    return boto3.client("sagemaker"), boto3.client("s3")


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    request = StartEvent.model_validate(event or {})
    sagemaker, s3 = clients()
    result = start_batch_job(
        sagemaker,
        s3,
        config,
        now=request.scheduled_time or dt.datetime.now(dt.UTC),
        input_uri=request.input_uri,
        model_version=request.model_version,
        unique=request.source != "schedule",
    )
    logger.info("batch job requested", extra={"source": request.source, **result.to_dict()})
    return result.to_dict()
