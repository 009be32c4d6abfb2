"""Patch point apigateway-invoke-route: a REST API stage's Lambda proxy methods answer HTTP on the local server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from mlops_local.apigateway import invoke_url, local_url
from mlops_local.emulator import Emulator

PROXY_HANDLER = """
import json

def handler(event, context):
    if event.get("queryStringParameters", {}) and event["queryStringParameters"].get("fail"):
        raise ValueError("asked to fail")
    return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Seen": event["httpMethod"]},
            "body": json.dumps({k: event[k] for k in ("resource", "path", "httpMethod", "pathParameters",
                                                      "queryStringParameters", "body", "isBase64Encoded")})}
"""


def _api(emulator: Emulator, function_arn: str) -> str:
    """``/items/{id}`` GET and POST (Lambda proxy), ``/private`` GET with AWS_IAM, deployed as stage ``v1``."""
    client = emulator.client("apigateway")
    api = client.create_rest_api(name="test")["id"]
    root = next(r["id"] for r in client.get_resources(restApiId=api)["items"] if r["path"] == "/")
    items = client.create_resource(restApiId=api, parentId=root, pathPart="items")["id"]
    item = client.create_resource(restApiId=api, parentId=items, pathPart="{id}")["id"]
    private = client.create_resource(restApiId=api, parentId=root, pathPart="private")["id"]
    uri = f"arn:aws:apigateway:{emulator.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    for resource, method, authorization in ((item, "GET", "NONE"), (item, "POST", "NONE"), (private, "GET", "AWS_IAM")):
        client.put_method(restApiId=api, resourceId=resource, httpMethod=method, authorizationType=authorization)
        client.put_integration(
            restApiId=api,
            resourceId=resource,
            httpMethod=method,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
        )
    client.create_deployment(restApiId=api, stageName="v1")
    return str(api)


def _request(url: str, *, method: str = "GET", data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def api(emulator: Emulator, make_function: Callable[..., str]) -> str:
    return invoke_url(emulator.job_endpoint(), _api(emulator, make_function("proxy", PROXY_HANDLER)), "v1")


def test_a_proxy_method_runs_its_function_with_the_rest_api_event(api: str) -> None:
    status, headers, body = _request(f"{api}/items/42?colour=red&colour=blue")

    assert status == 201
    assert headers["X-Seen"] == "GET"
    assert json.loads(body) == {
        "resource": "/items/{id}",
        "path": "/items/42",
        "httpMethod": "GET",
        "pathParameters": {"id": "42"},
        "queryStringParameters": {"colour": "blue"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_a_form_post_reaches_the_function_as_its_body(api: str) -> None:
    status, _, body = _request(f"{api}/items/7", method="POST", data=b"comment=a%2C+b%0Ac&decision=reject")

    assert status == 201
    assert json.loads(body)["body"] == "comment=a%2C+b%0Ac&decision=reject"


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/items/42", "DELETE", 403),  # an undeclared method: API Gateway's "Missing Authentication Token"
        ("/nothing", "GET", 403),
        ("/private", "GET", 403),  # AWS_IAM without a signature
        ("/items/42?fail=1", "GET", 502),  # the function failed: API Gateway hides why
    ],
)
def test_what_api_gateway_refuses_is_refused(api: str, path: str, method: str, status: int) -> None:
    answered, _, body = _request(f"{api}{path}", method=method)

    assert answered == status
    assert "message" in json.loads(body)


def test_an_unknown_api_or_stage_is_not_found(emulator: Emulator, api: str) -> None:
    unknown_stage = api.replace("/v1/", "/v9/")

    assert _request(invoke_url(emulator.job_endpoint(), "nope", "v1") + "/items/1")[0] == 404
    assert _request(unknown_stage + "/items/1")[0] == 404


def test_a_stage_url_maps_to_the_local_server() -> None:
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/approvals?token=a.b"

    assert local_url("http://localhost:4566", url) == (
        "http://localhost:4566/restapis/abc123/v1/_user_request_/approvals?token=a.b"
    )
    with pytest.raises(ValueError, match="not an API Gateway stage URL"):
        local_url("http://localhost:4566", "https://example.com/v1/approvals")
