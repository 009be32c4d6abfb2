"""`mlops dataset ...` and `mlops pipeline run --dvc-...` refuse what they can tell is wrong before any AWS call,
in one line saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app

runner = CliRunner()
NO_AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens: a call would fail differently


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli import console

    monkeypatch.setattr(console.err_console, "_width", 600)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("[core]\n    remote = store\n['remote \"store\"']\n    url = s3://b/p\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "run", "--dvc-repo", "."], "give both --dvc-repo and --dvc-path"),
        (["pipeline", "run", "--dvc-path", "data/labels"], "give both --dvc-repo and --dvc-path"),
        (["dataset", "export", "--repo", "{p}", "--path", "data/x"], "give either --version"),
        (["dataset", "export", "--repo", "{p}", "--path", "d", "--version", "1", "--from", "s3://b/x/"], "not both"),
        (["dataset", "export", "--repo", "{p}", "--path", "d", "--from", "/tmp/x"], "is not an S3 folder"),
        (["dataset", "export", "--repo", "{p}", "--path", "../d", "--version", "1"], "must be a folder inside"),
        (["dataset", "export", "--repo", "{p}/.dvc", "--path", "d", "--version", "1"], "is not a DVC project"),
        (
            ["dataset", "export", "--repo", "{p}", "--path", "d", "--version", "1", "--remote", "x"],
            "'x' is not defined",
        ),
        (["dataset", "resolve", "--repo", "{p}", "--path", "data/labels"], "is not a git repository"),
    ],
)
def test_bad_dvc_input_is_refused_before_any_call(project: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [a.replace("{p}", str(project)) for a in args], env=NO_AWS)

    assert result.exit_code == 1, result.output
    assert message in result.output


def test_export_refuses_to_overwrite_data_already_there(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "kept.csv").write_text("a\n")

    result = runner.invoke(app, ["dataset", "export", "--repo", str(project), "--path", "data", "--version", "1"])

    assert result.exit_code == 1
    assert "already exists: export into a new path" in result.output
    assert (project / "data" / "kept.csv").read_text() == "a\n"
