"""The experiments table: one DynamoDB table (``pk``/``sk`` strings) for experiments, their endpoint splits and
status snapshots, exposures and outcomes. Only the standard library here: the router imports this module.

Key layout:

===========================  ============  =====================================================================
pk                           sk            item
===========================  ============  =====================================================================
``experiment``               ``<name>``    the experiment: ``document`` (Experiment JSON), ``version`` (N),
                                           ``state``, ``plan_hash``, ``route`` (Route JSON, once started)
``split``                    ``<name>``    the endpoint split of a started experiment: models, endpoint
                                           configs, lock, phase (see :mod:`.endpoint`)
``status``                   ``<name>``    the latest status snapshot, written by the scheduled status job
``exposure#<name>#<shard>``  ``<user>``    the user's first exposure: ``arm``, ``variant``, ``at`` (ISO-8601),
                                           ``at_us`` (N, microseconds since the epoch)
``outcome#<name>#<shard>``   ``<event>``   one outcome, by event id: ``user_id``, ``metric``, ``value`` (S, the
                                           float's shortest repr, so every finite float round-trips exactly),
                                           ``at``, ``at_us``
===========================  ============  =====================================================================

Access patterns, one request each (the list patterns one query per shard, paginated):

* get an experiment (or only its ``route``): ``GetItem(experiment, <name>)``; list them: ``Query(experiment)``.
* store a version: ``PutItem`` conditional on the stored ``version`` (and on ``plan_hash`` once started).
* record an exposure: ``PutItem`` conditional on ``attribute_not_exists(pk) OR at_us > :at_us`` (earliest wins).
* a user's first exposure: ``GetItem(exposure#<name>#<shard(user)>, <user>)``.
* record an outcome: ``PutItem`` conditional on ``attribute_not_exists(pk)`` (idempotent by event id).
* exposures or outcomes of an experiment (the status, with its counts per arm): ``Query`` each shard.

Why shards: every request of an experiment records an exposure (a no-op write when the user is known), so a
single partition key per experiment would cap its traffic at one partition's write throughput (1,000 write
units per second). ``SHARDS`` keys per experiment, chosen by a hash of the user id (of the event id for
outcomes), spread that load. ``SHARDS`` is part of the stored format: changing it strands existing items.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

SHARDS = 16

EXPERIMENT_PK = "experiment"
SPLIT_PK = "split"
STATUS_PK = "status"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shard_of(value: str, shards: int = SHARDS) -> int:
    """The shard (``0 .. shards - 1``) of a user or event id: first 4 bytes of its SHA-256, modulo ``shards``."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % shards


def experiment_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": EXPERIMENT_PK}, "sk": {"S": name}}


def split_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": SPLIT_PK}, "sk": {"S": name}}


def status_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": STATUS_PK}, "sk": {"S": name}}


def exposure_partition(experiment: str, shard: int) -> str:
    return f"exposure#{experiment}#{shard}"


def outcome_partition(experiment: str, shard: int) -> str:
    return f"outcome#{experiment}#{shard}"


def exposure_key(experiment: str, user_id: str) -> dict[str, Any]:
    return {"pk": {"S": exposure_partition(experiment, shard_of(user_id))}, "sk": {"S": user_id}}


def outcome_key(experiment: str, event_id: str) -> dict[str, Any]:
    return {"pk": {"S": outcome_partition(experiment, shard_of(event_id))}, "sk": {"S": event_id}}


def epoch_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact: no float rounding)."""
    if at.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {at.isoformat()}")
    return (at - _EPOCH) // timedelta(microseconds=1)


def put_exposure(
    dynamodb: Any, table: str, *, experiment: str, user_id: str, arm: str, variant: str, at: datetime
) -> bool:
    """Store the exposure unless the user has one at or before ``at``; ``True`` when stored (earliest wins)."""
    stamp = epoch_us(at)
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **exposure_key(experiment, user_id),
                "experiment": {"S": experiment},
                "arm": {"S": arm},
                "variant": {"S": variant},
                "at": {"S": at.isoformat()},
                "at_us": {"N": str(stamp)},
            },
            ConditionExpression="attribute_not_exists(pk) OR at_us > :at_us",
            ExpressionAttributeValues={":at_us": {"N": str(stamp)}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def query_all(dynamodb: Any, table: str, partition: str, **arguments: Any) -> list[dict[str, Any]]:
    """Every item of one partition key, following pagination."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        **arguments,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = dynamodb.query(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def experiment_names(dynamodb: Any, table: str) -> list[str]:
    """The names of every stored experiment, sorted."""
    items = query_all(dynamodb, table, EXPERIMENT_PK, ProjectionExpression="sk")
    return sorted(item["sk"]["S"] for item in items)
