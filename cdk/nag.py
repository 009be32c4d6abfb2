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
