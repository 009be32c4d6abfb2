"""The quality functions' settings (the run, and the label-event intake), built by ``cdk/constructs/model_quality.py``
from the validated platform config (``quality`` section) and parsed by ``lambdas/quality_run`` and
``lambdas/quality_labels`` (:func:`mlops_kit.environment.read_settings`).
Every field is required: the defaults live in ``cdk/config.py``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from mlops_kit.environment import HandlerSettings
from mlops_kit.quality.metrics import PRIMARY_METRICS


class QualitySettings(HandlerSettings):
    """What one scheduled quality run needs: where labels, capture and reports are, the join key, the window."""

    VARIABLE: ClassVar[str] = "MLOPS_QUALITY_SETTINGS"

    endpoint_name: str = Field(min_length=1, max_length=63)
    model_package_group: str = Field(min_length=1)
    capture_uri: str  # the endpoint's capture destination, s3://<artifacts>/capture (files under <endpoint>/)
    labels_uri: str  # s3://<data>/<quality.labels_prefix>: the label files
    reports_bucket: str = Field(min_length=1)  # the artifacts bucket: reports under quality/<endpoint>/reports/
    key: Literal["inference_id", "business_key"]
    key_column: str = Field(min_length=1)
    label_column: str = Field(min_length=1)
    business_key_path: str  # dotted path in each request row (key = business_key)
    window_hours: int = Field(ge=1)
    label_delay_hours: int = Field(ge=0)
    min_samples: int = Field(ge=1)
    max_drop: float = Field(gt=0, le=1)
    primary_metric: str

    @field_validator("capture_uri", "labels_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://"):
            raise ValueError(f"must be an s3:// URI, got {value!r}")
        return value.rstrip("/")

    @field_validator("primary_metric")
    @classmethod
    def _primary(cls, value: str) -> str:
        if value not in PRIMARY_METRICS:
            raise ValueError(f"must be one of {', '.join(PRIMARY_METRICS)}, got {value!r}")
        return value


class LabelIntakeSettings(HandlerSettings):
    """``lambdas/quality_labels``: label events (:mod:`mlops_kit.quality.intake`) for ``endpoint_name``, stored in
    ``bucket`` (the data bucket) under ``labels_prefix``; rows carry ``key_column`` and ``label_column``."""

    VARIABLE: ClassVar[str] = "MLOPS_QUALITY_LABELS_SETTINGS"

    endpoint_name: str = Field(min_length=1, max_length=63)
    bucket: str = Field(min_length=1)
    labels_prefix: str = Field(min_length=1)
    key_column: str = Field(min_length=1)
    label_column: str = Field(min_length=1)
