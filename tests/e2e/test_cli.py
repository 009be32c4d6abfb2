"""The `mlops` command line: help everywhere, clear errors, the demo. (`cdk deploy` into the local server and the
whole CLI lifecycle on it: tests/aws/test_smoke.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_local.emulator import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)
    stack = [(prefix, click_group)]
    while stack:
        path, command = stack.pop()
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            stack.append(((*path, name), sub))


@pytest.mark.parametrize("command", list(_commands(app)), ids=lambda c: " ".join(c) or "mlops")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_local_deploy_without_a_server_says_how_to_start_one() -> None:
    port = free_port()

    result = runner.invoke(app, ["local", "deploy", "--endpoint-url", f"http://localhost:{port}"])

    assert result.exit_code == 1
    assert "mlops local serve" in result.output


def test_bad_context_override_is_rejected() -> None:
    result = runner.invoke(app, ["demo", "-c", "nokeyvalue"])

    assert result.exit_code != 0
    assert "KEY=VALUE" in result.output


def test_app_refuses_bad_config_naming_the_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "MLOPS_CONTEXT_OVERRIDES": json.dumps({"mlops": {"rollout": {"mode": "yolo"}}}),
    }
    env.pop("CDK_CONTEXT_JSON", None)

    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)

    assert result.returncode == 2
    assert "mlops.rollout.mode: Input should be 'staged', 'guardrails' or 'all_at_once' (got 'yolo')" in result.stderr


@pytest.mark.slow
def test_demo_runs_and_reports_json(cloud_assembly) -> None:
    result = runner.invoke(app, ["demo", "--assembly", str(cloud_assembly.directory), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{\n") :])
    assert set(summary["platform"]["stacks"].values()) == {"CREATE_COMPLETE"}
    assert summary["promotion"]["status"] == "SUCCEEDED", summary["promotion"]
    assert summary["promotion"]["answered_on"] == "page"  # the signed link's form, POSTed as a browser does
    production = [v for v in summary["promotion"]["registry"] if v["stage"] == "Production"]
    assert [v["version"] for v in production] == [2]
    assert summary["batch"]["model_version"] == "2"  # the batch stage scored with the new Production version
    assert summary["batch"]["rows"] > 0
    drift = summary["drift"]
    assert drift["after_shift"]["severity"] == "act"
    assert drift["alarms_in_alarm"], drift["after_shift"]["psi"]
    assert sum(d["started"] for d in drift["retraining"]["decisions"]) == 1  # then in flight or cooldown
