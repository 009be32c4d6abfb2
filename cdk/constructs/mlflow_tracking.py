"""SageMaker managed MLflow: the tracking server the training pipeline logs its runs to."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.nag import acknowledge, acknowledge_grant_actions

ARTIFACT_PREFIX = "mlflow"  # in the artifacts bucket


class MlflowTracking(Construct):
    """An ``AWS::SageMaker::MlflowTrackingServer`` named ``name`` of ``size`` (Small, Medium, Large), storing run
    artifacts under ``mlflow/`` of ``artifacts_bucket`` with its own role (that prefix only). MLflow clients upload
    artifacts to the store themselves, so :meth:`grant_log` gives the MLflow API on this server and the same prefix.
    Model registration into the SageMaker registry stays off: the pipeline registers versions itself, with lineage.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, size: str, artifacts_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.artifacts_bucket = artifacts_bucket
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{name}: the MLflow tracking server reads and writes its artifact store",
        )
        artifacts_bucket.grant_read_write(self.role, f"{ARTIFACT_PREFIX}/*")
        acknowledge_grant_actions(self.role)
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=name,
            tracking_server_size=size,
            artifact_store_uri=f"s3://{artifacts_bucket.bucket_name}/{ARTIFACT_PREFIX}",
            role_arn=self.role.role_arn,
            automatic_model_registration=False,
        )
        self.server.node.add_dependency(self.role)
        stack = Stack.of(self)
        self.name = name
        self.server_arn = arn(stack, "sagemaker", "mlflow-tracking-server", name)
        self._server_finding = as_nag_resource(stack, "sagemaker", "mlflow-tracking-server", name)

    def grant_log(self, grantee: iam.IGrantable) -> None:
        """Log runs (the MLflow REST API on this server) and their artifacts (``mlflow/*`` of the bucket)."""
        iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker-mlflow:*"], resource_arns=[self.server_arn])
        self.artifacts_bucket.grant_read_write(grantee, f"{ARTIFACT_PREFIX}/*")
        principal = grantee.grant_principal
        if isinstance(principal, Construct):
            acknowledge(
                principal,
                "AwsSolutions-IAM5[Action::sagemaker-mlflow:*]",
                "The MLflow API (experiments, runs, metrics, artifacts) on this one tracking server; every action "
                "of the sagemaker-mlflow service applies to the tracking server resource.",
            )
