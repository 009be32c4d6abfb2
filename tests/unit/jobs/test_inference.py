"""The inference script: request parsing, the shared transformations (no skew), errors with 4xx statuses."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlops_kit.features import fraud
from sagemaker_jobs import inference

WHEN = "2025-03-01T23:30:00+00:00"
ONLINE = {
    "age": 31,
    "tenure_days": 40,
    "country": "BR",
    "txn_count_7d": 3,
    "avg_amount_7d": 20.0,
    "max_amount_7d": 55.0,
}


class FakeOnline:
    """Stands in for OnlineStore.get: known customers have every group, others none."""

    def __init__(self, known: dict[str, dict[str, Any]]) -> None:
        self.known = known
        self.calls = 0

    def get(self, entities: list[dict[str, Any]], refs: list[str]) -> Any:
        self.calls += 1
        rows = [self.known.get(e["customer_id"], dict.fromkeys(ONLINE)) for e in entities]
        status = [
            dict.fromkeys(
                ("customer_profile", "customer_activity"), "found" if e["customer_id"] in self.known else "missing"
            )
            for e in entities
        ]
        return SimpleNamespace(rows=rows, status=status)


@pytest.fixture
def model() -> inference.LoadedModel:
    estimator = DummyClassifier(strategy="prior").fit(np.zeros((10, len(fraud.MODEL_FEATURES))), [0] * 9 + [1])
    meta = {"features": list(fraud.MODEL_FEATURES), "use_case": "mlops_kit.features.fraud"}
    return inference.LoadedModel(estimator=estimator, meta=meta, use_case=fraud, online=FakeOnline({"C1": ONLINE}))


def request(**kwargs: Any) -> bytes:
    body = {
        "customer_id": "C1",
        "transaction": {"amount": 120.0, "merchant_category": "travel", "event_timestamp": WHEN},
    }
    body.update(kwargs)
    return json.dumps(body).encode()


def test_serving_computes_exactly_the_training_features_for_the_same_raw_input(model: inference.LoadedModel) -> None:
    parsed = inference.parse_request(request(), "application/json")

    served = inference.model_inputs(parsed, model)
    training_row = pd.DataFrame(
        [{"amount": 120.0, "merchant_category": "travel", "event_timestamp": pd.Timestamp(WHEN), **ONLINE}]
    )
    trained = fraud.build_model_frame(training_row)

    np.testing.assert_array_equal(served, trained[list(fraud.MODEL_FEATURES)].to_numpy())


def test_given_features_skip_the_online_lookup(model: inference.LoadedModel) -> None:
    parsed = inference.parse_request(request(customer_id=None, features=ONLINE), "application/json")

    inference.model_inputs(parsed, model)

    assert model.online.calls == 0  # type: ignore[union-attr]


def test_a_prediction_carries_score_label_version_and_variant(
    model: inference.LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_MODEL_VERSION", "4")
    monkeypatch.setenv("MLOPS_VARIANT", "green")

    body, content_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(request(), "application/json"), model), "application/json"
    )

    assert content_type == "application/json"
    assert json.loads(body) == {"score": 0.1, "label": 0, "entity": "C1", "model_version": "4", "variant": "green"}


def test_batches_answer_every_instance(model: inference.LoadedModel) -> None:
    one = json.loads(request())
    parsed = inference.parse_request(json.dumps({"instances": [one, one, one]}), "application/json")

    assert len(inference.predict_fn(parsed, model)["predictions"]) == 3


class ThreadsSeen:
    """Wraps an estimator: records the OpenMP threads each predict_proba call would use."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.threads: list[int] = []

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        from threadpoolctl import threadpool_info

        self.threads.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"))
        return np.asarray(self.estimator.predict_proba(features))


