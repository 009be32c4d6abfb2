"""Drift reports: every feature and the prediction compared with a baseline, plus schema and data violations.

Two entry points give the same report: :func:`drift_report` over a DataFrame of current data, and
:func:`drift_report_from_counts` over per-bin counts (from Athena, see :mod:`mlops_kit.drift.athena`), which
has PSI and chi-squared but no KS (KS needs the values). Nothing here raises on bad *data*: empty inputs,
all-missing or constant columns, unseen categories, unparsable numbers and missing or extra columns become
defined results, notes and violations. Reports serialise to strict JSON (no NaN, no infinity).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_kit.drift.baseline import (
    Baseline,
    CategoricalBaseline,
    FeatureBaseline,
    FeatureKind,
    NumericBaseline,
    category_counts,
    map_on_workers,
    numeric_values,
)
from mlops_kit.drift.stats import (
    MISSING,
    OTHER,
    BinCounts,
    Chi2Result,
    KsResult,
    Severity,
    Thresholds,
    bin_counts_from_sorted,
    chi2_from_counts,
    ks_from_sorted,
    psi_terms,
    sorted_finite,
)

REPORT_KIND = "mlops_kit.drift.report"
REPORT_SCHEMA_VERSION = 1
TIMESTAMP_COLUMN = "inference_time"
EVENT_ID_COLUMN = "event_id"
DEFAULT_IGNORED_COLUMNS: tuple[str, ...] = (TIMESTAMP_COLUMN, EVENT_ID_COLUMN)
MAX_UNSEEN_LISTED = 10

CheckType = Literal[
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
]
Role = Literal["feature", "prediction"]


@dataclass(frozen=True)
class Violation:
    """One Model Monitor-style constraint violation."""

    feature_name: str
    constraint_check_type: CheckType
    description: str

    def to_dict(self) -> dict[str, str]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature (or the prediction): PSI and its band, KS or chi-squared, per-bin proportions.

    ``bins`` labels ``reference_proportions``, ``current_proportions`` and ``psi_terms`` (unfloored shares of
    all rows; the missing bin last when either side has missing values). ``psi`` is ``None`` exactly when
    ``severity`` is ``no_data``.
    """

    name: str
    role: Role
    kind: FeatureKind
    psi: float | None
    severity: Severity
    ks: KsResult | None
    chi2: Chi2Result | None
    reference_rows: int
    current_rows: int
    reference_missing_fraction: float
    current_missing_fraction: float
    bins: tuple[str, ...]
    reference_proportions: tuple[float, ...]
    current_proportions: tuple[float, ...]
    psi_terms: tuple[float, ...]
    unseen_categories: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "psi": self.psi,
            "severity": self.severity.value,
            "ks": None if self.ks is None else {"statistic": self.ks.statistic, "pvalue": self.ks.pvalue},
            "chi2": None
            if self.chi2 is None
            else {
                "statistic": self.chi2.statistic,
                "pvalue": self.chi2.pvalue,
                "dof": self.chi2.dof,
                "categories": list(self.chi2.categories),
            },
            "reference": {"rows": self.reference_rows, "missing_fraction": self.reference_missing_fraction},
            "current": {"rows": self.current_rows, "missing_fraction": self.current_missing_fraction},
            "bins": [
                {"label": label, "reference": r, "current": c, "psi_term": t}
                for label, r, c, t in zip(
                    self.bins, self.reference_proportions, self.current_proportions, self.psi_terms, strict=True
                )
            ],
            "unseen_categories": [{"value": v, "count": n} for v, n in self.unseen_categories],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """Inverse of :meth:`to_dict`; raises KeyError or ValueError on a malformed entry."""
        ks, chi2 = data.get("ks"), data.get("chi2")
        bins = data["bins"]
        return cls(
            name=str(data["name"]),
            role=data["role"],
            kind=data["kind"],
            psi=None if data["psi"] is None else float(data["psi"]),
            severity=Severity(data["severity"]),
            ks=None if ks is None else KsResult(float(ks["statistic"]), float(ks["pvalue"])),
            chi2=None
            if chi2 is None
            else Chi2Result(
                float(chi2["statistic"]), float(chi2["pvalue"]), int(chi2["dof"]), tuple(chi2["categories"])
            ),
            reference_rows=int(data["reference"]["rows"]),
            current_rows=int(data["current"]["rows"]),
            reference_missing_fraction=float(data["reference"]["missing_fraction"]),
            current_missing_fraction=float(data["current"]["missing_fraction"]),
            bins=tuple(str(b["label"]) for b in bins),
            reference_proportions=tuple(float(b["reference"]) for b in bins),
            current_proportions=tuple(float(b["current"]) for b in bins),
            psi_terms=tuple(float(b["psi_term"]) for b in bins),
            unseen_categories=tuple((str(u["value"]), int(u["count"])) for u in data.get("unseen_categories", [])),
            notes=tuple(str(n) for n in data.get("notes", [])),
        )


