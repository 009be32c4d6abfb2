"""`mlops`: the kit's command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlops_kit.cli import abtest, drift, features, invoke, local, pipeline, promotion, registry
from mlops_kit.cli.console import console, fail

app = typer.Typer(
    help="Serverless MLOps kit for AWS: rehearse locally, deploy with CDK, approve, invoke.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(local.app, name="local")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(registry.app, name="registry")
app.add_typer(promotion.promotions, name="promotions")
app.command()(promotion.promote)
app.command()(promotion.approve)
app.command()(promotion.reject)
app.command()(promotion.rollback)
app.command()(invoke.invoke)
app.add_typer(features.app, name="features")
app.add_typer(drift.app, name="drift")
app.add_typer(abtest.app, name="abtest")


@app.command()
def demo(
    assembly: Annotated[Path | None, typer.Option(help="Use this cdk.out instead of synthesizing.")] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            help="Real seconds per emulated second (0.003: an hour in 11 s). Traffic runs in real time, so bake "
            "windows hold more requests at a larger scale."
        ),
    ] = 0.003,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON at the end.")] = False,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Run one promotion scenario instead: happy, first-deploy, shadow-regression, approval-rejected, "
            "approval-timeout, canary-alarm, guardrails-rollback, concurrent-promotion, rollback."
        ),
    ] = None,
    context: local.ContextOption = None,
) -> None:
    """The local rehearsal: deploy every stack into the embedded emulator and run the lifecycle on it."""
    from mlops_kit.demo.runner import run_demo, run_scenario_demo

    if scenario is not None:
        from mlops_kit.demo.scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise typer.BadParameter(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        result = run_scenario_demo(console, scenario, assembly_dir=assembly, time_scale=time_scale)
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        else:
            console.print_json(json.dumps(result, default=str))
        return

    from mlops_kit.demo.context import DemoStageError

    try:
        summary = run_demo(
            console, assembly_dir=assembly, time_scale=time_scale, context_overrides=local.parse_context(context)
        )
    except DemoStageError as exc:
        fail(f"the demo stopped: {exc}")
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        console.print(f"[bold green]demo finished[/] in {summary['seconds']} s")


if __name__ == "__main__":
    app()
