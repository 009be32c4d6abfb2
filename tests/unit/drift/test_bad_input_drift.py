"""Bad or thin input to drift detection, as a new user meets it: each case gives a defined, correct outcome.

Policies (README, "Drift"): a window with fewer than ``min_window_rows`` rows or a baseline with fewer than
``min_baseline_rows`` rows is ``insufficient_data``: its PSI is reported but never published as an alarm
datapoint; values outside a constant (or top-heavy) baseline's range have a bin of their own.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_kit.drift import compute_baseline, drift_report, drift_report_from_counts
from mlops_kit.drift.report import DriftReport
from mlops_kit.drift.stats import (
    DEFAULT_MIN_BASELINE_ROWS,
    DEFAULT_MIN_WINDOW_ROWS,
    BinCounts,
    Severity,
    Thresholds,
    numeric_bin_counts,
)
from mlops_kit.monitoring import naming
from mlops_kit.monitoring.job import DriftInputError
from mlops_kit.monitoring.publish import metric_data
from sagemaker_jobs import drift as drift_job

T = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)


def frame(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3 + shift, 1.0, rows),
            "age": rng.normal(40 + 10 * shift, 10, rows).round(),
            "count": rng.poisson(3 + 3 * shift, rows).astype(float),
            "channel": rng.choice(["web", "app", "pos", "phone"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


# -- constant and top-heavy baselines ------------------------------------------------------------------------
CONSTANT: list[tuple[str, list[float], list[float], Severity]] = [
    ("all 7, then all 8", [7.0] * 2000, [8.0] * 500, Severity.ACT),
    ("all 7, then all 6", [7.0] * 2000, [6.0] * 500, Severity.ACT),
    ("all 7, then all 7", [7.0] * 2000, [7.0] * 500, Severity.STABLE),
    ("all 7, then a third at 7.5", [7.0] * 2000, [7.0] * 333 + [7.5] * 167, Severity.ACT),
    ("flag 0/1, same shares", [0.0] * 1400 + [1.0] * 600, [0.0] * 350 + [1.0] * 150, Severity.STABLE),
    ("flag 0/1, then 2 appears", [0.0] * 1400 + [1.0] * 600, [0.0] * 350 + [2.0] * 150, Severity.ACT),
    ("top-heavy, above the max", [*range(1000), *[999.0] * 1000], [1500.0] * 500, Severity.ACT),
]


@pytest.mark.parametrize(("case", "reference", "current", "expected"), CONSTANT, ids=[c[0] for c in CONSTANT])
def test_a_shift_of_a_constant_or_top_heavy_feature_is_seen(
    case: str, reference: list[float], current: list[float], expected: Severity
) -> None:
    baseline = compute_baseline(pd.DataFrame({"x": reference}))

    report = drift_report(baseline, pd.DataFrame({"x": current}))

    (feature,) = report.features
    assert feature.severity is expected, (feature.psi, feature.bins)
    if expected is Severity.STABLE:
        assert feature.psi == 0.0


def test_the_extra_edge_is_the_next_float_above_the_maximum_and_counts_agree_with_athena_semantics() -> None:
    baseline = compute_baseline(pd.DataFrame({"x": [7.0] * 50}))
    edges = baseline.features["x"].edges  # type: ignore[union-attr]

    assert edges.tolist() == [7.0, float(np.nextafter(7.0, np.inf))]
    assert numeric_bin_counts([6.9, 7.0, 7.0, 8.0], edges).counts.tolist() == [1, 2, 1]


def test_an_ordinary_baseline_keeps_its_decile_edges() -> None:
    values = np.random.default_rng(1).normal(size=5000)
    baseline = compute_baseline(pd.DataFrame({"x": values}))

    assert baseline.features["x"].edges.tolist() == np.unique(np.quantile(values, np.arange(1, 10) / 10)).tolist()  # type: ignore[union-attr]


# -- minimum sample sizes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("baseline_rows", "window_rows", "expected"),
    [
        (5000, 5, Severity.INSUFFICIENT_DATA),
        (5000, 20, Severity.INSUFFICIENT_DATA),
        (5000, DEFAULT_MIN_WINDOW_ROWS - 1, Severity.INSUFFICIENT_DATA),
        (5000, DEFAULT_MIN_WINDOW_ROWS, Severity.ACT),
        (1, 1000, Severity.INSUFFICIENT_DATA),
        (3, 1000, Severity.INSUFFICIENT_DATA),
        (DEFAULT_MIN_BASELINE_ROWS - 1, 1000, Severity.INSUFFICIENT_DATA),
        (DEFAULT_MIN_BASELINE_ROWS, 1000, Severity.ACT),
    ],
)
def test_too_few_rows_on_either_side_is_insufficient_data_even_when_drifted(
    baseline_rows: int, window_rows: int, expected: Severity
) -> None:
    rng = np.random.default_rng(7)
    baseline = compute_baseline(frame(baseline_rows, rng))

    report = drift_report(baseline, frame(window_rows, rng, shift=2.0))

    severities = {f.severity for f in report.features}
    if expected is Severity.ACT:  # the shifted numeric features; the categorical one is not shifted
        assert Severity.ACT in severities
        assert Severity.INSUFFICIENT_DATA not in severities
    else:
        assert severities == {Severity.INSUFFICIENT_DATA}
        assert report.severity is Severity.INSUFFICIENT_DATA
        assert report.drifted == ()
        assert not [v for v in report.violations if v.constraint_check_type == "baseline_drift_check"]
        assert all(any("insufficient data" in n for n in f.notes) for f in report.features)
        assert all(f.psi is not None for f in report.features)  # reported, for a person to look at


def test_the_counts_path_applies_the_same_minimum() -> None:
    baseline = compute_baseline(pd.DataFrame({"x": np.arange(5000.0)}))
    bins = baseline.features["x"].counts.counts.size
    few = np.zeros(bins, np.int64)
    few[-1] = 50  # every current value in the top bin: a strong shift, on 50 rows

    report = drift_report_from_counts(baseline, {"x": BinCounts(few, 0)}, current_rows=50)

    assert report.features[0].severity is Severity.INSUFFICIENT_DATA


def test_an_empty_window_is_still_no_data() -> None:
    baseline = compute_baseline(frame(2000, np.random.default_rng(1)))

    report = drift_report(baseline, frame(0, np.random.default_rng(2)))

    assert report.severity is Severity.NO_DATA


FALSE_ALARM_WINDOWS = 500


def test_same_distribution_windows_at_the_minimums_almost_never_reach_the_act_band() -> None:
    """The false-alarm rate at the configured minimum, seeded: both sides at their minimum row counts, windows
    drawn from the baseline's own distribution; below the minimum the same windows are never an alarm."""
    rng = np.random.default_rng(20260310)
    baseline = compute_baseline(frame(DEFAULT_MIN_BASELINE_ROWS, rng))
    at_minimum = [
        drift_report(baseline, frame(DEFAULT_MIN_WINDOW_ROWS, rng), workers=1) for _ in range(FALSE_ALARM_WINDOWS)
    ]
    small = [drift_report(baseline, frame(20, rng), workers=1) for _ in range(100)]

    feature_windows = FALSE_ALARM_WINDOWS * len(baseline.features)
    act = sum(f.severity is Severity.ACT for r in at_minimum for f in r.features)
    investigate = sum(f.severity is Severity.INVESTIGATE for r in at_minimum for f in r.features)
    assert act / feature_windows <= 0.001, act  # measured: 0 of 2000
    assert investigate / feature_windows <= 0.05, investigate  # the investigate band may see noise, not act on it
    assert sum(len(r.drifted) for r in at_minimum) == act
    # At 20 rows nearly every window would be in the act band (the issue measured 187/200): none is an alarm.
    assert {f.severity for r in small for f in r.features} == {Severity.INSUFFICIENT_DATA}


