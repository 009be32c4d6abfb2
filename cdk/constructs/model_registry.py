"""The SageMaker Model Registry group that holds every version of the platform's model."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.nag import acknowledge


class ModelRegistry(Construct):
    """A model package group named ``group_name``. Versions carry their lifecycle stage (Staging,
    Production, Archived) in ``ModelLifeCycle`` and their lineage in ``CustomerMetadataProperties``.

    ``removal_policy`` decides whether the group (every version, with its lineage) outlives the stack.
    The training stack owns it; the serving and monitoring stacks grant with the same handle (its name is literal
    and its ARNs use only pseudo parameters, so sharing it makes no cross-stack reference).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        removal_policy: RemovalPolicy,
        description: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        # Deleting the group deletes every version and its lineage: it is stateful data like the buckets.
        self.group.apply_removal_policy(removal_policy)
        self.group_name = group_name
        stack = Stack.of(self)
        self.group_arn = arn(stack, "sagemaker", "model-package-group", group_name.lower())
        # Versions are "model-package/<group>/<n>"; lifecycle calls act on them.
        self.packages_arn = arn(stack, "sagemaker", "model-package", f"{group_name.lower()}/*")
        self._packages_finding = as_nag_resource(stack, "sagemaker", "model-package", f"{group_name.lower()}/*")

    # What an environment account may do with the shared versions: find and read them (to deploy one), no more.
    SHARED_ACTIONS = (
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    )

    def share_with(self, accounts: list[str]) -> None:
        """Share the group's versions with ``accounts`` (the environments' accounts) through the group's resource
        policy: :data:`SHARED_ACTIONS` on the group and its versions. No accounts, no policy.

        The accounts' IAM policies must allow the same actions on these ARNs: cross-account access needs both.
        """
        if not accounts:
            return
        partition = Stack.of(self).partition
        self.group.model_package_group_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EnvironmentsReadVersions",
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:{partition}:iam::{account}:root" for account in accounts]},
                    "Action": list(self.SHARED_ACTIONS),
                    "Resource": [self.group_arn, self.packages_arn],
                }
            ],
        }

    def _acknowledge_versions(self, grantee: iam.IGrantable) -> None:
        principal = grantee.grant_principal  # the role whose policy gets the statement
        if isinstance(principal, Construct):
            self.acknowledge_versions(principal)

    def acknowledge_versions(self, scope: Construct) -> None:
        """Acknowledge the ``model-package/<group>/*`` wildcard on ``scope`` (a role or managed policy)."""
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::{self._packages_finding}]",
            "Model package versions are numbered as they are created; the grant covers this group's versions only.",
        )

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Create versions in the group."""
        self._acknowledge_versions(grantee)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:CreateModelPackage", "sagemaker:AddTags"],
            resource_arns=[self.group_arn, self.packages_arn],
        )

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """List and describe versions."""
        self._acknowledge_versions(grantee)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
                "sagemaker:DescribeModelPackageGroup",
            ],
            resource_arns=[self.group_arn, self.packages_arn],
        )

    def grant_lifecycle(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read versions and move them between stages (approval, ModelLifeCycle, metadata)."""
        self.grant_read(grantee)
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:UpdateModelPackage"], resource_arns=[self.packages_arn]
        )
