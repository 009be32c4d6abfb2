"""Start a promotion when a model version is approved in the registry (EventBridge model package state change).

A redelivered event maps to the same execution name, so it never starts a second promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.observability import Observability
from mlops_kit.promotion.approvals import verified_identity
from mlops_kit.promotion.settings import TriggerSettings
from mlops_kit.promotion.trigger import start_promotion
from mlops_kit.registry import ModelRegistry, Stage, StageStatus

observability = Observability.of_function()
logger = observability.logger


class PackageStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ModelPackageArn: str
    ModelPackageGroupName: str
    ModelApprovalStatus: str


class PackageStateChangeEvent(EventBridgeEvent):
    detail: PackageStateChange


@dataclass(frozen=True)
class TriggerAws:
    """The clients the trigger needs: SageMaker (the registry) and Step Functions (the workflow)."""

    sagemaker: Any
    stepfunctions: Any


@cache
def settings() -> TriggerSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(TriggerSettings)


@cache
def aws() -> TriggerAws:
    return TriggerAws(sagemaker=boto3.client("sagemaker"), stepfunctions=boto3.client("stepfunctions"))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    change = PackageStateChangeEvent.model_validate(event).detail
    group = config.model_package_group
    if change.ModelPackageGroupName != group or change.ModelApprovalStatus != "Approved":
        return {"started": False, "reason": "not an approval in this group"}
    clients = aws()
    version = ModelRegistry(clients.sagemaker, group).get(change.ModelPackageArn)
    # The workflow itself re-approves versions as it moves them; only a Staging approval is a promotion request.
    if version.stage != Stage.STAGING or version.stage_status not in (
        StageStatus.PENDING_APPROVAL,
        StageStatus.APPROVED,
    ):
        return {"started": False, "reason": f"version {version.version} is {version.stage}/{version.stage_status}"}
    # Who approved it in the registry, as SageMaker verified it: the promotion's requester, who may not also
    # approve its rollout unless the platform allows self-approval.
    approver = verified_identity(clients.sagemaker.describe_model_package(ModelPackageName=version.arn))
    arn, started = start_promotion(
        clients.stepfunctions,
        config.state_machine_arn,
        package_arn=version.arn,
        version=version.version,
        requested_by=approver.arn if approver else "registry",
    )
    logger.info("promotion requested", extra={"execution": arn, "started": started, "version": version.version})
    return {"started": started, "execution_arn": arn}
