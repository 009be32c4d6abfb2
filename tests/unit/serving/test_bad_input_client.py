"""Catalogue of what the endpoint answers, as the serving client reports it: the model's 4xx is the caller's mistake
in the model's own words, never "server error (400)"; a 5xx or an endpoint that cannot be called is a failure.

The runtime is a real boto3 client with botocore's Stubber, so the errors are parsed exactly as from AWS (a
ModelError's ``OriginalStatusCode`` and ``OriginalMessage`` are members of the parsed response). Add a row for every
new kind of answer.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mlops_kit.serving.client import EndpointClient, ModelRequestError

ENDPOINT = "mlops-kit-endpoint"
REFUSED = "transaction.amount must be a finite JSON number (not a string, a boolean, NaN or Infinity); got NaN"


def model_error(status: int | None, original: str | None) -> dict[str, Any]:
    """A ModelError as SageMaker sends it: HTTP 424, the container's status and body as modeled members."""
    kind = "client" if status is not None and status < 500 else "server"
    fields: dict[str, Any] = {}
    if status is not None:
        fields["OriginalStatusCode"] = status
    if original is not None:
        fields["OriginalMessage"] = original
    return {
        "service_error_code": "ModelError",
        "service_message": f'Received {kind} error ({status}) from primary with message "{original}". See ...',
        "http_status_code": 424,
        "modeled_fields": fields,
    }


# (id, the runtime's answer, client_error, status, fragment of the client's message)
ANSWERS = [
    ("invalid field: 400", model_error(400, REFUSED), True, 400, f"the model refused the request (400): {REFUSED}"),
    ("unknown entity: 404", model_error(404, "unknown customer_id 'C404'"), True, 404, "refused the request (404)"),
    ("unsupported type: 415", model_error(415, "content type 'text/csv' is not supported"), True, 415, "(415)"),
    ("throttled by the model: 429", model_error(429, "slow down"), True, 429, "refused the request (429): slow down"),
    ("model crash: 500", model_error(500, "ZeroDivisionError: division by zero"), False, 500, "the model failed (500)"),
    ("model overloaded: 503", model_error(503, "busy"), False, 503, "the model failed (503): busy"),
    ("no original status", model_error(None, None), False, None, "the model failed: Received server error"),
    (
        "endpoint not found",
        {
            "service_error_code": "ValidationError",
            "service_message": f"Endpoint {ENDPOINT} of account 123456789012 not found.",
            "http_status_code": 400,
        },
        False,
        None,
        "the endpoint refused the request",
    ),
]


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def answer(stubber: Stubber, response: dict[str, Any]) -> None:
    stubber.add_client_error("invoke_endpoint", **response)


def served(stubber: Stubber, body: dict[str, Any], variant: str = "blue") -> None:
    data = json.dumps(body).encode()
    stubber.add_response(
        "invoke_endpoint",
        {
            "Body": StreamingBody(io.BytesIO(data), len(data)),
            "ContentType": "application/json",
            "InvokedProductionVariant": variant,
        },
    )


@pytest.mark.parametrize(
    ("response", "client_error", "status", "fragment"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_an_error_answer_is_reported_as_the_models_own(
    runtime: tuple[Any, Stubber], response: dict[str, Any], client_error: bool, status: int | None, fragment: str
) -> None:
    client, stubber = runtime
    answer(stubber, response)

    with pytest.raises(ModelRequestError) as raised:
        EndpointClient(ENDPOINT, client).predict({"customer_id": "C1"})

    assert (raised.value.client_error, raised.value.status) == (client_error, status)
    assert fragment in str(raised.value)
    assert "server error (4" not in str(raised.value)


def test_a_refusal_keeps_the_models_message_as_detail(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    answer(stubber, model_error(400, REFUSED))

    with pytest.raises(ModelRequestError) as raised:
        EndpointClient(ENDPOINT, client).predict({"customer_id": "C1"})

    assert raised.value.detail == REFUSED


def test_a_batch_goes_on_past_a_refused_row(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    served(stubber, {"score": 0.1})
    answer(stubber, model_error(400, REFUSED))
    served(stubber, {"score": 0.2})

    results = list(EndpointClient(ENDPOINT, client).predict_many([{}, {}, {}]))

    assert [type(r).__name__ for r in results] == ["Prediction", "ModelRequestError", "Prediction"]
