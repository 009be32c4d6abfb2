"""The ``batch_start`` function's settings, built by the CDK construct (``cdk/constructs/batch_scoring.py``) from the
validated ``batch`` config and parsed by the handler; every field is required (the defaults live in the config)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mlops_kit.environment import HandlerSettings
from mlops_kit.monitoring.settings import JobSettings


class BatchSettings(HandlerSettings):
    """What starting a batch job needs: the registry, where inputs and outputs live, the job's columns and runtime."""

    VARIABLE: ClassVar[str] = "MLOPS_BATCH_SETTINGS"

    project_name: str = Field(min_length=1, max_length=25)
    model_package_group: str = Field(min_length=1)
    data_bucket: str = Field(min_length=1)  # inputs under batch/input/, outputs under batch/output/<job>/
    offline_uri: str = Field(pattern=r"^s3://")  # the offline feature store, s3://<data>/features
    id_column: str = Field(min_length=1)
    time_column: str = ""  # empty: the use case's LABEL_TIME_COLUMN
    created_before_row: bool
    schedule_input: str = ""  # the key or prefix under batch/input/ the schedule scores (empty: no schedule)
    job: JobSettings
