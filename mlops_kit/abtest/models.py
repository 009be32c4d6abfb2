"""The experiment lifecycle as immutable models and pure transitions: plan -> start (-> ramp) -> stop.

``Experiment`` values never change; each transition returns a new one with ``version + 1``, so storage can
write it conditionally on the version it read (no lost updates between the CLI and the scheduled status job).

* **planned**: the plan (hypothesis, metrics, MDE, alpha, power, and the sample size and runtime computed
  from them) may still be replaced (:meth:`Experiment.replan`).
* **running**: bound to an endpoint's two production variants with a salt and an allocation. The plan is
  frozen. The treatment share may be ramped up (never down, and coverage never changes), which starts a new
  analysis *phase*: only users first exposed in the current phase are analysed, because a user's arm in a
  phase is then decided by the hash alone (a user moved from control to treatment by a ramp carries the
  control experience, and comparing arms that were filled under different splits mixes time effects into
  the comparison).
* **stopped**: with a recorded decision (ship treatment, keep control, inconclusive) and its reason, or
  abandoned without one. Routing then sends everyone to the winner (control unless the treatment shipped).

A decision waits for the plan's minimum runtime, whole weeks from the start (:attr:`Experiment.decidable_at`):
a test read mid-week over-weights the weekdays it saw, and a significant result on the first days is the
novelty effect as often as the treatment. Before then only two stops are allowed: ``keep_control`` when the
decision's evidence shows a breached guardrail (harm is not waited out), and ``abandoned`` (no decision: the
test is called off, and the record says so).

Illegal moves raise :class:`~.errors.IllegalTransitionError`; bad values raise ``ValueError``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    field_validator,
    model_validator,
)

from mlops_kit.abtest.assignment import (
    NAME_PATTERN,
    SALT_PATTERN,
    VARIANT_PATTERN,
    Allocation,
    Arm,
    Assignment,
    Variants,
    arm_of,
    bucket_of,
)
from mlops_kit.abtest.errors import IllegalTransitionError
from mlops_kit.abtest.metrics import GuardrailMetric, Metric, PrimaryMetric
from mlops_kit.abtest.planning import (
    Runtime,
    SampleSize,
    runtime,
    sample_size_means,
    sample_size_proportions,
)
from mlops_kit.abtest.totals import DEFAULT_MIN_SAMPLES


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Placeholders while the inputs are validated (not validated themselves: a real size is at least 1 per arm).
_UNSET_SIZE = SampleSize.model_construct(control=0, treatment=0)
_UNSET_RUNTIME = Runtime.model_construct(days=0, weeks=0)


def _unsized(data: dict[str, Any]) -> bool:
    """A stored plan whose size is 0 users: written by ``ExperimentPlan(**fields)`` before it computed the size,
    so it was never a plan; it is computed now rather than refused, so ``status`` and ``stop`` work on it."""
    size = data["sample_size"]
    arms = size.model_dump() if isinstance(size, SampleSize) else size
    return isinstance(arms, dict) and arms.get("control") == 0 and arms.get("treatment") == 0


class ExperimentPlan(_Frozen):
    """What the experiment tests and how big it must be, fixed before it starts.

    ``daily_users`` is the expected number of new users per day reaching the endpoint, ``coverage`` the
    fraction of them in the experiment, ``treatment_share`` the fraction of those in treatment.
    ``guardrail_alpha`` is shared by all guardrails (see :mod:`.guardrails`). ``sample_size`` and ``runtime``
    are computed from the rest when absent (a new plan) and kept when present (a stored plan, so a later
    release of the formulas never rewrites the plan of a running experiment).

    Raises ``ValueError`` naming the field for any out-of-range value, duplicate guardrail names, or a
    guardrail that shares the primary metric's name but measures it differently.
    """

    name: str = Field(pattern=NAME_PATTERN)
    hypothesis: str = Field(min_length=1)
    primary: PrimaryMetric
    guardrails: tuple[GuardrailMetric, ...] = ()
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    power: float = Field(0.8, gt=0.0, lt=1.0)
    guardrail_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    daily_users: float = Field(gt=0.0, allow_inf_nan=False)
    coverage: float = Field(1.0, gt=0.0, le=1.0)
    treatment_share: float = Field(0.5, gt=0.0, lt=1.0)
    min_samples: int = Field(DEFAULT_MIN_SAMPLES, ge=2)
    sample_size: SampleSize
    runtime: Runtime

    @model_validator(mode="wrap")
    @classmethod
    def _compute_size(cls, data: Any, handler: ModelWrapValidatorHandler[ExperimentPlan]) -> ExperimentPlan:
        if not isinstance(data, dict) or ("sample_size" in data and "runtime" in data and not _unsized(data)):
            return handler(data)
        # Validate the inputs first (errors at their fields), then size the test from the validated values;
        # a planning error left (power <= alpha: valid alone, not together) becomes a validation error too.
        draft = handler({**data, "sample_size": _UNSET_SIZE, "runtime": _UNSET_RUNTIME})
        primary = draft.primary
        alpha, power, share = draft.alpha, draft.power, draft.treatment_share
        if primary.kind == "binary":
            size = sample_size_proportions(
                primary.baseline, primary.absolute_mde, alpha=alpha, power=power, treatment_share=share
            )
        else:
            assert primary.sd is not None  # guaranteed by PrimaryMetric for continuous metrics
            size = sample_size_means(primary.sd, primary.absolute_mde, alpha=alpha, power=power, treatment_share=share)
        days = runtime(
            size, daily_users=draft.daily_users, coverage=draft.coverage, treatment_share=draft.treatment_share
        )
        # Validate again with the computed size: under ``ExperimentPlan(**fields)`` pydantic fills the instance
        # being initialised from the handler and ignores a returned copy (which left the plan at 0 users).
        return handler({**data, "sample_size": size, "runtime": days})

    @field_validator("hypothesis")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("hypothesis must say what the treatment should change, and why")
        return value.strip()

    @model_validator(mode="after")
    def _metrics_consistent(self) -> ExperimentPlan:
        names = [g.name for g in self.guardrails]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"guardrail names must be unique, repeated: {duplicates}")
        for guardrail in self.guardrails:
            if guardrail.name == self.primary.name and not guardrail.same_measurement(self.primary):
                raise ValueError(
                    f"guardrail {guardrail.name!r} shares the primary metric's name, so it must have the same "
                    "kind, per_user and window"
                )
        return self

    def metric(self, name: str) -> Metric:
        """The primary or guardrail metric called ``name``. Raises ``ValueError`` listing the known ones."""
        for metric in (self.primary, *self.guardrails):
            if metric.name == name:
                return metric
        raise ValueError(f"unknown metric {name!r}; this experiment measures {self.metric_names}")

    @property
    def metric_names(self) -> list[str]:
        """The primary metric's name, then the guardrails' (each once)."""
        return list(dict.fromkeys([self.primary.name, *(g.name for g in self.guardrails)]))


class ExperimentState(StrEnum):
    """Where an experiment is in its lifecycle."""

    PLANNED = "planned"
    RUNNING = "running"
    STOPPED = "stopped"


class Launch(_Frozen):
    """How a started experiment reaches users: the endpoint, its two production variants, the hash salt."""

    started_at: AwareDatetime
    endpoint_name: str = Field(pattern=VARIANT_PATTERN)
    variants: Variants
    salt: str = Field(pattern=SALT_PATTERN)


class AllocationChange(_Frozen):
    """The allocation in force from ``at`` on (the first one is the start)."""

    at: AwareDatetime
    allocation: Allocation


DecisionOutcome = Literal["ship_treatment", "keep_control", "inconclusive", "abandoned"]
"""``abandoned`` is no decision: the test was called off (allowed at any time); the others read its result."""

DECISIONS: tuple[DecisionOutcome, ...] = ("ship_treatment", "keep_control", "inconclusive")
"""The outcomes that decide something from the data, so only after the plan's minimum runtime."""
ABANDONED: DecisionOutcome = "abandoned"


