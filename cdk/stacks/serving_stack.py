"""Serving and promotion: the endpoint's role, capture location and rollback alarms (the dashboard that shows
them is in the monitoring stack)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.abtest import AbTesting
from cdk.constructs.endpoint import EndpointSupport
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.promotion_workflow import PromotionWorkflow
from cdk.nag import acknowledge_object_prefixes
from cdk.stacks import shared
from cdk.stacks.shared import SharedData
from mlops_kit.pipeline.definition import PipelineSpec
from mlops_kit.serving import naming


class ServingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = SharedData.import_into(self, config.project_name)
        inference_image = PipelineSpec(
            pipeline_name="images",
            region=config.region,
            model_package_group="images",
            sklearn_version=config.training.sklearn_version,
        ).images()["inference"]
        registry, _, repository = inference_image.partition("/")
        self.endpoint = EndpointSupport(
            self,
            "Endpoint",
            endpoint_name=config.endpoint_name,
            artifacts_bucket=data.artifacts_bucket,
            key=data.key,
            alarms=config.alarms,
            notification_topic=data.topic,
            image_repositories=[(registry.split(".")[0], repository.split(":")[0])],
        )
        artifacts_arn = shared.export_name(config.project_name, shared.ARTIFACTS_BUCKET_ARN)
        acknowledge_object_prefixes(
            self.endpoint.model_role,
            [f"{artifacts_arn}/models/*", f"{artifacts_arn}/{naming.capture_prefix(config.endpoint_name)}/*"],
            "Model artifacts are named per training job; SageMaker writes capture files per variant and hour.",
        )
        removal = RemovalPolicy.DESTROY if config.removal_policy == "destroy" else RemovalPolicy.RETAIN
        self.promotion = PromotionWorkflow(
            self,
            "Promotion",
            config=config,
            endpoint=self.endpoint,
            registry=ModelRegistry(self, "Registry", group_name=f"{config.project_name}-models", create=False),
            state_table=data.promotion_table,
            key=data.key,
            artifacts_bucket=data.artifacts_bucket,
            topic=data.topic,
            log_retention=getattr(logs.RetentionDays, config.retention.log_retention_member),
            removal_policy=removal,
            serving_environment={"MLOPS_ONLINE_TABLE": data.feature_table.table_name},
        )
        # The inference script reads the online features of the request's entity.
        data.feature_table.grant(self.endpoint.model_role, "dynamodb:GetItem", "dynamodb:BatchGetItem")
        acknowledge_object_prefixes(
            self.promotion.steps.role,
            [f"{artifacts_arn}/{naming.capture_prefix(config.endpoint_name)}/*"],
            "The shadow comparison reads the capture files of the bake window; they are named per variant and hour.",
        )
        CfnOutput(self, "EndpointName", value=config.endpoint_name)
        CfnOutput(self, "ModelRoleArn", value=self.endpoint.model_role.role_arn)
        CfnOutput(self, "CaptureUri", value=self.endpoint.capture_uri)
        CfnOutput(self, "PromotionStateMachineArn", value=self.promotion.state_machine.state_machine_arn)
        self.abtest = AbTesting(
            self,
            "AbTesting",
            endpoint=self.endpoint,
            registry=ModelRegistry(self, "AbTestRegistry", group_name=f"{config.project_name}-models", create=False),
            experiment_table=data.experiment_table,
            promotion_table=data.promotion_table,
            key=data.key,
            status_schedule=config.abtest.status_schedule,
            http_router=config.abtest.http_router,
            log_retention=getattr(logs.RetentionDays, config.retention.log_retention_member),
            removal_policy=removal,
        )
        CfnOutput(self, "AbTestStatusFunctionName", value=self.abtest.status.function.function_name)
        CfnOutput(self, "AbTestStatusScheduleName", value=self.abtest.schedule.schedule_name)
        CfnOutput(self, "AbTestOutcomeFunctionName", value=self.abtest.outcome.function.function_name)
        if self.abtest.api is not None and self.abtest.router is not None:
            CfnOutput(self, "AbTestRouterUrl", value=self.abtest.api.url)
            CfnOutput(self, "AbTestRouterFunctionName", value=self.abtest.router.function.function_name)
