"""One drift run over the in-memory world: stable and drifted traffic, empty windows, seasonal baselines, files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_kit.drift.stats import Severity
from mlops_kit.monitoring.job import (
    DriftInputError,
    parse_time,
    report_from_json,
    run_drift,
    write_outputs,
)
from tests.unit.monitoring.conftest import ARTIFACTS, SERVED, World


def test_stable_traffic_is_stable_and_drifted_traffic_acts_on_the_shifted_features(
    served_world: Callable[..., World],
) -> None:
    world = served_world(normal=300)
    stable = run_drift(world.inputs(), world.s3)
    world.serve(world.requests(900, drift=1.0, seed=3), name="drifted")

    drifted = run_drift(world.inputs(), world.s3)

    assert stable.report.current_rows == 300
    assert stable.report.drifted == ()
    assert drifted.report.current_rows == 1200
    assert {"amount", "log_amount", "prediction"} <= set(drifted.report.drifted)  # the requests' amounts shifted
    assert "age" not in drifted.report.drifted
    assert drifted.baseline_source == "training"


def test_an_empty_window_is_a_defined_no_data_report(world: World) -> None:
    run = run_drift(world.inputs(), world.s3)

    assert run.report.current_rows == 0
    assert run.report.severity is Severity.NO_DATA
    assert run.capture_files == 0
    assert "no capture files in the window" in run.notes
    json.dumps(run.summary(), allow_nan=False)


def test_a_missing_or_invalid_baseline_is_an_input_error_naming_the_uri(served_world: Callable[..., World]) -> None:
    world = served_world(normal=20)
    missing = f"s3://{ARTIFACTS}/pipelines/none/baseline.json"
    world.s3.put_object(Bucket=ARTIFACTS, Key="pipelines/bad/baseline.json", Body=b"[1, 2]")

    with pytest.raises(DriftInputError, match=f"{missing} cannot be read \\(NoSuchKey\\)"):
        run_drift(world.inputs(baseline_uri=missing), world.s3)
    with pytest.raises(DriftInputError, match="is not a baseline: a baseline must be a JSON object"):
        run_drift(world.inputs(baseline_uri=f"s3://{ARTIFACTS}/pipelines/bad/baseline.json"), world.s3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": SERVED, "end": SERVED - dt.timedelta(hours=1)}, "must be before its end"),
        ({"start": dt.datetime(2026, 1, 1)}, "has no time zone"),
        ({"baseline_mode": "weekly"}, "baseline mode must be training, last_year or rolling"),
        ({"capture_uri": "capture/ep"}, "capture_uri: not an S3 URI"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(world: World, overrides: dict, message: str) -> None:
    with pytest.raises(DriftInputError, match=message):
        world.inputs(**overrides)


def test_rows_of_other_model_versions_are_left_out_and_said(served_world: Callable[..., World]) -> None:
    world = served_world(normal=100)
    world.serve(world.requests(40, seed=9), version="4", name="candidate")

    run = run_drift(world.inputs(), world.s3)

    assert run.report.current_rows == 100
    assert run.summary()["capture"]["other_model_versions"] == {"4": 40}
    assert any("version 4: 40" in note for note in run.notes)


def test_a_rolling_baseline_compares_with_the_traffic_before_the_window(served_world: Callable[..., World]) -> None:
    world = served_world(normal=0)
    earlier = SERVED - dt.timedelta(days=2)
    world.serve(world.requests(600, drift=1.0, seed=4), when=earlier, name="earlier")
    world.serve(world.requests(600, drift=1.0, seed=5), name="now")

    rolling = run_drift(world.inputs(baseline_mode="rolling", rolling_days=7), world.s3)
    training = run_drift(world.inputs(), world.s3)

    # Against the training baseline the shift is drift; against last week's (equally shifted) traffic it is not.
    assert "amount" in training.report.drifted
    assert rolling.report.drifted == ()
    assert rolling.baseline_source.startswith("rolling (")
    assert rolling.baseline.metadata["source"].startswith("captured traffic, rolling")


def test_a_seasonal_baseline_without_traffic_falls_back_to_the_training_baseline(
    served_world: Callable[..., World],
) -> None:
    world = served_world(normal=50)

    run = run_drift(world.inputs(baseline_mode="last_year"), world.s3)

    assert run.baseline_source == "training (fallback)"
    assert any("no captured traffic in the last_year" in note for note in run.notes)
    assert run.report.current_rows == 50


def test_the_run_writes_model_monitor_files_the_kits_report_html_and_run_json(
    served_world: Callable[..., World], tmp_path: Path
) -> None:
    world = served_world(normal=200, drifted=200)
    run = run_drift(world.inputs(), world.s3)

    written = write_outputs(run, tmp_path / "report")

    assert set(written) == {
        "statistics.json",
        "constraints.json",
        "constraint_violations.json",
        "drift_report.json",
        "report.html",
        "run.json",
    }
    report = report_from_json((tmp_path / "report" / "drift_report.json").read_text())
    assert report.drifted == run.report.drifted
    statistics = json.loads((tmp_path / "report" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 400
    violations = json.loads((tmp_path / "report" / "constraint_violations.json").read_text())["violations"]
    assert {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"} == set(
        run.report.drifted
    )
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Drift report: ep" in html
    assert "data:image/png;base64," in html
    summary = json.loads((tmp_path / "report" / "run.json").read_text())
    assert summary["inputs"]["model_version"] == "3"
    assert summary["psi"]["amount"] == pytest.approx(next(f.psi for f in report.features if f.name == "amount"))


def test_times_need_a_zone() -> None:
    assert parse_time("2026-01-01T10:00:00Z", "--start") == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(DriftInputError, match="--end '2026-01-01T10:00:00' has no time zone"):
        parse_time("2026-01-01T10:00:00", "--end")
    with pytest.raises(DriftInputError, match="--end 'yesterday' is not an ISO 8601 time"):
        parse_time("yesterday", "--end")