@dataclass(frozen=True)
class DriftReport:
    """Drift of every baseline feature (sorted by severity, then PSI descending) and of the prediction."""

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    violations: tuple[Violation, ...]
    thresholds: Thresholds
    reference_rows: int
    current_rows: int
    generated_at: str
    source: Literal["dataframe", "counts"]
    baseline_created_at: str = ""
    baseline_metadata: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def all_columns(self) -> tuple[FeatureDrift, ...]:
        """Features, then the prediction (if the baseline has one)."""
        return (*self.features, *((self.prediction,) if self.prediction is not None else ()))

    @property
    def severity(self) -> Severity:
        """Worst band over features and prediction; ``insufficient_data`` when every comparable column had too
        few rows, ``no_data`` only when nothing could be compared."""
        ranked = [f.severity for f in self.all_columns if f.severity is not Severity.NO_DATA]
        return min(ranked, key=lambda s: s.rank) if ranked else Severity.NO_DATA

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of the features (and prediction) in the ``act`` band."""
        return tuple(f.name for f in self.all_columns if f.severity is Severity.ACT)

    def to_dict(self) -> dict[str, Any]:
        """The kit's report JSON (strict: ``json.dumps(..., allow_nan=False)`` succeeds)."""
        return {
            "kind": REPORT_KIND,
            "schema_version": REPORT_SCHEMA_VERSION,
            "generated_at": self.generated_at,
            "source": self.source,
            "baseline": {"created_at": self.baseline_created_at, "metadata": dict(self.baseline_metadata)},
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "thresholds": self.thresholds.to_dict(),
            "severity": self.severity.value,
            "drifted": list(self.drifted),
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Load a report written by :meth:`to_dict` (e.g. to render HTML from a stored report).

        Raises ValueError naming the problem when the kind or schema version is not this one or a field is
        missing.
        """
        if data.get("kind") != REPORT_KIND or data.get("schema_version") != REPORT_SCHEMA_VERSION:
            raise ValueError(
                f"not a drift report of schema {REPORT_SCHEMA_VERSION} "
                f"(kind {data.get('kind')!r}, schema_version {data.get('schema_version')!r})"
            )
        try:
            return cls(
                features=tuple(FeatureDrift.from_dict(f) for f in data["features"]),
                prediction=None if data.get("prediction") is None else FeatureDrift.from_dict(data["prediction"]),
                violations=tuple(
                    Violation(v["feature_name"], v["constraint_check_type"], v["description"])
                    for v in data["violations"]
                ),
                thresholds=Thresholds(**data["thresholds"]),
                reference_rows=int(data["reference_rows"]),
                current_rows=int(data["current_rows"]),
                generated_at=str(data["generated_at"]),
                source=data["source"],
                baseline_created_at=str(data["baseline"]["created_at"]),
                baseline_metadata=dict(data["baseline"]["metadata"]),
                notes=tuple(data.get("notes", [])),
            )
        except KeyError as missing:
            raise ValueError(f"drift report field {missing.args[0]!r} is missing") from None


@dataclass(frozen=True)
class _Observed:
    """What one current column gave: counts over the baseline bins, KS if computed, and problems seen."""

    counts: BinCounts | None  # None: the column is absent
    ks: KsResult | None = None
    unparsable: int = 0
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- entry points


def drift_report(
    baseline: Baseline,
    current: pd.DataFrame,
    *,
    thresholds: Thresholds | None = None,
    ignore_columns: Collection[str] = DEFAULT_IGNORED_COLUMNS,
    completeness_tolerance: float = 0.05,
    unseen_tolerance: float = 0.01,
    workers: int | None = None,
) -> DriftReport:
    """Compare ``current`` with ``baseline``: PSI for every column, KS for numeric and chi-squared for categorical.

    Columns of ``current`` that are neither baseline features, the prediction nor in ``ignore_columns`` are
    ``extra_column_check`` violations; absent ones ``missing_column_check``. A current missing fraction above
    the reference's plus ``completeness_tolerance`` is a ``completeness_check`` violation; a share of values
    outside the baseline's categories (``__other__``, among non-missing values) above the reference's share
    plus ``unseen_tolerance`` a ``categorical_values_check``;
    values of a numeric feature that do not parse as numbers a ``data_type_check`` (they count as missing);
    PSI in the ``act`` band a ``baseline_drift_check``.

    Raises ValueError only for bad arguments (not a DataFrame, tolerances outside [0, 1]).
    """
    if not isinstance(current, pd.DataFrame):
        raise ValueError(f"current must be a pandas DataFrame (got {type(current).__name__})")
    _check_tolerances(completeness_tolerance, unseen_tolerance)
    present = {str(c) for c in current.columns}
    report_notes: list[str] = []
    if len(current) == 0:
        report_notes.append("current data has no rows")

    def observe(feature: FeatureBaseline) -> _Observed:
        if feature.name not in present:
            return _Observed(counts=None)
        column = current[feature.name]
        if isinstance(column, pd.DataFrame):  # duplicated column name: take the first, say so
            column = column.iloc[:, 0]
            extra: tuple[str, ...] = ("current data has this column more than once; the first one was used",)
        else:
            extra = ()
        observed = (
            _observe_numeric(feature, column)
            if isinstance(feature, NumericBaseline)
            else (_observe_categorical(feature, column))
        )
        return _Observed(observed.counts, observed.ks, observed.unparsable, extra + observed.notes)

    columns = baseline.all_columns()
    observed = dict(zip([f.name for f in columns], map_on_workers(observe, columns, workers), strict=True))
    # An empty frame with no columns at all (an empty capture window) has no schema to check.
    schema_known = len(current.columns) > 0
    return _assemble(
        baseline,
        observed,
        current_rows=len(current),
        extra_columns=sorted(present - _known(baseline) - set(ignore_columns)) if schema_known else [],
        thresholds=thresholds or Thresholds(),
        completeness_tolerance=completeness_tolerance,
        unseen_tolerance=unseen_tolerance,
        source="dataframe",
        notes=report_notes,
        schema_known=schema_known,
    )


def drift_report_from_counts(
    baseline: Baseline,
    counts: Mapping[str, BinCounts],
    *,
    current_rows: int,
    columns: Collection[str] | None = None,
    thresholds: Thresholds | None = None,
    ignore_columns: Collection[str] = DEFAULT_IGNORED_COLUMNS,
    completeness_tolerance: float = 0.05,
    unseen_tolerance: float = 0.01,
) -> DriftReport:
    """The report from per-bin counts over the baseline's bins (e.g. :meth:`CountQuery.parse` of Athena's row).

    ``counts`` maps a feature (or the prediction) to its :class:`BinCounts`; a baseline column without an
    entry is a ``missing_column_check`` violation. ``columns`` (the current table's columns, when known)
    adds ``extra_column_check`` violations. KS is not available from counts and is left ``None``.
    Raises ValueError when a count vector does not have the baseline's number of bins or its total is not
    ``current_rows``.
    """
    _check_tolerances(completeness_tolerance, unseen_tolerance)
    observed: dict[str, _Observed] = {}
    for feature in baseline.all_columns():
        given = counts.get(feature.name)
        if given is None:
            observed[feature.name] = _Observed(counts=None)
            continue
        expected_bins = feature.counts.counts.size
        if given.counts.size != expected_bins:
            raise ValueError(
                f"counts for {feature.name!r} have {given.counts.size} bins; the baseline has {expected_bins}"
            )
        if given.total != current_rows:
            raise ValueError(f"counts for {feature.name!r} add up to {given.total} rows, not {current_rows}")
        notes = ("KS needs the values and is not computed from counts",) if feature.kind == "numeric" else ()
        observed[feature.name] = _Observed(counts=given, notes=notes + _count_notes(feature, given))
    unknown = sorted(set(counts) - _known(baseline))
    extra = sorted((set(columns) if columns is not None else set(unknown)) - _known(baseline) - set(ignore_columns))
    return _assemble(
        baseline,
        observed,
        current_rows=current_rows,
        extra_columns=extra,
        thresholds=thresholds or Thresholds(),
        completeness_tolerance=completeness_tolerance,
        unseen_tolerance=unseen_tolerance,
        source="counts",
        notes=["current data has no rows"] if current_rows == 0 else [],
        schema_known=True,
    )


def _check_tolerances(completeness_tolerance: float, unseen_tolerance: float) -> None:
    for name, value in (("completeness_tolerance", completeness_tolerance), ("unseen_tolerance", unseen_tolerance)):
        if not (isinstance(value, int | float) and 0 <= value <= 1):
            raise ValueError(f"{name} must be a number in [0, 1] (got {value!r})")


def _known(baseline: Baseline) -> set[str]:
    return {f.name for f in baseline.all_columns()}


# ---------------------------------------------------------------------------------------------- per column


def _observe_numeric(feature: NumericBaseline, column: pd.Series) -> _Observed:
    values, unparsable = numeric_values(column)
    ordered, missing = sorted_finite(values)
    counts = bin_counts_from_sorted(ordered, missing, feature.edges)
    notes = list(_count_notes(feature, counts))
    ks: KsResult | None = None
    if ordered.size and feature.sample.size:
        ks = ks_from_sorted(feature.sample, ordered)
    elif not feature.sample.size:
        notes.append("KS not computed: the reference has no finite values")
    elif len(column):
        notes.append("KS not computed: no finite current values")
    if ordered.size and ordered[0] == ordered[-1]:
        notes.append(f"constant in the current data ({ordered[0]:.6g})")
    return _Observed(counts, ks, unparsable, tuple(notes))


def _observe_categorical(feature: CategoricalBaseline, column: pd.Series) -> _Observed:
    labels, label_counts, missing = category_counts(column)
    position = {category: i for i, category in enumerate(feature.categories)}
    other = len(feature.categories)
    # Each distinct current label goes to its baseline category or to __other__ (unseen).
    target = np.array([position.get(label, other) for label in labels], dtype=np.int64)
    counts = np.bincount(target, weights=label_counts, minlength=other + 1).round().astype(np.int64)
    unseen = [(label, int(n)) for label, n, t in zip(labels, label_counts, target, strict=True) if t == other]
    unseen.sort(key=lambda item: (-item[1], item[0]))
    binned = BinCounts(counts, missing, tuple(unseen[:MAX_UNSEEN_LISTED]))
    notes = _count_notes(feature, binned)
    if unseen:
        rows = sum(n for _, n in unseen)
        notes += (f"{len(unseen)} value(s) not listed in the baseline ({rows} row(s)), counted in {OTHER}",)
    return _Observed(binned, None, 0, notes)


def _count_notes(feature: FeatureBaseline, counts: BinCounts) -> tuple[str, ...]:
    notes = []
    if counts.total and counts.missing == counts.total:
        notes.append("all current values are missing")
    if feature.row_count and feature.missing_count == feature.row_count:
        notes.append("all reference values are missing")
    if isinstance(feature, NumericBaseline) and feature.edges.size and feature.minimum == feature.maximum:
        notes.append(f"constant in the reference ({feature.edges[0]:.6g})")
    if isinstance(feature, CategoricalBaseline) and feature.distinct_count == 1:
        notes.append("a single category in the reference")
    return tuple(notes)


# ---------------------------------------------------------------------------------------------- assembling


def _assemble(
    baseline: Baseline,
    observed: Mapping[str, _Observed],
    *,
    current_rows: int,
    extra_columns: list[str],
    thresholds: Thresholds,
    completeness_tolerance: float,
    unseen_tolerance: float,
    source: Literal["dataframe", "counts"],
    notes: list[str],
    schema_known: bool,
) -> DriftReport:
    violations: list[Violation] = []
    results: dict[str, FeatureDrift] = {}
    for feature in baseline.all_columns():
        seen = observed[feature.name]
        role: Role = "prediction" if feature is baseline.prediction else "feature"
        if seen.counts is None:
            if schema_known:
                violations.append(
                    Violation(
                        feature.name,
                        "missing_column_check",
                        f"{role} {feature.name!r} is in the baseline but not in the current data",
                    )
                )
            results[feature.name] = _compare(feature, None, None, role, thresholds, ("missing from the current data",))
            continue
        drift = _compare(feature, seen.counts, seen.ks, role, thresholds, seen.notes)
        results[feature.name] = drift
        violations.extend(_violations(feature, seen, drift, thresholds, completeness_tolerance, unseen_tolerance, role))
    violations.extend(
        Violation(name, "extra_column_check", f"column {name!r} is in the current data but not in the baseline")
        for name in extra_columns
    )
    features = sorted(
        (results[name] for name in baseline.features),
        key=lambda f: (f.severity.rank, -(f.psi or 0.0), f.name),
    )
    prediction = results[baseline.prediction.name] if baseline.prediction is not None else None
    return DriftReport(
        features=tuple(features),
        prediction=prediction,
        violations=tuple(violations),
        thresholds=thresholds,
        reference_rows=baseline.row_count,
        current_rows=current_rows,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=source,
        baseline_created_at=baseline.created_at,
        baseline_metadata=dict(baseline.metadata),
        notes=tuple(notes),
    )


def _compare(
    feature: FeatureBaseline,
    current: BinCounts | None,
    ks: KsResult | None,
    role: Role,
    thresholds: Thresholds,
    notes: tuple[str, ...],
) -> FeatureDrift:
    reference = feature.counts
    labels = feature.bin_labels()
    current_rows = current.total if current is not None else 0
    comparable = current is not None and reference.total > 0 and current_rows > 0
    if current is not None and (current.missing or reference.missing):
        labels = [*labels, MISSING]
    ref_counts = _with_missing(reference, len(labels))
    cur_counts = _with_missing(current, len(labels)) if current is not None else np.zeros(len(labels), np.int64)
    psi: float | None = None
    terms = np.zeros(len(labels))
    chi2: Chi2Result | None = None
    if comparable and current is not None:
        terms = psi_terms(reference, current)
        psi = _finite(float(terms.sum()))
        if isinstance(feature, CategoricalBaseline):
            chi2 = chi2_from_counts(reference, current, feature.bin_labels())
    if current is not None and current_rows == 0:
        notes = (*notes, "no current rows")
    elif psi is not None and current_rows < thresholds.min_window_rows:
        notes = (*notes, f"insufficient data: {current_rows} current rows, fewer than {thresholds.min_window_rows}")
    if psi is not None and reference.total < thresholds.min_baseline_rows:
        notes = (
            *notes,
            f"insufficient data: {reference.total} baseline rows, fewer than {thresholds.min_baseline_rows}",
        )
    return FeatureDrift(
        name=feature.name,
        role=role,
        kind=feature.kind,
        psi=psi,
        severity=thresholds.severity(psi, current_rows, reference.total),
        ks=ks,
        chi2=chi2
        if chi2 is None
        else Chi2Result(_finite(chi2.statistic), _finite(chi2.pvalue), chi2.dof, chi2.categories),
        reference_rows=reference.total,
        current_rows=current_rows,
        reference_missing_fraction=reference.missing / reference.total if reference.total else 0.0,
        current_missing_fraction=current.missing / current_rows if current is not None and current_rows else 0.0,
        bins=tuple(labels),
        reference_proportions=_shares(ref_counts),
        current_proportions=_shares(cur_counts),
        psi_terms=tuple(float(t) for t in terms),
        unseen_categories=current.unseen if current is not None else (),
        notes=notes,
    )


def _with_missing(counts: BinCounts, n_labels: int) -> np.ndarray:
    return np.append(counts.counts, counts.missing) if n_labels > counts.counts.size else counts.counts


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = counts.sum()
    return tuple(float(c) for c in (counts / total if total else np.zeros(counts.size)))


def _finite(value: float) -> float:
    # PSI is bounded by the 1e-4 floor and scipy's statistics are finite on merged tables; this guards the
    # strict-JSON promise against anything unforeseen rather than letting NaN reach a report.
    if not math.isfinite(value):
        raise ArithmeticError(f"non-finite statistic {value!r}: this is a bug in mlops_kit.drift")
    return value


def _violations(
    feature: FeatureBaseline,
    seen: _Observed,
    drift: FeatureDrift,
    thresholds: Thresholds,
    completeness_tolerance: float,
    unseen_tolerance: float,
    role: Role,
) -> list[Violation]:
    found: list[Violation] = []
    counts = seen.counts
    if counts is None or counts.total == 0:
        return found
    if seen.unparsable:
        found.append(
            Violation(
                feature.name,
                "data_type_check",
                f"{seen.unparsable} of {counts.total} value(s) of numeric {role} {feature.name!r} are not numbers "
                "(counted as missing)",
            )
        )
    if drift.current_missing_fraction > drift.reference_missing_fraction + completeness_tolerance:
        found.append(
            Violation(
                feature.name,
                "completeness_check",
                f"{drift.current_missing_fraction:.2%} of {feature.name!r} is missing, against "
                f"{drift.reference_missing_fraction:.2%} in the baseline (tolerance {completeness_tolerance:.2%})",
            )
        )
    if isinstance(feature, CategoricalBaseline):
        # Values outside the baseline's listed categories land in __other__ on both paths (in memory and
        # Athena), so the check compares __other__'s share of non-missing values with the reference's.
        reference = feature.counts
        current_share = _other_share(counts)
        reference_share = _other_share(reference)
        if current_share > reference_share + unseen_tolerance:
            listed = ", ".join(repr(v) for v, _ in counts.unseen[:5])
            found.append(
                Violation(
                    feature.name,
                    "categorical_values_check",
                    f"{current_share:.2%} of {feature.name!r} values are outside the baseline's categories, "
                    f"against {reference_share:.2%} in the baseline (tolerance {unseen_tolerance:.2%})"
                    + (f", e.g. {listed}" if listed else ""),
                )
            )
    if drift.severity is Severity.ACT and drift.psi is not None:
        found.append(
            Violation(
                feature.name,
                "baseline_drift_check",
                f"PSI of {feature.name!r} is {drift.psi:.4f}, above the act threshold {thresholds.act}",
            )
        )
    return found


def _other_share(counts: BinCounts) -> float:
    present = counts.total - counts.missing
    return float(counts.counts[-1]) / present if present else 0.0