class Evidence(_Frozen):
    """What the data said when the decision was taken (a snapshot of the status)."""

    exposures_control: int
    exposures_treatment: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    sequential_p_value: float
    fixed_horizon_p_value: float | None
    breached_guardrails: tuple[str, ...]


class Decision(_Frozen):
    """The recorded end of an experiment: the outcome, why, who decided, and the evidence at the time."""

    outcome: DecisionOutcome
    reason: str = Field(min_length=1)
    decided_at: AwareDatetime
    decided_by: str = Field(min_length=1)
    evidence: Evidence | None = None

    @field_validator("reason")
    @classmethod
    def _gives_a_reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reason must say why this decision was taken")
        return value.strip()


class Experiment(_Frozen):
    """An experiment and everything decided about it; transitions return a new value (``version + 1``)."""

    plan: ExperimentPlan
    state: ExperimentState = ExperimentState.PLANNED
    version: int = Field(1, ge=1)
    created_at: AwareDatetime
    launch: Launch | None = None
    allocations: tuple[AllocationChange, ...] = ()
    decision: Decision | None = None

    @model_validator(mode="after")
    def _state_matches_record(self) -> Experiment:
        started = self.launch is not None and bool(self.allocations)
        expected = {
            ExperimentState.PLANNED: not started and self.decision is None,
            ExperimentState.RUNNING: started and self.decision is None,
            ExperimentState.STOPPED: started and self.decision is not None,
        }
        if not expected[self.state]:
            raise ValueError(
                f"state {self.state.value!r} does not match the record (launch: {self.launch is not None}, "
                f"allocations: {len(self.allocations)}, decision: {self.decision is not None})"
            )
        return self

    @property
    def name(self) -> str:
        """The experiment's name (its plan's)."""
        return self.plan.name

    @property
    def allocation(self) -> Allocation | None:
        """The allocation in force now; ``None`` before the start."""
        return self.allocations[-1].allocation if self.allocations else None

    @property
    def decidable_at(self) -> datetime | None:
        """The first moment a decision may be taken: the start plus the plan's runtime in whole weeks (business
        cycles); ``None`` before the start."""
        if self.launch is None:
            return None
        return self.launch.started_at + timedelta(weeks=self.plan.runtime.weeks)

    @property
    def phase_started_at(self) -> datetime | None:
        """When the current analysis phase began (the start or the last ramp); ``None`` before the start."""
        return self.allocations[-1].at if self.allocations else None

    def _next(self, **changes: Any) -> Experiment:
        return Experiment.model_validate({**self.model_dump(), **changes, "version": self.version + 1})

    def replan(self, plan: ExperimentPlan) -> Experiment:
        """Replace the plan of a planned experiment. Raises ``IllegalTransitionError`` once it started."""
        if self.state != ExperimentState.PLANNED:
            raise IllegalTransitionError(
                f"the plan of experiment {self.name!r} is immutable once started (it is {self.state.value}); "
                "plan a new experiment instead"
            )
        if plan.name != self.name:
            raise ValueError(f"a new plan must keep the experiment's name {self.name!r}, got {plan.name!r}")
        return self._next(plan=plan)

    def start(
        self, *, at: datetime, endpoint_name: str, variants: Variants, salt: str, allocation: Allocation
    ) -> Experiment:
        """Start routing users: bind the endpoint's variants, the salt and the initial allocation.

        Raises ``IllegalTransitionError`` unless the experiment is planned, and ``ValueError`` for an allocation
        that leaves an arm empty, a start before the plan was created, or invalid names.
        """
        if self.state != ExperimentState.PLANNED:
            raise IllegalTransitionError(
                f"cannot start experiment {self.name!r}: it is already {self.state.value}"
                + (f" (started {self.launch.started_at.isoformat()})" if self.launch else "")
                + "; an experiment starts once"
            )
        if at < self.created_at:
            raise ValueError(f"start time {at.isoformat()} is before the plan was created ({self.created_at})")
        if not 0 < allocation.treatment_bp < allocation.coverage_bp:
            raise ValueError(
                f"allocation must give both arms users: 0 < treatment_bp ({allocation.treatment_bp}) < "
                f"coverage_bp ({allocation.coverage_bp})"
            )
        launch = Launch(started_at=at, endpoint_name=endpoint_name, variants=variants, salt=salt)
        return self._next(
            state=ExperimentState.RUNNING,
            launch=launch,
            allocations=(AllocationChange(at=at, allocation=allocation),),
        )

    def ramp(self, *, at: datetime, treatment_bp: int) -> Experiment:
        """Raise the treatment's share of all users to ``treatment_bp`` basis points; a new phase begins.

        Only moves users from control to treatment. Raises ``IllegalTransitionError`` unless running or when the
        share would not increase, and ``ValueError`` when control would be left empty or ``at`` is before the
        current phase.
        """
        current = self._running_allocation("ramp")
        if treatment_bp <= current.treatment_bp:
            raise IllegalTransitionError(
                f"ramping experiment {self.name!r} only moves the treatment share up (it is "
                f"{current.treatment_bp} bp, got {treatment_bp} bp): lowering it would move treated users back "
                "to control; stop the experiment instead"
            )
        if treatment_bp >= current.coverage_bp:
            raise ValueError(
                f"treatment_bp ({treatment_bp}) must stay below coverage_bp ({current.coverage_bp}) so control "
                "keeps users; to send everyone to the treatment, stop with outcome 'ship_treatment'"
            )
        phase_start = self.phase_started_at
        assert phase_start is not None  # running experiments have an allocation
        if at < phase_start:
            raise ValueError(f"ramp time {at.isoformat()} is before the current phase began ({phase_start})")
        change = AllocationChange(
            at=at, allocation=Allocation(treatment_bp=treatment_bp, coverage_bp=current.coverage_bp)
        )
        return self._next(allocations=(*self.allocations, change))

    def stop(self, decision: Decision) -> Experiment:
        """Stop with a recorded decision (or ``abandoned``, none).

        Raises ``IllegalTransitionError`` unless the experiment is running, and for a decision before
        :attr:`decidable_at` other than ``abandoned`` or a ``keep_control`` whose evidence shows a breached
        guardrail; ``ValueError`` when the decision is dated before the current phase.
        """
        if self.state != ExperimentState.RUNNING:
            why = "it was never started" if self.state == ExperimentState.PLANNED else "it is already stopped"
            raise IllegalTransitionError(f"cannot stop experiment {self.name!r}: {why}")
        phase_start, decidable_at = self.phase_started_at, self.decidable_at
        assert phase_start is not None
        assert decidable_at is not None
        assert self.launch is not None
        if decision.decided_at < phase_start:
            raise ValueError(f"decision time {decision.decided_at.isoformat()} is before the current phase began")
        breached = decision.evidence is not None and bool(decision.evidence.breached_guardrails)
        guardrail_stop = decision.outcome == "keep_control" and breached
        if decision.decided_at < decidable_at and decision.outcome != ABANDONED and not guardrail_stop:
            weeks = self.plan.runtime.weeks
            raise IllegalTransitionError(
                f"cannot decide {decision.outcome!r} on experiment {self.name!r} before "
                f"{decidable_at.isoformat()}: the plan's minimum runtime is {weeks} whole week{'s' * (weeks > 1)} "
                f"(business cycles) from the start, and only {decision.decided_at - self.launch.started_at} have "
                "passed. Only a breached guardrail stops it earlier (keep_control); to call the test off without a "
                "decision, abandon it"
            )
        return self._next(state=ExperimentState.STOPPED, decision=decision)

    def _running_allocation(self, action: str) -> Allocation:
        if self.state != ExperimentState.RUNNING or self.allocation is None:
            raise IllegalTransitionError(
                f"cannot {action} experiment {self.name!r}: it is {self.state.value}, not running"
            )
        return self.allocation

    def assign(self, user_id: str) -> Assignment:
        """Route ``user_id``: by the hash while running, to the decided winner once stopped.

        Only a running experiment's assignment with ``arm`` set is an exposure. Raises ``IllegalTransitionError``
        for a planned experiment (no variants are bound yet) and ``ValueError`` for an empty user id.
        """
        if self.launch is None or self.allocation is None:
            raise IllegalTransitionError(f"experiment {self.name!r} is planned, not started: it has no variants yet")
        bucket = bucket_of(self.name, self.launch.salt, user_id)
        if self.state == ExperimentState.STOPPED:
            assert self.decision is not None
            winner: Arm = "treatment" if self.decision.outcome == "ship_treatment" else "control"
            return Assignment(
                experiment=self.name,
                user_id=user_id,
                bucket=bucket,
                arm=None,
                target_variant=self.launch.variants.of(winner),
            )
        arm = arm_of(bucket, self.allocation)
        return Assignment(
            experiment=self.name,
            user_id=user_id,
            bucket=bucket,
            arm=arm,
            target_variant=self.launch.variants.of(arm or "control"),
        )


