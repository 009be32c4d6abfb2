"""Drift monitoring: the scheduled SageMaker Processing job, its metrics and alarms, and retraining on drift.

EventBridge Scheduler -> ``drift_start`` Lambda -> Processing job (``sagemaker_jobs/drift.py``, from the kit's
code bundle, started through ``sagemaker_jobs/launch.py`` as the training pipeline's jobs are) -> "SageMaker
Processing Job State Change" -> ``drift_publish`` Lambda -> CloudWatch ``MlopsKit/Drift`` PSI per feature ->
one alarm per feature and for the prediction -> "CloudWatch Alarm State Change" -> ``drift_retrain`` Lambda ->
the training pipeline (cooldown and in-flight guard). See :mod:`mlops_kit.monitoring` for the runtime side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.config import DriftConfig
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.lambda_schedule import invoke_on_schedule, scheduler_role
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.processing_job import processing_job_role
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.environment import HandlerSettings
from mlops_kit.monitoring import naming
from mlops_kit.monitoring.settings import DriftSettings, JobSettings, PublishSettings, RetrainSettings
from mlops_kit.pipeline.definition import RUNS_PREFIX
from mlops_kit.serving.naming import CAPTURE_ROOT, capture_prefix

INVESTIGATE_COLOUR = "#ef6c00"
ACT_COLOUR = "#c62828"
# The training pipeline's evaluate step writes each version's baseline as <runs>/<execution>/.../baseline.json.
BASELINE_OBJECTS = f"{RUNS_PREFIX}/*/baseline.json"


def construct_id(feature: str) -> str:
    """A stable PascalCase construct id for a feature name (``log_amount`` -> ``LogAmount``)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", feature) if part) or "Feature"


def alarm_period(schedule: str) -> Duration:
    """The drift alarms' period: the schedule's interval for ``rate()`` of up to an hour, else one hour.

    Each run publishes one PSI value per feature and missing data keeps an alarm's state, so the period only
    has to hold one run's datapoint; an hour (at most) lets a drift alarm clear within an hour of recovery.
    """
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", schedule)
    if match and match.group(2).startswith("minute"):
        return Duration.minutes(min(60, max(1, int(match.group(1)))))
    return Duration.hours(1)


