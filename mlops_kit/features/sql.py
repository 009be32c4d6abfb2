"""The point-in-time join as SQL, generated from the feature group definitions, for Athena (Trino).

The SQL uses only what Trino and DuckDB share (quoted identifiers, ``row_number()`` windows with explicit
``NULLS LAST``, integer microsecond columns), so the very same text runs on Athena over the Glue tables and,
in tests, on DuckDB over the same Parquet files (:class:`DuckDBRunner`), where its result is compared row by
row with the local engine's.

Per referenced group, labels are joined to the feature rows of the same entity (one equality per key
column, never a concatenation) with ``event <= label`` and, with a TTL, ``event >= label - ttl``; the rows
are ranked by event time, created time (missing last), ingestion time, batch and row, and rank 1 is kept.
Each label row is then left-joined to its rank-1 row per group, so no label row is dropped or duplicated.
``date`` partition bounds derived from the labels' time range let Athena prune partitions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from mlops_kit.features.definitions import FeatureGroup, FeatureStoreError, ResolvedRefs

LABEL_ROW = "__label_row"
LABEL_US = "__label_us"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _date(us: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)).date().isoformat()


WHERE_CREATED: Literal["where_created"] = "where_created"
# True: every group's values count from when they became available (created, else ingested). WHERE_CREATED: only
# groups with a created-time column (a group without one would otherwise count from its ingestion, which for
# backfilled history is after every label). False: event time only.
CreatedBeforeLabel = bool | Literal["where_created"]


def filters_created(group: FeatureGroup, created_before_label: CreatedBeforeLabel) -> bool:
    """Whether ``group``'s values created (or ingested) after the label time are left out of the join."""
    if created_before_label == WHERE_CREATED:
        return group.created_time_column is not None
    if isinstance(created_before_label, bool):
        return created_before_label
    raise FeatureStoreError(
        f"created_before_label must be true, false or {WHERE_CREATED!r}, not {created_before_label!r}"
    )


@dataclass(frozen=True)
class SqlPlan:
    sql: str
    columns: list[str]  # output columns after the label row number, in order


def point_in_time_sql(
    resolved: ResolvedRefs,
    *,
    database: str,
    labels_table: str,
    label_time_range_us: tuple[int, int],
    created_before_label: CreatedBeforeLabel = False,
) -> SqlPlan:
    """The SELECT returning ``__label_row`` and one column per feature reference, one row per label row."""
    labels = f"{quote(database)}.{quote(labels_table)}"
    low, high = label_time_range_us
    ctes, selects, joins, columns = [], [], [], []
    for index, group in enumerate(resolved.groups):
        alias = f"g{index}"
        names = resolved.features_of(group.name)
        outputs = resolved.columns_of(group.name)
        conditions = [f'"f".{quote(k)} = "l".{quote(k)}' for k in group.key_names]
        conditions.append(f'"f"."__event_us" <= "l".{quote(LABEL_US)}')
        if group.ttl_us is not None:
            conditions.append(f'"f"."__event_us" >= "l".{quote(LABEL_US)} - {group.ttl_us}')
            conditions.append(f'"f"."date" >= \'{_date(low - group.ttl_us)}\'')
        conditions.append(f'"f"."date" <= \'{_date(high)}\'')
        if filters_created(group, created_before_label):
            conditions.append(f'COALESCE("f"."__created_us", "f"."__ingested_us") <= "l".{quote(LABEL_US)}')
        values = ", ".join(f'"f".{quote(n)} AS {quote(f"v{i}")}' for i, n in enumerate(names))
        ctes.append(
            f"{quote(alias)} AS (\n"  # noqa: S608 -- quoted identifiers from definitions, integer literals
            f'  SELECT "l".{quote(LABEL_ROW)} AS {quote(LABEL_ROW)}, {values},\n'
            f'    row_number() OVER (PARTITION BY "l".{quote(LABEL_ROW)} ORDER BY "f"."__event_us" DESC, '
            f'"f"."__created_us" DESC NULLS LAST, "f"."__ingested_us" DESC, "f"."__batch" DESC, '
            f'"f"."__row" DESC) AS "__rank"\n'
            f'  FROM {labels} AS "l"\n'
            f'  JOIN {quote(database)}.{quote(group.name)} AS "f"\n'
            f"    ON " + "\n   AND ".join(conditions) + "\n)"
        )
        for i, output in enumerate(outputs):
            selects.append(f"{quote(alias)}.{quote(f'v{i}')} AS {quote(output)}")
            columns.append(output)
        selects.append(
            f"CASE WHEN {quote(alias)}.{quote(LABEL_ROW)} IS NULL THEN 0 ELSE 1 END AS {quote(f'__matched_{index}')}"
        )
        joins.append(
            f'LEFT JOIN {quote(alias)} ON {quote(alias)}.{quote(LABEL_ROW)} = "l".{quote(LABEL_ROW)} '
            f'AND {quote(alias)}."__rank" = 1'
        )
    # Identifiers come from validated definitions and are quoted; literals are integers and ISO dates.
    sql = (
        "WITH " + ",\n".join(ctes) + "\n"
        f'SELECT "l".{quote(LABEL_ROW)} AS {quote(LABEL_ROW)}, ' + ", ".join(selects) + "\n"
        f'FROM {labels} AS "l"\n' + "\n".join(joins) + f'\nORDER BY "l".{quote(LABEL_ROW)}'
    )
    return SqlPlan(sql=sql, columns=columns)


