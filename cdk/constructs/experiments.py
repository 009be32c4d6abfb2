"""The A/B testing experiments table: definitions, decisions, endpoint splits, exposures and outcomes."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.constructs.storage import record_table


class ExperimentStore(Construct):
    """One DynamoDB table (``pk``/``sk`` strings; layout and access patterns in :mod:`mlops_kit.abtest.table`),
    on-demand, encrypted with the platform key, with point-in-time recovery; retained on stack deletion unless
    ``removal_policy`` says otherwise (experiment records are the audit trail of shipped models)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = record_table(self, "Table", key=key, removal_policy=removal_policy)

    def grant_read_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read and write every item (the CLI, the status and outcome functions)."""
        return self.table.grant_read_write_data(grantee)
