"""The lifecycle over a repository: routing, exposures, outcomes, status, guardrail stop, decisions, plot."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import matplotlib.image
import numpy as np
import pytest

from mlops_kit.abtest.assignment import Allocation, Variants
from mlops_kit.abtest.errors import (
    ConcurrentUpdateError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    IllegalTransitionError,
    UnexposedUserError,
)
from mlops_kit.abtest.fixed import two_proportion_ztest
from mlops_kit.abtest.models import ExperimentPlan, ExperimentState
from mlops_kit.abtest.plot import plot_sequential, plot_status
from mlops_kit.abtest.report import SequentialPath, look_times
from mlops_kit.abtest.repository import InMemoryRepository
from mlops_kit.abtest.sequential import ArmSeries, msprt
from mlops_kit.abtest.service import GUARDRAIL_DECIDER, ExperimentService
from mlops_kit.abtest.totals import ArmTotals

T0 = datetime(2025, 3, 3, tzinfo=UTC)
NAME = "checkout-model"
VARIANTS = Variants(control="production", treatment="candidate")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make_plan(**changes: object) -> ExperimentPlan:
    fields: dict[str, object] = {
        "name": NAME,
        "hypothesis": "the candidate ranks better, so more users convert",
        "primary": {"name": "conversion", "kind": "binary", "baseline": 0.3, "mde": 0.1, "window": "P1D"},
        "guardrails": [
            {"name": "error_rate", "kind": "binary", "direction": "higher_is_worse", "harm_to_detect": 0.05},
            {
                "name": "latency_ms",
                "kind": "continuous",
                "per_user": "mean",
                "direction": "higher_is_worse",
                "harm_to_detect": 20.0,
            },
            {"name": "revenue", "kind": "continuous", "direction": "lower_is_worse", "harm_to_detect": 1.0},
        ],
        "daily_users": 200,
        "min_samples": 20,
    }
    return ExperimentPlan.model_validate({**fields, **changes})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> ExperimentService:
    return ExperimentService(InMemoryRepository(), clock=clock)


@pytest.fixture
def running(service: ExperimentService, clock: Clock) -> ExperimentService:
    service.plan(make_plan())
    clock.now = T0 + timedelta(hours=1)
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    return service


Behaviour = Callable[[str, np.random.Generator], dict[str, list[tuple[float, float]]]]


def simulate(
    service: ExperimentService, clock: Clock, *, users: range, start: datetime, hours: float, behaviour: Behaviour
) -> None:
    """Users arrive evenly over ``hours`` from ``start``; ``behaviour(arm)`` gives (delay hours, value) per metric."""
    rng = np.random.default_rng(users.start)
    step = hours / len(users)
    for i, user in enumerate(users):
        clock.now = start + timedelta(hours=i * step)
        assignment = service.assign(NAME, f"user-{user}")
        if assignment.arm is None:
            continue
        for metric, events in behaviour(assignment.arm, rng).items():
            for delay, value in events:
                at = clock.now + timedelta(hours=delay)
                service.record_outcome(NAME, f"user-{user}", metric=metric, value=value, at=at)


def neutral(arm: str, rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    events: dict[str, list[tuple[float, float]]] = {
        "latency_ms": [(0.0, float(rng.normal(120, 30))) for _ in range(int(rng.integers(0, 3)))],
        "revenue": [(float(rng.uniform(0, 48)), float(rng.exponential(20)))] if rng.random() < 0.3 else [],
    }
    if rng.random() < 0.3:
        events["conversion"] = [(float(rng.uniform(0, 36)), 1.0)]  # some land after the 24 h window
    if rng.random() < 0.02:
        events["error_rate"] = [(0.0, 1.0)]
    return events


def lift(arm: str, rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    events = neutral(arm, rng)
    if arm == "treatment" and rng.random() < 0.2:
        events["conversion"] = [(float(rng.uniform(0, 36)), 1.0)]
    return events


def harmful(arm: str, rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    events = neutral(arm, rng)
    if arm == "treatment" and rng.random() < 0.15:
        events["error_rate"] = [(0.0, 1.0)]
    return events


def test_unknown_experiment_is_reported_with_the_known_ones(running: ExperimentService) -> None:
    for call in (
        lambda: running.status("nope"),
        lambda: running.assign("nope", "user-1"),
        lambda: running.record_outcome("nope", "user-1", metric="conversion"),
        lambda: running.stop("nope", outcome="inconclusive", reason="x", decided_by="me"),
    ):
        with pytest.raises(
            ExperimentNotFoundError, match=r"unknown experiment 'nope'; known experiments: checkout-model"
        ):
            call()


def test_a_name_is_planned_once(running: ExperimentService) -> None:
    with pytest.raises(ExperimentExistsError, match="already exists"):
        running.plan(make_plan())


def test_an_outcome_needs_an_exposure_at_or_before_it(running: ExperimentService, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=1)
    running.assign(NAME, "user-1")

    with pytest.raises(UnexposedUserError, match=r"user 'stranger' has no exposure .* \(never exposed\)"):
        running.record_outcome(NAME, "stranger", metric="conversion")
    with pytest.raises(UnexposedUserError, match="first exposed 2025-03-04T00:00:00"):
        running.record_outcome(NAME, "user-1", metric="conversion", at=T0 + timedelta(hours=12))
    assert running.record_outcome(NAME, "user-1", metric="conversion").user_id == "user-1"


def test_users_outside_the_coverage_are_routed_but_not_exposed(service: ExperimentService, clock: Clock) -> None:
    service.plan(make_plan(coverage=0.5))
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    outside = next(f"u{i}" for i in range(100) if service.assign(NAME, f"u{i}").arm is None)

    assert service.assign(NAME, outside).target_variant == "production"
    assert service.repository.get_exposure(NAME, outside) is None
    with pytest.raises(UnexposedUserError):
        service.record_outcome(NAME, outside, metric="conversion")


def test_outcomes_name_a_measured_metric_and_a_started_experiment(service: ExperimentService) -> None:
    service.plan(make_plan())
    with pytest.raises(IllegalTransitionError, match="has not started"):
        service.record_outcome(NAME, "user-1", metric="conversion")
    with pytest.raises(IllegalTransitionError, match="planned, not started"):
        service.status(NAME)

    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    service.assign(NAME, "user-1")
    with pytest.raises(
        ValueError, match=r"unknown metric 'clicks'; this experiment measures \['conversion', 'error_rate'"
    ):
        service.record_outcome(NAME, "user-1", metric="clicks")
    with pytest.raises(ValueError, match="value"):
        service.record_outcome(NAME, "user-1", metric="revenue", value=float("nan"))


def test_status_right_after_the_start_has_nothing_to_say_yet(running: ExperimentService, clock: Clock) -> None:
    report = running.status(NAME)

    assert (report.exposures_control, report.exposures_treatment, report.progress) == (0, 0, 0.0)
    assert (report.primary.difference, report.primary.ci_low, report.primary.p_value) == (None, None, 1.0)
    assert report.recommendation == "continue"
    assert plot_status(report.primary).startswith(b"\x89PNG")


def test_exposures_and_outcomes_are_recorded_once(running: ExperimentService, clock: Clock) -> None:
    first = clock.now
    running.assign(NAME, "user-1")
    clock.now = first + timedelta(hours=5)
    running.assign(NAME, "user-1")
    running.record_outcome(NAME, "user-1", metric="revenue", value=12.5)
    running.record_outcome(NAME, "user-1", metric="revenue", value=12.5)  # a retried write
    running.record_outcome(NAME, "user-1", metric="revenue", value=12.5, event_id="order-2")

    exposures = running.repository.list_exposures(NAME)
    assert [(e.user_id, e.at) for e in exposures] == [("user-1", first)]
    assert len(running.repository.list_outcomes(NAME)) == 2


def test_concurrent_writers_cannot_both_win() -> None:
    repository = InMemoryRepository()
    service = ExperimentService(repository, clock=lambda: T0)
    service.plan(make_plan())
    service.start(
        NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1", allocation=Allocation(treatment_bp=1000)
    )
    read_by_a = repository.get_experiment(NAME)
    read_by_b = repository.get_experiment(NAME)

    repository.put_experiment(read_by_a.ramp(at=T0, treatment_bp=2000))

    with pytest.raises(ConcurrentUpdateError, match="is at version 3, this update follows version 2"):
        repository.put_experiment(read_by_b.ramp(at=T0, treatment_bp=5000))
    tampered = repository.get_experiment(NAME).model_copy(update={"plan": make_plan(daily_users=5), "version": 4})
    with pytest.raises(IllegalTransitionError, match="immutable once started"):
        repository.put_experiment(tampered)


def test_status_is_the_msprt_over_the_users_of_the_phase(running: ExperimentService, clock: Clock) -> None:
    # Given 600 users over three days with delayed conversions (some after the 24 h window), latencies, revenue
    # and a lift in conversion,
    start = clock.now
    simulate(running, clock, users=range(600), start=start, hours=72, behaviour=lift)
    at = start + timedelta(days=3, hours=12)

    # When the status is computed,
    report = running.status(NAME, at=at)

    # Then it is the mSPRT of per-look totals recomputed here, independently, from the raw records.
    exposures = {e.user_id: e for e in running.repository.list_exposures(NAME)}
    outcomes = running.repository.list_outcomes(NAME)
    looks = look_times(start, at, timedelta(days=1))
    assert len(looks) == 4
    assert looks[-1] == at

    def totals(metric: str, look: datetime, window: timedelta | None, per_user: str) -> list[ArmTotals]:
        arms: dict[str, list[float]] = {"control": [], "treatment": []}
        for user, exposure in exposures.items():
            if exposure.at + (window or timedelta(0)) > look:
                continue
            end = min(look, exposure.at + window) if window else look
            values = [
                o.value for o in outcomes if o.user_id == user and o.metric == metric and exposure.at <= o.at <= end
            ]
            if per_user == "any":
                arms[exposure.arm].append(1.0 if any(values) else 0.0)
            elif per_user == "sum":
                arms[exposure.arm].append(sum(values))
            elif values:
                arms[exposure.arm].append(sum(values) / len(values))
        return [ArmTotals.from_values(arms["control"]), ArmTotals.from_values(arms["treatment"])]

    def series(metric: str, window: timedelta | None, per_user: str) -> tuple[ArmSeries, ArmSeries]:
        per_look = [totals(metric, look, window, per_user) for look in looks]
        return ArmSeries.from_totals([c for c, _ in per_look]), ArmSeries.from_totals([t for _, t in per_look])

    control, treatment = series("conversion", timedelta(days=1), "any")
    expected = msprt(control, treatment, kind="binary", mixing_sd=0.1, min_samples=20)
    assert report.primary.path.n_control == tuple(int(n) for n in control.n)
    assert report.primary.path.n_treatment == tuple(int(n) for n in treatment.n)
    assert report.primary.path.p_value == pytest.approx(tuple(expected.p_value))
    assert report.primary.p_value < 0.5  # the comparison is not between two runs of p = 1
    assert report.primary.difference == pytest.approx(expected.difference[-1])
    assert (report.primary.ci_low, report.primary.ci_high) == (
        pytest.approx(expected.ci_low[-1]),
        pytest.approx(expected.ci_high[-1]),
    )
    assert report.exposures_control + report.exposures_treatment == 600
    earlier = running.status(NAME, at=start + timedelta(hours=36))
    assert earlier.exposures_control + earlier.exposures_treatment == 301  # users 0..300: as of then, not now
    assert report.primary.n_control + report.primary.n_treatment < 600  # the last day's windows are still open

    latency_c, latency_t = series("latency_ms", None, "mean")
    revenue_c, revenue_t = series("revenue", None, "sum")
    latency, revenue = report.guardrails[1], report.guardrails[2]
    assert latency.treatment_mean == pytest.approx(latency_t.mean()[-1])
    assert latency.control_mean == pytest.approx(latency_c.mean()[-1])
    assert int(latency_c.n[-1] + latency_t.n[-1]) < 600  # users without a latency are left out of a mean
    assert revenue.harm == pytest.approx(revenue_c.mean()[-1] - revenue_t.mean()[-1])  # lower is worse
    assert int(revenue_c.n[-1] + revenue_t.n[-1]) == 600  # users without revenue count as 0


def test_a_neutral_treatment_runs_to_the_planned_size_and_is_not_stopped(
    running: ExperimentService, clock: Clock
) -> None:
    plan = running.repository.get_experiment(NAME).plan
    start = clock.now
    simulate(running, clock, users=range(2 * plan.sample_size.total), start=start, hours=96, behaviour=neutral)

    at = start + timedelta(weeks=plan.runtime.weeks)  # the plan's minimum runtime, whole weeks
    report = running.status(NAME, at=at)

    assert running.stop_if_harmful(NAME, at=at) is None
    assert not any(g.breached for g in report.guardrails)
    assert report.recommendation == "decide"
    assert report.message.startswith("planned sample reached")
    assert report.progress == 1.0
    # The fixed-horizon test is the pre-registered one: on the first planned users of each arm.
    fixed = report.primary.fixed_horizon
    assert fixed is not None
    assert (fixed.n_control, fixed.n_treatment) == (plan.sample_size.control, plan.sample_size.treatment)
    first = sorted(running.repository.list_exposures(NAME), key=lambda e: (e.at, e.user_id))
    converted = {
        o.user_id
        for o in running.repository.list_outcomes(NAME)
        if o.metric == "conversion" and o.at <= next(e.at for e in first if e.user_id == o.user_id) + timedelta(days=1)
    }
    arms = {}
    for arm, size in (("control", plan.sample_size.control), ("treatment", plan.sample_size.treatment)):
        chosen = [e.user_id for e in first if e.arm == arm][:size]
        arms[arm] = ArmTotals.from_conversions(size, sum(u in converted for u in chosen))
    assert fixed == two_proportion_ztest(arms["control"], arms["treatment"], alpha=plan.alpha)


def test_a_harmful_treatment_is_stopped_early_by_the_guardrail(running: ExperimentService, clock: Clock) -> None:
    plan = running.repository.get_experiment(NAME).plan
    start = clock.now
    simulate(running, clock, users=range(plan.sample_size.total // 2), start=start, hours=48, behaviour=harmful)

    stopped = running.stop_if_harmful(NAME, at=start + timedelta(days=2))

    assert stopped is not None
    assert stopped.decision is not None
    assert stopped.state == ExperimentState.STOPPED
    assert (stopped.decision.outcome, stopped.decision.decided_by) == ("keep_control", GUARDRAIL_DECIDER)
    assert stopped.decision.evidence is not None
    assert stopped.decision.evidence.breached_guardrails == ("error_rate",)
    assert "error_rate worse by" in stopped.decision.reason
    report = running.status(NAME, at=start + timedelta(days=9))
    assert report.recommendation == "stopped"
    assert report.at == stopped.decision.decided_at
    assert report.guardrails[0].breached_at is not None
    assert {running.assign(NAME, f"user-{i}").target_variant for i in range(50)} == {"production"}


def test_a_significant_result_before_the_minimum_runtime_is_not_yet_a_decision(
    running: ExperimentService, clock: Clock
) -> None:
    # Given a treatment whose lift is proven within three days of a one-week plan,
    experiment = running.repository.get_experiment(NAME)
    decidable_at = experiment.decidable_at
    assert decidable_at is not None
    assert experiment.plan.runtime.weeks == 1
    start = clock.now
    simulate(running, clock, users=range(3 * experiment.plan.sample_size.total), start=start, hours=72, behaviour=lift)
    day_four = start + timedelta(days=4)

    report = running.status(NAME, at=day_four)

    # the status says to continue, and when the test may be decided,
    assert report.primary.significant
    assert report.recommendation == "continue"
    assert report.decidable_at == decidable_at
    assert report.message.startswith(f"minimum runtime not reached: decidable from {decidable_at.isoformat()}")
    assert report.message.endswith("significant so far")
    # shipping it now is refused and nothing is recorded,
    with pytest.raises(IllegalTransitionError, match=re.escape(f"before {decidable_at.isoformat()}")):
        running.stop(NAME, outcome="ship_treatment", reason="clearly better", decided_by="lead", at=day_four)
    assert running.repository.get_experiment(NAME) == experiment
    assert running.stop_if_harmful(NAME, at=day_four) is None  # no guardrail breached: the test runs on
    # and from the end of the week the same data is a decision.
    assert running.status(NAME, at=decidable_at).recommendation == "decide"
    shipped = running.stop(NAME, outcome="ship_treatment", reason="clearly better", decided_by="lead", at=decidable_at)
    assert shipped.decision is not None
    assert shipped.decision.outcome == "ship_treatment"


def test_after_a_ramp_only_users_new_to_the_phase_are_analysed(service: ExperimentService, clock: Clock) -> None:
    service.plan(make_plan())
    service.start(
        NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1", allocation=Allocation(treatment_bp=1000)
    )
    simulate(service, clock, users=range(300), start=T0, hours=24, behaviour=neutral)
    ramp_at = T0 + timedelta(days=1)
    service.ramp(NAME, treatment_bp=5000, at=ramp_at)
    simulate(service, clock, users=range(150, 450), start=ramp_at, hours=24, behaviour=neutral)  # 150 return

    report = service.status(NAME, at=ramp_at + timedelta(days=3))

    assert (report.phase, report.phase_started_at) == (2, ramp_at)
    assert report.exposures_control + report.exposures_treatment == 150
    assert report.allocation == Allocation(treatment_bp=5000)


def test_stop_records_the_decision_with_the_evidence(running: ExperimentService, clock: Clock) -> None:
    simulate(running, clock, users=range(300), start=clock.now, hours=24, behaviour=neutral)
    at = running.repository.get_experiment(NAME).decidable_at

    stopped = running.stop(NAME, outcome="inconclusive", reason="the team needs the endpoint", decided_by="lead", at=at)

    assert stopped.decision is not None
    assert stopped.decision.evidence is not None
    evidence = stopped.decision.evidence
    assert evidence.exposures_control + evidence.exposures_treatment == 300
    assert evidence.sequential_p_value == running.status(NAME, at=at).primary.p_value
    assert running.repository.get_experiment(NAME) == stopped
    with pytest.raises(IllegalTransitionError, match="already stopped"):
        running.stop(NAME, outcome="ship_treatment", reason="changed my mind", decided_by="lead")


def test_the_plot_is_a_png_of_the_path(running: ExperimentService, clock: Clock) -> None:
    simulate(running, clock, users=range(400), start=clock.now, hours=72, behaviour=neutral)
    report = running.status(NAME, at=T0 + timedelta(days=4))

    png = plot_status(report.primary)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert image.shape == (600, 800, 4)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    with pytest.raises(ValueError, match="no looks"):
        plot_sequential(
            SequentialPath(looks=(), n_control=(), n_treatment=(), difference=(), ci_low=(), ci_high=(), p_value=()),
            alpha=0.05,
        )
