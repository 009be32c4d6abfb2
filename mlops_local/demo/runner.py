"""Run the demo stages in lifecycle order on one in-process emulator."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_kit.cli.console import step
from mlops_local.demo import abtest, batch, drift, features, platform, quality, serving, training
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
    ("batch", batch.run),
    ("drift", drift.run),
    ("abtest", abtest.run),
    ("quality", quality.run),  # last: it moves the clock on by the label delay
]


# The demo's own config on top of cdk.json (whose approval page is off: a deployment needs real addressees).
# The promotion stage is answered on the approval page, by a reviewer who stands for a session of the approver
# role; the scenarios (``mlops demo --scenario``) answer in the registry, as a reviewer in SageMaker Studio does.
DEMO_REVIEWER = "reviewer@example.com"
DEMO_OVERRIDES: dict[str, Any] = {
    "approval_page": {"enabled": True, "identities": {DEMO_REVIEWER: f"approver-role/{serving.REVIEWER}"}},
    "notifications": {"approver_emails": [DEMO_REVIEWER]},
}


def demo_overrides(extra: dict[str, Any] | None) -> dict[str, Any]:
    """``{"mlops": ...}``: the demo's config with ``extra`` (``-c``, ``{"mlops": {...}}``) over it, key by key
    (other addressees given with ``-c notifications.approver_emails=...`` need ``approval_page.identities`` too)."""

    def merge(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        for key, value in new.items():
            into[key] = (
                merge(into[key], value) if isinstance(value, dict) and isinstance(into.get(key), dict) else value
            )
        return into

    merged = merge(json.loads(json.dumps(DEMO_OVERRIDES)), (extra or {}).get("mlops") or {})
    return {**(extra or {}), "mlops": merged}


def run_demo(
    console: Console,
    *,
    assembly_dir: Path | None = None,
    pace: float = 0.0,
    context_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Synthesize (unless ``assembly_dir`` is given), start the emulator, run every stage; return a summary.

    Raises ValueError when both ``assembly_dir`` and ``context_overrides`` are given: an assembly is already
    synthesized, so the overrides could not be applied.
    """
    if assembly_dir is not None and context_overrides:
        raise ValueError(
            f"config overrides {json.dumps(context_overrides.get('mlops', context_overrides))} cannot change the "
            f"already synthesized --assembly {assembly_dir}: drop --assembly and the demo synthesizes with them"
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlops-demo-") as tmp:
        workdir = Path(tmp)
        if assembly_dir is None:
            with step("Synthesizing the CDK app (cdk-nag AwsSolutions checks included)"):
                assembly = synthesize(workdir / "cdk.out", context_overrides=demo_overrides(context_overrides))
        else:
            assembly = CloudAssembly.load(assembly_dir)
        with Emulator(pace=pace, workdir=workdir / "emulator") as aws:
            context = DemoContext(emulator=aws, assembly=assembly, console=console, workdir=workdir)
            for name, stage in STAGES:
                console.rule(f"[bold]{name}")
                context.summary[name] = stage(context)
    context.summary["seconds"] = round(time.monotonic() - started, 1)
    return context.summary


def scenario_overrides(name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``mlops`` config a scenario runs with: its own overrides plus ``extra`` (from ``-c``).

    Raises ValueError when ``extra`` contradicts a value the scenario needs (the scenario would not show what it
    says), KeyError for an unknown scenario.
    """
    from mlops_local.demo.scenarios import SCENARIOS

    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}")
    merged: dict[str, Any] = json.loads(json.dumps(SCENARIOS[name].overrides))

    def merge(into: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for key, value in new.items():
            where = f"{path}.{key}" if path else key
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value, where)
            elif key in into and into[key] != value:
                given, needed = json.dumps(value), json.dumps(into[key])
                raise ValueError(f"scenario {name} sets {where}={needed}; -c {where}={given} contradicts it")
            else:
                into[key] = value

    merge(merged, extra or {}, "")
    return merged


def run_scenario_demo(
    console: Console,
    name: str,
    *,
    assembly_dir: Path | None = None,
    pace: float = 0.0,
    context_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One promotion scenario (see :mod:`mlops_local.demo.scenarios`) on a fresh emulator, with the scenario's
    config plus ``context_overrides`` (``{"mlops": {...}}``).

    Raises ValueError when ``assembly_dir`` is given but the run needs config the assembly cannot be known to have
    (the scenario's own overrides, or ``context_overrides``): config is applied by synthesizing, never ignored.
    """
    from mlops_local.demo.scenarios import SCENARIOS, run_scenario

    overrides = scenario_overrides(name, (context_overrides or {}).get("mlops"))
    with tempfile.TemporaryDirectory(prefix="mlops-scenario-") as tmp:
        workdir = Path(tmp)
        if assembly_dir is None:
            with step(f"Synthesizing the CDK app for scenario {name}"):
                mlops = {"mlops": overrides} if overrides else None
                assembly = synthesize(workdir / "cdk.out", context_overrides=mlops)
        elif overrides:
            raise ValueError(
                f"scenario {name} runs with config {json.dumps(overrides)}, which --assembly {assembly_dir} was not "
                "necessarily synthesized with: drop --assembly and the demo synthesizes with it"
            )
        else:
            assembly = CloudAssembly.load(assembly_dir)
        with Emulator(pace=pace, workdir=workdir / "emulator") as aws:
            context = DemoContext(emulator=aws, assembly=assembly, console=console, workdir=workdir)
            console.rule(f"[bold]scenario {name}: {SCENARIOS[name].description}")
            return run_scenario(name, context)
