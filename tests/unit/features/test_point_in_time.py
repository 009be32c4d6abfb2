"""Point-in-time joins: the local engine against a brute-force reference, and the Athena SQL (run on DuckDB)
against the local engine, on the same Parquet files."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_kit.features.definitions import (
    EntityKey,
    Feature,
    FeatureGroup,
    FeatureRegistry,
    UnknownFeatureError,
    ValueType,
)
from mlops_kit.features.offline import OfflineStore, read_training_set, write_training_set
from mlops_kit.features.records import InvalidRecordsError
from mlops_kit.features.sql import DuckDBRunner
from mlops_kit.features.storage import LocalObjectStore
from tests.unit.features.conftest import T0, at

HOUR_US = 3_600_000_000
# Two groups keyed on a two-column key whose values collide if concatenated ("a"+"b1" vs "ab"+"1").
KEYED = FeatureGroup(
    name="keyed",
    entity_keys=(EntityKey("k1"), EntityKey("k2")),
    features=(Feature("v", ValueType.INT64), Feature("s", ValueType.STRING)),
    created_time_column="created",
    ttl=dt.timedelta(hours=3),
)
FOREVER = FeatureGroup(
    name="forever",
    entity_keys=(EntityKey("k1"),),
    features=(Feature("w", ValueType.FLOAT64),),
)
REGISTRY = FeatureRegistry([KEYED, FOREVER])
KEYS = [("a", "b1"), ("ab", "1"), ("a", "b"), ("x", "")]


class Clock:
    """Ingestion times that advance one hour per write (so created_before_label can see them)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(hours=1)
        return self.now


feature_rows = st.lists(
    st.tuples(st.sampled_from(KEYS), st.integers(0, 12), st.one_of(st.none(), st.integers(0, 14)), st.integers(0, 99)),
    max_size=30,
)
label_rows = st.lists(st.tuples(st.sampled_from([*KEYS, ("zz", "9")]), st.integers(0, 16)), min_size=1, max_size=20)


