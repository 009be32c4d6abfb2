"""Seasonal baseline windows: same period last year, rolling windows, selection and baselines from a window."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mlops_kit.drift.seasonality import (
    EmptyWindowError,
    Window,
    baseline_from_window,
    baseline_window,
    rolling_window,
    same_period_last_year,
    select_window,
)


def captured(days: int = 800, per_day: int = 4) -> pd.DataFrame:
    times = pd.date_range("2023-01-01", periods=days * per_day, freq=pd.Timedelta(days=1) / per_day, tz="UTC")
    rng = np.random.default_rng(0)
    # December traffic is higher: the seasonal pattern the baseline should follow.
    seasonal = np.where(times.month == 12, 100.0, 10.0)
    return pd.DataFrame(
        {
            "amount": rng.normal(seasonal, 1.0),
            "prediction": rng.uniform(size=len(times)),
            "inference_time": times,
            "event_id": [f"e{i}" for i in range(len(times))],
        }
    )


def test_same_period_last_year_moves_back_one_calendar_year():
    window = same_period_last_year(dt.datetime(2024, 12, 1), dt.datetime(2024, 12, 8))
    assert window == Window(pd.Timestamp("2023-12-01", tz="UTC"), pd.Timestamp("2023-12-08", tz="UTC"))
    leap = same_period_last_year("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z")
    assert leap.start == pd.Timestamp("2023-02-28", tz="UTC")


def test_rolling_window_ends_before_the_gap():
    window = rolling_window("2024-05-08", length=dt.timedelta(days=7), gap=dt.timedelta(days=1))
    assert window == Window(pd.Timestamp("2024-04-30", tz="UTC"), pd.Timestamp("2024-05-07", tz="UTC"))
    with pytest.raises(ValueError, match="length must be positive"):
        rolling_window("2024-05-08", length=dt.timedelta(0))
    with pytest.raises(ValueError, match="gap must not be negative"):
        rolling_window("2024-05-08", length=dt.timedelta(days=1), gap=dt.timedelta(days=-1))


def test_config_picks_the_window_kind():
    last_year = baseline_window("same_period_last_year", start="2024-12-01", end="2024-12-02")
    assert last_year.start == pd.Timestamp("2023-12-01", tz="UTC")
    rolling = baseline_window("rolling", start="2024-12-01", end="2024-12-02")
    assert rolling == Window(pd.Timestamp("2024-11-30", tz="UTC"), pd.Timestamp("2024-12-01", tz="UTC"))
    with pytest.raises(ValueError, match="window kind must be"):
        baseline_window("weekly", start="2024-12-01", end="2024-12-02")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be before its end"):
        baseline_window("rolling", start="2024-12-02", end="2024-12-01")


def test_select_window_is_half_open_and_accepts_naive_times():
    frame = captured(10)
    window = Window(pd.Timestamp("2023-01-02", tz="UTC"), pd.Timestamp("2023-01-03", tz="UTC"))
    selected = select_window(frame, window)
    assert len(selected) == 4
    assert selected["inference_time"].min() == window.start
    naive = frame.assign(inference_time=frame["inference_time"].dt.tz_localize(None))
    assert len(select_window(naive, window)) == 4
    with pytest.raises(ValueError, match="no timestamp column 'ts'"):
        select_window(frame, window, timestamp_column="ts")


def test_a_seasonal_baseline_removes_a_seasonal_false_alarm():
    from mlops_kit.drift.report import drift_report

    frame = captured(per_day=96)  # every 15 minutes: enough rows per window for a stable PSI
    current = select_window(frame, Window(pd.Timestamp("2024-12-01", tz="UTC"), pd.Timestamp("2024-12-15", tz="UTC")))
    november = baseline_from_window(
        frame, baseline_window("rolling", start="2024-12-01", end="2024-12-15"), prediction="prediction"
    )
    last_december = baseline_from_window(
        frame, baseline_window("same_period_last_year", start="2024-12-01", end="2024-12-15"), prediction="prediction"
    )
    assert list(last_december.features) == ["amount"]  # timestamp and event id are never features
    assert last_december.metadata["window_start"] == "2023-12-01T00:00:00+00:00"
    assert drift_report(november, current).features[0].severity.value == "act"
    assert drift_report(last_december, current).features[0].severity.value == "stable"


def test_an_empty_window_says_so():
    with pytest.raises(EmptyWindowError, match="no rows between"):
        baseline_from_window(
            captured(10), Window(pd.Timestamp("2030-01-01", tz="UTC"), pd.Timestamp("2030-01-02", tz="UTC"))
        )
