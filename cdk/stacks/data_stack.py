"""Stateful data, retained on stack deletion unless ``removal_policy`` says otherwise: the platform KMS key, the
data, artifacts and access-log buckets, the notification topic, the feature store of ``training.use_case`` (the
online table, the Glue catalog and Athena workgroup of the offline store, and the ingestion queue and function),
the promotion table (locks, approvals, deployment records) and the A/B experiments table. The other stacks
import what they use through named exports (:mod:`cdk.stacks.shared`)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.experiments import ExperimentStore
from cdk.constructs.feature_store import FeatureIngestion, FeatureStore
from cdk.constructs.notifications import Notifications
from cdk.constructs.promotion_state import PromotionState
from cdk.constructs.storage import PlatformStorage
from cdk.stacks import shared
from mlops_kit.monitoring import naming as drift_naming
from mlops_kit.pipeline.usecase import feature_groups_of, load_use_case
from mlops_kit.serving import naming as serving_naming


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = config.cdk_removal_policy
        # The feature groups the use case reads (importing it makes no AWS call): one Glue table each.
        features = feature_groups_of(load_use_case(config.training.use_case))
        self.storage = PlatformStorage(
            self,
            "Storage",
            removal_policy=removal,
            report_retention=Duration.days(config.retention.report_days),
            capture_retention=Duration.days(config.retention.capture_days),
            capture_prefix=serving_naming.capture_prefix(config.endpoint_name),
            reports_prefix=drift_naming.reports_prefix(config.endpoint_name),
        )
        # The environments' accounts deploy the versions trained here: they read the model artifacts.
        self.storage.share_models_with(config.environment_accounts)
        # Each environment's endpoint writes its capture here, where the shadow comparison and drift read it; a
        # serverless one (serving.serverless or environments.<name>.serverless) has no data capture.
        self.storage.share_capture_with(
            [
                (
                    environment.account,
                    f"arn:{self.partition}:iam::{environment.account}:role/" + config.environment_model_role_name(name),
                    serving_naming.capture_prefix(config.environment_endpoint_name(name)),
                )
                for name, environment in config.environments.items()
                if config.environment_captures(name)
            ],
            retention=Duration.days(config.retention.capture_days),
        )
        self.notifications = Notifications(
            self, "Notifications", key=self.storage.key, approver_emails=config.notifications.approver_emails
        )
        self.promotion_state = PromotionState(self, "PromotionState", key=self.storage.key, removal_policy=removal)
        project = config.project_name
        CfnOutput(self, "DataBucketName", value=self.storage.data_bucket.bucket_name)
        CfnOutput(self, "ArtifactsBucketName", value=self.storage.artifacts_bucket.bucket_name)
        shared.export(self, project, shared.DATA_BUCKET_ARN, "DataBucketArn", self.storage.data_bucket.bucket_arn)
        shared.export(
            self, project, shared.ARTIFACTS_BUCKET_ARN, "ArtifactsBucketArn", self.storage.artifacts_bucket.bucket_arn
        )
        shared.export(self, project, shared.KEY_ARN, "PlatformKeyArn", self.storage.key.key_arn)
        shared.export(self, project, shared.TOPIC_ARN, "NotificationTopicArn", self.notifications.topic.topic_arn)
        shared.export(
            self, project, shared.PROMOTION_TABLE_ARN, "PromotionTableArn", self.promotion_state.table.table_arn
        )
        CfnOutput(self, "PromotionTableName", value=self.promotion_state.table.table_name)
        self.feature_store = FeatureStore(
            self,
            "FeatureStore",
            groups=features.groups,
            key=self.storage.key,
            data_bucket=self.storage.data_bucket,
            artifacts_bucket=self.storage.artifacts_bucket,
            database_name=config.feature_database_name,
            workgroup_name=config.feature_workgroup_name,
            removal_policy=removal,
        )
        self.feature_ingestion = FeatureIngestion(
            self,
            "FeatureIngestion",
            store=self.feature_store,
            registry=features.registry,
            log_retention=config.log_retention,
            removal_policy=removal,
        )
        CfnOutput(self, "FeatureTableName", value=self.feature_store.table.table_name)
        CfnOutput(self, "FeatureDatabaseName", value=self.feature_store.database_name)
        CfnOutput(self, "FeatureWorkGroupName", value=self.feature_store.workgroup_name)
        CfnOutput(self, "FeatureIngestQueueUrl", value=self.feature_ingestion.queue.queue_url)
        CfnOutput(self, "FeatureIngestFunctionName", value=self.feature_ingestion.function.function.function_name)
        CfnOutput(
            self, "FeatureEventDeadLetterQueueUrl", value=self.feature_ingestion.event_dead_letters.queue.queue_url
        )
        shared.export(self, project, shared.FEATURE_TABLE_ARN, "FeatureTableArn", self.feature_store.table.table_arn)
        self.experiments = ExperimentStore(self, "Experiments", key=self.storage.key, removal_policy=removal)
        # Each environment's models read the online features and do sticky A/B assignment with these tables, across
        # accounts: the tables' resource policies and the key's policy name each environment's model role.
        model_roles = [
            (
                environment.account,
                f"arn:{self.partition}:iam::{environment.account}:role/" + config.environment_model_role_name(name),
            )
            for name, environment in config.environments.items()
        ]
        self.feature_store.share_online_reads_with(model_roles)
        self.experiments.share_routing_with(model_roles)
        self.storage.share_tables_with(model_roles)
        CfnOutput(self, "ExperimentTableName", value=self.experiments.table.table_name)
        shared.export(
            self, project, shared.EXPERIMENT_TABLE_ARN, "ExperimentTableArn", self.experiments.table.table_arn
        )
