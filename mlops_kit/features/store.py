"""Both stores together: ingestion into offline and online, materialization, and the deployed store's handles.

:class:`FeatureStore` writes a batch to the offline store first (the system of record), then to the online
store, and reports both; :meth:`FeatureStore.materialize` copies the latest offline values into the online
store (backfills, or an online table rebuilt from scratch), through the same conditional writes, so it never
replaces a newer online value. :func:`deployed` builds one from a deployed stack's outputs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops_kit.features.definitions import FeatureGroup, FeatureRegistry, FeatureStoreError, InvalidRecordsError
from mlops_kit.features.encoding import EncodingError, encode_item, encode_key
from mlops_kit.features.offline import OfflineStore, OfflineWriteReport
from mlops_kit.features.online import OnlineStore, WriteReport
from mlops_kit.features.records import TIMESTAMP, micros, to_table
from mlops_kit.features.storage import S3ObjectStore

OFFLINE_PREFIX = "features"
# The data stack's outputs the clients need (see cdk/constructs/feature_store.py).
OUTPUT_TABLE = "FeatureTableName"
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_DATABASE = "FeatureDatabaseName"
OUTPUT_WORKGROUP = "FeatureWorkGroupName"
OUTPUT_ARTIFACTS = "ArtifactsBucketName"
# Producers' clocks agree to well under a second with NTP; five minutes leaves room for a slow clock without
# letting a wrong date (a year 2100, a local time sent as UTC) freeze the online value (see the README).
DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(minutes=5)


class IngestError(FeatureStoreError):
    """Some records of a batch were not written online; ``report`` says what was written where."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class RefusedRecord:
    """A record of a batch that was written to neither store, and why."""

    index: int  # position in the batch as given
    entity: str  # the entity key (the online item's partition key)
    event_time: str  # ISO 8601, UTC
    reason: str


@dataclass
class IngestReport:
    group: str
    records: int
    offline: OfflineWriteReport | None = None
    online: WriteReport | None = None
    refused: list[RefusedRecord] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "records": self.records,
            "refused": len(self.refused),
            "offline_rows": self.offline.rows if self.offline else 0,
            "offline_files": len(self.offline.files) if self.offline else 0,
            "online_written": self.online.written if self.online else 0,
            "online_stale": self.online.stale if self.online else 0,
            "online_failed": len(self.online.failed) if self.online else 0,
        }


def check_online_limits(group: FeatureGroup, table: pa.Table) -> None:
    """Raise ``InvalidRecordsError`` naming every row whose online item DynamoDB would refuse (a key over
    2,048 bytes, an item over 400 KB, a value that does not encode), so that nothing of the batch is written."""
    if table.num_rows == 0:
        return
    keys = list(zip(*(table.column(k).to_pylist() for k in group.key_names), strict=True))
    event_us = micros(table.column(group.event_time_column)).to_pylist()
    created: list[int | None] = (
        micros(table.column(group.created_time_column)).to_pylist()
        if group.created_time_column
        else [None] * table.num_rows
    )
    problems = []
    for row, values in enumerate(table.select(list(group.feature_names)).to_pylist()):
        try:
            encode_item(group, keys[row], event_us[row], created[row], values)
        except EncodingError as exc:
            problems.append(f"record {row}: {exc}")
    if problems:
        shown = "; ".join(problems[:5])
        raise InvalidRecordsError(
            f"feature group {group.name!r}: {len(problems)} record(s) cannot be stored online ({shown}); "
            "nothing was written"
        )


@dataclass
class MaterializeReport:
    groups: dict[str, WriteReport] = field(default_factory=dict)


