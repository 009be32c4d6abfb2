"""cdk-nag (AwsSolutions) on every synth, and the one way to acknowledge a finding."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_checks(scope: IConstruct) -> None:
    """Register the AwsSolutions pack: synth and ``Template.from_stack`` fail on unacknowledged findings."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope, verbose=True))


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on the narrowest construct, with a reason a reviewer would accept.

    ``rule_id`` may be granular, e.g. ``AwsSolutions-IAM5[Resource::*]``.
    """
    if len(reason) < 20:
        raise ValueError(f"acknowledgement of {rule_id} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


# The action families CDK's own grant_* methods use: each is a narrow group (s3:GetObject* is GetObject,
# GetObjectVersion, GetObjectTagging...), not a service wildcard.
GRANT_ACTION_FAMILIES = (
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)


def acknowledge_grant_actions(construct: IConstruct, families: tuple[str, ...] = GRANT_ACTION_FAMILIES) -> None:
    """Acknowledge the action families that CDK grant methods add (IAM5 Action findings)."""
    for family in families:
        acknowledge(
            construct,
            f"AwsSolutions-IAM5[Action::{family}]",
            f"{family} is the action family a CDK grant_* method uses for its one resource, not a service wildcard.",
        )


def acknowledge_object_prefixes(construct: IConstruct, resources: list[str], reason: str) -> None:
    """Acknowledge IAM5 findings for object-prefix resources (``<export>/prefix/*``) one by one."""
    for resource in resources:
        acknowledge(construct, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
