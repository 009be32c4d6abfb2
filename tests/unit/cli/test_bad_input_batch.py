"""`mlops batch` refuses what it can tell is wrong before it connects to AWS, in one line saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli import console

    monkeypatch.setattr(console.err_console, "_width", 600)


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("rows.txt", [], "has the extension '.txt'; batch inputs are .parquet, .csv, .jsonl files"),
        ("rows", [], "has the extension '(none)'"),
        ("rows.csv", ["--input", "s3://b/batch/input/x/"], "give --input (already in S3) or --file"),
    ],
)
def test_a_file_that_cannot_be_a_batch_input_is_refused_before_any_call(tmp_path: Path, name, extra, message) -> None:
    path = tmp_path / name
    path.write_text("transaction_id\n1\n")

    result = runner.invoke(app, ["batch", "--file", str(path), *extra], env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})

    assert result.exit_code == 1
    assert message in result.output


def test_a_missing_file_and_a_version_below_1_are_refused_by_the_options(tmp_path: Path) -> None:
    assert runner.invoke(app, ["batch", "--file", str(tmp_path / "nope.csv")]).exit_code == 2
    assert runner.invoke(app, ["batch", "--model-version", "0"]).exit_code == 2
