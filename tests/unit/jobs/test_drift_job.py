"""sagemaker_jobs/drift.py, the program: arguments, inputs, its output folder, its log lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops_kit.monitoring.job import DriftInputError
from sagemaker_jobs import drift
from tests.unit.monitoring.conftest import ARTIFACTS, ENDPOINT, SERVED, World

ARGS = [
    "--use-case", "mlops_kit.features.fraud",
    "--endpoint", ENDPOINT,
    "--capture-uri", f"s3://{ARTIFACTS}/capture",
    "--baseline-uri", f"s3://{ARTIFACTS}/pipelines/run-1/Evaluate/evaluation/baseline.json",
    "--start", "2026-01-01T00:00:00Z",
    "--end", "2026-01-02T00:00:00+00:00",
]  # fmt: skip


def test_arguments_become_inputs_with_defaults_for_the_optional_ones() -> None:
    inputs = drift.inputs_from(drift.parse_args(ARGS))

    assert inputs.endpoint == ENDPOINT
    assert inputs.start.isoformat() == "2026-01-01T00:00:00+00:00"
    assert (inputs.model_version, inputs.offline_uri, inputs.baseline_mode) == (None, None, "training")
    assert (inputs.thresholds.investigate, inputs.thresholds.act) == (0.1, 0.2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2026-01-01"], "--start '2026-01-01' has no time zone"),
        (["--psi-investigate", "0.5", "--psi-act", "0.2"], "must be below thresholds.act"),
        (["--end", "2025-01-01T00:00:00Z"], "must be before its end"),
    ],
)
def test_bad_arguments_are_input_errors_naming_them(extra: list[str], message: str) -> None:
    with pytest.raises(DriftInputError, match=message):
        drift.inputs_from(drift.parse_args([*ARGS, *extra]))


def test_main_writes_the_report_folder_and_prints_what_it_found(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.serve(world.requests(150, drift=1.0, seed=8), name="drifted")
    monkeypatch.setattr(boto3, "client", lambda service, **_: world.s3)
    window = ["--start", (SERVED.replace(second=0, microsecond=0)).isoformat(), "--end", "2099-01-01T00:00:00Z"]
    out = tmp_path / "opt" / "ml" / "processing" / "output" / "report"
    monkeypatch.setenv("MLOPS_OPT_ML", str(tmp_path / "opt" / "ml"))

    summary: dict[str, Any] = drift.main(
        [*ARGS[:-4], *window, "--model-version", "3", "--offline-uri", "s3://data/features", "--min-window-rows", "100"]
    )

    printed = capsys.readouterr().out.splitlines()
    assert summary["current_rows"] == 150
    assert "amount" in summary["drifted"]
    assert printed[0].startswith("drift: 150 rows from 1 capture files (150 records;")
    assert any(line.startswith("drift:   amount ") and "PSI" in line for line in printed)
    assert json.loads((out / "run.json").read_text())["current_rows"] == 150
    assert (out / "report.html").exists()


def test_main_exits_2_with_the_reason_when_the_baseline_is_missing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(boto3, "client", lambda service, **_: world.s3)
    missing = [*ARGS[:6], "--baseline-uri", f"s3://{ARTIFACTS}/nope.json", *ARGS[8:]]

    with pytest.raises(SystemExit) as exited:
        drift.main([*missing, "--output", str(tmp_path)])

    assert exited.value.code == 2
    assert f"s3://{ARTIFACTS}/nope.json cannot be read (NoSuchKey)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
