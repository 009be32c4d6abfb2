"""The training pipeline: a SageMaker Pipeline (definition built by the SageMaker SDK at synth), its role
and code assets. validate -> preprocess -> train -> evaluate -> gate -> register."""

from __future__ import annotations

import re
from dataclasses import replace

from aws_cdk import Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.constructs.container_runtime import JOB_LOGS_REASON, grant_container_runtime
from cdk.constructs.mlflow_tracking import MlflowTracking
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.processing_job import code_assets
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.pipeline import definition as pipeline_definition


class TrainingPipeline(Construct):
    """Deploys ``spec`` as an ``AWS::SageMaker::Pipeline`` with a least-privilege execution role.

    The role runs the pipeline and its jobs: it reads the offline feature store and labels from
    ``data_bucket``, writes runs and models to ``artifacts_bucket``, reads ``registry`` (to find the Production
    version the candidate must beat) and registers versions in it, and pulls the pinned images. ``mlflow``, when
    given, is the tracking server its runs log to (the pipeline's
    ``MlflowTrackingUri`` default, and the only server it may use); unset, runs log to a local MLflow store (in the
    emulator, which passes the parameter) or not at all (on AWS).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: pipeline_definition.PipelineSpec,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        registry: ModelRegistry,
        mlflow: MlflowTracking | None = None,
        dvc_remotes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if spec.region != stack.region:
            raise ValueError(
                f"the pipeline spec is for {spec.region} but the stack deploys to {stack.region}: set mlops.region"
            )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{spec.pipeline_name}: runs the pipeline and its processing and training jobs",
        )
        self.launcher, self.bundle = code_assets(self, self.role)
        data_bucket.grant_read(self.role, f"{pipeline_definition.OFFLINE_PREFIX}/*")
        data_bucket.grant_read(self.role, f"{pipeline_definition.LABELS_PREFIX}/*")
        self._grant_dvc_remotes(stack, dvc_remotes)
        artifacts_bucket.grant_read_write(self.role, f"{pipeline_definition.RUNS_PREFIX}/*")
        artifacts_bucket.grant_read_write(self.role, f"{pipeline_definition.MODELS_PREFIX}/*")
        registry.grant_register(self.role)
        # The Evaluate step finds the Production version itself (ListModelPackages, DescribeModelPackage), so a run
        # started outside the kit's CLI is compared with it too; the Production model's artifact is under models/.
        registry.grant_read(self.role)
        self._grant_jobs(stack, spec)
        acknowledge_grant_actions(self.role)
        spec = replace(spec, model_package_group=registry.group_name)
        tokens: dict[str, str] = {}
        if mlflow is not None:
            # Runs log to the tracking server by default (the MlflowTrackingUri parameter's default is its ARN).
            mlflow.grant_log(self.role)
            spec = replace(spec, mlflow_tracking_uri=pipeline_definition.MLFLOW_PLACEHOLDER)
            tokens[pipeline_definition.MLFLOW_PLACEHOLDER] = mlflow.server_arn
        body = self._tokenized(
            pipeline_definition.build_definition(spec),
            {
                **tokens,
                pipeline_definition.ROLE_PLACEHOLDER: self.role.role_arn,
                pipeline_definition.LAUNCHER_PLACEHOLDER: self.launcher.s3_object_url,
                pipeline_definition.BUNDLE_PLACEHOLDER: self.bundle.s3_object_url,
                pipeline_definition.LAUNCHER_FILE_PLACEHOLDER: self.launcher.s3_object_key,
                pipeline_definition.DATA_BUCKET_PLACEHOLDER: data_bucket.bucket_name,
                pipeline_definition.ARTIFACTS_BUCKET_PLACEHOLDER: artifacts_bucket.bucket_name,
            },
        )
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=spec.pipeline_name,
            pipeline_description="training set -> validate -> preprocess -> train -> evaluate -> gate -> register",
            role_arn=self.role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": body},
        )
        self.pipeline.node.add_dependency(self.role)
        self.pipeline_name = spec.pipeline_name
        self.pipeline_arn = arn(stack, "sagemaker", "pipeline", spec.pipeline_name.lower())

    @staticmethod
    def _tokenized(definition: str, tokens: dict[str, str]) -> str:
        """Swap each placeholder for its CloudFormation token (an ``Fn::Join``), in PLACEHOLDERS order."""
        order = [p for p in pipeline_definition.PLACEHOLDERS if p in tokens]
        pattern = re.compile("|".join(re.escape(p) for p in order))
        parts: list[str] = []
        position = 0
        for match in pattern.finditer(definition):
            parts += [definition[position : match.start()], tokens[match.group(0)]]
            position = match.end()
        parts.append(definition[position:])
        return Fn.join("", parts)

    def _grant_dvc_remotes(self, stack: Stack, remotes: tuple[str, ...]) -> None:
        """Read DVC's objects (``<url>/files/md5/*``, DVC 3's layout) on each S3 remote the labels may come from
        (``mlops pipeline run --dvc-...`` lists exactly those objects in a SageMaker manifest); none when unset."""
        for url in remotes:
            bucket, _, prefix = url.removeprefix("s3://").partition("/")
            objects = "/".join(part for part in (bucket, prefix.strip("/"), "files/md5/*") if part)
            self.role.add_to_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"arn:{stack.partition}:s3:::{objects}"])
            )
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{objects}]",
                "DVC names each object by its MD5 under files/md5/; the grant is read-only and limited to that folder "
                "of a remote the config lists (training.dvc_remotes).",
            )

    def _grant_jobs(self, stack: Stack, spec: pipeline_definition.PipelineSpec) -> None:
        jobs = [arn(stack, "sagemaker", kind, "pipelines-*") for kind in ("processing-job", "training-job")]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=jobs,
            )
        )  # fmt: skip
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        repositories = sorted({pipeline_definition.ecr_repository(image) for image in spec.images().values()})
        grant_container_runtime(
            self.role,
            repositories=repositories,
            log_groups=[f"/aws/sagemaker/{kind}:*" for kind in ("ProcessingJobs", "TrainingJobs")],
            log_reason=JOB_LOGS_REASON,
        )
        for kind in ("processing-job", "training-job"):
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{as_nag_resource(stack, 'sagemaker', kind, 'pipelines-*')}]",
                "SageMaker Pipelines names each job per execution; the grant is limited to the 'pipelines-' prefix.",
            )
