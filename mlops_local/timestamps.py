"""moto's response serializer reads each stored timestamp string with ``fromisoformat`` instead of dateutil.

moto keeps most timestamps as ISO 8601 strings and its serializer turns each into a datetime with botocore's
``parse_to_aware_datetime``, whose general parser (dateutil) takes about 38 µs a value; ``datetime.fromisoformat``
reads the same strings in about 0.2 µs. A promotion's execution history alone has thousands of events, each with
its timestamp (2% of the promotion tests' interpreter time, sampled with py-spy). The result is the same instant in
UTC; anything ``fromisoformat`` does not read, and every value that is not a string or that is an epoch number
written as a string, goes to botocore's function as before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_local.patching import Patcher, PatchPoint

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="moto-serializer-iso-timestamps",
        module="moto.core.serialize",
        attribute="parse_to_aware_datetime",
        signature="(value)",
        why="moto's serializer reads each stored ISO 8601 timestamp with dateutil, 200 times slower than fromisoformat",
    ),
)


def _iso_in_utc(value: Any) -> dt.datetime | None:
    """``value`` read as ISO 8601 in UTC (no offset means UTC, botocore's rule); None when it is not a string, is an
    epoch number written as one (botocore reads those as seconds), or is not ISO 8601 to ``fromisoformat``."""
    if not isinstance(value, str):
        return None
    try:
        float(value)
        return None
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def fast_aware_datetime(original: Any) -> Any:
    """``original`` (botocore's ``parse_to_aware_datetime``), reading ISO 8601 strings with ``fromisoformat``."""

    def parse_to_aware_datetime(value: Any) -> dt.datetime:
        parsed = _iso_in_utc(value)
        if parsed is not None:
            return parsed
        result: dt.datetime = original(value)
        return result

    return parse_to_aware_datetime


def apply(patcher: Patcher) -> None:
    (point,) = PATCH_POINTS
    patcher.replace(point, fast_aware_datetime(point.original()))
