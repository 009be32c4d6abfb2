"""Seasonality-aware baselines: a baseline from captured data of a chosen window instead of the training data.

Against alert fatigue on seasonal traffic, today's window can be compared with the same calendar period one
year earlier, or with a rolling window just before it (refreshed on a schedule). These are pure functions
over a DataFrame with a timestamp column (e.g. :func:`mlops_kit.drift.capture.read_capture`'s frame); which
window to use comes from config.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mlops_kit.drift.baseline import Baseline, compute_baseline
from mlops_kit.drift.report import EVENT_ID_COLUMN, TIMESTAMP_COLUMN

WindowKind = Literal["same_period_last_year", "rolling"]


class EmptyWindowError(ValueError):
    """The chosen window holds no rows (e.g. the first year of capture): fall back to the training baseline."""


@dataclass(frozen=True)
class Window:
    """A half-open time interval ``[start, end)`` in UTC."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"window start ({self.start}) must be before its end ({self.end})")


def _utc(moment: dt.datetime | pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def same_period_last_year(start: dt.datetime | pd.Timestamp | str, end: dt.datetime | pd.Timestamp | str) -> Window:
    """``[start, end)`` moved back one calendar year (29 February becomes 28 February); naive times are UTC.

    Raises ValueError when ``start`` is not before ``end``.
    """
    year = pd.DateOffset(years=1)
    return Window(_utc(start) - year, _utc(end) - year)


def rolling_window(
    end: dt.datetime | pd.Timestamp | str, *, length: dt.timedelta, gap: dt.timedelta = dt.timedelta(0)
) -> Window:
    """The ``length`` just before ``end - gap`` (``gap`` keeps the window being judged out of its own baseline).

    Raises ValueError when ``length`` is not positive or ``gap`` is negative.
    """
    if length <= dt.timedelta(0):
        raise ValueError(f"length must be positive (got {length})")
    if gap < dt.timedelta(0):
        raise ValueError(f"gap must not be negative (got {gap})")
    stop = _utc(end) - pd.Timedelta(gap)
    return Window(stop - pd.Timedelta(length), stop)


def baseline_window(
    kind: WindowKind,
    *,
    start: dt.datetime | pd.Timestamp | str,
    end: dt.datetime | pd.Timestamp | str,
    rolling_length: dt.timedelta | None = None,
) -> Window:
    """The baseline window for the current window ``[start, end)`` by the configured ``kind``.

    ``same_period_last_year``: the current window a year earlier. ``rolling``: ``rolling_length`` (default:
    the current window's length) ending where the current window starts. Raises ValueError for an unknown
    kind or an empty current window.
    """
    current = Window(_utc(start), _utc(end))
    if kind == "same_period_last_year":
        return same_period_last_year(current.start, current.end)
    if kind == "rolling":
        length = rolling_length if rolling_length is not None else (current.end - current.start).to_pytimedelta()
        return rolling_window(current.start, length=length)
    raise ValueError(f"window kind must be 'same_period_last_year' or 'rolling' (got {kind!r})")


def select_window(frame: pd.DataFrame, window: Window, *, timestamp_column: str = TIMESTAMP_COLUMN) -> pd.DataFrame:
    """Rows of ``frame`` whose timestamp lies in ``[window.start, window.end)``; naive timestamps are UTC.

    Raises ValueError when ``timestamp_column`` is absent or does not hold datetimes.
    """
    if timestamp_column not in frame.columns:
        raise ValueError(f"frame has no timestamp column {timestamp_column!r}")
    try:
        stamps = pd.to_datetime(frame[timestamp_column], utc=True)
    except (ValueError, TypeError) as error:
        raise ValueError(f"column {timestamp_column!r} does not hold datetimes: {error}") from None
    mask = (stamps >= window.start) & (stamps < window.end)
    return frame.loc[mask.to_numpy()]


def baseline_from_window(
    frame: pd.DataFrame,
    window: Window,
    *,
    timestamp_column: str = TIMESTAMP_COLUMN,
    **baseline_options: Any,
) -> Baseline:
    """A baseline of the rows of ``frame`` inside ``window`` (:func:`compute_baseline` options pass through).

    The timestamp and event id columns are never features; the window is recorded in the baseline's metadata.
    Raises EmptyWindowError when no row falls in the window, and whatever :func:`compute_baseline` raises.
    """
    rows = select_window(frame, window, timestamp_column=timestamp_column)
    if len(rows) == 0:
        raise EmptyWindowError(f"no rows between {window.start.isoformat()} and {window.end.isoformat()}")
    exclude = {timestamp_column, EVENT_ID_COLUMN, *baseline_options.pop("exclude", ())}
    metadata = {
        **baseline_options.pop("metadata", {}),
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
    }
    return compute_baseline(rows, exclude=exclude, metadata=metadata, **baseline_options)
