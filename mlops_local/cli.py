"""`mlops local ...`: the embedded AWS emulator as a server, and deploying the CDK app into it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, step, table

app = typer.Typer(help="The embedded AWS emulator: serve it, deploy the app into it, check it.", no_args_is_help=True)

DEFAULT_ENDPOINT = "http://localhost:4566"


def parse_context(pairs: list[str] | None) -> dict[str, Any]:
    """``-c training.seed=7 -c rollout.mode=guardrails`` -> ``{"mlops": {"training": {"seed": 7}, ...}}``."""
    config: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE (e.g. rollout.mode=guardrails), got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return {"mlops": config} if config else {}


ContextOption = Annotated[
    list[str] | None,
    typer.Option("--context", "-c", help="Override a platform config key, e.g. -c rollout.mode=guardrails."),
]


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 4566,
    pace: Annotated[
        float,
        typer.Option(
            help="Real seconds per emulated second while nothing runs: 0.01 turns an hour of baking into 36 s; "
            "0 jumps straight to the next thing due."
        ),
    ] = 0.01,
    deploy: Annotated[bool, typer.Option(help="Deploy the CDK app once the server is up.")] = True,
    context: ContextOption = None,
) -> None:
    """Run the emulator on http://localhost:PORT until Ctrl-C, for the CDK CLI, the AWS CLI and `mlops`."""
    from mlops_local.deploy import LocalDeployer, synthesize
    from mlops_local.emulator import Emulator

    with (
        tempfile.TemporaryDirectory(prefix="mlops-serve-") as tmp,
        Emulator(server=True, port=port, pace=pace, workdir=Path(tmp) / "emulator") as aws,
    ):
        console.print(f"[green]✓[/] emulator listening on [bold]{aws.endpoint_url}[/]")
        if deploy:
            with step("Synthesizing the CDK app"):
                assembly = synthesize(Path(tmp) / "cdk.out", context_overrides=parse_context(context))
            deployer = LocalDeployer(
                aws.session(), endpoint_url=aws.endpoint_url, account=aws.account, region=aws.region
            )
            with step("Deploying every stack"):
                results = deployer.deploy(assembly)
            console.print(table("Stacks", ["stack", "status"], [[r.stack_name, r.status] for r in results]))
        console.print("In another shell:")
        for name, value in aws.environment().items():
            console.print(f"  export {name}={value}")
        console.print("Press Ctrl-C to stop (all state is in memory and goes with it).")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")


@app.command("deploy")
def deploy_command(
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="Emulator server (default: $AWS_ENDPOINT_URL, else http://localhost:4566)."),
    ] = None,
    assembly: Annotated[Path | None, typer.Option(help="Deploy this cdk.out instead of synthesizing.")] = None,
    stack: Annotated[list[str] | None, typer.Option(help="Only these stacks (repeatable).")] = None,
    context: ContextOption = None,
) -> None:
    """Synthesize the app and deploy it into a running `mlops local serve`, printing stack outputs."""
    import boto3
    from botocore.exceptions import EndpointConnectionError

    from mlops_local.deploy import CloudAssembly, DeployError, LocalDeployer, SynthError, synthesize
    from mlops_local.emulator import DEFAULT_ACCOUNT

    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    session = boto3.Session(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
    try:
        session.client("sts", endpoint_url=url).get_caller_identity()
    except EndpointConnectionError:
        fail(f"no emulator at {url}: start one with `mlops local serve` (or `make local-server`) first")
    with tempfile.TemporaryDirectory(prefix="mlops-deploy-") as tmp:
        try:
            if assembly is None:
                with step("Synthesizing the CDK app"):
                    cloud_assembly = synthesize(Path(tmp) / "cdk.out", context_overrides=parse_context(context))
            else:
                cloud_assembly = CloudAssembly.load(assembly)
            deployer = LocalDeployer(session, endpoint_url=url, account=DEFAULT_ACCOUNT, region=region)
            with step(f"Deploying into {url}"):
                results = deployer.deploy(cloud_assembly, stacks=stack)
        except (SynthError, DeployError) as exc:
            fail(str(exc))
    for result in results:
        console.print(
            table(
                f"{result.stack_name}: {result.status}",
                ["output", "value"],
                [[k, v] for k, v in sorted(result.outputs.items())],
            )
        )


@app.command()
def doctor() -> None:
    """Check the installed moto against every patch point the emulator relies on."""
    from mlops_local.compat import SUPPORTED_MOTO_VERSION, UnsupportedMotoVersionError, check_moto_version
    from mlops_local.patching import all_patch_points

    try:
        check_moto_version()
        console.print(f"[green]✓[/] moto {SUPPORTED_MOTO_VERSION}")
    except UnsupportedMotoVersionError as exc:
        fail(str(exc))
    rows, broken = [], 0
    for point in all_patch_points():
        try:
            ok = not point.signature or point.current_signature() == point.signature
        except (AttributeError, ImportError, KeyError):
            ok = False
        broken += not ok
        rows.append(["[green]ok[/]" if ok else "[red]moved[/]", point.name, f"{point.module}.{point.attribute}"])
    console.print(table("Patch points", ["state", "name", "target"], rows))
    if broken:
        fail(f"{broken} patch points no longer match moto; see tests/emulator")


def demo(
    assembly: Annotated[Path | None, typer.Option(help="Use this cdk.out instead of synthesizing.")] = None,
    pace: Annotated[
        float,
        typer.Option(
            help="Real seconds per emulated second while the lifecycle waits (bake times, approvals): 0, the "
            "default, jumps straight to the next thing due; 0.01 lets an hour pass in 36 s to watch it."
        ),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON at the end.")] = False,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Run one promotion scenario instead: happy, first-deploy, shadow-regression, approval-rejected, "
            "approval-timeout, canary-alarm, guardrails-rollback, concurrent-promotion, rollback."
        ),
    ] = None,
    context: ContextOption = None,
) -> None:
    """The local rehearsal: deploy every stack into the embedded emulator and run the lifecycle on it.

    Config is applied or refused, never ignored: ``-c`` is merged into a scenario's own config (a contradiction is
    refused), and ``--assembly`` (already synthesized) is refused when ``-c`` or the scenario needs config.
    """
    from mlops_local.demo.runner import run_demo, run_scenario_demo, scenario_overrides

    overrides = parse_context(context)
    if scenario is not None:
        from mlops_local.demo.scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise typer.BadParameter(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        try:
            needed = scenario_overrides(scenario, overrides.get("mlops"))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if assembly is not None and needed:
            raise typer.BadParameter(
                f"scenario {scenario} runs with config {json.dumps(needed)}, which --assembly {assembly} was not "
                "necessarily synthesized with: drop --assembly and the demo synthesizes with it"
            )
        result = run_scenario_demo(console, scenario, assembly_dir=assembly, pace=pace, context_overrides=overrides)
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        else:
            console.print_json(json.dumps(result, default=str))
        return

    from mlops_local.demo.context import DemoStageError

    if assembly is not None and overrides:
        raise typer.BadParameter(
            f"-c cannot change the already synthesized --assembly {assembly}: drop --assembly and the demo "
            "synthesizes with the overrides"
        )
    try:
        summary = run_demo(console, assembly_dir=assembly, pace=pace, context_overrides=overrides)
    except DemoStageError as exc:
        fail(f"the demo stopped: {exc}")
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        console.print(f"[bold green]demo finished[/] in {summary['seconds']} s")
