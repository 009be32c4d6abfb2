"""The staging-then-production scenario end to end on the emulator: the tooling account's state machines promote
each version to staging's endpoint in the staging account, then to production's in the production account, with
the code bundle copied where the environment's model role may read it; then `cdk destroy` of every stack in every
account leaves nothing billing in any of them."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import SCENARIOS, run_scenario
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import DEFAULT_ACCOUNT, Emulator
from tests.integration.promotion.test_teardown import retained_by_templates

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def assembly(assembly_with: Any) -> CloudAssembly:
    return assembly_with("environment-scenario", {"mlops": SCENARIOS["environments"].overrides})


@pytest.fixture(scope="module")
def result(assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("environments")
    with Emulator(workdir=workdir / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=workdir)
        return run_scenario("environments", context)


def test_each_version_is_promoted_to_staging_then_production(result: dict[str, Any]) -> None:
    for version in ("v1", "v2"):
        promotions = result["promotions"][version]
        assert list(promotions) == ["staging", "production"]
        assert {name: p["status"] for name, p in promotions.items()} == {
            "staging": "SUCCEEDED",
            "production": "SUCCEEDED",
        }, promotions


def test_the_second_version_is_shadowed_approved_and_canaried_in_each_environment(result: dict[str, Any]) -> None:
    for environment in ("staging", "production"):
        states = result["promotions"]["v2"][environment]["states"]
        milestones = ["StartShadow", "CompareShadow", "WaitForHumanApproval", "PrepareCanary", "Finalize"]
        assert [s for s in states if s in milestones] == milestones, states
        # Live traffic to the environment's endpoint all along, served without an error (features in the requests).
        live = result["promotions"]["v2"][environment]["traffic"]
        assert live["sent"] > 0
        assert live["errors"] == 0
        assert result["promotions"]["v1"][environment]["traffic"] is None  # no endpoint before the first one


def test_each_environment_serves_the_second_version_from_the_shared_code_copy(result: dict[str, Any]) -> None:
    for environment in ("staging", "production"):
        serving = result["environments"][environment]["serving"]
        assert serving["version"] == 2
        assert "/models/code/" in serving["code"]  # not the tooling account's bootstrap bucket
        sample = result["environments"][environment]["sample"]
        assert sample["model_version"] == "2"
        assert 0 <= sample["score"] <= 1


def test_an_environments_endpoint_looks_up_a_request_without_features_in_the_tooling_accounts_store(
    result: dict[str, Any],
) -> None:
    # The environment's model read the tooling account's online table across accounts (a denied read would be a
    # 500): the scenario ingests no features, so the store has none for the customer and the answer is a 404.
    for environment in ("staging", "production"):
        refusal = result["environments"][environment]["without_features"]
        assert "404" in refusal
        assert "the feature store has no features for it" in refusal


def test_the_registry_shows_where_each_version_serves(result: dict[str, Any]) -> None:
    stages = {r["version"]: (r["stage"], r["status"]) for r in result["registry"]}
    assert stages[2] == ("production", "Deployed")
    assert stages[1] == ("Archived", "Retired")  # replaced in every environment: it serves nowhere


def test_destroy_deletes_every_stack_in_every_account(result: dict[str, Any], assembly: CloudAssembly) -> None:
    assert sorted(result["teardown"]["deleted"]) == sorted(s.stack_name for s in assembly.stacks)
    assert {label: left["account"] for label, left in result["teardown"]["left"].items()} == {
        "tooling": DEFAULT_ACCOUNT,
        "staging": "222222222222",
        "production": "333333333333",
    }


def test_nothing_billing_is_left_in_any_account(result: dict[str, Any]) -> None:
    # Each environment's endpoint, its configs, models and autoscaling went with its stack's teardown, the
    # platform's functions, state machines, alarms and topic with the tooling stacks.
    assert {label: left["billing"] for label, left in result["teardown"]["left"].items()} == {
        "tooling": {},
        "staging": {},
        "production": {},
    }


def test_what_each_account_keeps_is_the_data_its_templates_retain(
    result: dict[str, Any], assembly: CloudAssembly
) -> None:
    for label, left in result["teardown"]["left"].items():
        assert left["retained"] == retained_by_templates(assembly, left["account"]), label
    # An environment keeps only its teardown function's log group; the data stays in the tooling account.
    for environment in ("staging", "production"):
        kept = {kind: count for kind, count in result["teardown"]["left"][environment]["retained"].items() if count}
        assert kept == {"log groups": 1}, environment