class SqlRunner(Protocol):
    """Runs the generated SQL: makes the labels queryable, executes, returns an Arrow table."""

    database: str

    def register_labels(self, labels: pa.Table) -> str: ...  # returns the labels table name

    def run(self, sql: str) -> pa.Table: ...

    def drop_labels(self, name: str) -> None: ...


class DuckDBRunner:
    """DuckDB over the offline store's Parquet files in a local folder (the store's layout, Glue's names).

    Creates a schema named like the Glue database with one view per feature group, so the SQL generated for
    Athena runs unchanged. Needs the ``duckdb`` package (a dev dependency).
    """

    def __init__(self, root: Path | str, groups: Iterable[FeatureGroup], *, database: str = "features") -> None:
        import duckdb

        from mlops_kit.features.offline import offline_schema

        self.database = database
        self.connection = duckdb.connect()
        self.connection.execute(f"CREATE SCHEMA {quote(database)}")
        for group in groups:
            files = sorted((Path(root) / group.name).glob("date=*/*.parquet"))
            if files:
                pattern = (Path(root) / group.name / "*" / "*.parquet").as_posix()
                source = (
                    f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{'date': VARCHAR}}, "
                    "union_by_name = true)"
                )
            else:  # an empty group: a view with the Glue table's columns and no rows
                empty = offline_schema(group).empty_table().append_column("date", pa.array([], pa.string()))
                self.connection.register(f"__empty_{group.name}", empty)
                source = quote(f"__empty_{group.name}")
            view = f"{quote(database)}.{quote(group.name)}"
            self.connection.execute(f"CREATE VIEW {view} AS SELECT * FROM {source}")  # noqa: S608 -- quoted names

    def register_labels(self, labels: pa.Table) -> str:
        name = f"labels_{uuid.uuid4().hex[:12]}"
        self.connection.register(f"__arrow_{name}", labels)
        table, source = f"{quote(self.database)}.{quote(name)}", quote(f"__arrow_{name}")
        self.connection.execute(f"CREATE TABLE {table} AS SELECT * FROM {source}")  # noqa: S608 -- generated names
        self.connection.unregister(f"__arrow_{name}")
        return name

    def run(self, sql: str) -> pa.Table:
        relation = self.connection.sql(sql)
        fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        result: pa.Table = fetch()
        return result

    def drop_labels(self, name: str) -> None:
        self.connection.execute(f"DROP TABLE IF EXISTS {quote(self.database)}.{quote(name)}")


class AthenaQueryError(FeatureStoreError):
    """An Athena query failed or was cancelled; the message carries Athena's reason."""


class AthenaRunner:
    """Athena over the Glue tables the CDK construct provisions.

    Labels are uploaded as Parquet under ``staging`` (an :class:`~mlops_kit.features.storage.S3ObjectStore`
    in the bucket the workgroup may read) and exposed as an external table; results are ``UNLOAD``-ed as
    Parquet (exact types, unlike the CSV result files) and read back. ``athena`` is a boto3 Athena client.
    """

    def __init__(
        self,
        athena: Any,
        staging: Any,
        *,
        database: str,
        workgroup: str,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 1800.0,
    ) -> None:
        self.athena = athena
        self.staging = staging
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    def _execute(self, sql: str) -> str:
        from mlops_kit.waiting import poll

        execution = self.athena.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup
        )["QueryExecutionId"]

        def succeeded() -> str | None:
            status = self.athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status["State"]
            if state in ("FAILED", "CANCELLED"):
                raise AthenaQueryError(f"Athena query {execution} {state}: {status.get('StateChangeReason', '')}")
            return str(execution) if state == "SUCCEEDED" else None

        try:
            return poll(
                succeeded, every=self.poll_seconds, timeout=self.timeout_seconds, what=f"Athena query {execution}"
            )
        except TimeoutError as exc:
            raise AthenaQueryError(f"Athena query {execution} did not finish in {self.timeout_seconds:.0f} s") from exc

    def register_labels(self, labels: pa.Table) -> str:
        import io

        import pyarrow.parquet as pq

        name = f"labels_{uuid.uuid4().hex[:12]}"
        buffer = io.BytesIO()
        pq.write_table(labels, buffer)
        self.staging.put(f"labels/{name}/labels.parquet", buffer.getvalue())
        columns = ", ".join(f"`{f.name}` {_athena_type(f.type)}" for f in labels.schema)
        location = self.staging.uri(f"labels/{name}/")
        self._execute(f"CREATE EXTERNAL TABLE `{name}` ({columns}) STORED AS PARQUET LOCATION '{location}'")
        return name

    def run(self, sql: str) -> pa.Table:
        import io

        import pyarrow.parquet as pq

        prefix = f"results/{uuid.uuid4().hex}/"
        self._execute(f"UNLOAD ({sql}) TO '{self.staging.uri(prefix)}' WITH (format = 'PARQUET')")
        keys = [k for k in self.staging.list(prefix) if not k.endswith("/")]
        tables = [pq.read_table(io.BytesIO(self.staging.get(k))) for k in keys]
        if not tables:
            raise AthenaQueryError(f"Athena UNLOAD wrote no files under {self.staging.uri(prefix)}")
        return pa.concat_tables(tables, promote_options="permissive")

    def drop_labels(self, name: str) -> None:
        self._execute(f"DROP TABLE IF EXISTS `{name}`")


def _athena_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "bigint"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    raise FeatureStoreError(f"labels column type {kind} is not supported for Athena (keys are strings or int64)")
