"""Training: the model registry group and the SageMaker training pipeline."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.mlflow_tracking import MlflowTracking
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.training_pipeline import TrainingPipeline
from cdk.nag import acknowledge_object_prefixes
from cdk.stacks import shared
from cdk.stacks.shared import SharedData


class TrainingStack(Stack):
    """Owns the registry group; ``registry`` is the handle the serving and monitoring stacks grant access with."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        code_commit: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = SharedData.import_into(self, config.project_name)
        self.registry = ModelRegistry(
            self,
            "Registry",
            group_name=config.model_package_group,
            removal_policy=config.cdk_removal_policy,
            description=f"{config.project_name}: every trained version, with lineage and lifecycle stage",
        )
        self.registry.share_with(config.environment_accounts)
        # Managed MLflow (mlflow.managed): the tracking server the pipeline logs its runs to.
        self.mlflow = (
            MlflowTracking(
                self,
                "Mlflow",
                name=config.mlflow_tracking_server_name,
                size=config.mlflow.tracking_server_size,
                artifacts_bucket=data.artifacts_bucket,
            )
            if config.mlflow.managed
            else None
        )
        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            spec=config.pipeline_spec(code_commit=code_commit),
            data_bucket=data.data_bucket,
            artifacts_bucket=data.artifacts_bucket,
            registry=self.registry,
            mlflow=self.mlflow,
            dvc_remotes=tuple(config.training.dvc_remotes),
        )
        if self.mlflow is not None:
            CfnOutput(self, "MlflowTrackingServerArn", value=self.mlflow.server_arn)
        data_arn = shared.export_name(config.project_name, shared.DATA_BUCKET_ARN)
        artifacts_arn = shared.export_name(config.project_name, shared.ARTIFACTS_BUCKET_ARN)
        acknowledge_object_prefixes(
            self.pipeline.role,
            [
                f"{data_arn}/features/*",
                f"{data_arn}/labels/*",
                f"{artifacts_arn}/pipelines/*",
                f"{artifacts_arn}/models/*",
            ],
            "The pipeline reads every object of the offline store and labels prefixes and writes its runs and "
            "models under their own prefixes; object keys are generated per run.",
        )
        if self.mlflow is not None:
            for role in (self.pipeline.role, self.mlflow.role):
                acknowledge_object_prefixes(
                    role,
                    [f"{artifacts_arn}/mlflow/*"],
                    "MLflow run artifacts: the tracking server's artifact store is this one prefix, written per run.",
                )
        CfnOutput(self, "PipelineName", value=self.pipeline.pipeline_name)
        CfnOutput(self, "ModelPackageGroupName", value=self.registry.group_name)
        CfnOutput(self, "PipelineRoleArn", value=self.pipeline.role.role_arn)
