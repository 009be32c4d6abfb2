"""The handlers' X-Ray subsegments, sent without the X-Ray SDK (``mlops_kit.tracing``): the ``## handler``
subsegment with its annotations, one ``aws`` subsegment per AWS call beneath it, the trace header that call
carries, and the documents as the daemon receives them. Handler runs happen in a fresh interpreter, as in Lambda
(tracing on, botocore patched), so the patch does not outlive the test."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.tracing import DaemonEmitter, Subsegment, XRayProvider, child_header, daemon_address, trace_context

ROOT = Path(__file__).resolve().parents[3]
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"

_INVOKE = """
import json, sys
import boto3
from moto import mock_aws
from mlops_kit.observability import Observability

observability = Observability.of_function()
provider = observability.tracer.provider
sent, headers = [], []
provider._emit = lambda document: sent.append(json.loads(json.dumps(document, default=str)))  # as the emitter encodes

@observability.handler
def handler(event, context):
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register_first("before-send.*.*", lambda request, **_: headers.append(dict(request.headers)))
    client.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    try:
        client.get_item(TableName="missing", Key={"k": {"S": "1"}})
    except client.exceptions.ResourceNotFoundException:
        pass
    if event.get("fail"):
        raise RuntimeError("the handler failed")
    return {"ok": True}

class Context:
    function_name, function_version, memory_limit_in_mb = "f", "$LATEST", 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    aws_request_id = "r-1"
    def get_remaining_time_in_millis(self): return 1000

with mock_aws():
    try:
        handler({"fail": sys.argv[1] == "fail"}, Context())
    except RuntimeError:
        pass
