"""Both stores together: ingestion into offline and online, materialization, and the deployed store's handles.

:class:`FeatureStore` writes a batch to the offline store first (the system of record), then to the online
store, and reports both; :meth:`FeatureStore.materialize` copies the latest offline values into the online
store (backfills, or an online table rebuilt from scratch), through the same conditional writes, so it never
replaces a newer online value. :func:`deployed` builds one from a deployed stack's outputs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_kit.features.definitions import FeatureRegistry, FeatureStoreError
from mlops_kit.features.offline import OfflineStore, OfflineWriteReport
from mlops_kit.features.online import OnlineStore, WriteReport
from mlops_kit.features.records import to_table
from mlops_kit.features.storage import S3ObjectStore

OFFLINE_PREFIX = "features"
# The data stack's outputs the clients need (see cdk/constructs/feature_store.py).
OUTPUT_TABLE = "FeatureTableName"
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_DATABASE = "FeatureDatabaseName"
OUTPUT_WORKGROUP = "FeatureWorkGroupName"
OUTPUT_ARTIFACTS = "ArtifactsBucketName"


class IngestError(FeatureStoreError):
    """Some records of a batch were not written online; ``report`` says what was written where."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class IngestReport:
    group: str
    records: int
    offline: OfflineWriteReport | None = None
    online: WriteReport | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "records": self.records,
            "offline_rows": self.offline.rows if self.offline else 0,
            "offline_files": len(self.offline.files) if self.offline else 0,
            "online_written": self.online.written if self.online else 0,
            "online_stale": self.online.stale if self.online else 0,
            "online_failed": len(self.online.failed) if self.online else 0,
        }


@dataclass
class MaterializeReport:
    groups: dict[str, WriteReport] = field(default_factory=dict)


class FeatureStore:
    """An offline and an online store over one registry of feature groups."""

    def __init__(self, registry: FeatureRegistry, *, offline: OfflineStore | None, online: OnlineStore | None) -> None:
        self.registry = registry
        self.offline = offline
        self.online = online

    def ingest(self, group_name: str, data: Any, *, online: bool = True, offline: bool = True) -> IngestReport:
        """Validate once, append offline, then write online. Raises ``InvalidRecordsError`` before writing
        anything on bad input, and :class:`IngestError` (carrying the report) if online writes failed; the
        offline append then stands, and :meth:`materialize` can repair the online store from it."""
        group = self.registry.group(group_name)
        table = to_table(group, data)
        report = IngestReport(group=group.name, records=table.num_rows)
        if offline and self.offline is not None:
            report.offline = self.offline.write_table(group, table)
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