def write_batches(store: OfflineStore, rows: list[tuple], batches: int) -> list[tuple]:
    """Write rows in ``batches`` writes; return each row with its ingestion rank (global order)."""
    ingested: list[tuple] = []
    size = max(1, -(-len(rows) // batches))
    for number, start in enumerate(range(0, len(rows), size)):
        part = rows[start : start + size]
        frame = pd.DataFrame(
            {
                "k1": [k[0] for k, *_ in part],
                "k2": [k[1] for k, *_ in part],
                "event_timestamp": [at(e) for _, e, _, _ in part],
                "created": pd.array([None if c is None else at(c) for _, _, c, _ in part], dtype="datetime64[us, UTC]"),
                "v": [v for *_, v in part],
                "s": [f"s{v}" for *_, v in part],
            }
        )
        store.write("keyed", frame)
        store.write(
            "forever",
            pd.DataFrame({"k1": frame["k1"], "event_timestamp": frame["event_timestamp"], "w": frame["v"] / 7}),
        )
        ingested.extend((row, number, i) for i, row in enumerate(part))
    return ingested


def brute_force(ingested: list[tuple], labels: list[tuple], ttl_hours: float | None, created_before_label: bool,
                ingest_hours: Sequence[float], key_of=lambda k: k) -> list[int | None]:  # fmt: skip
    """For each label: the value of the best eligible row, by the rule in the issue, scanning every row."""
    result = []
    for key, label_hour in labels:
        best = None
        for (row_key, event, created, value), batch, index in ingested:
            if key_of(row_key) != key_of(key) or event > label_hour:
                continue
            if ttl_hours is not None and event < label_hour - ttl_hours:
                continue
            available = created if created is not None else ingest_hours[batch]
            if created_before_label and available > label_hour:
                continue
            rank = (event, -1e9 if created is None else created, batch, index)
            if best is None or rank > best[0]:
                best = (rank, value)
        result.append(None if best is None else best[1])
    return result


def labels_frame(labels: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k1": [k[0] for k, _ in labels],
            "k2": [k[1] for k, _ in labels],
            "event_timestamp": [at(h) for _, h in labels],
            "label": range(len(labels)),
        }
    )


# "where_created": only groups with a created-time column ("keyed") leave out values created after the label.
modes = st.sampled_from([False, True, "where_created"])


@given(feature_rows, label_rows, st.integers(1, 3), modes)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_local_engine_matches_the_brute_force_reference(rows, labels, batches, created_before_label) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock(T0 + dt.timedelta(hours=5))
        store = OfflineStore(REGISTRY, LocalObjectStore(tmp), clock=clock)
        ingested = write_batches(store, rows, batches)
        ingest_hours = [6 + 2 * n for n in range(batches)]  # two writes (keyed, forever) per batch

        result = store.get_historical_features(
            labels_frame(labels), ["keyed:v", "keyed:s", "forever:w"], created_before_label=created_before_label
        )

        expected = brute_force(ingested, labels, 3, created_before_label in (True, "where_created"), ingest_hours)
        assert list(result.frame["label"]) == list(range(len(labels)))  # one row per label, input order
        assert [None if pd.isna(v) else int(v) for v in result.frame["v"]] == expected
        assert [None if pd.isna(s) else s for s in result.frame["s"]] == [
            None if e is None else f"s{e}" for e in expected
        ]
        forever_ingest = [7 + 2 * n for n in range(batches)]
        # "forever" has no created column: ties by ingestion order only.
        forever = [((k, e, None, v), b, i) for (k, e, _c, v), b, i in ingested]
        filters_w = created_before_label is True
        expected_w = brute_force(forever, labels, None, filters_w, forever_ingest, key_of=lambda k: k[0])
        assert [None if pd.isna(w) else round(w * 7) for w in result.frame["w"]] == expected_w
        assert result.manifest.rows == len(labels)
        assert result.manifest.matched == {
            "keyed": sum(e is not None for e in expected),
            "forever": sum(e is not None for e in expected_w),
        }


@given(feature_rows, label_rows, st.integers(1, 3), modes)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_athena_sql_on_duckdb_gives_the_local_engines_result(rows, labels, batches, created_before_label) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = OfflineStore(REGISTRY, LocalObjectStore(tmp), clock=Clock(T0))
        write_batches(store, rows, batches)
        refs = ["keyed:v", "forever:w", "keyed:s"]

        local = store.get_historical_features(labels_frame(labels), refs, created_before_label=created_before_label)
        sql = store.get_historical_features(
            labels_frame(labels), refs, created_before_label=created_before_label,
            runner=DuckDBRunner(tmp, [KEYED, FOREVER]),
        )  # fmt: skip

        assert sql.table.equals(local.table)
        assert sql.manifest.dataset_hash == local.manifest.dataset_hash
        assert sql.manifest.matched == local.manifest.matched


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    offline = OfflineStore(REGISTRY, LocalObjectStore(tmp_path), clock=Clock(T0))
    offline.write("keyed", pd.DataFrame({"k1": ["a"], "k2": ["b"], "event_timestamp": [at(1)], "created": [at(1)],
                                         "v": [1], "s": ["one"]}))  # fmt: skip
    return offline


def test_ttl_bounds_are_inclusive(store: OfflineStore) -> None:
    labels = pd.DataFrame({"k1": ["a"] * 4, "k2": ["b"] * 4, "event_timestamp": [at(0.5), at(1), at(4), at(4.0001)]})

    result = store.get_historical_features(labels, ["keyed:v"])

    assert list(result.frame["v"].astype("object").where(result.frame["v"].notna(), None)) == [None, 1, 1, None]


def test_duplicate_label_rows_are_kept_and_counted(store: OfflineStore) -> None:
    labels = pd.DataFrame({"k1": ["a", "a", "a"], "k2": ["b", "b", "b"], "event_timestamp": [at(2)] * 3})

    result = store.get_historical_features(labels, ["keyed:v"])

    assert list(result.frame["v"]) == [1, 1, 1]
    assert result.manifest.duplicate_label_rows == 2


def labels_with(**columns) -> pd.DataFrame:
    base = {"k1": ["a"], "k2": ["b"], "event_timestamp": [at(1)]}
    return pd.DataFrame({k: v for k, v in {**base, **columns}.items() if v is not None})


@pytest.mark.parametrize(
    ("labels", "refs", "error", "message"),
    [
        (labels_with(), ["keyed:nope"], UnknownFeatureError, "no feature 'nope'"),
        (labels_with(), ["nope:v"], UnknownFeatureError, "unknown feature group"),
        (labels_with(k2=None), ["keyed:v"], InvalidRecordsError, "lack the entity key column 'k2'"),
        (labels_with(k2=[2]), ["keyed:v"], InvalidRecordsError, "keys it as string"),
        (labels_with(event_timestamp=[dt.datetime(2025, 1, 1)]), ["keyed:v"], InvalidRecordsError, "naive"),
        (labels_with(event_timestamp=None, when=[at(1)]), ["keyed:v"], InvalidRecordsError, "no time column"),
        (labels_with(k2=[None]), ["keyed:v"], InvalidRecordsError, "null keys"),
        (labels_with(v=[0]), ["keyed:v"], InvalidRecordsError, "names of requested features"),
    ],
)
def test_bad_labels_are_clear_errors(store: OfflineStore, labels, refs, error, message) -> None:
    with pytest.raises(error, match=message):
        store.get_historical_features(labels, refs)


def test_offline_files_are_immutable_partitioned_and_ordered(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    store = OfflineStore(REGISTRY, objects, clock=Clock(T0))
    frame = pd.DataFrame({"k1": ["a", "a"], "k2": ["b", "b"], "event_timestamp": [at(1), at(30)],
                          "created": [None, None], "v": [1, 2], "s": ["x", "y"]})  # fmt: skip

    report = store.write("keyed", frame)

    keys = objects.list("keyed/")
    assert [k.split("/")[1] for k in keys] == ["date=2025-01-01", "date=2025-01-02"]
    assert len(report.files) == 2
    assert store.read("keyed").column("v").to_pylist() == [1, 2]
    with pytest.raises(Exception, match="immutable"):
        objects.put(keys[0], b"overwrite")


def test_offline_files_dictionary_encode_only_the_columns_whose_values_repeat(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    objects = LocalObjectStore(tmp_path)
    store = OfflineStore(REGISTRY, objects, clock=Clock(T0))
    frame = pd.DataFrame({"k1": ["a", "b", "c"], "k2": ["b", "b", "b"], "event_timestamp": [at(1), at(2), at(3)],
                          "created": [None, None, None], "v": [1, 2, 3], "s": ["x", "y", "x"]})  # fmt: skip

    store.write("keyed", frame)

    (key,) = objects.list("keyed/")
    metadata = pq.ParquetFile(tmp_path / key).metadata
    with_dictionary = {
        metadata.schema.column(i).name
        for i in range(metadata.num_columns)
        if metadata.row_group(0).column(i).has_dictionary_page
    }
    assert with_dictionary == {"s", "__batch", "__ingested_us"}
    assert store.read("keyed").column("s").to_pylist() == ["x", "y", "x"]


class MemoryObjects:
    """An object store in memory: the non-local read path (the one S3 takes)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> str:
        self.objects[key] = body
        return key

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def uri(self, key: str) -> str:
        return f"memory://{key}"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_files_written_before_a_feature_existed_read_it_as_null(where: str, tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path) if where == "local" else MemoryObjects()
    before = FeatureGroup(name="g", entity_keys=(EntityKey("k1"),), features=(Feature("w", ValueType.FLOAT64),))
    after = FeatureGroup(
        name="g",
        entity_keys=(EntityKey("k1"),),
        features=(Feature("w", ValueType.FLOAT64), Feature("added", ValueType.STRING)),
    )
    OfflineStore(FeatureRegistry([before]), objects, clock=Clock(T0)).write(
        "g", pd.DataFrame({"k1": ["a"], "event_timestamp": [at(1)], "w": [1.5]})
    )
    store = OfflineStore(FeatureRegistry([after]), objects, clock=Clock(at(5)))
    store.write("g", pd.DataFrame({"k1": ["b"], "event_timestamp": [at(2)], "w": [2.5], "added": ["new"]}))

    labels = pd.DataFrame({"k1": ["a", "b"], "event_timestamp": [at(3), at(3)]})
    result = store.get_historical_features(labels, ["g:w", "g:added"])

    assert result.table.column("w").to_pylist() == [1.5, 2.5]
    assert result.table.column("added").to_pylist() == [None, "new"]


def test_training_sets_round_trip_with_their_manifest(store: OfflineStore, tmp_path: Path) -> None:
    labels = pd.DataFrame({"k1": ["a", "q"], "k2": ["b", "r"], "event_timestamp": [at(2), at(2)], "y": [1, 0]})
    result = store.get_historical_features(labels, ["keyed:v", "keyed:s"])

    write_training_set(result, str(tmp_path / "ts"))
    frame, manifest = read_training_set(str(tmp_path / "ts"))

    assert manifest == result.manifest
    assert manifest.feature_groups == {"keyed": KEYED.version}
    assert manifest.matched == {"keyed": 1}
    assert frame["v"].tolist()[0] == 1
    assert pd.isna(frame["v"].tolist()[1])
    assert manifest.label_hash != manifest.dataset_hash
    assert manifest.dataset_version == manifest.dataset_hash[:16]


def test_the_dataset_hash_changes_with_any_value(store: OfflineStore) -> None:
    labels = pd.DataFrame({"k1": ["a"], "k2": ["b"], "event_timestamp": [at(2)]})
    before = store.get_historical_features(labels, ["keyed:v"]).manifest
    store.write("keyed", pd.DataFrame({"k1": ["a"], "k2": ["b"], "event_timestamp": [at(1.5)], "created": [at(1.5)],
                                       "v": [5], "s": ["five"]}))  # fmt: skip

    after = store.get_historical_features(labels, ["keyed:v"]).manifest

    assert before.dataset_hash != after.dataset_hash
    assert before.label_hash == after.label_hash


def test_a_table_of_labels_works_like_a_frame(store: OfflineStore) -> None:
    labels = pa.table({"k1": ["a"], "k2": ["b"], "event_timestamp": pa.array([at(2)], pa.timestamp("us", "UTC"))})

    assert store.get_historical_features(labels, ["keyed:s"]).frame["s"].tolist() == ["one"]


class StagingDuckDB(DuckDBRunner):
    """DuckDB that can also create the label table Athena's DDL declares over the staged Parquet."""

    def register_labels_as(self, name: str, labels: pa.Table) -> None:
        self.connection.register("__staged", labels)
        self.connection.execute(f'CREATE TABLE "features"."{name}" AS SELECT * FROM "__staged"')
        self.connection.unregister("__staged")


class FakeAthena:
    """Athena's query API over DuckDB: runs what AthenaRunner sends (label DDL, UNLOAD, DROP) on the same files."""

    def __init__(self, duckdb_runner: StagingDuckDB, staging: LocalObjectStore) -> None:
        self.duck = duckdb_runner
        self.staging = staging
        self.queries: list[str] = []

    def start_query_execution(self, QueryString: str, QueryExecutionContext: dict, WorkGroup: str) -> dict:
        import re

        import pyarrow.parquet as pq

        self.queries.append(QueryString)
        assert QueryExecutionContext == {"Database": "features"}
        assert WorkGroup == "wg"
        if created := re.match(r"CREATE EXTERNAL TABLE `(\w+)` \(.*\) STORED AS PARQUET LOCATION '(.+)'$", QueryString):
            name, location = created.groups()
            self.duck.register_labels_as(name, pq.read_table(Path(location) / "labels.parquet"))
        elif unload := re.match(r"UNLOAD \((.*)\) TO '(.+)' WITH \(format = 'PARQUET'\)$", QueryString, re.S):
            sql, location = unload.groups()
            Path(location).mkdir(parents=True, exist_ok=True)
            pq.write_table(self.duck.run(sql), Path(location) / "part-0.parquet")
        elif dropped := re.match(r"DROP TABLE IF EXISTS `(\w+)`$", QueryString):
            self.duck.drop_labels(dropped.group(1))
        else:
            raise AssertionError(f"unexpected query {QueryString[:80]}")
        return {"QueryExecutionId": str(len(self.queries))}

    def get_query_execution(self, QueryExecutionId: str) -> dict:
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}


def test_the_athena_runner_stages_labels_unloads_parquet_and_cleans_up(store: OfflineStore, tmp_path: Path) -> None:
    from mlops_kit.features.sql import AthenaRunner

    staging = LocalObjectStore(tmp_path / "staging")
    assert isinstance(store.objects, LocalObjectStore)
    athena = FakeAthena(StagingDuckDB(store.objects.root, [KEYED, FOREVER]), staging)
    labels = pd.DataFrame({"k1": ["a", "a", "z"], "k2": ["b", "b", "z"], "event_timestamp": [at(0), at(2), at(2)]})

    via_athena = store.get_historical_features(
        labels,
        ["keyed:v", "keyed:s"],
        runner=AthenaRunner(athena, staging, database="features", workgroup="wg", poll_seconds=0),
    )

    local = store.get_historical_features(labels, ["keyed:v", "keyed:s"])
    assert via_athena.table.equals(local.table)
    assert [q.split()[0] for q in athena.queries] == ["CREATE", "UNLOAD", "DROP"]
    assert "`__label_us` bigint" in athena.queries[0]


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-8, 8), st.integers(-2, 2)), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 4), st.integers(-9, 9)), min_size=1, max_size=20),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 6)),
)
@settings(max_examples=150, deadline=None)
def test_the_join_is_exact_when_keys_must_coarsen_time(features, labels, created_before_label, ttl) -> None:
    import numpy as np

    from mlops_kit.features import pit

    # Two far-away rows stretch the time span past what fits one int64 beside the entity code, so the
    # engine coarsens time; the clustered times (1 µs apart) then share coarse keys and need the fix-up.
    far = [(0, -(2**61), 0), (0, 2**61, 0)]
    rows = far + features
    entity = pa.array([f"e{e}" for e, _, _ in rows])
    event = np.array([t for _, t, _ in rows], dtype=np.int64)
    created = np.array([c for *_, c in rows], dtype=np.int64)
    label_entity = pa.array([f"e{e}" for e, _ in labels])
    label_us = np.array([t for _, t in labels], dtype=np.int64)

    expected = []
    for key, when in labels:
        eligible = [
            i for i, (e, t, c) in enumerate(rows)
            if e == key and t <= when and (ttl is None or t >= when - ttl) and (not created_before_label or c <= when)
        ]  # fmt: skip
        expected.append(max(eligible, key=lambda i: (rows[i][1], rows[i][2], i)) if eligible else -1)

    # Both sorts: row numbers packed into the keys (a plain sort), and argsort when they do not fit; each by Polars
    # and by numpy (a job's container without Polars).
    for min_time_bits, polars in itertools.product((24, 62), (True, False)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pit, "_MIN_TIME_BITS", min_time_bits)
            if not polars:
                patch.setitem(sys.modules, "polars", None)  # import polars now raises ImportError
            match = pit.join_group(
                [label_entity], label_us, [entity], event, created, created, ttl, created_before_label
            )
        assert match.tolist() == expected, (min_time_bits, polars)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300), st.booleans())
