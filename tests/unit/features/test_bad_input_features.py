"""Bad input to the feature store, as a new user sends it: each case refused before anything is written, or
refused per record and reported, on the DataFrame path and the record (SQS/EventBridge Lambda) path alike.

Policies (README, "Feature store"): a batch with an invalid or partial record is refused whole, before any
write; a record dated more than ``max_future_skew`` after now is refused alone and reported; a redelivered batch
adds no offline rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pytest
from moto import mock_aws

from mlops_kit.features.definitions import EntityKey, Feature, FeatureGroup, FeatureRegistry, ValueType
from mlops_kit.features.encoding import MAX_ITEM_BYTES, encode_item, item_size
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.online import OnlineStore
from mlops_kit.features.records import InvalidRecordsError
from mlops_kit.features.storage import LocalObjectStore
from mlops_kit.features.store import FeatureStore, IngestError
from tests.support import create_pk_sk_table
from tests.unit.features.conftest import PAIR, REGISTRY, T0, FakeTable, at

NOW = T0 + dt.timedelta(days=1)


def store_at(root: Path, table: Any = None, registry: FeatureRegistry = REGISTRY) -> FeatureStore:
    return FeatureStore(
        registry,
        offline=OfflineStore(registry, LocalObjectStore(root), clock=lambda: NOW),
        online=OnlineStore(registry, table or FakeTable(), clock=lambda: NOW, base_delay=0.0),
        clock=lambda: NOW,
    )


def profile(user: str = "u", hours: float = 0, **values: Any) -> dict[str, Any]:
    return {"user": user, "event_timestamp": at(hours).isoformat(), "age": 30, "country": "DE", **values}


def pair(b: Any = 1, v: Any = 1) -> dict[str, Any]:
    return {"a": "x", "b": b, "event_timestamp": at(0).isoformat(), "v": v}


def as_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True, format="ISO8601")
    return frame


# -- refused whole, nothing written ---------------------------------------------------------------------------
REFUSED: list[tuple[str, str, list[dict[str, Any]], str]] = [
    ("partial record", "profile", [profile(), {"user": "v", "event_timestamp": at(0).isoformat(), "age": 5}],
     r"partial record.*record 1 lacks \['country'\].*partial updates are refused"),
    ("int64 feature of 2**63", "pair", [pair(v=2**63)], r"column 'v': expected int64"),
    ("int64 feature below -2**63", "pair", [pair(v=-(2**63) - 1)], r"column 'v': expected int64"),
    ("int64 key of 2**63", "pair", [pair(b=2**63)], r"column 'b': expected int64"),
    ("400-digit integer", "pair", [pair(v=10**400)], r"column 'v': expected int64"),
    ("key over 2,048 bytes", "profile", [profile(), profile(user="k" * 2100)],
     r"1 record\(s\) cannot be stored online \(record 1: entity key .* longer than DynamoDB's 2048 bytes"),
    ("multi-byte key over 2,048 bytes", "profile", [profile(user="é" * 1030)], r"longer than DynamoDB's 2048 bytes"),
    ("item over 400 KB", "profile", [profile(), profile(user="big", country="x" * MAX_ITEM_BYTES)],
     r"record 1: entity \[\"big\"\]: the online item would be \d+ bytes, above DynamoDB's 409600"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "group", "records", "message"), REFUSED, ids=[c[0] for c in REFUSED])
@pytest.mark.parametrize("path", ["records", "dataframe"])
def test_a_bad_batch_is_refused_whole_before_anything_is_written(
    tmp_path: Path, case: str, group: str, records: list[dict[str, Any]], message: str, path: str
) -> None:
    table = FakeTable()
    store = store_at(tmp_path, table)
    if path == "dataframe":
        data: Any = as_frame(records)
        if case == "partial record":  # a DataFrame has every column; partial means a column is missing
            data = data.drop(columns=["country"])
            message = r"missing columns \['country'\].*partial updates are refused"
    else:
        data = records

    with pytest.raises(InvalidRecordsError, match=message):
        store.ingest(group, data)

    assert store.offline is not None
    assert store.offline.read(group).num_rows == 0
    assert table.items == {}
    assert table.requests == 0


def test_a_uint64_dataframe_column_beyond_int64_is_refused(tmp_path: Path) -> None:
    frame = as_frame([pair()]).astype({"b": "uint64", "v": "uint64"})
    frame.loc[0, "v"] = 2**63

    with pytest.raises(InvalidRecordsError, match=r"column 'v': expected int64, got uint64"):
        store_at(tmp_path).ingest("pair", frame)


# -- accepted ------------------------------------------------------------------------------------------------
FLOATY = FeatureGroup("floaty", (EntityKey("user"),), (Feature("x", ValueType.FLOAT64),))


def test_a_huge_json_integer_for_a_float_feature_is_a_float(tmp_path: Path) -> None:
    store = store_at(tmp_path, registry=FeatureRegistry([FLOATY]))

    store.ingest("floaty", [{"user": "u", "event_timestamp": at(0).isoformat(), "x": 10**30}])

    assert store.online is not None
    assert store.online.get([{"user": "u"}], ["floaty:x"]).rows == [{"x": 1e30}]


@pytest.mark.parametrize("path", ["records", "dataframe"])
def test_the_created_time_may_be_left_out_on_both_paths(tmp_path: Path, path: str) -> None:
    store = store_at(tmp_path)
    data: Any = [profile()] if path == "records" else as_frame([profile()])

    report = store.ingest("profile", data)

    assert report.summary()["online_written"] == 1
    assert store.offline is not None
    assert store.offline.read("profile").column("created").to_pylist() == [None]


@pytest.mark.parametrize("path", ["records", "dataframe"])
def test_a_partial_update_never_erases_a_stored_value(tmp_path: Path, path: str) -> None:
    store = store_at(tmp_path)
    store.ingest("profile", [profile(age=30, country="DE")])
    partial: Any = [{"user": "u", "event_timestamp": at(1).isoformat(), "age": 31}]
    if path == "dataframe":
        partial = as_frame(partial)

    with pytest.raises(InvalidRecordsError, match="partial updates are refused"):
        store.ingest("profile", partial)

    assert store.online is not None
    assert store.online.get([{"user": "u"}], ["profile:age", "profile:country"]).rows == [{"age": 30, "country": "DE"}]


# -- future event times: refused one by one, reported, in neither store -------------------------------------------
FUTURE: list[tuple[str, dt.datetime, bool]] = [
    ("year 2100", dt.datetime(2100, 1, 1, tzinfo=dt.UTC), True),
    ("local time sent as UTC, 2 hours ahead", NOW + dt.timedelta(hours=2), True),
    ("just beyond the 5 minute skew", NOW + dt.timedelta(minutes=5, microseconds=1), True),
    ("at the 5 minute skew", NOW + dt.timedelta(minutes=5), False),
    ("now", NOW, False),
]


@pytest.mark.parametrize(("case", "when", "refused"), FUTURE, ids=[c[0] for c in FUTURE])
@pytest.mark.parametrize("path", ["records", "dataframe"])
def test_future_event_times_are_refused_per_record(
    tmp_path: Path, case: str, when: dt.datetime, refused: bool, path: str
) -> None:
    store = store_at(tmp_path)
    records = [profile("ok"), {**profile("late"), "event_timestamp": when.isoformat()}]
    data: Any = records if path == "records" else as_frame(records)

    report = store.ingest("profile", data)

    stored_users = store.offline.read("profile").column("user").to_pylist() if store.offline else []
    assert store.online is not None
    online = store.online.get([{"user": "late"}], ["profile:age"]).status[0]["profile"]
    if refused:
        assert [(r.index, r.entity) for r in report.refused] == [(1, '["late"]')]
        assert "fix the producer's clock" in report.refused[0].reason
        assert report.summary()["refused"] == 1
        assert (stored_users, online) == (["ok"], "missing")  # consistent: in neither store
    else:
        assert (report.refused, sorted(stored_users), online) == ([], ["late", "ok"], "found")


def test_a_refused_future_record_does_not_freeze_the_online_value(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.ingest("profile", [{**profile(age=99), "event_timestamp": "2100-01-01T00:00:00Z"}])

    report = store.ingest("profile", [profile(age=31, hours=2)])

    assert (report.summary()["online_written"], report.summary()["online_stale"]) == (1, 0)
    assert store.online is not None
    assert store.online.get([{"user": "u"}], ["profile:age"]).rows == [{"age": 31}]


def test_a_negative_skew_is_refused() -> None:
    with pytest.raises(ValueError, match="max_future_skew must not be negative"):
        FeatureStore(REGISTRY, offline=None, online=None, max_future_skew=dt.timedelta(seconds=-1))


# -- redelivery: never duplicated offline ---------------------------------------------------------------------
class FailingOnce(FakeTable):
    """Fails every put of the first delivery (throttling), then behaves."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def put_if_newer(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("ProvisionedThroughputExceededException")
        return super().put_if_newer(item, condition, values)


