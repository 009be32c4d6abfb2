"""Start the drift job (EventBridge Scheduler, or ``mlops drift run``): Production version, baseline, window, job.

Input: ``{"source": "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>"}`` from the schedule (the
window ends at the scheduled time, so a retried invocation maps to the same job name and starts nothing new),
or ``{"source": "cli", "window_hours": N}`` (window ending now). Returns what it did; "no Production version"
and "no capture in the window" are results, a Production version without a readable baseline is an error.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from mlops_kit.environment import read_settings
from mlops_kit.monitoring.settings import DriftSettings
from mlops_kit.monitoring.start import StartAws, start_drift_job
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger = observability.logger


class StartEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = "schedule"
    scheduled_time: dt.datetime | None = None
    window_hours: int | None = Field(None, ge=1, le=24 * 366)


@cache
def settings() -> DriftSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(DriftSettings)


@cache
def aws() -> StartAws:
    return StartAws(sagemaker=boto3.client("sagemaker"), s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    request = StartEvent.model_validate(event or {})
    now = request.scheduled_time or dt.datetime.now(dt.UTC)
    result = start_drift_job(aws(), config, now=now, window_hours=request.window_hours)
    logger.info("drift job requested", extra={"source": request.source, **result.to_dict()})
    return result.to_dict()
