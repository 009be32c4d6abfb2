"""The promotion steps against the SageMaker, Application Auto Scaling and CloudWatch rules issue 14 lists: each
test states the rule (as the fakes enforce it, after AWS's documentation) and what the workflow must do."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from mlops_kit.serving.deploy import NAME_PATTERN
from tests.unit.promotion.conftest import EXECUTION, World, settings

LONG = "a-very-long-endpoint-name-for-the-fraud-detection-team-01"  # 56 characters


def promote_to_canary(world: World, candidate: str, execution: str = EXECUTION) -> dict[str, Any]:
    state = world.validated(candidate, execution=execution)
    state = world.run("start_shadow", state)
    world.sagemaker.settle(world.endpoint)
    state = world.run("prepare_canary", state)
    world.sagemaker.settle(world.endpoint)
    return state


# -- point 9: names ------------------------------------------------------------------------------------------------
def test_two_promotions_of_a_long_endpoint_get_distinct_valid_names() -> None:
    # SageMaker names are at most 63 characters; cutting "<endpoint>-<purpose>-<execution>" to 63 made every
    # promotion of a long endpoint produce the same config names, and the second reused the first's configs.
    world = World(settings(LONG))
    world.serve(1)
    first = promote_to_canary(world, world.package(2), execution=EXECUTION + "-first")
    world.run("abort", first)
    world.sagemaker.settle(LONG)
    world.run("abort_finish", first)
    second = promote_to_canary(world, world.package(3), execution=EXECUTION + "-second")

    assert first["plan"]["canary_config"] != second["plan"]["canary_config"]
    assert first["plan"]["candidate_model"] != second["plan"]["candidate_model"]
    for name in [*world.sagemaker.models, *world.sagemaker.configs]:
        assert NAME_PATTERN.fullmatch(name), name
    canary = world.sagemaker.configs[second["plan"]["canary_config"]]
    model = world.sagemaker.models[canary["ProductionVariants"][1]["ModelName"]]
    assert model["PrimaryContainer"]["Environment"]["MLOPS_MODEL_VERSION"] == "3"


def test_a_retried_step_reuses_what_it_created() -> None:
    world = World(settings())
    world.serve(1)
    state = world.validated(world.package(2))

    first = world.run("start_shadow", state)
    world.sagemaker.settle(world.endpoint)
    models, configs = dict(world.sagemaker.models), dict(world.sagemaker.configs)
    again = world.run("start_shadow", state)  # the Lambda retried after the first call succeeded

    assert again["plan"]["shadow_config"] == first["plan"]["shadow_config"]
    assert (world.sagemaker.models, world.sagemaker.configs) == (models, configs)


# -- point 5: autoscaling and variant properties -------------------------------------------------------------------
def test_a_scaled_out_production_variant_keeps_its_instances_through_shadow_and_canary(world: World) -> None:
    # UpdateEndpoint without RetainAllVariantProperties resets instance counts to the new config's.
    world.serve(1, instances=3)

    promote_to_canary(world, world.package(2))

    blue = next(v for v in world.sagemaker.endpoints[world.endpoint].variants if v["VariantName"] == "blue")
    assert blue["CurrentInstanceCount"] == 3


def test_completing_a_rollout_takes_the_old_variant_out_of_autoscaling_first(world: World) -> None:
    # AWS refuses an UpdateEndpoint that removes a variant registered with Application Auto Scaling.
    world.serve(1)
    state = promote_to_canary(world, world.package(2))
    for _ in state["plan"]["steps"]:
        state = world.run("shift_traffic", state)
        world.sagemaker.settle(world.endpoint)

    state = world.run("complete_rollout", state)
    world.sagemaker.settle(world.endpoint)
    state = world.run("finalize", state)

    assert [v["VariantName"] for v in world.sagemaker.endpoints[world.endpoint].variants] == ["green"]
    assert world.autoscaling.registered(world.endpoint, "green")
    assert not world.autoscaling.registered(world.endpoint, "blue")


def test_a_rollback_after_a_promotion_can_remove_the_autoscaled_variant(world: World) -> None:
    world.serve(1)
    archived = world.package(0, "Archived", "Retired", **{"lifecycle.archived_at": "2026-01-01T00:00:00"})
    state = world.validated(archived, mode="rollback")

    world.run("deploy_direct", state)
    world.sagemaker.settle(world.endpoint)

    assert [v["VariantName"] for v in world.sagemaker.endpoints[world.endpoint].variants] == ["green"]


# -- point 4: GetMetricData periods --------------------------------------------------------------------------------
def test_the_shadow_comparison_asks_for_whole_minutes_over_the_bake_window(world: World) -> None:
    world.serve(1)
    world.clock.advance(23)  # not on a minute
    state = world.run("begin_shadow_bake", promote_to_canary(world, world.package(2)))
    world.clock.advance(1800 + 17)  # the bake, and a Lambda that started 17 s late

    world.run("compare_shadow", state)

    for query in world.cloudwatch.queries:
        assert query["Period"] % 60 == 0
        assert query["StartTime"].second == 0
        assert query["EndTime"].second == 0
        span = (query["EndTime"] - query["StartTime"]).total_seconds()
        assert query["Period"] == span  # one datapoint for the whole window: a true p99, not a max of p99s
        assert query["StartTime"] <= dt.datetime.fromtimestamp(state["plan"]["shadow_started"], dt.UTC)


# -- point 6: a failed update reads as a failure; every loop is bounded ---------------------------------------------
def check(world: World, state: dict[str, Any]) -> dict[str, Any]:
    return world.run("check_endpoint", state)


def test_an_update_in_progress_is_polled_again(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))

    state = check(world, state)

    assert state["endpoint"]["state"] == "in_progress"
    assert "failure" not in state


def test_the_endpoint_in_service_on_the_requested_config_is_done(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    world.sagemaker.settle(world.endpoint)

    state = check(world, state)

    assert state["endpoint"]["state"] == "done"


def test_a_failed_update_back_in_service_on_the_old_config_is_a_failure(world: World) -> None:
    # DescribeEndpoint after a failed update: EndpointStatus InService, FailureReason set, the OLD config.
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    world.sagemaker.fail_next_update("Insufficient capacity for ml.m5.large")
    world.sagemaker.settle(world.endpoint)

    state = check(world, state)

    assert state["endpoint"]["state"] == "failed"
    assert state["failure"]["Error"] == "EndpointUpdateFailed"
    assert "Insufficient capacity for ml.m5.large" in state["failure"]["Cause"]


def test_weights_that_did_not_apply_are_a_failure(world: World) -> None:
    world.serve(1)
    state = world.run("shift_traffic", promote_to_canary(world, world.package(2)))
    world.sagemaker.fail_next_update("weights rejected")
    world.sagemaker.settle(world.endpoint)

    state = check(world, state)

    assert state["failure"]["Error"] == "EndpointUpdateFailed"
    assert "weights rejected" in state["failure"]["Cause"]


def test_a_guardrails_rollback_is_reported_as_such() -> None:
    world = World(settings(rollout={"mode": "guardrails"}, serving={"endpoint_name": "e", "initial_instance_count": 2}))
    world.serve(1)
    state = world.validated(world.package(2))
    state = world.run("start_shadow", state)
    world.sagemaker.settle(world.endpoint)
    state = world.run("end_shadow", state)
    world.sagemaker.settle(world.endpoint)
    state = world.run("start_guardrails", state)
    world.sagemaker.fail_next_update(f"Rolled back: alarm {world.endpoint}-blue-5xx-rate was in ALARM")
    world.sagemaker.settle(world.endpoint)

    state = check(world, state)

    assert state["failure"]["Error"] == "GuardrailsRollback"
    assert f"{world.endpoint}-blue-5xx-rate" in state["failure"]["Cause"]


def test_broken_endpoint_states_are_failures(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    for status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
        world.sagemaker.endpoints[world.endpoint].status = status

        checked = check(world, state)

        assert checked["endpoint"]["state"] == "failed", status
        assert checked["failure"]["Error"] == "EndpointUpdateFailed"


def test_a_poll_loop_gives_up_at_its_bound(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    bound = state["plan"]["awaiting"]["max_polls"]
    assert bound == world.settings.rollout.max_polls("update") == 120  # 60 min at 30 s

    for _ in range(bound - 1):
        state = check(world, state)
        assert state["endpoint"]["state"] == "in_progress"
    state = check(world, state)

    assert state["endpoint"]["state"] == "failed"
    assert state["failure"]["Error"] == "EndpointUpdateTimedOut"


def test_abort_gives_up_waiting_for_a_busy_endpoint_at_its_bound(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    state["failure"] = {"Error": "ShadowCheckFailed", "Cause": "disagrees"}

    for _ in range(world.settings.rollout.max_polls("restore")):
        state = world.run("abort", state)
        assert state["plan"]["restore"] == "wait"
    state = world.run("abort", state)
    state = world.run("abort_finish", state)

    assert state["plan"]["restore"] == "gave_up"
    assert "did not finish" in world.sns.messages[-1]["Message"]


def test_a_failed_restore_keeps_the_original_failure_as_the_cause(world: World) -> None:
    world.serve(1)
    state = promote_to_canary(world, world.package(2))
    state["failure"] = {"Error": "RollbackAlarm", "Cause": "alarm green-5xx-rate"}
    state = world.run("abort", state)
    world.sagemaker.fail_next_update("internal failure")
    world.sagemaker.settle(world.endpoint)

    state = check(world, state)
    state = world.run("abort_finish", state)

    assert state["failure"]["Error"] == "RollbackAlarm"
    assert "internal failure" in state["plan"]["restore_problem"]


def test_after_a_failed_rollout_completion_the_restored_variant_autoscales_again(world: World) -> None:
    world.serve(1)
    state = promote_to_canary(world, world.package(2))
    for _ in state["plan"]["steps"]:
        state = world.run("shift_traffic", state)
        world.sagemaker.settle(world.endpoint)
    state = world.run("complete_rollout", state)  # blue leaves autoscaling, then the update fails
    world.sagemaker.fail_next_update("internal failure")
    world.sagemaker.settle(world.endpoint)
    state = check(world, state)
    assert not world.autoscaling.registered(world.endpoint, "blue")

    state = world.run("abort", state)
    world.sagemaker.settle(world.endpoint)
    state = world.run("abort_finish", check(world, state))

    assert [v["VariantName"] for v in world.sagemaker.endpoints[world.endpoint].variants] == ["blue"]
    assert world.autoscaling.registered(world.endpoint, "blue")


# -- point 10: the shadow comparison reads a bake window of capture in bounded memory ------------------------------
def capture(world: World, variant: str, at: float, records: list[tuple[dict[str, Any], float]]) -> None:
    """One capture file of ``variant`` started at ``at``, as SageMaker writes them (JSON lines, hourly prefix)."""
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    lines = [
        json.dumps({
            "captureData": {
                "endpointInput": {"data": json.dumps(request), "encoding": "JSON", "mode": "INPUT"},
                "endpointOutput": {"data": json.dumps({"score": score}), "encoding": "JSON", "mode": "OUTPUT"},
            },
            "eventMetadata": {"inferenceTime": (when + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")},
        })
        for i, (request, score) in enumerate(records)
    ]  # fmt: skip
    key = f"capture/{world.endpoint}/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S}-{variant}.jsonl"
    world.s3.put("artifacts", key, ("\n".join(lines) + "\n").encode(), when)


def baked(world: World, requests: int) -> dict[str, Any]:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    world.sagemaker.settle(world.endpoint)
    state = world.run("begin_shadow_bake", state)
    started = world.clock()
    traffic = [({"customer": i}, (i % 90 + 5) / 100) for i in range(requests)]
    capture(world, "blue", started - 7200, [({"customer": "old"}, 0.5)] * 50)  # long before the window
    capture(world, "blue", started + 60, traffic)
    capture(world, "shadow", started + 60, [(r, min(1.0, s + 0.01)) for r, s in traffic])
    world.cloudwatch.series = {
        ("blue", "ModelLatency", "p99"): 12_000.0, ("shadow", "ModelLatency", "p99"): 13_000.0,
        ("shadow", "Invocations", "Sum"): float(requests), ("shadow", "Invocation5XXErrors", "Sum"): 0.0,
    }  # fmt: skip
    world.clock.advance(1800)
    return state


def test_the_shadow_comparison_pairs_the_windows_requests(world: World) -> None:
    state = world.run("compare_shadow", baked(world, 200))

    assert state["shadow"]["passed"], state["shadow"]["reasons"]
    assert state["shadow"]["pairs"] == 200
    assert state["shadow"]["agreement"] > 0.95
    assert state["shadow"]["p99_ratio"] == pytest.approx(13 / 12)


def test_the_shadow_comparison_lists_only_the_windows_hours(world: World) -> None:
    state = baked(world, 10)
    started = state["plan"]["shadow_started"]

    world.run("compare_shadow", state)

    hours = sorted(prefix.split("/", 3)[3] for prefix in world.s3.listed)  # capture/<endpoint>/<variant>/<hour>
    first, last = (dt.datetime.fromtimestamp(t, dt.UTC) for t in (started - 3600, world.clock()))
    assert hours[0] == f"{first:%Y/%m/%d/%H}/"  # the hour before the window: a file started then may reach into it
    assert hours[-1] == f"{last:%Y/%m/%d/%H}/"
    assert all(prefix.endswith("/") and prefix.count("/") == 7 for prefix in world.s3.listed)


def test_the_shadow_comparison_stops_reading_at_its_pair_limit(world: World, monkeypatch: Any) -> None:
    from mlops_kit.promotion.steps import shadow

    monkeypatch.setattr(shadow, "MAX_PAIRS", 50)
    state = world.run("compare_shadow", baked(world, 2000))

    assert state["shadow"]["pairs"] == 50
    assert len(world.s3.reads) < 2 * 2000  # lines read: production stopped at 50 requests, shadow once all paired
