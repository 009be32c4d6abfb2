"""Outcomes as events: what an application puts on the default EventBridge bus for ``lambdas/abtest_outcome``.

    events.put_events(Entries=[outcome_entry("checkout-model", "u-17", metric="conversion")])

The event has source ``mlops.abtest`` and detail-type ``Experiment Outcome``; its detail is
:class:`OutcomeDetail`. ``at`` defaults to the event's own time (to the end of its second: EventBridge stamps
events to the second); ``event_id`` to a hash of the fields, so give ``at`` or ``event_id`` when the producer may
retry (a retried ``PutEvents`` gets a new event time).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mlops_kit.abtest.names import OUTCOME_DETAIL_TYPE, OUTCOME_SOURCE


class OutcomeDetail(BaseModel):
    """One outcome: the user's value of one of the experiment's metrics (``value=1`` for a conversion)."""

    model_config = ConfigDict(extra="forbid")

    experiment: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    value: float = Field(1.0, allow_inf_nan=False)
    at: AwareDatetime | None = None
    event_id: str | None = Field(None, min_length=1)


def outcome_entry(
    experiment: str,
    user_id: str,
    *,
    metric: str,
    value: float = 1.0,
    at: datetime | None = None,
    event_id: str | None = None,
    bus: str = "default",
) -> dict[str, Any]:
    """A ``PutEvents`` entry for one outcome. Raises ``ValueError`` (pydantic) naming a bad field."""
    detail = OutcomeDetail(experiment=experiment, user_id=user_id, metric=metric, value=value, at=at, event_id=event_id)
    return {
        "Source": OUTCOME_SOURCE,
        "DetailType": OUTCOME_DETAIL_TYPE,
        "Detail": json.dumps(detail.model_dump(mode="json", exclude_none=True)),
        "EventBusName": bus,
    }
