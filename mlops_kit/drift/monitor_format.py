"""Model Monitor's report files (``statistics.json``, ``constraints.json``, ``constraint_violations.json``).

SageMaker Model Monitor is closed to new customers, but its file formats are what tools and people expect, so
the drift job writes them next to the kit's own report JSON. Differences, on purpose:

- numeric distributions are the baseline's decile bins (``distribution.kll.buckets`` with ``lower_bound``,
  ``upper_bound``, ``count``; the outer bounds are the data's min/max), without a KLL sketch;
- ``monitoring_config.distribution_constraints.comparison_method`` is ``"PSI"`` with the act threshold;
- statistics that are undefined (no values) are left out rather than written as NaN: every file is strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_kit.drift.baseline import (
    Baseline,
    CategoricalBaseline,
    FeatureBaseline,
    NumericBaseline,
    numeric_values,
)
from mlops_kit.drift.report import DriftReport, FeatureDrift
from mlops_kit.drift.stats import MISSING, Thresholds

FORMAT_VERSION = 0.0


def _inferred_type(feature: FeatureBaseline) -> str:
    if isinstance(feature, CategoricalBaseline):
        return "String"
    return "Integral" if feature.integral else "Fractional"


def _numeric_buckets(
    feature: NumericBaseline, counts: list[int], low: float | None, high: float | None
) -> list[dict[str, Any]]:
    # Outer bins are open-ended; their written bounds are the data's min/max (the baseline's when the current
    # values are not at hand), widened to the nearest edge so that lower_bound <= upper_bound always holds.
    inner = [float(e) for e in feature.edges]
    low = low if low is not None else feature.minimum
    high = high if high is not None else feature.maximum
    low = low if low is not None else (inner[0] if inner else 0.0)
    high = high if high is not None else (inner[-1] if inner else low)
    if inner:
        low, high = min(low, inner[0]), max(high, inner[-1])
    bounds = [low, *inner, max(high, low)]
    return [{"lower_bound": bounds[i], "upper_bound": bounds[i + 1], "count": int(n)} for i, n in enumerate(counts)]


def _numeric_entry(
    feature: NumericBaseline, present: int, missing: int, counts: list[int], summary: Mapping[str, float | None]
) -> dict[str, Any]:
    numbers = {key: value for key, value in summary.items() if value is not None and math.isfinite(value)}
    return {
        "name": feature.name,
        "inferred_type": _inferred_type(feature),
        "numerical_statistics": {
            "common": {"num_present": present, "num_missing": missing},
            **numbers,
            "distribution": {
                "kll": {
                    "buckets": _numeric_buckets(feature, counts, summary.get("min"), summary.get("max"))
                    if present
                    else []
                }
            },
        },
    }


def _categorical_entry(
    feature: CategoricalBaseline, present: int, missing: int, counts: list[int], distinct: int
) -> dict[str, Any]:
    labels = feature.bin_labels()
    return {
        "name": feature.name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": present, "num_missing": missing},
            "distinct_count": distinct,
            "distribution": {
                "categorical": {
                    "buckets": [{"value": v, "count": int(n)} for v, n in zip(labels, counts, strict=True) if n]
                }
            },
        },
    }


def baseline_statistics(baseline: Baseline) -> dict[str, Any]:
    """``statistics.json`` of the reference data the baseline was computed from."""
    features = []
    for feature in baseline.all_columns():
        present = feature.row_count - feature.missing_count
        if isinstance(feature, NumericBaseline):
            summary = {
                "mean": feature.mean,
                "sum": feature.total,
                "std_dev": feature.std,
                "min": feature.minimum,
                "max": feature.maximum,
            }
            features.append(
                _numeric_entry(feature, present, feature.missing_count, feature.bin_counts.tolist(), summary)
            )
        else:
            features.append(
                _categorical_entry(
                    feature, present, feature.missing_count, feature.category_counts.tolist(), feature.distinct_count
                )
            )
    return {"version": FORMAT_VERSION, "dataset": {"item_count": baseline.row_count}, "features": features}


def current_statistics(report: DriftReport, baseline: Baseline, current: pd.DataFrame | None = None) -> dict[str, Any]:
    """``statistics.json`` of the current data, binned on the baseline's bins, from a drift report.

    Counts come from the report (so this works for reports built from Athena counts too); mean, sum,
    std_dev, min and max of numeric features are added when the ``current`` DataFrame is given. Features
    absent from the current data are left out, as Model Monitor does. Raises ValueError when the report was
    not made from this baseline (different features).
    """
    by_name = {f.name: f for f in report.all_columns}
    if set(by_name) != {f.name for f in baseline.all_columns()}:
        raise ValueError("the report and the baseline do not have the same features")
    features = []
    for feature in baseline.all_columns():
        drift = by_name[feature.name]
        if "missing from the current data" in drift.notes:
            continue
        counts, missing = _counts_of(drift, feature)
        present = drift.current_rows - missing
        if isinstance(feature, NumericBaseline):
            summary: dict[str, float | None] = {}
            if current is not None and feature.name in current.columns:
                summary = _summary(current[feature.name])
            features.append(_numeric_entry(feature, present, missing, counts, summary))
        else:
            distinct = sum(1 for n in counts[:-1] if n) + len(drift.unseen_categories)
            features.append(_categorical_entry(feature, present, missing, counts, distinct))
    return {"version": FORMAT_VERSION, "dataset": {"item_count": report.current_rows}, "features": features}


def _counts_of(drift: FeatureDrift, feature: FeatureBaseline) -> tuple[list[int], int]:
    # The report keeps shares of all current rows; counts are recovered exactly by rounding share * rows.
    counts = [round(share * drift.current_rows) for share in drift.current_proportions]
    missing = counts.pop() if drift.bins and drift.bins[-1] == MISSING else 0
    expected = feature.counts.counts.size
    return counts[:expected], missing


def _summary(column: pd.Series) -> dict[str, float | None]:
    values, _ = numeric_values(column)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {}
    return {
        "mean": float(finite.mean()),
        "sum": float(finite.sum()),
        "std_dev": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
    }


def constraints(baseline: Baseline, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """``constraints.json`` suggested by the baseline: types, completeness, domains, the PSI threshold."""
    limits = thresholds or Thresholds()
    features = []
    for feature in baseline.all_columns():
        entry: dict[str, Any] = {
            "name": feature.name,
            "inferred_type": _inferred_type(feature),
            "completeness": 1.0 - feature.missing_fraction,
        }
        if isinstance(feature, NumericBaseline):
            entry["num_constraints"] = {"is_non_negative": feature.minimum is not None and feature.minimum >= 0}
        else:
            entry["string_constraints"] = {"domains": list(feature.categories)}
        features.append(entry)
    return {
        "version": FORMAT_VERSION,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": limits.act,
                "comparison_method": "PSI",
            },
        },
    }


def constraint_violations(report: DriftReport) -> dict[str, Any]:
    """``constraint_violations.json``: ``{"violations": [{feature_name, constraint_check_type, description}]}``."""
    return {"violations": [v.to_dict() for v in report.violations]}


def dump_json(document: Any) -> str:
    """Strict JSON text (raises ValueError on NaN or infinity, so a broken number never reaches S3)."""
    return json.dumps(document, allow_nan=False, indent=2)


def write_run_files(
    directory: str | Path,
    report: DriftReport,
    baseline: Baseline,
    *,
    current: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write a run's files into ``directory``: Model Monitor's three and the kit's ``drift_report.json``.

    Returns the paths by file name. Raises OSError when the directory cannot be written and ValueError as
    :func:`current_statistics` does.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    documents = {
        "statistics.json": current_statistics(report, baseline, current),
        "constraints.json": constraints(baseline, report.thresholds),
        "constraint_violations.json": constraint_violations(report),
        "drift_report.json": report.to_dict(),
    }
    written = {}
    for name, document in documents.items():
        path = target / name
        path.write_text(dump_json(document))
        written[name] = path
    return written