def test_a_request_of_a_few_rows_is_scored_on_one_openmp_thread_and_a_large_batch_on_the_team(
    model: inference.LoadedModel,
) -> None:
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, as a loaded model does)
    from threadpoolctl import ThreadpoolController, threadpool_limits

    seen = ThreadsSeen(model.estimator)
    model.estimator, model.threadpools = seen, ThreadpoolController()
    one = json.loads(request())
    batch = json.dumps({"instances": [one] * (inference.ONE_THREAD_ROWS + 1)})

    with threadpool_limits(2, "openmp"):  # the team a machine with two cores starts
        inference.predict_fn(inference.parse_request(request(), "application/json"), model)
        inference.predict_fn(inference.parse_request(batch, "application/json"), model)

    assert seen.threads == [1, 2]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"a,b,c", "text/csv", 415, "content type 'text/csv' is not supported"),
        (json.dumps({"customer_id": "C1"}).encode(), "application/json", 400, "'transaction'"),
        (json.dumps({"instances": []}).encode(), "application/json", 400, "expected a JSON object"),
        (
            json.dumps({"transaction": {}, "features": [1]}).encode(),
            "application/json",
            400,
            "'features' must be an object",
        ),
    ],
)
def test_malformed_requests_are_4xx_with_a_message(body: bytes, content_type: str, status: int, message: str) -> None:
    with pytest.raises(inference.InferenceError) as raised:
        inference.parse_request(body, content_type)

    assert raised.value.status_code == status
    assert message in str(raised.value)


def test_unknown_entities_and_missing_fields_are_4xx(model: inference.LoadedModel) -> None:
    with pytest.raises(inference.InferenceError) as unknown:
        inference.model_inputs(inference.parse_request(request(customer_id="C404"), "application/json"), model)
    missing = json.loads(request())
    del missing["transaction"]["amount"]
    with pytest.raises(inference.InferenceError) as field:
        inference.model_inputs(inference.parse_request(json.dumps(missing), "application/json"), model)
    naive = json.loads(request())
    naive["transaction"]["event_timestamp"] = dt.datetime(2025, 3, 1).isoformat()
    with pytest.raises(inference.InferenceError) as timestamp:
        inference.model_inputs(inference.parse_request(json.dumps(naive), "application/json"), model)

    assert (unknown.value.status_code, field.value.status_code, timestamp.value.status_code) == (404, 400, 400)
    assert "unknown customer_id 'C404'" in str(unknown.value)
    assert "fields ['amount'] are needed" in str(field.value)


def test_a_loaded_model_takes_arrays_with_the_same_predictions_and_no_warnings() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    fitted = LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(int))
    expected = fitted.predict_proba(frame)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a feature-name warning would fail the test
        served = inference.accept_arrays(fitted, ["a", "b", "c"]).predict_proba(frame.to_numpy())

    np.testing.assert_array_equal(served, expected)


def test_a_model_fitted_on_other_columns_is_refused_at_load() -> None:
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    fitted = LogisticRegression().fit(frame, [0, 0, 1, 1])

    with pytest.raises(ValueError, match=r"fitted on columns \['a', 'b'\], but model_meta.json lists \['b', 'a'\]"):
        inference.accept_arrays(fitted, ["b", "a"])


class ForwardingTo:
    """Stands in for StickyRouting: every user belongs to ``variant``; records what it forwarded."""

    def __init__(self, variant: str | None) -> None:
        self.variant = variant
        self.forwarded: list[dict[str, Any]] = []

    def target(self, document: Any) -> str | None:
        return self.variant if "user_id" in document else None

    def forward(self, document: Any, target: str) -> dict[str, Any]:
        self.forwarded.append(dict(document))
        return {"score": 0.5, "variant": target, "mlops_forwarded_to": target}


def test_a_request_whose_user_is_assigned_elsewhere_is_answered_by_that_variant(model: inference.LoadedModel) -> None:
    sticky, online = ForwardingTo("green"), FakeOnline({"C1": ONLINE})
    model.sticky, model.online = sticky, online  # type: ignore[assignment]

    answer = inference.predict_fn(inference.input_fn(request(user_id="u-1"), "application/json"), model)
    local = inference.predict_fn(inference.input_fn(request(), "application/json"), model)

    assert answer == {"score": 0.5, "variant": "green", "mlops_forwarded_to": "green"}
    assert sticky.forwarded == [json.loads(request(user_id="u-1"))]
    assert online.calls == 1  # only the request without a user was scored here
    assert "mlops_forwarded_to" not in local


@pytest.mark.parametrize("user", ["", 7, ["u"]])
def test_a_user_id_that_is_not_a_non_empty_string_is_400(user: Any) -> None:
    with pytest.raises(inference.InferenceError, match="'user_id' must be a non-empty string") as raised:
        inference.input_fn(request(user_id=user), "application/json")
    assert raised.value.status_code == 400
