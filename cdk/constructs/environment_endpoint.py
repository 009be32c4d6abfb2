"""An environment account's endpoint: its rollback alarms, and the role the tooling account's promotion deploys
it with (``sts:AssumeRole`` from exactly the promotion steps' role of this environment)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.arns import arn
from cdk.config import AlarmsConfig
from cdk.constructs.endpoint import EndpointPermissions, rollback_alarms
from cdk.constructs.serving_teardown import acknowledge_cleanup, cleanup_statements
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.serving import naming


class EnvironmentEndpoint(Construct):
    """Endpoint ``endpoint_name`` of this environment: the rollback alarms (its metrics are in this account) and
    ``deployment_role``, which the tooling account's promotion steps role (``promotion_role_arn``, in
    ``tooling_account``) assumes to deploy it.

    The deployment role may do to this endpoint exactly what the single-account steps may (create and update it,
    its configs and models, named after it; autoscale its variants; delete the unused configs and models), pass
    ``model_role`` to SageMaker, read these alarms, put and delete the canary's business alarm when
    ``alarms.business_metric`` is set, and publish the rollout metric. The trust names the steps role by ARN in a
    condition on the tooling account (``aws:PrincipalArn``) rather than as the principal: IAM refuses a principal
    that does not exist yet, and the tooling account's serving stack may be deployed after this one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        model_role: iam.IRole,
        alarms: AlarmsConfig,
        tooling_account: str,
        promotion_role_arn: str,
        deployment_role_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        self.alarms: dict[str, cloudwatch.Alarm] = rollback_alarms(self, endpoint_name, alarms, None)
        self.deployment_role = iam.Role(
            self,
            "DeploymentRole",
            role_name=deployment_role_name,
            assumed_by=iam.AccountPrincipal(tooling_account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": promotion_role_arn}}
            ),
            description=f"{endpoint_name}: the promotion workflow of account {tooling_account} deploys with it",
        )
        role = self.deployment_role
        permissions = EndpointPermissions(stack, endpoint_name)
        permissions.grant_deploy(role)
        for statement in cleanup_statements(stack, endpoint_name):
            role.add_to_policy(statement)
        acknowledge_cleanup(role, endpoint_name)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in self.alarms.values()]
            )
        )
        if alarms.business_metric is not None:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
                    resources=[
                        arn(stack, "cloudwatch", "alarm", naming.business_alarm(endpoint_name, slot), colon=True)
                        for slot in naming.SLOTS
                    ],
                )
            )
        # The shadow comparison's and the business alarm's metric reads, and the rollout metric of the dashboard.
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": naming.ROLLOUT_NAMESPACE}},
            )
        )
        acknowledge_grant_actions(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "GetMetricData, PutMetricData (limited to the rollout namespace by condition), the SageMaker List calls "
            "and Application Auto Scaling (limited to the sagemaker namespace by condition) have no resource-level "
            "permissions.",
        )
