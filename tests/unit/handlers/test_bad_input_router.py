"""Catalogue of the A/B HTTP router's answers when the model answers an invocation with an error: the model's 4xx
(the caller's mistake) goes through with its status and message; only real upstream failures are 502.

Each row is one answer of the SageMaker runtime (a stubbed boto3 client, see tests/unit/serving/
test_bad_input_client.py) and the router's status and body. Add a row for every new kind of answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.abtest.test_routing import FakeTable, running
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler
from tests.unit.handlers.examples import ROUTER
from tests.unit.handlers.test_abtest_handlers import rest_request
from tests.unit.serving.test_bad_input_client import ANSWERS, REFUSED, answer, runtime, served

__all__ = ["runtime"]  # the stubbed runtime fixture

EXPECTED = {  # id -> (router status, the body's message or a fragment of it)
    "invalid field: 400": (400, REFUSED),
    "unknown entity: 404": (404, "unknown customer_id 'C404'"),
    "unsupported type: 415": (415, "content type 'text/csv' is not supported"),
    "throttled by the model: 429": (429, "slow down"),
    "model crash: 500": (502, "the model failed (500): ZeroDivisionError"),
    "model overloaded: 503": (502, "the model failed (503): busy"),
    "no original status": (502, "the model failed"),
    "endpoint not found": (502, "the endpoint refused the request"),
}


def invocation(load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, client: Any):
    module = load_handler("abtest_router", ROUTER)
    monkeypatch.setattr(module, "route_table", lambda: FakeTable(running(coverage=1.0)))
    monkeypatch.setattr(module, "runtime", lambda: client)
    request = rest_request(
        "POST",
        "/experiments/checkout-model/invocations",
        "/experiments/{experiment}/invocations",
        {"user_id": "user-1", "payload": {"customer_id": "C1", "transaction": {"amount": "NaN"}}},
    )
    response = module.handler(request, context)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(("response", "name"), [(a[1], a[0]) for a in ANSWERS], ids=[a[0] for a in ANSWERS])
def test_the_models_refusal_passes_through_and_only_upstream_failures_are_502(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    runtime: Any,
    response: dict[str, Any],
    name: str,
) -> None:
    client, stubber = runtime
    answer(stubber, response)

    status, body = invocation(load_handler, context, monkeypatch, client)

    expected_status, message = EXPECTED[name]
    assert (status, message in body["message"]) == (expected_status, True), body
    if status < 500:
        assert body == {"message": message}  # the model's own message, as the model sent it


def test_a_served_invocation_answers_the_prediction(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, runtime: Any
) -> None:
    client, stubber = runtime
    served(stubber, {"score": 0.25}, variant="green")

    status, body = invocation(load_handler, context, monkeypatch, client)

    assert status == 200
    assert (body["prediction"], body["variant"]) == ({"score": 0.25}, "green")
