"""Each promotion step on in-memory fakes: what it asks AWS for and what it leaves in the execution state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_kit.promotion.steps import ACTIONS, run_action
from mlops_kit.promotion.steps.validate import InvalidCandidate
from mlops_kit.promotion.store import PromotionLocked, PromotionStore
from tests.unit.promotion.conftest import ENDPOINT, EXECUTION, TABLE, World, settings


def lock_holder(world: World) -> str | None:
    return PromotionStore(world.dynamodb, TABLE).lock_holder(ENDPOINT)


def stage(world: World, arn: str) -> tuple[str, str, str]:
    package = world.sagemaker.packages[arn]
    return package["ModelLifeCycle"]["Stage"], package["ModelLifeCycle"]["StageStatus"], package["ModelApprovalStatus"]


def in_shadow(world: World) -> dict[str, Any]:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))
    world.sagemaker.settle(ENDPOINT)
    return state


def in_canary(world: World) -> dict[str, Any]:
    state = in_shadow(world)
    state = world.run("prepare_canary", state)
    world.sagemaker.settle(ENDPOINT)
    return state


# -- Validate ------------------------------------------------------------------------------------------------------
def test_validate_plans_a_staged_promotion_into_the_other_slot_and_takes_the_lock(world: World) -> None:
    world.serve(1)
    candidate = world.package(2)

    state = world.validated(candidate)

    assert state["plan"]["mode"] == "staged"
    assert (state["plan"]["current_slot"], state["plan"]["candidate_slot"]) == ("blue", "green")
    assert state["plan"]["original_config"] == f"{ENDPOINT}-seed-v1"
    assert state["production"]["version"] == 1
    assert stage(world, candidate) == ("Staging", "InProgress", "Approved")
    assert lock_holder(world) == EXECUTION


def test_validate_locks_for_the_whole_workflow(world: World) -> None:
    world.serve(1)

    world.validated(world.package(2))

    lock = world.dynamodb.items[(f"lock#{ENDPOINT}", "lock")]
    assert int(lock["expires_at"]["N"]) - world.clock() >= world.settings.rollout.workflow_timeout()


def test_validate_plans_a_first_deployment_when_there_is_no_endpoint(world: World) -> None:
    state = world.validated(world.package(1))

    assert state["plan"]["mode"] == "first_deploy"
    assert state["plan"]["candidate_slot"] == "blue"
    assert state["plan"]["original_config"] is None


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ({"approval": "PendingManualApproval"}, "approve it in the registry first"),
        ({"stage": "Archived", "status": "Retired"}, "only Staging versions are promoted"),
        ({"lineage.seed": ""}, "incomplete lineage"),
    ],
)
def test_validate_refuses_a_candidate_that_cannot_be_promoted_and_changes_nothing(
    world: World, package: dict[str, Any], message: str
) -> None:
    candidate = world.package(2, **package)

    with pytest.raises(InvalidCandidate, match=message):
        world.validated(candidate)
    assert lock_holder(world) is None


def test_validate_fails_fast_while_another_promotion_holds_the_endpoint(world: World) -> None:
    world.serve(1)
    world.validated(world.package(2))

    with pytest.raises(PromotionLocked, match="is being promoted by"):
        world.validated(world.package(3), execution=EXECUTION + "-other")


# -- DeployDirect and shadow ---------------------------------------------------------------------------------------
def test_a_first_deployment_creates_the_endpoint_with_the_candidate_alone(world: World) -> None:
    state = world.run("deploy_direct", world.validated(world.package(1)))

    created = world.sagemaker.requests("CreateEndpoint")[0]
    config = world.sagemaker.configs[created["EndpointConfigName"]]
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["blue"]
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://artifacts/capture"
    assert state["plan"]["target_config"] == created["EndpointConfigName"]


def test_the_shadow_serves_production_as_before_and_mirrors_it_to_the_candidate(world: World) -> None:
    world.serve(1)

    state = world.run("start_shadow", world.validated(world.package(2)))

    update = world.sagemaker.requests("UpdateEndpoint")[0]
    config = world.sagemaker.configs[update["EndpointConfigName"]]
    assert [v["ModelName"] for v in config["ProductionVariants"]] == [f"{ENDPOINT}-v1-blue-seed"]
    shadow = config["ShadowProductionVariants"][0]
    model = world.sagemaker.models[shadow["ModelName"]]
    assert shadow["VariantName"] == "shadow"
    assert model["PrimaryContainer"]["Environment"]["MLOPS_MODEL_VERSION"] == "2"
    assert model["PrimaryContainer"]["Environment"]["MLOPS_ONLINE_TABLE"] == "features"
    assert state["path"][-1] == "StartShadow"


def test_the_bake_window_starts_on_the_clock(world: World) -> None:
    state = in_shadow(world)

    state = world.run("begin_shadow_bake", state)

    assert state["plan"]["shadow_started"] == world.clock()


# -- approval --------------------------------------------------------------------------------------------------------
def test_the_approval_request_is_stored_and_approvers_get_the_commands(world: World) -> None:
    state = in_shadow(world)
    state["shadow"] = {"pairs": 40, "agreement": 0.86, "p99_ratio": 1.1, "shadow_error_rate": 0.0}

    result = world.run("request_approval", state, task_token="token-1")

    approval = PromotionStore(world.dynamodb, TABLE).get_approval(result["approval_id"])
    assert approval.task_token == "token-1"
    assert approval.context["candidate"]["version"] == 2
    message = world.sns.messages[-1]["Message"]
    assert f"mlops approve {result['approval_id']}" in message
    assert "counts as rejected after 24 h" in message
    # The console path: the version waits in the registry, and the message links to it and to the execution.
    candidate = world.sagemaker.packages[approval.context["candidate"]["arn"]]
    assert candidate["ModelLifeCycle"]["StageStatus"] == "AwaitingApproval"
    assert "stage status to Approved or Rejected" in message
    assert "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/" in message
    assert "#/model-registry/fraud-models/versions/2" in message
    assert "token-1" not in message


def test_the_approval_step_needs_its_task_token(world: World) -> None:
    with pytest.raises(ValueError, match="task token"):
        run_action(world.promotion, "request_approval", {})


# -- staged canary ---------------------------------------------------------------------------------------------------
def test_the_canary_adds_the_candidate_slot_with_no_traffic(world: World) -> None:
    state = in_shadow(world)

    state = world.run("prepare_canary", state)

    config = world.sagemaker.configs[world.sagemaker.requests("UpdateEndpoint")[-1]["EndpointConfigName"]]
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    assert weights == {"blue": 1.0, "green": 0.0}
    assert "ShadowProductionVariants" not in config


def test_each_shift_moves_the_next_step_of_traffic_and_reports_it(world: World) -> None:
    state = in_canary(world)

    for expected in (5, 25):
        state = world.run("shift_traffic", state)
        world.sagemaker.settle(ENDPOINT)
        weights = world.sagemaker.requests("UpdateEndpointWeightsAndCapacities")[-1]["DesiredWeightsAndCapacities"]
        assert {w["VariantName"]: w["DesiredWeight"] for w in weights} == {"blue": 100 - expected, "green": expected}
        assert world.cloudwatch.put[-1]["Value"] == expected
    assert state["rollout"] == {"percent": 25, "index": 2, "done": False}


def test_an_alarm_of_the_candidate_slot_fails_the_rollout(world: World) -> None:
    state = world.run("shift_traffic", in_canary(world))
    world.cloudwatch.alarms = {f"{ENDPOINT}-green-5xx-rate": "ALARM", f"{ENDPOINT}-blue-5xx-rate": "OK"}

    state = world.run("check_alarms", state)

    assert state["failure"]["Error"] == "RollbackAlarm"
    assert f"{ENDPOINT}-green-5xx-rate in ALARM at 5% candidate traffic" in state["failure"]["Cause"]


def test_no_alarm_lets_the_rollout_go_on(world: World) -> None:
    state = world.run("shift_traffic", in_canary(world))
    world.cloudwatch.alarms = {f"{ENDPOINT}-green-5xx-rate": "OK"}

    state = world.run("check_alarms", state)

    assert "failure" not in state
    assert not any("business" in name for name in state["alarms"]["checked"])  # none configured


# -- guardrails ------------------------------------------------------------------------------------------------------
def test_guardrails_first_end_the_shadow_with_a_plain_update_to_the_original_config(world: World) -> None:
    state = world.run("end_shadow", in_shadow(world))

    update = world.sagemaker.requests("UpdateEndpoint")[-1]
    assert update["EndpointConfigName"] == f"{ENDPOINT}-seed-v1"
    assert "DeploymentConfig" not in update
    assert state["plan"]["awaiting"]["config"] == f"{ENDPOINT}-seed-v1"


def test_guardrails_deploy_the_candidate_into_the_serving_slot_with_the_alarms() -> None:
    world = World(
        settings(rollout={"mode": "guardrails"}, serving={"endpoint_name": ENDPOINT, "initial_instance_count": 2})
    )
    state = world.run("end_shadow", in_shadow(world))
    world.sagemaker.settle(world.endpoint)

    state = world.run("start_guardrails", state)

    update = world.sagemaker.requests("UpdateEndpoint")[-1]
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    alarms = [a["AlarmName"] for a in update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert f"{ENDPOINT}-blue-5xx-rate" in alarms
    config = world.sagemaker.configs[update["EndpointConfigName"]]
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["blue"]
    assert state["plan"]["candidate_slot"] == "blue"


# -- finalize and abort ----------------------------------------------------------------------------------------------
def test_finalize_makes_the_candidate_production_autoscales_it_and_releases_the_lock(world: World) -> None:
    production = world.serve(1)
    candidate = world.package(2)
    state = world.validated(candidate)
    state["plan"]["candidate_slot"] = "green"

    state = world.run("finalize", state)

    assert stage(world, candidate) == ("Production", "Deployed", "Approved")
    assert stage(world, production)[:2] == ("Archived", "Retired")
    assert world.autoscaling.registered(ENDPOINT, "green")
    assert lock_holder(world) is None
    assert state["outcome"] == "promoted"
    record = PromotionStore(world.dynamodb, TABLE).deployments(ENDPOINT)[0]
    assert record["serving_version"] == 2
    assert "is serving on" in world.sns.messages[-1]["Subject"]


def test_abort_puts_the_original_config_back(world: World) -> None:
    state = in_canary(world)

    state = world.run("abort", state)

    assert state["plan"]["restore"] == "started"
    assert world.sagemaker.requests("UpdateEndpoint")[-1]["EndpointConfigName"] == f"{ENDPOINT}-seed-v1"


def test_abort_waits_while_the_endpoint_is_busy(world: World) -> None:
    world.serve(1)
    state = world.run("start_shadow", world.validated(world.package(2)))  # still Updating

    state = world.run("abort", state)

    assert state["plan"]["restore"] == "wait"


def test_abort_removes_a_half_created_first_endpoint(world: World) -> None:
    state = world.run("deploy_direct", world.validated(world.package(1)))
    world.sagemaker.settle(ENDPOINT)

    state = world.run("abort", state)

    assert state["plan"]["restore"] == "deleted"
    assert ENDPOINT not in world.sagemaker.endpoints


def test_abort_finish_rejects_the_candidate_with_the_reason_and_releases_the_lock(world: World) -> None:
    state = in_canary(world)
    state["failure"] = {"Error": "States.TaskFailed", "Cause": json.dumps({"errorMessage": "the model broke"})}

    state = world.run("abort_finish", state)

    candidate = state["candidate"]["arn"]
    assert stage(world, candidate) == ("Staging", "Rejected", "Rejected")
    assert state["failure"] == {"Error": "States.TaskFailed", "Cause": "the model broke"}
    assert lock_holder(world) is None
    assert "failed: States.TaskFailed" in world.sns.messages[-1]["Subject"]


# -- dispatcher ------------------------------------------------------------------------------------------------------
def test_an_unknown_action_names_the_known_ones(world: World) -> None:
    with pytest.raises(ValueError, match=r"unknown promotion action 'promote_now'.*validate"):
        run_action(world.promotion, "promote_now", {})


def test_every_action_is_a_plain_snake_case_name() -> None:
    assert all(a.isidentifier() and a == a.lower() for a in ACTIONS)


def test_console_links_use_the_console_of_the_executions_partition() -> None:
    from mlops_kit.promotion.steps.approval import console_links

    china = console_links(
        "arn:aws-cn:states:cn-north-1:123456789012:execution:promotion:promote-2",
        "arn:aws-cn:sagemaker:cn-north-1:123456789012:model-package/fraud-models/2",
    )
    commercial = console_links(
        "arn:aws:states:eu-west-1:123456789012:execution:promotion:promote-2",
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud-models/2",
    )

    assert china["execution"].startswith("https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/")
    assert china["model_version"].startswith("https://cn-north-1.console.amazonaws.cn/sagemaker/home")
    assert commercial["execution"] == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
        "arn:aws:states:eu-west-1:123456789012:execution:promotion:promote-2"
    )
