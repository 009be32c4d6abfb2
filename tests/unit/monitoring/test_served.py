"""Capture -> model inputs: the endpoint's request and response formats, what is left out, and that the rebuilt
inputs are the ones the endpoint's own code computes."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from mlops_kit.drift.capture import MalformedRecordError
from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import S3ObjectStore
from mlops_kit.monitoring.served import collect, parse_served
from sagemaker_jobs import inference
from tests.unit.monitoring.conftest import DATA, SERVED, World
from tests.unit.monitoring.support import capture_line

TRANSACTION = {"amount": 120.0, "merchant_category": "travel", "event_timestamp": "2026-01-05T23:30:00+00:00"}
ONLINE = {"age": 40, "tenure_days": 300, "country": "NL", "txn_count_7d": 12, "avg_amount_7d": 60.0,
          "max_amount_7d": 200.0}  # fmt: skip
WINDOW = {"start": SERVED - dt.timedelta(minutes=1), "end": SERVED + dt.timedelta(minutes=1)}


def test_single_and_batch_requests_give_one_row_per_instance() -> None:
    single = capture_line(
        {"customer_id": "C1", "transaction": TRANSACTION},
        {"score": 0.25, "label": 0, "model_version": "4", "variant": "blue"},
        SERVED,
    )
    batch = capture_line(
        {
            "instances": [
                {"customer_id": "C1", "transaction": TRANSACTION},
                {"transaction": TRANSACTION, "features": ONLINE},
            ]
        },
        {"predictions": [{"score": 0.1}, {"score": 0.9}], "model_version": "4", "variant": "green"},
        SERVED,
        encoding="BASE64",
    )

    (one,) = parse_served(single, entity_key="customer_id", variant="blue")
    first, second = parse_served(batch, entity_key="customer_id", variant="green")

    assert (one.entity, one.prediction, one.model_version, one.given) == ("C1", 0.25, "4", None)
    assert one.inference_time == SERVED.replace(microsecond=SERVED.microsecond)
    assert (first.entity, first.prediction, second.entity, second.prediction) == ("C1", 0.1, None, 0.9)
    assert second.given == ONLINE
    assert first.fields == TRANSACTION


def test_a_request_without_a_response_is_unanswered_not_malformed() -> None:
    line = capture_line({"customer_id": "C1", "transaction": TRANSACTION}, None, SERVED)

    (row,) = parse_served(line, entity_key="customer_id", variant="blue")

    assert row.answered is False
    assert row.prediction is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "line is not valid JSON"),
        (json.dumps({"eventMetadata": {}}), "record has no captureData object"),
        (capture_line({"customer_id": "C1"}, {"score": 0.1}, SERVED), "request has no 'transaction' object"),
        (
            capture_line({"instances": [{"transaction": TRANSACTION}]}, {"predictions": []}, SERVED),
            "response does not hold one prediction per request row (1)",
        ),
        (capture_line({"transaction": TRANSACTION}, {"score": "high"}, SERVED), "response 'score' is not a number"),
    ],
)
def test_malformed_records_raise_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(MalformedRecordError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_served(line, entity_key="customer_id", variant="blue")


def test_given_features_need_no_feature_store_and_match_the_endpoints_own_computation() -> None:
    requests = [{"transaction": TRANSACTION | {"amount": a}, "features": ONLINE} for a in (5.0, 120.0, 4000.0)]
    lines = [("blue", capture_line(r, {"score": 0.5, "model_version": "1"}, SERVED)) for r in requests]

    data = collect(lines, use_case=fraud, **WINDOW, model_version="1", offline=None)

    parsed = inference.parse_request(json.dumps({"instances": requests}), "application/json")
    model = inference.LoadedModel(estimator=None, meta={"features": fraud.MODEL_FEATURES}, use_case=fraud, online=None)
    expected = inference.model_inputs(parsed, model)  # float64 rows, one column per model feature
    np.testing.assert_array_equal(data.frame[fraud.MODEL_FEATURES].to_numpy(dtype=np.float64), expected)
    assert data.given == 3
    assert data.looked_up == 0


def test_rows_outside_the_window_of_other_versions_or_unanswered_are_counted_and_left_out() -> None:
    request = {"transaction": TRANSACTION, "features": ONLINE}
    lines = [
        ("blue", capture_line(request, {"score": 0.5, "model_version": "1"}, SERVED)),
        ("blue", capture_line(request, {"score": 0.5, "model_version": "1"}, SERVED - dt.timedelta(hours=2))),
        ("green", capture_line(request, {"score": 0.7, "model_version": "2"}, SERVED)),
        ("blue", capture_line(request, None, SERVED)),
        ("blue", "{broken"),
    ]

    data = collect(lines, use_case=fraud, **WINDOW, model_version="1", offline=None)

    assert len(data.frame) == 1
    assert (data.records, data.outside_window, data.unanswered) == (5, 1, 1)
    assert dict(data.other_versions) == {"2": 1}
    assert dict(data.malformed) == {"line is not valid JSON": 1}
    assert data.frame["variant"].tolist() == ["blue"]


def test_without_a_version_every_answered_row_counts() -> None:
    request = {"transaction": TRANSACTION, "features": ONLINE}
    lines = [("blue", capture_line(request, {"score": 0.5, "model_version": v}, SERVED)) for v in ("1", "2")]

    data = collect(lines, use_case=fraud, **WINDOW, model_version=None, offline=None)

    assert data.frame["model_version"].tolist() == ["1", "2"]


def test_looking_up_features_needs_the_offline_store() -> None:
    line = capture_line({"customer_id": "C1", "transaction": TRANSACTION}, {"score": 0.5}, SERVED)

    with pytest.raises(ValueError, match="need the offline feature store"):
        collect([("blue", line)], use_case=fraud, **WINDOW, model_version=None, offline=None)


def test_online_features_are_the_ones_known_at_inference_time(world: World) -> None:
    store = OfflineStore(fraud.REGISTRY, S3ObjectStore(world.s3, DATA, "features"))
    served_at = dt.datetime.now(dt.UTC)  # after the history was ingested
    activity = world.history.activity[world.history.activity["event_timestamp"] <= served_at]
    latest = activity.sort_values("event_timestamp").iloc[-1]  # the freshest snapshot of any customer
    customer = str(latest["customer_id"])
    request = {"customer_id": customer, "transaction": TRANSACTION}
    window = {"start": served_at - dt.timedelta(minutes=1), "end": served_at + dt.timedelta(minutes=10)}
    before = [("blue", capture_line(request, {"score": 0.5}, served_at))]
    first = collect(before, use_case=fraud, **window, model_version=None, offline=store)
    # A newer snapshot is ingested after the inference: what the endpoint served cannot have used it.
    newer = pd.DataFrame(
        {
            "customer_id": pd.array([customer], dtype="str"),
            "event_timestamp": pd.to_datetime([served_at], utc=True).astype("datetime64[us, UTC]"),
            "txn_count_7d": [999],
            "avg_amount_7d": [1.0],
            "max_amount_7d": [2.0],
        }
    )
    store.write("customer_activity", newer)
    later_at = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=1)

    again = collect(before, use_case=fraud, **window, model_version=None, offline=store)
    later = collect(
        [("blue", capture_line(request, {"score": 0.5}, later_at))],
        use_case=fraud,
        **window,
        model_version=None,
        offline=store,
    )

    assert first.looked_up == 1
    assert again.frame["txn_count_7d"].iloc[0] == first.frame["txn_count_7d"].iloc[0] != 999
    assert later.frame["txn_count_7d"].iloc[0] == 999
    assert first.frame["avg_amount_7d"].iloc[0] == pytest.approx(latest["avg_amount_7d"])
    assert not math.isnan(first.frame["age"].iloc[0])


def test_an_entity_the_store_does_not_know_gets_missing_online_features(world: World) -> None:
    store = OfflineStore(fraud.REGISTRY, S3ObjectStore(world.s3, DATA, "features"))
    line = capture_line({"customer_id": "C9999999", "transaction": TRANSACTION}, {"score": 0.5}, SERVED)

    data = collect([("blue", line)], use_case=fraud, **WINDOW, model_version=None, offline=store)

    row = data.frame.iloc[0]
    assert np.isnan(row["age"])
    assert np.isnan(row["txn_count_7d"])
    assert row["amount"] == 120.0
