"""`mlops pipeline run`: start the training pipeline, follow it, print the gate decision and lineage."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

app = typer.Typer(help="The training pipeline (SageMaker Pipelines).", no_args_is_help=True)


def _parameters(pairs: list[str] | None) -> dict[str, str]:
    parameters = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected Name=Value (e.g. MaxIter=50), got {pair!r}")
        parameters[name] = value
    return parameters


def print_result(result) -> None:
    console.print(
        table(
            "Steps",
            ["step", "status", "note"],
            [[s.name, s.status, (s.failure_reason or "")[:100]] for s in result.steps],
        )
    )
    if result.gate:
        inputs = result.gate["inputs"]
        production = "none" if inputs["production"] is None else f"{inputs['production']:.4f}"
        verdict = "[green]passed[/]" if result.gate["passed"] else f"[red]refused[/]: {result.gate['reason']}"
        console.print(
            f"gate: {inputs['primary_metric']} {inputs['candidate']:.4f} vs required {inputs['min_primary_metric']:.4f}"
            f" and Production {production} (+{inputs['min_improvement']}) -> {verdict}"
        )
    if result.registered:
        v = result.registered
        console.print(f"registered version {v.version} ({v.stage}/{v.stage_status}, {v.approval_status}): {v.arn}")
    if result.status != "Succeeded":
        console.print(f"[red]{result.status}[/]: {result.failure_reason}")


def _dvc_labels(
    platform: Platform, repo: str, rev: str, path: str, remote: str | None, endpoint_url: str | None
) -> dict[str, str]:
    """The pipeline parameters that make a DVC project's ``path`` at ``rev`` the run's labels."""
    from mlops_kit.cli.dataset import resolve_or_fail
    from mlops_kit.datasets import dvc
    from mlops_kit.pipeline.definition import RUNS_PREFIX

    dataset = resolve_or_fail(
        repo, rev, path, remote=remote, endpoint_url=endpoint_url, verify=False, session=platform.session
    )
    try:
        values = dvc.pipeline_parameters(
            dataset, platform.client("s3"), platform.output("ArtifactsBucketName"), f"{RUNS_PREFIX}/dvc-inputs"
        )
    except dvc.DvcError as exc:
        fail(str(exc))
    console.print(
        f"labels: DVC {dataset.path} at {dataset.commit[:12]} ({rev}), md5 {dataset.md5}, {len(dataset.files)} file(s)"
    )
    return values


@app.command()
def run(
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Pipeline parameter, e.g. -p MaxIter=50.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the execution until it ends.")] = True,
    project: Annotated[str | None, typer.Option(help="Project name (default: from cdk.json).")] = None,
    dvc_repo: Annotated[
        str | None,
        typer.Option(help="Take the labels from this DVC project (git URL or local repository) instead of labels/."),
    ] = None,
    dvc_rev: Annotated[str, typer.Option(help="The DVC project's git branch, tag or commit.")] = "HEAD",
    dvc_path: Annotated[str | None, typer.Option(help="The DVC-tracked labels file or folder (*.parquet).")] = None,
    dvc_remote: Annotated[str | None, typer.Option(help="The DVC remote (default: the project's).")] = None,
    dvc_endpoint_url: Annotated[
        str | None, typer.Option(help="The DVC remote's S3 endpoint, when not in the project's .dvc/config.")
    ] = None,
) -> None:
    """Start the training pipeline; the current Production model is what the candidate must beat.

    With --dvc-repo and --dvc-path the labels are a DVC project's files at --dvc-rev: resolved here to the exact
    S3 objects (each checked on the remote), which the pipeline reads and checks against their MD5s; the version's
    lineage records the project, commit and DVC hash beside the training set's own hash.
    """
    from mlops_kit.pipeline.runs import start_run, wait_for_run
    from mlops_kit.registry import ModelRegistry

    parameters = _parameters(param)
    if (dvc_repo is None) != (dvc_path is None):
        fail("give both --dvc-repo and --dvc-path (the DVC project and the labels' path in it), or neither")
    platform = Platform.connect(project)
    if dvc_repo is not None and dvc_path is not None:
        parameters |= _dvc_labels(platform, dvc_repo, dvc_rev, dvc_path, dvc_remote, dvc_endpoint_url)
    sagemaker = platform.client("sagemaker")
    registry = ModelRegistry(sagemaker, platform.output("ModelPackageGroupName"))
    try:
        arn = start_run(sagemaker, platform.output("PipelineName"), registry=registry, parameters=parameters)
    except sagemaker.exceptions.ClientError as exc:
        fail(f"could not start the pipeline: {exc}")
    console.print(f"started {arn}")
    if not wait:
        return
    with console.status("running") as status:

        def progress(steps) -> None:
            running = [s.name for s in steps if s.status in ("Executing", "Starting")]
            done = sum(s.status == "Succeeded" for s in steps)
            status.update(f"{done} steps done; running: {', '.join(running) or '-'}")

        result = wait_for_run(sagemaker, platform.client("s3"), arn, registry=registry, on_progress=progress)
    print_result(result)
    if result.status != "Succeeded":
        raise typer.Exit(1)