decoded = [{k: v.decode() if isinstance(v, bytes) else v for k, v in h.items()} for h in headers]
print(json.dumps({"sent": sent, "headers": decoded, "x_ray_sdk_imported": "aws_xray_sdk" in sys.modules}))
"""


def _invoke(outcome: str, trace: str | None = TRACE, **variables: str) -> dict[str, Any]:
    env = {
        "PYTHONPATH": str(ROOT), "PATH": "", "LAMBDA_TASK_ROOT": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "tracing-test", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "MlopsKit", "AWS_LAMBDA_FUNCTION_NAME": "f",
    }  # fmt: skip
    if trace is not None:
        env["_X_AMZN_TRACE_ID"] = trace
    env.update(variables)
    completed = subprocess.run(
        [sys.executable, "-c", _INVOKE, outcome], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_an_invocation_sends_its_handler_and_aws_call_subsegments_beneath_lambdas_segment() -> None:
    result = _invoke("succeed")

    by_name: dict[str, list[dict[str, Any]]] = {}
    for document in result["sent"]:
        by_name.setdefault(document["name"], []).append(document)
    (handler,) = by_name["## handler"]
    create, get = by_name["dynamodb"]
    assert result["x_ray_sdk_imported"] is False
    assert handler["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert handler["parent_id"] == "53995c3f42cd8ad8"  # the function's segment, which Lambda sends
    assert handler["type"] == "subsegment"
    assert handler["annotations"] == {"ColdStart": True, "Service": "tracing-test"}
    assert handler["metadata"] == {"tracing-test": {"handler response": {"ok": True}}}
    assert {create["parent_id"], get["parent_id"]} == {handler["id"]}
    assert create["namespace"] == "aws"
    assert create["aws"]["operation"] == "CreateTable"
    assert create["aws"]["region"] == "us-east-1"
    assert create["http"] == {"response": {"status": 200}}
    assert "error" not in create
    assert "fault" not in create
    # A client error (400) is flagged as the X-Ray SDK flags it: error, and fault for the recorded exception.
    assert get["http"] == {"response": {"status": 400}}
    assert get["error"] is True
    assert get["cause"]["exceptions"][0]["type"] == "ResourceNotFoundException"
    assert get["cause"]["exceptions"][0]["remote"] is True
    assert handler["start_time"] <= create["start_time"] <= create["end_time"] <= handler["end_time"]
    # Each call carries the trace header naming its own subsegment, so the service's segment nests beneath it.
    sent_headers = [h["X-Amzn-Trace-Id"] for h in result["headers"]]
    # Lineage is passed on as received: Lambda's recursive loop detection counts it.
    assert sent_headers == [
        f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={create['id']};Sampled=1;Lineage=a87bd80c:1",
        f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={get['id']};Sampled=1;Lineage=a87bd80c:1",
    ]


def test_a_failed_invocation_records_the_error_on_the_handler_subsegment() -> None:
    result = _invoke("fail")

    (handler,) = [d for d in result["sent"] if d["name"] == "## handler"]
    assert handler["fault"] is True
    assert handler["cause"]["exceptions"][0]["type"] == "RuntimeError"
    assert handler["cause"]["exceptions"][0]["message"] == "the handler failed"
    assert handler["metadata"]["tracing-test"]["handler error"] == "the handler failed"


def test_an_unsampled_untraced_or_tracing_off_invocation_sends_nothing_and_keeps_lambdas_header() -> None:
    unsampled = TRACE.replace("Sampled=1", "Sampled=0")

    assert _invoke("succeed", unsampled)["sent"] == []
    assert _invoke("succeed", None)["sent"] == []
    assert _invoke("succeed", POWERTOOLS_TRACE_DISABLED="true")["sent"] == []
    # botocore passes the function's own header on (its recursion detection), untouched.
    assert {h["X-Amzn-Trace-Id"] for h in _invoke("succeed", unsampled)["headers"]} == {unsampled}


def test_the_daemon_receives_a_header_line_then_the_document() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(5)
    segment = Subsegment("## handler", "1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", sampled=True)
    segment.put_annotation("ColdStart", True)
    segment.put_annotation("not a valid key", "dropped")
    segment.close()

    DaemonEmitter(daemon.getsockname()).send(segment.document())

    header, body = daemon.recv(65_535).split(b"\n", 1)
    daemon.close()
    assert json.loads(header) == {"format": "json", "version": 1}
    assert json.loads(body) == segment.document()
    assert json.loads(body)["annotations"] == {"ColdStart": True}


def test_a_document_over_64_kb_is_sent_without_its_metadata() -> None:
    sent: list[bytes] = []

    class Socket:
        def sendto(self, data: bytes, address: Any) -> None:
            sent.append(data)

    emitter = DaemonEmitter(("127.0.0.1", 2000))
    emitter._socket = Socket()  # type: ignore[assignment]
    segment = Subsegment("## handler", "1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", sampled=True)
    segment.put_metadata("handler response", "x" * 70_000)
    segment.close()

    emitter.send(segment.document())

    body = json.loads(sent[0].split(b"\n", 1)[1])
    assert len(sent[0]) < 64_000
    assert body["metadata"] == {"default": {"dropped": "metadata over the 64 KB document limit"}}
    assert body["id"] == segment.id


@pytest.mark.parametrize(
    ("value", "address"),
    [
        (None, ("127.0.0.1", 2000)),
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", ("127.0.0.2", 2001)),
    ],
)
def test_the_daemon_address_comes_from_the_environment(value: str | None, address: tuple[str, int]) -> None:
    assert daemon_address({} if value is None else {"AWS_XRAY_DAEMON_ADDRESS": value}) == address


def test_a_malformed_daemon_address_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS='localhost'"):
        daemon_address({"AWS_XRAY_DAEMON_ADDRESS": "localhost"})


def test_the_trace_context_is_read_from_lambdas_variable() -> None:
    assert trace_context({"_X_AMZN_TRACE_ID": TRACE}) == (
        "1-5759e988-bd862e3fe1be46a994272793",
        "53995c3f42cd8ad8",
        True,
    )
    assert trace_context({}) is None
    assert trace_context({"_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793"}) is None


def test_only_botocore_can_be_patched() -> None:
    with pytest.raises(ValueError, match="cannot trace requests"):
        XRayProvider(emit=lambda document: None).patch(["botocore", "requests"])


def test_a_child_header_keeps_every_field_but_the_parent() -> None:
    assert child_header(TRACE, "0123456789abcdef") == (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=1;Lineage=a87bd80c:1"
    )
