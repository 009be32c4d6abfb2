"""The smoke test: deploy a minimal platform with the CDK CLI, train, promote with an automatic approval, invoke,
roll back and tear everything down, as a user would with `cdk` and `mlops`.

It runs on the emulator's local server in every `make test` ("local"), and on a real AWS account with
`make aws-smoke` ("aws": needs credentials and MLOPS_SMOKE_AWS=1; skipped otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_local.deploy import CloudAssembly
from tests.aws.smoke import Smoke, smoke_overrides
from tests.aws.targets import OPT_IN, AwsTarget, LocalTarget, Target, aws_refusal, smoke_project

pytestmark = pytest.mark.slow

_REFUSAL = aws_refusal()
TARGETS = [
    "local",
    pytest.param("aws", marks=pytest.mark.skipif(_REFUSAL is not None, reason=f"{_REFUSAL} (`make aws-smoke`)")),
]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "aws":
        yield AwsTarget.connect()
        return
    local = LocalTarget.start(tmp_path / "emulator")
    try:
        yield local
    finally:
        local.stop()


def test_smoke_deploys_trains_promotes_invokes_rolls_back_and_tears_down(
    target: Target, assembly_with: Callable[[str, dict[str, Any]], CloudAssembly], tmp_path: Path
) -> None:
    project = smoke_project()
    started = time.monotonic()
    assembly = assembly_with(f"smoke-{target.name}-{target.region}", smoke_overrides(project, target.region))
    smoke = Smoke(target, assembly, project, tmp_path)
    smoke.ledger.seconds["synthesize"] = time.monotonic() - started
    failure: BaseException | None = None
    try:
        # The CDK CLI's deploy and destroy run while the suite is idle (on the local server, its requests are the
        # work in flight); the rest is driven step by step.
        with smoke.phase("deploy"):
            smoke.deploy()
        with target.driving():
            _lifecycle(smoke, target)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            with smoke.phase("teardown"):
                with target.driving():
                    smoke.remove_runtime_resources()
                smoke.destroy()
        except Exception as exc:
            if failure is None:
                raise
            # The run's own failure is what pytest reports; say what teardown could not remove.
            print(f"\nteardown failed too: {exc!r}; check for stacks {project}-* and the endpoint {project}-endpoint")
        finally:
            print(f"\n{smoke.ledger.render()}\n(opt in to the real-account run with {OPT_IN}=1 and `make aws-smoke`)")


def _lifecycle(smoke: Smoke, target: Target) -> None:
    # Given the minimal platform deployed by `cdk bootstrap` and `cdk deploy --all`
    assert {"DataBucketName", "ArtifactsBucketName", "EndpointName", "PromotionStateMachineArn"} <= set(smoke.outputs)
    (api,) = smoke.stack_resources("AWS::ApiGateway::RestApi")  # the A/B router, deployed through its change set
    assert [s["stageName"] for s in target.client("apigateway").get_stages(restApiId=api)["item"]] == ["v1"]
    with smoke.phase("seed the feature store"):
        customers = smoke.seed_features()

    # When the training pipeline registers a version and `mlops promote` deploys it (no endpoint yet: no approval)
    with smoke.phase("train version 1"):
        first = smoke.train()
    assert smoke.stages()[first] == "Staging"
    with smoke.phase("first deployment"):
        deployed = smoke.mlops("promote", str(first), "--comment", "smoke test: first deployment").output
    assert "promoted" in deployed, deployed
    assert smoke.invoke(customers[0]) == first

    # And a retrained version goes through shadow (with live traffic), `mlops approve` and the canary
    with smoke.phase("train version 2"):
        second = smoke.train()
    with smoke.phase("promotion with approval"):
        approved = smoke.promote_with_approval(second, customers)
    assert f"approved version {second}" in approved, approved
    assert "promoted" in approved, approved  # `mlops approve` followed the rollout to its end
    assert smoke.invoke(customers[1]) == second
    assert {v: s for v, s in smoke.stages().items() if v in (first, second)} == {
        first: "Archived",
        second: "Production",
    }

    # Then `mlops rollback` puts the first version back
    with smoke.phase("rollback"):
        rolled_back = smoke.mlops("rollback").output
    assert f"rolling back to version {first}" in rolled_back, rolled_back
    assert "promoted" in rolled_back, rolled_back
    assert smoke.invoke(customers[2]) == first
    assert smoke.stages()[first] == "Production"
