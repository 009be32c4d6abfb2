"""Checks every API request before moto handles it, as the AWS front door does.

AWS refuses a request before the service acts on it when the request breaks the API model (a value outside its
pattern, length or range) or the caller's IAM policies do not allow it. moto does neither by default. Every
request to every service, in-process or through the local server, passes moto's one authorization point
(``ActionAuthenticatorMixin._authenticate_and_authorize_action``); the emulator hooks it and runs each
registered :data:`RequestCheck` on an :class:`ApiRequest`. A check refuses by raising :class:`ApiError`, which
reaches the client as the service's own error shape (JSON ``__type`` or XML ``<Error><Code>``), so botocore
raises the ``ClientError`` that AWS would cause.
"""

from __future__ import annotations

import email.utils
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import time_machine

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="request-checks",
        module="moto.core.responses",
        attribute="BaseResponse.call_action",
        signature="(self) -> 'TYPE_RESPONSE'",
        why="every request of every service but S3 passes here before its handler: refuse what AWS would refuse",
    ),
    PatchPoint(
        name="server-requests-on-the-clock",
        module="moto.moto_server.werkzeug_app",
        attribute="DomainDispatcherApplication.__call__",
        signature="(self, environ: dict[str, typing.Any], start_response: Any) -> Any",
        why=(
            "a request from another process (the CLI, a SageMaker job, `cdk deploy`) is work in flight: emulated "
            "time must not jump while the server handles it"
        ),
    ),
    PatchPoint(
        name="server-date-wall-clock",
        module="http.server",
        attribute="BaseHTTPRequestHandler.date_time_string",
        signature="(self, timestamp=None)",
        why=(
            "the local server's HTTP Date header follows the emulated clock; SDKs correct their clocks from it (the "
            "CDK CLI retries errors it takes for clock skew, with backoff): report the wall clock"
        ),
    ),
    PatchPoint(
        name="request-checks-s3",
        module="moto.core.authorization",
        attribute="ActionAuthenticatorMixin._authenticate_and_authorize_s3_action",
        signature="(self, bucket_name: str | None = None, key_name: str | None = None) -> None",
        why="S3 requests are authorized here, with the bucket and key they touch",
    ),
)


