"""Feature store: point-in-time joins against DuckDB, Polars and Feast, and online reads against Feast's
DynamoDB online store, side by side in one run.

1. Point-in-time join, 100k labels x 1M feature rows (50k entities, 5 float features, TTL 30 days), over the
   same rows: ours from the offline store's partitioned Parquet (read by Polars' Parquet reader, a dependency of the
   kit); DuckDB's ``ASOF LEFT JOIN`` and Polars'
   ``join_asof`` (benchmarks/peers/asof_peers.py) each from one Parquet file and from our partitions read
   hive-style; Feast from one Parquet file source. All are timed from an in-memory label frame to the result
   frame (pandas), feature files read inside the timing, four times in the same fresh process: the first call
   (imports and caches warming up), then three warm calls. Ours and the as-of peers run in two rounds, in
   alternating order (the machine is shared: a burst of load should not fall on one engine alone); the warm
   figure is the median of every warm call, with its CPU time (user + system, every thread of the process) beside
   it, steadier than wall time on a shared machine. Every row of DuckDB's and Polars' results is compared with ours
   (same rows, same order, every value equal, nulls and NaN apart); every row Feast returns is compared value
   by value with ours and the label rows Feast drops are counted. About 2% of label rows share entity and
   timestamp with another (the case Feast drops, #6787).
2. The same at 1M labels x 10M feature rows (500k entities), without Feast, in one round.
3. Online reads on the local emulator (moto server): DynamoDB requests and client time for 1, 100 and 1,000
   entities x 3 groups, ours and Feast's (its DynamoDB online store pointed at the same server), each client in
   its own process, and our client-side decode time per entity.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import DATA, ROOT, Report, peer_python, run_isolated, table
from benchmarks.peers.asof_peers import _cpu

FEAST = ["feast[aws]==0.67.0"]
WARM_CALLS = 3  # both engines: the warm figure is the median of these calls after the first
FEATURES = [f"f{i}" for i in range(5)]
TTL_DAYS = 30
ONLINE_COUNTS = (1, 100, 1_000)  # entities per online read, 3 groups each
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SPAN_DAYS = 365


def _group(name: str = "fv") -> Any:
    from mlops_kit.features.definitions import EntityKey, Feature, FeatureGroup, ValueType

    return FeatureGroup(
        name=name,
        entity_keys=(EntityKey("entity_id"),),
        features=tuple(Feature(f, ValueType.FLOAT64) for f in FEATURES),
        ttl=dt.timedelta(days=TTL_DAYS),
    )


def make_data(directory: str, n_labels: int, n_rows: int, n_entities: int, seed: int) -> dict[str, Any]:
    """Feature rows and labels (seeded), written as our offline store (``ours/fv/date=.../part-*.parquet``) and as
    one Parquet file of the same rows in the order they were generated (``features.parquet``, for the peers)."""
    import hashlib

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_kit.features import offline
    from mlops_kit.features.definitions import FeatureRegistry
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import LocalObjectStore

    root = Path(directory)
    marker = root / "meta.json"
    # The store's files are reused only if the code that wrote them is the code now (its encoding may have changed).
    writer = hashlib.sha256(Path(offline.__file__).read_bytes()).hexdigest()[:16]
    if marker.exists() and (root / "features.parquet").exists():
        meta = dict(json.loads(marker.read_text()))
        if meta.get("writer") == writer:
            return meta
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    start_us = int(START.timestamp() * 1e6)
    span_us = SPAN_DAYS * 86_400_000_000
    ids = np.array([f"E{i:08d}" for i in range(n_entities)], dtype=object)
    entity = rng.integers(0, n_entities, n_rows)
    event = start_us + rng.integers(0, span_us, n_rows)
    columns = {"entity_id": pa.array(ids[entity], pa.string()),
               "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC"))}  # fmt: skip
    for feature in FEATURES:
        values = rng.normal(0.0, 1.0, n_rows)
        values[rng.random(n_rows) < 0.01] = np.nan  # some stored NaN values
        columns[feature] = pa.array(values, pa.float64())
    features = pa.table(columns)
    store = OfflineStore(FeatureRegistry([_group()]), LocalObjectStore(root / "ours"))
    for start in range(0, n_rows, 2_000_000):  # ingested in batches, as a pipeline would
        store.write("fv", features.slice(start, 2_000_000))
    pq.write_table(features, root / "features.parquet")
    label_entity = rng.integers(0, n_entities, n_labels)
    label_time = start_us + rng.integers(0, span_us, n_labels)
    duplicates = rng.random(n_labels) < 0.02
    source = rng.integers(0, n_labels, n_labels)
    label_entity = np.where(duplicates, label_entity[source], label_entity)
    label_time = np.where(duplicates, label_time[source], label_time)
    labels = pd.DataFrame(
        {
            "label_id": np.arange(n_labels),
            "entity_id": pd.array(ids[label_entity], dtype="str"),
            "event_timestamp": pd.to_datetime(label_time, unit="us", utc=True).astype("datetime64[us, UTC]"),
        }
    )
    labels.to_parquet(root / "labels.parquet", index=False)
    meta = {"labels": n_labels, "rows": n_rows, "entities": n_entities, "writer": writer,
            "duplicate_label_rows": int(labels.duplicated(["entity_id", "event_timestamp"]).sum())}  # fmt: skip
    marker.write_text(json.dumps(meta))
    return meta


def ours_historical(directory: str, output: str | None = None) -> dict[str, Any]:
    """Our point-in-time join, timed from the label frame in memory to the result frame."""
    import pandas as pd

    from mlops_kit.features.definitions import FeatureRegistry
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import LocalObjectStore

    root = Path(directory)
    labels = pd.read_parquet(root / "labels.parquet")
    store = OfflineStore(FeatureRegistry([_group()]), LocalObjectStore(root / "ours"))
    times, cpu = [], []
    for _ in range(1 + WARM_CALLS):  # the first call in a fresh process (cold), then warm calls
        started, used = time.perf_counter(), _cpu()
        result = store.get_historical_features(labels, [f"fv:{f}" for f in FEATURES])
        frame = result.frame
        times.append(time.perf_counter() - started)
        cpu.append(_cpu() - used)
    if output:  # the Arrow table: a null (no value) and a stored NaN stay apart, for the exact comparison
        import pyarrow.parquet as pq

        pq.write_table(result.table, output)
    return {"cold": times[0], "seconds": statistics.median(times[1:]), "warm": times[1:], "warm_cpu": cpu[1:],
            "rows": len(frame), "matched": result.matched["fv"]}  # fmt: skip


def compare(ours_path: Path, feast_path: Path, n_labels: int) -> dict[str, int]:
    """Values on every row Feast returns, against ours (by label id); rows Feast dropped or duplicated."""
    import numpy as np
    import pandas as pd

    ours = pd.read_parquet(ours_path).set_index("label_id").sort_index()
    feast = pd.read_parquet(feast_path)
    assert len(ours) == n_labels
    assert (ours.index == np.arange(n_labels)).all()
    mismatched = 0
    aligned = ours.loc[feast["label_id"].to_numpy()]
    for feature in FEATURES:
        a = aligned[feature].to_numpy(dtype=float)
        b = feast[feature].to_numpy(dtype=float)
        mismatched += int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
    returned = feast["label_id"].nunique()
    dropped = ours.loc[~ours.index.isin(feast["label_id"])]
    return {
        "feast_rows": len(feast),
        "feast_distinct_labels": int(returned),
        "compared_values": len(feast) * len(FEATURES),
        "mismatched_values": mismatched,
        "dropped_by_feast": n_labels - int(returned),
        "dropped_without_value_in_ttl": int(dropped[FEATURES[0]].isna().sum()),
        "duplicated_by_feast": int(len(feast) - returned),
        "ours_rows_without_value": int(ours[FEATURES[0]].isna().sum()),
    }


def compare_exact(ours_path: Path, peer_path: Path) -> dict[str, int]:
    """A peer's result against ours row by row: same label rows in the same order, and every feature value equal
    (nulls where ours has nulls, NaN where ours has NaN). Raises AssertionError on a different row set or order."""
    import numpy as np
    import pyarrow.parquet as pq

    ours, peer = pq.read_table(ours_path), pq.read_table(peer_path)
    assert ours.num_rows == peer.num_rows, f"{peer_path.name}: {peer.num_rows} rows, ours {ours.num_rows}"
    same_rows = np.array_equal(ours.column("label_id").to_numpy(), peer.column("label_id").to_numpy())
    assert same_rows, f"{peer_path.name}: label rows in another order or another set than ours"
    mismatched = 0
    for feature in FEATURES:
        a, b = ours.column(feature).combine_chunks(), peer.column(feature).combine_chunks()
        a_null, b_null = a.is_null().to_numpy(zero_copy_only=False), b.is_null().to_numpy(zero_copy_only=False)
        a_value, b_value = a.fill_null(0.0).to_numpy(), b.fill_null(0.0).to_numpy()
        equal = (a_null == b_null) & ((a_value == b_value) | (np.isnan(a_value) & np.isnan(b_value)))
        mismatched += int((~equal).sum())
    return {"rows": ours.num_rows, "values": ours.num_rows * len(FEATURES), "mismatched": mismatched,
            "nulls": int(ours.column(FEATURES[0]).null_count)}  # fmt: skip


# (name, function in benchmarks.peers.asof_peers, layout): DuckDB and Polars over one file and over our partitions
ASOF_PEERS = [
    ("DuckDB ASOF LEFT JOIN, one file", "duckdb_historical", "file"),
    ("DuckDB ASOF LEFT JOIN, our partitions", "duckdb_historical", "hive"),
    ("Polars join_asof, one file", "polars_historical", "file"),
    ("Polars join_asof, our partitions", "polars_historical", "hive"),
]
ROUNDS = 2  # every engine runs once per round, in alternating order, so a burst of load hits no one engine alone
LARGE_ROUNDS = 1  # at 10M rows one round of the five engines takes 5-10 minutes on the shared 2 cores


def side_by_side(directory: Path, rounds: int) -> dict[str, Any]:
    """Ours and the as-of peers on the same rows, ``rounds`` times each (fresh processes), values compared."""
    python = Path(sys.executable)
    engines = [("mlops-kit (local engine, our partitions)", "", ""), *ASOF_PEERS]
    runs: dict[str, list[Any]] = {name: [] for name, _, _ in engines}
    for round_ in range(rounds):
        for index, (name, function, layout) in enumerate(engines if round_ % 2 == 0 else engines[::-1]):
            output = directory / f"result-{index if round_ % 2 == 0 else len(engines) - 1 - index}.parquet"
            if not function:
                measured = run_isolated(
                    python, "benchmarks.bench_features", "ours_historical", directory=str(directory),
                    output=str(output),
                )  # fmt: skip
            else:
                source = directory / ("features.parquet" if layout == "file" else "ours/fv")
                measured = run_isolated(
                    python, "benchmarks.peers.asof_peers", function, labels=str(directory / "labels.parquet"),
                    features=str(source), layout=layout, ttl_days=TTL_DAYS, names=FEATURES, warm_calls=WARM_CALLS,
                    output=str(output),
                )  # fmt: skip
            runs[name].append(measured)
    checked = {name: compare_exact(directory / "result-0.parquet", directory / f"result-{i}.parquet")
               for i, (name, _, _) in enumerate(engines) if i}  # fmt: skip
    return {"engines": engines, "runs": runs, "checked": checked}


def join_rows(results: dict[str, Any]) -> tuple[list[list[str]], dict[str, float]]:
    """Table rows (engine, warm, warm CPU, first call, peak, rows, ratio to ours) and each engine's warm figure."""
    warm = {name: statistics.median([t for m in ms for t in m.result["warm"]]) for name, ms in results["runs"].items()}
    ours = next(iter(warm.values()))
    rows = []
    for name, measurements in results["runs"].items():
        label = name
        if measurements[0].result.get("engine"):
            label = f"{measurements[0].result['engine']} {name.split(' ', 1)[1]}"
        colds = ", ".join(f"{m.result['cold']:.2f}" for m in measurements)
        peak = max(m.peak_mb for m in measurements)
        ratio = "1x" if warm[name] == ours else f"{warm[name] / ours:.2f}x"
        cpu = statistics.median([t for m in measurements for t in m.result["warm_cpu"]])
        rounds = ", ".join(f"{m.result['seconds']:.2f}" for m in measurements)
        rows.append([label, f"{warm[name]:.2f}", f"{cpu:.2f}", rounds, colds, f"{peak:.0f}",
                     f"{measurements[0].result['rows']:,}", ratio])  # fmt: skip
    return rows, warm


