"""Where experiments, exposures and outcomes are kept: a small Protocol, and an in-memory implementation.

The domain logic only talks to :class:`ExperimentRepository`; a DynamoDB implementation maps each method to
one conditional write or one query. The contract every implementation keeps:

* ``put_experiment`` is a compare-and-set on ``version``: version 1 only when the name is free
  (else :class:`~.errors.ExperimentExistsError`), version ``v`` only over stored version ``v - 1``
  (else :class:`~.errors.ConcurrentUpdateError`), and never a different plan over a started experiment
  (else :class:`~.errors.IllegalTransitionError`).
* ``record_exposure`` keeps one exposure per (experiment, user): the earliest. Re-recording is a no-op, so
  every request may record without growing the table.
* ``record_outcome`` is idempotent by ``event_id``.
"""

from __future__ import annotations

import threading
from typing import Protocol

from mlops_kit.abtest.errors import (
    ConcurrentUpdateError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    IllegalTransitionError,
)
from mlops_kit.abtest.models import Experiment, ExperimentState, Exposure, OutcomeEvent


class ExperimentRepository(Protocol):
    """Storage for the experiment lifecycle (see the module docstring for the contract)."""

    def get_experiment(self, name: str) -> Experiment:
        """The stored experiment. Raises ``ExperimentNotFoundError`` when there is none by that name."""
        ...

    def put_experiment(self, experiment: Experiment) -> None:
        """Store a new version.

        Raises ``ExperimentExistsError``, ``ConcurrentUpdateError`` or ``IllegalTransitionError`` (see above).
        """
        ...

    def list_experiments(self) -> list[Experiment]:
        """Every stored experiment, by name."""
        ...

    def record_exposure(self, exposure: Exposure) -> bool:
        """Keep the user's earliest exposure; ``True`` when this one was stored (first or earlier than before)."""
        ...

    def get_exposure(self, experiment: str, user_id: str) -> Exposure | None:
        """The user's first exposure to the experiment, or ``None``."""
        ...

    def record_outcome(self, outcome: OutcomeEvent) -> bool:
        """Store an outcome once per ``event_id``; ``True`` when it was new."""
        ...

    def list_exposures(self, experiment: str) -> list[Exposure]:
        """The first exposure of every exposed user of the experiment."""
        ...

    def list_outcomes(self, experiment: str) -> list[OutcomeEvent]:
        """Every recorded outcome of the experiment."""
        ...


class InMemoryRepository:
    """:class:`ExperimentRepository` in process memory, for tests and the local demo. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._experiments: dict[str, Experiment] = {}
        self._exposures: dict[str, dict[str, Exposure]] = {}
        self._outcomes: dict[str, dict[str, OutcomeEvent]] = {}

    def get_experiment(self, name: str) -> Experiment:
        """See :meth:`ExperimentRepository.get_experiment`."""
        with self._lock:
            try:
                return self._experiments[name]
            except KeyError:
                raise ExperimentNotFoundError(name, list(self._experiments)) from None

    def put_experiment(self, experiment: Experiment) -> None:
        """See :meth:`ExperimentRepository.put_experiment`."""
        with self._lock:
            stored = self._experiments.get(experiment.name)
            if stored is None:
                if experiment.version != 1:
                    raise ConcurrentUpdateError(
                        f"experiment {experiment.name!r} is not stored, so version {experiment.version} has "
                        "nothing to follow; create it at version 1"
                    )
            elif experiment.version == 1:
                raise ExperimentExistsError(f"experiment {experiment.name!r} already exists; choose another name")
            elif stored.version != experiment.version - 1:
                raise ConcurrentUpdateError(
                    f"experiment {experiment.name!r} is at version {stored.version}, this update follows "
                    f"version {experiment.version - 1}; re-read it and retry"
                )
            elif stored.state != ExperimentState.PLANNED and stored.plan != experiment.plan:
                raise IllegalTransitionError(f"the plan of experiment {experiment.name!r} is immutable once started")
            self._experiments[experiment.name] = experiment

    def list_experiments(self) -> list[Experiment]:
        """See :meth:`ExperimentRepository.list_experiments`."""
        with self._lock:
            return [self._experiments[name] for name in sorted(self._experiments)]

    def record_exposure(self, exposure: Exposure) -> bool:
        """See :meth:`ExperimentRepository.record_exposure`."""
        with self._lock:
            users = self._exposures.setdefault(exposure.experiment, {})
            first = users.get(exposure.user_id)
            if first is not None and first.at <= exposure.at:
                return False
            users[exposure.user_id] = exposure
            return True

    def get_exposure(self, experiment: str, user_id: str) -> Exposure | None:
        """See :meth:`ExperimentRepository.get_exposure`."""
        with self._lock:
            return self._exposures.get(experiment, {}).get(user_id)

    def record_outcome(self, outcome: OutcomeEvent) -> bool:
        """See :meth:`ExperimentRepository.record_outcome`."""
        with self._lock:
            events = self._outcomes.setdefault(outcome.experiment, {})
            if outcome.event_id in events:
                return False
            events[outcome.event_id] = outcome
            return True

    def list_exposures(self, experiment: str) -> list[Exposure]:
        """See :meth:`ExperimentRepository.list_exposures`."""
        with self._lock:
            return list(self._exposures.get(experiment, {}).values())

    def list_outcomes(self, experiment: str) -> list[OutcomeEvent]:
        """See :meth:`ExperimentRepository.list_outcomes`."""
        with self._lock:
            return list(self._outcomes.get(experiment, {}).values())
