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


@app.command()
def run(
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Pipeline parameter, e.g. -p MaxIter=50.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the execution until it ends.")] = True,
    project: Annotated[str | None, typer.Option(help="Project name (default: from cdk.json).")] = None,
) -> None:
    """Start the training pipeline; the current Production model is what the candidate must beat."""
    from mlops_kit.pipeline.runs import start_run, wait_for_run
    from mlops_kit.registry import ModelRegistry

    platform = Platform.connect(project)
    sagemaker = platform.client("sagemaker")
    registry = ModelRegistry(sagemaker, platform.output("ModelPackageGroupName"))
    try:
        arn = start_run(sagemaker, platform.output("PipelineName"), registry=registry, parameters=_parameters(param))
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
