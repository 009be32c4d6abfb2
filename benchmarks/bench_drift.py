"""Drift: the kit's full drift report against Evidently 0.7's DataDriftPreset, same Parquet data, same run.

Data: ``rows`` reference rows and ``rows`` current rows x 25 features (20 numeric of mixed shapes, some with
missing values; 5 categorical with 5 to 200 categories) plus a numeric model score; in the current data two
numeric features are shifted, one categorical gains a new category and the score moves. Written once to
Parquet under ``benchmarks/.data/``; both sides load it the same way (column by column, Arrow -> pandas) in
their own process.

What each side computes, timed from loaded DataFrames to a finished report:
- kit: the baseline of the reference (decile edges, bin counts, missing counts, 10k-value sample per
  numeric feature, category counts), then PSI for all 26 columns, KS (exact scipy statistic and p-value,
  10k-value reference sample vs all current values) for the 21 numeric ones, chi-squared for the 5
  categorical ones, violations, and the report's strict JSON.
- Evidently: DataDriftPreset over the same 26 columns (numeric columns declared numeric, categorical ones
  categorical): per column Wasserstein distance (numeric) or Jensen-Shannon distance (categorical), the
  methods it picks above 1000 rows, plus the drifted-columns count; the snapshot is materialised with
  ``.dict()``. No HTML on either side (the kit's HTML is timed separately).
Imports happen before the timed call on both sides; peak memory is the whole process's (imports and loading
included), against the size of the two DataFrames in memory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import DATA, Report, peer_python, run_isolated, table
from mlops_kit.drift.baseline import Baseline, compute_baseline
from mlops_kit.drift.report import drift_report

EVIDENTLY = ["evidently==0.7.23", "pandas<3", "pyarrow>=15"]
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
PREDICTION = "score"
CARDINALITY = [5, 10, 20, 50, 200]
SEED = 20_260_101


def _frame(rows: int, *, drifted: bool, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.5 if drifted and i < 2 else 0.0
        shape = i % 4
        if shape == 0:
            values = rng.normal(shift, 1.0, rows)
        elif shape == 1:
            values = rng.lognormal(1.0 + shift, 0.6, rows)
        elif shape == 2:
            values = rng.uniform(0.0 + shift, 10.0 + shift, rows)
        else:
            values = rng.poisson(4.0 + shift, rows).astype(np.float64)
        if i % 5 == 4:  # a few features with 2% missing values
            values[rng.random(rows) < 0.02] = np.nan
        columns[name] = values
    for name, cardinality in zip(CATEGORICAL, CARDINALITY, strict=True):
        labels = [f"{name}_v{j}" for j in range(cardinality)]
        weights = 1.0 / np.arange(1, cardinality + 1)  # Zipf-like: a head and a long tail
        if drifted and name == "c0":
            labels.append(f"{name}_new")
            weights = np.append(weights, weights.sum() * 0.1)
        codes = rng.choice(len(labels), size=rows, p=weights / weights.sum())
        columns[name] = pd.Categorical.from_codes(codes, categories=labels)
    logits = rng.normal(0.6 if drifted else 0.0, 1.0, rows)
    columns[PREDICTION] = 1.0 / (1.0 + np.exp(-logits))
    return pd.DataFrame(columns)


def ensure_data(rows: int) -> tuple[Path, Path]:
    """Write (once) the reference and current Parquet files of ``rows`` rows each."""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = (DATA / f"drift_{rows}_reference.parquet", DATA / f"drift_{rows}_current.parquet")
    for path, drifted, seed in zip(paths, (False, True), (SEED, SEED + 1), strict=True):
        if not path.exists():
            table_ = pa.Table.from_pandas(_frame(rows, drifted=drifted, seed=seed), preserve_index=False)
            partial = path.with_suffix(".partial")
            pq.write_table(table_, partial, row_group_size=1_000_000)
            partial.rename(path)
    return paths


def _load(path: str) -> Any:
    """Parquet -> pandas one column at a time (the peer script does the same).

    Arrow's default allocator keeps freed buffers, and converting a whole table holds the Arrow and the pandas
    copies at once: that alone doubled the peak. Column by column, with the system allocator, the process
    holds little more than the DataFrame itself.
    """
    pa.set_memory_pool(pa.system_memory_pool())
    parquet = pq.ParquetFile(path)
    columns = {name: parquet.read(columns=[name]).column(0).to_pandas() for name in parquet.schema_arrow.names}
    return pd.DataFrame(columns, copy=False)


def kit_full(reference: str, current: str) -> dict[str, Any]:
    """Measured in a fresh process: load, baseline of the reference, full drift report of the current data."""
    started = time.perf_counter()
    reference_frame = _load(reference)
    current_frame = _load(current)
    loaded = time.perf_counter()
    data_mb = (reference_frame.memory_usage(deep=True).sum() + current_frame.memory_usage(deep=True).sum()) / 2**20
    baseline = compute_baseline(reference_frame, prediction=PREDICTION, categorical=CATEGORICAL)
    baselined = time.perf_counter()
    report = drift_report(baseline, current_frame)
    text = report.to_json()
    reported = time.perf_counter()
    return {
        "load_s": loaded - started,
        "baseline_s": baselined - loaded,
        "report_s": reported - baselined,
        "compute_s": reported - loaded,
        "data_mb": float(data_mb),
        "columns": len(report.all_columns),
        "drifted": sorted(report.drifted),
        "report_bytes": len(text),
    }


def kit_report_only(baseline_json: str, current: str) -> dict[str, Any]:
    """Measured in a fresh process: the scheduled job's work, a stored baseline against one window."""
    started = time.perf_counter()
    baseline = Baseline.from_json(Path(baseline_json).read_text())
    current_frame = _load(current)
    loaded = time.perf_counter()
    report = drift_report(baseline, current_frame)
    report.to_json()
    return {"load_s": loaded - started, "compute_s": time.perf_counter() - loaded}


