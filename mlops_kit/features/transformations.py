"""Feature transformations written once, applied identically to a training set and to one serving request.

A :class:`Transformation` is a numpy function of named input columns. Offline, :func:`apply_to_frame` calls
it on whole columns of a training set; online, :func:`apply_to_record` calls the *same function* on
length-1 arrays built from one request's raw fields and its online features. Both paths convert their inputs
with the same :func:`as_array` (numbers -> float64 with NaN for missing; categories -> object arrays of str
or None; timestamps -> float64 microseconds since the epoch, UTC), so the values agree bit for bit.

One request's values are checked with strict types before they are converted (:func:`check_value`): a bool is
not a number, a list is not a value (its first element would be scored), NaN and infinities are not numbers a
caller may send, and a required field may not be null. A column of a training set is converted as it is: its
types come from the offline store's schema, not from a caller.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Callable, Collection, Mapping, Sequence
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


# What each kind allows, as an error message says it.
ALLOWED: dict[Kind, str] = {
    "number": "a finite JSON number (not a string, a boolean, NaN or Infinity, nor beyond +/-1.8e308)",
    "category": "a non-empty string",
    "timestamp": "an ISO 8601 date and time with a UTC offset, e.g. 2026-11-26T10:15:00+00:00",
}


class InvalidValueError(ValueError):
    """A value :func:`check_value` refuses: ``field`` names it; ``reason`` says what is wrong and what is allowed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field!r} {reason}")
        self.field = field
        self.reason = reason


def _shown(value: Any) -> str:
    """A short description of a refused value (never the repr of a container, which may be nested deeply)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, numbers.Integral):
        digits = len(str(abs(int(value)))) if abs(int(value)) < 10**400 else 401
        return f"an integer of {digits} digits" if digits > 20 else str(int(value))
    return f"{type(value).__name__} {str(value)[:40]}"


def check_value(field: str, value: Any, kind: Kind, *, required: bool) -> None:
    """Refuse (:class:`InvalidValueError`) a value of one record that ``kind`` does not allow, before conversion.

    Allowed: numbers are ints or floats (not bools) whose float is finite; categories are strings (non-empty when
    ``required``); timestamps are timezone-aware datetimes or ISO 8601 strings with an offset. A missing value
    (``None``, or NaN and pandas' NA as a training set holds one) is allowed only when not ``required``.
    """
    if not required and _missing(value):
        return
    if value is None:
        raise InvalidValueError(field, f"is required: {ALLOWED[kind]}, not null")
    if isinstance(value, Mapping | list | tuple | set | frozenset) or (
        isinstance(value, np.ndarray) and value.ndim > 0
    ):
        raise InvalidValueError(field, f"must be one value, {ALLOWED[kind]}; got {_shown(value)}")
    problem = _CHECKS[kind](value, required)
    if problem:
        raise InvalidValueError(field, f"{problem}{ALLOWED[kind]}; got {_shown(value)}")


def _number_problem(value: Any, required: bool) -> str | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return "must be "
    try:
        return None if math.isfinite(float(value)) else "must be "
    except OverflowError:  # an int beyond the float range
        return "must be "


def _category_problem(value: Any, required: bool) -> str | None:
    return None if isinstance(value, str) and (value or not required) else "must be "


def _timestamp_problem(value: Any, required: bool) -> str | None:
    if isinstance(value, dt.datetime):
        return None
    if not isinstance(value, str):
        return "must be "
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return "must be "
    if parsed.tzinfo is None:
        return "has no time zone: send "
    try:
        parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable UTC time
        return "is out of range: send "
    return None


_CHECKS: dict[Kind, Callable[[Any, bool], str | None]] = {
    "number": _number_problem,
    "category": _category_problem,
    "timestamp": _timestamp_problem,
}


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
    *,
    required: Collection[str] = (),
) -> dict[str, float]:
    """The online path: one request's fields as length-1 arrays, the same :func:`apply`, scalars back.

    Raises ``KeyError`` naming the fields the record lacks, and :class:`InvalidValueError` (a ``ValueError``) for
    the first value :func:`check_value` refuses; the fields in ``required`` may not be null.
    """
    needed = {**_inputs(transformations), **(passthrough or {})}
    missing = [name for name in needed if name not in record]
    if missing:
        raise KeyError(f"fields {missing} are needed by the transformations but not in the request")
    for name, kind in needed.items():
        check_value(name, record[name], kind, required=name in required)
    arrays = apply({name: as_array(record[name], kind) for name, kind in needed.items()}, transformations)
    return {name: float(values[0]) for name, values in arrays.items() if values.dtype != object}
