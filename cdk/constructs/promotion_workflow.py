"""The promotion workflow: a Step Functions state machine (``step_functions/promotion.asl.json``), the Lambda
that runs its steps, and the trigger that starts it when a model version is approved in the registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.arns import arn, nag_account
from cdk.config import PlatformConfig, ServingConfig
from cdk.constructs.approvals import PromotionApprovals
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.endpoint import EndpointSupport
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.python_function import PythonFunction
from cdk.constructs.serving_teardown import cleanup_statements
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.promotion.settings import (
    EndpointSettings,
    EnvironmentSettings,
    PromotionSettings,
    RolloutSettings,
    TriggerSettings,
)
from mlops_kit.serving import naming

DEFINITION = Path(__file__).resolve().parents[2] / "step_functions" / "promotion.asl.json"


@dataclass(frozen=True)
class EnvironmentTarget:
    """The environment a promotion workflow deploys to, in its own account: its endpoint, served as ``serving``
    says (serverless when ``serving.serverless`` is set: then ``rollout`` is the all_at_once path) and promoted
    along ``rollout``, with the model role ``model_role_arn`` there, deployed through ``deployment_role_arn`` there.
    The steps role is named ``steps_role_name`` (that role trusts exactly it); ``state_machine_name`` names the
    workflow; ``following`` is the next environment's workflow (a successful promotion here starts it), None for the
    last.
    ``code_bundle`` is the inference code bundle the training pipeline registers versions with: the steps may read
    exactly it, to copy it where the environment's model role can read it (unset: versions must name a bundle
    under the artifacts bucket's ``models/code/`` already)."""

    name: str
    account: str
    endpoint_name: str
    serving: ServingConfig
    model_role_arn: str
    deployment_role_arn: str
    steps_role_name: str
    state_machine_name: str
    rollout: RolloutSettings
    previous: str | None = None
    following: PromotionWorkflow | None = None
    code_bundle: s3_assets.Asset | None = None