class FeatureStore:
    """An offline and an online store over one registry of feature groups.

    ``max_future_skew``: records whose event time is later than ``clock()`` plus this are refused (written to
    neither store, listed in the report); ``None`` accepts any event time. ``clock`` returns an aware datetime
    (default: the system clock).
    """

    def __init__(
        self,
        registry: FeatureRegistry,
        *,
        offline: OfflineStore | None,
        online: OnlineStore | None,
        max_future_skew: dt.timedelta | None = DEFAULT_MAX_FUTURE_SKEW,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if max_future_skew is not None and max_future_skew < dt.timedelta(0):
            raise FeatureStoreError(f"max_future_skew must not be negative (got {max_future_skew})")
        self.registry = registry
        self.offline = offline
        self.online = online
        self.max_future_skew = max_future_skew
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def validate(self, group_name: str, data: Any) -> pa.Table:
        """``data`` as the group's canonical table, checked against the stores' limits, writing nothing.

        Raises ``InvalidRecordsError`` when the records do not match the group (see
        :mod:`mlops_kit.features.records`) or a record cannot be stored online (an entity key over DynamoDB's
        2,048 bytes, an item over 400 KB), naming the records.
        """
        group = self.registry.group(group_name)
        table = to_table(group, data)
        check_online_limits(group, table)
        return table

    def ingest(
        self,
        group_name: str,
        data: Any,
        *,
        online: bool = True,
        offline: bool = True,
        batch_id: str | None = None,
        ingested_at: dt.datetime | None = None,
    ) -> IngestReport:
        """Validate the whole batch, refuse future-dated records, append offline, then write online.

        Raises ``InvalidRecordsError`` before writing anything on bad input (see :meth:`validate`). Records
        with an event time beyond ``max_future_skew`` are refused one by one (``report.refused``), the rest
        written. Raises :class:`IngestError` (carrying the report) if online writes failed; the offline append
        then stands, and :meth:`materialize` can repair the online store from it. ``batch_id`` and
        ``ingested_at`` identify a delivery (an SQS message, an EventBridge event): a redelivery of the same
        batch does not append its rows offline again (see :meth:`OfflineStore.write_table`).
        """
        group = self.registry.group(group_name)
        table = self.validate(group_name, data)
        report = IngestReport(group=group.name, records=table.num_rows)
        table, report.refused = self._refuse_future(group, table)
        if offline and self.offline is not None:
            report.offline = self.offline.write_table(group, table, batch_id=batch_id, ingested_at=ingested_at)
        if online and self.online is not None:
            report.online = self.online.write_table(group, table)
            if report.online.failed:
                raise IngestError(
                    f"{len(report.online.failed)} of {table.num_rows} {group.name} records were not written online "
                    f"(first: {report.online.failed[0]}); offline rows written: "
                    f"{report.offline.rows if report.offline else 0}",
                    report,
                )
        return report

    def _refuse_future(self, group: FeatureGroup, table: pa.Table) -> tuple[pa.Table, list[RefusedRecord]]:
        """The rows whose event time is at most now + ``max_future_skew``, and the refused others."""
        if self.max_future_skew is None or table.num_rows == 0:
            return table, []
        now = self._clock()
        limit = now + self.max_future_skew
        events = table.column(group.event_time_column)
        late = pc.greater(events, pa.scalar(limit, TIMESTAMP))  # pyarrow only: the Lambda has no numpy
        if not pc.any(late).as_py():
            return table, []
        keys = list(zip(*(table.column(k).to_pylist() for k in group.key_names), strict=True))
        times = events.to_pylist()
        refused = [
            RefusedRecord(
                index=int(row),
                entity=encode_key(keys[row]),
                event_time=times[row].isoformat(),
                reason=f"event time is more than {self.max_future_skew} after now ({now:%Y-%m-%dT%H:%M:%SZ}); "
                "fix the producer's clock or time zone and resend",
            )
            for row in pc.indices_nonzero(late).to_pylist()
        ]
        return table.filter(pc.invert(late)), refused

    def materialize(
        self, groups: Sequence[str] | None = None, *, as_of: dt.datetime | None = None
    ) -> MaterializeReport:
        """Latest offline value per entity (event time at or before ``as_of``) into the online store."""
        if self.offline is None or self.online is None:
            raise FeatureStoreError("materialization needs both an offline and an online store")
        report = MaterializeReport()
        for name in groups or [g.name for g in self.registry]:
            group = self.registry.group(name)
            latest = self.offline.latest(name, as_of=as_of)
            report.groups[name] = self.online.write_table(group, latest.select(to_table(group, []).schema.names))
        return report


@dataclass(frozen=True)
class DeployedStore:
    """Names of the deployed feature store's resources (from the data stack's outputs)."""

    table_name: str
    bucket: str
    database: str
    workgroup: str
    artifacts_bucket: str
    prefix: str = OFFLINE_PREFIX


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Outputs of a deployed stack; raises :class:`FeatureStoreError` if the stack is not there."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise FeatureStoreError(f"stack {stack_name!r} not found ({exc}); deploy it first") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def deployed_names(outputs: dict[str, str]) -> DeployedStore:
    missing = [k for k in (OUTPUT_TABLE, OUTPUT_BUCKET, OUTPUT_DATABASE, OUTPUT_WORKGROUP) if k not in outputs]
    if missing:
        raise FeatureStoreError(f"the data stack has no outputs {missing}; is the feature store deployed?")
    return DeployedStore(
        table_name=outputs[OUTPUT_TABLE],
        bucket=outputs[OUTPUT_BUCKET],
        database=outputs[OUTPUT_DATABASE],
        workgroup=outputs[OUTPUT_WORKGROUP],
        artifacts_bucket=outputs.get(OUTPUT_ARTIFACTS, outputs[OUTPUT_BUCKET]),
    )


def deployed(
    registry: FeatureRegistry, session: Any, names: DeployedStore, endpoint_url: str | None = None, **online: Any
) -> FeatureStore:
    """A :class:`FeatureStore` on the deployed table and bucket, with clients from a boto3 ``session``."""
    from botocore.config import Config

    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=32)
    dynamodb = session.client("dynamodb", endpoint_url=url, config=config)
    s3 = session.client("s3", endpoint_url=url, config=config)
    return FeatureStore(
        registry,
        offline=OfflineStore(registry, S3ObjectStore(s3, names.bucket, names.prefix)),
        online=OnlineStore.from_client(registry, dynamodb, names.table_name, **online),
    )
