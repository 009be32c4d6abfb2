"""The approval service in-process: an event of another group is ignored, one without the version is refused
naming the field, and a reviewer's answer is handled by the approval logic (tested in
``tests/unit/promotion/test_approvals.py``) with the function's settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler, eventbridge_event
from tests.unit.handlers.examples import APPROVAL, GROUP


def change(detail: dict[str, Any]) -> dict[str, Any]:
    return eventbridge_event("aws.sagemaker", "SageMaker Model Package State Change", detail)


def test_a_change_in_another_group_is_ignored(load_handler: LoadHandler, context: FakeLambdaContext) -> None:
    module = load_handler("promotion_approval", APPROVAL)

    result = module.handler(change({"ModelPackageArn": "arn:x", "ModelPackageGroupName": "other"}), context)

    assert result == {"result": "ignored", "message": f"not a version of {GROUP}"}


def test_an_event_without_the_version_is_refused_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext
) -> None:
    module = load_handler("promotion_approval", APPROVAL)

    with pytest.raises(ValidationError, match="ModelPackageArn"):
        module.handler(change({"ModelPackageGroupName": GROUP}), context)


def test_the_policy_comes_from_the_settings(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_handler("promotion_approval", APPROVAL)
    seen: dict[str, Any] = {}

    def answer_from_registry(**kwargs: Any) -> Any:
        seen.update(kwargs)
        from mlops_kit.promotion.approvals import Outcome

        return Outcome("ignored", "nothing waits")

    monkeypatch.setattr(module, "answer_from_registry", answer_from_registry)
    monkeypatch.setattr(
        module, "clients", lambda: {n: object() for n in ("sagemaker", "stepfunctions", "dynamodb", "sns")}
    )

    result = module.handler(change({"ModelPackageArn": "arn:pkg", "ModelPackageGroupName": GROUP}), context)

    assert result["result"] == "ignored"
    assert seen["package_arn"] == "arn:pkg"
    assert seen["policy"].approvers == APPROVAL.approvers
    assert seen["policy"].allow_self_approval is False
