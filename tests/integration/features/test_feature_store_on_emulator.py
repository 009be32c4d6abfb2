"""The feature store on the deployed data stack in the emulator: DynamoDB, S3, the ingest Lambda."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from typing import Any

import pytest

from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.online import OnlineStore
from mlops_kit.features.storage import LocalObjectStore
from mlops_kit.features.store import DeployedStore, FeatureStore
from mlops_local.emulator import Emulator

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def activity(customer: str, day: float, count: int) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "event_timestamp": (T0 + dt.timedelta(days=day)).isoformat(),
        "txn_count_7d": count,
        "avg_amount_7d": 10.0 + count,
        "max_amount_7d": float("nan") if count % 2 else 30.0,
    }


def test_both_stores_on_the_deployed_table_and_bucket(
    emulator: Emulator, names: DeployedStore, store: FeatureStore, small_fraud: fraud.FraudData, tmp_path
) -> None:
    # Given the synthetic data ingested through the deployed stores
    for group, rows in small_fraud.feature_rows().items():
        report = store.ingest(group, rows)
        assert report.offline is not None
        assert report.online is not None
        assert report.offline.rows == len(rows)
        assert report.online.written == rows["customer_id"].nunique()
        assert report.online.stale == len(rows) - report.online.written

    # When a few entities are read back online, across both groups, on the day after the data ends
    end = small_fraud.activity["event_timestamp"].max().to_pydatetime() + dt.timedelta(days=1)
    online = OnlineStore.from_client(fraud.REGISTRY, emulator.client("dynamodb"), names.table_name, clock=lambda: end)
    customers = sorted(small_fraud.activity["customer_id"].unique())[:5]
    result = online.get([{"customer_id": c} for c in [*customers, "C9999999"]], fraud.FEATURE_REFS)

    # Then one BatchGetItem serves 6 entities x 2 groups, the newest values come back, the unknown one is missing
    assert result.requests == 1
    latest = small_fraud.activity.sort_values("event_timestamp").groupby("customer_id").last()
    for customer, row, status in zip(customers, result.rows, result.status, strict=False):
        assert status["customer_profile"] == "found"
        assert row["txn_count_7d"] == latest.loc[customer, "txn_count_7d"]
    assert result.status[-1] == {"customer_profile": "missing", "customer_activity": "missing"}
    # and today, months later, the 30-day TTL has expired the activity values (DynamoDB has not deleted them)
    assert store.online is not None
    today = store.online.get([{"customer_id": customers[0]}], fraud.FEATURE_REFS)
    assert today.status == [{"customer_profile": "found", "customer_activity": "expired"}]
    assert today.rows[0]["txn_count_7d"] is None

    # And the point-in-time join over S3 equals the one over a local copy of the same data
    assert store.offline is not None
    from_s3 = store.offline.get_historical_features(small_fraud.transactions, fraud.FEATURE_REFS)
    local = OfflineStore(fraud.REGISTRY, LocalObjectStore(tmp_path))
    for group, rows in small_fraud.feature_rows().items():
        local.write(group, rows)
    from_disk = local.get_historical_features(small_fraud.transactions, fraud.FEATURE_REFS)
    assert from_s3.manifest.dataset_hash == from_disk.manifest.dataset_hash
    assert from_s3.manifest.rows == len(small_fraud.transactions)
    keys = [
        o["Key"] for o in emulator.client("s3").list_objects_v2(Bucket=names.bucket, Prefix="features/")["Contents"]
    ]
    assert all(k.startswith(("features/customer_profile/date=", "features/customer_activity/date=")) for k in keys)


def test_latest_wins_with_dynamodb_condition_expressions(store: FeatureStore) -> None:
    assert store.online is not None
    records = [activity(c, day, int(day * 10)) for c in ("C1", "C2") for day in (0, 1, 2, 2.5, 3)]
    shuffled = records + records[:4]
    random.Random(3).shuffle(shuffled)

    reports = [store.online.write("customer_activity", shuffled[i : i + 3]) for i in range(0, len(shuffled), 3)]

    assert sum(r.written + r.stale for r in reports) == len(shuffled)
    assert all(r.ok for r in reports)
    result = store.online.get([{"customer_id": "C1"}, {"customer_id": "C2"}], ["customer_activity:txn_count_7d"])
    assert [r["txn_count_7d"] for r in result.rows] == [30, 30]


def test_concurrent_writers_on_the_emulator_keep_the_newest(store: FeatureStore, monkeypatch) -> None:
    # DynamoDB evaluates a condition and writes atomically; moto does not lock, so make its put atomic
    # (as DynamoDB is) and let moto evaluate the real condition expressions.
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.put_item
    lock = threading.Lock()

    def atomic_put(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", atomic_put)
    assert store.online is not None
    days = list(range(40))
    random.Random(5).shuffle(days)
    online = store.online

    def writer(part: list[int]) -> None:
        for day in part:
            online.write("customer_activity", [activity("C1", day, day)])

    threads = [threading.Thread(target=writer, args=(days[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    result = store.online.get([{"customer_id": "C1"}], ["customer_activity:txn_count_7d"])
    assert result.rows == [{"txn_count_7d": 39}]


def test_materialization_copies_the_latest_offline_values_without_overwriting_newer_ones(store: FeatureStore) -> None:
    assert store.online is not None
    store.ingest("customer_activity", [activity("C1", 0, 1), activity("C1", 2, 2), activity("C2", 1, 5)], online=False)
    store.online.write("customer_activity", [activity("C2", 3, 7)])  # newer than anything offline

    report = store.materialize(["customer_activity"])

    written = report.groups["customer_activity"]
    assert (written.records, written.written, written.stale) == (2, 1, 1)
    result = store.online.get([{"customer_id": "C1"}, {"customer_id": "C2"}], ["customer_activity:txn_count_7d"])
    assert [r["txn_count_7d"] for r in result.rows] == [2, 7]


def _ingest_lambda(emulator: Emulator, outputs: dict[str, str], event: dict[str, Any]) -> tuple[str | None, Any]:
    response = emulator.client("lambda").invoke(
        FunctionName=outputs["FeatureIngestFunctionName"], Payload=json.dumps(event)
    )
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_the_ingest_lambda_reports_partial_sqs_batch_failures(
    emulator: Emulator, outputs: dict[str, str], store: FeatureStore
) -> None:
    good = {"group": "customer_activity", "records": [activity("C7", 0, 3)]}
    bad_type = {"group": "customer_activity", "records": [{**activity("C8", 0, 3), "txn_count_7d": "many"}]}
    unknown = {"group": "nope", "records": [activity("C9", 0, 3)]}
    event = {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": "r", "body": json.dumps(body), "attributes": {},
             "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}
            for i, body in enumerate([good, bad_type, unknown, "not json"])
        ]
    }  # fmt: skip

    error, payload = _ingest_lambda(emulator, outputs, event)

    assert error is None, payload
    assert payload == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]
    }
    assert store.online is not None
    rows = store.online.get([{"customer_id": "C7"}, {"customer_id": "C8"}], ["customer_activity:txn_count_7d"]).rows
    assert rows == [{"txn_count_7d": 3}, {"txn_count_7d": None}]  # the bad record wrote nothing anywhere
    assert store.offline is not None
    assert store.offline.read("customer_activity").column("customer_id").to_pylist() == ["C7"]


def test_sqs_and_eventbridge_deliver_to_the_ingest_lambda(
    emulator: Emulator, outputs: dict[str, str], store: FeatureStore
) -> None:
    body = {"group": "customer_activity", "records": [activity("Q1", 1, 4), activity("Q1", 0, 2)]}
    emulator.client("sqs").send_message(QueueUrl=outputs["FeatureIngestQueueUrl"], MessageBody=json.dumps(body))
    emulator.client("events").put_events(
        Entries=[{"Source": "mlops.features", "DetailType": "Feature Records",
                  "Detail": json.dumps({"group": "customer_activity", "records": [activity("E1", 2, 9)]})}]
    )  # fmt: skip
    emulator.settle()

    assert store.online is not None
    rows = store.online.get([{"customer_id": "Q1"}, {"customer_id": "E1"}], ["customer_activity:txn_count_7d"]).rows
    assert rows == [{"txn_count_7d": 4}, {"txn_count_7d": 9}]
    assert store.offline is not None
    offline = store.offline.read("customer_activity").to_pandas()
    assert sorted(offline["customer_id"]) == ["E1", "Q1", "Q1"]


def test_an_eventbridge_event_with_bad_detail_is_a_validation_error(
    emulator: Emulator, outputs: dict[str, str]
) -> None:
    event = {"version": "0", "id": "1", "detail-type": "Feature Records", "source": "mlops.features",
             "account": "123456789012", "time": "2025-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {"group": "customer_activity", "records": []}}  # fmt: skip

    error, payload = _ingest_lambda(emulator, outputs, event)

    assert error
    assert payload["errorType"] == "ValidationError"
    assert "records" in payload["errorMessage"]


def test_stack_outputs_locate_the_feature_store(names: DeployedStore, emulator: Emulator) -> None:
    assert names.table_name in emulator.client("dynamodb").list_tables()["TableNames"]
    glue = emulator.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=names.database)["TableList"]}
    assert set(tables) == {"customer_profile", "customer_activity"}
    assert tables["customer_activity"]["Parameters"]["mlops:feature_group_version"] == fraud.CUSTOMER_ACTIVITY.version
    assert emulator.client("athena").get_work_group(WorkGroup=names.workgroup)["WorkGroup"]["State"] == "ENABLED"


def test_offline_files_are_created_only_once_in_s3(emulator: Emulator) -> None:
    from mlops_kit.features.storage import ObjectExistsError, S3ObjectStore

    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="offline-store")
    objects = S3ObjectStore(s3, "offline-store", "features")
    objects.put("g/date=2025-01-01/part-1.parquet", b"first")

    with pytest.raises(ObjectExistsError, match="immutable"):
        objects.put("g/date=2025-01-01/part-1.parquet", b"second")

    assert objects.get("g/date=2025-01-01/part-1.parquet") == b"first"
    assert objects.list("g/") == ["g/date=2025-01-01/part-1.parquet"]
