"""The monitoring functions' settings: one typed model per function, built by the CDK construct
(``cdk/constructs/drift_monitor.py``) from the validated platform config and parsed by the handler
(:func:`mlops_kit.environment.read_settings`), so a bad deployment fails on the first invocation naming the field.

Every field is required: the defaults live in the platform config (``cdk/config.py``). ``mlops drift report``
reads the start function's :class:`DriftSettings` back from its deployed configuration.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlops_kit.environment import HandlerSettings

# The drift job's minimum rows. PSI of a window drawn from the baseline's own distribution is noise of about
# (bins - 1) * (1/n + 1/m) for n current and m reference rows: at 20 rows it is in the act band most of the time.
# These minimums keep the act band's false-alarm rate on same-distribution windows below 0.1% with 10 bins
# (tests/unit/drift). Defined here, not in mlops_kit.drift.stats (which uses them): importing mlops_kit.drift loads
# pandas, pyarrow and scipy (0.8 s) into the drift Lambda functions, which only read these settings
# (tests/unit/handlers/test_import_graph.py).
DEFAULT_MIN_WINDOW_ROWS = 200
DEFAULT_MIN_BASELINE_ROWS = 1000


class JobSettings(BaseModel):
    """How the drift job runs: role, image, code (the kit's launcher and code bundle), instance, encryption."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role_arn: str = Field(min_length=1)
    image_uri: str = Field(min_length=1)
    # s3:// URIs of CDK assets (not checked: at synth they are a single deploy-time token)
    launcher_uri: str = Field(min_length=1)  # sagemaker_jobs/launch.py
    launcher_file: str = Field(min_length=1)  # the launcher's object key: the file name the container runs
    bundle_uri: str = Field(min_length=1)  # the code bundle (sourcedir.tar.gz)
    instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    volume_gb: int = Field(ge=1, le=16384)  # CreateProcessingJob's VolumeSizeInGB range
    max_runtime_seconds: int = Field(ge=60, le=777600)  # CreateProcessingJob's MaxRuntimeInSeconds range
    kms_key_arn: str = Field(min_length=1)

    def request(
        self,
        job_name: str,
        arguments: list[str],
        *,
        inputs: dict[str, str],
        outputs: dict[str, str],
        environment: dict[str, str],
        tags: dict[str, str],
    ) -> dict[str, Any]:
        """The CreateProcessingJob request of one run on one instance: the launcher runs ``arguments`` with the
        code bundle; ``inputs`` (name -> S3 prefix, beside ``code`` and ``bundle``) are downloaded to
        ``/opt/ml/processing/input/<name>``, ``outputs`` (name -> S3 URI) uploaded from ``.../output/<name>`` at
        the end, encrypted with the platform key."""
        root = "/opt/ml/processing"
        sources = {"code": self.launcher_uri, "bundle": self.bundle_uri, **inputs}
        return {
            "ProcessingJobName": job_name,
            "RoleArn": self.role_arn,
            "AppSpecification": {
                "ImageUri": self.image_uri,
                "ContainerEntrypoint": ["python3", f"{root}/input/code/{self.launcher_file}"],
                "ContainerArguments": arguments,
            },
            "ProcessingInputs": [
                {
                    "InputName": name,
                    "S3Input": {
                        "S3Uri": uri,
                        "LocalPath": f"{root}/input/{name}",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
                for name, uri in sources.items()
            ],
            "ProcessingOutputConfig": {
                "KmsKeyId": self.kms_key_arn,
                "Outputs": [
                    {
                        "OutputName": name,
                        "S3Output": {"S3Uri": uri, "LocalPath": f"{root}/output/{name}", "S3UploadMode": "EndOfJob"},
                    }
                    for name, uri in outputs.items()
                ],
            },
            # One instance: a job reads all its rows on one machine (a drift window, a batch's join and id checks);
            # the inputs are fully replicated, so more instances would each compute and write the same result.
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": self.instance_type,
                    "VolumeSizeInGB": self.volume_gb,
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime_seconds},
            "Environment": environment,
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
        }


class DriftSettings(HandlerSettings):
    """What starting (and, from the CLI, planning) a drift run needs: ``lambdas/drift_start``."""

    VARIABLE: ClassVar[str] = "MLOPS_DRIFT_SETTINGS"

    endpoint_name: str = Field(min_length=1, max_length=63)
    model_package_group: str = Field(min_length=1)
    use_case: str = Field(min_length=1)
    capture_uri: str  # the endpoint's capture destination, s3://<artifacts>/capture (files under <endpoint>/)
    artifacts_bucket: str = Field(min_length=1)
    offline_uri: str  # the offline feature store, s3://<data>/features
    state_table: str = Field(min_length=1)  # the promotion state table: deployment records bound the window
    window_hours: int = Field(ge=1)
    baseline_mode: Literal["training", "last_year", "rolling"]
    rolling_days: int = Field(ge=1)
    psi_investigate: float = Field(gt=0)
    psi_act: float = Field(gt=0)
    # Fewer rows than these in the window or the baseline: PSI is reported as insufficient_data, never an
    # alarm (config: drift.min_window_rows and drift.min_baseline_rows).
    min_window_rows: int = Field(DEFAULT_MIN_WINDOW_ROWS, ge=1)
    min_baseline_rows: int = Field(DEFAULT_MIN_BASELINE_ROWS, ge=1)
    job: JobSettings

    @field_validator("capture_uri", "offline_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        return _s3_uri(value)


class PublishSettings(HandlerSettings):
    """``lambdas/drift_publish``: where a failed drift job is announced."""

    VARIABLE: ClassVar[str] = "MLOPS_DRIFT_PUBLISH_SETTINGS"

    topic_arn: str = Field(min_length=1)


class RetrainSettings(HandlerSettings):
    """``lambdas/drift_retrain``: the pipeline a drift alarm starts, and the gate that spaces the runs out."""

    VARIABLE: ClassVar[str] = "MLOPS_DRIFT_RETRAIN_SETTINGS"

    endpoint_name: str = Field(min_length=1, max_length=63)
    model_package_group: str = Field(min_length=1)
    pipeline_name: str = Field(min_length=1)
    state_table: str = Field(min_length=1)  # the promotion state table holds the retrain gate's item
    topic_arn: str = Field(min_length=1)
    cooldown_hours: float = Field(ge=0)


def _s3_uri(value: str) -> str:
    if not value.startswith("s3://"):
        raise ValueError(f"must be an s3:// URI, got {value!r}")
    return value.rstrip("/")
