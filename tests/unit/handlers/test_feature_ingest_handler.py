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
    assert emitted_metrics(capsys.readouterr().out) == {"FeatureRecordsWritten": 2.0, "FeatureRecordsStale": 0.0}


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
