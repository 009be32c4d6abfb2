"""The promotion steps on a serverless endpoint (``serving.serverless``, ``rollout.mode`` all_at_once): no shadow,
no capture, no autoscaling, one update after the approval, a cost record without instance-hours."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_kit.promotion import cost
from mlops_kit.promotion.steps.validate import ServingModeChange
from mlops_kit.promotion.store import PromotionStore
from tests.unit.promotion.conftest import ENDPOINT, TABLE, World, settings

SERVERLESS = {"memory_size_in_mb": 2048, "max_concurrency": 5, "provisioned_concurrency": 1}
REQUEST = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 1}


@pytest.fixture
def world() -> World:
    serving = {"endpoint_name": ENDPOINT, "serverless": SERVERLESS}
    return World(settings(serving=serving, rollout={"mode": "all_at_once"}))


def serve_serverless(world: World, version: int, slot: str = "blue") -> str:
    """Version ``version`` is Production and serves alone, serverless, in ``slot``."""
    arn = world.package(version, "Production", "Deployed")
    model, config = f"{ENDPOINT}-v{version}-{slot}-seed", f"{ENDPOINT}-seed-v{version}"
    container = world.sagemaker.packages[arn]["InferenceSpecification"]["Containers"][0]
    world.sagemaker.create_model(
        ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
        PrimaryContainer={**container, "Environment": {"MLOPS_MODEL_PACKAGE_ARN": arn}},
    )  # fmt: skip
    world.sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{"VariantName": slot, "ModelName": model, "ServerlessConfig": REQUEST,
                             "InitialVariantWeight": 1.0}],
    )  # fmt: skip
    world.sagemaker.serve(ENDPOINT, config)
    return arn


def deployed(world: World) -> dict[str, Any]:
    """The state after Validate and DeployDirect of version 2 over a serverless version 1, the update done."""
    serve_serverless(world, 1)
    state = world.run("deploy_direct", world.validated(world.package(2)))
    world.sagemaker.settle(ENDPOINT)
    return state


def test_validate_plans_the_all_at_once_path_into_the_other_slot(world: World) -> None:
    serve_serverless(world, 1)

    state = world.validated(world.package(2))

    assert state["plan"]["mode"] == "all_at_once"
    assert (state["plan"]["current_slot"], state["plan"]["candidate_slot"]) == ("blue", "green")


def test_validate_refuses_an_endpoint_on_instances_and_changes_nothing(world: World) -> None:
    world.serve(1)  # instance-based
    candidate = world.package(2)

    with pytest.raises(ServingModeChange, match="cannot convert an instance-based endpoint to serverless"):
        world.validated(candidate)

    assert PromotionStore(world.dynamodb, TABLE).lock_holder(ENDPOINT) is None
    assert world.sagemaker.packages[candidate]["ModelLifeCycle"]["StageStatus"] == "PendingApproval"


def test_the_candidate_replaces_production_in_one_serverless_update_without_capture(world: World) -> None:
    state = deployed(world)

    update = world.sagemaker.requests("UpdateEndpoint")[0]
    config = world.sagemaker.configs[update["EndpointConfigName"]]
    assert [(v["VariantName"], v["ServerlessConfig"]) for v in config["ProductionVariants"]] == [("green", REQUEST)]
    assert "InstanceType" not in config["ProductionVariants"][0]
    assert "DataCaptureConfig" not in config
    assert "DeploymentConfig" not in update  # SageMaker's default: blue/green, all at once
    assert state["rollout"]["percent"] == 100


def test_an_alarm_after_the_bake_fails_the_promotion_at_full_traffic(world: World) -> None:
    state = deployed(world)
    world.cloudwatch.alarms = {f"{ENDPOINT}-green-5xx-rate": "ALARM"}

    state = world.run("check_alarms", state)

    assert state["failure"]["Error"] == "RollbackAlarm"
    assert "at 100% candidate traffic" in state["failure"]["Cause"]


def test_finalize_leaves_autoscaling_to_sagemaker_and_records_no_instance_hours(world: World) -> None:
    state = deployed(world)
    world.clock.advance(3600)

    world.run("finalize", state)

    assert not world.autoscaling.registered(ENDPOINT, "green")
    record = PromotionStore(world.dynamodb, TABLE).deployments(ENDPOINT)[0]
    assert record["mode"] == "all_at_once"
    assert record["cost"]["serving"] == "serverless"
    assert record["cost"]["instance_hours"] is None
    assert record["cost"]["estimate"] is None
    assert record["cost"]["unpriced"] == cost.SERVERLESS_UNPRICED
    # Production for the hour, the candidate from its update: 1 provisioned invocation of 2 GB each.
    assert record["cost"]["provisioned_gb_hours"] == pytest.approx(2 * 2.0, abs=0.01)


def test_an_on_demand_endpoint_has_no_provisioned_hours() -> None:
    times = {"started": 0.0, "candidate_requested": 0.0, "previous_removed": 60.0}

    result = cost.serverless_estimate(
        times, finished=3600.0, endpoint_existed=True, serverless={"MemorySizeInMB": 1024, "MaxConcurrency": 1}
    )

    assert result["provisioned_gb_hours"] is None
    assert result["estimate"] is None