JOIN_HEADER = [
    "engine", "join time, warm: median of all warm calls (s)", "CPU user+sys, warm median (s)",
    "warm median per round (s)", "first call per round (s)",
    "process peak memory (MB)", "label rows returned", "time / ours",
]  # fmt: skip


# -- online ------------------------------------------------------------------------------------------------------
def online_benchmark(workdir: Path, feast_python: Path | None, n_entities: int = 1_000) -> dict[str, Any]:
    """Both online stores on one moto server; 3 groups of 5 features each; requests per read."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlops_kit.features.definitions import FeatureRegistry
    from mlops_kit.features.online import OnlineStore
    from mlops_local.emulator import Emulator, free_port

    groups = [_group(f"g{i}") for i in range(3)]
    registry = FeatureRegistry(groups)
    rng = np.random.default_rng(1)
    ids = [f"E{i:08d}" for i in range(n_entities)]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    paths = {}
    frames = {}
    for group in groups:
        frame = pd.DataFrame({"entity_id": ids, "event_timestamp": [now - dt.timedelta(hours=1)] * n_entities})
        frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
        for feature in FEATURES:
            frame[feature] = rng.normal(0.0, 1.0, n_entities)
        frames[group.name] = frame
        paths[group.name] = str(workdir / f"{group.name}.parquet")
        frame.to_parquet(paths[group.name], index=False)
    port = free_port()
    results: dict[str, Any] = {}
    with Emulator(server=True, port=port, workdir=workdir / "emulator") as aws:
        dynamodb = aws.client("dynamodb")
        dynamodb.create_table(
            TableName="features",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        online = OnlineStore.from_client(registry, dynamodb, "features")
        for group in groups:
            online.write(group.name, pa.Table.from_pandas(frames[group.name], preserve_index=False))
        saved = dict(os.environ)
        os.environ.update(aws.environment())  # dummy credentials and the endpoint, for the clients' processes
        try:
            # Ours in its own process too, like Feast's: a client sharing the server's process (and its GIL)
            # would slow both down.
            results["ours"] = run_isolated(
                Path(sys.executable), "benchmarks.bench_features", "ours_online", endpoint_url=aws.endpoint_url,
                groups=[g.name for g in groups], entities=ids, counts=list(ONLINE_COUNTS),
            ).result  # fmt: skip
            if feast_python is not None:
                results["feast"] = run_isolated(
                    feast_python, "benchmarks.peers.feast_peer", "online", cwd=ROOT.parent,
                    endpoint_url=aws.endpoint_url, repo=str(workdir / "feast-online"), views=paths,
                    features=FEATURES, entities=ids, ttl_days=TTL_DAYS, counts=list(ONLINE_COUNTS),
                ).result  # fmt: skip
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return results


def ours_online(endpoint_url: str, groups: list[str], entities: list[str], counts: list[int]) -> dict[str, Any]:
    """Our reads of ``counts`` entities x every group from the table ``features`` at ``endpoint_url``: requests,
    best of five client times (as for Feast) and our decode time per entity."""
    import boto3

    from mlops_kit.features.definitions import FeatureRegistry
    from mlops_kit.features.online import OnlineStore

    registry = FeatureRegistry([_group(name) for name in groups])
    online = OnlineStore.from_client(registry, boto3.client("dynamodb", endpoint_url=endpoint_url), "features")
    refs = [f"{g}:{f}" for g in groups for f in FEATURES]
    reads = {}
    for count in counts:
        runs = [online.get([{"entity_id": e} for e in entities[:count]], refs, full_names=True) for _ in range(5)]
        reads[f"{count}x{len(groups)}"] = {
            "requests": runs[-1].requests,
            "ms": min(r.seconds for r in runs) * 1000,
            "decode_us_per_entity": min(r.decode_seconds for r in runs) * 1e6 / count,
            "values": runs[-1].rows[0],
        }
    return reads


def _peer_values(checked: dict[str, dict[str, int]]) -> list[str]:
    return [
        f"Values against ours, {name}: {c['values']:,} feature values on {c['rows']:,} label rows in the labels' "
        f"order, **{c['mismatched']} differ** (rows without a value inside the TTL: {c['nulls']:,}, null in both)."
        for name, c in checked.items()
    ]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def run(quick: bool = False) -> Report:
    report = Report(
        name="features",
        title="Feature store: point-in-time joins vs DuckDB, Polars and Feast, and online reads",
        command="python -m benchmarks features" + (" --quick" if quick else ""),
    )
    small = (10_000, 100_000, 5_000) if quick else (100_000, 1_000_000, 50_000)
    large = (20_000, 200_000, 10_000) if quick else (1_000_000, 10_000_000, 500_000)
    feast_python = peer_python("feast", FEAST)
    lines = report.lines

    # 1. side by side with DuckDB, Polars and Feast
    rounds = 1 if quick else ROUNDS
    directory = DATA / f"features-{small[0]}x{small[1]}"
    meta = make_data(str(directory), *small, seed=7)
    load_before = _load()
    small_results = side_by_side(directory, rounds)
    ours_out, feast_out = directory / "result-0.parquet", directory / "feast-result.parquet"
    feast = run_isolated(
        feast_python, "benchmarks.peers.feast_peer", "historical", labels=str(directory / "labels.parquet"),
        features=str(directory / "features.parquet"), output=str(feast_out), repo=str(directory / "feast-repo"),
        ttl_days=TTL_DAYS, names=FEATURES, warm_calls=WARM_CALLS,
    )  # fmt: skip
    checked = compare(ours_out, feast_out, meta["labels"])
    rows, warm = join_rows(small_results)
    ours_warm = next(iter(warm.values()))
    rows.append([f"Feast {feast.result['feast']} file offline store, one file", f"{feast.result['seconds']:.2f}", "-",
                 f"{feast.result['seconds']:.2f} (one round)", f"{feast.result['cold']:.2f}", f"{feast.peak_mb:.0f}",
                 f"{checked['feast_rows']:,}", f"{feast.result['seconds'] / ours_warm:.2f}x"])  # fmt: skip
    lines.append(f"### Point-in-time join: {meta['labels']:,} labels x {meta['rows']:,} feature rows "
                 f"({meta['entities']:,} entities, 5 features, TTL {TTL_DAYS} days)")  # fmt: skip
    lines.append("")
    lines.append(
        f"Each engine in a fresh process, {rounds} round(s) in alternating order, {WARM_CALLS} warm calls after "
        f"the first per round; load average before: {load_before}, after: {_load()}."
    )
    lines.append("")
    lines += table(JOIN_HEADER, rows)
    lines.append("")
    lines += _peer_values(small_results["checked"])
    lines.append(
        f"Feast: {checked['compared_values']:,} feature values on the {checked['feast_rows']:,} rows it returns, "
        f"**{checked['mismatched_values']} differ** from ours. Feast dropped **{checked['dropped_by_feast']:,} label "
        f"rows** ({checked['dropped_by_feast'] / meta['labels']:.1%}), {checked['dropped_without_value_in_ttl']:,} of "
        f"them rows without a value inside the TTL (ours returns them with nulls), and duplicated "
        f"{checked['duplicated_by_feast']:,}. The labels include {meta['duplicate_label_rows']:,} rows sharing entity "
        f"and timestamp with another; ours returns every label row once, in input order "
        f"({checked['ours_rows_without_value']:,} with nulls)."
    )
    lines.append("")

    # 2. scale, with DuckDB and Polars (Feast needs tens of GB here, #3003)
    directory = DATA / f"features-{large[0]}x{large[1]}"
    meta = make_data(str(directory), *large, seed=11)
    load_before = _load()
    large_results = side_by_side(directory, 1 if quick else LARGE_ROUNDS)
    rows, _ = join_rows(large_results)
    lines.append(
        f"### Scale: {meta['labels']:,} labels x {meta['rows']:,} feature rows ({meta['entities']:,} entities)"
    )
    lines.append("")
    lines.append(f"Load average before: {load_before}, after: {_load()}. Goal for ours: < 10 s, < 4096 MB.")
    lines.append("")
    lines += table(JOIN_HEADER, rows)
    lines.append("")
    lines += _peer_values(large_results["checked"])
    lines.append("")

    # 3. online reads
    work = DATA / "features-online"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    online = online_benchmark(work, feast_python, n_entities=max(ONLINE_COUNTS))
    ours_online, feast_online = online["ours"], online.get("feast", {})
    keys = [(f"{n}x3", f"{n:,} {'entity' if n == 1 else 'entities'} x 3 groups") for n in ONLINE_COUNTS]
    for key, _ in keys:
        ours_value = ours_online[key]["values"]
        feast_values = feast_online[key]["values"] if key in feast_online else {}
        for name, value in ours_value.items():
            group, feature = name.split("__")
            theirs = feast_values.get(f"{group}__{feature}", feast_values.get(feature, [None]))[0]
            if theirs is not None and abs(theirs - value) > 0:
                raise AssertionError(f"online values differ for {name}: ours {value}, Feast {theirs}")
    lines.append("### Online reads on the local emulator (moto server), 3 feature groups x 5 features")
    lines.append("")
    rows = []
    for key, label in keys:
        theirs = feast_online.get(key, {})
        calls = ", ".join(f"{k} {v}" for k, v in theirs.get("calls", {}).items())
        ratio = theirs.get("ms", float("nan")) / ours_online[key]["ms"]
        rows.append([label, str(ours_online[key]["requests"]), f"{theirs.get('requests', '-')} ({calls})",
                     f"{ours_online[key]['ms']:.1f}", f"{theirs.get('ms', float('nan')):.1f}", f"**{ratio:.1f}x**",
                     f"{ours_online[key]['decode_us_per_entity']:.0f}"])  # fmt: skip
    lines += table(
        ["read", "DynamoDB requests, ours", "DynamoDB requests, Feast 0.67", "client ms, ours (best of 5)",
         "client ms, Feast (best of 5)", "Feast / ours", "decode µs/entity, ours"],
        rows,
    )  # fmt: skip
    lines.append("")
    lines.append(
        "Ours: one BatchGetItem per 100 keys across all groups (1 entity x 3 groups = 3 keys = 1 call; 100 x 3 = "
        "300 keys = 3 calls), the calls of one read made concurrently (at most 16 at a time), each retrying its "
        "own unprocessed keys. Feast keeps one table per feature view and calls BatchGetItem per table, one call "
        "after another. Each client runs in its own process against one emulator server (moto, one Python process): "
        "the server handles one request at a time under its GIL, so concurrent calls gain little here, where on "
        "DynamoDB they are served in parallel. Latencies are the local emulator's over HTTP, not DynamoDB's."
    )
    return report
