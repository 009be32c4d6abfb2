"""Drift monitoring statistics: baselines, PSI/KS/chi-squared, reports (pure numpy/scipy/pandas, no AWS).

Modules:

- :mod:`~mlops_kit.drift.stats`: the PSI contract, PSI from counts, KS, chi-squared, severity thresholds.
- :mod:`~mlops_kit.drift.baseline`: :func:`compute_baseline` and the versioned baseline JSON.
- :mod:`~mlops_kit.drift.report`: :func:`drift_report` (DataFrame) and :func:`drift_report_from_counts`.
- :mod:`~mlops_kit.drift.athena`: per-bin count SQL for Athena (tested on DuckDB).
- :mod:`~mlops_kit.drift.capture`: SageMaker data-capture JSON lines -> DataFrame.
- :mod:`~mlops_kit.drift.seasonality`: baselines from a window of captured data.
- :mod:`~mlops_kit.drift.monitor_format`: Model Monitor's statistics/constraints/violations files.
- :mod:`~mlops_kit.drift.html_report`: the self-contained HTML report and terminal rows (imports matplotlib,
  so it is not imported here).
"""

from mlops_kit.drift.athena import CountQuery, count_query
from mlops_kit.drift.baseline import Baseline, BaselineError, compute_baseline
from mlops_kit.drift.capture import CaptureData, read_capture
from mlops_kit.drift.monitor_format import write_run_files
from mlops_kit.drift.report import DriftReport, FeatureDrift, Violation, drift_report, drift_report_from_counts
from mlops_kit.drift.seasonality import EmptyWindowError, Window, baseline_from_window, baseline_window
from mlops_kit.drift.stats import (
    BinCounts,
    Chi2Result,
    KsResult,
    Severity,
    Thresholds,
    chi2_from_counts,
    ks_test,
    numeric_bin_counts,
    psi_from_counts,
)

__all__ = [
    "Baseline",
    "BaselineError",
    "BinCounts",
    "CaptureData",
    "Chi2Result",
    "CountQuery",
    "DriftReport",
    "EmptyWindowError",
    "FeatureDrift",
    "KsResult",
    "Severity",
    "Thresholds",
    "Violation",
    "Window",
    "baseline_from_window",
    "baseline_window",
    "chi2_from_counts",
    "compute_baseline",
    "count_query",
    "drift_report",
    "drift_report_from_counts",
    "ks_test",
    "numeric_bin_counts",
    "psi_from_counts",
    "read_capture",
    "write_run_files",
]
