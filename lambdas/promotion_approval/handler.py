"""The approval service: a reviewer's answer in the model registry (stage status Approved or Rejected, or approval
status Rejected) answers the promotion waiting for that version, as the identity SageMaker recorded
(:func:`mlops_kit.promotion.approvals.answer_from_registry`).

A redelivered event finds the approval already answered (and re-sends the same answer) or no longer pending.
Resuming that fails after the client's retries gives the approval back and fails the invocation, so EventBridge
delivers the event again.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.observability import Observability
from mlops_kit.promotion.approvals import ApprovalExpired, ApprovalPolicy, answer_from_registry
from mlops_kit.promotion.settings import ApprovalSettings
from mlops_kit.promotion.store import ApprovalNotFound, PromotionStore
from mlops_kit.registry import ModelRegistry

observability = Observability.of_function()
logger = observability.logger


class PackageStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ModelPackageArn: str
    ModelPackageGroupName: str


class PackageStateChangeEvent(EventBridgeEvent):
    detail: PackageStateChange


@cache
def settings() -> ApprovalSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(ApprovalSettings)


@cache
def clients() -> dict[str, Any]:
    return {name: boto3.client(name) for name in ("sagemaker", "stepfunctions", "dynamodb", "sns")}


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    change = PackageStateChangeEvent.model_validate(event).detail
    if change.ModelPackageGroupName != config.model_package_group:
        return {"result": "ignored", "message": f"not a version of {config.model_package_group}"}
    aws = clients()

    def notify(subject: str, message: str) -> None:
        aws["sns"].publish(TopicArn=config.topic_arn, Subject=subject[:100], Message=message)

    try:
        outcome = answer_from_registry(
            sagemaker=aws["sagemaker"],
            sfn=aws["stepfunctions"],
            store=PromotionStore(aws["dynamodb"], config.table_name),
            registry=ModelRegistry(aws["sagemaker"], config.model_package_group),
            package_arn=change.ModelPackageArn,
            policy=ApprovalPolicy(tuple(config.approvers), config.allow_self_approval),
            notify=notify,
            environment_policies={
                name: ApprovalPolicy(tuple(approvers), config.allow_self_approval)
                for name, approvers in config.environment_approvers.items()
            },
        )
    except (ApprovalExpired, ApprovalNotFound) as exc:
        logger.warning("approval not answered", extra={"model_package_arn": change.ModelPackageArn, "why": str(exc)})
        return {"result": "ignored", "message": str(exc)}
    logger.info(
        "registry change handled",
        extra={
            "model_package_arn": change.ModelPackageArn,
            "outcome": outcome.result,
            "why": outcome.message,
            "approval_id": outcome.approval_id,
            "decision": outcome.decision,
            "approver": outcome.approver,
        },
    )
    return asdict(outcome)
