"""Catalogue of bad requests to the inference script: each is a 4xx naming the field and what is allowed.

Every request goes through ``input_fn -> predict_fn -> output_fn`` as the container calls them; anything but an
:class:`~sagemaker_jobs.inference.InferenceError` counts as the 500 the container would answer. No client input may
produce a 5xx: 5xx feeds the canary rollback alarm, so a few bad requests could roll back a good candidate.
Add a row for every new way a caller can get a request wrong.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from mlops_kit.features import fraud
from mlops_kit.features.encoding import encode_key
from sagemaker_jobs import inference
from tests.unit.jobs.test_inference import ONLINE

WHEN = "2026-11-26T10:15:00+00:00"
JSON = "application/json"


class KeyCheckingOnline:
    """Stands in for OnlineStore.get: encodes each key as the store does (its errors included); knows C1 only."""

    def get(self, entities: list[dict[str, Any]], refs: list[str]) -> Any:
        for entity in entities:
            encode_key([entity["customer_id"]])
        known = [e["customer_id"] == "C1" for e in entities]
        return SimpleNamespace(
            rows=[dict(ONLINE) if k else dict.fromkeys(ONLINE) for k in known],
            status=[
                dict.fromkeys(("customer_profile", "customer_activity"), "found" if k else "missing") for k in known
            ],
        )


@pytest.fixture(scope="module")
def model() -> inference.LoadedModel:
    estimator = DummyClassifier(strategy="prior").fit(np.zeros((10, len(fraud.MODEL_FEATURES))), [0] * 9 + [1])
    meta = {"features": list(fraud.MODEL_FEATURES), "use_case": "mlops_kit.features.fraud"}
    return inference.LoadedModel(estimator=estimator, meta=meta, use_case=fraud, online=KeyCheckingOnline())


def serve(model: inference.LoadedModel, body: bytes | str, content_type: str = JSON, accept: str = JSON) -> Any:
    """(status, message or answer) as the container answers the request."""
    try:
        answer, _ = inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model), accept)
    except inference.InferenceError as exc:
        return exc.status_code, str(exc)
    except Exception as exc:  # the container answers 500
        return 500, f"{type(exc).__name__}: {exc}"
    return 200, json.loads(answer)


def transaction(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"amount": 129.9, "merchant_category": "travel", "event_timestamp": WHEN}
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not ...}


def body(transaction_fields: dict[str, Any] | None = None, **top: Any) -> str:
    document: dict[str, Any] = {"customer_id": "C1", "transaction": transaction_fields or transaction()}
    document.update(top)
    return json.dumps({k: v for k, v in document.items() if v is not ...})


def raw(amount_text: str) -> str:
    """A body whose amount is written as given (json.dumps cannot write 1e400 or a 400-digit number as such)."""
    return body(transaction(amount=0)).replace('"amount": 0', f'"amount": {amount_text}')


def nested(depth: int) -> str:
    return body().replace('"amount": 129.9', f'"amount": {"[" * depth}1{"]" * depth}')


WITHOUT_AGE = {name: value for name, value in ONLINE.items() if name != "age"}
AMOUNT = "transaction.amount"
FINITE = "must be a finite JSON number"
BAD_REQUESTS = [
    # -- amount: strict, finite numbers only -------------------------------------------------------------------
    ("amount null", body(transaction(amount=None)), 400, f"{AMOUNT} is required: a finite JSON number"),
    ("amount NaN", raw("NaN"), 400, f"{AMOUNT} {FINITE}"),
    ("amount Infinity", raw("Infinity"), 400, "got Infinity"),
    ("amount -Infinity", raw("-Infinity"), 400, "got -Infinity"),
    ("amount 1e400 (overflows to Infinity)", raw("1e400"), 400, f"{AMOUNT} {FINITE}"),
    ("amount a 400-digit integer", raw("9" * 400), 400, "got an integer of 400 digits"),
    ("amount an integer beyond Python's digit limit", raw("9" * 5000), 400, "not valid JSON"),
    ("amount true", body(transaction(amount=True)), 400, "got the boolean true"),
    ("amount false", body(transaction(amount=False)), 400, "got the boolean false"),
    ("amount a string", body(transaction(amount="129.9")), 400, f"{AMOUNT} {FINITE}"),
    ("amount a list [1, 5000]", body(transaction(amount=[1, 5000])), 400, f"{AMOUNT} must be one value"),
    ("amount a list [5000, 1]", body(transaction(amount=[5000, 1])), 400, f"{AMOUNT} must be one value"),
    ("amount an empty list", body(transaction(amount=[])), 400, "got a list"),
    ("amount a nested object", body(transaction(amount={"v": 1})), 400, "got an object"),
    ("amount nested 500 deep", nested(500), 400, "got a list"),
    ("amount missing", body(transaction(amount=...)), 400, "'transaction': fields ['amount'] are needed"),
    # -- merchant_category: a non-empty string -------------------------------------------------------------------
    ("merchant_category null", body(transaction(merchant_category=None)), 400, "merchant_category is required"),
    ("merchant_category a number", body(transaction(merchant_category=7)), 400, "must be a non-empty string"),
    ("merchant_category empty", body(transaction(merchant_category="")), 400, "must be a non-empty string"),
    ("merchant_category a list", body(transaction(merchant_category=["travel"])), 400, "must be one value"),
    ("merchant_category an object", body(transaction(merchant_category={"a": 1})), 400, "got an object"),
    # -- event_timestamp: ISO 8601 with an offset ------------------------------------------------------------------
    ("event_timestamp null", body(transaction(event_timestamp=None)), 400, "event_timestamp is required"),
    ("event_timestamp naive", body(transaction(event_timestamp="2026-11-26T10:15:00")), 400, "has no time zone"),
    ("event_timestamp not a time", body(transaction(event_timestamp="yesterday")), 400, "an ISO 8601 date and time"),
    ("event_timestamp epoch seconds", body(transaction(event_timestamp=1764152100)), 400, "an ISO 8601 date"),
    ("event_timestamp a list", body(transaction(event_timestamp=[WHEN])), 400, "must be one value"),
    (
        "event_timestamp before UTC's range",
        body(transaction(event_timestamp="0001-01-01T00:00:00+01:00")),
        400,
        "out of range",
    ),
    # -- features given instead of the online store: exactly the online features ----------------------------------
    ("features empty", body(features={}), 400, "'features' must carry exactly the online features"),
    ("features only unknown names", body(features={"agee": 3}), 400, "unknown ['agee']"),
    ("features one name misspelt", body(features={**WITHOUT_AGE, "agee": 31}), 400, "missing ['age']"),
    ("features a list", body(features=[1]), 400, "'features' must be an object"),
    ("features value a string number", body(features={**ONLINE, "age": "31"}), 400, "features.age must be a finite"),
    ("features value a boolean", body(features={**ONLINE, "txn_count_7d": True}), 400, "features.txn_count_7d"),
    ("features value a list", body(features={**ONLINE, "avg_amount_7d": [20.0]}), 400, "features.avg_amount_7d"),
    ("features country a number", body(features={**ONLINE, "country": 49}), 400, "features.country must be a non-emp"),
    # -- the entity key ---------------------------------------------------------------------------------------------
    ("customer_id a number", body(customer_id=42), 400, "'customer_id' must be a non-empty string"),
    ("customer_id empty", body(customer_id=""), 400, "'customer_id' must be a non-empty string"),
    ("customer_id a list", body(customer_id=["C1"]), 400, "'customer_id' must be a non-empty string; got list"),
    ("customer_id longer than a key can be", body(customer_id="C" * 3000), 400, "'customer_id' cannot be looked up"),
    ("customer_id with a lone surrogate", body(customer_id="C\ud800"), 400, "holds an unpaired surrogate escape"),
    ("customer_id unknown", body(customer_id="C404"), 404, "unknown customer_id 'C404'"),
    ("neither customer_id nor features", body(customer_id=...), 400, "send 'customer_id' or 'features'"),
    # -- the document -----------------------------------------------------------------------------------------------
    ("not JSON", "{oops", 400, "not valid JSON"),
    ("not UTF-8", b'{"customer_id": "\xff"}', 400, "not valid JSON"),
    ("a JSON array", "[]", 400, "expected a JSON object"),
    ("a bare value", "3", 400, "expected a JSON object"),
    ("nested 100000 deep", "[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
    ("no transaction", json.dumps({"customer_id": "C1"}), 400, "'transaction' (an object"),
    ("transaction a list", json.dumps({"customer_id": "C1", "transaction": []}), 400, "'transaction' (an object"),
    ("instances empty", json.dumps({"instances": []}), 400, "expected a JSON object"),
    ("instances not objects", json.dumps({"instances": [[]]}), 400, "expected a JSON object"),
    (
        "instances: the second is bad",
        json.dumps({"instances": [json.loads(body()), json.loads(body(transaction(amount=None)))]}),
        400,
        "instances[1].transaction.amount is required",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "fragment"), [case[1:] for case in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_a_bad_request_is_a_4xx_naming_the_field(
    model: inference.LoadedModel, body: str | bytes, status: int, fragment: str
) -> None:
    answered, message = serve(model, body)

    assert (answered, fragment) == (status, fragment if fragment in str(message) else message)


BAD_HEADERS = [
    ("content type text/csv", "text/csv", JSON, 415, "content type 'text/csv' is not supported"),
    ("content type application/jsonlines", "application/jsonlines", JSON, 415, "send application/json"),
    ("accept text/csv", JSON, "text/csv", 415, "accept type 'text/csv' is not supported"),
    ("accept json refused by q=0", JSON, "application/json;q=0, text/csv", 415, "ask for application/json"),
]
GOOD_HEADERS = [
    ("content type with a charset", "application/json; charset=utf-8", JSON),
    ("content type in capitals", "Application/JSON", JSON),
    ("accept with a charset", JSON, "application/json; charset=utf-8"),
    ("accept with q-values", JSON, "text/csv;q=1.0, application/json;q=0.5"),
    ("accept anything", JSON, "*/*"),
    ("accept any application type", JSON, "application/*"),
    ("no accept", JSON, ""),
]


@pytest.mark.parametrize(
    ("content_type", "accept", "status", "fragment"), [c[1:] for c in BAD_HEADERS], ids=[c[0] for c in BAD_HEADERS]
)
def test_an_unsupported_media_type_is_a_415(
    model: inference.LoadedModel, content_type: str, accept: str, status: int, fragment: str
) -> None:
    answered, message = serve(model, body(), content_type, accept)

    assert (answered, fragment) == (status, fragment if fragment in str(message) else message)


@pytest.mark.parametrize(("content_type", "accept"), [c[1:] for c in GOOD_HEADERS], ids=[c[0] for c in GOOD_HEADERS])
def test_json_with_parameters_or_wildcards_is_served(
    model: inference.LoadedModel, content_type: str, accept: str
) -> None:
    answered, answer = serve(model, body(), content_type, accept)

    assert answered == 200, answer
    assert answer["entity"] == "C1"


GOOD_REQUESTS = [
    ("an integer amount", body(transaction(amount=130))),
    ("a negative amount", body(transaction(amount=-5.0))),
    ("a merchant category the model has not seen (scored as unknown risk)", body(transaction(merchant_category="x"))),
    ("a timestamp in Z form", body(transaction(event_timestamp="2026-11-26T10:15:00Z"))),
    ("a timestamp with another offset", body(transaction(event_timestamp="2026-11-26T11:15:00+01:00"))),
    ("features with nulls for what the caller does not know", body(customer_id=..., features=dict.fromkeys(ONLINE))),
    ("an extra transaction field (kept in capture, not scored)", body(transaction(transaction_id="T1"))),
]


@pytest.mark.parametrize("request_body", [c[1] for c in GOOD_REQUESTS], ids=[c[0] for c in GOOD_REQUESTS])
def test_valid_requests_are_still_served(model: inference.LoadedModel, request_body: str) -> None:
    answered, answer = serve(model, request_body)

    assert answered == 200, answer
    assert 0 <= answer["score"] <= 1


def test_a_list_value_is_not_scored_by_its_first_element(model: inference.LoadedModel) -> None:
    """Before: [1, 5000] and [5000, 1] scored as 1 and 5000; now neither is scored."""
    first, second = serve(model, body(transaction(amount=[1, 5000]))), serve(model, body(transaction(amount=[5000, 1])))

    assert (first[0], second[0]) == (400, 400)


NASTY: list[Any] = [
    None, True, False, 0, -1, 2**63, 10**30, -0.0, 1e308, "", " ", "x", "12.5", "NaN", "C\ud800", "é" * 5000,
    [], [1], [[[]]], {}, {"a": None}, {"instances": []}, "2026-11-26", "2026-11-26T10:15:00+25:00",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:00",
]  # fmt: skip
PLACES = [
    ("customer_id",),
    ("transaction",),
    ("features",),
    ("transaction", "amount"),
    ("transaction", "merchant_category"),
    ("transaction", "event_timestamp"),
    *[("features", name) for name in ONLINE],
]


def test_no_mutation_of_a_valid_request_is_answered_with_a_5xx(model: inference.LoadedModel) -> None:
    """Every nasty value in every place of a request (with and without given features, alone and in a batch):
    answered 200 or 4xx, never the 500 that would feed the rollback alarm."""
    answers: dict[int, int] = {}
    for given in (False, True):
        for place in PLACES:
            if place[0] == "features" and not given:
                continue
            for value in NASTY:
                document = json.loads(body(features=dict(ONLINE)) if given else body())
                target = document
                for key in place[:-1]:
                    target = target[key]
                target[place[-1]] = value
                for sent in (document, {"instances": [json.loads(body()), document]}):
                    status, message = serve(model, json.dumps(sent))
                    assert status != 500, (place, value, message)
                    answers[status] = answers.get(status, 0) + 1

    assert set(answers) <= {200, 400, 404}
    assert answers[400] > answers.get(200, 0)  # most of them are refused, none crashes