@settings(max_examples=100, deadline=None)
def test_the_int64_sorts_equal_numpys_with_and_without_polars(values: list[int], polars: bool) -> None:
    import numpy as np

    from mlops_kit.features import pit

    keys = np.array(values, dtype=np.int64)
    with pytest.MonkeyPatch.context() as patch:
        if not polars:
            patch.setitem(sys.modules, "polars", None)
        ordered, order = pit.sort_int64(keys), pit.argsort_int64(keys)
    assert ordered.dtype == order.dtype == np.int64
    assert ordered.tolist() == sorted(values)
    assert keys[order].tolist() == sorted(values)  # equal values may come in any order


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "ab", ""]), st.integers(0, 2), st.integers(-3, 3)), min_size=0, max_size=30
    ),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_duplicate_label_rows_are_counted_like_pandas(rows, wide_span, polars) -> None:
    import numpy as np

    from mlops_kit.features.offline import _count_duplicates

    # A span of 2**61 µs does not fit beside the key code in one int64: without Polars, that takes the lexsort path.
    times = [t * (2**59 if wide_span else 1) for _, _, t in rows]
    labels = pa.table({"k": pa.array([k for k, _, _ in rows], pa.string()), "n": pa.array([n for _, n, _ in rows])})
    frame = pd.DataFrame({"k": [k for k, _, _ in rows], "n": [n for _, n, _ in rows], "t": times})

    with pytest.MonkeyPatch.context() as patch:
        if not polars:
            patch.setitem(sys.modules, "polars", None)
        one_key = _count_duplicates(labels, ["k"], np.array(times, dtype=np.int64))
        two_keys = _count_duplicates(labels, ["k", "n"], np.array(times, dtype=np.int64))

    assert one_key == int(frame[["k", "t"]].duplicated().sum())
    assert two_keys == int(frame.duplicated().sum())


