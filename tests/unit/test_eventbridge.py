"""The EventBridge envelope the handlers validate with (``mlops_kit.eventbridge``): the fields of Powertools'
``EventBridgeModel`` it replaced, a ``detail`` each handler narrows, and errors that name the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mlops_kit.eventbridge import EventBridgeEvent


class Detail(BaseModel):
    name: str


class NamedEvent(EventBridgeEvent):
    detail: Detail


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Thing Happened",
        "source": "mlops.test", "account": "123456789012", "time": "2026-03-10T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"], "detail": {"name": "x"},
    }  # fmt: skip
    event.update(changes)
    return event


def test_an_event_is_read_with_its_narrowed_detail() -> None:
    event = NamedEvent.model_validate(_event())

    assert event.detail == Detail(name="x")
    assert event.detail_type == "Thing Happened"
    assert event.time == dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    assert event.replay_name is None
    assert EventBridgeEvent.model_validate(_event(**{"replay-name": "r"})).replay_name == "r"


def test_a_detail_its_model_refuses_is_an_error_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"detail\.name"):
        NamedEvent.model_validate(_event(detail={"other": 1}))


@pytest.mark.parametrize("missing", ["id", "time", "detail-type", "source"])
def test_an_envelope_without_a_field_is_an_error_naming_it(missing: str) -> None:
    event = _event()
    del event[missing]

    with pytest.raises(ValidationError, match=missing):
        EventBridgeEvent.model_validate(event)
