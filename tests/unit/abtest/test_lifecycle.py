"""The lifecycle model: a plan computed and frozen, legal transitions only, clear errors for the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mlops_kit.abtest.assignment import Allocation, Variants
from mlops_kit.abtest.errors import IllegalTransitionError
from mlops_kit.abtest.metrics import GuardrailMetric, PrimaryMetric
from mlops_kit.abtest.models import (
    Decision,
    Evidence,
    Experiment,
    ExperimentPlan,
    ExperimentState,
    new_experiment,
)
from mlops_kit.abtest.planning import SampleSize, runtime, sample_size_means, sample_size_proportions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
VARIANTS = Variants(control="production", treatment="candidate")

PRIMARY = {"name": "conversion", "kind": "binary", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}
ERRORS = {"name": "error_rate", "kind": "binary", "direction": "higher_is_worse", "harm_to_detect": 0.01}


def make_plan(**changes: object) -> ExperimentPlan:
    fields: dict[str, object] = {
        "name": "checkout-model",
        "hypothesis": "the candidate ranks better, so more users convert",
        "primary": PRIMARY,
        "guardrails": [ERRORS],
        "daily_users": 2000,
    }
    return ExperimentPlan.model_validate({**fields, **changes})


def started(plan: ExperimentPlan | None = None) -> Experiment:
    return new_experiment(plan or make_plan(), at=T0).start(
        at=T0 + timedelta(hours=1),
        endpoint_name="checkout",
        variants=VARIANTS,
        salt="s1",
        allocation=Allocation(treatment_bp=1000),
    )


def decision(outcome: str = "inconclusive", at: datetime = T0 + timedelta(days=30)) -> Decision:
    return Decision(outcome=outcome, reason="no effect at the planned size", decided_at=at, decided_by="lead")


def test_a_plan_states_its_sample_size_and_runtime() -> None:
    plan = make_plan(coverage=0.5, treatment_share=0.5)

    assert plan.sample_size == sample_size_proportions(0.1, 0.01)
    assert plan.runtime == runtime(plan.sample_size, daily_users=2000, coverage=0.5)
    assert (plan.runtime.days, plan.runtime.weeks) == (30, 5)
    assert plan.primary.tau == pytest.approx(0.01)


def test_a_plan_from_text_inputs_is_sized_from_the_parsed_values() -> None:
    # The CLI and environment variables hand over strings; pydantic parses them before the plan is sized.
    plan = make_plan(daily_users="2000", coverage="0.5", primary={**PRIMARY, "baseline": "0.1", "mde": "0.1"})

    assert plan == make_plan(coverage=0.5)


def test_a_continuous_plan_uses_the_standard_deviation() -> None:
    plan = make_plan(primary={"name": "revenue", "kind": "continuous", "baseline": 20.0, "sd": 15.0, "mde": 1.0})

    assert plan.sample_size == sample_size_means(15.0, 1.0)


def test_a_stored_plan_keeps_its_numbers() -> None:
    plan = make_plan()
    stored = plan.model_dump(mode="json")
    stored["sample_size"] = {"control": 99_999, "treatment": 99_999}  # as computed by some other release

    assert ExperimentPlan.model_validate(plan.model_dump(mode="json")) == plan
    assert ExperimentPlan.model_validate(stored).sample_size == SampleSize(control=99_999, treatment=99_999)


def test_an_experiment_round_trips_through_json() -> None:
    experiment = started().ramp(at=T0 + timedelta(days=2), treatment_bp=5000).stop(decision())

    assert Experiment.model_validate_json(experiment.model_dump_json()) == experiment


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"primary": {**PRIMARY, "baseline": 1.2}}, r"baseline must be a conversion rate in \(0, 1\)"),
        ({"primary": {**PRIMARY, "baseline": 0.0}}, r"baseline must be a conversion rate in \(0, 1\)"),
        ({"primary": {**PRIMARY, "mde": 0.0}}, "mde must be a non-zero finite number"),
        ({"primary": {**PRIMARY, "mde": 9.5}}, r"mde moves the rate outside \(0, 1\)"),
        ({"primary": {**PRIMARY, "sd": 1.0}}, "sd applies to continuous metrics"),
        ({"primary": {**PRIMARY, "kind": "continuous"}}, "sd must be a finite number > 0"),
        ({"primary": {**PRIMARY, "mixing_sd": -1.0}}, "mixing_sd must be a finite number > 0"),
        ({"primary": {**PRIMARY, "per_user": "mean"}}, "per_user applies to continuous metrics"),
        ({"primary": {**PRIMARY, "window": "PT0S"}}, "window must be positive"),
        ({"alpha": 1.0}, "alpha"),
        ({"power": 0.0}, "power"),
        ({"power": 0.04}, r"power \(0.04\) must exceed alpha \(0.05\)"),
        ({"daily_users": 0}, "daily_users"),
        ({"coverage": 0.0}, "coverage"),
        ({"hypothesis": "   "}, "hypothesis must say what the treatment should change"),
        ({"name": "bad:name"}, "name"),
        ({"guardrails": [ERRORS, ERRORS]}, r"guardrail names must be unique, repeated: \['error_rate'\]"),
        (
            {"guardrails": [{**ERRORS, "name": "conversion", "window": "P1D"}]},
            "shares the primary metric's name, so it must have the same",
        ),
        ({"sample_sise": {"control": 1, "treatment": 1}}, "sample_sise"),
    ],
)
def test_bad_plans_are_rejected_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_plan(**changes)


def test_plan_errors_point_at_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        make_plan(primary={**PRIMARY, "baseline": 1.2}, alpha=2.0)

    assert {error["loc"] for error in raised.value.errors()} == {("primary",), ("alpha",)}


def test_a_guardrail_may_watch_the_primary_metric() -> None:
    guard = {**ERRORS, "name": "conversion", "direction": "lower_is_worse"}

    assert make_plan(guardrails=[guard]).metric_names == ["conversion"]


def test_start_binds_the_endpoint_and_moves_to_running() -> None:
    planned = new_experiment(make_plan(), at=T0)

    running = started()

    assert (planned.state, planned.version) == (ExperimentState.PLANNED, 1)
    assert (running.state, running.version) == (ExperimentState.RUNNING, 2)
    assert running.allocation == Allocation(treatment_bp=1000)
    assert running.phase_started_at == T0 + timedelta(hours=1)
    assert running.assign("user-1").target_variant in {"production", "candidate"}


def test_ramping_up_starts_a_new_phase_and_keeps_the_plan() -> None:
    running = started()

    ramped = running.ramp(at=T0 + timedelta(days=3), treatment_bp=5000)

    assert ramped.allocation == Allocation(treatment_bp=5000)
    assert ramped.phase_started_at == T0 + timedelta(days=3)
    assert len(ramped.allocations) == 2
    assert ramped.plan == running.plan
    moved = [u for u in (f"u{i}" for i in range(2000)) if running.assign(u).arm != ramped.assign(u).arm]
    assert moved
    assert all((running.assign(u).arm, ramped.assign(u).arm) == ("control", "treatment") for u in moved)


def test_a_stopped_experiment_routes_everyone_to_the_winner() -> None:
    shipped = started().stop(decision("ship_treatment"))
    kept = started().stop(decision("keep_control"))

    assert {shipped.assign(f"u{i}").target_variant for i in range(200)} == {"candidate"}
    assert {kept.assign(f"u{i}").target_variant for i in range(200)} == {"production"}
    assert shipped.assign("u1").arm is None


def evidence(*breached: str) -> Evidence:
    return Evidence(
        exposures_control=100,
        exposures_treatment=100,
        difference=-0.01,
        ci_low=-0.05,
        ci_high=0.03,
        sequential_p_value=0.4,
        fixed_horizon_p_value=None,
        breached_guardrails=breached,
    )


def test_a_decision_waits_for_the_plans_minimum_runtime_in_whole_weeks() -> None:
    experiment = started()
    weeks = experiment.plan.runtime.weeks
    assert experiment.launch is not None
    assert experiment.decidable_at == experiment.launch.started_at + timedelta(weeks=weeks)
    assert experiment.plan.runtime.days < 7 * weeks  # the size alone would be reached sooner: whole weeks rule
    assert new_experiment(make_plan(), at=T0).decidable_at is None
    early = experiment.decidable_at - timedelta(seconds=1)

    for outcome in ("ship_treatment", "keep_control", "inconclusive"):
        with pytest.raises(IllegalTransitionError) as refused:
            experiment.stop(decision(outcome, at=early))
        message = str(refused.value)
        assert message.startswith(f"cannot decide {outcome!r} on experiment 'checkout-model' before ")
        assert experiment.decidable_at.isoformat() in message
        assert f"minimum runtime is {weeks} whole weeks (business cycles)" in message
        assert "abandon it" in message
        assert experiment.stop(decision(outcome, at=experiment.decidable_at)).decision is not None


def test_only_a_breached_guardrail_stops_early_and_only_to_keep_control() -> None:
    experiment = started()
    day_two = T0 + timedelta(days=2)

    def stop(outcome: str, shown: Evidence | None) -> Experiment:
        return experiment.stop(
            Decision(outcome=outcome, reason="r", decided_at=day_two, decided_by="guardrail", evidence=shown)
        )

    assert stop("keep_control", evidence("error_rate")).state == ExperimentState.STOPPED
    for outcome, shown in (
        ("keep_control", evidence()),  # no breach in the evidence
        ("keep_control", None),  # no evidence at all
        ("ship_treatment", evidence("error_rate")),  # a breach never ships the treatment
        ("inconclusive", evidence("error_rate")),
    ):
        with pytest.raises(IllegalTransitionError, match="minimum runtime"):
            stop(outcome, shown)


def test_an_abandoned_test_stops_at_any_time_without_a_decision_and_serves_control() -> None:
    abandoned = started().stop(decision("abandoned", at=T0 + timedelta(hours=2)))

    assert abandoned.state == ExperimentState.STOPPED
    assert abandoned.decision is not None
    assert abandoned.decision.outcome == "abandoned"
    assert {abandoned.assign(f"u{i}").target_variant for i in range(200)} == {"production"}


@pytest.mark.parametrize(
    ("move", "message"),
    [
        (
            lambda: started().stop(decision("ship_treatment", at=T0 + timedelta(days=4))),
            "before 2025-03-2.*minimum runtime is 3 whole weeks",
        ),
        (
            lambda: started().start(
                at=T0, endpoint_name="e", variants=VARIANTS, salt="s", allocation=Allocation(treatment_bp=1)
            ),
            "already running",
        ),
        (lambda: new_experiment(make_plan(), at=T0).stop(decision()), "it was never started"),
        (lambda: started().stop(decision()).stop(decision()), "it is already stopped"),
        (lambda: new_experiment(make_plan(), at=T0).ramp(at=T0, treatment_bp=5000), "it is planned, not running"),
        (lambda: started().ramp(at=T0 + timedelta(days=1), treatment_bp=500), "only moves the treatment share up"),
        (lambda: started().ramp(at=T0 + timedelta(days=1), treatment_bp=1000), "only moves the treatment share up"),
        (
            lambda: started().stop(decision()).ramp(at=T0 + timedelta(days=40), treatment_bp=5000),
            "it is stopped, not running",
        ),
        (lambda: started().replan(make_plan()), "immutable once started"),
        (lambda: new_experiment(make_plan(), at=T0).assign("u1"), "planned, not started"),
    ],
)
def test_illegal_moves_raise_illegal_transition(move, message: str) -> None:
    with pytest.raises(IllegalTransitionError, match=message):
        move()


@pytest.mark.parametrize(
    ("move", "message"),
    [
        (
            lambda: new_experiment(make_plan(), at=T0).start(
                at=T0, endpoint_name="e", variants=VARIANTS, salt="s", allocation=Allocation(treatment_bp=0)
            ),
            "allocation must give both arms users",
        ),
        (
            lambda: new_experiment(make_plan(), at=T0).start(
                at=T0, endpoint_name="e", variants=VARIANTS, salt="s", allocation=Allocation(treatment_bp=10_000)
            ),
            "allocation must give both arms users",
        ),
        (
            lambda: new_experiment(make_plan(), at=T0).start(
                at=T0 - timedelta(days=1),
                endpoint_name="e",
                variants=VARIANTS,
                salt="s",
                allocation=Allocation(treatment_bp=10),
            ),
            "before the plan was created",
        ),
        (
            lambda: new_experiment(make_plan(), at=T0).start(
                at=T0, endpoint_name="e", variants=VARIANTS, salt="no:colons", allocation=Allocation(treatment_bp=10)
            ),
            "salt",
        ),
        (lambda: started().ramp(at=T0 + timedelta(days=1), treatment_bp=10_000), "must stay below coverage_bp"),
        (lambda: started().ramp(at=T0, treatment_bp=5000), "before the current phase began"),
        (lambda: started().stop(decision(at=T0)), "before the current phase began"),
        (lambda: new_experiment(make_plan(), at=T0).replan(make_plan(name="other")), "must keep the experiment's name"),
        (lambda: decision("ship_it"), "outcome"),
        (lambda: Decision(outcome="inconclusive", reason=" ", decided_at=T0, decided_by="me"), "reason must say why"),
        (
            lambda: Decision(outcome="inconclusive", reason="x", decided_at=datetime(2025, 1, 1), decided_by="me"),
            "timezone",
        ),
    ],
)
def test_bad_values_in_transitions_are_value_errors(move, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        move()


def test_replanning_is_allowed_before_the_start() -> None:
    planned = new_experiment(make_plan(), at=T0)

    replanned = planned.replan(make_plan(daily_users=500))

    assert replanned.plan.runtime.days > planned.plan.runtime.days
    assert replanned.version == 2


def test_a_record_whose_state_contradicts_its_content_is_rejected() -> None:
    running = started().model_dump()

    with pytest.raises(ValidationError, match="state 'planned' does not match the record"):
        Experiment.model_validate({**running, "state": "planned"})
    with pytest.raises(ValidationError, match="state 'stopped' does not match the record"):
        Experiment.model_validate({**running, "state": "stopped"})


def test_guardrail_metric_defaults() -> None:
    guard = GuardrailMetric(**ERRORS)

    assert (guard.tolerance, guard.per_user, guard.window) == (0.0, "sum", None)


def test_primary_metric_tau_defaults_to_the_absolute_mde() -> None:
    assert PrimaryMetric(**PRIMARY).tau == pytest.approx(0.01)
    assert PrimaryMetric(**{**PRIMARY, "mixing_sd": 0.03}).tau == 0.03