def _both_readers() -> list[object]:
    from mlops_kit.features.offline import _read_files, _read_files_arrow

    return [pytest.param(_read_files, id="polars"), pytest.param(_read_files_arrow, id="arrow")]


@pytest.mark.parametrize("read_files", _both_readers())
def test_local_files_read_in_the_order_given_with_missing_columns_as_nulls(tmp_path: Path, read_files: object) -> None:
    """Given 40 files whose names sort in another order than the one asked for, one lacking a column,
    when read together (by Polars' reader and by Arrow's), then rows come back file after file in the order given,
    each file's rows in order."""
    import numpy as np
    import pyarrow.parquet as pq

    from mlops_kit.features.offline import arrow_pool

    rng = np.random.default_rng(3)
    paths = []
    for index in rng.permutation(40):
        rows = int(rng.integers(0, 2_000))
        table = pa.table({"row": pa.array(np.arange(rows) + 10_000 * index, pa.int64())})
        if index != 7:
            table = table.append_column("s", pa.array([f"s{index}"] * rows, pa.string()))
        paths.append(str(tmp_path / f"part-{index:03d}.parquet"))
        pq.write_table(table, paths[-1], row_group_size=500)  # several row groups per file
    schema = pa.schema([pa.field("row", pa.int64()), pa.field("s", pa.string())])

    read = read_files(paths, schema)  # type: ignore[operator]

    expected = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default")
    assert read.schema == schema
    assert read.column("row").to_pylist() == expected.column("row").to_pylist()
    assert read.column("s").to_pylist() == expected.column("s").to_pylist()
    assert read.column("s").null_count == pq.read_metadata(str(tmp_path / "part-007.parquet")).num_rows
    assert isinstance(arrow_pool(), pa.MemoryPool)


