"""The ingestion function in-process: an EventBridge batch into both stores; an SQS batch whose bad message alone
is reported back for redelivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.features.ingest import load_registry
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.online import OnlineStore
from mlops_kit.features.storage import LocalObjectStore
from mlops_kit.features.store import FeatureStore
from tests.unit.features.conftest import T0, FakeTable
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler, emitted_metrics, eventbridge_event
from tests.unit.handlers.examples import INGEST


def profile(customer: str, age: int) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "event_timestamp": T0.isoformat(),
        "created_timestamp": T0.isoformat(),
        "age": age,
        "tenure_days": 400,
        "country": "DE",
    }


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    """Both stores in memory, with the groups the deployment names (and the versions it deployed)."""
    registry = load_registry(INGEST.registry, INGEST.group_versions)
    return FeatureStore(
        registry,
        offline=OfflineStore(registry, LocalObjectStore(tmp_path)),
        online=OnlineStore(registry, FakeTable(), clock=lambda: T0, base_delay=0.0),
    )


def test_an_eventbridge_batch_is_written_to_both_stores_and_counted(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    store: FeatureStore,
) -> None:
    module = load_handler("feature_ingest", INGEST)
    monkeypatch.setattr(module, "store", lambda: store)
    detail = {"group": "customer_profile", "records": [profile("C1", 30), profile("C2", 41)]}

    summary = module.handler(eventbridge_event("mlops.features", "Feature Records", detail), context)

    assert (summary["records"], summary["offline_rows"], summary["online_written"]) == (2, 2, 2)
    assert store.offline is not None
    assert store.offline.read("customer_profile").num_rows == 2
    assert emitted_metrics(capsys.readouterr().out) == {
        "FeatureRecordsWritten": 2.0,
        "FeatureRecordsStale": 0.0,
        "FeatureRecordsRefused": 0.0,
    }


def sqs_record(message_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:feature-ingest",
        "awsRegion": "us-east-1",
    }


def test_an_sqs_message_without_records_alone_is_reported_for_redelivery(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, store: FeatureStore
) -> None:
    module = load_handler("feature_ingest", INGEST)
    monkeypatch.setattr(module, "store", lambda: store)
    event = {
        "Records": [
            sqs_record("good", {"group": "customer_profile", "records": [profile("C1", 30)]}),
            sqs_record("bad", {"group": "customer_profile"}),
        ]
    }

    response = module.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert store.offline is not None
    assert store.offline.read("customer_profile").num_rows == 1  # the good message of the batch was written


def test_an_sqs_message_with_an_oversized_record_writes_nothing_however_often_it_is_retried(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, store: FeatureStore
) -> None:
    module = load_handler("feature_ingest", INGEST)
    monkeypatch.setattr(module, "store", lambda: store)
    body = {
        "group": "customer_profile",
        "records": [profile("C1", 30), {**profile("C2", 41), "country": "x" * 500_000}],
    }

    good = {"group": "customer_profile", "records": [profile("C3", 50)]}
    event = {"Records": [sqs_record("good", good), sqs_record("big", body)]}

    for _ in range(5):  # SQS redelivers until maxReceiveCount, then the DLQ keeps it
        response = module.handler(event, context)
        assert response == {"batchItemFailures": [{"itemIdentifier": "big"}]}

    assert store.offline is not None
    assert store.offline.read("customer_profile").column("customer_id").to_pylist() == ["C3"]


def test_a_redelivered_sqs_message_adds_no_offline_rows(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, store: FeatureStore
) -> None:
    module = load_handler("feature_ingest", INGEST)
    monkeypatch.setattr(module, "store", lambda: store)
    event = {"Records": [sqs_record("m1", {"group": "customer_profile", "records": [profile("C1", 30)]})]}

    module.handler(event, context)
    module.handler(event, context)  # the same message again (a visibility timeout ran out mid-write)

    assert store.offline is not None
    assert store.offline.read("customer_profile").num_rows == 1


def test_a_future_dated_record_is_refused_alone_logged_and_counted(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    store: FeatureStore,
) -> None:
    module = load_handler("feature_ingest", INGEST)
    monkeypatch.setattr(module, "store", lambda: store)
    future = {**profile("C9", 50), "event_timestamp": "2100-01-01T00:00:00+00:00"}
    detail = {"group": "customer_profile", "records": [profile("C1", 30), future]}

    summary = module.handler(eventbridge_event("mlops.features", "Feature Records", detail), context)

    assert (summary["records"], summary["refused"], summary["offline_rows"], summary["online_written"]) == (2, 1, 1, 1)
    out = capsys.readouterr().out
    assert emitted_metrics(out)["FeatureRecordsRefused"] == 1.0
    refusals = [r for r in caplog.records if r.getMessage() == "feature record refused"]
    assert [(r.__dict__["entity"], r.__dict__["index"], r.levelname) for r in refusals] == [('["C9"]', 1, "WARNING")]


def test_the_skew_setting_reaches_the_store() -> None:
    settings = INGEST.model_copy(update={"max_future_skew_seconds": 60})

    assert settings.max_future_skew_seconds == 60
    with pytest.raises(ValueError, match="max_future_skew_seconds"):
        type(INGEST).model_validate({**INGEST.model_dump(), "max_future_skew_seconds": -1})
