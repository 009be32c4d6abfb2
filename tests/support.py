"""Helpers shared by tests in several folders."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from mlops_local.deploy import CloudAssembly


def tar_gz(files: dict[str, str]) -> bytes:
    """A gzipped tar of text files (a SageMaker ``model.tar.gz`` or ``sourcedir.tar.gz``), built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def create_pk_sk_table(dynamodb: Any, name: str) -> str:
    """An on-demand table keyed like the kit's tables (string ``pk`` hash key, string ``sk`` range key)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


# The rollout the suite's app is synthesized with (``cloud_assembly``): bakes of minutes, not the defaults' 30-minute
# shadow and four 10-minute canary steps, and an approval that times out after an hour, not 24. Every step, alarm and
# approval path runs as with the defaults (tests/unit/test_config.py checks the defaults, `make demo` runs them);
# each emulated minute costs the emulator live traffic, alarm evaluations and history polls. With these values the
# whole suite took 567 CPU-s instead of 649 (same machine, back to back). The floors: a 5-minute shadow bake holds 30
# request pairs at the tests' one request every 10 s (``shadow.min_pairs`` is 20); the canary-alarm scenario needs
# a step bake of 5 minutes for the error-rate alarm (2 of 3 one-minute periods) to fire inside the 25% step (with 4
# it fires at 50%), and 6 leaves a minute to spare.
TEST_ROLLOUT: dict[str, Any] = {"shadow_bake_minutes": 5, "bake_minutes": 6, "approval_timeout_hours": 1}

PIPELINE_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def deploy_with_features(aws: Any, assembly: Any) -> tuple[dict[str, str], Any]:
    """Deploy ``assembly`` into the emulator ``aws`` and fill its feature store with the pipeline tests' data (600
    customers, 8,000 transactions over the 60 days from ``PIPELINE_START``); returns the stack outputs and the data."""
    from mlops_kit.features import fraud
    from mlops_kit.features.store import deployed, deployed_names
    from mlops_local.deploy import LocalDeployer

    stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(assembly)
    outputs = {k: v for s in stacks for k, v in s.outputs.items()}
    data = fraud.generate(600, 8000, seed=3, start=PIPELINE_START, days=60)
    store = deployed(
        fraud.REGISTRY, aws.session(), deployed_names(outputs), clock=lambda: PIPELINE_START + dt.timedelta(days=60)
    )
    for group, frame in data.feature_rows().items():
        store.ingest(group, frame)
    return outputs, data


def with_transaction_ids(payloads: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` request rows cycled from ``payloads``, each with its own transaction id (``T0``, ``T1``, ...): the
    business key ground truth joins on."""
    return [
        {**p, "transaction": {**p["transaction"], "transaction_id": f"T{i}"}}
        for i, p in enumerate((payloads * (count // max(len(payloads), 1) + 1))[:count])
    ]


@contextlib.contextmanager
def platform_with_production(assembly: Any, workdir: Path) -> Iterator[tuple[Any, Any]]:
    """Every stack of ``assembly`` deployed on a fresh emulator with version 1 promoted to Production; yields the
    demo context and the scenario data (the fixture of the promotion integration tests)."""
    from rich.console import Console

    from mlops_local.demo.context import DemoContext
    from mlops_local.demo.scenarios import _first, fixture_data
    from mlops_local.deploy import LocalDeployer
    from mlops_local.emulator import Emulator

    with Emulator(workdir=workdir / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=workdir)
        context.stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(assembly)
        data = fixture_data()
        _first(context, data)
        yield context, data


# A key policy that leaves every decision to IAM (the emulator's KMS tests create keys with it).
ALLOW_ALL_KEY_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}],
}


# The environment every synth of the session runs in: this process's as the session started (the root conftest records
# it in pytest_configure, before any test runs). Synths start in the background while tests run, and a test may set
# a variable (monkeypatch.setenv of AWS_DEFAULT_REGION, CDK_DEFAULT_ACCOUNT...) just then: read from os.environ at
# that moment, the session's assembly was synthesized for the test's environment.
_SESSION_ENVIRONMENT: dict[str, str] = {}


def record_session_environment() -> None:
    _SESSION_ENVIRONMENT.clear()
    _SESSION_ENVIRONMENT.update(os.environ)


def session_environment() -> dict[str, str]:
    """A copy of the environment recorded as the session started (this process's now if none was recorded)."""
    return dict(_SESSION_ENVIRONMENT or os.environ)


def shared_synth(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, overrides: dict[str, Any] | None
) -> CloudAssembly:
    """The app synthesized with the context ``overrides`` into ``<run's temp dir>/<name>``, once per run: the
    first xdist worker to ask synthesizes (under a file lock; or links the assembly an earlier run synthesized
    from the same inputs, see :mod:`tests.synth_cache`), the others load its assembly."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    from mlops_local.deploy import CloudAssembly
    from tests.synth_cache import SynthCache

    outdir = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (outdir / "manifest.json").exists():
            SynthCache().synthesized(outdir, overrides, base_env=session_environment())
    return CloudAssembly.load(outdir)


# Session fixtures that stand for one shared synth, by fixture name: (assembly directory name, context overrides).
# The root conftest starts the synth of each one a collected test uses (directly or through another fixture) at the
# start of the session, in the background; the fixture then finds it done or waits for it.
SESSION_SYNTHS: dict[str, tuple[str, dict[str, Any]]] = {}


def session_synth(name: str, directory: str, overrides: dict[str, Any], doc: str | None = None) -> Any:
    """The session fixture ``name`` (assign it to a module attribute of that name) standing for the app synthesized
    with ``overrides`` into ``<run's temp dir>/<directory>`` by :func:`shared_synth`, registered in
    :data:`SESSION_SYNTHS` so the session starts its synth in the background."""
    import pytest

    SESSION_SYNTHS[name] = (directory, overrides)

    def assembly(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> CloudAssembly:
        return shared_synth(tmp_path_factory, worker_id, directory, overrides)

    assembly.__doc__ = doc
    return pytest.fixture(scope="session", name=name)(assembly)


def synthesize_ahead(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, overrides: dict[str, Any]
) -> None:
    """:func:`shared_synth` in the background: a failure is left for the fixture, whose own call synthesizes again
    and reports it in the test that needs the assembly."""
    with contextlib.suppress(Exception):
        shared_synth(tmp_path_factory, worker_id, name, overrides)
