"""The lifecycle operations, over any :class:`~.repository.ExperimentRepository`: what the CLI, the router
and the scheduled status job call.

Each operation reads, applies one pure transition from :mod:`.models` and writes conditionally on the
version it read, so two concurrent writers cannot both succeed (the loser gets ``ConcurrentUpdateError``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlops_kit.abtest.assignment import Allocation, Assignment, Variants
from mlops_kit.abtest.errors import IllegalTransitionError, UnexposedUserError
from mlops_kit.abtest.models import (
    Decision,
    DecisionOutcome,
    Experiment,
    ExperimentPlan,
    ExperimentState,
    Exposure,
    OutcomeEvent,
    new_experiment,
)
from mlops_kit.abtest.repository import ExperimentRepository

if TYPE_CHECKING:
    from mlops_kit.abtest.report import StatusReport

# The statistics (.report: numpy, scipy) are imported where a status is built, not here: the Lambda function that
# records outcomes uses this service and never builds one (its cold start drops by about 0.6 s).

GUARDRAIL_DECIDER = "guardrail"
"""``decided_by`` of a decision taken by :meth:`ExperimentService.stop_if_harmful`."""


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class ExperimentService:
    """Plan, start, ramp, route, record, report and stop experiments stored in ``repository``.

    ``clock`` gives "now" for every operation not given an explicit ``at`` (tests pass a fake one).
    """

    def __init__(self, repository: ExperimentRepository, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.repository = repository
        self._clock = clock

    def plan(self, plan: ExperimentPlan, *, at: datetime | None = None) -> Experiment:
        """Store a new planned experiment. Raises ``ExperimentExistsError`` when the name is taken."""
        experiment = new_experiment(plan, at=at or self._clock())
        self.repository.put_experiment(experiment)
        return experiment

    def replan(self, plan: ExperimentPlan) -> Experiment:
        """Replace a planned experiment's plan.

        Raises ``IllegalTransitionError`` once it started, ``ExperimentNotFoundError`` for an unknown name.
        """
        experiment = self.repository.get_experiment(plan.name).replan(plan)
        self.repository.put_experiment(experiment)
        return experiment

    def start(
        self,
        name: str,
        *,
        endpoint_name: str,
        variants: Variants,
        allocation: Allocation | None = None,
        salt: str | None = None,
        at: datetime | None = None,
    ) -> Experiment:
        """Start routing users of ``endpoint_name`` between ``variants``.

        ``allocation`` defaults to the plan's coverage and treatment share; ``salt`` to a fresh random one
        (recorded, so assignment stays reproducible). Raises ``ExperimentNotFoundError``, ``IllegalTransitionError``
        when it is not planned, ``ValueError`` for an allocation leaving an arm empty.
        """
        experiment = self.repository.get_experiment(name)
        plan = experiment.plan
        started = experiment.start(
            at=at or self._clock(),
            endpoint_name=endpoint_name,
            variants=variants,
            salt=salt or secrets.token_hex(8),
            allocation=allocation or Allocation.from_shares(plan.treatment_share, plan.coverage),
        )
        self.repository.put_experiment(started)
        return started

    def ramp(self, name: str, *, treatment_bp: int, at: datetime | None = None) -> Experiment:
        """Raise the treatment share (basis points of all users). Raises as :meth:`.Experiment.ramp`."""
        experiment = self.repository.get_experiment(name).ramp(at=at or self._clock(), treatment_bp=treatment_bp)
        self.repository.put_experiment(experiment)
        return experiment

    def assign(self, name: str, user_id: str, *, at: datetime | None = None) -> Assignment:
        """Route ``user_id`` and record the exposure when the user is in a running experiment.

        Raises ``ExperimentNotFoundError``, ``IllegalTransitionError`` for a planned experiment, ``ValueError`` for an
        empty user id.
        """
        experiment = self.repository.get_experiment(name)
        assignment = experiment.assign(user_id)
        if assignment.arm is not None:
            self.repository.record_exposure(
                Exposure(
                    experiment=name,
                    user_id=user_id,
                    arm=assignment.arm,
                    variant=assignment.target_variant,
                    at=at or self._clock(),
                )
            )
        return assignment

    def record_outcome(
        self,
        name: str,
        user_id: str,
        *,
        metric: str,
        value: float = 1.0,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> OutcomeEvent:
        """Record a user's value of one of the experiment's metrics (``value=1`` for a conversion).

        ``event_id`` deduplicates retries (see :class:`.OutcomeEvent`); unset, it is a hash of the fields.

        Raises ``ExperimentNotFoundError``; ``IllegalTransitionError`` for a planned experiment; ``ValueError`` for a
        metric the plan does not measure or a non-finite value; ``UnexposedUserError`` when the user had no
        exposure at or before ``at``.
        """
        experiment = self.repository.get_experiment(name)
        if experiment.state == ExperimentState.PLANNED:
            raise IllegalTransitionError(f"experiment {name!r} has not started: no user can have an outcome yet")
        experiment.plan.metric(metric)  # raises ValueError listing the metrics the plan measures
        fields = {"experiment": name, "user_id": user_id, "metric": metric, "value": value, "at": at or self._clock()}
        outcome = OutcomeEvent.model_validate(fields if event_id is None else {**fields, "event_id": event_id})
        exposure = self.repository.get_exposure(name, user_id)
        if exposure is None or exposure.at > outcome.at:
            first = f"first exposed {exposure.at.isoformat()}" if exposure else "never exposed"
            raise UnexposedUserError(
                f"user {user_id!r} has no exposure to experiment {name!r} at or before {outcome.at.isoformat()} "
                f"({first}); outcomes count only for users the experiment served"
            )
        self.repository.record_outcome(outcome)
        return outcome

    def status(
        self, name: str, *, at: datetime | None = None, look_every: timedelta = timedelta(days=1)
    ) -> StatusReport:
        """The experiment's status (see :func:`.report.build_status`). Raises ``ExperimentNotFoundError``,
        ``IllegalTransitionError`` for a planned experiment."""
        experiment = self.repository.get_experiment(name)
        if experiment.state == ExperimentState.PLANNED:
            raise IllegalTransitionError(f"experiment {name!r} is planned, not started: it has no status yet")
        from mlops_kit.abtest.report import build_status

        return build_status(
            experiment,
            self.repository.list_exposures(name),
            self.repository.list_outcomes(name),
            at=at or self._clock(),
            look_every=look_every,
        )

    def stop(
        self,
        name: str,
        *,
        outcome: DecisionOutcome,
        reason: str,
        decided_by: str,
        at: datetime | None = None,
    ) -> Experiment:
        """Stop with a recorded decision and the status at that moment as its evidence.

        ``outcome="abandoned"`` calls the test off without a decision, at any time. The others wait for the plan's
        minimum runtime (:attr:`.Experiment.decidable_at`), except ``keep_control`` while the status shows a
        breached guardrail.

        Raises ``ExperimentNotFoundError``; ``IllegalTransitionError`` unless running, or for a decision before
        the minimum runtime (naming when it may be decided); ``ValueError`` for an empty reason or an unknown
        outcome.
        """
        when = at or self._clock()
        experiment = self.repository.get_experiment(name)
        if experiment.state != ExperimentState.RUNNING:
            # Without a status to attach; this only raises the transition's explanatory IllegalTransitionError.
            experiment.stop(Decision(outcome=outcome, reason=reason, decided_at=when, decided_by=decided_by))
        from mlops_kit.abtest.report import build_status

        report = build_status(
            experiment, self.repository.list_exposures(name), self.repository.list_outcomes(name), at=when
        )
        stopped = experiment.stop(
            Decision(outcome=outcome, reason=reason, decided_at=when, decided_by=decided_by, evidence=report.evidence())
        )
        self.repository.put_experiment(stopped)
        return stopped

    def stop_if_harmful(self, name: str, *, at: datetime | None = None) -> Experiment | None:
        """The scheduled check: stop a running experiment whose guardrail is breached, keeping control.

        Returns the stopped experiment, or ``None`` when it is not running or no guardrail is breached.
        Raises ``ExperimentNotFoundError``.
        """
        experiment = self.repository.get_experiment(name)
        if experiment.state != ExperimentState.RUNNING:
            return None
        report = self.status(name, at=at)
        if report.recommendation != "stop_guardrail":
            return None
        return self.stop(
            name, outcome="keep_control", reason=report.message, decided_by=GUARDRAIL_DECIDER, at=report.at
        )
