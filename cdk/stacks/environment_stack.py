"""An environment's serving stack, deployed to the environment's own account (``environments.<name>``)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.environment_models import SharedModelRole
from mlops_kit.pipeline.definition import ecr_repository


class EnvironmentStack(Stack):
    """What environment ``environment_name`` runs in its account: the role SageMaker serves the tooling account's
    model versions with. The tooling account (``config.account``) shares the versions, artifacts and key with it."""

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
        self.models = SharedModelRole(
            self,
            "Models",
            tooling_account=config.account,
            environment_name=environment_name,
            image_repositories=[ecr_repository(config.image_uri("inference"))],
        )
        CfnOutput(self, "ModelRoleArn", value=self.models.role.role_arn)
