"""Validate the training set against the use case's expectations (schema and statistics).

Writes ``validation.json`` (``passed``, a one-line ``summary``, every violation, per-column statistics);
the pipeline's DataValid condition fails the run with the summary when ``passed`` is false.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_kit.pipeline.usecase import Expectations, expectations_of, load_use_case
from sagemaker_jobs.layout import processing_input, processing_output, write_json


def column_statistics(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        series = frame[column]
        entry: dict[str, Any] = {"dtype": str(series.dtype), "null_fraction": float(series.isna().mean())}
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            described = series.describe()
            entry.update({k: float(described[k]) for k in ("mean", "std", "min", "max") if pd.notna(described[k])})
        else:
            entry["distinct"] = int(series.nunique(dropna=True))
        stats[str(column)] = entry
    return stats


Violation = dict[str, Any]


def _violation(check: str, column: str | None, expected: Any, observed: Any) -> Violation:
    return {"check": check, "column": column, "expected": expected, "observed": observed}


def _shape_violations(frame: pd.DataFrame, label: str, expectations: Expectations) -> list[Violation]:
    """Required columns and the label present; at least the minimum number of rows."""
    found = [
        _violation("missing_column", column, "present", "absent")
        for column in (*expectations.required_columns, label)
        if column not in frame.columns
    ]
    if len(frame) < expectations.min_rows:
        found.append(_violation("min_rows", None, expectations.min_rows, len(frame)))
    return found


def _label_violations(frame: pd.DataFrame, label: str, expectations: Expectations) -> list[Violation]:
    """The label is 0/1, its positive rate is in the expected range, and it has no nulls."""
    if label not in frame.columns or not len(frame):
        return []
    found = []
    values = set(frame[label].dropna().unique().tolist())
    if not values <= {0, 1}:
        found.append(_violation("binary_label", label, [0, 1], sorted(map(str, values))[:10]))
    else:
        rate = float(frame[label].astype(float).mean())
        low, high = expectations.label_rate
        if not low <= rate <= high:
            found.append(_violation("label_rate", label, [low, high], round(rate, 6)))
    if frame[label].isna().any():
        found.append(_violation("label_nulls", label, 0, int(frame[label].isna().sum())))
    return found


def _value_violations(frame: pd.DataFrame, expectations: Expectations) -> list[Violation]:
    """Each column's null fraction within its limit; numbers within their expected ranges."""
    found = []
    for column in frame.columns:
        limit = expectations.null_fraction.get(str(column), expectations.max_null_fraction)
        fraction = float(frame[column].isna().mean()) if len(frame) else 0.0
        if fraction > limit:
            found.append(_violation("null_fraction", str(column), limit, round(fraction, 6)))
    for column, (low, high) in expectations.ranges.items():
        if column in frame.columns:
            numbers = pd.to_numeric(frame[column], errors="coerce").dropna()
            outside = int(((numbers < low) | (numbers > high)).sum())
            if outside:
                found.append(_violation("range", column, [low, high], f"{outside} values outside"))
    return found


def validate(frame: pd.DataFrame, label: str, expectations: Expectations) -> dict[str, Any]:
    """Check ``frame``; return the report (never raises on bad data: bad data is a result)."""
    violations = [
        *_shape_violations(frame, label, expectations),
        *_label_violations(frame, label, expectations),
        *_value_violations(frame, expectations),
    ]
    summary = (
        f"{len(frame)} rows, all expectations met"
        if not violations
        else "; ".join(
            f"{v['check']}({v['column'] or '*'}): expected {v['expected']}, got {v['observed']}" for v in violations
        )
    )
    return {
        "passed": not violations,
        "summary": summary[:900],
        "violations": violations,
        "rows": len(frame),
        "statistics": column_statistics(frame),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--training-set", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    use_case = load_use_case(args.use_case)
    source = args.training_set or processing_input("training_set")
    frame = pd.read_parquet(source / "training_set.parquet")
    report = validate(frame, use_case.LABEL, expectations_of(use_case))
    write_json((args.output or processing_output("validation")) / "validation.json", report)
    print(f"validation: {'passed' if report['passed'] else 'FAILED'}: {report['summary']}")
    return report


if __name__ == "__main__":
    main()
