"""Start a promotion when a model version is approved in the registry (EventBridge model package state change).

A redelivered event maps to the same execution name, so it never starts a second promotion.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import envelopes, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.promotion.settings import TriggerSettings
from mlops_kit.promotion.trigger import start_promotion
from mlops_kit.registry import ModelRegistry, Stage, StageStatus

logger = Logger()


class PackageStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ModelPackageArn: str
    ModelPackageGroupName: str
    ModelApprovalStatus: str


@cache
def settings() -> TriggerSettings:
    return read_settings(TriggerSettings)


@logger.inject_lambda_context
@event_parser(model=PackageStateChange, envelope=envelopes.EventBridgeEnvelope)
def handler(event: PackageStateChange, context: LambdaContext) -> dict[str, Any]:
    group = settings().model_package_group
    if event.ModelPackageGroupName != group or event.ModelApprovalStatus != "Approved":
        return {"started": False, "reason": "not an approval in this group"}
    version = ModelRegistry(boto3.client("sagemaker"), group).get(event.ModelPackageArn)
    # The workflow itself re-approves versions as it moves them; only a Staging approval is a promotion request.
    if version.stage != Stage.STAGING or version.stage_status not in (
        StageStatus.PENDING_APPROVAL,
        StageStatus.APPROVED,
    ):
        return {"started": False, "reason": f"version {version.version} is {version.stage}/{version.stage_status}"}
    arn, started = start_promotion(
        boto3.client("stepfunctions"), settings().state_machine_arn, package_arn=version.arn, version=version.version
    )
    logger.info("promotion requested", extra={"execution": arn, "started": started, "version": version.version})
    return {"started": started, "execution_arn": arn}
