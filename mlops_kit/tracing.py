"""X-Ray tracing for the kit's Lambda functions without the X-Ray SDK: a Powertools tracer provider.

Powertools' ``Tracer`` records through a provider; its default is the X-Ray SDK's recorder, whose import (46
modules, asyncio through its async recorder, wrapt) cost 30-40 ms of every cold start. What the kit's functions
send with it is small, and this module sends the same documents itself:

* the ``## handler`` subsegment Powertools opens around each invocation, with the ``ColdStart`` and ``Service``
  annotations and the response or error as metadata (``POWERTOOLS_TRACER_CAPTURE_RESPONSE`` still applies);
* one subsegment per AWS call made through botocore (namespace ``aws``, named by the service's endpoint prefix as
  the SDK names them, with operation, region, request id and HTTP status; a client error marks it ``error``, a
  throttle ``throttle``, a server error ``fault``), and the call carries ``X-Amzn-Trace-Id`` with that
  subsegment as parent (Lambda's other header fields passed on, ``Lineage`` among them), so the services it
  calls join the trace beneath it.

As in Lambda with the SDK under Powertools (streaming threshold 0), every subsegment is its own segment document,
sent when it closes over UDP to the daemon (``AWS_XRAY_DAEMON_ADDRESS``), beneath the function's segment that
Lambda opens (``_X_AMZN_TRACE_ID``: ``Root``, ``Parent``, ``Sampled``). Nothing is sent for an unsampled request
or outside Lambda. Not kept from the SDK: its per-service parameter whitelist (table names, queue URLs as
``aws`` fields) and its plugin and SDK-version fields. Documents follow "AWS X-Ray segment documents" and
"Sending segment documents to the X-Ray daemon" in the X-Ray developer guide.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import traceback
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

logger = logging.getLogger(__name__)

_HEADER = b'{"format": "json", "version": 1}\n'
_MAX_DOCUMENT_BYTES = 64_000  # a segment document is at most 64 KB
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_]{1,500}$")  # letters, numbers and underscores only
TRACE_HEADER = "X-Amzn-Trace-Id"


def daemon_address(environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The daemon's UDP address from ``AWS_XRAY_DAEMON_ADDRESS``: ``host:port`` (Lambda's form) or
    ``tcp:host:port udp:host:port``; ``127.0.0.1:2000`` when unset. A malformed value raises ``ValueError``."""
    raw = environ.get("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000").strip()
    parts = raw.split()
    udp = next((p[4:] for p in parts if p.startswith("udp:")), parts[0] if len(parts) == 1 else "")
    host, _, port = udp.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"AWS_XRAY_DAEMON_ADDRESS={raw!r} is not 'host:port' or 'tcp:host:port udp:host:port'; "
            "unset it to use 127.0.0.1:2000"
        )
    return host, int(port)


class DaemonEmitter:
    """Sends segment documents to the X-Ray daemon over UDP. Sending never raises: a trace is not worth failing
    an invocation for (the X-Ray SDK behaves the same)."""

    def __init__(self, address: tuple[str, int] | None = None) -> None:
        self._address = address
        self._socket: socket.socket | None = None

    def send(self, document: dict[str, Any]) -> None:
        body = json.dumps(document, default=str, separators=(",", ":")).encode()
        if len(body) > _MAX_DOCUMENT_BYTES and "metadata" in document:
            document = {**document, "metadata": {"default": {"dropped": "metadata over the 64 KB document limit"}}}
            body = json.dumps(document, default=str, separators=(",", ":")).encode()
        try:
            if self._address is None:
                self._address = daemon_address()
            if self._socket is None:
                self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._socket.sendto(_HEADER + body, self._address)
        except (OSError, ValueError) as exc:
            logger.warning("trace segment not sent", extra={"reason": str(exc)})


def trace_context(environ: Mapping[str, str] = os.environ) -> tuple[str, str, bool] | None:
    """``(root, parent, sampled)`` of the invocation from ``_X_AMZN_TRACE_ID``, or None outside a trace."""
    fields = dict(part.split("=", 1) for part in environ.get("_X_AMZN_TRACE_ID", "").split(";") if "=" in part)
    root, parent = fields.get("Root"), fields.get("Parent")
    if not root or not parent:
        return None
    return root, parent, fields.get("Sampled") == "1"


def child_header(header: str, parent_id: str) -> str:
    """Lambda's trace header with ``Parent`` set to ``parent_id``. Every other field is passed on as received, as
    the X-Ray SDK does: ``Lineage`` among them, which Lambda's recursive loop detection counts."""
    fields = [part for part in header.split(";") if part and not part.startswith("Parent=")]
    root = [part for part in fields if part.startswith("Root=")]
    rest = [part for part in fields if not part.startswith("Root=")]
    return ";".join([*root, f"Parent={parent_id}", *rest])


