"""The data stack (with the feature store) deployed into the in-process emulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlops_kit.features import fraud
from mlops_kit.features.store import DeployedStore, FeatureStore, deployed, deployed_names
from mlops_local.deploy import CloudAssembly, LocalDeployer
from mlops_local.emulator import Emulator

NOW = dt.datetime(2025, 3, 20, tzinfo=dt.UTC)


@pytest.fixture
def outputs(emulator: Emulator, cloud_assembly: CloudAssembly) -> dict[str, str]:
    """Deploy the data stack; its outputs."""
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    stack = next(s for s in cloud_assembly.stacks if s.stack_name.endswith("-data"))
    (result,) = deployer.deploy(cloud_assembly, stacks=[stack.stack_name])
    assert result.status == "CREATE_COMPLETE"
    return result.outputs


@pytest.fixture
def names(outputs: dict[str, str]) -> DeployedStore:
    return deployed_names(outputs)


@pytest.fixture
def store(emulator: Emulator, names: DeployedStore) -> FeatureStore:
    # "Now" for TTL checks: within 30 days of the records the tests write (March 2025).
    return deployed(fraud.REGISTRY, emulator.session(), names, clock=lambda: NOW)


@pytest.fixture(scope="session")
def small_fraud() -> Any:
    return fraud.generate(n_customers=60, n_transactions=300, seed=11, days=40)