# -- what is published ---------------------------------------------------------------------------------------
def test_insufficient_data_publishes_no_psi_datapoint_but_a_count_of_such_features() -> None:
    rng = np.random.default_rng(3)
    baseline = compute_baseline(frame(5000, rng))
    report = drift_report(baseline, frame(20, rng, shift=2.0)).to_dict()

    data = metric_data(json.loads(json.dumps(report)), "ep", T)

    names = {d["MetricName"]: d["Value"] for d in data}
    assert naming.PSI_METRIC not in names  # the PSI alarms see no datapoint: never an alarm
    assert names[naming.INSUFFICIENT_METRIC] == 4.0
    assert names[naming.ACT_METRIC] == 0.0
    assert names[naming.ROWS_METRIC] == 20.0


def test_enough_rows_publish_psi_and_no_insufficient_features() -> None:
    rng = np.random.default_rng(4)
    baseline = compute_baseline(frame(5000, rng))
    report = drift_report(baseline, frame(1000, rng, shift=2.0)).to_dict()

    data = metric_data(report, "ep", T)

    assert sum(d["MetricName"] == naming.PSI_METRIC for d in data) == 4
    assert {d["MetricName"]: d["Value"] for d in data}[naming.INSUFFICIENT_METRIC] == 0.0


def test_reports_round_trip_the_minimums_and_old_reports_still_load() -> None:
    rng = np.random.default_rng(5)
    report = drift_report(
        compute_baseline(frame(300, rng)),
        frame(50, rng),
        thresholds=Thresholds(min_window_rows=40, min_baseline_rows=300),
    )
    document = report.to_dict()

    assert document["thresholds"] == {"investigate": 0.1, "act": 0.2, "min_window_rows": 40, "min_baseline_rows": 300}
    assert DriftReport.from_dict(document).to_dict() == document
    old: dict[str, Any] = {**document, "thresholds": {"investigate": 0.1, "act": 0.2}}
    assert DriftReport.from_dict(old).thresholds == Thresholds()


