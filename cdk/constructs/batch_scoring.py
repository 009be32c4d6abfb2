"""Batch scoring: the ``batch_start`` function, the job's role and code, and (with ``batch.schedule``) its schedule.

``mlops batch`` or EventBridge Scheduler -> ``batch_start`` Lambda (model version, input checks) -> SageMaker
Processing job (``sagemaker_jobs/batch_score.py`` from the kit's code bundle, through ``sagemaker_jobs/launch.py``
as the pipeline's and the drift monitor's jobs) -> ``s3://<data>/batch/output/<job>/`` (predictions and lineage).
See :mod:`mlops_kit.batch` for the runtime side.

A Lambda, not a direct Scheduler target (``aws-sdk:sagemaker:createProcessingJob``): a universal target sends a
fixed request, and each run must resolve the current Production version and its artifact first.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.config import BatchConfig
from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.lambda_schedule import invoke_on_schedule, scheduler_role
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.processing_job import processing_job_role
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.batch import naming
from mlops_kit.batch.settings import BatchSettings
from mlops_kit.monitoring.settings import JobSettings

# Model packages point at a training job's model.tar.gz in the artifacts bucket (under each run's folder).
MODEL_ARTIFACTS = "*/model.tar.gz"


class BatchScoring(Construct):
    """Batch scoring of ``project``'s models (``registry``) over inputs under ``batch/input/`` of ``data_bucket``.

    The job reads the input, the offline store (``features/`` of ``data_bucket``) and the model artifact (a
    ``model.tar.gz`` in ``artifacts_bucket``) and writes under ``batch/output/``. ``image_uri`` is the processing
    image (``image_repository``: its ``(account, name)`` for the pull grant). With ``config.schedule`` unset no
    schedule is created (``schedule`` is None) and jobs start only from ``mlops batch``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BatchConfig,
        project: str,
        registry: ModelRegistry,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        image_uri: str,
        image_repository: tuple[str, str],
        instance_type: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.project = project
        self.input_uri = f"s3://{data_bucket.bucket_name}/{naming.INPUT_PREFIX}/"
        self.output_uri = f"s3://{data_bucket.bucket_name}/{naming.OUTPUT_PREFIX}/"

        # -- the job -----------------------------------------------------------------------------------------
        job = processing_job_role(
            self,
            description=f"{project}: the batch job reads inputs, features and the model, writes predictions",
            image_repository=image_repository,
        )
        self.job_role, launcher, bundle = job.role, job.launcher, job.bundle
        data_bucket.grant_read(self.job_role, f"{naming.INPUT_PREFIX}/*")
        data_bucket.grant_read(self.job_role, "features/*")
        data_bucket.grant_put(self.job_role, f"{naming.OUTPUT_PREFIX}/*")
        artifacts_bucket.grant_read(self.job_role, MODEL_ARTIFACTS)
        key.grant_encrypt_decrypt(self.job_role)

        settings = BatchSettings(
            project_name=project,
            model_package_group=registry.group_name,
            data_bucket=data_bucket.bucket_name,
            offline_uri=f"s3://{data_bucket.bucket_name}/features",
            id_column=config.id_column,
            time_column=config.time_column or "",
            created_before_row=config.created_before_row,
            schedule_input=config.schedule_input or "",
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

        # -- start ---------------------------------------------------------------------------------------------
        self.start = PythonFunction(
            self,
            "Start",
            name="batch_start",
            description=f"{project}: start a batch scoring job",
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
            settings=settings,
            service="mlops-kit-batch",
        )
        self._grant_start(stack, registry, data_bucket)

        # -- schedule ------------------------------------------------------------------------------------------
        self.schedule: scheduler.Schedule | None = None
        self.dead_letters: DeadLetters | None = None
        if config.schedule is not None:
            schedule_role = scheduler_role(self, f"{project}: EventBridge Scheduler invokes the batch start function")
            self.dead_letters = DeadLetters(
                self,
                "StartDeadLetters",
                function=self.start.function,
                key=key,
                removal_policy=removal_policy,
                topic=topic,
            )
            self.dead_letters.grant_send(schedule_role)
            self.schedule = invoke_on_schedule(
                self,
                function=self.start.function,
                role=schedule_role,
                dead_letter_queue=self.dead_letters.queue,
                expression=config.schedule,
                description=f"{project}: score batch/input/{config.schedule_input} with the Production model",
                schedule_name=naming.schedule_name(project),
            )
        self.schedule_group = "default"

    # -- grants -------------------------------------------------------------------------------------------------
    def _job_name_pattern(self) -> str:
        # Processing job ARNs hold the name in lower case.
        return f"{naming.job_prefix(self.project).lower()}-*"

    def _grant_start(self, stack: Stack, registry: ModelRegistry, data_bucket: s3.IBucket) -> None:
        fn = self.start.function
        registry.grant_read(fn)
        # The input check lists the input (ListObjectsV2 is s3:ListBucket, narrowed to batch/input/ by s3:prefix).
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{naming.INPUT_PREFIX}/*"]}},
            )
        )
        # CreateProcessingJob with Tags also needs sagemaker:AddTags (its dependent action), on the same job.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
                resources=[arn(stack, "sagemaker", "processing-job", self._job_name_pattern())],
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
        finding = as_nag_resource(stack, "sagemaker", "processing-job", self._job_name_pattern())
        acknowledge(
            self.start.role,
            f"AwsSolutions-IAM5[Resource::{finding}]",
            "Batch jobs are named per run (<project>-batch-<time>); the start function may create only those.",
        )

    def grant_start_job(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke the start function (what ``mlops batch`` does)."""
        return self.start.function.grant_invoke(grantee)