class DriftMonitor(Construct):
    """The drift job of ``endpoint_name`` on a schedule, PSI metrics, one alarm per feature, retraining on drift.

    ``features`` are the model's input columns (the use case's ``MODEL_FEATURES``, known at synth); each gets an
    alarm, as does the prediction. ``registry`` is the model package group (Production version and its
    baseline); ``pipeline_name`` the training pipeline started on drift (with ``config.retrain_on_drift``; unset,
    no retrain function is deployed). The job reads the capture under ``capture/<endpoint>/`` of
    ``artifacts_bucket``, the baselines the pipeline wrote there, and the offline feature store under
    ``features/`` of ``data_bucket``; it writes reports under ``drift/<endpoint>/reports/``. ``state_table``
    (the promotion state table) holds the retrain cooldown and the deployment records that bound the window.
    ``image_uri`` is the processing image (``image_repository``: its ``(account, name)`` for the pull grant).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        config: DriftConfig,
        endpoint_name: str,
        features: Sequence[str],
        use_case: str,
        registry: ModelRegistry,
        pipeline_name: str,
        artifacts_bucket: s3.IBucket,
        data_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        state_table: dynamodb.ITable,
        image_uri: str,
        image_repository: tuple[str, str],
        instance_type: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id_)
        if not features:
            raise ValueError("DriftMonitor needs the model's features (the use case's MODEL_FEATURES); got none")
        if naming.PREDICTION in features:
            raise ValueError(f"a feature named {naming.PREDICTION!r} clashes with the prediction's metric and alarm")
        stack = Stack.of(self)
        self.config = config
        self.endpoint_name = endpoint_name
        self.features = list(features)
        self.dead_letters: dict[str, DeadLetters] = {}  # Start, Publish and (with retraining) Retrain
        self._artifacts_bucket = artifacts_bucket
        capture = capture_prefix(endpoint_name)
        reports = naming.reports_prefix(endpoint_name)
        self.reports_uri = f"s3://{artifacts_bucket.bucket_name}/{reports}"

        # -- the job: role and code (the training pipeline's launcher and code bundle, as CDK assets) --------
        job = processing_job_role(
            self,
            description=f"{endpoint_name}: the drift job reads capture, baselines and features, writes reports",
            image_repository=image_repository,
        )
        self.job_role, launcher, bundle = job.role, job.launcher, job.bundle
        artifacts_bucket.grant_read(self.job_role, f"{capture}/*")
        artifacts_bucket.grant_read(self.job_role, BASELINE_OBJECTS)
        artifacts_bucket.grant_put(self.job_role, f"{reports}/*")
        data_bucket.grant_read(self.job_role, "features/*")
        key.grant_encrypt_decrypt(self.job_role)

        # -- start ------------------------------------------------------------------------------------------
        start_settings = DriftSettings(
            endpoint_name=endpoint_name,
            model_package_group=registry.group_name,
            use_case=use_case,
            capture_uri=f"s3://{artifacts_bucket.bucket_name}/{CAPTURE_ROOT}",  # the endpoint's DestinationS3Uri
            artifacts_bucket=artifacts_bucket.bucket_name,
            offline_uri=f"s3://{data_bucket.bucket_name}/features",
            state_table=state_table.table_name,
            window_hours=config.window_hours,
            baseline_mode=config.baseline,
            rolling_days=config.rolling_window_days,
            psi_investigate=config.psi_investigate,
            psi_act=config.psi_act,
            min_window_rows=config.min_window_rows,
            min_baseline_rows=config.min_baseline_rows,
            job=JobSettings(
                role_arn=self.job_role.role_arn,
                image_uri=image_uri,
                launcher_uri=launcher.s3_object_url,
                launcher_file=launcher.s3_object_key,
                bundle_uri=bundle.s3_object_url,
                instance_type=instance_type,
                volume_gb=config.job_volume_gb,
                max_runtime_seconds=config.job_max_runtime_minutes * 60,
                kms_key_arn=key.key_arn,
            ),
        )

        def function(
            cid: str, name: str, description: str, timeout: Duration, settings: HandlerSettings
        ) -> PythonFunction:
            return PythonFunction(
                self,
                cid,
                name=name,
                description=f"{endpoint_name}: {description}",
                log_retention=log_retention,
                removal_policy=removal_policy,
                timeout=timeout,
                settings=settings,
                service="mlops-kit-drift",
            )

        self.start = function(
            "Start", "drift_start", "start the scheduled drift job", Duration.minutes(2), start_settings
        )
        self._grant_start(stack, registry, artifacts_bucket, state_table, key, capture)
        schedule_role = scheduler_role(self, f"{endpoint_name}: EventBridge Scheduler invokes the drift start function")
        self.schedule = invoke_on_schedule(
            self,
            function=self.start.function,
            role=schedule_role,
            dead_letter_queue=self._dead_letters(
                "Start", self.start.function, key, topic, removal_policy, sender=schedule_role
            ).queue,
            expression=config.schedule,
            description=f"{endpoint_name}: drift job over the last {config.window_hours} h of captured traffic",
            schedule_name=naming.schedule_name(endpoint_name),
        )
        self.schedule_group = "default"

        # -- publish ----------------------------------------------------------------------------------------
        self.publish = function(
            "Publish",
            "drift_publish",
            "publish the drift job's PSI metrics",
            Duration.minutes(1),
            PublishSettings(topic_arn=topic.topic_arn),
        )
        self._grant_publish(stack, artifacts_bucket, topic, key, reports)
        events.Rule(
            self,
            "OnJobEnd",
            description=f"{endpoint_name}: a drift job ended; publish its metrics",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Processing Job State Change"],
                detail={
                    "ProcessingJobName": events.Match.prefix(naming.job_prefix(endpoint_name)),
                    "ProcessingJobStatus": ["Completed", "Failed", "Stopped"],
                },
            ),
            targets=[self._dead_letters("Publish", self.publish.function, key, topic, removal_policy).rule_target()],
        )

        # -- alarms -----------------------------------------------------------------------------------------
        action = actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for feature in [*self.features, naming.PREDICTION]:
            role = "prediction" if feature == naming.PREDICTION else "feature"
            alarm = cloudwatch.Alarm(
                self,
                f"{construct_id(feature)}Drift",
                alarm_name=naming.drift_alarm(endpoint_name, feature),
                alarm_description=f"PSI of {role} {feature} on {endpoint_name} above {config.psi_act} (act band)",
                metric=self.metric_psi(feature),
                threshold=config.psi_act,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
            )
            alarm.add_alarm_action(action)
            self.alarms[feature] = alarm

        # -- retrain ----------------------------------------------------------------------------------------
        self.retrain: PythonFunction | None = None
        if config.retrain_on_drift:
            retrain_settings = RetrainSettings(
                endpoint_name=endpoint_name,
                model_package_group=registry.group_name,
                pipeline_name=pipeline_name,
                state_table=state_table.table_name,
                topic_arn=topic.topic_arn,
                cooldown_hours=config.retrain_cooldown_hours,
            )
            self.retrain = function(
                "Retrain", "drift_retrain", "retrain on drift (cooldown)", Duration.minutes(1), retrain_settings
            )
            self._grant_retrain(stack, registry, pipeline_name, state_table, topic, key)
            events.Rule(
                self,
                "OnDriftAlarm",
                description=f"{endpoint_name}: a drift alarm went to ALARM; start retraining (cooldown applies)",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=["CloudWatch Alarm State Change"],
                    detail={
                        "alarmName": [naming.drift_alarm(endpoint_name, f) for f in self.alarms],
                        "state": {"value": ["ALARM"]},
                    },
                ),
                targets=[
                    self._dead_letters("Retrain", self.retrain.function, key, topic, removal_policy).rule_target()
                ],
            )

    def _dead_letters(
        self,
        name: str,
        function: lambda_.Function,
        key: kms.IKey,
        topic: sns.ITopic,
        removal_policy: RemovalPolicy,
        *,
        sender: iam.IGrantable | None = None,
    ) -> DeadLetters:
        """The dead-letter queue of one of the monitor's asynchronously invoked functions (``dead_letters[name]``);
        ``sender``, a schedule's role, may put dead letters in it."""
        self.dead_letters[name] = DeadLetters(
            self, f"{name}DeadLetters", function=function, key=key, removal_policy=removal_policy, topic=topic
        )
        if sender is not None:
            self.dead_letters[name].grant_send(sender)
        return self.dead_letters[name]

    # -- metrics and dashboard -------------------------------------------------------------------------------
    def metric_psi(self, feature: str) -> cloudwatch.Metric:
        """PSI of ``feature`` (or ``prediction``) per drift run (Maximum over the alarm period)."""
        return cloudwatch.Metric(
            namespace=naming.METRIC_NAMESPACE,
            metric_name=naming.PSI_METRIC,
            dimensions_map={"EndpointName": self.endpoint_name, "Feature": feature},
            statistic="Maximum",
            period=alarm_period(self.config.schedule),
        )

    def metric_rows(self) -> cloudwatch.Metric:
        """Rows (scored requests) each drift run compared."""
        return cloudwatch.Metric(
            namespace=naming.METRIC_NAMESPACE,
            metric_name=naming.ROWS_METRIC,
            dimensions_map={"EndpointName": self.endpoint_name},
            statistic="Maximum",
            period=alarm_period(self.config.schedule),
            label="rows analyzed",
        )

    def dashboard_rows(self) -> list[list[cloudwatch.IWidget]]:
        """Widgets for the platform dashboard: PSI per feature over time with the 0.1/0.2 bands drawn."""
        bands = [
            cloudwatch.HorizontalAnnotation(
                value=self.config.psi_investigate, label="investigate", color=INVESTIGATE_COLOUR
            ),
            cloudwatch.HorizontalAnnotation(value=self.config.psi_act, label="act", color=ACT_COLOUR),
        ]
        half = (len(self.features) + 1) // 2
        groups = [self.features[:half], self.features[half:]] if len(self.features) > 6 else [self.features]
        graphs: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title=f"PSI per feature ({i + 1}/{len(groups)})" if len(groups) > 1 else "PSI per feature",
                left=[self.metric_psi(f).with_(label=f) for f in group],
                left_annotations=bands,
                left_y_axis=cloudwatch.YAxisProps(min=0),
                width=24 // len(groups),
                height=7,
            )
            for i, group in enumerate(groups)
        ]
        return [
            graphs,
            [
                cloudwatch.GraphWidget(
                    title="PSI of the prediction",
                    left=[self.metric_psi(naming.PREDICTION).with_(label=naming.PREDICTION)],
                    left_annotations=bands,
                    left_y_axis=cloudwatch.YAxisProps(min=0),
                    width=8,
                ),
                cloudwatch.GraphWidget(title="Rows per drift run", left=[self.metric_rows()], width=8),
                cloudwatch.AlarmStatusWidget(title="Drift alarms", alarms=list(self.alarms.values()), width=8),
            ],
        ]

    # -- grants -----------------------------------------------------------------------------------------------
    def _job_arn(self, stack: Stack) -> str:
        return arn(stack, "sagemaker", "processing-job", f"{naming.job_prefix(self.endpoint_name).lower()}-*")

    def _job_finding(self, stack: Stack) -> str:
        name = f"{naming.job_prefix(self.endpoint_name).lower()}-*"
        return f"AwsSolutions-IAM5[Resource::{as_nag_resource(stack, 'sagemaker', 'processing-job', name)}]"

    def _grant_start(
        self,
        stack: Stack,
        registry: ModelRegistry,
        artifacts_bucket: s3.IBucket,
        table: dynamodb.ITable,
        key: kms.IKey,
        capture: str,
    ) -> None:
        fn = self.start.function
        registry.grant_read(fn)
        artifacts_bucket.grant_read(fn, f"{capture}/*")
        artifacts_bucket.grant_read(fn, BASELINE_OBJECTS)
        table.grant_read_data(fn)
        key.grant_decrypt(fn)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateProcessingJob", "sagemaker:AddTags"], resources=[self._job_arn(stack)]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        acknowledge_grant_actions(self.start.role)
        acknowledge(self.start.role, self._job_finding(stack), "Drift jobs are named per window end.")

    def _grant_publish(
        self, stack: Stack, artifacts_bucket: s3.IBucket, topic: sns.ITopic, key: kms.IKey, reports: str
    ) -> None:
        fn = self.publish.function
        artifacts_bucket.grant_read(fn, f"{reports}/*")
        topic.grant_publish(fn)
        key.grant_encrypt_decrypt(fn)
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeProcessingJob"], resources=[self._job_arn(stack)])
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": naming.METRIC_NAMESPACE}},
            )
        )
        acknowledge_grant_actions(self.publish.role)
        acknowledge(self.publish.role, self._job_finding(stack), "Drift jobs are named per window end.")
        acknowledge(
            self.publish.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; it is limited to the drift namespace by "
            "condition. X-Ray needs * as well.",
        )

    def _grant_retrain(
        self,
        stack: Stack,
        registry: ModelRegistry,
        pipeline_name: str,
        table: dynamodb.ITable,
        topic: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        assert self.retrain is not None
        fn = self.retrain.function
        registry.grant_read(fn)
        table.grant_read_write_data(fn)
        topic.grant_publish(fn)
        key.grant_encrypt_decrypt(fn)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:StartPipelineExecution", "sagemaker:ListPipelineExecutions"],
                resources=[arn(stack, "sagemaker", "pipeline", pipeline_name.lower())],
            )
        )
        acknowledge_grant_actions(self.retrain.role)

    def grant_start_job(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke the start function (what ``mlops drift run`` does)."""
        return self.start.function.grant_invoke(grantee)
