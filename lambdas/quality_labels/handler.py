"""EventBridge ``mlops.quality`` / ``Ground Truth Labels`` events -> label files the quality run reads.

Good rows are stored under ``<labels_prefix>/events/``; bad rows and unusable events are stored with their reasons
under ``<labels_prefix>-rejected/events/``, logged and counted (``LabelEventsRejected``), not retried (sending the
same event again cannot fix it). An S3 failure raises, so EventBridge's and Lambda's retries, then the dead-letter
queue, keep the event. See :mod:`mlops_kit.quality.intake`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.quality.intake import store_event
from mlops_kit.quality.settings import LabelIntakeSettings

observability = Observability.of_function()
logger, metrics = observability.logger, observability.metrics


@cache
def settings() -> LabelIntakeSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(LabelIntakeSettings)


@cache
def s3() -> Any:
    return boto3.client("s3")


def event_time(event: Any) -> dt.datetime:
    """The event's ``time`` (EventBridge sets it), or now when it is missing or not ISO 8601."""
    raw = event.get("time") if isinstance(event, dict) else None
    try:
        at = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = store_event(s3(), settings(), event, at=event_time(event))
    metrics.add_metric(name="LabelsStored", unit=MetricUnit.Count, value=result["stored"])
    if result["rejected"] is not None:
        logger.warning("label event rejected", extra={"event_id": result["event_id"], **result["rejected"]})
        metrics.add_metric(name="LabelEventsRejected", unit=MetricUnit.Count, value=1)
    else:
        logger.info("label event stored", extra=result)
    return result
