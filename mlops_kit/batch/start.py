"""Start a batch scoring job (the ``batch_start`` Lambda, which ``mlops batch`` and the ``batch.schedule`` invoke).

The model is the group's Production version unless a version is named; the input must lie under the data
bucket's ``batch/input/`` (the only place the job role may read) and hold data files of one format, checked here
so a bad request fails in seconds, before a job starts. Errors (:class:`BatchStartError`, a ValueError) name what
is wrong and what to do: no Production version, an unknown version, an input outside the prefix, an empty input,
unknown or mixed formats. A job already started under the same name (a retried scheduled invocation) is a result.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from mlops_kit.batch import naming
from mlops_kit.batch.inputs import BatchInputError, data_files, input_format, split_s3_uri
from mlops_kit.batch.settings import BatchSettings
from mlops_kit.registry import ModelRegistry, ModelVersion


class BatchStartError(BatchInputError):
    """The batch job cannot start as asked; the message says what to change."""


@dataclass(frozen=True)
class StartResult:
    started: bool
    reason: str
    job_name: str
    model_version: int
    model_package_arn: str
    input_uri: str
    input_format: str
    input_files: int
    input_bytes: int
    output_uri: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_version(registry: ModelRegistry, version: int | None) -> ModelVersion:
    """The named version, else the Production one; raises BatchStartError when there is none."""
    from mlops_kit.registry import UnknownModelVersion

    if version is not None:
        try:
            return registry.get(version)
        except UnknownModelVersion as exc:
            raise BatchStartError(f"{exc}: list the versions with `mlops registry list`") from None
    production = registry.production()
    if production is None:
        raise BatchStartError(
            f"no Production model version in {registry.group}: promote one first (`mlops promote <arn>`), or score "
            "with a registered version (`mlops batch --model-version N`)"
        )
    return production


def input_uri_of(settings: BatchSettings, given: str | None) -> str:
    """The input to score: ``given``, else the schedule's input; raises BatchStartError when neither is set or the
    input is outside ``s3://<data>/batch/input/``."""
    root = f"s3://{settings.data_bucket}/{naming.INPUT_PREFIX}/"
    if not given:
        if not settings.schedule_input:
            raise BatchStartError(
                f"no input given and batch.schedule_input is not set: pass --input {root}<file or folder>"
            )
        return root + settings.schedule_input.lstrip("/")
    try:
        split_s3_uri(given)
    except BatchInputError as exc:
        raise BatchStartError(str(exc)) from None
    if not given.startswith(root) or given == root or ".." in given.split("/"):
        raise BatchStartError(
            f"input {given} is outside {root}: the batch job may read only there; copy it, e.g. "
            f"`aws s3 cp <file> {root}<name>/`"
        )
    return given


def list_input(s3: Any, uri: str) -> tuple[str, int, int]:
    """(format, data files, bytes) of the input; raises BatchStartError for an empty, unknown or mixed input."""
    bucket, prefix = split_s3_uri(uri)
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            sizes[item["Key"]] = int(item.get("Size", 0))
    # SageMaker downloads every object whose key starts with the prefix: day-1 would bring day-10/ along.
    folder = prefix if prefix.endswith("/") else prefix + "/"
    others = sorted(k for k in sizes if k != prefix and not k.startswith(folder))
    if others:
        raise BatchStartError(
            f"input {uri} is also the beginning of {others[0]!r} ({len(others)} object(s)), which the job would read "
            f"too: name the folder with a trailing / ({uri}/) or the file itself"
        )
    keys = data_files(sizes)
    try:
        fmt = input_format(keys, uri)
    except BatchInputError as exc:
        raise BatchStartError(str(exc)) from None
    return fmt, len(keys), sum(sizes[k] for k in keys)


def processing_job_request(
    settings: BatchSettings, *, job_name: str, version: ModelVersion, input_uri: str, output_uri: str
) -> dict[str, Any]:
    """The CreateProcessingJob request of one batch run (the launcher and code bundle of the pipeline's jobs)."""
    arguments = [
        "batch_score",
        "--offline-uri", settings.offline_uri,
        "--id-column", settings.id_column,
        "--time-column", settings.time_column,
        "--model-version", str(version.version),
        "--model-package-arn", version.arn,
        "--model-data-url", version.model_data_url,
        "--input-uri", input_uri,
        "--job-name", job_name,
    ] + (["--created-before-row"] if settings.created_before_row else [])  # fmt: skip
    return settings.job.request(
        job_name,
        arguments,
        inputs={"model": version.model_data_url, "data": input_uri},
        outputs={naming.PREDICTIONS_OUTPUT: output_uri},
        environment={"MLOPS_MODEL_VERSION": str(version.version)},
        tags={"mlops:batch-model-version": str(version.version)},
    )


def start_batch_job(
    sagemaker: Any,
    s3: Any,
    settings: BatchSettings,
    *,
    now: dt.datetime,
    input_uri: str | None = None,
    model_version: int | None = None,
    unique: bool = True,
) -> StartResult:
    """Start one batch job (see the module doc). ``unique`` adds a random suffix to the job name (a CLI run);
    a schedule passes False, so a retried invocation of the same scheduled time starts nothing new."""
    uri = input_uri_of(settings, input_uri)
    version = resolve_version(ModelRegistry(sagemaker, settings.model_package_group), model_version)
    if not version.model_data_url:
        raise BatchStartError(f"model version {version.version} ({version.arn}) has no ModelDataUrl to score with")
    fmt, files, size = list_input(s3, uri)
    name = naming.job_name(settings.project_name, now, uuid.uuid4().hex[:8] if unique else "")
    output = naming.output_uri(settings.data_bucket, name)
    result = StartResult(
        started=True,
        reason="started",
        job_name=name,
        model_version=version.version,
        model_package_arn=version.arn,
        input_uri=uri,
        input_format=fmt,
        input_files=files,
        input_bytes=size,
        output_uri=output,
    )
    request = processing_job_request(settings, job_name=name, version=version, input_uri=uri, output_uri=output)
    try:
        sagemaker.create_processing_job(**request)
    except sagemaker.exceptions.ClientError as exc:
        if "must be unique" in str(exc) or "ResourceInUse" in str(exc):
            return StartResult(**{**result.to_dict(), "started": False, "reason": f"job {name} was already started"})
        raise
    return result
