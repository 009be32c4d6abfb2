"""The A/B testing experiments table: definitions, decisions, endpoint splits, exposures and outcomes."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.constructs.storage import admit_roles, record_table
from mlops_kit.abtest.table import EXPERIMENT_PK


class ExperimentStore(Construct):
    """One DynamoDB table (``pk``/``sk`` strings; layout and access patterns in :mod:`mlops_kit.abtest.table`),
    on-demand, encrypted with the platform key, with point-in-time recovery; retained on stack deletion unless
    ``removal_policy`` says otherwise (experiment records are the audit trail of shipped models)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = record_table(self, "Table", key=key, removal_policy=removal_policy)

    def share_routing_with(self, readers: list[tuple[str, str]]) -> None:
        """Let each ``(account, role ARN)`` of ``readers`` (an environment's model role, in another account) do what
        sticky A/B assignment in the inference container does (:mod:`mlops_kit.serving.sticky`, through
        :class:`mlops_kit.abtest.routing.RouteTable`), through the table's resource-based policy: ``GetItem`` and
        ``Query`` of the experiment items (the route of the experiment running on its endpoint) and ``PutItem`` of
        exposure items (the user's first exposure, conditional on none earlier). The same ``dynamodb:LeadingKeys``
        conditions as the platform endpoint's grant keep outcomes and the other items out of reach. The role's own
        policy must allow the same and the table key's policy must let it decrypt through DynamoDB
        (:meth:`cdk.constructs.storage.PlatformStorage.share_tables_with`); principals and ``*`` resource as
        :meth:`cdk.constructs.feature_store.FeatureStore.share_online_reads_with`. None: no statements."""
        if not readers:
            return
        principals, admitted = admit_roles(readers)
        self.table.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsReadRoutes",
                principals=principals,
                actions=["dynamodb:GetItem", "dynamodb:Query"],
                resources=["*"],
                conditions={
                    **admitted,
                    "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [EXPERIMENT_PK]},
                },
            )
        )
        self.table.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsRecordExposures",
                principals=principals,
                actions=["dynamodb:PutItem"],
                resources=["*"],
                conditions={
                    **admitted,
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]},
                },
            )
        )

    def grant_read_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read and write every item (the CLI, the status and outcome functions)."""
        return self.table.grant_read_write_data(grantee)
