"""`mlops batch`: score a file of rows with the Production model (or a named version) as a SageMaker Processing job."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops_kit.cli.console import console, fail

if TYPE_CHECKING:
    from mlops_kit.cli.platform import Platform


def upload_key(path: Path, now: dt.datetime) -> str:
    """Where ``--file`` goes: its own folder under batch/input/, so the job scores exactly that file."""
    from mlops_kit.batch.inputs import FORMATS
    from mlops_kit.batch.naming import INPUT_PREFIX

    if path.suffix.lower() not in FORMATS:
        fail(f"{path} has the extension {path.suffix or '(none)'!r}; batch inputs are {', '.join(FORMATS)} files")
    return f"{INPUT_PREFIX}/cli-{now.astimezone(dt.UTC):%Y%m%dT%H%M%S}/{path.name}"


def _start(platform: Platform, payload: dict[str, Any]) -> dict[str, Any]:
    body, failed = platform.invoke(platform.output("BatchStartFunctionName"), payload)
    if failed:
        fail(f"no batch job started: {body.get('errorMessage', body.get('errorType', 'the start function failed'))}")
    return body


def batch(
    input_uri: Annotated[
        str | None,
        typer.Option(
            "--input", help="s3://<data bucket>/batch/input/<file or folder> (default: batch.schedule_input)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", exists=True, dir_okay=False, help="A local .parquet, .csv or .jsonl file: uploaded, then scored."
        ),
    ] = None,
    model_version: Annotated[
        int | None, typer.Option(min=1, help="Score with this registered version (default: the Production one).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job and print where its predictions are.")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the job.")] = 3600,
    project: Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")] = None,
) -> None:
    """Score rows with the Production model: features as of each row's time, the endpoint's transformations.

    Each row needs an id (batch.id_column), a time with a UTC offset, the entity key and the request fields.
    Predictions and lineage.json land under s3://<data bucket>/batch/output/<job>/.

    Works on AWS and on the local emulator (`mlops local serve`, with AWS_ENDPOINT_URL set).
    """
    from mlops_kit.batch.inputs import split_s3_uri
    from mlops_kit.batch.naming import LINEAGE_FILE
    from mlops_kit.cli.platform import Platform

    if file is not None and input_uri is not None:
        fail("give --input (already in S3) or --file (a local file to upload), not both")
    key = upload_key(file, dt.datetime.now(dt.UTC)) if file is not None else None
    platform = Platform.connect(project)
    if file is not None and key is not None:
        bucket, _ = split_s3_uri(platform.output("BatchInputUri"))
        platform.client("s3").upload_file(str(file), bucket, key)
        input_uri = f"s3://{bucket}/{key}"
    payload: dict[str, Any] = {"source": "cli"}
    if input_uri is not None:
        payload["input_uri"] = input_uri
    if model_version is not None:
        payload["model_version"] = model_version
    result = _start(platform, payload)
    name = str(result["job_name"])
    console.print(
        f"batch job [bold]{name}[/]: model version {result['model_version']}, input {result['input_uri']} "
        f"({result['input_files']} {result['input_format']} file(s), {result['input_bytes'] / 1024:.0f} KiB)"
    )
    if not wait:
        return
    described = platform.wait_for_processing_job(
        name, kind="batch job", follow="follow it in the SageMaker console", every=1.0, timeout=timeout
    )
    if described["ProcessingJobStatus"] != "Completed":
        fail(f"batch job {name} {described['ProcessingJobStatus'].lower()}: {described.get('FailureReason', '')}")
    bucket, prefix = split_s3_uri(str(result["output_uri"]))
    body = platform.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/{LINEAGE_FILE}")["Body"].read()
    lineage = json.loads(body)
    snapshot = lineage["feature_snapshot"]
    console.print(
        f"scored {lineage['output']['rows']} rows: {result['output_uri']}/{lineage['output']['file']} "
        f"(lineage: {LINEAGE_FILE}; input manifest {lineage['input']['manifest_hash'][:16]}, features as of "
        f"{snapshot['as_of_min']} .. {snapshot['as_of_max']}, matched {snapshot['matched_rows']})"
    )
