"""The benchmark harness measures each workload's own peak memory, whatever its parent holds."""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.harness import run_isolated


def test_an_isolated_run_reports_its_own_peak_not_its_parents() -> None:
    parent_data = np.ones(64 * 2**20)  # 512 MiB resident in this (the parent) process

    measured = run_isolated(sys.executable, "benchmarks.harness", "machine")

    assert parent_data.sum() == 64 * 2**20
    assert "cores" in measured.result
    assert 0 < measured.peak_mb < 256  # ru_maxrss would report the parent's 512+ MiB here
