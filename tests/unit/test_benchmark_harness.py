"""The benchmark harness measures each workload's own peak memory, whatever its parent holds."""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.harness import run_isolated


def test_an_isolated_run_reports_its_own_peak_not_its_parents() -> None:
    parent_data = np.ones(16 * 2**20)  # 128 MiB resident in this (the parent) process; the child needs ~15 MiB

    measured = run_isolated(sys.executable, "benchmarks.harness", "machine")

    assert parent_data.sum() == 16 * 2**20
    assert "cores" in measured.result
    assert 0 < measured.peak_mb < 96  # ru_maxrss would report the parent's 128+ MiB here