def test_every_value_type_reads_the_same_with_polars_arrow_and_without_polars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an offline file with every value type (NaN and null floats apart, nulls inside lists, a column
    the file lacks, a column not asked for), when read by Polars' reader, by Arrow's, and with Polars not
    installed, then the three tables are equal in schema and every value."""
    import math

    import pyarrow.parquet as pq

    from mlops_kit.features.offline import _read_files, _read_files_arrow
    from mlops_kit.features.records import ARROW_TYPES

    group = FeatureGroup(
        name="all",
        entity_keys=(EntityKey("k"),),
        features=tuple(Feature(f"f_{kind.value}", kind) for kind in ValueType),
    )
    stored = {
        "k": pa.array(["a", "b", "c"]),
        "f_int64": pa.array([1, None, -(2**63)], pa.int64()),
        "f_float64": pa.array([math.nan, None, math.inf], pa.float64()),
        "f_string": pa.array(["x", None, ""], pa.string()),
        "f_bool": pa.array([True, None, False], pa.bool_()),
        "f_timestamp": pa.array([0, None, 253_402_300_799_999_999], ARROW_TYPES[ValueType.TIMESTAMP]),
        "f_int64_list": pa.array([[1, None], None, []], ARROW_TYPES[ValueType.INT64_LIST]),
        "not_asked": pa.array([1, 2, 3]),
    }
    pq.write_table(pa.table(stored), tmp_path / "one.parquet")  # lacks f_float64_list
    pq.write_table(pa.table({"k": pa.array(["d"])}), tmp_path / "two.parquet")  # lacks every feature
    schema = pa.schema([pa.field("k", pa.string()), *(pa.field(f.name, ARROW_TYPES[f.dtype]) for f in group.features)])
    paths = [str(tmp_path / "two.parquet"), str(tmp_path / "one.parquet")]

    by_polars = _read_files(paths, schema)
    by_arrow = _read_files_arrow(paths, schema)
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars now raises ImportError
    without_polars = _read_files(paths, schema)

    assert by_polars.schema == by_arrow.schema == without_polars.schema == schema
    assert by_polars.column("k").to_pylist() == ["d", "a", "b", "c"]
    for name in schema.names:
        # repr keeps NaN apart from null and equal to itself
        assert repr(by_polars.column(name).to_pylist()) == repr(by_arrow.column(name).to_pylist()), name
        assert repr(without_polars.column(name).to_pylist()) == repr(by_arrow.column(name).to_pylist()), name
    assert by_polars.column("f_float64_list").null_count == 4