# -- thresholds: refused like the platform config refuses them ---------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"investigate": 0.2, "act": 0.2}, r"investigate \(0.2\) must be below thresholds.act \(0.2\)"),
        ({"investigate": 0.3, "act": 0.2}, r"investigate \(0.3\) must be below"),
        ({"act": float("inf")}, r"thresholds.act must be a finite number"),
        ({"investigate": True}, r"thresholds.investigate must be a finite number"),
        ({"min_window_rows": 0}, r"thresholds.min_window_rows must be an integer >= 1"),
        ({"min_baseline_rows": 2.5}, r"thresholds.min_baseline_rows must be an integer >= 1"),
        ({"min_window_rows": True}, r"thresholds.min_window_rows must be an integer >= 1"),
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds(**kwargs)


def test_the_job_takes_the_minimums_and_refuses_bad_ones() -> None:
    base = ["--use-case", "m", "--endpoint", "e", "--capture-uri", "s3://a/c", "--baseline-uri", "s3://a/b.json",
            "--start", "2026-03-09T00:00:00Z", "--end", "2026-03-10T00:00:00Z"]  # fmt: skip

    inputs = drift_job.inputs_from(
        drift_job.parse_args([*base, "--min-window-rows", "50", "--min-baseline-rows", "500"])
    )

    assert (inputs.thresholds.min_window_rows, inputs.thresholds.min_baseline_rows) == (50, 500)
    with pytest.raises(DriftInputError, match="min_window_rows must be an integer >= 1"):
        drift_job.inputs_from(drift_job.parse_args([*base, "--min-window-rows", "0"]))
    with pytest.raises(DriftInputError, match="must be below"):
        drift_job.inputs_from(drift_job.parse_args([*base, "--psi-investigate", "0.2", "--psi-act", "0.2"]))
