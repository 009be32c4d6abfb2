"""A whole staged promotion on fakes: the shadow ends before the approval wait, Finalize deletes the promotion's
unused configs and models and keeps what rollback needs, and the record carries the instance-hours."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.store import PromotionStore
from tests.unit.promotion.conftest import ENDPOINT, TABLE, World, settings

HOUR = 3600.0


def _promote(world: World) -> dict[str, Any]:
    """Validate -> shadow (1 h) -> end shadow -> (approval wait, 5 h) -> canary (2 h) -> complete -> finalize."""
    world.serve(1)
    state = world.validated(world.package(2))
    state = world.run("start_shadow", state)
    world.sagemaker.settle(ENDPOINT)
    state = world.run("check_endpoint", state)
    world.clock.advance(HOUR)
    state = world.run("end_shadow", state)
    world.sagemaker.settle(ENDPOINT)
    state = world.run("check_endpoint", state)
    world.clock.advance(5 * HOUR)  # the approval wait: production alone
    state = world.run("prepare_canary", state)
    world.sagemaker.settle(ENDPOINT)
    state = world.run("check_endpoint", state)
    world.clock.advance(2 * HOUR)
    state = world.run("complete_rollout", state)
    world.sagemaker.settle(ENDPOINT)
    state = world.run("check_endpoint", state)
    return world.run("finalize", state)


def test_the_shadow_is_gone_before_the_approval_wait(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    world.sagemaker.settle(ENDPOINT)

    state = world.run("end_shadow", world.run("check_endpoint", state))
    world.sagemaker.settle(ENDPOINT)
    state = world.run("check_endpoint", state)

    described = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointConfigName"] == state["plan"]["original_config"]
    assert not described.get("ShadowProductionVariants")
    assert set(state["plan"]["times"]) == {"started", "shadow_requested", "shadow_removed"}


def test_finalize_deletes_the_promotions_unused_configs_and_keeps_what_rollback_needs(world: World) -> None:
    state = _promote(world)

    plan = state["plan"]
    assert set(world.sagemaker.configs) == {plan["original_config"], plan["target_config"]}
    assert set(state["cleanup"]["configs"]) == {plan["shadow_config"], plan["canary_config"]}
    served = world.sagemaker.configs[plan["target_config"]]["ProductionVariants"][0]["ModelName"]
    assert set(world.sagemaker.models) == {served, f"{ENDPOINT}-v1-blue-seed"}
    assert state["cleanup"]["models"] == []  # the shadow's model is the candidate's (same slot, same digest)


def test_the_record_carries_the_instance_hours_and_the_estimate() -> None:
    world = World(settings(cost={"instance_prices": {"ml.m5.large": 0.5}}))

    _promote(world)

    record = PromotionStore(world.dynamodb, TABLE).deployments(ENDPOINT)[0]
    assert record["cost"]["instance_hours"] == {"production": 8.0, "shadow": 1.0, "candidate": 2.0, "total": 11.0}
    assert record["cost"]["estimate"] == 5.5
