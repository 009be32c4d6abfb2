"""Serving and promotion: the endpoint's role, capture location and rollback alarms, the promotion workflow and
A/B testing (the dashboard that shows them is in the monitoring stack; the endpoint itself, its configs and its
autoscaling are the promotion workflow's, made at runtime)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.abtest import AbTesting
from cdk.constructs.approval_page import ApprovalPage
from cdk.constructs.endpoint import EndpointSupport
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.promotion_workflow import EnvironmentTarget, PromotionWorkflow
from cdk.constructs.serving_teardown import ServingTeardown
from cdk.nag import acknowledge_object_prefixes
from cdk.stacks import shared
from cdk.stacks.shared import SharedData
from mlops_kit.pipeline.definition import ecr_repository
from mlops_kit.serving import naming


class ServingStack(Stack):
    """``registry`` is the training stack's model registry handle (the group the workflow promotes in);
    ``code_bundle`` the inference code bundle its pipeline registers versions with (an environment's promotion
    copies it where that account may read it; unset: versions must name a bundle under ``models/code/``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        registry: ModelRegistry,
        code_bundle: s3_assets.Asset | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = SharedData.import_into(self, config.project_name)
        self.endpoint = EndpointSupport(
            self,
            "Endpoint",
            endpoint_name=config.endpoint_name,
            artifacts_bucket=data.artifacts_bucket,
            key=data.key,
            alarms=config.alarms,
            notification_topic=data.topic,
            image_repositories=[ecr_repository(config.image_uri("inference"))],
        )
        artifacts_arn = shared.export_name(config.project_name, shared.ARTIFACTS_BUCKET_ARN)
        acknowledge_object_prefixes(
            self.endpoint.model_role,
            [f"{artifacts_arn}/models/*", f"{artifacts_arn}/{naming.capture_prefix(config.endpoint_name)}/*"],
            "Model artifacts are named per training job; SageMaker writes capture files per variant and hour.",
        )
        serving_environment = {
            "MLOPS_ONLINE_TABLE": data.feature_table.table_name,
            # Sticky A/B assignment of requests that name their user (mlops_kit.serving.sticky).
            "MLOPS_EXPERIMENT_TABLE": data.experiment_table.table_name,
            "MLOPS_ENDPOINT_NAME": config.endpoint_name,
        }

        def promotion_workflow(
            construct_id: str, *, models_environment: dict[str, str] = serving_environment, **kwargs: Any
        ) -> PromotionWorkflow:
            """The platform's or an environment's promotion workflow: the same data, registry and endpoint."""
            return PromotionWorkflow(
                self,
                construct_id,
                config=config,
                endpoint=self.endpoint,
                registry=registry,
                state_table=data.promotion_table,
                key=data.key,
                artifacts_bucket=data.artifacts_bucket,
                topic=data.topic,
                log_retention=config.log_retention,
                removal_policy=config.cdk_removal_policy,
                serving_environment=models_environment,
                **kwargs,
            )

        # With environments: one promotion workflow per environment, each deploying to the environment's account;
        # built last to first, so each can start the next one's.
        self.environment_promotions: dict[str, PromotionWorkflow] = {}
        names = list(config.environments)
        following: PromotionWorkflow | None = None
        for index in reversed(range(len(names))):
            name = names[index]
            environment = config.environments[name]
            workflow = promotion_workflow(
                f"Promotion{name.capitalize()}",
                # The tooling account's tables, by ARN: the environment's models call DynamoDB in their own account,
                # and a table name alone would name a table there (README "Environments").
                models_environment={
                    "MLOPS_ONLINE_TABLE": data.feature_table.table_arn,
                    "MLOPS_EXPERIMENT_TABLE": data.experiment_table.table_arn,
                },
                target=EnvironmentTarget(
                    name=name,
                    account=environment.account,
                    endpoint_name=config.environment_endpoint_name(name),
                    serving=config.environment_serving(name),
                    model_role_arn=f"arn:{self.partition}:iam::{environment.account}:role/"
                    + config.environment_model_role_name(name),
                    deployment_role_arn=f"arn:{self.partition}:iam::{environment.account}:role/"
                    + config.deployment_role_name(name),
                    steps_role_name=config.promotion_role_name(name),
                    state_machine_name=config.promotion_state_machine_name(name),
                    rollout=config.environment_rollout(name),
                    previous=names[index - 1] if index else None,
                    following=following,
                    code_bundle=code_bundle,
                ),
            )
            if config.environment_captures(name):
                acknowledge_object_prefixes(
                    workflow.steps.role,
                    [f"{artifacts_arn}/{naming.capture_prefix(config.environment_endpoint_name(name))}/*"],
                    "The shadow comparison reads the environment's capture files of the bake window; they are named "
                    "per variant and hour.",
                )
            acknowledge_object_prefixes(
                workflow.steps.role,
                [f"{artifacts_arn}/{naming.SHARED_CODE_PREFIX}/*"],
                "Candidates' code bundles are copied there, one object per bundle digest, for the environment's "
                "model role.",
            )
            self.environment_promotions[name] = workflow
            following = workflow
        self.environment_promotions = dict(reversed(list(self.environment_promotions.items())))
        self.promotion = promotion_workflow(
            "Promotion",
            environment_workflows=list(self.environment_promotions.values()),
        )
        # The inference script reads the online features of the request's entity.
        self.endpoint.grant_models_read_features(data.feature_table)
        acknowledge_object_prefixes(
            self.promotion.steps.role,
            [f"{artifacts_arn}/{naming.capture_prefix(config.endpoint_name)}/*"],
            "The shadow comparison reads the capture files of the bake window; they are named per variant and hour.",
        )
        # `cdk destroy` removes the endpoint, configs, models and autoscaling promotions made at runtime.
        self.teardown = ServingTeardown(
            self,
            "Teardown",
            endpoint_name=config.endpoint_name,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        CfnOutput(self, "EndpointName", value=config.endpoint_name)
        CfnOutput(self, "ModelRoleArn", value=self.endpoint.model_role.role_arn)
        CfnOutput(self, "CaptureUri", value=self.endpoint.capture_uri)
        CfnOutput(self, "PromotionStateMachineArn", value=self.promotion.state_machine.state_machine_arn)
        for name, workflow in self.environment_promotions.items():
            CfnOutput(
                self,
                f"Promotion{name.capitalize()}StateMachineArn",
                value=workflow.state_machine.state_machine_arn,
            )
        if self.environment_promotions:  # in promotion order: `mlops promote` starts the first one's
            CfnOutput(self, "PromotionEnvironments", value=",".join(self.environment_promotions))
        CfnOutput(self, "ApproverRoleArn", value=self.promotion.approvals.approver_role.role_arn)
        self.approval_page: ApprovalPage | None = None
        if config.approval_page.enabled:
            self.approval_page = ApprovalPage(
                self,
                "ApprovalPage",
                state_table=data.promotion_table,
                table_key=data.key,
                registry=registry,
                addressees=config.notifications.approver_emails,
                identities=config.approval_page.identities,
                approver_role=self.promotion.approvals.approver_role,
                approvers=config.approvals.approvers,
                allow_self_approval=config.approvals.allow_self_approval,
                link_ttl=Duration.seconds(config.approval_page.link_ttl_seconds),
                log_retention=config.log_retention,
                removal_policy=config.cdk_removal_policy,
                environment_approvers={name: config.environment_approvers(name) for name in config.environments},
            )
            self.approval_page.issue_links_from(self.promotion.steps)
            for workflow in self.environment_promotions.values():  # each environment's approvals get links too
                self.approval_page.issue_links_from(workflow.steps)
            CfnOutput(self, "ApprovalPageUrl", value=self.approval_page.url)
            CfnOutput(self, "ApprovalPageFunctionName", value=self.approval_page.function.function_name)
        self.abtest = AbTesting(
            self,
            "AbTesting",
            endpoint=self.endpoint,
            registry=registry,
            experiment_table=data.experiment_table,
            promotion_table=data.promotion_table,
            key=data.key,
            status_schedule=config.abtest.status_schedule,
            http_router=config.abtest.http_router,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        CfnOutput(self, "AbTestStatusFunctionName", value=self.abtest.status.function.function_name)
        CfnOutput(self, "AbTestStatusScheduleName", value=self.abtest.schedule.schedule_name)
        CfnOutput(self, "AbTestOutcomeFunctionName", value=self.abtest.outcome.function.function_name)
        if self.abtest.api is not None and self.abtest.router is not None:
            CfnOutput(self, "AbTestRouterUrl", value=self.abtest.api.url)
            CfnOutput(self, "AbTestRouterFunctionName", value=self.abtest.router.function.function_name)
