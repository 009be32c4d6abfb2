"""Catalogue of CLI inputs that used to be silently ignored or misapplied: each is applied or refused, with what
happened. (`mlops promote`'s outcomes need a deployed platform: tests/integration/promotion/
test_serving_and_approvals.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_kit.cli import platform as cli_platform
from mlops_kit.cli.main import app
from mlops_local.demo import runner as demo_runner

cli = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["demo", "--scenario", "guardrails-rollback", "--assembly", "{tmp}"],
            "scenario guardrails-rollback runs with config",
        ),
        (["demo", "--scenario", "approval-timeout", "--assembly", "{tmp}"], "drop --assembly"),
        (["demo", "--scenario", "happy", "--assembly", "{tmp}", "-c", "rollout.bake_minutes=1"], "drop --assembly"),
        (["demo", "--assembly", "{tmp}", "-c", "rollout.mode=guardrails"], "-c cannot change the already synthesized"),
        (
            ["demo", "--scenario", "guardrails-rollback", "-c", "rollout.mode=staged"],
            'scenario guardrails-rollback sets rollout.mode="guardrails"; -c rollout.mode="staged" contradicts it',
        ),
    ],
)
def test_demo_config_that_cannot_be_applied_is_refused(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(demo_runner, "run_scenario_demo", lambda *a, **k: ran.append((a, k)))
    monkeypatch.setattr(demo_runner, "run_demo", lambda *a, **k: ran.append((a, k)))

    result = cli.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args], env={"COLUMNS": "300"})

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()).replace("│", "").replace("  ", " ")
    assert ran == []


def test_context_is_merged_into_a_scenarios_config(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[dict[str, Any]] = []

    def record(*args: Any, **kwargs: Any) -> dict[str, Any]:
        ran.append(kwargs)
        return {}

    monkeypatch.setattr(demo_runner, "run_scenario_demo", record)

    result = cli.invoke(app, ["demo", "--scenario", "guardrails-rollback", "-c", "rollout.bake_minutes=1", "--json"])

    assert result.exit_code == 0, result.output
    assert ran[0]["context_overrides"] == {"mlops": {"rollout": {"bake_minutes": 1}}}
    assert demo_runner.scenario_overrides("guardrails-rollback", ran[0]["context_overrides"]["mlops"]) == {
        "rollout": {"mode": "guardrails", "bake_minutes": 1},
        "serving": {"initial_instance_count": 2},
    }


def test_run_demo_refuses_overrides_it_cannot_apply_to_an_assembly(tmp_path: Path) -> None:
    from rich.console import Console

    with pytest.raises(ValueError, match="cannot change the already synthesized --assembly"):
        demo_runner.run_demo(Console(quiet=True), assembly_dir=tmp_path, context_overrides={"mlops": {"x": 1}})
    with pytest.raises(ValueError, match="scenario approval-timeout runs with config"):
        demo_runner.run_scenario_demo(Console(quiet=True), "approval-timeout", assembly_dir=tmp_path)


STACKS = [
    {"StackName": "mlops-kit-dev-data", "Outputs": [{"OutputKey": "PromotionTableName", "OutputValue": "dev"}]},
    {"StackName": "mlops-kit-data", "Outputs": [{"OutputKey": "PromotionTableName", "OutputValue": "prod"}]},
    {"StackName": "mlops-kit-dev-serving", "Outputs": [{"OutputKey": "EndpointName", "OutputValue": "dev-ep"}]},
    {"StackName": "mlops-kit-serving", "Outputs": [{"OutputKey": "EndpointName", "OutputValue": "prod-ep"}]},
    {"StackName": "mlops", "Outputs": [{"OutputKey": "EndpointName", "OutputValue": "other"}]},
]


class _Stacks:
    """A CloudFormation client with two projects in one account: `mlops-kit` and `mlops-kit-dev`."""

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_stacks"
        stacks = STACKS

        class _Paginator:
            def paginate(self) -> list[dict[str, Any]]:
                return [{"Stacks": stacks}]

        return _Paginator()


class _Session:
    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return _Stacks()


@pytest.mark.parametrize(
    ("project", "table", "endpoint"),
    [("mlops-kit", "prod", "prod-ep"), ("mlops-kit-dev", "dev", "dev-ep")],
)
def test_stack_outputs_are_matched_by_exact_project_name(project: str, table: str, endpoint: str) -> None:
    platform = cli_platform.Platform.connect(project, session=_Session())

    assert (platform.output("PromotionTableName"), platform.output("EndpointName")) == (table, endpoint)


@pytest.mark.parametrize(
    ("stack", "project", "belongs"),
    [
        ("mlops-kit-data", "mlops-kit", True),
        ("mlops-kit-dev-data", "mlops-kit", False),
        ("mlops-kit-dev-data", "mlops-kit-dev", True),
        ("mlops-kit-data", "mlops", False),
        ("mlops-kitdata", "mlops-kit", False),
    ],
)
def test_a_stack_belongs_to_exactly_one_project(stack: str, project: str, belongs: bool) -> None:
    assert cli_platform.is_platform_stack(stack, project) is belongs
