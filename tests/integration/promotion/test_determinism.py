"""The promotion scenarios give the same history on a loaded machine as on an idle one, run after run.

Time in the emulator is virtual and moves only when everything in flight has settled, so no scenario may depend on
how fast the machine is. This soak test proves it the hard way: every promotion scenario, ``SOAK_RUNS`` times (20 by
default) while a CPU hog keeps both cores busy, each run's execution histories (event types, states entered and
their emulated times) and end state compared with the first run's. It takes long, so it is marked ``soak`` and left
out of ``make test``: run it with ``make soak``.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import SCENARIOS, run_scenario
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import Emulator

pytestmark = pytest.mark.soak

RUNS = int(os.environ.get("SOAK_RUNS", "20"))
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)  # every run starts at the same emulated instant


def _spin() -> None:
    while True:
        pass


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """Both cores busy with work that has nothing to do with the emulator."""
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)]
    for hog in hogs:
        hog.start()
    yield
    for hog in hogs:
        hog.terminate()
        hog.join()


def _histories(aws: Emulator, machine_arn: str) -> list[list[tuple[str, str | None, float]]]:
    """Each execution of the promotion state machine, oldest first: (event type, state entered, emulated seconds
    since the execution started) for every event of its history."""
    sfn = aws.client("stepfunctions")
    executions = sorted(
        sfn.list_executions(stateMachineArn=machine_arn)["executions"], key=lambda e: (e["startDate"], e["name"])
    )
    histories = []
    for execution in executions:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = sfn.get_execution_history(
                executionArn=execution["executionArn"], maxResults=1000, **({"nextToken": token} if token else {})
            )
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        started = execution["startDate"]
        histories.append(
            [
                (
                    e["type"],
                    (e.get("stateEnteredEventDetails") or {}).get("name"),
                    (e["timestamp"] - started).total_seconds(),
                )
                for e in events
            ]
        )
    return histories


def _run(name: str, assembly: CloudAssembly, workdir: Path) -> dict[str, Any]:
    with Emulator(start=START, workdir=workdir / "emulator") as aws:
        histories: list[list[tuple[str, str | None, float]]] = []
        read: list[bool] = []

        def read_histories(context: DemoContext) -> None:
            read.append(True)
            # Every promotion state machine's: the platform's, and each environment's (the environments scenario).
            machines = sorted(
                k
                for s in context.stacks
                for k in s.outputs
                if k.startswith("Promotion") and k.endswith("StateMachineArn")
            )
            histories.extend(e for machine in machines for e in _histories(aws, context.output(machine)))

        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=workdir)
        # Read before a scenario that ends with `cdk destroy` deletes the state machines, else after it.
        context.before_teardown = read_histories
        result = run_scenario(name, context)
        if not read:
            read_histories(context)
    ignored = {"seconds", "execution", "second_execution"}  # wall time and ARNs with random parts
    end = {k: v for k, v in result.items() if k not in ignored}
    return {"histories": histories, "end": _without_bucket_names(end)}


def _without_bucket_names(value: Any) -> Any:
    """``value`` with each S3 URI's bucket left out: CloudFormation names a bucket with a random suffix per
    deploy (``...storageartifacts08431d1f-uh4c82h5jvul``), so an environment's model code differs there only."""
    if isinstance(value, dict):
        return {k: _without_bucket_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_bucket_names(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"s3://[^/]+/", "s3://<bucket>/", value)
    return value


@pytest.mark.usefixtures("cpu_hog")
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_scenario_gives_the_same_history_every_run_under_load(
    name: str, cloud_assembly: CloudAssembly, assembly_with: Any, tmp_path: Path
) -> None:
    overrides = SCENARIOS[name].overrides
    assembly = assembly_with(name, {"mlops": overrides}) if overrides else cloud_assembly
    first = _run(name, assembly, tmp_path / "run-0")
    assert first["histories"], f"{name}: no promotion ran"

    for run in range(1, RUNS):
        again = _run(name, assembly, tmp_path / f"run-{run}")
        assert again == first, f"{name}: run {run} differs from run 0"
