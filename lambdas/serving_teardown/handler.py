"""The serving stack's ``Custom::ServingTeardown``: on Delete (``cdk destroy``) remove the endpoint, its configs,
models and autoscaling that promotions created at runtime (:mod:`mlops_kit.serving.teardown`)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.serving.deploy import EndpointDeployer
from mlops_kit.serving.teardown import TeardownSettings, handle_event

observability = Observability.of_function()
logger = observability.logger


@cache
def settings() -> TeardownSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(TeardownSettings)


def _deployer() -> EndpointDeployer:
    return EndpointDeployer(
        boto3.client("sagemaker"), boto3.client("application-autoscaling"), settings().endpoint_name
    )


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    name = settings().endpoint_name
    logger.info("teardown request", extra={"request_type": event.get("RequestType"), "endpoint": name})
    answer = handle_event(
        event,
        endpoint_name=name,
        deployer=_deployer,
        log_stream=context.log_stream_name,
        cloudwatch=lambda: boto3.client("cloudwatch"),
    )
    logger.info("teardown answer", extra={"status": answer["Status"], "data": answer.get("Data")})
    return answer
