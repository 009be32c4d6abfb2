"""Handlers run in-process, as Lambda runs them: loaded fresh under their function's environment (settings and
Powertools configuration), called with a Lambda context, their AWS clients replaced by in-memory fakes."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from cdk.constructs.python_function import LAMBDAS
from mlops_kit.environment import HandlerSettings

_LOADED = itertools.count()
ACCOUNT, REGION = "123456789012", "us-east-1"


@dataclass(frozen=True)
class FakeLambdaContext:
    """What Powertools reads from Lambda's context object."""

    function_name: str = "handler-under-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler-under-test"
    aws_request_id: str = "00000000-0000-4000-8000-000000000001"
    log_group_name: str = "/aws/lambda/handler-under-test"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


LoadHandler = Callable[[str, "HandlerSettings | None"], ModuleType]


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadHandler]:
    """``load_handler("drift_start", settings)``: ``lambdas/drift_start/handler.py`` loaded as a new module (no
    settings read, no client made yet) with ``settings`` in its environment (``None``: no settings variable), as
    the function's container would start it."""
    loaded: list[str] = []
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "handler-tests")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MlopsKit")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    def load(name: str, settings: HandlerSettings | None) -> ModuleType:
        if settings is not None:
            monkeypatch.setenv(type(settings).VARIABLE, settings.model_dump_json())
        unique = f"_handler_under_test_{name}_{next(_LOADED)}"
        spec = importlib.util.spec_from_file_location(unique, LAMBDAS / name / "handler.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # pydantic resolves the event models' annotations through it
        loaded.append(unique)
        spec.loader.exec_module(module)
        return module

    yield load
    for unique in loaded:
        sys.modules.pop(unique, None)


def emitted_metrics(output: str) -> dict[str, float]:
    """The application metrics an invocation flushed (Powertools writes them to stdout as EMF records), summed by
    name. ``ColdStart`` is left out: Powertools counts it once per process, whichever test runs first."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                if metric["Name"] == "ColdStart":
                    continue
                value = record[metric["Name"]]
                found[metric["Name"]] = found.get(metric["Name"], 0.0) + float(
                    sum(value) if isinstance(value, list) else value
                )
    return found


def eventbridge_event(
    source: str, detail_type: str, detail: dict[str, Any], *, time: str = "2026-03-10T12:00:00Z"
) -> dict[str, Any]:
    """An event as EventBridge delivers it to a Lambda target."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [],
        "detail": detail,
    }