def new_experiment(plan: ExperimentPlan, *, at: datetime) -> Experiment:
    """A planned experiment (version 1) created at ``at``."""
    return Experiment(plan=plan, created_at=at)


class Exposure(_Frozen):
    """A user served by one arm of a running experiment (storage keeps the first per user)."""

    experiment: str = Field(pattern=NAME_PATTERN)
    user_id: str = Field(min_length=1)
    arm: Arm
    variant: str = Field(pattern=VARIANT_PATTERN)
    at: AwareDatetime


def _event_id(data: dict[str, Any]) -> str:
    """A content hash of an outcome's validated fields: an exact retry gets the same id."""
    key = "\x1f".join(
        [data["experiment"], data["user_id"], data["metric"], repr(data["value"]), data["at"].isoformat()]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class OutcomeEvent(_Frozen):
    """A value of a metric for a user (a conversion, revenue, an error, a latency), possibly long after exposure.

    ``event_id`` makes recording idempotent: a retried write with the same id is stored once. Unset, it is a
    hash of the other fields, so an exact retry is deduplicated; give ids from the source system when two
    identical events at the same instant are both real.
    """

    experiment: str = Field(pattern=NAME_PATTERN)
    user_id: str = Field(min_length=1)
    metric: str
    value: float = Field(allow_inf_nan=False)
    at: AwareDatetime
    event_id: str = Field(default_factory=_event_id, min_length=1)
