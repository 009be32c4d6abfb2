"""DuckDB's ``ASOF JOIN`` and Polars' ``join_asof``: the point-in-time join a user with Parquet files and one
machine would write, run by benchmarks/bench_features.py in the kit's own virtualenv (both are pinned dev
dependencies), each in a fresh process.

Each reads the same feature rows either from one Parquet file or from the kit's offline store as it lies on disk
(``<group>/date=<day>/part-*.parquet``, read hive-style), and joins them to the labels the way the kit does: for each
label row the feature row of the same entity with the latest event time at or before the label time, then nulls
where that row is more than ``ttl_days`` older than the label (inclusive), one row per label, in input order. Ties
on (entity, event time) are not broken by created time or ingestion order here: the benchmark's data has none
(microsecond times), which the value comparison on every row confirms.

Timed like the kit: from the label DataFrame in memory to the result DataFrame (pandas), feature files read inside
the timing, a first call and then ``warm_calls`` calls whose median is the warm figure.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any


def _source(features: str, layout: str) -> str:
    """A Parquet path or glob for ``layout``: ``file`` (one file) or ``hive`` (the kit's date partitions)."""
    if layout == "file":
        return features
    if layout == "hive":
        return str(Path(features) / "date=*" / "*.parquet")
    raise ValueError(f"layout must be 'file' or 'hive', got {layout!r}")


def _timed(call: Any, warm_calls: int) -> tuple[Any, dict[str, Any]]:
    """Wall and CPU seconds (user + system, every thread of this process) of a first call and ``warm_calls``."""
    times, cpu = [], []
    result = None
    for _ in range(1 + warm_calls):  # the first call in this fresh process (cold), then warm calls
        started, used = time.perf_counter(), _cpu()
        result = call()
        times.append(time.perf_counter() - started)
        cpu.append(_cpu() - used)
    return result, {"cold": times[0], "seconds": statistics.median(times[1:]), "warm": times[1:], "warm_cpu": cpu[1:]}


def _cpu() -> float:
    """CPU seconds used so far by this process: on a shared machine a steadier figure than wall time."""
    used = os.times()
    return used.user + used.system


def _write(table: Any, output: str | None) -> None:
    """The result as Arrow (outside the timing): pandas would turn nulls and stored NaN alike into NaN."""
    if output:
        import pyarrow.parquet as pq

        pq.write_table(table, output)


def duckdb_historical(
    labels: str, features: str, layout: str, ttl_days: int, names: list[str], warm_calls: int, output: str = ""
) -> dict[str, Any]:
    """DuckDB ``ASOF LEFT JOIN`` of the labels (a DataFrame in memory) against the feature Parquet."""
    import duckdb
    import pandas as pd

    label_frame = pd.read_parquet(labels)
    source = _source(features, layout)
    hive = ", hive_partitioning = true" if layout == "hive" else ""
    values = ", ".join(
        f"CASE WHEN l.event_timestamp - f.event_timestamp <= INTERVAL {int(ttl_days)} DAY THEN f.{n} END AS {n}"
        for n in names
    )
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")

    def join(to_pandas: bool = True) -> Any:
        connection.register("labels_frame", label_frame)
        sql = f"""
            SELECT l.label_id, l.entity_id, l.event_timestamp, {values}
            FROM (SELECT *, row_number() OVER () AS __label_row FROM labels_frame) l
            ASOF LEFT JOIN (SELECT entity_id, event_timestamp, {", ".join(names)}
                            FROM read_parquet('{source}'{hive})) f
              ON l.entity_id = f.entity_id AND l.event_timestamp >= f.event_timestamp
            ORDER BY l.__label_row
        """
        relation = connection.sql(sql)
        frame = relation.df() if to_pandas else relation.to_arrow_table()
        connection.unregister("labels_frame")
        return frame

    frame, timing = _timed(join, warm_calls)
    _write(join(to_pandas=False) if output else None, output)
    return {**timing, "rows": len(frame), "engine": f"DuckDB {duckdb.__version__}"}


def polars_historical(
    labels: str, features: str, layout: str, ttl_days: int, names: list[str], warm_calls: int, output: str = ""
) -> dict[str, Any]:
    """Polars ``join_asof`` (backward, by entity) of the labels (a pandas DataFrame in memory) against the Parquet."""
    import datetime as dt

    import pandas as pd
    import polars as pl

    label_frame = pd.read_parquet(labels)
    source = _source(features, layout)
    ttl = dt.timedelta(days=ttl_days)

    def join(to_pandas: bool = True) -> Any:
        left = pl.from_pandas(label_frame).with_row_index("__label_row").sort("event_timestamp")
        right = (
            pl.scan_parquet(source, hive_partitioning=layout == "hive")
            .select(["entity_id", "event_timestamp", *names])
            .with_columns(pl.col("event_timestamp").alias("__feature_time"))
            .sort("event_timestamp")
            .collect()
        )
        # Both sides are sorted just above; Polars cannot check it with ``by`` and would warn on every call.
        joined = left.join_asof(
            right, on="event_timestamp", by="entity_id", strategy="backward", check_sortedness=False
        )
        fresh = (pl.col("event_timestamp") - pl.col("__feature_time")) <= ttl
        result = joined.sort("__label_row").select(
            "label_id", "entity_id", "event_timestamp", *[pl.when(fresh).then(pl.col(n)).alias(n) for n in names]
        )
        return result.to_pandas() if to_pandas else result.to_arrow()

    frame, timing = _timed(join, warm_calls)
    _write(join(to_pandas=False) if output else None, output)
    return {**timing, "rows": len(frame), "engine": f"Polars {pl.__version__}"}
