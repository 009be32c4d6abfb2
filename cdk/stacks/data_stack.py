"""Stateful data: the platform key, buckets and notification topic. Retained on deletion by default."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.notifications import Notifications
from cdk.constructs.promotion_state import PromotionState
from cdk.constructs.storage import PlatformStorage
from cdk.stacks import shared


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
