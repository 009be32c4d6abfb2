"""A/B testing of model versions on the endpoint: the scheduled status job, outcome events and, optionally,
an IAM-authorized HTTP router. The experiments table itself is stateful and lives in the data stack."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from cdk.arns import arn
from cdk.constructs.api_logs import access_log_format
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.endpoint import EndpointSupport
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.python_function import LAMBDAS, PackageLayer, PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.abtest import names
from mlops_kit.abtest.settings import OutcomeSettings, RouterSettings, StatusSettings
from mlops_kit.abtest.table import EXPERIMENT_PK

# numpy and scipy tests, headers and Cython sources are never loaded; without them the layer is ~170 MB.
_STATISTICS_PRUNE = ("**/tests", "bin", "numpy/_core/include", "**/*.pyx", "**/*.pxd")


class AbTesting(Construct):
    """Experiments on ``endpoint`` (see :mod:`mlops_kit.abtest.endpoint` for how a test uses its two slots).

    * ``status``: the status job, run on ``status_schedule`` by EventBridge Scheduler. It renews the running
      experiment's promotion lock, stops a clearly harmful one (guardrail), ends stopped ones on the endpoint
      (original config back, registry handover, lock released) and publishes the ``MlopsKit/ABTest`` metrics.
    * ``outcome``: records outcomes sent as ``mlops.abtest`` / ``Experiment Outcome`` events.
    * ``router`` (only with ``http_router``; ``None`` otherwise): a REST API with AWS_IAM authorization in front
      of ``lambdas/abtest_router``, for services that cannot embed the Python client. Callers need
      ``execute-api:Invoke`` on it (:meth:`grant_route`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: EndpointSupport,
        registry: ModelRegistry,
        experiment_table: dynamodb.ITable,
        promotion_table: dynamodb.ITable,
        key: kms.IKey,
        status_schedule: str,
        http_router: bool,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint.endpoint_name
        endpoint_arn = arn(stack, "sagemaker", "endpoint", self.endpoint_name.lower())
        self.statistics_layer = PackageLayer(
            self,
            "StatisticsLayer",
            requirements=LAMBDAS / "abtest_status" / "requirements.txt",
            description="numpy and scipy for the A/B statistics (lambdas/abtest_status/requirements.txt)",
            prune=_STATISTICS_PRUNE,
        ).layer

        self.status = PythonFunction(
            self,
            "Status",
            name="abtest_status",
            description=f"{self.endpoint_name}: A/B experiments' status, guardrail stops and metrics (scheduled)",
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(5),
            memory_size=1024,
            service="abtest",
            settings=StatusSettings(
                experiment_table=experiment_table.table_name,
                promotion_table=promotion_table.table_name,
                endpoint_name=self.endpoint_name,
                model_package_group=registry.group_name,
            ),
        )
        self.status.function.add_layers(self.statistics_layer)
        experiment_table.grant_read_write_data(self.status.function)
        self._grant_lock(self.status.function, promotion_table, key)
        # Ending a split puts the original config back through the deployer (UpdateEndpoint needs the endpoint
        # and the endpoint-config resources).
        endpoint.grant_update(self.status.function)
        self.status.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": names.METRICS_NAMESPACE}},
            )
        )
        registry.grant_lifecycle(self.status.function)
        acknowledge_grant_actions(self.status.role, ("kms:GenerateDataKey*", "kms:ReEncrypt*"))
        acknowledge(
            self.status.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; it is limited to the A/B namespace by "
            "condition. X-Ray trace writes, the SageMaker List calls and Application Auto Scaling's Describe and "
            "Deregister calls (limited to the sagemaker namespace by condition) support no resource either.",
        )
        self.status_dead_letters = DeadLetters(
            self, "StatusDeadLetters", function=self.status.function, key=key, removal_policy=removal_policy
        )
        schedule_role = iam.Role(
            self,
            "StatusScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description=f"{self.endpoint_name}: EventBridge Scheduler runs the A/B status job",
        )
        self.status_dead_letters.grant_send(schedule_role)
        self.schedule = scheduler.Schedule(
            self,
            "StatusSchedule",
            description=f"{self.endpoint_name}: A/B experiments' status job",
            schedule=scheduler.ScheduleExpression.expression(status_schedule),
            target=scheduler_targets.LambdaInvoke(
                self.status.function,
                input=scheduler.ScheduleTargetInput.from_object({"trigger": "schedule"}),
                retry_attempts=0,  # the next run is the retry: every run checks every experiment again
                role=schedule_role,
                dead_letter_queue=self.status_dead_letters.queue,
            ),
        )
        status_id = stack.get_logical_id(self.status.function.node.default_child)
        acknowledge(
            schedule_role,
            f"AwsSolutions-IAM5[Resource::<{status_id}.Arn>:*]",
            "The scheduler may invoke the status function by qualified ARN (its versions and aliases), nothing else.",
        )

        self.outcome = PythonFunction(
            self,
            "Outcome",
            name="abtest_outcome",
            description=f"{self.endpoint_name}: records A/B outcomes sent as EventBridge events",
            log_retention=log_retention,
            removal_policy=removal_policy,
            memory_size=1024,
            service="abtest",
            settings=OutcomeSettings(experiment_table=experiment_table.table_name),
        )
        self.outcome.function.add_layers(self.statistics_layer)
        experiment_table.grant_read_write_data(self.outcome.function)
        acknowledge_grant_actions(self.outcome.role, ("kms:GenerateDataKey*", "kms:ReEncrypt*"))
        self.outcome_dead_letters = DeadLetters(
            self, "OutcomeDeadLetters", function=self.outcome.function, key=key, removal_policy=removal_policy
        )
        self.outcome_rule = events.Rule(
            self,
            "OnOutcome",
            description=f"{self.endpoint_name}: A/B outcomes ({names.OUTCOME_SOURCE} / {names.OUTCOME_DETAIL_TYPE})",
            event_pattern=events.EventPattern(source=[names.OUTCOME_SOURCE], detail_type=[names.OUTCOME_DETAIL_TYPE]),
            targets=[self.outcome_dead_letters.rule_target()],
        )

        # Sticky assignment for plain clients (mlops_kit.serving.sticky): the served models assign a request that
        # names its user and forward it to the user's variant. The experiments table is encrypted with the
        # platform key, which the model role already uses (EndpointSupport).
        self._grant_routing(endpoint.model_role, experiment_table, endpoint_arn)

        self.router: PythonFunction | None = None
        self.api: apigateway.RestApi | None = None
        if http_router:
            self._router(experiment_table, key, endpoint_arn, log_retention, removal_policy)

    @staticmethod
    def _grant_routing(grantee: iam.IGrantable, table: dynamodb.ITable, endpoint_arn: str) -> None:
        """What routing a user takes (:class:`mlops_kit.abtest.routing.ExperimentRouter`, ``EndpointRouter``): read
        the experiments' routes (GetItem, and Query of the experiment items to find the one running on the
        endpoint), record exposures (PutItem, conditional on the earlier one), and InvokeEndpoint with the user's
        ``TargetVariant`` (Service Authorization Reference, Amazon SageMaker: InvokeEndpoint, resource type
        ``endpoint``). Nothing else of the table: the leading-key conditions keep outcomes and locks out of reach."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:GetItem", "dynamodb:Query"],
            resource_arns=[table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [EXPERIMENT_PK]}},
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:PutItem"],
            resource_arns=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}},
        )
        iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[endpoint_arn])

    def _grant_lock(self, grantee: iam.IGrantable, table: dynamodb.ITable, key: kms.IKey) -> None:
        """Only the endpoint's lock item of the promotion table (renewed while running, released at the end)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            resource_arns=[table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [f"lock#{self.endpoint_name}"]}},
        )
        key.grant_encrypt_decrypt(grantee)

    def _router(
        self,
        table: dynamodb.ITable,
        key: kms.IKey,
        endpoint_arn: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        router = PythonFunction(
            self,
            "Router",
            name="abtest_router",
            description=f"{self.endpoint_name}: A/B routing over HTTP (assignment, exposure, TargetVariant)",
            log_retention=log_retention,
            removal_policy=removal_policy,
            memory_size=512,
            service="abtest",
            settings=RouterSettings(experiment_table=table.table_name),
        )
        fn = router.function
        self._grant_routing(fn, table, endpoint_arn)
        key.grant_encrypt_decrypt(fn)
        acknowledge_grant_actions(router.role, ("kms:GenerateDataKey*", "kms:ReEncrypt*"))

        access_logs = logs.LogGroup(self, "RouterAccessLogs", retention=log_retention, removal_policy=removal_policy)
        api = apigateway.RestApi(
            self,
            "RouterApi",
            description=f"{self.endpoint_name}: A/B routing for services that cannot embed the Python client",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM),
            deploy_options=apigateway.StageOptions(
                stage_name="v1",
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=access_log_format(caller=True),
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        integration = apigateway.LambdaIntegration(fn, allow_test_invoke=False)
        experiment = api.root.add_resource("experiments").add_resource("{experiment}")
        experiment.add_resource("assignments").add_resource("{user_id}").add_method("GET", integration)
        experiment.add_resource("invocations").add_method("POST", integration)
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "The router validates each body with a Pydantic model and answers 400 naming the field; API Gateway "
            "rejects unsigned requests (AWS_IAM) before the function runs.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG3",
            "An internal, IAM-authorized service-to-service API (SigV4 from the platform's own roles); attach a WAF "
            "web ACL to the stage if it is ever exposed to other callers.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG6",
            "Execution logging needs the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account), a "
            "singleton this kit does not own; access logs and X-Ray tracing are on for the stage.",
        )
        acknowledge(
            api,
            "AwsSolutions-COG4",
            "Callers are services authenticated with SigV4 (AWS_IAM authorization), not end users with Cognito tokens.",
        )
        self.router, self.api = router, api

    def grant_route(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call the HTTP router (``execute-api:Invoke`` on its methods). Raises ``ValueError`` when
        the router is not deployed (``abtest.http_router`` is false)."""
        if self.api is None:
            raise ValueError("the A/B HTTP router is not deployed; set mlops.abtest.http_router to true")
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["execute-api:Invoke"], resource_arns=[self.api.arn_for_execute_api()]
        )

    def metric(
        self, metric_name: str, experiment: str, *, arm: str | None = None, statistic: str = "Average"
    ) -> cloudwatch.Metric:
        """One of the status job's metrics of ``experiment`` (names in :mod:`mlops_kit.abtest.names`), per hour."""
        return cloudwatch.Metric(
            namespace=names.METRICS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"Experiment": experiment, **({"Arm": arm} if arm else {})},
            statistic=statistic,
            period=Duration.hours(1),
        )

    def metric_exposures(self, experiment: str, arm: str) -> cloudwatch.Metric:
        """Users exposed to ``arm`` (``control``/``treatment``) in the current phase."""
        return self.metric(names.METRIC_EXPOSURES, experiment, arm=arm, statistic="Maximum")

    def metric_difference(self, experiment: str) -> cloudwatch.Metric:
        """The primary metric's estimate, treatment minus control."""
        return self.metric(names.METRIC_DIFFERENCE, experiment)

    def metric_p_value(self, experiment: str) -> cloudwatch.Metric:
        """The primary metric's always-valid p-value."""
        return self.metric(names.METRIC_P_VALUE, experiment, statistic="Minimum")
