"""`mlops drift run` and `mlops drift report` against the whole app deployed into the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.monitoring import naming
from tests.integration.monitoring.conftest import Platform

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes output to the terminal; wide enough that table cells and error lines are not cut."""
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 240)
    monkeypatch.setattr(console.err_console, "_width", 600)


def table_rows(output: str) -> dict[str, list[str]]:
    """The summary table's rows by feature (rich draws it with box characters)."""
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in output.splitlines() if line.startswith("│")]
    return {row[0]: row for row in rows}


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.usefixtures("features")
def test_run_fires_the_schedules_job_and_report_renders_it_or_computes_the_same_now(
    platform: Platform, production, traffic, tmp_path: Path
) -> None:
    production()
    traffic(100)
    traffic(300, drift=1.0, seed=6)

    ran = runner.invoke(app, ["drift", "run", "-o", str(tmp_path / "run.html")])

    assert ran.exit_code == 0, ran.output
    jobs = platform.emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert [j["ProcessingJobStatus"] for j in jobs] == ["Completed"]
    job = jobs[0]["ProcessingJobName"]
    assert job.startswith(naming.job_prefix(platform.endpoint))
    assert f"drift job {job}: Production version 1" in ran.output
    start = [r for r in platform.emulator.events.delivered if "DriftStart" in r.target_arn]
    assert start == []  # the CLI invoked the start function itself; nothing went through EventBridge
    rows = table_rows(ran.output)
    assert rows["amount"][2] == rows["prediction"][2] == "act"
    assert list(rows).index("amount") < list(rows).index("age")  # most severe first
    stored = json.loads(
        platform.emulator.client("s3")
        .get_object(
            Bucket=platform.artifacts, Key=f"{naming.reports_prefix(platform.endpoint)}/{job}/drift_report.json"
        )["Body"]
        .read()
    )
    psi = {c["name"]: c["psi"] for c in [*stored["features"], stored["prediction"]]}
    assert float(rows["amount"][3]) == pytest.approx(psi["amount"], abs=5e-5)
    assert (tmp_path / "run.html").read_text().count("data:image/png;base64,") == len(psi)

    latest = runner.invoke(app, ["drift", "report", "-o", str(tmp_path / "latest.html"), "-f", "amount", "-f", "age"])

    assert latest.exit_code == 0, latest.output
    assert f"job {job}" in latest.output
    assert list(table_rows(latest.output)) == ["amount", "age"]
    assert (tmp_path / "latest.html").read_text().count("data:image/png;base64,") == 2

    now = runner.invoke(app, ["drift", "report", "--hours", "2", "-o", str(tmp_path / "now.html")])

    assert now.exit_code == 0, now.output
    computed = table_rows(now.output)
    assert set(computed) == set(psi)
    for name, value in psi.items():  # the same capture, baseline and code as the job: the same numbers
        assert float(computed[name][3]) == pytest.approx(value, abs=5e-5), name


def test_run_without_a_production_version_says_what_to_do(platform: Platform) -> None:
    result = runner.invoke(app, ["drift", "run"])

    assert result.exit_code == 1
    line = error_line(result.output)
    assert "no drift job started: no Production model version in" in line
    assert "promote a model first" in line


def test_run_with_a_production_version_without_a_baseline_names_the_missing_property(
    platform: Platform, production, traffic
) -> None:
    production(baseline=False)
    traffic(10)

    result = runner.invoke(app, ["drift", "run"])

    assert result.exit_code == 1
    line = error_line(result.output)
    assert "the drift start function failed: DriftConfigurationError: Production version 1" in line
    assert "has no drift.baseline_uri" in line


def test_empty_capture_is_a_clear_error_for_run_and_report(platform: Platform, production) -> None:
    production()

    ran = runner.invoke(app, ["drift", "run", "--hours", "3"])
    reported = runner.invoke(app, ["drift", "report", "--hours", "3"])

    assert ran.exit_code == reported.exit_code == 1
    for result in (ran, reported):
        line = error_line(result.output)
        assert "no capture files in the window" in line
        assert "send traffic (`mlops invoke`)" in line
        assert "--hours" in line
    assert platform.emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []


def test_report_before_any_run_or_of_an_unknown_job_says_what_to_do(platform: Platform, tmp_path: Path) -> None:
    none_yet = runner.invoke(app, ["drift", "report", "-o", str(tmp_path / "r.html")])
    unknown = runner.invoke(app, ["drift", "report", "--job", "drift-nope", "-o", str(tmp_path / "r.html")])

    assert none_yet.exit_code == unknown.exit_code == 1
    assert f"no drift runs of endpoint {platform.endpoint} yet" in error_line(none_yet.output)
    assert "start one with `mlops drift run`" in none_yet.output
    assert "no drift report of job drift-nope" in error_line(unknown.output)
    assert not (tmp_path / "r.html").exists()


def test_report_with_a_baseline_that_does_not_exist_names_it(platform: Platform, production, traffic) -> None:
    production()
    traffic(20)
    missing = f"s3://{platform.artifacts}/pipelines/gone/baseline.json"

    result = runner.invoke(app, ["drift", "report", "--hours", "1", "--baseline", missing])

    assert result.exit_code == 1
    line = error_line(result.output)
    assert f"the drift baseline {missing} cannot be read" in line
    assert "check the --baseline URI" in line
