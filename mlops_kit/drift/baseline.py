"""Training baselines: what the reference data looked like, per feature and for the model's predictions.

A baseline is computed once (at training time, or from a window of captured data, see
:mod:`mlops_kit.drift.seasonality`), stored as JSON next to the model version, and every drift run compares
current data with it. Numeric features keep their decile edges, per-bin counts, missing count, summary
statistics and a bounded, seeded, sorted sample of finite values (for KS); categorical features keep their
category counts with the rare tail folded into ``__other__``. See :mod:`mlops_kit.drift.stats` for how the
bins are used.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from mlops_kit.drift.stats import (
    DECILES,
    OTHER,
    BinCounts,
    FloatArray,
    IntArray,
    bin_counts_from_sorted,
    check_edges,
    sorted_finite,
    sorted_quantiles,
)

_T = TypeVar("_T")
_R = TypeVar("_R")

SCHEMA_VERSION = 1
BASELINE_KIND = "mlops_kit.drift.baseline"
DEFAULT_SAMPLE_SIZE = 10_000
DEFAULT_MAX_CATEGORIES = 50
DEFAULT_MIN_CATEGORY_FRACTION = 0.001

FeatureKind = Literal["numeric", "categorical"]


class BaselineError(ValueError):
    """A baseline cannot be computed or loaded; the message names the feature or field at fault."""


@dataclass(frozen=True, eq=False)
class NumericBaseline:
    """Reference distribution of one numeric feature.

    ``edges`` are ``numpy.unique(numpy.quantile(finite_values, DECILES))``, plus ``nextafter(max)`` when the
    last of them is the maximum (see the PSI contract in :mod:`mlops_kit.drift.stats`); ``bin_counts`` has
    ``len(edges) + 1`` entries; ``sample`` is sorted. Summary statistics are ``None`` without finite values.
    """

    name: str
    row_count: int
    missing_count: int
    edges: FloatArray
    bin_counts: IntArray
    sample: FloatArray
    integral: bool
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    total: float | None
    kind: Literal["numeric"] = "numeric"

    @property
    def counts(self) -> BinCounts:
        return BinCounts(self.bin_counts, self.missing_count)

    @property
    def missing_fraction(self) -> float:
        return self.missing_count / self.row_count if self.row_count else 0.0

    @property
    def proportions(self) -> FloatArray:
        """Share of all reference rows (missing included) in each bin."""
        return self.bin_counts / self.row_count if self.row_count else np.zeros(self.bin_counts.size)

    def bin_labels(self) -> list[str]:
        """Human labels of the bins, e.g. ``< 1.5``, ``[1.5, 2.25)``, ``>= 9``."""
        return numeric_bin_labels(self.edges)


@dataclass(frozen=True, eq=False)
class CategoricalBaseline:
    """Reference distribution of one categorical feature: ``category_counts`` per category, then ``__other__``."""

    name: str
    row_count: int
    missing_count: int
    categories: tuple[str, ...]
    category_counts: IntArray
    distinct_count: int
    kind: Literal["categorical"] = "categorical"

    @property
    def counts(self) -> BinCounts:
        return BinCounts(self.category_counts, self.missing_count)

    @property
    def missing_fraction(self) -> float:
        return self.missing_count / self.row_count if self.row_count else 0.0

    @property
    def proportions(self) -> FloatArray:
        """Share of all reference rows (missing included) per category, ``__other__`` last."""
        return self.category_counts / self.row_count if self.row_count else np.zeros(self.category_counts.size)

    def bin_labels(self) -> list[str]:
        return [*self.categories, OTHER]


FeatureBaseline = NumericBaseline | CategoricalBaseline


@dataclass(frozen=True, eq=False)
class Baseline:
    """Baselines of every feature (in order) and of the prediction, with the parameters that produced them."""

    features: Mapping[str, FeatureBaseline]
    prediction: FeatureBaseline | None
    row_count: int
    created_at: str
    sample_size: int
    seed: int
    max_categories: int
    min_category_fraction: float
    metadata: Mapping[str, str] = field(default_factory=dict)

    def all_columns(self) -> list[FeatureBaseline]:
        """Feature baselines, then the prediction's (if any)."""
        return [*self.features.values(), *([self.prediction] if self.prediction is not None else [])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (strict JSON: no NaN or infinity)."""
        return {
            "kind": BASELINE_KIND,
            "schema_version": SCHEMA_VERSION,
            "created_at": self.created_at,
            "row_count": self.row_count,
            "parameters": {
                "sample_size": self.sample_size,
                "seed": self.seed,
                "max_categories": self.max_categories,
                "min_category_fraction": self.min_category_fraction,
                "quantiles": list(DECILES),
            },
            "metadata": dict(self.metadata),
            "features": [_feature_to_dict(f) for f in self.features.values()],
            "prediction": _feature_to_dict(self.prediction) if self.prediction is not None else None,
        }

    def to_json(self) -> str:
        """Strict JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        """Load a baseline written by :meth:`to_dict`.

        Raises BaselineError when the kind or schema version is not this one, or a field is missing or
        inconsistent (the message names it).
        """
        if not isinstance(data, Mapping):
            raise BaselineError(f"a baseline must be a JSON object (got {type(data).__name__})")
        if data.get("kind") != BASELINE_KIND:
            raise BaselineError(f"kind must be {BASELINE_KIND!r} (got {data.get('kind')!r})")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise BaselineError(
                f"schema_version {data.get('schema_version')!r} is not supported (this kit reads {SCHEMA_VERSION})"
            )
        try:
            parameters = data["parameters"]
            features = [_feature_from_dict(f) for f in data["features"]]
            prediction = _feature_from_dict(data["prediction"]) if data.get("prediction") is not None else None
            names = [f.name for f in features]
            if len(set(names)) != len(names):
                raise BaselineError(f"features: duplicate names in {names}")
            return cls(
                features={f.name: f for f in features},
                prediction=prediction,
                row_count=int(data["row_count"]),
                created_at=str(data["created_at"]),
                sample_size=int(parameters["sample_size"]),
                seed=int(parameters["seed"]),
                max_categories=int(parameters["max_categories"]),
                min_category_fraction=float(parameters["min_category_fraction"]),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            )
        except KeyError as missing:
            raise BaselineError(f"baseline field {missing.args[0]!r} is missing") from None
        except (TypeError, ValueError) as bad:
            if isinstance(bad, BaselineError):
                raise
            raise BaselineError(f"baseline is malformed: {bad}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Baseline:
        """Parse :meth:`to_json` output; raises BaselineError on invalid JSON or content."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BaselineError(f"baseline is not valid JSON: {error}") from None
        return cls.from_dict(data)


# ---------------------------------------------------------------------------------------------- computing


def _check_reference_and_parameters(
    reference: pd.DataFrame, sample_size: int, max_categories: int, min_category_fraction: float
) -> None:
    """Raise BaselineError when ``reference`` is not a non-empty frame or a parameter is out of range."""
    if not isinstance(reference, pd.DataFrame):
        raise BaselineError(f"reference must be a pandas DataFrame (got {type(reference).__name__})")
    if len(reference) == 0:
        raise BaselineError("reference data has no rows: a baseline needs at least one")
    if sample_size < 1:
        raise BaselineError(f"sample_size must be at least 1 (got {sample_size})")
    if max_categories < 1:
        raise BaselineError(f"max_categories must be at least 1 (got {max_categories})")
    if not 0 <= min_category_fraction < 1:
        raise BaselineError(f"min_category_fraction must be in [0, 1) (got {min_category_fraction})")
    if reference.columns.has_duplicates:
        duplicated = sorted({str(c) for c in reference.columns[reference.columns.duplicated()]})
        raise BaselineError(f"reference has duplicate columns: {duplicated}")


def _resolve_columns(
    reference: pd.DataFrame,
    features: Sequence[str] | None,
    categorical: Collection[str],
    prediction: str | None,
    exclude: Collection[str],
) -> tuple[list[str], list[str]]:
    """The feature names and the columns to compute (the features, then the prediction if any).

    Raises BaselineError when a feature is listed twice, the prediction is also a feature, a column is missing,
    or ``categorical`` names a column that is neither a feature nor the prediction.
    """
    skipped = {*exclude, *([prediction] if prediction is not None else [])}
    names = [str(c) for c in reference.columns if c not in skipped] if features is None else list(features)
    if len(set(names)) != len(names):
        raise BaselineError(f"features are listed more than once: {sorted({n for n in names if names.count(n) > 1})}")
    if prediction is not None and prediction in names:
        raise BaselineError(f"{prediction!r} is the prediction and cannot also be a feature")
    wanted = [*names, *([prediction] if prediction is not None else [])]
    absent = [n for n in wanted if n not in reference.columns]
    if absent:
        raise BaselineError(f"reference has no column(s) {absent} (columns: {[str(c) for c in reference.columns]})")
    unknown_categorical = sorted(set(categorical) - set(wanted))
    if unknown_categorical:
        raise BaselineError(f"categorical lists {unknown_categorical}, which are not features or the prediction")
    return names, wanted


def compute_baseline(
    reference: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    categorical: Collection[str] = (),
    prediction: str | None = None,
    exclude: Collection[str] = (),
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    min_category_fraction: float = DEFAULT_MIN_CATEGORY_FRACTION,
    metadata: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> Baseline:
    """Compute the baseline of ``reference``.

    ``features`` defaults to every column except ``prediction`` and ``exclude``. A feature is categorical
    when listed in ``categorical`` or when its dtype is not numeric (booleans, strings, pandas categoricals);
    otherwise numeric. Categories are kept by descending count (ties by label) while they are among the
    ``max_categories`` most frequent and hold at least ``min_category_fraction`` of the rows; the rest is
    folded into ``__other__`` (a category literally named ``__other__`` is folded too). ``std`` is the
    population standard deviation. Each numeric feature's sample is drawn with a generator seeded by ``seed`` and
    the feature name, so adding a feature does not change the others' samples. ``workers`` threads share the
    features (default: one per CPU, at most 8).

    Raises BaselineError when ``reference`` has no rows, a named column is missing or duplicated, the
    prediction is also a feature, or a parameter is out of range.
    """
    _check_reference_and_parameters(reference, sample_size, max_categories, min_category_fraction)
    names, wanted = _resolve_columns(reference, features, categorical, prediction, exclude)

    def one(name: str) -> FeatureBaseline:
        column = reference[name]
        if name in categorical or not is_numeric_column(column):
            return _categorical_baseline(name, column, max_categories, min_category_fraction)
        return _numeric_baseline(name, column, sample_size, seed)

    computed = map_on_workers(one, wanted, workers)
    return Baseline(
        features={f.name: f for f in computed[: len(names)]},
        prediction=computed[-1] if prediction is not None else None,
        row_count=len(reference),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        sample_size=sample_size,
        seed=seed,
        max_categories=max_categories,
        min_category_fraction=min_category_fraction,
        metadata=dict(metadata or {}),
    )


def map_on_workers(function: Callable[[_T], _R], items: Sequence[_T], workers: int | None) -> list[_R]:
    """``[function(item) for item in items]`` on :func:`default_workers` threads, results in order; in the calling
    thread when that is one thread (or one item). Why not a pool of one: each item is then a hand-off to another
    thread and back, and on a loaded machine each wake-up waits for a core: 600 drift reports of 4 features took
    14.5 s beside other work against 2 s alone."""
    count = min(default_workers(workers), len(items))
    if count <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(function, items))


def default_workers(workers: int | None) -> int:
    """Threads for per-feature work: numpy's sorts and searches release the GIL, so features run in parallel."""
    import os

    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1 (got {workers})")
        return workers
    return max(1, min(8, os.cpu_count() or 1))


def is_numeric_column(column: pd.Series) -> bool:
    """Numeric dtype and not boolean (booleans are categories)."""
    return bool(pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype))


def numeric_values(column: pd.Series) -> tuple[FloatArray, int]:
    """Float64 values of ``column`` and how many non-null values did not parse as numbers (they become NaN)."""
    if is_numeric_column(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), 0
    parsed = pd.to_numeric(column, errors="coerce")
    unparsable = int(parsed.isna().sum() - column.isna().sum())
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan), max(unparsable, 0)