class Subsegment(BaseSegment):
    """One subsegment of the function's segment, sent as its own document when it closes."""

    def __init__(self, name: str, trace_id: str, parent_id: str, *, sampled: bool, namespace: str | None = None):
        self.name = name[:200]
        self.id = secrets.token_hex(8)
        self.trace_id, self.parent_id, self.sampled, self.namespace = trace_id, parent_id, sampled, namespace
        self.start_time = time.time()
        self.end_time: float | None = None
        self.annotations: dict[str, str | float | bool] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.aws: dict[str, Any] = {}
        self.http_status: int | None = None
        self.error = self.fault = self.throttle = False
        self.exceptions: list[dict[str, Any]] = []

    def close(self, end_time: int | None = None) -> None:
        self.end_time = float(end_time) if end_time is not None else time.time()

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to do: subsegments are sent on their own, naming their parent."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to do: subsegments are sent on their own, naming their parent."""

    def put_annotation(self, key: str, value: Any) -> None:
        # X-Ray indexes annotations for filter expressions: keys of letters, digits and underscores, values that
        # are strings, numbers or booleans. The SDK drops any other with a warning; so does this.
        if not _ANNOTATION_KEY.match(key) or not isinstance(value, str | int | float | bool):
            logger.warning("trace annotation dropped", extra={"key": key, "type": type(value).__name__})
            return
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata.setdefault(namespace, {})[key] = value

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        """Record the exception in the subsegment's ``cause`` and flag it ``fault`` (as the X-Ray SDK does); the
        same exception recorded again (an AWS call's error leaving the handler) is recorded once."""
        self.fault = True
        if any(recorded["object"] == id(exception) for recorded in self.exceptions):
            return
        frames = traceback.extract_tb(exception.__traceback__)[-20:] if exception.__traceback__ else []
        self.exceptions.append({
            "id": secrets.token_hex(8), "message": str(exception)[:1000], "type": type(exception).__name__,
            "remote": remote, "object": id(exception),
            "stack": [{"path": f.filename, "line": f.lineno, "label": f.name} for f in reversed(frames)],
        })  # fmt: skip

    def set_http_status(self, status: int | None) -> None:
        """The response's status, flagging the subsegment as the X-Ray SDK does: 429 throttle and error, other
        4xx error, 5xx fault."""
        self.http_status = status
        if status is None:
            return
        if status >= 500:
            self.fault = True
        elif status == 429:
            self.throttle = self.error = True
        elif status >= 400:
            self.error = True

    def document(self) -> dict[str, Any]:
        """The segment document of this subsegment (``type`` ``subsegment``, ``parent_id`` its parent)."""
        document: dict[str, Any] = {
            "name": self.name, "id": self.id, "trace_id": self.trace_id, "parent_id": self.parent_id,
            "type": "subsegment", "start_time": self.start_time, "end_time": self.end_time or time.time(),
        }  # fmt: skip
        if self.namespace:
            document["namespace"] = self.namespace
        for flag in ("error", "fault", "throttle"):
            if getattr(self, flag):
                document[flag] = True
        if self.annotations:
            document["annotations"] = self.annotations
        if self.metadata:
            document["metadata"] = self.metadata
        if self.aws:
            document["aws"] = self.aws
        if self.http_status is not None:
            document["http"] = {"response": {"status": self.http_status}}
        if self.exceptions:
            exceptions = [{k: v for k, v in e.items() if k != "object"} for e in self.exceptions]
            document["cause"] = {"working_directory": os.getcwd(), "exceptions": exceptions}
        return document


