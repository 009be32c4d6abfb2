"""What surrounds the real-time endpoint: its model role, data capture destination and rollback alarms.

The endpoint itself is created and updated by the promotion workflow, never by CloudFormation, so a stack
update cannot fight a promotion in progress. The alarms exist before any deployment, one set per variant
slot (``blue``/``green``, see :mod:`mlops_kit.serving.naming`). The business-metric alarm compares the candidate
with Production, so the promotion workflow puts it for the length of a canary only
(:mod:`mlops_kit.promotion.business_alarm`).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.arns import arn, as_nag_resource, nag_account
from cdk.config import AlarmsConfig
from cdk.constructs.container_runtime import ENDPOINT_LOGS_REASON, grant_container_runtime
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.serving import deploy, naming

_SAGEMAKER_NAMESPACE = "AWS/SageMaker"
_AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


class EndpointSupport(Construct):
    """The model execution role, the capture location and the alarms of endpoint ``endpoint_name``.

    ``model_role`` is what SageMaker assumes to serve: it reads model artifacts under ``models/`` of
    ``artifacts_bucket`` and the code bundles (content-addressed CDK assets; a model version keeps the bundle
    it was trained with, so rollbacks need older ones too), writes data capture under ``capture/``, and pulls
    the inference image from ``image_repositories`` (``(account, name)`` pairs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        alarms: AlarmsConfig,
        notification_topic: sns.ITopic,
        image_repositories: list[tuple[str, str]],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        self.capture_uri = f"s3://{artifacts_bucket.bucket_name}/{naming.CAPTURE_ROOT}"
        self.capture_key = key
        self.model_role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{endpoint_name}: SageMaker serves the model versions with this role",
        )
        artifacts_bucket.grant_read(self.model_role, "models/*")
        artifacts_bucket.grant_put(self.model_role, f"{naming.capture_prefix(endpoint_name)}/*")
        key.grant_encrypt_decrypt(self.model_role)
        assets = f"arn:{stack.partition}:s3:::cdk-hnb659fds-assets-{stack.account}-{stack.region}/*"
        self.model_role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[assets]))
        grant_container_runtime(
            self.model_role,
            repositories=image_repositories,
            log_groups=["/aws/sagemaker/Endpoints/*"],
            log_reason=ENDPOINT_LOGS_REASON,
        )
        acknowledge_grant_actions(self.model_role)
        acknowledge(
            self.model_role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{nag_account(stack)}-"
            f"{stack.region}/*]",
            "Model versions reference the immutable code bundle (a content-addressed CDK asset) they were trained "
            "with; serving or rolling back to an older version needs that older bundle. Read-only.",
        )

        self.alarms = rollback_alarms(self, endpoint_name, alarms, actions.SnsAction(notification_topic))

    def metric_invocations(self, slot: str, period: int = 60) -> cloudwatch.Metric:
        return _metric(self.endpoint_name, "Invocations", slot, "Sum", period)

    def metric_errors(self, slot: str, period: int = 60) -> cloudwatch.Metric:
        return _metric(self.endpoint_name, "Invocation5XXErrors", slot, "Sum", period)

    def metric_latency(self, slot: str, statistic: str, period: int = 60) -> cloudwatch.Metric:
        return _metric(self.endpoint_name, "ModelLatency", slot, statistic, period)

    # -- deployment ------------------------------------------------------------------------------------------
    def grant_update(self, grantee: iam.IGrantable) -> None:
        """See :meth:`EndpointPermissions.grant_update`."""
        EndpointPermissions(Stack.of(self), self.endpoint_name).grant_update(grantee)

    def grant_deploy(self, grantee: iam.IGrantable) -> None:
        """See :meth:`EndpointPermissions.grant_deploy`."""
        EndpointPermissions(Stack.of(self), self.endpoint_name).grant_deploy(grantee)

    def grant_models_read_features(self, table: dynamodb.ITable) -> iam.Grant:
        """Let the served models read ``table``, the online feature store: GetItem and BatchGetItem, which the
        inference script uses to look up the request's entity (decrypting with the platform key is already the
        model role's)."""
        return table.grant(self.model_role, "dynamodb:GetItem", "dynamodb:BatchGetItem")

    def grant_describe_alarms(self, grantee: iam.IGrantable) -> None:
        """Read the state of this endpoint's rollback alarms."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["cloudwatch:DescribeAlarms"],
            resource_arns=[a.alarm_arn for a in self.alarms.values()],
        )


def _metric(endpoint_name: str, name: str, slot: str, statistic: str, period: int) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=_SAGEMAKER_NAMESPACE,
        metric_name=name,
        dimensions_map={"EndpointName": endpoint_name, "VariantName": slot},
        statistic=statistic,
        period=Duration.seconds(period),
    )


def rollback_alarms(
    scope: Construct, endpoint_name: str, config: AlarmsConfig, action: cloudwatch.IAlarmAction | None
) -> dict[str, cloudwatch.Alarm]:
    """The rollback alarms of endpoint ``endpoint_name``, by alarm name, in ``scope`` (in the account the endpoint
    runs in, where its metrics are): one set per variant slot. ``action`` is notified when one fires; None: no
    action (the promotion workflow reads their state)."""
    alarms: dict[str, cloudwatch.Alarm] = {}
    period = config.period_seconds
    for slot in naming.SLOTS:
        error_rate = cloudwatch.MathExpression(
            expression="100 * errors / invocations",
            using_metrics={
                "errors": _metric(endpoint_name, "Invocation5XXErrors", slot, "Sum", period),
                "invocations": _metric(endpoint_name, "Invocations", slot, "Sum", period),
            },
            period=Duration.seconds(period),
            label=f"{slot} 5xx error rate (%)",
        )
        for construct_id, name, metric, threshold, description in (
            (
                f"{slot.title()}ErrorRate",
                naming.error_rate_alarm(endpoint_name, slot),
                error_rate,
                config.error_rate_percent,
                f"5xx error rate of variant {slot} above {config.error_rate_percent}%",
            ),
            (
                f"{slot.title()}Latency",
                naming.latency_alarm(endpoint_name, slot),
                _metric(endpoint_name, "ModelLatency", slot, "p99", period),
                config.p99_latency_ms * 1000,  # ModelLatency is in microseconds
                f"p99 model latency of variant {slot} above {config.p99_latency_ms} ms",
            ),
        ):
            alarm = cloudwatch.Alarm(
                scope,
                construct_id,
                alarm_name=name,
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=config.evaluation_periods,
                datapoints_to_alarm=config.datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            if action is not None:
                alarm.add_alarm_action(action)
            alarms[name] = alarm
    return alarms


class EndpointPermissions:
    """What the promotion workflow may do to endpoint ``endpoint_name`` in ``stack``'s account and region."""

    def __init__(self, stack: Stack, endpoint_name: str) -> None:
        self.stack = stack
        self.endpoint_name = endpoint_name

    def _deployment_resources(self) -> dict[str, str]:
        """ARNs (and their cdk-nag spellings) of what the deployer creates and updates for this endpoint."""
        stack = self.stack
        pattern = deploy.resource_pattern(self.endpoint_name)
        return {
            "endpoint": arn(stack, "sagemaker", "endpoint", self.endpoint_name.lower()),
            "models": arn(stack, "sagemaker", "model", pattern),
            "configs": arn(stack, "sagemaker", "endpoint-config", pattern),
            "models_finding": as_nag_resource(stack, "sagemaker", "model", pattern),
            "configs_finding": as_nag_resource(stack, "sagemaker", "endpoint-config", pattern),
            "alarms": arn(stack, "cloudwatch", "alarm", f"TargetTracking-endpoint/{self.endpoint_name}/*", colon=True),
            "alarms_finding": as_nag_resource(
                stack, "cloudwatch", "alarm", f"TargetTracking-endpoint/{self.endpoint_name}/*", colon=True
            ),
        }

    def grant_update(self, grantee: iam.IGrantable) -> None:
        """Move the endpoint to another of its configs with :class:`mlops_kit.serving.deploy.EndpointDeployer`
        (``update``, ``progress``): UpdateEndpoint on the endpoint *and* the config (the Service Authorization
        Reference lists both resource types), reading both, and taking a removed variant out of autoscaling."""
        resources = self._deployment_resources()
        statements = [
            iam.PolicyStatement(
                actions=["sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[resources["endpoint"], resources["configs"]],
            ),
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[resources["configs"]]),
            # List calls have no resource-level permissions; the deployer finds things by exact name with them.
            iam.PolicyStatement(
                actions=["sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs", "sagemaker:ListModels"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:DeleteScalingPolicy",
                ],
                resources=["*"],
                conditions={"StringEquals": {"application-autoscaling:service-namespace": "sagemaker"}},
            ),
            # Deleting a target tracking policy deletes the alarms Application Auto Scaling made for it.
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"], resources=[resources["alarms"]]
            ),
        ]  # fmt: skip
        for statement in statements:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=statement.actions,
                resource_arns=statement.resources,
                conditions=statement.conditions or None,
            )
        self._acknowledge_deployment(grantee)

    def grant_deploy(self, grantee: iam.IGrantable) -> None:
        """Everything :meth:`grant_update` gives, plus creating models, configs and the endpoint, shifting weights,
        deleting the endpoint, and registering a variant with Application Auto Scaling (with its target
        tracking alarms and the service-linked role Application Auto Scaling creates on first use)."""
        self.grant_update(grantee)
        resources = self._deployment_resources()
        stack = self.stack
        statements = [
            iam.PolicyStatement(actions=["sagemaker:CreateModel", "sagemaker:DescribeModel"],
                                resources=[resources["models"]]),
            iam.PolicyStatement(actions=["sagemaker:CreateEndpointConfig"], resources=[resources["configs"]]),
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpoint"], resources=[resources["endpoint"], resources["configs"]]
            ),
            iam.PolicyStatement(
                actions=["sagemaker:DeleteEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                resources=[resources["endpoint"]],
            ),
            iam.PolicyStatement(
                actions=["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"],
                resources=["*"],
                conditions={"StringEquals": {"application-autoscaling:service-namespace": "sagemaker"}},
            ),
            iam.PolicyStatement(actions=["cloudwatch:PutMetricAlarm"], resources=[resources["alarms"]]),
            iam.PolicyStatement(
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
                    f"{_AUTOSCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": _AUTOSCALING_SERVICE}},
            ),
        ]  # fmt: skip
        for statement in statements:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=statement.actions,
                resource_arns=statement.resources,
                conditions=statement.conditions or None,
            )

    def _acknowledge_deployment(self, grantee: iam.IGrantable) -> None:
        principal = grantee.grant_principal
        if not isinstance(principal, Construct):
            return
        resources = self._deployment_resources()
        for finding, reason in (
            (
                resources["models_finding"],
                "Models are created per promotion or experiment, named after the endpoint with a content digest.",
            ),
            (
                resources["configs_finding"],
                "Endpoint configs are created per promotion step or experiment, named after the endpoint with a "
                "content digest.",
            ),
            (
                resources["alarms_finding"],
                "Application Auto Scaling names the target tracking alarms of this endpoint's variants itself.",
            ),
        ):
            acknowledge(principal, f"AwsSolutions-IAM5[Resource::{finding}]", reason)
