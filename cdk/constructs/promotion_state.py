"""The promotion workflow's durable state: endpoint locks, approval tokens and deployment records."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.constructs.storage import record_table


class PromotionState(Construct):
    """One DynamoDB table (``pk``/``sk`` strings; layout in :mod:`mlops_kit.promotion.store`), encrypted with
    the platform key, with point-in-time recovery; retained unless ``removal_policy`` says otherwise."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = record_table(self, "Table", key=key, removal_policy=removal_policy)

    def grant_read_write(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.table.grant_read_write_data(grantee)
