"""The registry trigger in-process: approving a Staging version starts one promotion; an event without the version
is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_kit.promotion.trigger import execution_name
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler, eventbridge_event
from tests.unit.handlers.examples import GROUP, STATE_MACHINE, TRIGGER
from tests.unit.promotion.fakes import FakeSageMaker, FakeStepFunctions


def approval(detail: dict[str, Any]) -> dict[str, Any]:
    return eventbridge_event("aws.sagemaker", "SageMaker Model Package State Change", detail)


def test_approving_a_staging_version_starts_its_promotion_once(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker, stepfunctions = FakeSageMaker(), FakeStepFunctions()
    package = sagemaker.add_package(GROUP, 2, ModelApprovalStatus="Approved")
    module = load_handler("promotion_trigger", TRIGGER)
    monkeypatch.setattr(module, "aws", lambda: module.TriggerAws(sagemaker=sagemaker, stepfunctions=stepfunctions))
    event = approval({"ModelPackageArn": package, "ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved"})

    first = module.handler(event, context)
    redelivered = module.handler(event, context)

    assert first["started"] is True
    assert first["execution_arn"].endswith(f":{execution_name('promote', package, 2)}")
    assert first["execution_arn"].startswith(STATE_MACHINE.replace(":stateMachine:", ":execution:"))
    assert redelivered == {"started": False, "execution_arn": first["execution_arn"]}
    (started,) = stepfunctions.executions.values()
    assert json.loads(started["input"])["model_package_arn"] == package


def test_an_approval_event_without_the_version_is_refused_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    stepfunctions = FakeStepFunctions()
    module = load_handler("promotion_trigger", TRIGGER)
    monkeypatch.setattr(
        module, "aws", lambda: module.TriggerAws(sagemaker=FakeSageMaker(), stepfunctions=stepfunctions)
    )

    with pytest.raises(ValidationError, match="ModelPackageArn"):
        module.handler(approval({"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved"}), context)
    assert stepfunctions.executions == {}
