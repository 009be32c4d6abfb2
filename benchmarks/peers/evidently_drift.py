"""Evidently 0.7's DataDriftPreset on the benchmark's Parquet files (run by the evidently virtualenv).

Usable as a module (``run(reference=..., current=...)``, called through ``benchmarks.harness.run_isolated``) or
as a plain script: ``python benchmarks/peers/evidently_drift.py REFERENCE.parquet CURRENT.parquet``.
Evidently picks one test per column by size and type: above 1000 rows, Wasserstein distance (normed) for
numeric columns and Jensen-Shannon distance for categorical ones, with its default threshold of 0.1.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def load(path: str) -> pd.DataFrame:
    # Same loader as the kit's side: one column at a time, system allocator (Arrow's keeps freed buffers).
    pa.set_memory_pool(pa.system_memory_pool())
    parquet = pq.ParquetFile(path)
    columns = {name: parquet.read(columns=[name]).column(0).to_pandas() for name in parquet.schema_arrow.names}
    return pd.DataFrame(columns, copy=False)


def run(reference: str, current: str, numeric: list[str], categorical: list[str]) -> dict:
    started = time.perf_counter()
    reference_frame = load(reference)
    current_frame = load(current)
    loaded = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current_frame, data_definition=definition),
        Dataset.from_pandas(reference_frame, data_definition=definition),
    )
    result = snapshot.dict()
    computed = time.perf_counter()
    drifted = []
    columns_checked = 0
    for metric in result["metrics"]:
        name = str(metric.get("metric_name", ""))
        if name.startswith("ValueDrift"):
            columns_checked += 1
            value = metric.get("value")
            config = metric.get("config", {})
            threshold = config.get("threshold")
            column = config.get("column")
            if isinstance(value, int | float) and threshold is not None and value >= threshold:
                drifted.append(column)
    return {
        "load_s": loaded - started,
        "compute_s": computed - loaded,
        "columns_checked": columns_checked,
        "drifted": sorted(str(c) for c in drifted),
    }


if __name__ == "__main__":
    names = pq.read_schema(sys.argv[1]).names
    categorical_columns = [n for n in names if n.startswith("c")]
    print(
        json.dumps(
            run(sys.argv[1], sys.argv[2], [n for n in names if n not in categorical_columns], categorical_columns)
        )
    )
