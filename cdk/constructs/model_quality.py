"""Model quality on ground truth: late labels joined with captured predictions, on a schedule; a drop alarm.

EventBridge Scheduler (``quality.schedule``) -> ``quality_run`` Lambda (reads label files under
``<data bucket>/<quality.labels_prefix>/`` and the window's capture, publishes ``MlopsKit/Quality`` metrics per
variant and writes the window's report under ``<artifacts>/quality/<endpoint>/reports/``) -> the
``PrimaryMetricDrop`` alarm -> (with ``quality.retrain_on_drop``) the drift monitor's retrain function, through
its dead-letter queue, so quality and drift share one retraining path and one cooldown. See
:mod:`mlops_kit.quality.job` for the runtime side.

Labels may also arrive as EventBridge events (``mlops.quality`` / ``Ground Truth Labels`` on the default bus, for
this endpoint): a rule -> ``quality_labels`` Lambda, which stores their rows as label files where the run reads
them and rejected ones beside them (:mod:`mlops_kit.quality.intake`); undeliverable events and failed invocations
go to its dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.config import QualityConfig
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.drift_monitor import alarm_period
from cdk.constructs.lambda_schedule import invoke_on_schedule, scheduler_role
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.quality import naming
from mlops_kit.quality.settings import LabelIntakeSettings, QualitySettings
from mlops_kit.serving.naming import CAPTURE_ROOT, capture_prefix

# A window of a few hundred thousand labelled predictions is read and scored in plain Python: minutes, not the
# 15 that Lambda allows at most.
RUN_TIMEOUT = Duration.minutes(15)
RUN_MEMORY_MB = 1024


class ModelQuality(Construct):
    """The scheduled quality run of ``endpoint_name``, its metrics, the drop alarm and retraining on it.

    ``primary_metric`` is the metric the evaluation step gates on (``training.primary_metric``): the alarm compares
    the window's figure with the one the registry recorded for the Production version. ``registry`` is the model
    package group; labels are read from ``data_bucket``, capture from and reports to ``artifacts_bucket``.
    ``retrain``, the drift monitor's retrain dead letters (their function is ``drift_retrain``), is where the
    alarm's state change goes; unset (drift's retraining off, or ``quality.retrain_on_drop`` false), the alarm
    only notifies ``topic``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: QualityConfig,
        endpoint_name: str,
        primary_metric: str,
        registry: ModelRegistry,
        artifacts_bucket: s3.IBucket,
        data_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        retrain: DeadLetters | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if config.retrain_on_drop and retrain is None:
            raise ValueError(
                "quality.retrain_on_drop needs the drift monitor's retrain function (drift.retrain_on_drift)"
            )
        self.config = config
        self.endpoint_name = endpoint_name
        self.primary_metric = primary_metric
        self.capture_objects = f"{capture_prefix(endpoint_name)}/*"
        self.label_objects = f"{config.labels_prefix}/*"
        self.report_objects = f"{naming.reports_prefix(endpoint_name)}/*"
        self.labels_uri = f"s3://{data_bucket.bucket_name}/{config.labels_prefix}"
        settings = QualitySettings(
            endpoint_name=endpoint_name,
            model_package_group=registry.group_name,
            capture_uri=f"s3://{artifacts_bucket.bucket_name}/{CAPTURE_ROOT}",
            labels_uri=self.labels_uri,
            reports_bucket=artifacts_bucket.bucket_name,
            key=config.key,
            key_column=config.key_column,
            label_column=config.label_column,
            business_key_path=config.business_key_path,
            window_hours=config.window_hours,
            label_delay_hours=config.label_delay_hours,
            min_samples=config.min_samples,
            max_drop=config.max_drop,
            primary_metric=primary_metric,
        )
        self.run = PythonFunction(
            self,
            "Run",
            name="quality_run",
            description=f"{endpoint_name}: join late labels with captured predictions, publish model quality",
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=RUN_TIMEOUT,
            memory_size=RUN_MEMORY_MB,
            settings=settings,
            service="mlops-kit-quality",
        )
        self._grant_run(registry, artifacts_bucket, data_bucket, key)

        schedule_role = scheduler_role(self, f"{endpoint_name}: EventBridge Scheduler invokes the quality run function")
        self.dead_letters = DeadLetters(
            self, "RunDeadLetters", function=self.run.function, key=key, removal_policy=removal_policy, topic=topic
        )
        self.dead_letters.grant_send(schedule_role)
        # No schedule name: CloudFormation generates one (the stack outputs it), so the endpoint name's length
        # limit is not lowered by one more derived name.
        self.schedule = invoke_on_schedule(
            self,
            function=self.run.function,
            role=schedule_role,
            dead_letter_queue=self.dead_letters.queue,
            expression=config.schedule,
            description=f"{endpoint_name}: model quality of the {config.window_hours} h of predictions ending "
            f"{config.label_delay_hours} h ago",
        )

        self._label_events(data_bucket, key, topic, log_retention, removal_policy)

        # The alarm sees a datapoint only for windows with at least quality.min_samples labelled rows of the
        # Production version (the run publishes the drop for those alone). Missing data is not a breach: labels
        # arrive late and unevenly, so a window with too few of them says nothing about the model -- it must
        # neither alarm nor retrain. Missing data moves the alarm back to OK, so the next real drop is a new
        # ALARM transition (the event that starts retraining), still subject to the retrain cooldown.
        self.alarm = cloudwatch.Alarm(
            self,
            "DropAlarm",
            alarm_name=naming.quality_alarm(endpoint_name),
            alarm_description=f"{primary_metric} of the Production model on {endpoint_name}'s labelled traffic "
            f"dropped more than {config.max_drop} below its evaluation-time figure (windows of at least "
            f"{config.min_samples} labels)",
            metric=self.metric_drop(),
            threshold=config.max_drop,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
        if config.retrain_on_drop is not False and retrain is not None:
            events.Rule(
                self,
                "OnDropAlarm",
                description=f"{endpoint_name}: model quality dropped; start retraining (drift's cooldown applies)",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=["CloudWatch Alarm State Change"],
                    detail={"alarmName": [naming.quality_alarm(endpoint_name)], "state": {"value": ["ALARM"]}},
                ),
                targets=[retrain.rule_target()],
            )

    def _label_events(
        self,
        data_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        """The label-event intake: a rule on the default bus for this endpoint's label events, its function and
        dead letters."""
        prefix = self.config.labels_prefix
        self.label_event_objects = f"{naming.label_events_prefix(prefix)}/*"
        self.rejected_label_objects = f"{naming.rejected_labels_prefix(prefix)}/*"
        self.labels = PythonFunction(
            self,
            "Labels",
            name="quality_labels",
            description=f"{self.endpoint_name}: store ground-truth label events where the quality run reads them",
            log_retention=log_retention,
            removal_policy=removal_policy,
            settings=LabelIntakeSettings(
                endpoint_name=self.endpoint_name,
                bucket=data_bucket.bucket_name,
                labels_prefix=prefix,
                key_column=self.config.key_column,
                label_column=self.config.label_column,
            ),
            service="mlops-kit-quality",
        )
        # Exactly the calls the intake makes (Service Authorization Reference, Amazon S3): PutObject is s3:PutObject
        # on the object; the bucket is encrypted with the kit's key, and writing an SSE-KMS object needs
        # kms:GenerateDataKey (nothing here reads).
        self.labels.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[
                    data_bucket.arn_for_objects(self.label_event_objects),
                    data_bucket.arn_for_objects(self.rejected_label_objects),
                ],
            )
        )
        self.labels.function.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn])
        )
        acknowledge_grant_actions(self.labels.role)
        acknowledge(self.labels.role, "AwsSolutions-IAM5[Resource::*]", "X-Ray trace writes support no resource.")
        self.labels_dead_letters = DeadLetters(
            self,
            "LabelsDeadLetters",
            function=self.labels.function,
            key=key,
            removal_policy=removal_policy,
            topic=topic,
        )
        self.label_rule = events.Rule(
            self,
            "OnLabels",
            description=f"{self.endpoint_name}: ground-truth labels sent as events "
            f"({naming.LABEL_EVENT_SOURCE} / {naming.LABEL_EVENT_DETAIL_TYPE})",
            event_pattern=events.EventPattern(
                source=[naming.LABEL_EVENT_SOURCE],
                detail_type=[naming.LABEL_EVENT_DETAIL_TYPE],
                detail={"endpoint_name": [self.endpoint_name]},
            ),
            targets=[self.labels_dead_letters.rule_target()],
        )

    def _grant_run(
        self, registry: ModelRegistry, artifacts_bucket: s3.IBucket, data_bucket: s3.IBucket, key: kms.IKey
    ) -> None:
        fn = self.run.function
        registry.grant_read(fn)  # the Production version and its evaluation-time metrics
        # Exactly the S3 calls the run makes (Service Authorization Reference, Amazon S3): ListObjectsV2 is
        # s3:ListBucket on the bucket, GetObject and PutObject are s3:GetObject / s3:PutObject on the object; the
        # buckets are encrypted with the kit's key, so reading needs kms:Decrypt and writing kms:GenerateDataKey.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[data_bucket.bucket_arn, artifacts_bucket.bucket_arn]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    data_bucket.arn_for_objects(self.label_objects),
                    artifacts_bucket.arn_for_objects(self.capture_objects),
                ],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[artifacts_bucket.arn_for_objects(self.report_objects)]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn])
        )
        # PutMetricData has no resource-level permissions (Service Authorization Reference, CloudWatch); the
        # cloudwatch:namespace condition key limits it to the quality namespace.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": naming.METRIC_NAMESPACE}},
            )
        )
        acknowledge_grant_actions(self.run.role)
        acknowledge(
            self.run.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; it is limited to the quality namespace "
            "by condition. X-Ray needs * as well.",
        )

    # -- metrics ------------------------------------------------------------------------------------------------
    def _metric(self, name: str, variant: str | None, label: str) -> cloudwatch.Metric:
        dimensions = {"EndpointName": self.endpoint_name} | ({"VariantName": variant} if variant else {})
        return cloudwatch.Metric(
            namespace=naming.METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map=dimensions,
            statistic="Maximum",
            period=alarm_period(self.config.schedule),
            label=label,
        )

    def metric_drop(self) -> cloudwatch.Metric:
        """Evaluation-time primary metric minus the window's, Production version (published with enough labels)."""
        return self._metric(naming.DROP_METRIC, None, f"{self.primary_metric} drop")

    def metric_primary(self, variant: str | None = None) -> cloudwatch.Metric:
        """The window's primary metric, of ``variant`` (unset: the Production version's rows)."""
        return self._metric(naming.PRIMARY_METRIC_NAMES[self.primary_metric], variant, self.primary_metric)

    def metric_samples(self, variant: str | None = None) -> cloudwatch.Metric:
        """Labelled predictions per window, of ``variant`` (unset: the Production version's rows)."""
        return self._metric(naming.SAMPLES_METRIC, variant, "labelled rows")

    def dashboard_row(self) -> list[cloudwatch.IWidget]:
        return [
            cloudwatch.GraphWidget(
                title=f"Production {self.primary_metric} on labels", left=[self.metric_primary()], width=8
            ),
            cloudwatch.GraphWidget(title="Labelled rows per window", left=[self.metric_samples()], width=8),
            cloudwatch.AlarmStatusWidget(title="Quality alarm", alarms=[self.alarm], width=8),
        ]

    def grant_run(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke the quality function (what ``mlops quality run`` does)."""
        return self.run.function.grant_invoke(grantee)
