"""API Gateway REST APIs served on the emulator's local server: a stage's Lambda proxy methods answer HTTP.

moto models REST APIs (resources, methods, integrations, stages; CloudFormation creates them) but serves their
invoke URLs only in-process and only for HTTP and DynamoDB integrations: ``AWS_PROXY`` (Lambda) integrations
are ignored, and in server mode nothing answers at all. This family adds one route to every moto server the
emulator runs (``mlops local serve``'s, and the in-process emulator's side server, :meth:`Emulator.job_endpoint`):

    http://localhost:PORT/restapis/{api_id}/{stage}/_user_request_/{path}?{query}

(the path layout LocalStack uses for the same purpose). The request is matched to the stage's resource and
method as API Gateway does (literal segments first, then ``{param}``, then ``{proxy+}``; ``ANY`` when the method
is not declared), turned into the REST API's Lambda proxy event (payload format 1.0), and the function runs
through the emulator's Lambda runtime (``lambda:Invoke``, so as its role and on the virtual clock); its answer
becomes the HTTP response. What is not emulated: authorizers and IAM authorization (a method with
``AWS_IAM`` answers 403 without a SigV4 ``Authorization`` header; the signature is not checked), request
validators, mapping templates, throttling, and integrations other than ``AWS_PROXY`` to Lambda (502, saying so).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="apigateway-invoke-route",
        module="moto.moto_server.werkzeug_app",
        attribute="DomainDispatcherApplication.get_application",
        signature="(self, environ: dict[str, typing.Any]) -> flask.app.Flask",
        why=(
            "moto's server picks a service app per request; requests to /restapis/{id}/{stage}/_user_request_/... "
            "are a REST API's invoke URL: answer them with the stage's Lambda proxy integration"
        ),
    ),
)

ROUTE = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")
_LAMBDA_URI = re.compile(r"^arn:[\w-]+:apigateway:[\w-]+:lambda:path/[^/]+/functions/(?P<function>.+)/invocations$")


def invoke_url(endpoint_url: str, api_id: str, stage: str) -> str:
    """The local invoke URL of a deployed REST API stage (``endpoint_url`` is the emulator's server)."""
    return f"{endpoint_url.rstrip('/')}/restapis/{api_id}/{stage}/_user_request_"


_STAGE_URL = re.compile(
    r"^https://(?P<api>[a-z0-9]+)\.execute-api\.[\w-]+\.amazonaws\.com(\.cn)?/(?P<stage>[^/?]+)(?P<rest>.*)$"
)


def local_url(endpoint_url: str, url: str) -> str:
    """``url`` (a stage URL as AWS writes it, ``https://{id}.execute-api.{region}.amazonaws.com/{stage}/...``)
    rewritten to the same resource on the emulator's server. ValueError for any other URL."""
    found = _STAGE_URL.match(url)
    if found is None:
        raise ValueError(f"not an API Gateway stage URL: {url!r}")
    return invoke_url(endpoint_url, found["api"], found["stage"]) + found["rest"]


def _json(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()


def _match(resources: list[Any], path: str) -> tuple[Any, dict[str, str]] | None:
    """The resource API Gateway picks for ``path``, and the path parameters it binds."""
    wanted = [segment for segment in path.split("/") if segment]
    best: tuple[int, Any, dict[str, str]] | None = None
    for resource in resources:
        template = [segment for segment in resource.get_path().split("/") if segment]
        bound = _bind(template, wanted)
        if bound is None:
            continue
        # literal segments beat {param}, which beats {proxy+}: score by literal count, then by length
        score = sum(1 for s in template if not s.startswith("{")) * 100 + len(template)
        if best is None or score > best[0]:
            best = (score, resource, bound)
    return (best[1], best[2]) if best else None


def _bind(template: list[str], wanted: list[str]) -> dict[str, str] | None:
    bound: dict[str, str] = {}
    for index, segment in enumerate(template):
        if segment.startswith("{") and segment.endswith("+}"):
            if index >= len(wanted):
                return None
            bound[segment[1:-2]] = "/".join(wanted[index:])
            return bound
        if index >= len(wanted):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            bound[segment[1:-1]] = wanted[index]
        elif segment != wanted[index]:
            return None
    return bound if len(template) == len(wanted) else None


class RestApiInvoker:
    """Answers one invoke-URL request from moto's API Gateway backend and the emulator's Lambda runtime."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status, headers, body = self.answer(environ)
        from http import HTTPStatus

        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]

    def answer(self, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        from moto.apigateway.models import apigateway_backends

        found = ROUTE.match(environ.get("PATH_INFO", ""))
        if found is None:
            return _json(404, "not an invoke URL")
        backend = apigateway_backends[self.emulator.account][self.emulator.region]
        api = backend.apis.get(found["api"])
        if api is None or found["stage"] not in api.stages:
            return _json(404, f"no REST API {found['api']} with a stage {found['stage']!r}")
        path = found["path"] or "/"
        matched = _match(list(api.resources.values()), path)
        method_name = environ.get("REQUEST_METHOD", "GET").upper()
        methods = matched[0].resource_methods if matched else {}
        method = methods.get(method_name) or methods.get("ANY")
        if matched is None or method is None:
            # What API Gateway answers for an undeclared resource or method.
            return _json(403, "Missing Authentication Token")
        if method.authorization_type == "AWS_IAM" and not environ.get("HTTP_AUTHORIZATION"):
            return _json(403, "Missing Authentication Token")
        integration = method.method_integration
        uri = str(getattr(integration, "uri", "") or "")
        target = _LAMBDA_URI.match(uri)
        if integration is None or integration.integration_type != "AWS_PROXY" or target is None:
            return _json(502, f"the emulator serves only AWS_PROXY Lambda integrations, not {uri or 'none'}")
        event = self._event(environ, api.id, found["stage"], matched[0].get_path(), path, matched[1])
        return self._invoke(target["function"], event)

    def _event(
        self, environ: dict[str, Any], api_id: str, stage: str, resource: str, path: str, parameters: dict[str, str]
    ) -> dict[str, Any]:
        """API Gateway's Lambda proxy event (REST API, payload format 1.0)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body: str | None = raw.decode("utf-8") if raw else None
            encoded = False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        headers = {
            key[5:].replace("_", "-").title(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.emulator.account,
                "apiId": api_id,
                "stage": stage,
                "httpMethod": method,
                "path": f"/{stage}{path}",
                "resourcePath": resource,
                "requestId": str(uuid.uuid4()),
                "identity": {
                    "sourceIp": str(environ.get("REMOTE_ADDR", "127.0.0.1")),
                    "userAgent": headers.get("User-Agent"),
                },
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    def _invoke(self, function: str, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        answer = self.emulator.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            return _json(502, "Internal server error")  # API Gateway hides the function's error from the caller
        try:
            result = json.loads(payload)
            status = int(result.get("statusCode", 200))
        except (ValueError, AttributeError, TypeError):
            return _json(502, "Internal server error: the function's answer is not a proxy response")
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ", ".join(str(v) for v in values)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return status, headers, data


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
    original = points["apigateway-invoke-route"].original()
    invoker = RestApiInvoker(patcher.emulator)

    def get_application(app: Any, environ: dict[str, Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if isinstance(path, str) and ROUTE.match(path):
            return invoker
        return original(app, environ)

    patcher.replace(points["apigateway-invoke-route"], get_application)
