"""Stateful data: the platform key, buckets and notification topic. Retained on deletion by default."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.experiments import ExperimentStore
from cdk.constructs.feature_store import FeatureIngestion, FeatureStore, retention_days
from cdk.constructs.notifications import Notifications
from cdk.constructs.promotion_state import PromotionState
from cdk.constructs.storage import PlatformStorage
from cdk.stacks import shared
from mlops_kit.features.fraud_definitions import FEATURE_GROUPS

# The feature groups the platform serves (their definitions become the Glue tables) and where the ingestion
# function imports them from; point both at your own module to use your own groups.
FEATURE_REGISTRY = "mlops_kit.features.fraud_definitions:FEATURE_GROUPS"


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.DESTROY if config.removal_policy == "destroy" else RemovalPolicy.RETAIN
        self.storage = PlatformStorage(
            self,
            "Storage",
            removal_policy=removal,
            report_retention=Duration.days(config.retention.report_days),
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
            groups=FEATURE_GROUPS,
            key=self.storage.key,
            data_bucket=self.storage.data_bucket,
            artifacts_bucket=self.storage.artifacts_bucket,
            database_name=f"{config.project_name.replace('-', '_')}_features",
            workgroup_name=f"{config.project_name}-features",
            removal_policy=removal,
        )
        self.feature_ingestion = FeatureIngestion(
            self,
            "FeatureIngestion",
            store=self.feature_store,
            registry=FEATURE_REGISTRY,
            log_retention=retention_days(config.retention.log_days),
            removal_policy=removal,
        )
        CfnOutput(self, "FeatureTableName", value=self.feature_store.table.table_name)
        CfnOutput(self, "FeatureDatabaseName", value=self.feature_store.database_name)
        CfnOutput(self, "FeatureWorkGroupName", value=self.feature_store.workgroup_name)
        CfnOutput(self, "FeatureIngestQueueUrl", value=self.feature_ingestion.queue.queue_url)
        CfnOutput(self, "FeatureIngestFunctionName", value=self.feature_ingestion.function.function.function_name)
        shared.export(self, project, shared.FEATURE_TABLE_ARN, "FeatureTableArn", self.feature_store.table.table_arn)
        self.experiments = ExperimentStore(self, "Experiments", key=self.storage.key, removal_policy=removal)
        CfnOutput(self, "ExperimentTableName", value=self.experiments.table.table_name)
        shared.export(
            self, project, shared.EXPERIMENT_TABLE_ARN, "ExperimentTableArn", self.experiments.table.table_arn
        )
