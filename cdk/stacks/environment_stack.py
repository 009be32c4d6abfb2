"""An environment's serving stack, deployed to the environment's own account (``environments.<name>``)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.environment_endpoint import EnvironmentEndpoint
from cdk.constructs.environment_models import SharedModelRole
from mlops_kit.pipeline.definition import ecr_repository


class EnvironmentStack(Stack):
    """What environment ``environment_name`` runs in its account: the role SageMaker serves the tooling account's
    model versions with (writing capture to the tooling account's artifacts bucket), the endpoint's rollback
    alarms, and the role the tooling account's promotion of this environment deploys the endpoint with. The
    endpoint itself, its configs and models are the promotion's, made at runtime. The tooling account
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
        if config.serving.serverless is None:  # serverless endpoints have no data capture
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
        CfnOutput(self, "ModelRoleArn", value=self.models.role.role_arn)
        CfnOutput(self, "EndpointName", value=endpoint_name)
        CfnOutput(self, "DeploymentRoleArn", value=self.endpoint.deployment_role.role_arn)
