"""Human approval of promotions: the approval service that answers a waiting promotion from the model registry,
and the approver role (or its managed policy) that can answer and do nothing else.

How an answer travels is described in :mod:`mlops_kit.promotion.approvals`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.arns import arn
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.promotion.settings import ApprovalSettings
from mlops_kit.registry import Stage, StageStatus


class PromotionApprovals(Construct):
    """The approval function (EventBridge: a version's stage status set to Approved or Rejected, or its approval
    status to Rejected) and the approver role.

    ``approvers`` are the IAM role or user ARNs allowed to answer besides sessions of the approver role; they (or,
    when empty, any principal of the account allowed to assume roles) may assume the approver role.
    ``allow_self_approval`` lets the identity that registered or promoted a version answer its promotion.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: ModelRegistry,
        state_machine: sfn.StateMachine,
        state_table: dynamodb.ITable,
        topic: sns.ITopic,
        key: kms.IKey,
        approvers: list[str],
        allow_self_approval: bool,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        environment_state_machines: Mapping[str, sfn.StateMachine] | None = None,
        environment_approvers: Mapping[str, list[str]] | None = None,
    ) -> None:
        """``environment_state_machines`` (with environments): each environment's promotion workflow by name, whose
        approvals this service answers too, in that environment's stage of the registry and under its
        ``environment_approvers`` (``approvers`` for one without). Unset: the platform's workflow only."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        machines = [state_machine, *(environment_state_machines or {}).values()]
        stages = [Stage.STAGING.value, *(environment_state_machines or {})]
        by_environment = {name: list(names) for name, names in (environment_approvers or {}).items()}
        every_approver = sorted({*approvers, *(a for names in by_environment.values() for a in names)})
        if not by_environment:
            every_approver = list(approvers)
        self.approver_policy = iam.ManagedPolicy(
            self,
            "ApproverPolicy",
            description=f"Answer promotions of {registry.group_name}: set a version's stage status to Approved or "
            "Rejected, read the registry, the approval requests and the waiting executions. Nothing else.",
            statements=self._approver_statements(stack, registry, machines, stages, state_table, key),
        )
        acknowledge(
            self.approver_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "sagemaker:ListModelPackageGroups and states:ListStateMachines (what the consoles call to show the "
            "registry and the executions) support no resource-level permissions; the CLI finds the platform's "
            "outputs with DescribeStacks over all stacks, which is evaluated against '*'.",
        )
        trusted: iam.IPrincipal = iam.AccountRootPrincipal()
        if every_approver:
            trusted = iam.AccountRootPrincipal().with_conditions({"ArnLike": {"aws:PrincipalArn": every_approver}})
        self.approver_role = iam.Role(
            self,
            "ApproverRole",
            assumed_by=trusted,
            description=f"Promotion approvers of {registry.group_name}",
            managed_policies=[self.approver_policy],
        )

        self.function = PythonFunction(
            self,
            "Service",
            name="promotion_approval",
            description=f"{registry.group_name}: answer a waiting promotion from the registry, as the verified caller",
            log_retention=log_retention,
            removal_policy=removal_policy,
            settings=ApprovalSettings(
                model_package_group=registry.group_name,
                table_name=state_table.table_name,
                topic_arn=topic.topic_arn,
                approvers=(*approvers, self.approver_role.role_arn),
                allow_self_approval=allow_self_approval,
                environment_approvers={
                    name: (*names, self.approver_role.role_arn) for name, names in by_environment.items()
                },
            ),
        )
        fn = self.function.function
        registry.grant_lifecycle(fn)  # describe the answered version; put a refused one back to AwaitingApproval
        state_table.grant_read_write_data(fn)
        topic.grant_publish(fn)
        key.grant_encrypt_decrypt(fn)
        # SendTaskSuccess supports no resource-level permissions (Service Authorization Reference): any task
        # token of the account. The workflow's VerifyApproval step is what binds an answer to its record.
        fn.add_to_role_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=["*"]))
        acknowledge_grant_actions(self.function.role)
        acknowledge(
            self.function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "states:SendTaskSuccess supports no resource-level permissions; the workflow verifies every answer "
            "against the approval record this function writes.",
        )
        # A registry answer the function could not take after its retries is kept, not dropped (README "Dead letters").
        self.dead_letters = DeadLetters(
            self, "DeadLetters", function=fn, key=key, removal_policy=removal_policy, topic=topic
        )
        for rule_id, detail in (
            (
                "OnStageStatus",
                {
                    "ModelPackageGroupName": [registry.group_name],
                    "ModelLifeCycle": {
                        "Stage": stages,
                        "StageStatus": [StageStatus.APPROVED.value, StageStatus.REJECTED.value],
                    },
                },
            ),
            (
                "OnApprovalRejected",
                {"ModelPackageGroupName": [registry.group_name], "ModelApprovalStatus": ["Rejected"]},
            ),
        ):
            events.Rule(
                self,
                rule_id,
                description=f"{registry.group_name}: a reviewer's answer in the registry answers the waiting promotion",
                event_pattern=events.EventPattern(
                    source=["aws.sagemaker"], detail_type=["SageMaker Model Package State Change"], detail=detail
                ),
                targets=[self.dead_letters.rule_target()],
            )

    @staticmethod
    def _approver_statements(
        stack: Stack,
        registry: ModelRegistry,
        state_machines: list[sfn.StateMachine],
        stages: list[str],
        state_table: dynamodb.ITable,
        key: kms.IKey,
    ) -> list[iam.PolicyStatement]:
        answer_statuses = [StageStatus.APPROVED.value, StageStatus.REJECTED.value]
        executions = [
            arn(stack, "states", "execution", f"{machine.state_machine_name}:*", colon=True)
            for machine in state_machines
        ]
        return [
            # The answer itself: only these stage statuses, only in Staging, only this group's versions.
            iam.PolicyStatement(
                actions=["sagemaker:UpdateModelPackage"],
                resources=[registry.packages_arn],
                conditions={
                    "StringEquals": {
                        "sagemaker:ModelLifeCycle:Stage": stages[0] if len(stages) == 1 else stages,
                        "sagemaker:ModelLifeCycle:StageStatus": answer_statuses,
                    }
                },
            ),
            iam.PolicyStatement(
                actions=["sagemaker:UpdateModelPackage"],
                resources=[registry.packages_arn],
                conditions={"StringEquals": {"sagemaker:ModelApprovalStatus": "Rejected"}},
            ),
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                    "sagemaker:DescribeModelPackageGroup",
                ],
                resources=[registry.group_arn, registry.packages_arn],
            ),
            # What the consoles list, and the CLI's discovery of the platform's stack outputs (DescribeStacks
            # without a stack name, which IAM evaluates against "*").
            iam.PolicyStatement(
                actions=[
                    "sagemaker:ListModelPackageGroups",
                    "states:ListStateMachines",
                    "cloudformation:DescribeStacks",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=executions
            ),
            iam.PolicyStatement(
                actions=["states:DescribeStateMachine", "states:ListExecutions"],
                resources=[machine.state_machine_arn for machine in state_machines],
            ),
            # The approval requests (`mlops promotions pending`, `mlops approve <id>` reads its candidate).
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:Scan"],
                resources=[state_table.table_arn],
            ),
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
        ]
