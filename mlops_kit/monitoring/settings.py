"""The monitoring functions' settings: one JSON environment variable, validated once per container.

The CDK construct (``cdk/constructs/drift_monitor.py``) writes ``MLOPS_DRIFT_SETTINGS`` from the validated
platform config; a bad deployment fails on the first invocation with the field named.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_VARIABLE = "MLOPS_DRIFT_SETTINGS"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobSettings(_Model):
    """How the drift job runs: role, image, code (the kit's launcher and code bundle), instance, encryption."""

    role_arn: str
    image_uri: str
    launcher_uri: str  # s3:// URI of sagemaker_jobs/launch.py (a CDK asset)
    launcher_file: str  # the launcher's object key: the file name the container runs
    bundle_uri: str  # s3:// URI of the code bundle (sourcedir.tar.gz, a CDK asset)
    instance_type: str = "ml.t3.medium"
    instance_count: int = Field(1, ge=1)
    volume_gb: int = Field(30, ge=1)
    max_runtime_seconds: int = Field(3600, ge=60)
    kms_key_arn: str | None = None


class DriftSettings(_Model):
    """Everything the start, publish and retrain functions need about the platform."""

    endpoint_name: str
    model_package_group: str
    pipeline_name: str
    use_case: str
    capture_uri: str  # the endpoint's capture destination, s3://<artifacts>/capture (files under <endpoint>/)
    artifacts_bucket: str
    offline_uri: str  # the offline feature store, s3://<data>/features
    state_table: str  # the promotion state table: deployment records, the retrain gate's item
    topic_arn: str
    window_hours: int = Field(24, ge=1)
    baseline_mode: Literal["training", "last_year", "rolling"] = "training"
    rolling_days: int = Field(28, ge=1)
    psi_investigate: float = Field(0.1, ge=0)
    psi_act: float = Field(0.2, ge=0)
    retrain_cooldown_hours: float = Field(24, ge=0)
    job: JobSettings

    @field_validator("capture_uri", "offline_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://"):
            raise ValueError(f"must be an s3:// URI, got {value!r}")
        return value.rstrip("/")

    @classmethod
    def from_environment(cls) -> DriftSettings:
        """Read and validate ``MLOPS_DRIFT_SETTINGS``; raises pydantic's ValidationError naming the field."""
        return cls.model_validate_json(os.environ.get(SETTINGS_VARIABLE, "{}"))
