"""PSI, KS and chi-squared against their numpy/scipy references, and the PSI contract's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from mlops_kit.drift.stats import (
    DECILES,
    MISSING,
    OTHER,
    BinCounts,
    Severity,
    Thresholds,
    chi2_from_counts,
    ks_test,
    merge_rare_categories,
    numeric_bin_counts,
    psi_from_counts,
    sorted_quantiles,
)

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
# Few distinct values make ties, the hard case for binning and KS.
tied_floats = st.integers(min_value=-5, max_value=5).map(float)
samples = st.lists(st.one_of(finite_floats, tied_floats), min_size=1, max_size=300)
count_vectors = st.integers(min_value=1, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 10_000), min_size=k, max_size=k),
        st.lists(st.integers(0, 10_000), min_size=k, max_size=k),
    )
)


def reference_psi(ref_counts, cur_counts, ref_missing=0, cur_missing=0) -> float:
    """The contract written out naively, bin by bin."""
    ref = list(ref_counts) + ([ref_missing] if ref_missing or cur_missing else [])
    cur = list(cur_counts) + ([cur_missing] if ref_missing or cur_missing else [])
    total = 0.0
    for r_count, c_count in zip(ref, cur, strict=True):
        r = max(r_count / sum(ref), 1e-4)
        c = max(c_count / sum(cur), 1e-4)
        total += (c - r) * math.log(c / r)
    return total


def test_deciles_are_the_literal_list_in_the_issue():
    assert DECILES == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@given(samples, samples)
def test_bin_counts_equal_numpy_digitize(reference, current):
    edges = np.unique(np.quantile(np.array(reference), DECILES))
    counts = numeric_bin_counts(current, edges)
    expected = np.bincount(np.digitize(current, edges), minlength=edges.size + 1)
    assert counts.counts.tolist() == expected.tolist()
    assert counts.missing == 0


def test_bin_counts_are_left_closed_and_non_finite_is_missing():
    counts = numeric_bin_counts([0.5, 1.0, 1.5, 2.0, 2.5, np.nan, np.inf, -np.inf], [1.0, 2.0])
    # (-inf, 1): 0.5 | [1, 2): 1.0, 1.5 | [2, inf): 2.0, 2.5
    assert counts.counts.tolist() == [1, 2, 2]
    assert counts.missing == 3


@pytest.mark.parametrize("edges", [[2.0, 1.0], [1.0, 1.0], [np.nan], [0.0, np.inf]])
def test_bad_edges_are_rejected_with_the_edges_named(edges):
    with pytest.raises(ValueError, match="edges must be finite and strictly increasing"):
        numeric_bin_counts([1.0], edges)


@given(count_vectors, st.integers(0, 50), st.integers(0, 50))
def test_psi_matches_the_contract_written_naively(vectors, ref_missing, cur_missing):
    ref, cur = vectors
    if sum(ref) + ref_missing == 0 or sum(cur) + cur_missing == 0:
        with pytest.raises(ValueError, match="has no rows"):
            psi_from_counts(ref, cur, reference_missing=ref_missing, current_missing=cur_missing)
        return
    value = psi_from_counts(ref, cur, reference_missing=ref_missing, current_missing=cur_missing)
    assert value == pytest.approx(reference_psi(ref, cur, ref_missing, cur_missing), rel=1e-12, abs=1e-15)
    assert value >= 0
    assert math.isfinite(value)


@given(count_vectors, st.integers(0, 50))
def test_identical_counts_give_exactly_zero(vectors, missing):
    ref, _ = vectors
    if sum(ref) + missing == 0:
        return
    assert psi_from_counts(ref, ref, reference_missing=missing, current_missing=missing) == 0.0


# Row order is checked on up to 12 x 500 rows: shuffling 12 x 10,000 rows per example cost 30 s of the suite.
small_count_vectors = st.integers(min_value=1, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 10_000), min_size=k, max_size=k),
        st.lists(st.integers(0, 500), min_size=k, max_size=k),
    )
)


@given(small_count_vectors, st.randoms(use_true_random=False))
def test_psi_does_not_depend_on_row_order(vectors, random):
    ref, cur = vectors
    if sum(ref) == 0 or sum(cur) == 0:
        return
    # Rows -> bin indices, shuffled, counted again: same counts, same PSI.
    rows = [i for i, n in enumerate(cur) for _ in range(n)]
    random.shuffle(rows)
    recounted = np.bincount(rows, minlength=len(cur))
    assert psi_from_counts(ref, recounted) == psi_from_counts(ref, cur)


def test_missing_bin_counts_only_when_a_side_has_missing_values():
    # Same non-missing shape; a missing bin on one side adds its own term and shrinks the others.
    without = psi_from_counts([50, 50], [50, 50])
    with_missing = psi_from_counts([50, 50], [50, 50], current_missing=100)
    assert without == 0.0
    expected = (0.25 - 0.5) * math.log(0.5) * 2 + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert with_missing == pytest.approx(expected, rel=1e-12)


def test_empty_bin_is_floored_so_a_new_category_is_large_but_finite():
    value = psi_from_counts([100, 0], [0, 100])
    assert value == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4), rel=1e-12)


@pytest.mark.parametrize(
    ("ref", "cur", "message"),
    [
        ([1, 2], [1, 2, 3], "different bins"),
        ([1, -2], [1, 2], "must not be negative"),
        ([1.5, 2], [1, 2], "whole numbers"),
        ([[1, 2]], [[1, 2]], "one-dimensional"),
        ([0, 0], [1, 2], "reference has no rows"),
    ],
)
def test_psi_rejects_bad_counts_with_a_clear_message(ref, cur, message):
    with pytest.raises(ValueError, match=message):
        psi_from_counts(ref, cur)


@settings(max_examples=60)
@given(samples, samples)
def test_ks_equals_scipy_on_small_samples(reference, current):
    ours = ks_test(reference, current)
    theirs = sps.ks_2samp(reference, current)
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == theirs.pvalue


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 12_000),
    st.integers(10_001, 60_000),
    st.integers(0, 3),
    st.floats(-0.3, 0.3),
    st.integers(0, 2**32 - 1),
)
def test_ks_equals_scipy_on_large_samples_with_ties(n_ref, n_cur, decimals, shift, seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=n_ref).round(decimals)
    current = rng.normal(shift, 1.2, size=n_cur).round(decimals)
    ours = ks_test(reference, current)
    theirs = sps.ks_2samp(reference, current)
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == theirs.pvalue


def test_ks_ignores_non_finite_values_and_rejects_an_empty_side():
    current = np.r_[np.linspace(0, 1, 20_000), np.nan, np.inf]
    expected = sps.ks_2samp(np.linspace(0.1, 1.1, 500), np.linspace(0, 1, 20_000))
    assert ks_test(np.linspace(0.1, 1.1, 500), current).statistic == expected.statistic
    with pytest.raises(ValueError, match="finite values on both sides"):
        ks_test([np.nan], [1.0, 2.0])


def naive_merge(table, labels):
    """Rare-category merge, written as a loop over categories."""
    table = np.asarray(table)
    rows, columns, grand = table.sum(axis=1), table.sum(axis=0), table.sum()
    kept, kept_labels, other = [], [], np.zeros(2, dtype=int)
    for j, label in enumerate(labels):
        if columns[j] == 0:
            continue
        expected_min = min(rows[0] * columns[j] / grand, rows[1] * columns[j] / grand)
        if expected_min < 5 or label == OTHER:
            other += table[:, j]
        else:
            kept.append(table[:, j])
            kept_labels.append(label)
    if other.sum():
        kept.append(other)
        kept_labels.append(OTHER)
    return np.column_stack(kept), kept_labels


@given(
    st.integers(1, 10).flatmap(
        lambda k: st.tuples(
            st.lists(st.integers(0, 300), min_size=k + 1, max_size=k + 1),
            st.lists(st.integers(0, 300), min_size=k + 1, max_size=k + 1),
        )
    ),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_chi2_equals_scipy_on_the_merged_table(vectors, ref_missing, cur_missing):
    ref, cur = vectors
    categories = [f"c{i}" for i in range(len(ref) - 1)] + [OTHER]
    reference = BinCounts(np.array(ref), ref_missing)
    current = BinCounts(np.array(cur), cur_missing)
    if reference.total == 0 or current.total == 0:
        with pytest.raises(ValueError, match="has no rows"):
            chi2_from_counts(reference, current, categories)
        return
    result = chi2_from_counts(reference, current, categories)
    labels = categories + ([MISSING] if ref_missing or cur_missing else [])
    table = np.vstack(
        (
            ref + ([ref_missing] if len(labels) > len(ref) else []),
            cur + ([cur_missing] if len(labels) > len(cur) else []),
        )
    )
    merged, merged_labels = naive_merge(table, labels)
    expected = sps.chi2_contingency(merged, correction=False)
    assert result.categories == tuple(merged_labels)
    assert result.statistic == expected.statistic
    assert result.pvalue == expected.pvalue
    assert result.dof == expected.dof
    assert math.isfinite(result.statistic)
    assert math.isfinite(result.pvalue)


def test_chi2_on_a_constant_column_is_zero_with_p_one():
    # Evidently returns NaN here; every row is the same category on both sides.
    result = chi2_from_counts(BinCounts(np.array([100, 0]), 0), BinCounts(np.array([80, 0]), 0), ["a", OTHER])
    assert (result.statistic, result.pvalue, result.dof) == (0.0, 1.0, 0)


def test_chi2_on_a_new_category_is_finite():
    # Evidently returns infinity: the current side is all in a value the reference never had.
    result = chi2_from_counts(BinCounts(np.array([100, 0]), 0), BinCounts(np.array([0, 100]), 0), ["a", OTHER])
    assert math.isfinite(result.statistic)
    assert result.statistic == pytest.approx(200.0)
    assert result.categories == ("a", OTHER)


def test_merge_rejects_a_table_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"table must be 2 x 3"):
        merge_rare_categories([[1, 2], [3, 4]], ["a", "b", "c"])


@pytest.mark.parametrize(
    ("psi", "severity"),
    [
        (None, Severity.NO_DATA),
        (0.0, Severity.STABLE),
        (0.0999, Severity.STABLE),
        (0.1, Severity.INVESTIGATE),
        (0.2, Severity.INVESTIGATE),
        (0.2001, Severity.ACT),
    ],
)
def test_severity_bands_follow_the_default_thresholds(psi, severity):
    assert Thresholds().severity(psi) is severity


def test_thresholds_come_from_config_and_are_validated():
    assert Thresholds(investigate=0.05, act=0.5).severity(0.3) is Severity.INVESTIGATE
    with pytest.raises(ValueError, match=r"thresholds.investigate \(0.3\) must be below thresholds.act"):
        Thresholds(investigate=0.3, act=0.2)
    with pytest.raises(ValueError, match=r"thresholds\.act must be a finite number"):
        Thresholds(act=math.inf)


@settings(max_examples=200)
@given(
    st.lists(st.one_of(st.floats(-1e300, 1e300), tied_floats), min_size=1, max_size=200),
    st.lists(st.floats(0, 1), min_size=1, max_size=12),
)
def test_sorted_quantiles_equal_numpy_quantile_bit_for_bit(values, quantiles):
    ordered = np.sort(np.array(values))
    expected = np.quantile(np.array(values), quantiles)
    assert sorted_quantiles(ordered, quantiles).tolist() == expected.tolist()
    assert sorted_quantiles(ordered).tolist() == np.quantile(np.array(values), DECILES).tolist()


@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 1_001, 123_457])
def test_sorted_quantiles_equal_numpy_on_large_arrays(n):
    values = np.random.default_rng(n).lognormal(size=n)
    assert sorted_quantiles(np.sort(values)).tolist() == np.quantile(values, DECILES).tolist()
    with pytest.raises(ValueError, match="empty"):
        sorted_quantiles(np.empty(0))
