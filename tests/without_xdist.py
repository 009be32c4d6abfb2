"""xdist's ``worker_id`` fixture for a run without xdist (``pytest -p no:xdist``), registered by the root conftest
only then: the session fixtures use it to find the run's shared temp dir, so without it every test errored."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def worker_id() -> str:
    return "master"  # what xdist itself answers outside a worker
