"""What the stateful data stack shares with the other stacks: named exports, imported by name.

Explicit export names (instead of CDK's generated cross-stack references) keep the interface between
deployment units readable and stable, and make IAM resources in cdk-nag findings predictable, so every
acknowledgement can name the exact resource it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

DATA_BUCKET_ARN = "data-bucket-arn"
ARTIFACTS_BUCKET_ARN = "artifacts-bucket-arn"
KEY_ARN = "key-arn"
TOPIC_ARN = "notification-topic-arn"
PROMOTION_TABLE_ARN = "promotion-table-arn"
FEATURE_TABLE_ARN = "feature-table-arn"
EXPERIMENT_TABLE_ARN = "experiment-table-arn"


def export_name(project: str, what: str) -> str:
    return f"{project}-{what}"


def export(stack: Stack, project: str, what: str, output_id: str, value: str) -> None:
    """A stack output, exported as ``<project>-<what>``."""
    CfnOutput(stack, output_id, value=value, export_name=export_name(project, what))


def imported(project: str, what: str) -> str:
    return Fn.import_value(export_name(project, what))


@dataclass(frozen=True)
class SharedData:
    """Handles on the data stack's resources, from its exports."""

    key: kms.IKey
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket
    topic: sns.ITopic
    promotion_table: dynamodb.ITable
    feature_table: dynamodb.ITable
    experiment_table: dynamodb.ITable

    @classmethod
    def import_into(cls, scope: Construct, project: str) -> SharedData:
        key = kms.Key.from_key_arn(scope, "SharedKey", imported(project, KEY_ARN))
        return cls(
            key=key,
            data_bucket=s3.Bucket.from_bucket_attributes(
                scope, "SharedDataBucket", bucket_arn=imported(project, DATA_BUCKET_ARN), encryption_key=key
            ),
            artifacts_bucket=s3.Bucket.from_bucket_attributes(
                scope, "SharedArtifactsBucket", bucket_arn=imported(project, ARTIFACTS_BUCKET_ARN), encryption_key=key
            ),
            topic=sns.Topic.from_topic_arn(scope, "SharedTopic", imported(project, TOPIC_ARN)),
            promotion_table=dynamodb.Table.from_table_attributes(
                scope, "SharedPromotionTable", table_arn=imported(project, PROMOTION_TABLE_ARN), encryption_key=key
            ),
            feature_table=dynamodb.Table.from_table_attributes(
                scope, "SharedFeatureTable", table_arn=imported(project, FEATURE_TABLE_ARN), encryption_key=key
            ),
            experiment_table=dynamodb.Table.from_table_attributes(
                scope, "SharedExperimentTable", table_arn=imported(project, EXPERIMENT_TABLE_ARN), encryption_key=key
            ),
        )