def _numeric_baseline(name: str, column: pd.Series, sample_size: int, seed: int) -> NumericBaseline:
    values, _ = numeric_values(column)
    ordered, missing = sorted_finite(values)
    n = ordered.size
    if n == 0:
        edges = np.empty(0)
        summary: tuple[float | None, ...] = (None, None, None, None, None)
        sample = np.empty(0)
        integral = False
    else:
        # numpy.quantile(values[finite], DECILES) read off the sorted copy (same result, no second partition).
        with np.errstate(over="ignore", invalid="ignore"):
            edges = np.unique(sorted_quantiles(ordered, DECILES))
            # Interpolating between values near +/-1.8e308 can overflow; such an edge cannot be written as a
            # finite bin boundary and is dropped (the neighbouring bins merge). Likewise, sums of huge values
            # can overflow, and such summaries are reported as unknown.
            edges = edges[np.isfinite(edges)]
            if edges.size and edges[-1] == ordered[-1]:
                # The last bin would hold the reference's maximum and everything above it: a constant
                # feature (all 7) would look stable against 8. Values above the range get their own bin.
                above = np.nextafter(ordered[-1], np.inf)
                if np.isfinite(above):
                    edges = np.append(edges, above)
            summary = tuple(
                _finite_or_none(v) for v in (ordered.mean(), ordered.std(), ordered[0], ordered[-1], ordered.sum())
            )
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        # Positions in the sorted values, sorted again, so the sample is sorted and independent of row order.
        sample = ordered if n <= sample_size else ordered[np.sort(rng.choice(n, size=sample_size, replace=False))]
        integral = bool(np.all(np.floor(ordered) == ordered))
    counts = bin_counts_from_sorted(ordered, missing, edges)
    mean, std, minimum, maximum, total = summary
    return NumericBaseline(
        name=name,
        row_count=len(column),
        missing_count=missing,
        edges=edges,
        bin_counts=counts.counts,
        sample=np.array(sample, dtype=np.float64),
        integral=integral,
        mean=mean,
        std=std,
        minimum=minimum,
        maximum=maximum,
        total=total,
    )


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def category_label(value: object) -> str:
    """The string a category is compared by: ``str(value)``, integral floats as integers (``3.0`` -> ``"3"``).

    Integer columns become floats in pandas as soon as one value is missing; without this, a current window
    with one missing value would see every category as new.
    """
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(column: pd.Series) -> tuple[list[str], IntArray, int]:
    """Distinct labels of ``column`` (see :func:`category_label`), their counts, and the missing count.

    Pandas categoricals are counted from their codes; other columns are factorized (hashing), never looped
    over row by row. Labels that coincide after conversion (``3`` and ``3.0``) are added together.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        uniques: Sequence[object] | pd.Index = column.cat.categories
    else:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
    counted = np.bincount(codes.astype(np.int64) + 1, minlength=len(uniques) + 1)
    missing = int(counted[0])
    labels = [category_label(u) for u in uniques]
    by_label: dict[str, int] = {}
    for label, count in zip(labels, counted[1:].tolist(), strict=True):
        if count:
            by_label[label] = by_label.get(label, 0) + count
    return list(by_label), np.array(list(by_label.values()), dtype=np.int64), missing


def _categorical_baseline(
    name: str, column: pd.Series, max_categories: int, min_category_fraction: float
) -> CategoricalBaseline:
    labels, counts, missing = category_counts(column)
    # Most frequent first, ties broken by label so the baseline does not depend on row order.
    order = sorted(range(len(labels)), key=lambda i: (-int(counts[i]), labels[i]))
    rows = len(column)
    kept = [
        i
        for rank, i in enumerate(order)
        if rank < max_categories and counts[i] >= min_category_fraction * rows and labels[i] != OTHER
    ]
    kept_set = set(kept)
    other = int(sum(int(counts[i]) for i in range(len(labels)) if i not in kept_set))
    return CategoricalBaseline(
        name=name,
        row_count=rows,
        missing_count=missing,
        categories=tuple(labels[i] for i in kept),
        category_counts=np.array([*(int(counts[i]) for i in kept), other], dtype=np.int64),
        distinct_count=len(labels),
    )


# ---------------------------------------------------------------------------------------------- (de)serialising


def numeric_bin_labels(edges: Sequence[float] | FloatArray) -> list[str]:
    """Labels of the left-closed bins of ``edges``: ``< e0``, ``[e0, e1)``, ..., ``>= e_last``."""
    values = [float(e) for e in edges]
    if not values:
        return ["all values"]
    labels = [f"< {values[0]:.4g}"]
    labels += [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(values)]
    labels.append(f">= {values[-1]:.4g}")
    return labels


def _feature_to_dict(feature: FeatureBaseline) -> dict[str, Any]:
    common = {
        "name": feature.name,
        "kind": feature.kind,
        "row_count": feature.row_count,
        "missing_count": feature.missing_count,
        "missing_fraction": feature.missing_fraction,
    }
    if isinstance(feature, NumericBaseline):
        return {
            **common,
            "edges": feature.edges.tolist(),
            "bin_counts": feature.bin_counts.tolist(),
            "proportions": feature.proportions.tolist(),
            "integral": feature.integral,
            "mean": feature.mean,
            "std": feature.std,
            "min": feature.minimum,
            "max": feature.maximum,
            "sum": feature.total,
            "sample": feature.sample.tolist(),
        }
    return {
        **common,
        "categories": list(feature.categories),
        "counts": feature.category_counts.tolist(),
        "proportions": feature.proportions.tolist(),
        "distinct_count": feature.distinct_count,
    }


def _optional_float(value: Any, field_name: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise BaselineError(f"{field_name} must be finite or null (got {value!r})")
    return number


def _feature_from_dict(data: Mapping[str, Any]) -> FeatureBaseline:
    name = str(data["name"])
    kind = data["kind"]
    row_count = int(data["row_count"])
    missing = int(data["missing_count"])
    if kind == "numeric":
        try:
            edges = check_edges(data["edges"])
        except ValueError as error:
            raise BaselineError(f"feature {name!r}: {error}") from None
        bin_counts = np.asarray(data["bin_counts"], dtype=np.int64)
        if bin_counts.size != edges.size + 1:
            raise BaselineError(f"feature {name!r}: {edges.size} edges need {edges.size + 1} bin_counts")
        sample = np.asarray(data["sample"], dtype=np.float64)
        if sample.size and (not np.all(np.isfinite(sample)) or np.any(np.diff(sample) < 0)):
            raise BaselineError(f"feature {name!r}: sample must be finite and sorted")
        feature: FeatureBaseline = NumericBaseline(
            name=name,
            row_count=row_count,
            missing_count=missing,
            edges=edges,
            bin_counts=bin_counts,
            sample=sample,
            integral=bool(data["integral"]),
            mean=_optional_float(data.get("mean"), f"feature {name!r}: mean"),
            std=_optional_float(data.get("std"), f"feature {name!r}: std"),
            minimum=_optional_float(data.get("min"), f"feature {name!r}: min"),
            maximum=_optional_float(data.get("max"), f"feature {name!r}: max"),
            total=_optional_float(data.get("sum"), f"feature {name!r}: sum"),
        )
        counted = int(bin_counts.sum())
    elif kind == "categorical":
        categories = tuple(str(c) for c in data["categories"])
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.size != len(categories) + 1:
            raise BaselineError(f"feature {name!r}: {len(categories)} categories need {len(categories) + 1} counts")
        if len(set(categories)) != len(categories) or OTHER in categories:
            raise BaselineError(f"feature {name!r}: categories must be distinct and must not include {OTHER!r}")
        feature = CategoricalBaseline(
            name=name,
            row_count=row_count,
            missing_count=missing,
            categories=categories,
            category_counts=counts,
            distinct_count=int(data["distinct_count"]),
        )
        counted = int(counts.sum())
    else:
        raise BaselineError(f"feature {name!r}: kind must be 'numeric' or 'categorical' (got {kind!r})")
    if missing < 0 or counted + missing != row_count or np.any(feature.counts.counts < 0):
        raise BaselineError(
            f"feature {name!r}: counts ({counted}) plus missing_count ({missing}) must equal row_count ({row_count})"
        )
    return feature
