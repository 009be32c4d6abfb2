"""The status of an experiment: exposures, estimates, the sequential p-value, guardrails, what to do next.

:func:`build_status` is pure: it takes the experiment and its raw exposures and outcomes and recomputes the
whole sequential path of the current phase, looking every ``look_every`` from the phase's start and once
more at ``at``. Its recommendation:

* ``stop_guardrail``: a guardrail is breached; the only case for stopping without a human decision.
* ``decide``: the plan's minimum runtime (whole weeks) has passed and the planned sample is reached (read the
  fixed-horizon result) or the primary metric's always-valid p-value is at or below alpha.
* ``continue``: neither yet. A significant always-valid p-value before the minimum runtime is reported but is
  not a decision: the weeks are there for the weekly cycle and the novelty effect, which no p-value covers.
* ``stopped``: the experiment has a decision; the status is as of that decision.

Choose the decision rule before the start and keep it: the fixed-horizon test at the planned size, or the
always-valid p-value at any time. Each holds alpha on its own; taking whichever is significant does not
(it can approach twice alpha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict

from mlops_kit.abtest.analysis import PhaseData
from mlops_kit.abtest.assignment import Allocation, Variants
from mlops_kit.abtest.errors import IllegalTransitionError
from mlops_kit.abtest.fixed import FixedHorizonResult, fixed_horizon
from mlops_kit.abtest.guardrails import alpha_per_guardrail, check_guardrail
from mlops_kit.abtest.metrics import Direction
from mlops_kit.abtest.models import Evidence, Experiment, ExperimentState, Exposure, OutcomeEvent
from mlops_kit.abtest.sequential import msprt
from mlops_kit.abtest.totals import ArmTotals, MetricKind

Recommendation = Literal["continue", "stop_guardrail", "decide", "stopped"]


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SequentialPath(_Report):
    """The primary metric at every look: estimate, confidence sequence, always-valid p-value.

    ``None`` marks a value that does not exist yet (an empty arm, an interval before ``min_samples``).
    """

    looks: tuple[AwareDatetime, ...]
    n_control: tuple[int, ...]
    n_treatment: tuple[int, ...]
    difference: tuple[float | None, ...]
    ci_low: tuple[float | None, ...]
    ci_high: tuple[float | None, ...]
    p_value: tuple[float, ...]


class PrimaryStatus(_Report):
    """The primary metric now: per-arm means, the difference and its ``1 - alpha`` confidence sequence."""

    metric: str
    kind: MetricKind
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    alpha: float
    mixing_sd: float
    mde: float
    fixed_horizon: FixedHorizonResult | None
    """The pre-registered test on the first planned users of each arm, once their values are final."""
    path: SequentialPath

    @property
    def significant(self) -> bool:
        """Whether the always-valid p-value is at or below alpha."""
        return self.p_value <= self.alpha


class GuardrailStatus(_Report):
    """One guardrail now. ``harm`` is positive when the treatment is worse (in the metric's units)."""

    metric: str
    direction: Direction
    control_mean: float | None
    treatment_mean: float | None
    harm: float | None
    tolerance: float
    p_value: float
    alpha: float
    breached: bool
    breached_at: AwareDatetime | None


class StatusReport(_Report):
    """Everything ``mlops abtest status`` shows, as of ``at``."""

    experiment: str
    state: ExperimentState
    at: AwareDatetime
    phase: int
    phase_started_at: AwareDatetime
    endpoint_name: str
    variants: Variants
    allocation: Allocation
    exposures_control: int
    exposures_treatment: int
    planned_control: int
    planned_treatment: int
    progress: float
    """Fraction of the planned sample analysed so far (the lagging arm's), capped at 1."""
    decidable_at: AwareDatetime | None = None
    """The first moment a decision may be taken (the plan's minimum runtime); unset in records written before."""
    primary: PrimaryStatus
    guardrails: tuple[GuardrailStatus, ...]
    recommendation: Recommendation
    message: str

    def evidence(self) -> Evidence:
        """The snapshot a decision records."""
        return Evidence(
            exposures_control=self.exposures_control,
            exposures_treatment=self.exposures_treatment,
            difference=self.primary.difference,
            ci_low=self.primary.ci_low,
            ci_high=self.primary.ci_high,
            sequential_p_value=self.primary.p_value,
            fixed_horizon_p_value=self.primary.fixed_horizon.p_value if self.primary.fixed_horizon else None,
            breached_guardrails=tuple(g.metric for g in self.guardrails if g.breached),
        )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def look_times(since: datetime, at: datetime, every: timedelta) -> list[datetime]:
    """Every ``every`` after ``since`` up to ``at``, then ``at`` itself. Raises ``ValueError`` on bad bounds."""
    if every <= timedelta(0):
        raise ValueError(f"look_every must be positive, got {every}")
    if at < since:
        raise ValueError(f"at ({at.isoformat()}) is before the phase began ({since.isoformat()})")
    count = int((at - since) / every)
    looks = [since + every * k for k in range(1, count + 1)]
    return [*looks, at] if not looks or looks[-1] < at else looks


def build_status(
    experiment: Experiment,
    exposures: Sequence[Exposure],
    outcomes: Sequence[OutcomeEvent],
    *,
    at: datetime,
    look_every: timedelta = timedelta(days=1),
) -> StatusReport:
    """The experiment's status as of ``at`` (a stopped experiment's as of its decision).

    Raises ``IllegalTransitionError`` for a planned experiment (nothing to report yet) and ``ValueError`` when
    ``at`` is before the current phase or look_every is not positive.
    """
    if experiment.launch is None or experiment.allocation is None or experiment.phase_started_at is None:
        raise IllegalTransitionError(f"experiment {experiment.name!r} is planned, not started: it has no status yet")
    if experiment.decision is not None:
        at = min(at, experiment.decision.decided_at)
    plan = experiment.plan
    phase_start = experiment.phase_started_at
    data = PhaseData(exposures, outcomes, since=phase_start, until=at)
    looks = look_times(phase_start, at, look_every)

    primary = plan.primary
    control, treatment = data.series(primary, looks)
    sequential = msprt(
        control, treatment, kind=primary.kind, mixing_sd=primary.tau, alpha=plan.alpha, min_samples=plan.min_samples
    )
    fixed = _fixed_horizon_at_plan(data, experiment, at)
    path = SequentialPath(
        looks=tuple(looks),
        n_control=tuple(int(n) for n in control.n),
        n_treatment=tuple(int(n) for n in treatment.n),
        difference=tuple(_finite(x) for x in sequential.difference),
        ci_low=tuple(_finite(x) for x in sequential.ci_low),
        ci_high=tuple(_finite(x) for x in sequential.ci_high),
        p_value=tuple(float(p) for p in sequential.p_value),
    )
    primary_status = PrimaryStatus(
        metric=primary.name,
        kind=primary.kind,
        n_control=int(control.n[-1]),
        n_treatment=int(treatment.n[-1]),
        control_mean=_finite(control.mean()[-1]),
        treatment_mean=_finite(treatment.mean()[-1]),
        difference=path.difference[-1],
        ci_low=path.ci_low[-1],
        ci_high=path.ci_high[-1],
        p_value=path.p_value[-1],
        alpha=plan.alpha,
        mixing_sd=primary.tau,
        mde=primary.absolute_mde,
        fixed_horizon=fixed,
        path=path,
    )

    guardrails: list[GuardrailStatus] = []
    each_alpha = alpha_per_guardrail(plan.guardrail_alpha, len(plan.guardrails)) if plan.guardrails else 0.0
    for metric in plan.guardrails:
        g_control, g_treatment = data.series(metric, looks)
        result = check_guardrail(g_control, g_treatment, metric, alpha=each_alpha, min_samples=plan.min_samples)
        first = int(result.first_breach())
        guardrails.append(
            GuardrailStatus(
                metric=metric.name,
                direction=metric.direction,
                control_mean=_finite(g_control.mean()[-1]),
                treatment_mean=_finite(g_treatment.mean()[-1]),
                harm=_finite(result.harm[-1]),
                tolerance=metric.tolerance,
                p_value=float(result.p_value[-1]),
                alpha=each_alpha,
                breached=bool(result.breached[-1]),
                breached_at=looks[first] if first >= 0 else None,
            )
        )

    exposures_control, exposures_treatment = data.exposures()
    size = plan.sample_size
    progress = min(1.0, control.n[-1] / size.control, treatment.n[-1] / size.treatment)
    decidable_at = experiment.decidable_at
    assert decidable_at is not None  # started experiments have it
    recommendation, message = _recommend(experiment, primary_status, guardrails, float(progress), at, decidable_at)
    return StatusReport(
        experiment=experiment.name,
        state=experiment.state,
        at=at,
        phase=len(experiment.allocations),
        phase_started_at=phase_start,
        endpoint_name=experiment.launch.endpoint_name,
        variants=experiment.launch.variants,
        allocation=experiment.allocation,
        exposures_control=exposures_control,
        exposures_treatment=exposures_treatment,
        planned_control=size.control,
        planned_treatment=size.treatment,
        progress=float(progress),
        decidable_at=decidable_at,
        primary=primary_status,
        guardrails=tuple(guardrails),
        recommendation=recommendation,
        message=message,
    )


def _fixed_horizon_at_plan(data: PhaseData, experiment: Experiment, at: datetime) -> FixedHorizonResult | None:
    """The fixed-horizon test on the first planned users of each arm, once all their values are final."""
    plan = experiment.plan
    chosen = data.first_users(plan.sample_size)
    if chosen is None:
        return None
    window = plan.primary.window or timedelta(0)
    if data.exposed_at[chosen].max() + window.total_seconds() > at.timestamp():
        return None  # some of the planned users' windows are still open
    control, treatment = data.series(plan.primary, [at], subset=chosen)
    arms = [
        ArmTotals(n=int(s.n[0]), total=float(s.total[0]), total_sq=float(s.total_sq[0])) for s in (control, treatment)
    ]
    try:
        return fixed_horizon(arms[0], arms[1], kind=plan.primary.kind, alpha=plan.alpha)
    except ValueError:
        return None  # no variance in either arm (or too few valued users): the test is undefined


def _interval(low: float | None, high: float | None) -> str:
    return f"{low:+.4g} to {high:+.4g}" if low is not None and high is not None else "unbounded yet"


def _recommend(
    experiment: Experiment,
    primary: PrimaryStatus,
    guardrails: list[GuardrailStatus],
    progress: float,
    at: datetime,
    decidable_at: datetime,
) -> tuple[Recommendation, str]:
    if experiment.decision is not None:
        decision = experiment.decision
        return "stopped", f"stopped {decision.decided_at.isoformat()}: {decision.outcome} ({decision.reason})"
    breached = [g for g in guardrails if g.breached]
    if breached:
        details = "; ".join(
            f"{g.metric} worse by {g.harm:.4g} (always-valid p = {g.p_value:.3g} <= {g.alpha:.3g})" for g in breached
        )
        return "stop_guardrail", f"guardrail breached: {details}; stop and keep control"
    confidence = f"{1.0 - primary.alpha:.0%}"
    if at < decidable_at:
        weeks = experiment.plan.runtime.weeks
        so_far = "significant so far" if primary.significant else "not significant"
        return "continue", (
            f"minimum runtime not reached: decidable from {decidable_at.isoformat()} ({weeks} whole "
            f"week{'s' * (weeks > 1)} from the start); {progress:.0%} of the planned sample analysed "
            f"({primary.n_control:,} control and {primary.n_treatment:,} treatment users); always-valid "
            f"p = {primary.p_value:.3g}, {so_far}"
        )
    if primary.fixed_horizon is not None:
        fixed = primary.fixed_horizon
        verdict = "significant" if fixed.significant else "not significant"
        return "decide", (
            f"planned sample reached: difference {fixed.difference:+.4g} ({confidence} CI "
            f"{_interval(fixed.ci_low, fixed.ci_high)}), {fixed.test} p = {fixed.p_value:.3g}, {verdict}; "
            f"always-valid p = {primary.p_value:.3g}"
        )
    if primary.significant and primary.difference is not None:
        return "decide", (
            f"primary metric significant before the planned sample: always-valid p = {primary.p_value:.3g} <= "
            f"{primary.alpha}, difference {primary.difference:+.4g} ({confidence} confidence sequence "
            f"{_interval(primary.ci_low, primary.ci_high)}); deciding now is valid"
        )
    return "continue", (
        f"collecting: {progress:.0%} of the planned sample ({primary.n_control:,} control and "
        f"{primary.n_treatment:,} treatment users analysed); always-valid p = {primary.p_value:.3g}"
    )


def as_float_array(values: Sequence[float | None]) -> np.ndarray:
    """A path column as floats, ``None`` as NaN (for plotting)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)
