"""The online store: one DynamoDB table, latest value per (entity, feature group), read in bulk.

Writes are latest-wins by event time, enforced by DynamoDB itself: every record is a conditional
``PutItem`` that succeeds only when the stored item is absent or strictly older, i.e. its event time is
earlier, or equal with an earlier created time (when the group declares a created-time column). A late or
replayed record fails the condition and is counted as stale; since the comparison happens inside DynamoDB,
concurrent writers cannot lose the newest value. Within one batch, records for the same entity are first
reduced to the newest (the last of exact ties, as the offline store orders them), the others counted stale.

Reads gather the keys of many entities x many groups, de-duplicate them and send them in as few
``BatchGetItem`` calls as DynamoDB allows (100 keys per call, across groups: 1 entity x 3 groups is one call),
the calls concurrently (at most ``max_workers`` at a time), so a read takes about one round trip rather than one
per call. Each call retries its own unprocessed keys with exponential backoff and jitter, waiting through
:mod:`mlops_kit.waiting` (emulated time in the emulator); if some are still unprocessed after ``max_attempts``
the read fails (:class:`OnlineReadError`) rather than reporting those entities as missing. A value older than
its group's TTL is returned as missing (status ``expired``) even if DynamoDB has not deleted it yet.

The item layout is in :mod:`mlops_kit.features.encoding`. AWS calls go through :class:`DynamoDBTable`,
which takes a boto3 DynamoDB *client*; tests can pass any object with the same three methods.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlops_kit.features.definitions import (
    FeatureGroup,
    FeatureRef,
    FeatureRegistry,
    FeatureStoreError,
    InvalidRecordsError,
    ResolvedRefs,
)
from mlops_kit.features.encoding import decode_features, encode_item, encode_key, to_micros
from mlops_kit.waiting import pause

if TYPE_CHECKING:
    import pyarrow as pa

# Reads need neither pyarrow nor pandas (an inference container may have neither); writes import pyarrow.

BATCH_GET_LIMIT = 100  # keys per BatchGetItem, DynamoDB's limit


class OnlineReadError(FeatureStoreError):
    """Some keys stayed unprocessed after every retry; nothing is reported as missing that was not read."""


class TableClient(Protocol):
    """What the online store needs from a DynamoDB table (see :class:`DynamoDBTable`)."""

    requests: int

    def put_if_newer(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool: ...

    def batch_get(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...


class DynamoDBTable:
    """The adapter over a boto3 DynamoDB client: conditional puts and BatchGetItem, counting requests."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name
        self.requests = 0
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def put_if_newer(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        """PutItem under ``condition``; False when the condition failed (the stored item is newer)."""
        self._count()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def batch_get(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One BatchGetItem call: (items, unprocessed keys)."""
        self._count()
        response = self.client.batch_get_item(RequestItems={self.table_name: {"Keys": keys}})
        items = response.get("Responses", {}).get(self.table_name, [])
        unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
        return items, unprocessed


_CONDITION = "attribute_not_exists(pk) OR et < :et"
_CONDITION_CREATED = "attribute_not_exists(pk) OR et < :et OR (et = :et AND (attribute_not_exists(ct) OR ct < :ct))"


@dataclass
class WriteReport:
    """What a write did: ``written + stale + len(failed) == records``."""

    group: str
    records: int = 0
    written: int = 0
    stale: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (entity key, error)
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class OnlineFeatures:
    """Features of each requested entity, in the caller's order.

    ``rows[i]`` maps each output column to its value (``None`` when missing or expired); ``status[i]`` maps
    each group to ``"found"``, ``"missing"`` or ``"expired"``; ``event_times[i]`` maps each found group to
    its value's event time.
    """

    columns: list[str]
    rows: list[dict[str, Any]]
    status: list[dict[str, str]]
    event_times: list[dict[str, Any]]
    requests: int
    keys: int
    seconds: float
    decode_seconds: float

    def to_dicts(self) -> list[dict[str, Any]]:
        return self.rows


class OnlineStore:
    """Latest feature values per entity, in one DynamoDB table (see the module docstring).

    ``clock`` returns "now" for TTL checks (default: the system clock); ``max_workers`` bounds concurrent
    PutItem calls, and concurrent BatchGetItem calls of one read; each BatchGetItem call is made up to
    ``max_attempts`` times while keys come back unprocessed, waiting ``base_delay * 2**attempt`` seconds (with
    full jitter) in between.
    """

    def __init__(
        self,
        registry: FeatureRegistry,
        table: TableClient,
        *,
        clock: Callable[[], Any] | None = None,
        max_workers: int = 16,
        max_attempts: int = 8,
        base_delay: float = 0.05,
    ) -> None:
        self.registry = registry
        self.table = table
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self.max_workers = max_workers
        self.max_attempts = max_attempts
        self.base_delay = base_delay

    @classmethod
    def from_client(cls, registry: FeatureRegistry, client: Any, table_name: str, **kwargs: Any) -> OnlineStore:
        return cls(registry, DynamoDBTable(client, table_name), **kwargs)

    def _now_us(self) -> int:
        now = self._clock()
        return now if isinstance(now, int) else to_micros(now)

    # -- writes ---------------------------------------------------------------------------------------
    def write(self, group_name: str, data: Any) -> WriteReport:
        """Write records (DataFrame, Arrow table or list of dicts) of one group; stale ones are skipped.

        Raises :class:`~mlops_kit.features.records.InvalidRecordsError` before writing anything if the
        records do not match the group. Per-record API failures do not raise: they are in ``report.failed``.
        """
        from mlops_kit.features.records import to_table

        group = self.registry.group(group_name)
        table = to_table(group, data)
        return self.write_table(group, table)

    def write_table(self, group: FeatureGroup, table: pa.Table) -> WriteReport:
        """Write an already validated table (see :func:`~mlops_kit.features.records.to_table`)."""
        import pyarrow as pa

        from mlops_kit.features.records import micros

        started = time.monotonic()
        report = WriteReport(group=group.name, records=table.num_rows)
        if table.num_rows == 0:
            return report
        keys = list(zip(*(table.column(k).to_pylist() for k in group.key_names), strict=True))
        event_us = micros(table.column(group.event_time_column)).to_pylist()
        created_us: list[int | None] = (
            micros(table.column(group.created_time_column)).to_pylist()
            if group.created_time_column
            else [None] * table.num_rows
        )
        # Newest record per entity in this batch: max (event, created), the later row on exact ties.
        rank = [(e, -1 if c is None else c) for e, c in zip(event_us, created_us, strict=True)]
        newest: dict[tuple[Any, ...], int] = {}
        for row, key in enumerate(keys):
            best = newest.get(key)
            if best is None or rank[row] >= rank[best]:
                newest[key] = row
        report.stale = table.num_rows - len(newest)
        features = table.select(list(group.feature_names))
        rows = sorted(newest.values())
        values = features.take(pa.array(rows, type=pa.int64())).to_pylist()
        requests_before = self.table.requests

        def put(index: int) -> tuple[str, bool | str]:
            row = rows[index]
            try:
                pk = encode_key(keys[row])
                item = encode_item(group, keys[row], event_us[row], created_us[row], values[index])
            except FeatureStoreError as exc:
                return str(keys[row]), f"{type(exc).__name__}: {exc}"
            expression = {":et": {"N": str(event_us[row])}}
            condition = _CONDITION
            if created_us[row] is not None:
                expression[":ct"] = {"N": str(created_us[row])}
                condition = _CONDITION_CREATED
            try:
                return pk, self.table.put_if_newer(item, condition, expression)
            except Exception as exc:  # reported per record, never swallowed
                return pk, f"{type(exc).__name__}: {exc}"

        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(rows))) as pool:
            for pk, outcome in pool.map(put, range(len(rows))):
                if outcome is True:
                    report.written += 1
                elif outcome is False:
                    report.stale += 1
                else:
                    report.failed.append((pk, str(outcome)))
        report.requests = self.table.requests - requests_before
        report.seconds = time.monotonic() - started
        return report

    # -- reads ----------------------------------------------------------------------------------------
    def get(
        self,
        entities: Any,
        feature_refs: Sequence[str | FeatureRef],
        *,
        full_names: bool = False,
    ) -> OnlineFeatures:
        """Latest values of ``feature_refs`` for each entity (list of dicts of key columns, or a DataFrame).

        Each entity must carry the key columns of every referenced group (missing columns are an
        :class:`~mlops_kit.features.records.InvalidRecordsError`). Unknown entities are ``missing``, not
        errors; values older than the group TTL are ``expired``.
        """
        started = time.monotonic()
        resolved = self.registry.resolve(feature_refs, full_names=full_names)
        rows = _entity_rows(entities)
        # (pk, group) of every row and group, and the distinct keys to fetch.
        wanted: list[list[tuple[str, str]]] = []
        distinct: dict[tuple[str, str], None] = {}
        for index, entity in enumerate(rows):
            pairs = []
            for group in resolved.groups:
                missing = [k for k in group.key_names if entity.get(k) is None]
                if missing:
                    raise InvalidRecordsError(
                        f"entity {index} lacks key columns {missing} of feature group {group.name!r}"
                    )
                pk = encode_key([entity[k] for k in group.key_names])
                pairs.append((pk, group.name))
                distinct.setdefault((pk, group.name), None)
            wanted.append(pairs)
        requests_before = self.table.requests
        items = self._batch_get(list(distinct))
        decode_started = time.monotonic()
        result = _assemble(resolved, wanted, items, self._now_us())
        decode_seconds = time.monotonic() - decode_started
        return OnlineFeatures(
            columns=resolved.columns,
            rows=result[0],
            status=result[1],
            event_times=result[2],
            requests=self.table.requests - requests_before,
            keys=len(distinct),
            seconds=time.monotonic() - started,
            decode_seconds=decode_seconds,
        )

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The items at ``keys``: one BatchGetItem call per 100 keys, the calls concurrently (bounded)."""
        requests = [
            [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_LIMIT]]
            for start in range(0, len(keys), BATCH_GET_LIMIT)
        ]
        if len(requests) <= 1:  # one call (up to 33 entities x 3 groups): no thread to start
            answers = [self._get_all(request) for request in requests]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(requests))) as pool:
                answers = list(pool.map(self._get_all, requests))
        return {(item["pk"]["S"], item["sk"]["S"]): item for items in answers for item in items}

    def _get_all(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item of one BatchGetItem request, its unprocessed keys retried with backoff.

        Raises :class:`OnlineReadError` when keys are still unprocessed after ``max_attempts`` calls.
        """
        found: list[dict[str, Any]] = []
        pending = keys
        for attempt in range(self.max_attempts):
            if attempt:
                # Full jitter (AWS's advice for BatchGetItem's unprocessed keys): concurrent retries spread out.
                pause(random.uniform(0, self.base_delay * 2**attempt), what="BatchGetItem backoff")
            items, pending = self.table.batch_get(pending)
            found.extend(items)
            if not pending:
                return found
        raise OnlineReadError(
            f"{len(pending)} of {len(keys)} keys of a BatchGetItem call were still unprocessed after "
            f"{self.max_attempts} attempts (throttling?); retry later or raise the table's read capacity"
        )


def _entity_rows(entities: Any) -> list[Mapping[str, Any]]:
    if hasattr(entities, "to_dict") and hasattr(entities, "columns"):
        return list(entities.to_dict(orient="records"))
    if isinstance(entities, Mapping):
        return [entities]
    return list(entities)


def _assemble(
    resolved: ResolvedRefs,
    wanted: list[list[tuple[str, str]]],
    items: dict[tuple[str, str], dict[str, Any]],
    now_us: int,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[dict[str, Any]]]:
    from mlops_kit.features.encoding import from_micros

    features = {g.name: resolved.features_of(g.name) for g in resolved.groups}
    columns = {g.name: resolved.columns_of(g.name) for g in resolved.groups}
    rows, statuses, times = [], [], []
    for pairs in wanted:
        row: dict[str, Any] = {}
        status: dict[str, str] = {}
        event_times: dict[str, Any] = {}
        for group, pair in zip(resolved.groups, pairs, strict=True):
            item = items.get(pair)
            state = "missing"
            if item is not None:
                event_us = int(item["et"]["N"])
                ttl = group.ttl_us
                state = "expired" if ttl is not None and now_us - event_us > ttl else "found"
            if state == "found" and item is not None:
                values = decode_features(group, item, features[group.name])
                row.update(zip(columns[group.name], values.values(), strict=True))
                event_times[group.name] = from_micros(int(item["et"]["N"]))
            else:
                row.update(dict.fromkeys(columns[group.name]))
            status[group.name] = state
        rows.append(row)
        statuses.append(status)
        times.append(event_times)
    return rows, statuses, times
