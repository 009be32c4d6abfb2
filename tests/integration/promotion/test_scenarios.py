"""The promotion workflow's scenarios, end to end on the emulator: deployed state machine, registry trigger,
steps Lambda, real alarms and real endpoints. Each asserts the end state a person would check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import SCENARIOS, run_scenario
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import Emulator

pytestmark = pytest.mark.slow


def _run(name: str, assembly: CloudAssembly, tmp_path: Path) -> dict[str, Any]:
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=tmp_path)
        return run_scenario(name, context)


def _stages(result: dict[str, Any]) -> dict[int, tuple[str, str, str]]:
    return {r["version"]: (r["stage"], r["status"], r["approval"]) for r in result["registry"]}


def _assert_previous_model_serves(result: dict[str, Any], error: str) -> None:
    assert result["execution"]["status"] == "FAILED"
    assert result["execution"]["error"] == error
    assert result["serving"] == {"version": 1, "variant": "blue", "percent": 100}
    assert _stages(result) == {
        1: ("Production", "Deployed", "Approved"),
        2: ("Staging", "Rejected", "Rejected"),
    }
    assert result["lock"]["held"] is False


def test_first_deploy_creates_the_endpoint(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("first-deploy", cloud_assembly, tmp_path)

    assert result["execution"]["status"] == "SUCCEEDED"
    assert "DeployDirect" in result["execution"]["states"]
    assert "StartShadow" not in result["execution"]["states"]
    assert result["serving"] == {"version": 1, "variant": "blue", "percent": 100}
    assert _stages(result) == {1: ("Production", "Deployed", "Approved")}
    assert result["lock"]["held"] is False


def test_happy_path_shadow_approval_and_every_canary_step(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("happy", cloud_assembly, tmp_path)

    states = result["execution"]["states"]
    assert result["execution"]["status"] == "SUCCEEDED"
    milestones = ["StartShadow", "CompareShadow", "WaitForHumanApproval", "PrepareCanary", "CompleteRollout"]
    milestones.append("Finalize")
    assert [s for s in states if s in milestones] == milestones
    assert states.count("ShiftTraffic") == 4  # 5% -> 25% -> 50% -> 100%
    assert states.count("CheckAlarms") == 4
    assert result["serving"] == {"version": 2, "variant": "green", "percent": 100}
    assert _stages(result) == {1: ("Archived", "Retired", "Approved"), 2: ("Production", "Deployed", "Approved")}
    assert result["lock"]["held"] is False


def test_a_shadow_regression_never_reaches_real_traffic(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("shadow-regression", cloud_assembly, tmp_path)

    _assert_previous_model_serves(result, "ShadowCheckFailed")
    assert "correlation" in result["execution"]["cause"]
    assert "PrepareCanary" not in result["execution"]["states"]
    assert "WaitForHumanApproval" not in result["execution"]["states"]


def test_a_rejected_approval_keeps_production(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("approval-rejected", cloud_assembly, tmp_path)

    _assert_previous_model_serves(result, "ApprovalRejected")
    assert re.search(
        r"rejected by arn:aws:sts::\d+:assumed-role/[^/]+/demo-reviewer: p99 headroom too small",
        result["execution"]["cause"],
    )


def test_an_unanswered_approval_times_out_as_a_rejection(assembly_with: Any, tmp_path: Path) -> None:
    assembly = assembly_with("approval-timeout", {"mlops": SCENARIOS["approval-timeout"].overrides})

    result = _run("approval-timeout", assembly, tmp_path)

    _assert_previous_model_serves(result, "ApprovalTimedOut")


def test_an_alarm_at_a_middle_canary_step_rolls_all_traffic_back(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("canary-alarm", cloud_assembly, tmp_path)

    _assert_previous_model_serves(result, "RollbackAlarm")
    assert "green-5xx-rate in ALARM at 25% candidate traffic" in result["execution"]["cause"]
    assert result["execution"]["states"].count("ShiftTraffic") == 2  # 5%, then 25% where the alarm fired


def test_sagemaker_guardrails_roll_back_a_failing_fleet(assembly_with: Any, tmp_path: Path) -> None:
    assembly = assembly_with("guardrails", {"mlops": SCENARIOS["guardrails-rollback"].overrides})

    result = _run("guardrails-rollback", assembly, tmp_path)

    _assert_previous_model_serves(result, "GuardrailsRollback")
    assert "StartGuardrails" in result["execution"]["states"]
    assert "blue-5xx-rate" in result["execution"]["cause"]


def test_a_second_promotion_fails_fast_while_the_first_runs(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("concurrent-promotion", cloud_assembly, tmp_path)

    second = result["second_execution"]
    assert second is not None, result  # the first promotion reached its approval and the second one ran
    assert second["status"] == "FAILED"
    assert second["error"] == "PromotionLocked"
    assert "is being promoted by" in second["cause"]
    assert result["execution"]["status"] == "SUCCEEDED"
    # The refused candidate is left as it was: approved, still in Staging, ready to be promoted later.
    assert _stages(result)[3] == ("Staging", "Approved", "Approved")
    assert _stages(result)[2] == ("Production", "Deployed", "Approved")
    assert result["lock"]["held"] is False


def test_rollback_restores_the_archived_version(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    result = _run("rollback", cloud_assembly, tmp_path)

    assert result["execution"]["status"] == "SUCCEEDED"
    assert "DeployDirect" in result["execution"]["states"]
    assert result["serving"]["version"] == 1
    assert _stages(result) == {1: ("Production", "Deployed", "Approved"), 2: ("Archived", "Retired", "Approved")}
    assert result["lock"]["held"] is False
