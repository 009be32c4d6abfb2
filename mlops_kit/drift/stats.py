"""Drift statistics from counts and samples: PSI, KS, chi-squared and severity bands.

The PSI contract
================
This is what every PSI the kit reports means, whether it was computed in memory, from Athena counts or
from a stored report. Changing any line below changes alarms in production.

1. ``PSI = sum over bins of (c - r) * ln(c / r)``, with ``r`` and ``c`` the reference and current proportions
   of the bin.
2. Numeric bins come from the baseline's edges ``e = numpy.unique(numpy.quantile(ref, [0.1, 0.2, ..., 0.9]))``
   (linear interpolation, over the reference's finite values only). The bins are left-closed, exactly as
   ``numpy.digitize(x, e)`` assigns them: ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``, so there are
   ``len(e) + 1`` of them (fewer than 10 when deciles coincide; one bin when the reference had no finite
   value; an edge that overflows float64, possible only with values near +/-1.8e308, is dropped). When the
   last edge is the reference's maximum (at least a tenth of the reference sits on it: a constant or
   top-heavy feature), one more edge ``numpy.nextafter(max, inf)`` gives values above the reference's range a
   bin of their own, so a shift of a constant feature (all 7, then 8) is seen; below the range, the first
   bin ``(-inf, e0)`` already holds only values under the reference's minimum in that case.
3. Categorical bins are the baseline's categories followed by ``__other__``, which takes the baseline's folded
   rare tail on the reference side and every value the baseline did not list (unseen categories) on the
   current side. Category labels are compared as strings (``str(value)``, with integral floats written as
   integers, so ``3.0`` and ``3`` are the same category).
4. Missing values are NaN, None, pandas NA and, for numeric features, +/-inf and values that do not parse as
   numbers. A missing-value bin is added (last) whenever either side has at least one missing value; it is
   counted like any other bin.
5. Proportions are counts divided by the side's total row count (missing rows included), so each side's
   proportions sum to 1.
6. Every proportion below ``1e-4`` is replaced by ``1e-4``, on both sides, without renormalising. This keeps
   empty bins finite (a new category gives a large, finite PSI, never infinity) and makes PSI exactly 0 for
   identical count vectors.
7. A side with no rows has no proportions: PSI is undefined and reported as ``null`` with severity
   ``no_data``, never as 0, infinity or NaN.

Because each term ``(c - r) * ln(c / r)`` is non-negative, PSI is non-negative; it depends on counts only, so
row order does not change it.

KS and chi-squared
==================
- KS: statistic and p-value equal to ``scipy.stats.ks_2samp(reference_sample, current_values)`` (two-sided,
  ``method="auto"``) on the finite values. Computed here from the sorted reference sample and one
  ``searchsorted`` pass over the current values, without sorting them.
- Chi-squared: statistic, p-value and degrees of freedom equal to
  ``scipy.stats.chi2_contingency(table, correction=False)`` on the 2 x k table of reference and current counts
  per category (plus the missing bin, as for PSI), after merging every category whose smaller expected count
  is below 5 into ``__other__`` and dropping columns that are empty on both sides.
- P-values saturate at large samples; PSI is the alarm metric. Severity bands come from PSI only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

# The minimum rows (DEFAULT_MIN_WINDOW_ROWS, DEFAULT_MIN_BASELINE_ROWS) are defined with the drift functions'
# settings, which must not import this package (numpy, scipy): see there.
from mlops_kit.monitoring.settings import DEFAULT_MIN_BASELINE_ROWS, DEFAULT_MIN_WINDOW_ROWS

OTHER = "__other__"
MISSING = "__missing__"
PROPORTION_FLOOR = 1e-4
DECILES: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))  # == (0.1, 0.2, ..., 0.9) as literals
# scipy's ks_2samp(method="auto") is exact up to this many values per side, asymptotic above.
_KS_EXACT_MAX_N = 10_000
# Chi-squared's approximation needs expected counts of at least 5 per cell (the textbook rule).
_MIN_EXPECTED = 5.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Severity(StrEnum):
    """PSI band of a feature. ``insufficient_data`` when a side has fewer rows than its configured minimum (PSI
    is reported but too noisy to act on); ``no_data`` when either side had no rows, so PSI is undefined."""

    STABLE = "stable"
    INVESTIGATE = "investigate"
    ACT = "act"
    INSUFFICIENT_DATA = "insufficient_data"
    NO_DATA = "no_data"

    @property
    def rank(self) -> int:
        """Sort key: act first, then investigate, stable, insufficient_data, no_data."""
        return {"act": 0, "investigate": 1, "stable": 2, "insufficient_data": 3, "no_data": 4}[self.value]


@dataclass(frozen=True)
class Thresholds:
    """PSI bands: below ``investigate`` is stable, up to and including ``act`` investigate, above ``act`` act;
    ``insufficient_data`` whatever the PSI when the current side has fewer than ``min_window_rows`` rows or the
    reference fewer than ``min_baseline_rows``.

    Raises ValueError when a threshold is negative, not finite, ``investigate >= act`` (the investigate band
    would be empty, as the platform config refuses too), or a minimum is not a positive integer.
    """

    investigate: float = 0.1
    act: float = 0.2
    min_window_rows: int = DEFAULT_MIN_WINDOW_ROWS
    min_baseline_rows: int = DEFAULT_MIN_BASELINE_ROWS

    def __post_init__(self) -> None:
        for name in ("investigate", "act"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"thresholds.{name} must be a finite number >= 0 (got {value!r})")
        if self.investigate >= self.act:
            raise ValueError(f"thresholds.investigate ({self.investigate}) must be below thresholds.act ({self.act})")
        for name in ("min_window_rows", "min_baseline_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"thresholds.{name} must be an integer >= 1 (got {value!r})")

    def severity(
        self, psi: float | None, current_rows: int | None = None, reference_rows: int | None = None
    ) -> Severity:
        """The band of ``psi``; ``None`` (undefined PSI) is ``no_data``; too few rows on a side (when given) is
        ``insufficient_data``."""
        if psi is None:
            return Severity.NO_DATA
        if (current_rows is not None and current_rows < self.min_window_rows) or (
            reference_rows is not None and reference_rows < self.min_baseline_rows
        ):
            return Severity.INSUFFICIENT_DATA
        if psi > self.act:
            return Severity.ACT
        if psi >= self.investigate:
            return Severity.INVESTIGATE
        return Severity.STABLE

    def to_dict(self) -> dict[str, float | int]:
        return {
            "investigate": self.investigate,
            "act": self.act,
            "min_window_rows": self.min_window_rows,
            "min_baseline_rows": self.min_baseline_rows,
        }


@dataclass(frozen=True)
class BinCounts:
    """Counts of one side of one feature over the baseline's bins (missing rows counted apart).

    ``counts[i]`` is the number of rows in bin ``i`` (numeric: ``len(edges) + 1`` bins; categorical: the
    baseline's categories then ``__other__``). ``unseen`` holds, for categorical features, the most frequent
    current values that the baseline did not list (all of them are also counted in ``__other__``).
    """

    counts: IntArray
    missing: int
    unseen: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        """Rows on this side, missing ones included."""
        return int(self.counts.sum()) + self.missing


@dataclass(frozen=True)
class KsResult:
    statistic: float
    pvalue: float


@dataclass(frozen=True)
class Chi2Result:
    """Chi-squared test of independence on the merged table whose columns are ``categories``."""

    statistic: float
    pvalue: float
    dof: int
    categories: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- counting


def sorted_finite(values: npt.ArrayLike) -> tuple[FloatArray, int]:
    """The finite values of ``values`` as sorted float64, and how many were not finite (NaN, +/-inf)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(array)
    n_finite = int(np.count_nonzero(finite))
    if n_finite < array.size:
        array = array[finite]
    return np.sort(array), finite.size - n_finite


def sorted_quantiles(sorted_values: FloatArray, quantiles: Sequence[float] = DECILES) -> FloatArray:
    """``numpy.quantile(values, quantiles)`` (method "linear") from values that are already sorted, bit for bit.

    numpy copies and partitions its input on every call, which costs more than the sort itself on large
    arrays; on sorted values the order statistics can be read directly. The arithmetic is numpy's own
    (virtual index ``(n - 1) * q``, its out-of-range rule, its two-sided lerp), and the tests compare the
    result with ``numpy.quantile`` for equality. Raises ValueError on an empty array.
    """
    n = sorted_values.size
    if n == 0:
        raise ValueError("quantiles of an empty array are undefined")
    q = np.asarray(quantiles, dtype=np.float64)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    previous_index = previous.astype(np.intp)
    following_index = following.astype(np.intp)
    gamma = virtual - previous_index
    low = sorted_values[previous_index]
    high = sorted_values[following_index]
    difference = high - low
    result: FloatArray = np.where(gamma >= 0.5, high - difference * (1 - gamma), low + difference * gamma)
    return result


def check_edges(edges: npt.ArrayLike) -> FloatArray:
    """``edges`` as a float64 array; raises ValueError unless they are finite and strictly increasing."""
    edge_array = np.asarray(edges, dtype=np.float64)
    if edge_array.ndim != 1 or not np.all(np.isfinite(edge_array)) or np.any(np.diff(edge_array) <= 0):
        raise ValueError(f"edges must be finite and strictly increasing (got {edge_array.tolist()})")
    return edge_array


def bin_counts_from_sorted(sorted_values: FloatArray, missing: int, edges: FloatArray) -> BinCounts:
    """Counts over the left-closed bins of ``edges`` from already sorted finite values (no check)."""
    # x is in bin i  <=>  e[i-1] <= x < e[i]; the number of values < e[i] is searchsorted(..., "left").
    below_edge = np.searchsorted(sorted_values, edges, side="left")
    boundaries = np.concatenate(([0], below_edge, [sorted_values.size]))
    return BinCounts(counts=np.diff(boundaries).astype(np.int64), missing=int(missing))


def numeric_bin_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> BinCounts:
    """Count ``values`` into the left-closed bins of ``edges`` (``numpy.digitize`` semantics); non-finite is missing.

    Raises ValueError when ``edges`` is not strictly increasing or holds non-finite values.
    """
    edge_array = check_edges(edges)
    # Sorting then cutting at the edges is several times faster than numpy.digitize's per-value binary search
    # on large unsorted arrays, and gives the same counts.
    sorted_values, missing = sorted_finite(values)
    return bin_counts_from_sorted(sorted_values, missing, edge_array)


# ---------------------------------------------------------------------------------------------- PSI


def _with_missing_bin(reference: BinCounts, current: BinCounts) -> tuple[IntArray, IntArray]:
    if reference.missing or current.missing:
        return np.append(reference.counts, reference.missing), np.append(current.counts, current.missing)
    return reference.counts, current.counts


def psi_terms(reference: BinCounts, current: BinCounts) -> FloatArray:
    """Per-bin PSI contributions under the contract in this module's docstring (missing bin last, if any).

    Raises ValueError when the two sides have different numbers of bins, a count is negative, or a side has
    no rows (PSI is undefined then).
    """
    if reference.counts.shape != current.counts.shape:
        raise ValueError(
            f"reference and current have different bins ({reference.counts.size} vs {current.counts.size})"
        )
    ref, cur = _with_missing_bin(reference, current)
    if np.any(ref < 0) or np.any(cur < 0):
        raise ValueError("bin counts must not be negative")
    for side, counts in (("reference", ref), ("current", cur)):
        if counts.sum() == 0:
            raise ValueError(f"{side} has no rows: PSI is undefined")
    r = np.maximum(ref / ref.sum(), PROPORTION_FLOOR)
    c = np.maximum(cur / cur.sum(), PROPORTION_FLOOR)
    terms: FloatArray = (c - r) * np.log(c / r)
    return terms


def psi_from_counts(
    reference_counts: npt.ArrayLike,
    current_counts: npt.ArrayLike,
    *,
    reference_missing: int = 0,
    current_missing: int = 0,
) -> float:
    """PSI of two count vectors over the same bins, plus each side's missing count (see the module contract).

    Raises ValueError when the vectors differ in length, hold negative or non-integer counts, or a side has
    no rows.
    """
    ref = _as_counts(reference_counts, "reference_counts")
    cur = _as_counts(current_counts, "current_counts")
    if reference_missing < 0 or current_missing < 0:
        raise ValueError("missing counts must not be negative")
    return float(psi_terms(BinCounts(ref, int(reference_missing)), BinCounts(cur, int(current_missing))).sum())


def _as_counts(values: npt.ArrayLike, name: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got shape {array.shape})")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        as_float = array.astype(np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError(f"{name} must hold whole numbers (got {array.tolist()[:10]})")
    counts = array.astype(np.int64)
    if np.any(counts < 0):
        raise ValueError(f"{name} must not be negative")
    return counts


# ---------------------------------------------------------------------------------------------- KS


def ks_test(reference_sample: npt.ArrayLike, current: npt.ArrayLike) -> KsResult:
    """Two-sample KS test equal to ``scipy.stats.ks_2samp(reference_sample, current)`` on their finite values.

    Raises ValueError when either side has no finite value.
    """
    reference_sorted, _ = sorted_finite(reference_sample)
    current_sorted, _ = sorted_finite(current)
    return ks_from_sorted(reference_sorted, current_sorted)


def ks_from_sorted(reference_sorted: FloatArray, current_sorted: FloatArray) -> KsResult:
    """:func:`ks_test` on finite values that are already sorted (the baseline stores its sample sorted).

    The empirical CDF difference can only peak at a reference value or just below one, so counting the
    current values at and below each distinct reference value (binary searches of the small reference into
    the large current side) gives scipy's statistic exactly, without scipy's concatenation and two full
    searches. Small inputs, where scipy computes an exact p-value, go to scipy directly.
    Raises ValueError when either side is empty.
    """
    ref, cur = reference_sorted, current_sorted
    n1, n2 = ref.size, cur.size
    if n1 == 0 or n2 == 0:
        raise ValueError(f"KS needs finite values on both sides (reference: {n1}, current: {n2})")
    if max(n1, n2) <= _KS_EXACT_MAX_N:
        result = sps.ks_2samp(ref, cur)
        return KsResult(float(result.statistic), float(result.pvalue))

    distinct = np.concatenate(([True], ref[1:] != ref[:-1]))
    unique = ref[distinct]
    # F1 at each distinct reference value u_k, right-continuous: share of the reference <= u_k.
    cdf1 = np.searchsorted(ref, unique, side="right") / n1
    at_or_below = np.searchsorted(cur, unique, side="right")  # current values <= u_k
    below = np.searchsorted(cur, unique, side="left")  # current values < u_k
    # Same arithmetic as scipy (count / n1 - count / n2), so the statistic is bit-for-bit the same.
    at_points = cdf1 - at_or_below / n2
    # Between u_{k-1} and u_k the reference CDF stays at F1(u_{k-1}) (0 before u_0) while the current CDF
    # grows, so the lowest difference there is at the largest current value below u_k (count: below[k]);
    # the highest is never above the value at u_{k-1}. Where no current value lies in between, the term
    # repeats at_points[k-1] (or is 0 before u_0), which changes nothing.
    previous = np.concatenate(([0.0], cdf1[:-1]))
    below_points = previous - below / n2
    candidates = np.concatenate((at_points, below_points))
    statistic = float(max(candidates.max(), np.clip(-candidates.min(), 0, 1)))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    pvalue = float(np.clip(sps.kstwo.sf(statistic, np.round(m * n / (m + n))), 0, 1))
    return KsResult(statistic, pvalue)


# ---------------------------------------------------------------------------------------------- chi-squared


def merge_rare_categories(table: npt.ArrayLike, categories: Sequence[str]) -> tuple[IntArray, tuple[str, ...]]:
    """Merge columns of a 2 x k count table whose smaller expected count is below 5 into ``__other__``.

    Expected counts are ``row_total * column_total / grand_total`` (as in chi2_contingency). An existing
    ``__other__`` column absorbs the merged ones; columns empty on both sides are dropped. Raises ValueError
    when the table is not 2 x len(categories) or holds negative counts.
    """
    counts = np.asarray(table, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[0] != 2 or counts.shape[1] != len(categories):
        raise ValueError(f"table must be 2 x {len(categories)} (got shape {counts.shape})")
    if np.any(counts < 0):
        raise ValueError("table counts must not be negative")
    labels = list(categories)
    column_totals = counts.sum(axis=0)
    grand = counts.sum()
    if grand == 0:
        return counts[:, :0], ()
    expected_min = counts.sum(axis=1).min() * column_totals / grand
    rare = (expected_min < _MIN_EXPECTED) & (column_totals > 0)
    if OTHER in labels:
        rare[labels.index(OTHER)] = True
    keep = ~rare & (column_totals > 0)
    merged_other = counts[:, rare].sum(axis=1)
    kept_labels = [label for label, k in zip(labels, keep, strict=True) if k]
    result = counts[:, keep]
    if merged_other.sum() > 0:
        result = np.column_stack((result, merged_other))
        kept_labels.append(OTHER)
    return result.astype(np.int64), tuple(kept_labels)


def chi2_from_counts(reference: BinCounts, current: BinCounts, categories: Sequence[str]) -> Chi2Result:
    """Chi-squared test of reference vs current category counts (module contract: missing bin, rare merge).

    ``categories`` labels ``reference.counts`` (baseline categories then ``__other__``). Raises ValueError
    when the counts do not match the labels or a side has no rows.
    """
    if reference.counts.size != len(categories) or current.counts.size != len(categories):
        raise ValueError(
            f"{len(categories)} categories but {reference.counts.size} reference and "
            f"{current.counts.size} current counts"
        )
    ref, cur = _with_missing_bin(reference, current)
    labels = list(categories) + ([MISSING] if ref.size > len(categories) else [])
    for side, counts in (("reference", ref), ("current", cur)):
        if counts.sum() == 0:
            raise ValueError(f"{side} has no rows: chi-squared is undefined")
    table, merged = merge_rare_categories(np.vstack((ref, cur)), labels)
    result = sps.chi2_contingency(table, correction=False)
    statistic, pvalue = float(result.statistic), float(result.pvalue)
    return Chi2Result(statistic, pvalue, int(result.dof), merged)
