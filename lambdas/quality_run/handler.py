"""Run a model-quality window (EventBridge Scheduler, or ``mlops quality run``): labels x capture -> metrics.

Input: ``{"source": "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>"}`` from the schedule (the
window is fixed by the scheduled time, so a retried invocation evaluates and overwrites the same window), or
``{"source": "cli"}`` (a run now). Returns the window's headline figures; see :mod:`mlops_kit.quality.job`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.quality.job import QualityAws, publish, run_quality
from mlops_kit.quality.settings import QualitySettings

observability = Observability.of_function()
logger = observability.logger


class RunEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = "schedule"
    scheduled_time: dt.datetime | None = None


@cache
def settings() -> QualitySettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(QualitySettings)


@cache
def aws() -> QualityAws:
    return QualityAws(sagemaker=boto3.client("sagemaker"), s3=boto3.client("s3"), cloudwatch=boto3.client("cloudwatch"))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    request = RunEvent.model_validate(event or {})
    now = request.scheduled_time or dt.datetime.now(dt.UTC)
    report = run_quality(aws(), config, now=now)
    uri = publish(aws(), config, report, now=now)
    result = {
        "source": request.source,
        "report_uri": uri,
        "window": report["window"],
        "labels": {k: report["labels"][k] for k in ("files", "rows", "labels", "bad_rows")},
        "samples": {name: figures["samples"] for name, figures in report["groups"].items()},
        "drop": report["drop"],
    }
    if report["labels"]["bad_rows"] or report["labels"]["bad_files"]:
        logger.warning("label rows left out", extra={"labels": report["labels"]})
    logger.info("quality window published", extra=result)
    return result