class XRayProvider(BaseProvider):
    """A Powertools tracer provider that sends subsegments to the X-Ray daemon itself (module docstring).

    ``emit`` receives each closed subsegment's document; by default a :class:`DaemonEmitter`'s ``send``. A
    provider not ``enabled`` sends nothing: Powertools' ``Tracer`` still opens its subsegments when tracing is
    turned off (``POWERTOOLS_TRACE_DISABLED``), relying on the X-Ray SDK's global switch, which this replaces.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None] | None = None, *, enabled: bool = True) -> None:
        self._emit = emit or DaemonEmitter().send
        self._local = threading.local()
        self.enabled = enabled

    def _stack(self) -> list[Subsegment]:
        stack: list[Subsegment] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def current(self) -> Subsegment | None:
        """The innermost open subsegment of this thread, if any."""
        stack = self._stack()
        return stack[-1] if stack else None

    def _begin(self, name: str, namespace: str | None = None) -> Subsegment:
        context = trace_context() if self.enabled else None
        stack = self._stack()
        if context is None:
            segment = Subsegment(name, "", "", sampled=False, namespace=namespace)
        else:
            root, parent, sampled = context
            parent = stack[-1].id if stack and stack[-1].trace_id == root else parent
            segment = Subsegment(name, root, parent, sampled=sampled, namespace=namespace)
        stack.append(segment)
        return segment

    def _end(self, segment: Subsegment) -> None:
        stack = self._stack()
        if segment in stack:
            del stack[stack.index(segment) :]
        if segment.end_time is None:
            segment.close()
        if segment.sampled:
            self._emit(segment.document())

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[Subsegment, None, None]:
        segment = self._begin(name or "anonymous", kwargs.get("namespace"))
        try:
            yield segment
        except BaseException as exc:
            segment.add_exception(exc, None)
            raise
        finally:
            self._end(segment)

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[Subsegment, None]:
        segment = self._begin(name or "anonymous", kwargs.get("namespace"))
        try:
            yield segment
        except BaseException as exc:
            segment.add_exception(exc, None)
            raise
        finally:
            self._end(segment)

    def put_annotation(self, key: str, value: Any) -> None:
        """On the innermost open subsegment; outside one there is nothing to annotate (Lambda owns the segment)."""
        segment = self.current()
        if segment is not None:
            segment.put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        segment = self.current()
        if segment is not None:
            segment.put_metadata(key, value, namespace)

    def patch(self, modules: Sequence[str]) -> None:
        """Trace the AWS calls of ``botocore``, the one library the kit traces; any other name raises
        ``ValueError`` (this provider cannot trace it: use Powertools' default provider for that)."""
        unknown = sorted(set(modules) - {"botocore"})
        if unknown:
            raise ValueError(f"cannot trace {', '.join(unknown)}: only botocore is supported by this provider")
        if "botocore" in modules:
            _patch_botocore(self)

    def patch_all(self) -> None:
        self.patch(["botocore"])


_PATCHED: list[XRayProvider] = []  # the provider botocore reports to: the latest one patched


def _record_response(segment: Subsegment, response: Any) -> None:
    metadata = response.get("ResponseMetadata") if isinstance(response, dict) else None
    if isinstance(metadata, dict):
        segment.aws["request_id"] = metadata.get("RequestId")
        segment.set_http_status(metadata.get("HTTPStatusCode"))


def _patch_botocore(provider: XRayProvider) -> None:
    """Wrap ``BaseClient._make_api_call`` (a subsegment per call) and ``Endpoint.prepare_request`` (the trace
    header, naming that subsegment as parent), once per process; a later provider takes over the reporting."""
    from botocore.client import BaseClient
    from botocore.endpoint import Endpoint

    already = bool(_PATCHED)
    _PATCHED[:] = [provider]
    if already:
        return
    make_api_call, prepare_request = BaseClient._make_api_call, Endpoint.prepare_request

    def traced_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        tracer = _PATCHED[0]
        context = trace_context() if tracer.enabled else None
        if context is None or not context[2]:
            # Nothing would be sent for it (no trace, unsampled, or tracing off): every AWS call of the process
            # passes here, the emulator's and the tests' own too, so it costs no subsegment.
            return make_api_call(client, operation_name, api_params)
        service = client.meta.service_model.metadata.get("endpointPrefix", client.meta.service_model.service_name)
        with tracer.in_subsegment(service, namespace="aws") as segment:
            segment.aws.update(operation=operation_name, region=client.meta.region_name)
            try:
                response = make_api_call(client, operation_name, api_params)
            except Exception as exc:
                # A ClientError carries the service's response: the error came from the service (remote).
                _record_response(segment, getattr(exc, "response", None))
                segment.add_exception(exc, None, remote=isinstance(getattr(exc, "response", None), dict))
                raise
            _record_response(segment, response)
            return response

    def traced_request(endpoint: Any, request: Any) -> Any:
        segment = _PATCHED[0].current()
        # Only a sampled call names its subsegment as parent; otherwise botocore passes Lambda's own header on.
        if segment is not None and segment.sampled:
            request.headers[TRACE_HEADER] = child_header(os.environ.get("_X_AMZN_TRACE_ID", ""), segment.id)
        return prepare_request(endpoint, request)

    BaseClient._make_api_call = traced_call
    Endpoint.prepare_request = traced_request
