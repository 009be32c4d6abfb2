"""`mlops abtest ...` and `mlops invoke --user-id`: bad inputs are one clear line; a whole experiment from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_kit.abtest.models import ExperimentPlan
from mlops_local.deploy import CloudAssembly, LocalDeployer
from mlops_local.emulator import Emulator
from tests.integration.abtest.conftest import Platform

runner = CliRunner()
PLAN = [
    "--hypothesis", "version 2 ranks better, so more users check out", "--metric", "conversion",
    "--baseline", "0.2", "--mde", "0.1", "--window", "2d", "--daily-users", "200", "--min-samples", "10",
    "--guardrail", "name=error_rate,kind=binary,direction=higher_is_worse,harm_to_detect=0.2",
]  # fmt: skip


@pytest.fixture(autouse=True)
def narrow_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow terminal: errors must still be one line; tables may wrap."""
    from mlops_kit.cli import console

    monkeypatch.setattr(console.err_console, "_width", 60)
    monkeypatch.setattr(console.console, "_width", 200)


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


@pytest.fixture
def data_stack(emulator: Emulator, cloud_assembly: CloudAssembly) -> dict[str, str]:
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    stack = next(s for s in cloud_assembly.stacks if s.stack_name.endswith("-data"))
    (result,) = deployer.deploy(cloud_assembly, stacks=[stack.stack_name])
    return result.outputs


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["--baseline", "1.2"], r"primary: baseline must be a conversion rate in (0, 1), exclusive, got 1.2"),
        (["--baseline", "0"], r"primary: baseline must be a conversion rate in (0, 1), exclusive, got 0.0"),
        (["--mde", "0"], "primary: mde must be a non-zero finite number, got 0.0"),
        (["--alpha", "1.5"], "alpha: Input should be less than 1"),
        (["--power", "0.04"], "power (0.04) must exceed alpha (0.05)"),
        (["--window", "soon"], "not a duration: 'soon'; use e.g. 2d, 36h, 90m or ISO 8601 (P1D)"),
        (["--guardrail", "error_rate"], "guardrail 'error_rate': expected comma-separated key=value pairs"),
    ],
    ids=["rate-above-1", "rate-0", "mde-0", "alpha", "power", "window", "guardrail"],
)
def test_bad_plans_are_one_clear_line_before_any_aws_call(changes: list[str], message: str) -> None:
    result = runner.invoke(app_main(), ["abtest", "plan", "checkout-model", *PLAN, *changes])

    assert result.exit_code == 1
    assert message in one_error_line(result.output)


@pytest.mark.parametrize(
    "arguments",
    [["--inference-id", "x" * 65], ["--inference-id", " leading-space"], ["--inference-id", "r1", "--file", "a.jsonl"]],
    ids=["too-long", "leading-space", "with-a-batch"],
)
def test_an_inference_id_names_one_request_and_is_checked_before_routing(arguments: list[str]) -> None:
    result = runner.invoke(app_main(), ["invoke", "--customer-id", "C1", "--amount", "1", "--merchant-category",
                                        "grocery", "--user-id", "u1", *arguments])  # fmt: skip

    assert result.exit_code == 1
    assert one_error_line(result.output).startswith("--inference-id names one request: give it without --file")


def test_a_plan_needs_its_inputs() -> None:
    result = runner.invoke(app_main(), ["abtest", "plan", "checkout-model", "--metric", "conversion"])

    assert result.exit_code == 1
    assert (
        one_error_line(result.output)
        == "give --hypothesis, --baseline, --mde, --daily-users (or --file with the whole plan)"
    )


def test_unknown_experiments_and_unexposed_users_are_one_clear_line(data_stack: dict[str, str]) -> None:
    planned = runner.invoke(app_main(), ["abtest", "plan", "checkout-model", *PLAN])
    assert planned.exit_code == 0, planned.output
    plan = ExperimentPlan.model_validate(
        {"name": "checkout-model", "hypothesis": "x", "daily_users": 200,
         "primary": {"name": "conversion", "kind": "binary", "baseline": 0.2, "mde": 0.1}}
    )  # fmt: skip
    assert f"{plan.sample_size.control:,} control + {plan.sample_size.treatment:,} treatment users" in planned.output

    again = runner.invoke(app_main(), ["abtest", "plan", "checkout-model", *PLAN])
    unknown = runner.invoke(app_main(), ["abtest", "status", "nope"])
    unknown_outcome = runner.invoke(app_main(), ["abtest", "outcome", "nope", "--user-id", "u1", "--metric", "m"])
    not_started = runner.invoke(
        app_main(), ["abtest", "outcome", "checkout-model", "--user-id", "u1", "--metric", "conversion"]
    )

    assert "experiment 'checkout-model' already exists; choose another name" in one_error_line(again.output)
    assert one_error_line(unknown.output) == "unknown experiment 'nope'; known experiments: checkout-model"
    assert one_error_line(unknown_outcome.output) == "unknown experiment 'nope'; known experiments: checkout-model"
    assert one_error_line(not_started.output) == (
        "experiment 'checkout-model' has not started: no user can have an outcome yet"
    )