def kit_html(baseline_json: str, current: str, output: str) -> dict[str, Any]:
    """Measured in a fresh process: the report plus its self-contained HTML file."""
    from mlops_kit.drift.html_report import write_html  # matplotlib stays out of the other measurements

    baseline = Baseline.from_json(Path(baseline_json).read_text())
    report = drift_report(baseline, _load(current))
    started = time.perf_counter()
    write_html(report, output)
    return {"html_s": time.perf_counter() - started, "html_bytes": Path(output).stat().st_size}


def _write_baseline(reference: Path, rows: int) -> Path:
    path = DATA / f"drift_{rows}_baseline.json"
    if not path.exists():
        path.write_text(
            compute_baseline(_load(str(reference)), prediction=PREDICTION, categorical=CATEGORICAL).to_json()
        )
    return path


def run(quick: bool = False) -> Report:
    rows = 20_000 if quick else 1_000_000
    big_rows = 50_000 if quick else 10_000_000
    reference, current = ensure_data(rows)
    print(f"   data: {rows:,} rows x 25 features + score per side", flush=True)
    kit = run_isolated(
        sys.executable, "benchmarks.bench_drift", "kit_full", reference=str(reference), current=str(current)
    )
    print(f"   kit: {kit.result['compute_s']:.2f} s, {kit.peak_mb:.0f} MB", flush=True)
    baseline_json = _write_baseline(reference, rows)
    only = run_isolated(
        sys.executable,
        "benchmarks.bench_drift",
        "kit_report_only",
        baseline_json=str(baseline_json),
        current=str(current),
    )
    html = run_isolated(
        sys.executable,
        "benchmarks.bench_drift",
        "kit_html",
        baseline_json=str(baseline_json),
        current=str(current),
        output=str(DATA / f"drift_{rows}.html"),
    )
    python = peer_python("evidently", EVIDENTLY)
    peer = run_isolated(
        python,
        "benchmarks.peers.evidently_drift",
        "run",
        reference=str(reference),
        current=str(current),
        numeric=[*NUMERIC, PREDICTION],
        categorical=CATEGORICAL,
    )
    print(f"   evidently: {peer.result['compute_s']:.2f} s, {peer.peak_mb:.0f} MB", flush=True)
    big_reference, big_current = ensure_data(big_rows)
    big = run_isolated(
        sys.executable, "benchmarks.bench_drift", "kit_full", reference=str(big_reference), current=str(big_current)
    )
    print(f"   kit {big_rows:,}: {big.result['compute_s']:.2f} s, {big.peak_mb:.0f} MB", flush=True)

    speedup = peer.result["compute_s"] / kit.result["compute_s"]
    end_to_end = peer.seconds / kit.seconds
    data_mb = kit.result["data_mb"]
    lines = [
        f"{rows:,} reference + {rows:,} current rows, 25 features (20 numeric, 5 categorical) + a numeric score. "
        "Kit: baseline of the reference, then PSI on all 26 columns, KS (scipy-exact, 10k reference sample vs all "
        "current values) on the 21 numeric ones, chi-squared on the 5 categorical ones, violations, strict JSON. "
        "Evidently 0.7.23 DataDriftPreset on the same 26 columns (Wasserstein distance for numeric, Jensen-Shannon "
        "for categorical columns: its choice above 1000 rows). Compute is timed from loaded DataFrames to a "
        "finished report; peak memory is the whole process (imports and Parquet loading included). Both sides load "
        "the Parquet files the same way (column by column, Arrow -> pandas, system allocator).",
        "",
        *table(
            ["", "compute (s)", "load + compute (s)", "peak memory (MB)", "peak / data", "columns drifted"],
            [
                [
                    "mlops-kit",
                    f"{kit.result['compute_s']:.2f}",
                    f"{kit.seconds:.2f}",
                    f"{kit.peak_mb:.0f}",
                    f"{kit.peak_mb / data_mb:.2f}x",
                    ", ".join(kit.result["drifted"]),
                ],
                [
                    "Evidently 0.7.23",
                    f"{peer.result['compute_s']:.2f}",
                    f"{peer.seconds:.2f}",
                    f"{peer.peak_mb:.0f}",
                    f"{peer.peak_mb / data_mb:.2f}x",
                    ", ".join(peer.result["drifted"]),
                ],
            ],
        ),
        "",
        f"- Speed-up on compute: **{speedup:.0f}x** (goal: at least 100x); load + compute: {end_to_end:.0f}x.",
        f"- Data in memory (both DataFrames): {data_mb:.0f} MB; kit peak {kit.peak_mb:.0f} MB "
        f"({kit.peak_mb / data_mb:.2f}x the data; goal: under 2x).",
        f"- Kit breakdown: baseline {kit.result['baseline_s']:.2f} s, report {kit.result['report_s']:.2f} s; the "
        f"scheduled job's share (stored baseline vs one window) {only.result['compute_s']:.2f} s, "
        f"{only.peak_mb:.0f} MB peak; HTML report with 26 embedded charts {html.result['html_s']:.2f} s "
        f"({html.result['html_bytes'] / 1024:.0f} KiB).",
        "",
        f"{big_rows:,} + {big_rows:,} rows, kit only:",
        "",
        *table(
            [
                "rows per side",
                "compute (s)",
                "baseline (s)",
                "report (s)",
                "peak memory (MB)",
                "data (MB)",
                "peak / data",
            ],
            [
                [
                    f"{big_rows:,}",
                    f"{big.result['compute_s']:.2f}",
                    f"{big.result['baseline_s']:.2f}",
                    f"{big.result['report_s']:.2f}",
                    f"{big.peak_mb:.0f}",
                    f"{big.result['data_mb']:.0f}",
                    f"{big.peak_mb / big.result['data_mb']:.2f}x",
                ]
            ],
        ),
    ]
    return Report(name="drift", title="Drift report vs Evidently", command="python -m benchmarks drift", lines=lines)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv).lines, indent=1))
