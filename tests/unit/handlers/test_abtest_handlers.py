"""The A/B functions in-process: outcome events, the HTTP router and the scheduled status job, each with one event
it handles and one it refuses."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_kit.abtest.names import METRICS_NAMESPACE, OUTCOME_DETAIL_TYPE, OUTCOME_SOURCE
from mlops_kit.abtest.repository import InMemoryRepository
from mlops_kit.abtest.service import ExperimentService
from tests.unit.abtest.test_routing import FakeTable, running
from tests.unit.abtest.test_scheduled import FakeCloudWatch, FakeOperations
from tests.unit.abtest.test_service import NAME, T0, VARIANTS, Clock, make_plan
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler, emitted_metrics, eventbridge_event
from tests.unit.handlers.examples import OUTCOME, ROUTER, STATUS


@pytest.fixture
def experiment() -> tuple[ExperimentService, str]:
    """A running experiment and a user it served an hour after the start."""
    clock = Clock()
    service = ExperimentService(InMemoryRepository(), clock=clock)
    service.plan(make_plan())
    clock.now = T0 + timedelta(hours=1)
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    user = next(u for u in (f"u-{i}" for i in range(100)) if service.assign(NAME, u).arm is not None)
    return service, user


def outcome_event(**detail: Any) -> dict[str, Any]:
    return eventbridge_event(OUTCOME_SOURCE, OUTCOME_DETAIL_TYPE, detail, time="2025-03-03T03:00:00Z")


def test_an_outcome_event_of_a_served_user_is_recorded_and_counted(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    experiment: tuple[ExperimentService, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, user = experiment
    module = load_handler("abtest_outcome", OUTCOME)
    monkeypatch.setattr(module, "service", lambda: service)

    result = module.handler(outcome_event(experiment=NAME, user_id=user, metric="conversion"), context)

    assert result["recorded"] is True
    (recorded,) = service.repository.list_outcomes(NAME)
    assert (recorded.user_id, recorded.metric, recorded.event_id) == (user, "conversion", result["event_id"])
    assert recorded.at == T0 + timedelta(hours=3, seconds=1) - timedelta(microseconds=1)  # the end of its second
    assert emitted_metrics(capsys.readouterr().out) == {"OutcomesRecorded": 1.0}


def test_an_outcome_event_without_a_user_is_rejected_with_the_field_named_not_retried(
    load_handler: LoadHandler,
    context: FakeLambdaContext,
    experiment: tuple[ExperimentService, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, _ = experiment
    module = load_handler("abtest_outcome", OUTCOME)
    monkeypatch.setattr(module, "service", lambda: service)

    result = module.handler(outcome_event(experiment=NAME, metric="conversion"), context)

    assert result["recorded"] is False
    assert "detail.user_id" in result["reason"]
    assert "Field required" in result["reason"]
    assert service.repository.list_outcomes(NAME) == []
    assert emitted_metrics(capsys.readouterr().out) == {"OutcomesRejected": 1.0}


def rest_request(method: str, path: str, resource: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway REST (proxy integration) request, signed by an IAM user."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "v1",
            "path": f"/v1{path}",
            "identity": {"userArn": "arn:aws:iam::123456789012:user/checkout-service"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_the_router_answers_a_users_assignment_and_records_the_exposure(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = FakeTable(running(coverage=1.0))
    module = load_handler("abtest_router", ROUTER)
    monkeypatch.setattr(module, "route_table", lambda: table)

    response = module.handler(
        rest_request(
            "GET", "/experiments/checkout-model/assignments/user-1", "/experiments/{experiment}/assignments/{user_id}"
        ),
        context,
    )

    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    expected = running(coverage=1.0).assign("user-1")
    assert (answer["arm"], answer["target_variant"], answer["user_id"]) == (
        expected.arm,
        expected.target_variant,
        "user-1",
    )
    assert [(user, arm) for user, arm, _ in table.writes] == [("user-1", expected.arm)]


def test_the_router_refuses_an_invocation_without_a_user_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = FakeTable(running(coverage=1.0))
    module = load_handler("abtest_router", ROUTER)
    monkeypatch.setattr(module, "route_table", lambda: table)

    response = module.handler(
        rest_request(
            "POST", "/experiments/checkout-model/invocations", "/experiments/{experiment}/invocations", {"payload": {}}
        ),
        context,
    )

    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"message": "invalid request: user_id: Field required"}
    assert table.writes == []


def test_the_status_job_checks_every_experiment_and_publishes_its_metrics(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    service = ExperimentService(InMemoryRepository(), clock=clock)
    service.plan(make_plan())
    clock.now = T0 + timedelta(hours=1)
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    cloudwatch = FakeCloudWatch()
    module = load_handler("abtest_status", STATUS)
    job = module.StatusJob(FakeOperations({NAME: service.status(NAME)}, {"a-broken-one"}), cloudwatch)
    monkeypatch.setattr(module, "job", lambda: job)

    result = module.handler({"trigger": "schedule"}, context)

    assert result["experiments"][NAME]["recommendation"] == "continue"
    assert result["experiments"]["a-broken-one"] == {"error": "TimeoutError: endpoint busy while checking a-broken-one"}
    assert [call["Namespace"] for call in cloudwatch.calls] == [METRICS_NAMESPACE]


def test_the_status_job_refuses_an_input_it_does_not_know(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloudwatch = FakeCloudWatch()
    module = load_handler("abtest_status", STATUS)
    monkeypatch.setattr(module, "job", lambda: module.StatusJob(FakeOperations({}, set()), cloudwatch))

    with pytest.raises(ValidationError, match="trigger"):
        module.handler({"trigger": "hourly"}, context)
    assert cloudwatch.calls == []