def test_a_redelivered_batch_adds_no_offline_rows(tmp_path: Path) -> None:
    store = store_at(tmp_path, FailingOnce())
    records = [profile("a"), profile("b", hours=-5)]  # two event dates: two files

    with pytest.raises(IngestError):
        store.ingest("profile", records, batch_id="message-1", ingested_at=NOW)
    report = store.ingest("profile", records, batch_id="message-1", ingested_at=NOW)

    assert store.offline is not None
    assert store.offline.read("profile").num_rows == 2
    assert report.offline is not None
    assert (len(report.offline.files), len(report.offline.existing)) == (0, 2)
    assert (report.summary()["online_written"], report.summary()["online_stale"]) == (1, 1)  # 1 put had failed


def test_different_deliveries_are_different_batches(tmp_path: Path) -> None:
    store = store_at(tmp_path)

    store.ingest("profile", [profile()], batch_id="message-1", ingested_at=NOW)
    store.ingest("profile", [profile()], batch_id="message-2", ingested_at=NOW)

    assert store.offline is not None
    assert store.offline.read("profile").num_rows == 2  # the producer sent it twice: both are kept


# -- the item size is DynamoDB's -----------------------------------------------------------------------------
def test_item_size_follows_the_dynamodb_rules() -> None:
    item = encode_item(PAIR, ["x", 12345], 1, None, {"v": -100})
    ttl_digits = len(item["ttl"]["N"].strip("0"))
    # name + value: pk ["x",12345] is 11 bytes, sk "pair" 4, et "1" is 1 digit (1 + 1), gv 16 characters;
    # f is a map: 3 + per element 1 + name "v" + number "-100" (1 digit after trimming zeros: 1 + 1)
    expected = (2 + 11) + (2 + 4) + (2 + 2) + (2 + 16) + (1 + 3 + 1 + 1 + 2) + (3 + -(-ttl_digits // 2) + 1)
    assert item_size(item) == expected


@mock_aws
@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"pk": {"S": "k" * 2049}, "sk": {"S": "g"}}, "Size of hashkey has exceeded the maximum size limit"),
        ({"pk": {"S": "k"}, "sk": {"S": "g"}, "f": {"S": "x" * (MAX_ITEM_BYTES + 1)}}, "Item size has exceeded"),
    ],
    ids=["key over 2,048 bytes", "item over 400 KB"],
)
def test_the_emulator_refuses_what_dynamodb_refuses(item: dict[str, Any], message: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_pk_sk_table(client, "t")

    with pytest.raises(client.exceptions.ClientError, match=message):
        client.put_item(TableName="t", Item=item)


def test_an_arrow_table_is_checked_like_a_dataframe(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(as_frame([profile(user="k" * 2100)]), preserve_index=False)

    with pytest.raises(InvalidRecordsError, match="2048 bytes"):
        store_at(tmp_path).ingest("profile", table)