class PromotionWorkflow(Construct):
    """Shadow -> human approval -> staged canary (or SageMaker guardrails) -> registry update, with rollback.

    The steps function gets one :class:`~mlops_kit.promotion.settings.PromotionSettings` (``self.settings``),
    built here from the platform config; the state machine's ``TimeoutSeconds`` and the promotion lock are sized
    from its rollout budget. ``serving_environment`` adds environment variables to every deployed model (e.g.
    the online feature table the inference script reads); unset, models get only their registry environment.

    ``target`` set (with environments): the workflow promotes to that environment's endpoint in its account,
    through its deployment role; ``endpoint`` is then unused, and the workflow has no registry trigger and no
    approval service of its own (the first environment's is started by the platform workflow's trigger, the
    others by the environment before; the platform workflow's approval service answers them all).
    ``environment_workflows`` (the platform workflow, with environments): the environments' workflows in promotion
    order; a registry approval starts the first, and the approval service covers each of them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        endpoint: EndpointSupport,
        registry: ModelRegistry,
        state_table: dynamodb.ITable,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        serving_environment: dict[str, str] | None = None,
        target: EnvironmentTarget | None = None,
        environment_workflows: Sequence[PromotionWorkflow] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        endpoint_name = target.endpoint_name if target else config.endpoint_name
        serving = target.serving if target else config.serving
        model_role_arn = target.model_role_arn if target else endpoint.model_role.role_arn
        settings = PromotionSettings(
            endpoint=EndpointSettings(
                name=endpoint_name,
                instance_type=serving.instance_type,
                initial_instance_count=serving.initial_instance_count,
                max_instance_count=serving.max_instance_count,
                target_invocations_per_instance=serving.target_invocations_per_instance,
                model_role_arn=model_role_arn,
                capture_uri=f"s3://{artifacts_bucket.bucket_name}/{naming.CAPTURE_ROOT}",
                capture_kms_key_id=key.key_arn,
                capture_sampling_percent=serving.data_capture_sampling_percent,
                serving_environment={**(serving_environment or {}), "MLOPS_ENDPOINT_NAME": endpoint_name}
                if target
                else serving_environment or {},
                serverless=serving.serverless.settings() if serving.serverless else None,
            ),
            model_package_group=registry.group_name,
            table_name=state_table.table_name,
            topic_arn=topic.topic_arn,
            business_alarm=config.alarms.business_alarm_settings(),
            rollout=target.rollout if target else config.rollout.settings(),
            instance_prices=dict(config.cost.instance_prices),
            target_environment=_environment_settings(target, artifacts_bucket) if target else None,
        )
        self.settings = settings
        self.target = target
        self.steps = PythonFunction(
            self,
            "Steps",
            name="promotion",
            description=f"{endpoint_name}: promotion workflow steps",
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
            memory_size=512,
            environment=settings.environment(stack.to_json_string),
            role_name=target.steps_role_name if target else None,
        )
        if target:
            self._grant_environment_steps(stack, target, registry, state_table, artifacts_bucket, topic, key)
        else:
            self._grant_steps(stack, endpoint, registry, state_table, artifacts_bucket, topic, key)

        # Execution data (inputs, outputs, task parameters) would put every approval's task token in the log:
        # events are logged at level ALL without it, under the platform key.
        log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=removal_policy, encryption_key=key
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=target.state_machine_name if target else None,
            # The definition file is passed as DefinitionString, which CloudFormation substitutes as text: its
            # TimeoutSeconds placeholder is a number (unquoted), and CDK applies StateMachine(timeout=...) only to
            # definitions built in code, never to a file.
            definition_body=sfn.DefinitionBody.from_string(DEFINITION.read_text()),
            definition_substitutions={
                "PromotionFunctionArn": self.steps.function.function_arn,
                "WorkflowTimeoutSeconds": str(settings.rollout.workflow_timeout()),
            },
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        self.steps.function.grant_invoke(self.state_machine)
        function_id = stack.get_logical_id(self.steps.function.node.default_child)
        machine_id = stack.get_logical_id(self.state_machine.node.default_child)
        acknowledge(
            self.state_machine.role,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "Step Functions invokes the steps function by qualified ARN (any version/alias of this one function).",
        )
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray and CloudWatch Logs delivery actions of Step Functions support no resource-level permissions.",
        )

        if target is not None:
            return
        # With environments a registry approval starts the first environment's promotion, not this one's.
        started = environment_workflows[0].state_machine if environment_workflows else self.state_machine
        self.trigger = PythonFunction(
            self,
            "Trigger",
            name="promotion_trigger",
            description=f"{endpoint_name}: start a promotion when a version is approved in the registry",
            log_retention=log_retention,
            removal_policy=removal_policy,
            environment=TriggerSettings(
                state_machine_arn=started.state_machine_arn, model_package_group=registry.group_name
            ).environment(stack.to_json_string),
        )
        started.grant_start_execution(self.trigger.function)
        self.trigger.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[arn(stack, "states", "execution", f"{started.state_machine_name}:*", colon=True)],
            )
        )
        registry.grant_read(self.trigger.function)
        started_id = stack.get_logical_id(started.node.default_child)
        acknowledge(
            self.trigger.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{stack.region}:{nag_account(stack)}:execution:"
            f"<{started_id}.Name>:*]"
            if not environment_workflows
            else f"AwsSolutions-IAM5[Resource::{_nag_executions(stack, f'<{started_id}.Name>')}]",
            "Execution names are derived per model version; the grant covers this state machine's executions only.",
        )
        self.trigger_dead_letters = DeadLetters(
            self,
            "TriggerDeadLetters",
            function=self.trigger.function,
            key=key,
            removal_policy=removal_policy,
            topic=topic,
        )
        events.Rule(
            self,
            "OnApproval",
            description=f"{registry.group_name}: a model version approved in the registry starts a promotion",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [registry.group_name], "ModelApprovalStatus": ["Approved"]},
            ),
            targets=[self.trigger_dead_letters.rule_target()],
        )
        self.approvals = PromotionApprovals(
            self,
            "Approvals",
            registry=registry,
            state_machine=self.state_machine,
            environment_state_machines={w.target.name: w.state_machine for w in environment_workflows if w.target},
            environment_approvers={name: config.environment_approvers(name) for name in config.environments},
            state_table=state_table,
            topic=topic,
            key=key,
            approvers=list(config.approvals.approvers),
            allow_self_approval=config.approvals.allow_self_approval,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        registry.acknowledge_versions(self.approvals.approver_policy)
        for workflow in environment_workflows:
            acknowledge(
                self.approvals.approver_policy,
                f"AwsSolutions-IAM5[Resource::{_nag_executions(stack, _logical_name(stack, workflow))}]",
                "Approvers follow this environment's promotion executions only; execution names are derived per "
                "model version.",
            )
        acknowledge(
            self.approvals.approver_policy,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{stack.region}:{nag_account(stack)}:execution:"
            f"<{machine_id}.Name>:*]",
            "Approvers follow this state machine's executions only; execution names are derived per model version.",
        )

    def _grant_steps(
        self,
        stack: Stack,
        endpoint: EndpointSupport,
        registry: ModelRegistry,
        table: dynamodb.ITable,
        artifacts_bucket: s3.IBucket,
        topic: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        fn = self.steps.function
        endpoint.grant_deploy(fn)
        registry.grant_lifecycle(fn)
        endpoint.model_role.grant_pass_role(fn.grant_principal)
        table.grant_read_write_data(fn)
        topic.grant_publish(fn)
        key.grant_encrypt_decrypt(fn)
        endpoint.grant_describe_alarms(fn)
        if self.settings.business_alarm is not None:
            # The canary's business-metric alarm, put by PrepareCanary and deleted when the rollout ends; by exact
            # name (one per slot), as the Service Authorization Reference allows for these alarm actions.
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
                    resources=[
                        arn(
                            stack,
                            "cloudwatch",
                            "alarm",
                            naming.business_alarm(endpoint.endpoint_name, slot),
                            colon=True,
                        )
                        for slot in naming.SLOTS
                    ],
                )
            )
        artifacts_bucket.grant_read(fn, f"{naming.capture_prefix(endpoint.endpoint_name)}/*")
        for statement in cleanup_statements(stack, endpoint.endpoint_name):  # Finalize removes unused ones
            fn.add_to_role_policy(statement)
        fn.add_to_role_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": naming.ROLLOUT_NAMESPACE}},
            )
        )
        acknowledge_grant_actions(self.steps.role)
        acknowledge(
            self.steps.role,
            "AwsSolutions-IAM5[Resource::*]",
            "GetMetricData, PutMetricData (limited to the rollout namespace by condition), the SageMaker List calls "
            "and Application Auto Scaling (limited to the sagemaker namespace by condition) have no resource-level "
            "permissions.",
        )

    def _grant_environment_steps(
        self,
        stack: Stack,
        target: EnvironmentTarget,
        registry: ModelRegistry,
        table: dynamodb.ITable,
        artifacts_bucket: s3.IBucket,
        topic: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        """The steps of an environment's promotion: the endpoint calls through the environment's deployment role
        (its policy there says what they may do), the registry, the state table, the topic and the capture here,
        and starting the next environment's promotion."""
        fn = self.steps.function
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[target.deployment_role_arn]))
        registry.grant_lifecycle(fn)
        table.grant_read_write_data(fn)
        topic.grant_publish(fn)
        key.grant_encrypt_decrypt(fn)
        if target.serving.serverless is None:  # the shadow comparison; a serverless endpoint captures nothing
            artifacts_bucket.grant_read(fn, f"{naming.capture_prefix(target.endpoint_name)}/*")
        # The candidate's code bundle, copied under the shared models/ prefix for the environment's model role
        # (mlops_kit.promotion.steps.endpoint.shared_code): read exactly the bundle, write only that prefix.
        artifacts_bucket.grant_put(fn, f"{naming.SHARED_CODE_PREFIX}/*")
        if target.code_bundle is not None:
            bundle = target.code_bundle
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[bundle.bucket.arn_for_objects(bundle.s3_object_key)]
                )
            )
        if target.following is not None:
            following = target.following
            following.state_machine.grant_start_execution(fn)
            name = _machine_name(following)
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution"],
                    resources=[arn(stack, "states", "execution", f"{name}:*", colon=True)],
                )
            )
            acknowledge(
                self.steps.role,
                f"AwsSolutions-IAM5[Resource::{_nag_executions(stack, name)}]",
                "Execution names are derived per model version; the grant covers the next environment's promotion "
                "state machine's executions only.",
            )
        acknowledge_grant_actions(self.steps.role)


