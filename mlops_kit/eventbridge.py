"""The EventBridge event a Lambda target receives, as a Pydantic model whose ``detail`` a handler narrows.

The kit's handlers validated events with Powertools' parser. Its ``parse`` builds a ``TypeAdapter`` of the
model on the first event (a second schema build of a model Pydantic has already built), and its envelopes module
builds every envelope's models (about 70) at import. This is the same envelope, field for field, so a handler
keeps its validation and its error messages (a Pydantic ``ValidationError`` naming the field)::

    class PackageStateChangeEvent(EventBridgeEvent):
        detail: PackageStateChange

    change = PackageStateChangeEvent.model_validate(event).detail

Fields are those of the event structure in the EventBridge user guide ("Amazon EventBridge events").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventBridgeEvent(BaseModel):
    """One EventBridge event. Subclasses declare ``detail`` as their own model; here it is any JSON object.

    Validation fails (``pydantic.ValidationError``) on a missing envelope field, a ``time`` that is not an
    ISO 8601 timestamp, or a ``detail`` its model refuses.
    """

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(default=None, alias="replay-name")
