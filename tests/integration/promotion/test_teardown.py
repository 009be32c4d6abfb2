"""Deploy, promote twice, destroy: afterwards nothing billing is left in any service, and what remains is exactly
the stateful data the README's "Tear down" section lists (``removal_policy: retain``, the default)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlops_kit.promotion.store import PromotionStore
from mlops_local.demo.scenarios import register_model
from mlops_local.demo.serving import promote
from mlops_local.demo.teardown import BILLING, RETAINED, inventory, runtime_log_groups
from mlops_local.deploy import CloudAssembly, LocalDeployer
from tests.support import platform_with_production

pytestmark = pytest.mark.slow


def retained_by_templates(assembly: CloudAssembly, account: str | None = None) -> dict[str, int]:
    """How many resources of each retained kind the templates (those deployed to ``account``, default all) keep on
    deletion (DeletionPolicy Retain)."""
    counts = dict.fromkeys(RETAINED.values(), 0)
    for stack in assembly.stacks:
        if account is not None and stack.account != account:
            continue
        for body in stack.template()["Resources"].values():
            if body.get("DeletionPolicy") == "Retain":
                assert body["Type"] in RETAINED, f"{body['Type']} is retained: add it to the README's Tear down list"
                counts[RETAINED[body["Type"]]] += 1
    return counts


def test_destroy_after_two_promotions_leaves_nothing_billing(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    started = time.monotonic()
    with platform_with_production(cloud_assembly, tmp_path) as (context, data):
        aws = context.emulator
        paths = []
        for name, seed in (("v2", 2), ("v3", 3)):
            candidate = register_model(context, data, name=name, seed=seed)
            result = promote(context, candidate, traffic_payloads=data.payloads)
            assert result["status"] == "SUCCEEDED", result["cause"]
            paths.append(result["states"])
        endpoint = context.output("EndpointName")
        history = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName")).deployments(endpoint)
        before = inventory(aws.client)
        serving = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

        deleted = LocalDeployer(aws.session(), account=aws.account, region=aws.region).destroy(cloud_assembly)
        after = inventory(aws.client)
        wall = time.monotonic() - started
    print(f"deploy, three promotions and destroy: {wall:.1f} s wall")

    # The shadow went as soon as it was compared, before anyone was asked to approve
    for states in paths:
        assert states.index("CompareShadow") < states.index("EndShadow") < states.index("WaitForHumanApproval")
    # After the second promotion only the served config and the one it started from (version 2's) remain,
    # with their two models; the shadow and canary configs of both promotions are gone
    assert serving in history[0]["cleanup"]["kept"]
    assert len(history[0]["cleanup"]["kept"]) == 2
    assert history[0]["cleanup"]["configs"]  # the shadow and canary configs of version 3 at least
    assert len(before["sagemaker endpoint configs"]) == 2, before["sagemaker endpoint configs"]
    assert len(before["sagemaker models"]) == 2, before["sagemaker models"]
    assert before["autoscaling targets"]
    assert before["sagemaker endpoints"] == [endpoint]
    # Every record carries its instance-hours: the shadow's short, both variants during the canary
    for record in history[:2]:
        hours = record["cost"]["instance_hours"]
        assert 0 < hours["shadow"] < hours["candidate"] < hours["production"]
        assert hours["total"] == pytest.approx(hours["shadow"] + hours["candidate"] + hours["production"], abs=1e-3)
        assert record["cost"]["instance_type"] == "ml.m5.large"
        assert record["cost"]["unpriced"] == "no price for ml.m5.large in cost.instance_prices"
    # Destroyed: every stack, nothing billing left, and exactly the retained data
    assert set(deleted) == {s.stack_name for s in cloud_assembly.stacks}
    assert {kind: after[kind] for kind in BILLING if after[kind]} == {}
    runtime = runtime_log_groups(after["log groups"], [endpoint])  # SageMaker's and moto's, not the templates'
    after["log groups"] = [g for g in after["log groups"] if g not in runtime]
    assert {kind: len(after[kind]) for kind in RETAINED.values()} == retained_by_templates(cloud_assembly)
