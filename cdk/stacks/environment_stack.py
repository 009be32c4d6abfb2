"""An environment's serving stack, deployed to the environment's own account (``environments.<name>``)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.environment_endpoint import EnvironmentEndpoint
from cdk.constructs.environment_models import SharedModelRole
from cdk.constructs.serving_teardown import ServingTeardown
from mlops_kit.pipeline.definition import ecr_repository


class EnvironmentStack(Stack):
    """What environment ``environment_name`` runs in its account: the role SageMaker serves the tooling account's
    model versions with (writing capture to the tooling account's artifacts bucket), the endpoint's rollback
    alarms, the role the tooling account's promotion of this environment deploys the endpoint with, and the
    ``Custom::ServingTeardown`` that removes the endpoint when the stack is deleted. The endpoint itself, its
    configs, models and autoscaling are the promotion's, made at runtime in this account. The tooling account
    (``config.account``) shares the versions, artifacts and key with it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        environment_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if config.account is None:  # the config refuses environments without it; a stack must never guess
            raise ValueError("an environment stack needs config.account (the tooling account)")
        endpoint_name = config.environment_endpoint_name(environment_name)
        self.models = SharedModelRole(
            self,
            "Models",
            tooling_account=config.account,
            environment_name=environment_name,
            image_repositories=[ecr_repository(config.image_uri("inference"))],
            role_name=config.environment_model_role_name(environment_name),
        )
        if config.environment_captures(environment_name):
            self.models.grant_capture(endpoint_name)
        self.models.grant_shared_tables(endpoint_name)  # the tooling account's online features and A/B routing
        promotion_role = f"arn:{self.partition}:iam::{config.account}:role/"
        promotion_role += config.promotion_role_name(environment_name)
        self.endpoint = EnvironmentEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            model_role=self.models.role,
            alarms=config.alarms,
            tooling_account=config.account,
            promotion_role_arn=promotion_role,
            deployment_role_name=config.deployment_role_name(environment_name),
        )
        # `cdk destroy` removes what this environment's promotions made in this account, by a function of this
        # account that may act on exactly this endpoint's names. Whichever of this stack and the tooling account's
        # serving stack goes first, nothing in it needs the other: it only uses this account's SageMaker and
        # Application Auto Scaling.
        self.teardown = ServingTeardown(
            self,
            "Teardown",
            endpoint_name=endpoint_name,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        # The deployment role goes before the teardown runs (CloudFormation deletes dependents first), so that a
        # promotion of the tooling account still running cannot make an endpoint, config or model here after the
        # teardown removed them: a session's permissions are evaluated on every call, and the role's policies go
        # with it (IAM takes effect within minutes; the teardown first waits for a change in progress anyway).
        self.endpoint.deployment_role.node.add_dependency(self.teardown.resource)
        CfnOutput(self, "ModelRoleArn", value=self.models.role.role_arn)
        CfnOutput(self, "EndpointName", value=endpoint_name)
        CfnOutput(self, "DeploymentRoleArn", value=self.endpoint.deployment_role.role_arn)