class ApiError(Exception):
    """A refusal, rendered as the service's error: ``code`` (e.g. ``ValidationException``), HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class ApiRequest:
    """One API request as a check sees it."""

    service: str  # botocore's service name: "sagemaker", "s3", "stepfunctions", ...
    action: str  # the operation name: "UpdateEndpoint", "PutObject", ...
    account: str
    region: str
    headers: Any
    response: Any = field(repr=False)  # moto's response object, for what the fields above do not cover
    resource: str = "*"  # the ARN moto computed for S3 requests ("arn:aws:s3:::bucket/key"); "*" elsewhere
    _params: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def access_key(self) -> str:
        return str(getattr(self.response, "access_key", "") or "")

    def params(self) -> dict[str, Any]:
        """The request's input, parsed by the operation's botocore model (``{}`` when it cannot be parsed)."""
        if self._params is None:
            self._params = _parse(self)
        return self._params


RequestCheck = Callable[[ApiRequest], None]

_CHECKS: list[tuple[str, RequestCheck]] = []
_LOCK = threading.Lock()


def register(name: str, check: RequestCheck) -> None:
    """Run ``check`` on every request (replacing a check of the same name)."""
    with _LOCK:
        _CHECKS[:] = [(n, c) for n, c in _CHECKS if n != name]
        _CHECKS.append((name, check))


def unregister(name: str) -> None:
    with _LOCK:
        _CHECKS[:] = [(n, c) for n, c in _CHECKS if n != name]


def checks() -> list[str]:
    with _LOCK:
        return [name for name, _ in _CHECKS]


def _service_name(response: Any) -> str:
    name = getattr(response, "boto3_service_name", None) or getattr(response, "service_name", None) or ""
    return str(name)


def _action(response: Any, service: str) -> str:
    if service == "s3":
        return ""  # S3 names its operations by method and path; the S3 checks read them from ``response``
    try:
        return str(response._get_action() or "")
    except Exception:
        return ""


def _parse(request: ApiRequest) -> dict[str, Any]:
    response = request.response
    existing = getattr(response, "params", None)
    if isinstance(existing, dict) and existing:
        return existing
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model

    try:
        model = get_service_model(request.service)
        operation = model.operation_model(request.action)
        raw = response.normalized_request
        protocol = determine_request_protocol(model, raw.content_type)
        parser = PROTOCOL_PARSERS[protocol](operation, map_type=dict)
        parsed = parser.parse(
            {
                "method": raw.method,
                "values": raw.values,
                "headers": raw.headers,
                "body": raw.data,
                "url_path": raw.path,
                "url_params": getattr(response, "uri_match", {}) or {},
            }
        )
        return dict(parsed)
    except Exception:
        return {}


def _request(response: Any, resource: str = "*") -> ApiRequest:
    service = _service_name(response)
    return ApiRequest(
        service=service,
        action=_action(response, service),
        account=str(getattr(response, "current_account", "") or ""),
        region=str(getattr(response, "region", "") or ""),
        headers=getattr(response, "headers", {}),
        response=response,
        resource=resource,
    )


def _run_checks(request: ApiRequest) -> None:
    with _LOCK:
        registered = list(_CHECKS)
    for _name, check in registered:
        check(request)


def _service_exception(error: ApiError) -> Exception:
    """moto's serializable error for ``error`` (defined here, outside moto's packages: moto looks an exception's
    service up from its module name, and this one belongs to whichever service refused)."""
    from moto.core.exceptions import ServiceException

    class Refusal(ServiceException):
        pass

    return Refusal(error.code, error.message)


def _wall_clock_http_date(handler: Any, timestamp: float | None = None) -> str:
    """The HTTP ``Date`` of the local server's answers: the real clock's, not the emulated one.

    SDKs read a response's Date to correct their own clock: the AWS SDK for JavaScript (the CDK CLI) takes an error
    whose Date is minutes away from its clock for clock skew and retries it with backoff, so every "stack does
    not exist" answer cost the CLI about 40 s once emulated time had drifted from the wall clock. The emulator
    never checks request signatures' times, so the wall clock is the one to report.
    """
    if timestamp is None:
        travelling = time_machine.escape_hatch.is_travelling()
        timestamp = time_machine.escape_hatch.time.time() if travelling else time.time()
    return email.utils.formatdate(timestamp, usegmt=True)


def apply(patcher: Patcher) -> None:
    from moto.core.responses import ActionResult

    # AWS's common errors (AccessDeniedException, ...) are not in every service model; moto warns, needlessly.
    warnings.filterwarnings("ignore", message=r"Exception\(Refusal\) with code", category=UserWarning)

    points = points_by_name(PATCH_POINTS)
    original_call = points["request-checks"].original()
    original_s3 = points["request-checks-s3"].original()

    def call_action(response: Any) -> Any:
        if _CHECKS and _service_name(response) != "s3":
            try:
                _run_checks(_request(response))
            except ApiError as error:
                # Serialized by the protocol the client spoke (JSON, query XML, CBOR), as the service's errors are.
                _status, headers, body = response.serialized(ActionResult(_service_exception(error)))
                headers["status"] = str(error.status)
                # Every AWS response carries a request id; Step Functions' task errors quote it.
                headers, body = response._enrich_response(headers, body)
                return error.status, headers, body
        return original_call(response)

    def authorize_s3(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if _CHECKS:
            target = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
            try:
                _run_checks(_request(response, f"arn:aws:s3:::{target}"))
            except ApiError as error:
                from moto.core.exceptions import _RESTError
                from moto.utilities.aws_headers import gen_amzn_requestid_long
                from xmltodict import unparse

                rendered = _RESTError(error.code, error.message)
                request_id = gen_amzn_requestid_long()
                body = {"Code": error.code, "Message": error.message, "RequestId": request_id}
                rendered.description = unparse({"Error": body}, full_document=True)
                headers = [*rendered.get_headers(), ("x-amz-request-id", request_id)]  # S3 sends the id as a header
                rendered.get_headers = lambda *_args, **_kwargs: headers  # type: ignore[method-assign]
                rendered.code = error.status
                raise rendered from error
        original_s3(response, bucket_name, key_name)

    original_serve = points["server-requests-on-the-clock"].original()

    def serve(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
        from mlops_local import clock

        running = clock._CURRENT
        if running is None or not running.running:
            return original_serve(app, environ, start_response)
        with running.activity():
            # The body is produced inside the block: a streamed response is work too.
            return list(original_serve(app, environ, start_response))

    patcher.replace(points["request-checks"], call_action)
    patcher.replace(points["server-requests-on-the-clock"], serve)
    patcher.replace(points["server-date-wall-clock"], _wall_clock_http_date)
    patcher.replace(points["request-checks-s3"], authorize_s3)
