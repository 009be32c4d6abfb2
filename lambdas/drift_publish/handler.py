"""Publish a finished drift job's PSI metrics (EventBridge "SageMaker Processing Job State Change").

The rule passes only the drift monitor's jobs in a terminal state; the job is described again (the event's
detail is not trusted for the report location), its ``drift_report.json`` read and turned into CloudWatch
metrics, or its failure published to the notification topic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import envelopes, event_parser
from pydantic import BaseModel, ConfigDict

from mlops_kit.monitoring.publish import PublishAws, publish_job
from mlops_kit.monitoring.settings import DriftSettings

logger = Logger()
tracer = Tracer()
SETTINGS = DriftSettings.from_environment()


class JobStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ProcessingJobName: str
    ProcessingJobStatus: str


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobStateChange, envelope=envelopes.EventBridgeEnvelope)
def handler(event: JobStateChange, context: Any) -> dict[str, Any]:
    aws = PublishAws(
        sagemaker=boto3.client("sagemaker"),
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns"),
    )
    result = publish_job(aws, event.ProcessingJobName, topic_arn=SETTINGS.topic_arn, now=dt.datetime.now(dt.UTC))
    if result.failure_reason:
        logger.error("drift job did not complete", extra=result.to_dict())
    else:
        logger.info("drift metrics published", extra=result.to_dict())
    return result.to_dict()
