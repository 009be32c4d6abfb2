"""A serverless endpoint (``serving.serverless``, ``rollout.mode`` all_at_once) promoted end to end on the
emulator, and what it refuses: a second production variant, and moving an instance-based endpoint to serverless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import SERVERLESS_OVERRIDES, fixture_data, register_model, run_scenario
from mlops_local.demo.serving import promote
from mlops_local.emulator import Emulator

pytestmark = pytest.mark.slow

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 1}


@pytest.fixture(scope="module")
def serverless_assembly(assembly_with: Any) -> Any:
    return assembly_with("serverless", {"mlops": SERVERLESS_OVERRIDES})


def _stages(result: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {r["version"]: (r["stage"], r["status"]) for r in result["registry"]}


def test_a_serverless_promotion_is_approved_replaces_production_at_once_and_bakes(
    serverless_assembly: Any, tmp_path: Path
) -> None:
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=serverless_assembly, console=Console(quiet=True), workdir=tmp_path)
        result = run_scenario("serverless", context)

        # A staged canary's config (two production variants) is refused by SageMaker on a serverless endpoint.
        sagemaker = aws.client("sagemaker")
        serving = sagemaker.describe_endpoint_config(
            EndpointConfigName=sagemaker.describe_endpoint(EndpointName=context.output("EndpointName"))[
                "EndpointConfigName"
            ]
        )["ProductionVariants"][0]
        canary = [
            {"VariantName": slot, "ModelName": serving["ModelName"], "ServerlessConfig": SERVERLESS}
            for slot in ("blue", "green")
        ]
        with pytest.raises(ClientError, match="do not support multiple production variants"):
            sagemaker.create_endpoint_config(EndpointConfigName="staged-canary", ProductionVariants=canary)

    states = result["execution"]["states"]
    assert result["execution"]["status"] == "SUCCEEDED"
    milestones = ["Validate", "WaitForHumanApproval", "DeployDirect", "SwapBake", "SwapCheckAlarms", "Finalize"]
    assert [s for s in states if s in milestones] == milestones
    assert not {"StartShadow", "PrepareCanary", "ShiftTraffic", "StartGuardrails"} & set(states)
    assert result["serving"] == {"version": 2, "variant": "green", "percent": 100}
    assert result["serving_config"] == {"variants": [SERVERLESS], "data_capture": None}
    assert _stages(result) == {1: ("Archived", "Retired"), 2: ("Production", "Deployed")}
    cost = result["record"]["cost"]
    assert result["record"]["mode"] == "all_at_once"
    assert cost["serving"] == "serverless"
    assert cost["instance_hours"] is None
    assert cost["estimate"] is None
    assert cost["provisioned_gb_hours"] > 0  # one provisioned invocation of 2 GB on both slots during the promotion
    assert result["lock"]["held"] is False


def test_a_failing_serverless_candidate_is_rolled_back_after_the_bake(serverless_assembly: Any, tmp_path: Path) -> None:
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=serverless_assembly, console=Console(quiet=True), workdir=tmp_path)
        result = run_scenario("serverless-alarm", context)

    assert result["execution"]["status"] == "FAILED"
    assert result["execution"]["error"] == "RollbackAlarm"
    assert "green-5xx-rate in ALARM at 100% candidate traffic" in result["execution"]["cause"]
    assert "SwapCheckAlarms" in result["execution"]["states"]
    assert result["serving"] == {"version": 1, "variant": "blue", "percent": 100}
    assert result["serving_config"]["variants"] == [SERVERLESS]
    assert _stages(result) == {1: ("Production", "Deployed"), 2: ("Staging", "Rejected")}
    assert result["lock"]["held"] is False


def test_the_workflow_refuses_to_move_an_instance_based_endpoint_to_serverless(
    serverless_assembly: Any, tmp_path: Path
) -> None:
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=serverless_assembly, console=Console(quiet=True), workdir=tmp_path)
        run_scenario("first-deploy", context)
        sagemaker, endpoint = aws.client("sagemaker"), context.output("EndpointName")
        # Someone moved the endpoint to instances by hand (SageMaker allows that way, and no way back).
        model = sagemaker.describe_endpoint_config(
            EndpointConfigName=sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        )["ProductionVariants"][0]["ModelName"]
        variant = {"VariantName": "blue", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        # Named like the kit's configs: the steps' role may describe those, and only those.
        by_hand = f"{endpoint}-by-hand"
        sagemaker.create_endpoint_config(EndpointConfigName=by_hand, ProductionVariants=[variant])
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=by_hand)
        aws.wait_until(
            lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService", timeout=3600
        )
        data = fixture_data()
        candidate = register_model(context, data, name="v2", seed=2)

        result = promote(context, candidate, traffic_payloads=data.payloads)

        assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == by_hand
    assert result["status"] == "FAILED"
    assert result["error"] == "ServingModeChange"
    assert "cannot convert an instance-based endpoint to serverless" in result["cause"]
    assert result["states"] == ["Validate", "Refused"]
