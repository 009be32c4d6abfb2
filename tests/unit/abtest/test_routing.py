"""The request path: a stored route assigns exactly as the experiment does, the router records each user's first
exposure once, stops routing after the decision, and loads neither numpy nor scipy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_kit.abtest.assignment import Allocation, Assignment, Variants
from mlops_kit.abtest.errors import IllegalTransitionError
from mlops_kit.abtest.models import Decision, Experiment, ExperimentPlan, new_experiment
from mlops_kit.abtest.routing import ExperimentRouter, Route, route_json

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 3, 3, tzinfo=UTC)
VARIANTS = Variants(control="blue", treatment="green")
USERS = [f"user-{i}" for i in range(400)] + ["alice", "42", "ユーザー"]


def plan(**changes: object) -> ExperimentPlan:
    return ExperimentPlan.model_validate(
        {
            "name": "checkout-model",
            "hypothesis": "the candidate converts better",
            "primary": {"name": "conversion", "kind": "binary", "baseline": 0.2, "mde": 0.05},
            "daily_users": 500,
            **changes,
        }
    )


def running(coverage: float = 0.9) -> Experiment:
    return new_experiment(plan(coverage=coverage), at=T0).start(
        at=T0, endpoint_name="checkout", variants=VARIANTS, salt="s1", allocation=Allocation.from_shares(0.3, coverage)
    )


def stopped(outcome: str) -> Experiment:
    decision = Decision(outcome=outcome, reason="enough evidence", decided_at=T0 + timedelta(days=9), decided_by="me")
    return running().ramp(at=T0 + timedelta(days=2), treatment_bp=5000).stop(decision)


@pytest.mark.parametrize(
    "experiment",
    [running(), running(coverage=1.0), running().ramp(at=T0, treatment_bp=6000), stopped("ship_treatment"),
     stopped("keep_control"), stopped("inconclusive")],
    ids=["running", "full-coverage", "ramped", "shipped", "kept", "inconclusive"],
)  # fmt: skip
def test_the_stored_route_assigns_exactly_as_the_experiment(experiment: Experiment) -> None:
    stored = route_json(experiment)
    assert stored is not None
    route = Route.model_validate_json(stored)

    assert route == Route.of(experiment)
    assert [route.assign(u) for u in USERS] == [experiment.assign(u) for u in USERS]
    assert route.running == (experiment.decision is None)


def test_a_planned_experiment_has_no_route() -> None:
    experiment = new_experiment(plan(), at=T0)

    assert Route.of(experiment) is None
    assert route_json(experiment) is None


class FakeTable:
    """A RouteTable stand-in: serves a route (or an error), counts reads, keeps exposure writes."""

    def __init__(self, experiment: Experiment | None) -> None:
        self.experiment = experiment
        self.reads = 0
        self.writes: list[tuple[str, str | None, datetime]] = []

    def route(self, name: str) -> Route:
        self.reads += 1
        route = Route.of(self.experiment) if self.experiment else None
        if route is None:
            raise IllegalTransitionError(f"experiment {name!r} is planned, not started: it has no variants yet")
        return route

    def record_exposure(self, assignment: Assignment, *, at: datetime) -> bool:
        self.writes.append((assignment.user_id, assignment.arm, at))
        return True


def test_the_router_records_each_users_first_exposure_once() -> None:
    table = FakeTable(running())
    router = ExperimentRouter(table, "checkout-model", clock=lambda: T0)  # type: ignore[arg-type]

    variants = [router(u) for u in USERS for _ in range(3)]

    expected = [running().assign(u) for u in USERS]
    assert variants == [a.target_variant for a in expected for _ in range(3)]
    in_experiment = [a for a in expected if a.arm is not None]
    assert [(u, arm) for u, arm, _ in table.writes] == [(a.user_id, a.arm) for a in in_experiment]
    assert len(in_experiment) < len(USERS)  # users outside the 90% coverage are served control, not recorded
    assert table.reads == 1  # the route is cached for refresh_seconds


def test_the_router_forgets_the_least_recent_users_beyond_its_memory() -> None:
    table = FakeTable(running(coverage=1.0))
    router = ExperimentRouter(table, "checkout-model", remember_users=2)  # type: ignore[arg-type]

    for user in ["a", "b", "a", "c", "a", "b"]:
        router(user)

    assert [u for u, _, _ in table.writes] == ["a", "b", "c", "b"]  # b was forgotten when c came; a stayed recent


def test_the_router_rereads_the_route_and_stops_routing_after_the_decision() -> None:
    table = FakeTable(new_experiment(plan(), at=T0))
    router = ExperimentRouter(table, "checkout-model", refresh_seconds=0.0)  # type: ignore[arg-type]

    with pytest.raises(IllegalTransitionError, match="planned, not started"):
        router("u1")
    table.experiment = running()
    assert router("u1") in {"blue", "green"}
    table.experiment = stopped("ship_treatment")
    assert router("u1") is None  # the endpoint's own weights decide once the experiment has stopped
    assert router.assign("u1") is None
    assert table.reads == 4  # refresh_seconds=0: every call re-reads


def run_without(packages: list[str], code: str) -> subprocess.CompletedProcess[str]:
    blocker = "import sys\n" + "".join(f"sys.modules[{p!r}] = None\n" for p in packages)
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, check=False, env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )  # fmt: skip


def test_routing_and_the_http_router_need_neither_numpy_nor_scipy() -> None:
    result = run_without(
        ["numpy", "scipy", "matplotlib"],
        """
        import os
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        from mlops_kit.abtest.assignment import Allocation, Variants
        from mlops_kit.abtest.routing import Route
        import lambdas.abtest_router.handler

        route = Route(experiment="checkout-model", state="running", endpoint_name="checkout",
                      variants=Variants(control="blue", treatment="green"), salt="s1",
                      allocation=Allocation(treatment_bp=5000))
        print(route.assign("user-1").arm, route.assign("user-2").arm)
        """,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["treatment", "control"]  # the published test vectors


class FakeRoutes(FakeTable):
    """A RouteTable stand-in that also answers which experiment runs on an endpoint."""

    def running_on(self, endpoint: str) -> Route:
        from mlops_kit.abtest.routing import NoRunningExperimentError

        route = Route.of(self.experiment) if self.experiment else None
        if route is None or not route.running or route.endpoint_name != endpoint:
            raise NoRunningExperimentError(f"no A/B experiment is running on endpoint {endpoint!r}")
        return route


def test_the_endpoint_router_follows_whichever_experiment_runs_on_the_endpoint() -> None:
    from mlops_kit.abtest.routing import EndpointRouter

    table = FakeRoutes(None)
    router = EndpointRouter(table, "checkout", refresh_seconds=0.0)  # type: ignore[arg-type]

    assert router("u1") is None  # nothing runs: the endpoint's weights decide
    table.experiment = running(coverage=1.0)
    assert router("u1") == running(coverage=1.0).assign("u1").target_variant
    table.experiment = stopped("keep_control")
    assert router("u1") is None
    assert [u for u, _, _ in table.writes] == ["u1"]
