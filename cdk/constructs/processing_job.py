"""The role and code of a SageMaker Processing job the kit starts at runtime (the drift job, batch scoring).

The job runs ``sagemaker_jobs/launch.py`` with the kit's code bundle (both CDK assets, the training pipeline's
own), so its role reads those two objects, lists their bucket (SageMaker lists an S3 input prefix before
downloading) and gets what any processing container needs: pull its image, write its log stream in SageMaker's
fixed log group, and publish SageMaker's metrics. What the job itself reads and writes is the caller's grant.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk.constructs.container_runtime import JOB_LOGS_REASON, grant_container_runtime
from cdk.nag import acknowledge_grant_actions
from mlops_kit.pipeline.bundle import LAUNCHER, build_bundle, bundle_hash

PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs:*"


@dataclass(frozen=True)
class ProcessingJobRole:
    role: iam.Role
    launcher: s3_assets.Asset
    bundle: s3_assets.Asset


def processing_job_role(scope: Construct, *, description: str, image_repository: tuple[str, str]) -> ProcessingJobRole:
    """A ``JobRole`` in ``scope`` with the launcher and code bundle assets (``Launcher``, ``CodeBundle``) and the
    container runtime grants; ``image_repository`` is the processing image's ``(account, name)``."""
    role = iam.Role(
        scope, "JobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
    )
    launcher, bundle = code_assets(scope, role)
    _grant_runtime(role, image_repository)
    return ProcessingJobRole(role, launcher, bundle)


def code_assets(scope: Construct, role: iam.Role) -> tuple[s3_assets.Asset, s3_assets.Asset]:
    """The launcher and the kit's code bundle as assets ``Launcher`` and ``CodeBundle`` in ``scope``, readable by
    ``role``: exactly the two objects, not the whole bootstrap bucket. SageMaker downloads an input given by S3
    prefix by listing it first, so the role lists that one bucket too (CreateProcessingJob's execution role needs
    s3:ListBucket; "ListObjectsV2 failed" otherwise)."""
    launcher = s3_assets.Asset(scope, "Launcher", path=str(LAUNCHER))
    bundle_dir = Path(tempfile.gettempdir()) / f"mlops-kit-bundle-{bundle_hash()[:16]}"
    bundle = s3_assets.Asset(scope, "CodeBundle", path=str(build_bundle(bundle_dir)))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in (launcher, bundle)],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bundle.bucket.bucket_arn]))
    return launcher, bundle


def _grant_runtime(role: iam.Role, repository: tuple[str, str]) -> None:
    """What any processing job's container needs: pull the image, write its log stream and SageMaker metrics."""
    grant_container_runtime(
        role,
        repositories=[repository],
        log_groups=[PROCESSING_LOG_GROUP],
        log_reason=JOB_LOGS_REASON,
    )
    acknowledge_grant_actions(role)
