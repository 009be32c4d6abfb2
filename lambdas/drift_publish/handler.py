"""Publish a finished drift job's PSI metrics (EventBridge "SageMaker Processing Job State Change").

The rule passes only the drift monitor's jobs in a terminal state; the job is described again (the event's
detail is not trusted for the report location), its ``drift_report.json`` read and turned into CloudWatch
metrics, or its failure published to the notification topic.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.monitoring.publish import PublishAws, publish_job
from mlops_kit.monitoring.settings import PublishSettings
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger = observability.logger


class JobStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ProcessingJobName: str
    ProcessingJobStatus: str


class JobStateChangeEvent(EventBridgeEvent):
    detail: JobStateChange


@cache
def settings() -> PublishSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(PublishSettings)


@cache
def aws() -> PublishAws:
    return PublishAws(
        sagemaker=boto3.client("sagemaker"),
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns"),
    )


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    topic_arn = settings().topic_arn
    change = JobStateChangeEvent.model_validate(event).detail
    result = publish_job(aws(), change.ProcessingJobName, topic_arn=topic_arn, now=dt.datetime.now(dt.UTC))
    if result.failure_reason:
        logger.error("drift job did not complete", extra=result.to_dict())
    else:
        logger.info("drift metrics published", extra=result.to_dict())
    return result.to_dict()
