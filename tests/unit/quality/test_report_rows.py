"""`mlops quality report`'s table: one row per window and group, Production first, the verdict on its row."""

from __future__ import annotations

from typing import Any

from mlops_kit.cli.quality import window_rows


def group(samples: int, primary: float | None) -> dict[str, Any]:
    return {"samples": samples, "primary": primary, "brier": 0.05, "expected_calibration_error": 0.02,
            "positive_rate": 0.04}  # fmt: skip


def report(drop: dict[str, Any]) -> dict[str, Any]:
    return {
        "window": {"end": "2026-05-02T00:00:00+00:00"},
        "labels": {"labels": 300, "bad_rows": 2, "bad_files": {"x.parquet": "unsupported"}},
        "groups": {"shadow": group(290, 0.81), "production": group(300, 0.78), "blue": group(300, 0.78)},
        "production_version": "3",
        "max_drop": 0.05,
        "drop": drop,
    }


def test_production_comes_first_with_the_labels_and_the_verdict() -> None:
    rows = window_rows([report({"value": 0.07, "reason": "published", "breached": True})])

    assert [r[1] for r in rows] == ["production (v3)", "blue", "shadow"]
    assert rows[0][2:5] == ["300", "0.780", "0.050"]
    assert rows[0][7] == "300 (3 bad)"
    assert "drop 0.070 > 0.05" in rows[0][8]
    assert rows[1][7:] == ["", ""]


def test_a_window_without_a_drop_says_why() -> None:
    reason = "12 labelled rows, fewer than the minimum 200: too few to judge"

    rows = window_rows([report({"value": None, "reason": reason, "breached": False})])

    assert reason in rows[0][8]
