"""Small feature groups for the unit tests, and a faithful in-memory DynamoDB table."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from mlops_kit.features.definitions import EntityKey, Feature, FeatureGroup, FeatureRegistry, ValueType

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

PROFILE = FeatureGroup(
    name="profile",
    entity_keys=(EntityKey("user"),),
    features=(Feature("age", ValueType.INT64), Feature("country", ValueType.STRING)),
    created_time_column="created",
)
ACTIVITY = FeatureGroup(
    name="activity",
    entity_keys=(EntityKey("user"),),
    features=(
        Feature("score", ValueType.FLOAT64),
        Feature("flag", ValueType.BOOL),
        Feature("seen", ValueType.TIMESTAMP),
        Feature("history", ValueType.FLOAT64_LIST),
    ),
    ttl=dt.timedelta(days=2),
)
PAIR = FeatureGroup(
    name="pair",
    entity_keys=(EntityKey("a"), EntityKey("b", ValueType.INT64)),
    features=(Feature("v", ValueType.INT64),),
    ttl=dt.timedelta(hours=5),
)
REGISTRY = FeatureRegistry([PROFILE, ACTIVITY, PAIR])


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


class FakeTable:
    """DynamoDB's semantics for what the online store uses: atomic conditional puts, BatchGetItem limits.

    The condition is evaluated as DynamoDB would evaluate the store's two expressions, under one lock (a
    conditional write is atomic in DynamoDB). ``unprocessed_first`` makes the first N BatchGetItem calls
    return every key beyond the first ``keep`` as unprocessed, as DynamoDB does under throttling.
    """

    def __init__(self, unprocessed_first: int = 0, keep: int = 1) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()
        self._unprocessed_first = unprocessed_first
        self._keep = keep

    def put_if_newer(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        with self._lock:
            self.requests += 1
            key = (item["pk"]["S"], item["sk"]["S"])
            stored = self.items.get(key)
            if stored is not None:
                new_et, old_et = int(values[":et"]["N"]), int(stored["et"]["N"])
                newer = new_et > old_et
                if ":ct" in values and new_et == old_et:
                    newer = "ct" not in stored or int(stored["ct"]["N"]) < int(values[":ct"]["N"])
                if not newer:
                    return False
            self.items[key] = item
            return True

    def batch_get(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        assert len(keys) <= 100, "BatchGetItem takes at most 100 keys"
        with self._lock:
            self.requests += 1
            self.batch_sizes.append(len(keys))
            served, left = keys, []
            if self._unprocessed_first > 0:
                self._unprocessed_first -= 1
                served, left = keys[: self._keep], keys[self._keep :]
            found = [
                self.items[(k["pk"]["S"], k["sk"]["S"])] for k in served if (k["pk"]["S"], k["sk"]["S"]) in self.items
            ]
            return found, left
