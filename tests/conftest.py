"""Shared fixtures: the app synthesized once per test run, and an in-process emulator per test."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from tests.support import (
    SESSION_SYNTHS,
    TEST_ROLLOUT,
    record_session_environment,
    session_synth,
    shared_synth,
    synthesize_ahead,
)

if TYPE_CHECKING:  # imported where used: a unit test file runs without loading moto or the CDK
    from mlops_local.deploy import CloudAssembly
    from mlops_local.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
# jsii and the CDK CLI must run on the virtualenv's Node 24, not the machine's end-of-life Node 20.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# One OpenMP thread per test process: xdist already runs one worker per core, and oversubscribed OpenMP
# (scikit-learn's gradient boosting) spins for seconds on a loaded machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# No test result may depend on measured time: Hypothesis' per-example deadline (200 ms) and its too-slow health
# check fail property tests on a loaded machine (two workers, other jobs) that pass on an idle one.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


# The suite's app: optional features default to off in the config, and the tests synthesize them switched on, so the
# infrastructure assertions, the cdk-nag checks and the deployments into the emulator cover them too; promotions
# bake for minutes (see TEST_ROLLOUT).
SUITE_CONFIG: dict[str, Any] = {
    "mlops": {
        "abtest": {"http_router": True},
        "rollout": TEST_ROLLOUT,
        # Each addressee stands for a session of the approver role (how the demo's reviewers sign in).
        "approval_page": {
            "enabled": True,
            "identities": {
                "reviewer@example.com": "approver-role/reviewer",
                "second.reviewer@example.com": "approver-role/second-reviewer",
            },
        },
        "notifications": {"approver_emails": ["reviewer@example.com", "second.reviewer@example.com"]},
    }
}


def pytest_configure(config: pytest.Config) -> None:
    record_session_environment()  # what the session's synths run in, whatever a test sets later
    if not config.pluginmanager.hasplugin("xdist"):  # `-p no:xdist`: the fixture xdist would provide
        from tests import without_xdist

        config.pluginmanager.register(without_xdist, "mlops-worker-id-without-xdist")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (``make test``) hands out the longest work first (see :mod:`tests.scheduling`)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import LongestFirstScheduling

    return LongestFirstScheduling(config, log)


cloud_assembly = session_synth(
    "cloud_assembly",
    "cdk.out",
    SUITE_CONFIG,
    "The real app (cdk.json context with SUITE_CONFIG over it), synthesized once per test run and shared by "
    "every xdist worker.",
)


@pytest.fixture(scope="session", autouse=True)
def _synthesize_ahead(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[None]:
    """Synthesize the session's assemblies that the collected tests need (see :data:`SESSION_SYNTHS`) while the
    first tests run: a synth is a separate process, so the workers keep both cores busy instead of one waiting on
    the other's synth. One after another, the app's own (``cloud_assembly``, which the longest tests wait for) first:
    started together, three synths shared the cores and the first finished only when all did (the demo test waited
    36 s for it). Nothing starts when no collected test needs one (a unit test file)."""
    needed = {
        name for item in request.session.items for name in getattr(item, "fixturenames", ()) if name in SESSION_SYNTHS
    }
    # pytest makes the worker's temp dir on the first getbasetemp() (removing a stale one first), unguarded: threads
    # racing to that first call fail with FileExistsError, and the fixture that loses fails every test using it.
    # Made here, before any thread starts, every later call returns it.
    tmp_path_factory.getbasetemp()
    ordered = sorted(needed, key=lambda name: (name != "cloud_assembly", name))

    def synthesize_in_order() -> None:
        for name in ordered:
            synthesize_ahead(tmp_path_factory, worker_id, *SESSION_SYNTHS[name])

    thread = threading.Thread(target=synthesize_in_order, daemon=True)
    thread.start()
    yield
    thread.join()  # no synth outlives the session


@pytest.fixture(scope="session")
def assembly_with(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Any:
    """``assembly_with("guardrails", {"mlops": {...}})``: the app synthesized with these config overrides over the
    suite's short bakes (:data:`tests.support.TEST_ROLLOUT`; a ``rollout`` key the overrides set wins), once per run.
    The optional features stay off unless they switch them on."""

    def synth(name: str, overrides: dict[str, Any]) -> CloudAssembly:
        mlops = overrides.get("mlops", {})
        rollout = {**TEST_ROLLOUT, **mlops.get("rollout", {})}
        return shared_synth(
            tmp_path_factory, worker_id, f"cdk.out.{name}", {**overrides, "mlops": {**mlops, "rollout": rollout}}
        )

    return synth


@pytest.fixture(scope="session")
def templates(cloud_assembly: CloudAssembly) -> dict[str, dict[str, Any]]:
    """Each stack's template by stack name (e.g. ``templates["mlops-kit-data"]``)."""
    return {s.stack_name: json.loads(s.template_file.read_text()) for s in cloud_assembly.stacks}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """An in-process emulator on its own virtual clock (a 60 s Wait state takes no wall time)."""
    from mlops_local.emulator import Emulator

    with Emulator(workdir=tmp_path / "emulator") as aws:
        yield aws