def test_a_whole_experiment_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    main = app_main()
    assert runner.invoke(main, ["abtest", "plan", "checkout-model", *PLAN]).exit_code == 0
    no_experiment = runner.invoke(main, ["invoke", "--customer-id", "C1", "--amount", "1", "--merchant-category",
                                         "grocery", "--user-id", "u1"])  # fmt: skip
    assert one_error_line(no_experiment.output) == (
        f"no A/B experiment is running on endpoint '{platform.endpoint_name}'; start one with `mlops abtest start`"
    )

    started = runner.invoke(main, ["abtest", "start", "checkout-model", "--candidate", str(platform.candidate.version),
                                   "--treatment-share", "0.5"])  # fmt: skip
    assert started.exit_code == 0, started.output
    assert "running: salt" in started.output
    routed = {}
    for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
        result = runner.invoke(main, ["invoke", "--customer-id", "C1", "--amount", "10", "--merchant-category",
                                      "grocery", "--user-id", user])  # fmt: skip
        assert result.exit_code == 0, result.output
        routed[user] = result.output
    exposures = {e.user_id: e for e in platform.repository().list_exposures("checkout-model")}
    assert set(exposures) == set(routed)
    for user, output in routed.items():
        assert f"user {user}: {exposures[user].arm} arm of checkout-model, variant {exposures[user].variant}" in output
        assert f" {exposures[user].variant} " in output.split("Predictions")[1]  # the variant that served it

    unexposed = runner.invoke(main, ["abtest", "outcome", "checkout-model", "--user-id", "stranger", "--metric",
                                     "conversion"])  # fmt: skip
    bad_metric = runner.invoke(main, ["abtest", "outcome", "checkout-model", "--user-id", "u1", "--metric", "clicks"])
    assert one_error_line(unexposed.output).startswith(
        "user 'stranger' has no exposure to experiment 'checkout-model' at or before"
    )
    assert one_error_line(bad_metric.output) == (
        "unknown metric 'clicks'; this experiment measures ['conversion', 'error_rate']"
    )
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text("\n".join(json.dumps({"user_id": u, "metric": "conversion"}) for u in ("u1", "u2")))
    assert runner.invoke(main, ["abtest", "outcome", "checkout-model", "--file", str(outcomes)]).exit_code == 0
    assert len(platform.repository().list_outcomes("checkout-model")) == 2

    plot = tmp_path / "status.png"
    status = runner.invoke(main, ["abtest", "status", "checkout-model", "--plot", str(plot)])
    assert status.exit_code == 0, status.output
    assert plot.read_bytes().startswith(b"\x89PNG")
    arms = {a: sum(e.arm == a for e in exposures.values()) for a in ("control", "treatment")}
    assert f"│ control   │ v{platform.production.version} " in status.output
    assert f"│ {arms['control']}  " in status.output.split("│ control")[1]
    assert "continue: minimum runtime not reached: decidable from " in status.output

    early = runner.invoke(main, ["abtest", "stop", "checkout-model", "--decision", "inconclusive", "--reason", "x"])
    neither = runner.invoke(main, ["abtest", "stop", "checkout-model", "--reason", "x"])
    both = runner.invoke(main, ["abtest", "stop", "checkout-model", "--decision", "keep_control", "--abandon",
                                "--reason", "x"])  # fmt: skip
    assert early.exit_code == 1
    assert "cannot decide 'inconclusive' on experiment 'checkout-model' before " in one_error_line(early.output)
    assert "minimum runtime is 1 whole week (business cycles)" in one_error_line(early.output)
    assert "abandon it" in one_error_line(early.output)
    for refused in (neither, both):
        assert one_error_line(refused.output) == (
            "give either --decision (ship_treatment, keep_control or inconclusive) or --abandon (no decision)"
        )
    unknown = runner.invoke(main, ["abtest", "stop", "nope", "--decision", "keep_control", "--reason", "x"])
    bad_decision = runner.invoke(main, ["abtest", "stop", "checkout-model", "--decision", "ship", "--reason", "x"])
    assert one_error_line(unknown.output) == "unknown experiment 'nope'; known experiments: checkout-model"
    assert one_error_line(bad_decision.output) == (
        "decision must be ship_treatment, keep_control or inconclusive, got 'ship'"
    )
    stopped = runner.invoke(main, ["abtest", "stop", "checkout-model", "--abandon", "--reason", "the demo ends"])
    assert stopped.exit_code == 0, stopped.output
    assert "endpoint: finished; registry unchanged: version 2 stays Staging/PendingApproval" in stopped.output
    listed = runner.invoke(main, ["abtest", "list"])
    assert "abandoned by" in listed.output


def app_main():  # imported late: the CLI module tree is only loaded by the tests that use it
    from mlops_kit.cli.main import app

    return app
