"""Drift reports: statistics equal their references, schema and data problems are defined results, strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.drift.report import DriftReport, drift_report, drift_report_from_counts
from mlops_kit.drift.stats import OTHER, BinCounts, Severity, Thresholds, merge_rare_categories, psi_from_counts
from tests.unit.drift.baselines import categorical, numeric


def strict(report: DriftReport) -> dict:
    text = json.dumps(report.to_dict(), allow_nan=False)
    return json.loads(text)


def by_name(report: DriftReport) -> dict:
    return {f.name: f for f in report.all_columns}


def test_same_distribution_is_stable_and_drift_is_flagged(reference, current_same, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    same = drift_report(baseline, current_same)
    assert same.severity is Severity.STABLE
    assert same.violations == ()
    drifted = drift_report(baseline, current_drifted)
    assert drifted.severity is Severity.ACT
    assert set(drifted.drifted) >= {"age", "income", "colour", "score"}
    assert "plan" not in drifted.drifted
    assert drifted.prediction is not None
    assert drifted.prediction.role == "prediction"
    checks = {(v.feature_name, v.constraint_check_type) for v in drifted.violations}
    assert ("colour", "categorical_values_check") in checks
    assert ("age", "baseline_drift_check") in checks
    # Sorted by severity, then PSI descending.
    ranks = [(f.severity.rank, -(f.psi or 0)) for f in drifted.features]
    assert ranks == sorted(ranks)


def test_psi_ks_and_chi2_equal_their_references(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    report = by_name(drift_report(baseline, current_drifted))

    income = numeric(baseline, "income")
    counts = np.bincount(np.digitize(current_drifted["income"], income.edges), minlength=income.edges.size + 1)
    assert report["income"].psi == psi_from_counts(income.bin_counts, counts)
    expected_ks = sps.ks_2samp(income.sample, current_drifted["income"])
    assert report["income"].ks.statistic == expected_ks.statistic
    assert report["income"].ks.pvalue == expected_ks.pvalue

    colour = categorical(baseline, "colour")
    observed = current_drifted["colour"].value_counts()
    cur = [int(observed.get(c, 0)) for c in colour.categories]
    cur.append(len(current_drifted) - sum(cur))
    table, labels = merge_rare_categories(np.vstack((colour.category_counts, cur)), [*colour.categories, OTHER])
    expected = sps.chi2_contingency(table, correction=False)
    assert report["colour"].chi2.statistic == expected.statistic
    assert report["colour"].chi2.pvalue == expected.pvalue
    assert report["colour"].chi2.categories == labels
    assert report["colour"].unseen_categories == (("violet", int(observed["violet"])),)


def test_row_order_does_not_change_the_report(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    first = strict(drift_report(baseline, current_drifted))
    second = strict(drift_report(baseline, current_drifted.sample(frac=1.0, random_state=5)))
    first.pop("generated_at")
    second.pop("generated_at")
    assert first == second


def test_schema_changes_are_violations_not_crashes(reference, current_same):
    baseline = compute_baseline(reference, prediction="score")
    current = current_same.drop(columns=["income", "score"]).assign(surprise=1, inference_time=pd.Timestamp(0))
    report = drift_report(baseline, current)
    checks = {(v.feature_name, v.constraint_check_type) for v in report.violations}
    assert ("income", "missing_column_check") in checks
    assert ("score", "missing_column_check") in checks
    assert ("surprise", "extra_column_check") in checks
    assert not any(v.feature_name == "inference_time" for v in report.violations)  # ignored by default
    income = by_name(report)["income"]
    assert income.psi is None
    assert income.severity is Severity.NO_DATA
    assert "missing from the current data" in income.notes
    strict(report)


@pytest.mark.parametrize("current", [pd.DataFrame(), "no rows with columns"])
def test_empty_current_data_gives_no_data_everywhere(reference, current):
    baseline = compute_baseline(reference, prediction="score")
    frame = reference.iloc[:0] if isinstance(current, str) else current
    report = drift_report(baseline, frame)
    assert report.current_rows == 0
    assert report.severity is Severity.NO_DATA
    assert all(f.psi is None and f.ks is None and f.chi2 is None for f in report.all_columns)
    assert "current data has no rows" in report.notes
    # An empty frame without columns has no schema to check; one with the columns has nothing missing.
    assert report.violations == ()
    strict(report)


def test_all_missing_and_constant_columns_are_defined(reference):
    frame = reference.assign(constant=3.0, sparse=np.where(np.arange(len(reference)) % 2, 1.0, np.nan))
    baseline = compute_baseline(frame)
    current = frame.assign(income=np.nan, constant=3.0, colour=None, sparse=np.nan)
    report = by_name(drift_report(baseline, current))
    assert report["constant"].psi == 0.0
    assert report["constant"].ks.statistic == 0.0
    assert "constant in the reference (3)" in report["constant"].notes
    income = report["income"]
    assert income.psi is not None
    assert math.isfinite(income.psi)
    assert income.psi > 1
    assert income.ks is None
    assert "all current values are missing" in income.notes
    assert income.bins[-1] == "__missing__"
    assert income.current_proportions[-1] == 1.0
    colour = report["colour"]
    assert colour.chi2 is not None
    assert math.isfinite(colour.chi2.statistic)
    report_all = drift_report(baseline, current)
    checks = {(v.feature_name, v.constraint_check_type) for v in report_all.violations}
    assert {
        ("income", "completeness_check"),
        ("colour", "completeness_check"),
        ("sparse", "completeness_check"),
    } <= checks
    strict(report_all)


def test_reference_all_missing_compares_missingness_only():
    baseline = compute_baseline(pd.DataFrame({"x": [np.nan] * 100}))
    report = by_name(drift_report(baseline, pd.DataFrame({"x": np.arange(100.0)})))
    assert report["x"].psi == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4))
    assert report["x"].ks is None
    assert "all reference values are missing" in report["x"].notes


def test_numbers_that_do_not_parse_are_a_data_type_violation(reference):
    baseline = compute_baseline(reference)
    current = reference.assign(age=reference["age"].astype(object).where(reference.index % 10 != 0, "n/a"))
    report = drift_report(baseline, current)
    [violation] = [v for v in report.violations if v.constraint_check_type == "data_type_check"]
    assert violation.feature_name == "age"
    assert violation.description.startswith(f"{len(reference) // 10} of {len(reference)} value(s)")
    assert by_name(report)["age"].current_missing_fraction == pytest.approx(0.1)


def test_thresholds_are_passed_in(reference, current_same):
    baseline = compute_baseline(reference)
    report = drift_report(baseline, current_same, thresholds=Thresholds(investigate=0.0, act=1e-9))
    assert {f.severity for f in report.features} == {Severity.ACT}


def test_report_json_round_trips(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score", metadata={"model_version": "7"})
    report = drift_report(baseline, current_drifted)
    document = strict(report)
    assert document["kind"] == "mlops_kit.drift.report"
    assert document["schema_version"] == 1
    assert document["baseline"]["metadata"] == {"model_version": "7"}
    assert DriftReport.from_dict(document).to_dict() == report.to_dict()
    with pytest.raises(ValueError, match="not a drift report"):
        DriftReport.from_dict({**document, "schema_version": 2})


def test_counts_path_gives_the_same_psi_and_chi2(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    in_memory = drift_report(baseline, current_drifted)
    counts = {}
    for feature in baseline.all_columns():
        column = current_drifted[feature.name]
        if feature.kind == "numeric":
            index = np.digitize(column, feature.edges)
            counts[feature.name] = BinCounts(np.bincount(index, minlength=feature.edges.size + 1), 0)
        else:
            labels = column.astype(str)
            known = [int((labels == c).sum()) for c in feature.categories]
            counts[feature.name] = BinCounts(np.array([*known, len(column) - sum(known)]), 0)
    from_counts = drift_report_from_counts(
        baseline, counts, current_rows=len(current_drifted), columns=list(current_drifted.columns)
    )
    for ours, theirs in zip(in_memory.all_columns, from_counts.all_columns, strict=True):
        assert ours.name == theirs.name
        assert ours.psi == theirs.psi
        assert (ours.chi2 is None) == (theirs.chi2 is None)
        if ours.chi2 is not None and theirs.chi2 is not None:
            assert ours.chi2.statistic == theirs.chi2.statistic
    assert all(f.ks is None for f in from_counts.all_columns)
    assert {v.constraint_check_type for v in from_counts.violations} == {
        v.constraint_check_type for v in in_memory.violations
    }


def test_counts_path_rejects_counts_that_do_not_fit(reference):
    baseline = compute_baseline(reference, features=["age"])
    with pytest.raises(ValueError, match="counts for 'age' have 2 bins"):
        drift_report_from_counts(baseline, {"age": BinCounts(np.array([1, 1]), 0)}, current_rows=2)
    bins = numeric(baseline, "age").bin_counts.size
    with pytest.raises(ValueError, match="add up to 1 rows, not 5"):
        drift_report_from_counts(baseline, {"age": BinCounts(np.eye(bins, dtype=int)[0], 0)}, current_rows=5)


def test_bad_arguments_are_clear_errors(reference):
    baseline = compute_baseline(reference)
    with pytest.raises(ValueError, match="current must be a pandas DataFrame"):
        drift_report(baseline, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"completeness_tolerance must be a number in \[0, 1\]"):
        drift_report(baseline, reference, completeness_tolerance=2)
