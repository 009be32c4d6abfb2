"""A SageMaker endpoint update that fails (InService again, on the old config, with a FailureReason; or
UpdateRollbackFailed) fails the promotion cleanly: it never reads as success, the previous model keeps serving,
the candidate is rejected and the lock is released."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import _first, _summary, end_state, fixture_data, register_model
from mlops_local.demo.serving import promote
from mlops_local.deploy import CloudAssembly, LocalDeployer
from mlops_local.emulator import Emulator

pytestmark = pytest.mark.slow

REASON = "Unable to provision requested ML compute capacity"


@pytest.mark.parametrize("ends", ["InService", "UpdateRollbackFailed"])
def test_a_failed_endpoint_update_fails_the_promotion_and_keeps_production(
    cloud_assembly: CloudAssembly, tmp_path: Path, ends: str
) -> None:
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=cloud_assembly, console=Console(quiet=True), workdir=tmp_path)
        context.stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(cloud_assembly)
        data = fixture_data()
        _first(context, data)
        candidate = register_model(context, data, name="v2", seed=2)
        endpoint = context.output("EndpointName")
        # The promotion's first update (adding the shadow variant) is accepted, then fails as SageMaker fails one.
        aws.sagemaker.fail_next_update(endpoint, REASON, ends=ends)

        execution = _summary(promote(context, candidate, traffic_payloads=data.payloads))
        state = end_state(context)
        described = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "EndpointUpdateFailed"
    assert REASON in execution["cause"]
    assert "WaitForHumanApproval" not in execution["states"]
    assert state["serving"] == {"version": 1, "variant": "blue", "percent": 100}
    assert state["lock"]["held"] is False
    # The endpoint is left as SageMaker left it (an UpdateRollbackFailed endpoint waits for an operator).
    assert described["EndpointStatus"] == ends
    assert described["FailureReason"] == REASON
    production = [(r["version"], r["stage"], r["status"]) for r in state["registry"] if r["stage"] == "Production"]
    assert production == [(1, "Production", "Deployed")]
    assert [(r["version"], r["stage"], r["status"]) for r in state["registry"] if r["version"] == 2] == [
        (2, "Staging", "Rejected")
    ]