def _environment_settings(target: EnvironmentTarget, artifacts_bucket: s3.IBucket) -> EnvironmentSettings:
    following = target.following
    return EnvironmentSettings(
        name=target.name,
        account=target.account,
        deployment_role_arn=target.deployment_role_arn,
        shared_code_uri=f"s3://{artifacts_bucket.bucket_name}/{naming.SHARED_CODE_PREFIX}/",
        previous=target.previous,
        next=following.target.name if following and following.target else None,
        next_state_machine_arn=following.state_machine.state_machine_arn if following else None,
    )


def _logical_name(stack: Stack, workflow: PromotionWorkflow) -> str:
    """How cdk-nag prints a state machine's name attribute."""
    return f"<{stack.get_logical_id(workflow.state_machine.node.default_child)}.Name>"


def _machine_name(workflow: PromotionWorkflow) -> str:
    """An environment workflow's state machine name as text (the construct's attribute is a token)."""
    if workflow.target is None:
        raise ValueError("only an environment's promotion workflow has a state machine name of its own")
    return workflow.target.state_machine_name


def _nag_executions(stack: Stack, machine_name: str) -> str:
    """How cdk-nag prints the executions of a state machine named ``machine_name``."""
    return f"arn:<AWS::Partition>:states:{stack.region}:{nag_account(stack)}:execution:{machine_name}:*"
