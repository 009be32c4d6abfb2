"""Feature transformations written once, applied identically to a training set and to one serving request.

A :class:`Transformation` is a numpy function of named input columns. Offline, :func:`apply_to_frame` calls
it on whole columns of a training set; online, :func:`apply_to_record` calls the *same function* on
length-1 arrays built from one request's raw fields and its online features. Both paths convert their inputs
with the same :func:`as_array` (numbers -> float64 with NaN for missing; categories -> object arrays of str
or None; timestamps -> float64 microseconds since the epoch, UTC), so the values agree bit for bit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["number", "category", "timestamp"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Transformation:
    """``output = fn(*inputs)``; ``kinds`` says how each input is converted before the call."""

    output: str
    inputs: tuple[str, ...]
    kinds: tuple[Kind, ...]
    fn: Callable[..., np.ndarray]
    description: str = ""

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        result = np.asarray(self.fn(*(columns[name] for name in self.inputs)), dtype=np.float64)
        return result


def transformation(
    output: str, inputs: Sequence[str], kinds: Sequence[Kind] | None = None, description: str = ""
) -> Callable[[Callable[..., np.ndarray]], Transformation]:
    """Decorator: ``@transformation("ratio", ["amount", "avg_amount_7d"])`` over a numpy function."""
    resolved_kinds: tuple[Kind, ...] = tuple(kinds) if kinds is not None else tuple("number" for _ in inputs)
    if len(resolved_kinds) != len(inputs):
        raise ValueError(f"transformation {output!r}: {len(inputs)} inputs but {len(resolved_kinds)} kinds")

    def wrap(fn: Callable[..., np.ndarray]) -> Transformation:
        return Transformation(output, tuple(inputs), resolved_kinds, fn, description or (fn.__doc__ or "").strip())

    return wrap


def _timestamp_us(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime") and not isinstance(value, dt.datetime):
        value = value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return math.nan
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value.isoformat()} has no time zone")
    return float((value - _EPOCH) // dt.timedelta(microseconds=1))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"


def as_array(values: Any, kind: Kind) -> np.ndarray:
    """Convert a column (pandas Series, Arrow array, list) or a scalar to the canonical array of ``kind``."""
    if np.isscalar(values) or values is None or isinstance(values, dt.datetime):
        values = [values]
    if kind == "number":
        if hasattr(values, "to_numpy") and hasattr(values, "dtype"):  # pandas Series (nullable dtypes too)
            return np.asarray(values.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))
        return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    if kind == "category":
        items = values.tolist() if hasattr(values, "tolist") else list(values)
        return np.array([None if _missing(v) else str(v) for v in items], dtype=object)
    # timestamp
    if hasattr(values, "dt") and hasattr(values, "dtype"):  # pandas datetime Series
        series = values
        if getattr(series.dt, "tz", None) is None:
            raise ValueError("timestamps have no time zone")
        us = series.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").astype(np.float64).to_numpy()
        return np.where(series.isna().to_numpy(), np.nan, us)
    return np.array([_timestamp_us(v) for v in values], dtype=np.float64)


def _inputs(transformations: Sequence[Transformation]) -> dict[str, Kind]:
    produced: set[str] = set()
    needed: dict[str, Kind] = {}
    for t in transformations:
        for name, kind in zip(t.inputs, t.kinds, strict=True):
            if name not in produced:
                needed.setdefault(name, kind)
        produced.add(t.output)
    return needed


def apply(columns: dict[str, np.ndarray], transformations: Sequence[Transformation]) -> dict[str, np.ndarray]:
    """Apply in order (a transformation may use earlier outputs); returns ``columns`` plus the outputs."""
    result = dict(columns)
    for t in transformations:
        result[t.output] = t(result)
    return result


def apply_to_frame(
    frame: Any, transformations: Sequence[Transformation], passthrough: Mapping[str, Kind] | None = None
) -> dict[str, np.ndarray]:
    """The offline path: canonical input columns from a DataFrame, then :func:`apply`."""
    needed = {**_inputs(transformations), **(passthrough or {})}
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are needed by the transformations but not in the frame")
    return apply({name: as_array(frame[name], kind) for name, kind in needed.items()}, transformations)


def apply_to_record(
    record: Mapping[str, Any],
    transformations: Sequence[Transformation],
    passthrough: Mapping[str, Kind] | None = None,
) -> dict[str, float]:
    """The online path: one request's fields as length-1 arrays, the same :func:`apply`, scalars back."""
    needed = {**_inputs(transformations), **(passthrough or {})}
    missing = [name for name in needed if name not in record]
    if missing:
        raise KeyError(f"fields {missing} are needed by the transformations but not in the request")
    arrays = apply({name: as_array(record[name], kind) for name, kind in needed.items()}, transformations)
    return {name: float(values[0]) for name, values in arrays.items() if values.dtype != object}
