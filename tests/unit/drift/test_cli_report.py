"""`mlops drift report --current FILE --baseline FILE`: the HTML report and the terminal summary, no AWS needed;
and the one-line errors for bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.drift.baseline import compute_baseline

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal; make it wide enough that cells are not cut."""
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 200)
    monkeypatch.setattr(console.err_console, "_width", 400)


@pytest.fixture
def files(tmp_path: Path, reference: pd.DataFrame, current_drifted: pd.DataFrame) -> dict[str, Path]:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(compute_baseline(reference, prediction="score", seed=1).to_json())
    current = tmp_path / "current.parquet"
    current_drifted.to_parquet(current)
    return {"baseline": baseline, "current": current, "html": tmp_path / "out" / "report.html"}


def table_rows(output: str) -> list[list[str]]:
    """The summary table's body rows as cells (rich draws it with box characters)."""
    return [
        [cell.strip() for cell in line.strip("│ ").split("│")] for line in output.splitlines() if line.startswith("│")
    ]


def test_a_local_comparison_writes_one_html_file_and_prints_features_most_severe_first(files) -> None:
    result = runner.invoke(
        app,
        ["drift", "report", "--current", str(files["current"]), "--baseline", str(files["baseline"]),
         "-o", str(files["html"])],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert {r[0] for r in rows} == {"age", "income", "colour", "plan", "score"}
    ranks = {"act": 0, "investigate": 1, "stable": 2, "no_data": 3}
    keys = [(ranks[r[2]], -float(r[3])) for r in rows]
    assert keys == sorted(keys)  # severity, then PSI descending -- the prediction ("score") sorted in with them
    assert rows[0][2] == "act"
    assert next(r for r in rows if r[0] == "plan")[2] == "stable"  # not shifted
    page = files["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']https?://""", page)  # self-contained
    assert page.count("data:image/png;base64,") == 5
    assert "wrote " in result.output


def test_feature_selects_columns_of_the_summary_and_the_html(files) -> None:
    result = runner.invoke(
        app,
        ["drift", "report", "--current", str(files["current"]), "--baseline", str(files["baseline"]),
         "-f", "plan", "-f", "score", "-o", str(files["html"])],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert sorted(r[0] for r in table_rows(result.output)) == ["plan", "score"]
    assert files["html"].read_text().count("data:image/png;base64,") == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--baseline", "{tmp}/nope.json"], "baseline {tmp}/nope.json does not exist; pass the baseline.json"),
        (["--baseline", "{current}"], "is not a drift baseline"),
        (
            ["--baseline", "{baseline}", "-f", "colours"],
            "unknown feature 'colours': the report has income, colour, age, plan, score",
        ),
        (["--baseline", "{baseline}", "--current", "{tmp}/empty.csv"], "empty.csv has no rows: nothing to compare"),
        ([], "--current needs --baseline"),
        (["--baseline", "{baseline}", "--hours", "3"], "choose one of --job"),
        (["--baseline", "{baseline}", "--current", "{tmp}/corrupt.parquet"], "corrupt.parquet is not a readable"),
        (["--baseline", "{baseline}", "--current", "{tmp}/truncated.parquet"], "truncated.parquet is not a readable"),
        (["--baseline", "{baseline}", "--current", "{tmp}/latin1.csv"], "latin1.csv is not a readable CSV file"),
        (["--baseline", "{baseline}", "--current", "{tmp}/broken.jsonl"], "broken.jsonl is not a readable JSON lines"),
        (["--baseline", "{baseline}", "--current", "{tmp}/folder.parquet"], "folder.parquet is a directory"),
    ],
    ids=["missing baseline", "not a baseline", "unknown feature", "empty current data", "no baseline", "two modes",
         "corrupt parquet", "truncated parquet", "non-UTF-8 csv", "broken json lines", "a directory"],
)  # fmt: skip
def test_bad_input_is_one_line_naming_what_is_wrong(files, tmp_path: Path, arguments, message) -> None:
    (tmp_path / "empty.csv").write_text("age,income,colour,plan,score\n")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet at all PAR1")
    (tmp_path / "truncated.parquet").write_bytes(files["current"].read_bytes()[:-100])  # a cut-off upload
    (tmp_path / "latin1.csv").write_bytes("age,colour\n40,r\xe9d\n".encode("latin-1"))
    (tmp_path / "broken.jsonl").write_text('{"age": 40}\n{"age": \n')
    (tmp_path / "folder.parquet").mkdir()
    values = {"tmp": str(tmp_path), "current": str(files["current"]), "baseline": str(files["baseline"])}
    arguments = [a.format(**values) for a in arguments]
    if "--current" not in arguments:
        arguments = ["--current", str(files["current"]), *arguments]

    result = runner.invoke(app, ["drift", "report", *arguments, "-o", str(files["html"])])

    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert message.format(**values) in lines[0]
    assert not files["html"].exists()


def test_help_describes_each_command() -> None:
    for command in ("report", "run"):
        result = runner.invoke(app, ["drift", command, "--help"])

        assert result.exit_code == 0
        assert f"drift {command} [OPTIONS]" in result.output
