"""Run the demo stages in lifecycle order on one in-process emulator."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_kit.cli.console import step
from mlops_local.demo import abtest, drift, features, platform, serving, training
from mlops_local.demo.context import DemoContext
from mlops_local.deploy import CloudAssembly, synthesize
from mlops_local.emulator import Emulator

Stage = Callable[[DemoContext], dict[str, Any]]

# Each stage of the lifecycle adds itself here, in order.
STAGES: list[tuple[str, Stage]] = [
    ("platform", platform.run),
    ("features", features.run),
    ("training", training.train),
    ("serving", serving.first_deploy),
    ("retraining", training.retrain),
    ("promotion", serving.promote_candidate),
    ("drift", drift.run),
    ("abtest", abtest.run),
]


def run_demo(
    console: Console,
    *,
    assembly_dir: Path | None = None,
    pace: float = 0.0,
    context_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Synthesize (unless ``assembly_dir`` is given), start the emulator, run every stage; return a summary."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlops-demo-") as tmp:
        workdir = Path(tmp)
        if assembly_dir is None:
            with step("Synthesizing the CDK app (cdk-nag AwsSolutions checks included)"):
                assembly = synthesize(workdir / "cdk.out", context_overrides=context_overrides)
        else:
            assembly = CloudAssembly.load(assembly_dir)
        with Emulator(pace=pace, workdir=workdir / "emulator") as aws:
            context = DemoContext(emulator=aws, assembly=assembly, console=console, workdir=workdir)
            for name, stage in STAGES:
                console.rule(f"[bold]{name}")
                context.summary[name] = stage(context)
    context.summary["seconds"] = round(time.monotonic() - started, 1)
    return context.summary


def run_scenario_demo(
    console: Console, name: str, *, assembly_dir: Path | None = None, pace: float = 0.0
) -> dict[str, Any]:
    """One promotion scenario (see :mod:`mlops_local.demo.scenarios`) on a fresh emulator."""
    from mlops_local.demo.scenarios import SCENARIOS, run_scenario

    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix="mlops-scenario-") as tmp:
        workdir = Path(tmp)
        if assembly_dir is None:
            with step(f"Synthesizing the CDK app for scenario {name}"):
                overrides = {"mlops": scenario.overrides} if scenario.overrides else None
                assembly = synthesize(workdir / "cdk.out", context_overrides=overrides)
        else:
            assembly = CloudAssembly.load(assembly_dir)
        with Emulator(pace=pace, workdir=workdir / "emulator") as aws:
            context = DemoContext(emulator=aws, assembly=assembly, console=console, workdir=workdir)
            console.rule(f"[bold]scenario {name}: {scenario.description}")
            return run_scenario(name, context)
