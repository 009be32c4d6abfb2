"""From raw records to per-arm totals: which users are analysed at a look, and what their values are.

A user is analysed in the current phase when their first exposure falls in it (see :mod:`.models`). Their
value for a metric is built from their outcomes as :mod:`.metrics` describes; outcomes before the user's
first exposure never count (the treatment cannot have caused them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from mlops_kit.abtest.metrics import Metric
from mlops_kit.abtest.models import Exposure, OutcomeEvent
from mlops_kit.abtest.planning import SampleSize
from mlops_kit.abtest.sequential import ArmSeries


class PhaseData:
    """The users first exposed in ``[since, until]`` and their outcomes, as arrays for fast repeated looks."""

    def __init__(
        self, exposures: Sequence[Exposure], outcomes: Sequence[OutcomeEvent], *, since: datetime, until: datetime
    ) -> None:
        first: dict[str, Exposure] = {}
        for exposure in exposures:
            known = first.get(exposure.user_id)
            if known is None or exposure.at < known.at:
                first[exposure.user_id] = exposure
        # Sorted by exposure time (then user id, for a deterministic order) so "the first n users" is a prefix.
        users = sorted((e for e in first.values() if since <= e.at <= until), key=lambda e: (e.at, e.user_id))
        self._index = {e.user_id: i for i, e in enumerate(users)}
        self.exposed_at: NDArray[np.float64] = np.array([e.at.timestamp() for e in users], dtype=float)
        self.treated: NDArray[np.bool_] = np.array([e.arm == "treatment" for e in users], dtype=bool)
        self._outcomes: dict[str, tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]] = {}
        by_metric: dict[str, list[tuple[int, float, float]]] = {}
        for outcome in outcomes:
            user = self._index.get(outcome.user_id)
            if user is not None:
                by_metric.setdefault(outcome.metric, []).append((user, outcome.at.timestamp(), outcome.value))
        for metric, rows in by_metric.items():
            user_idx, times, values = zip(*rows, strict=True)
            self._outcomes[metric] = (
                np.asarray(user_idx, dtype=np.intp),
                np.asarray(times, dtype=float),
                np.asarray(values, dtype=float),
            )

    @property
    def users(self) -> int:
        """Users first exposed in the phase."""
        return int(self.exposed_at.size)

    def exposures(self) -> tuple[int, int]:
        """Users first exposed in the phase per arm: (control, treatment)."""
        treated = int(self.treated.sum())
        return self.users - treated, treated

    def first_users(self, sample_size: SampleSize) -> NDArray[np.bool_] | None:
        """The first ``sample_size`` users of each arm by exposure time; ``None`` until both arms have them."""
        control_order = np.flatnonzero(~self.treated)
        treatment_order = np.flatnonzero(self.treated)
        if control_order.size < sample_size.control or treatment_order.size < sample_size.treatment:
            return None
        chosen = np.zeros(self.users, dtype=bool)
        chosen[control_order[: sample_size.control]] = True
        chosen[treatment_order[: sample_size.treatment]] = True
        return chosen

    def series(
        self, metric: Metric, looks: Sequence[datetime], *, subset: NDArray[np.bool_] | None = None
    ) -> tuple[ArmSeries, ArmSeries]:
        """Cumulative (control, treatment) totals of ``metric`` at each look, optionally over a subset of users."""
        window = metric.window.total_seconds() if metric.window is not None else None
        empty = (np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))
        user_idx, times, values = self._outcomes.get(metric.name, empty)
        # Outcomes count from the user's first exposure to the end of its window.
        start = self.exposed_at[user_idx]
        keep = times >= start
        if window is not None:
            keep &= times <= start + window
        user_idx, times, values = user_idx[keep], times[keep], values[keep]
        base = np.ones(self.users, dtype=bool) if subset is None else subset
        totals = np.zeros((2, 3, len(looks)))
        for k, look in enumerate(looks):
            t = look.timestamp()
            # With a window a user enters only once it has closed, so the value they enter with is final.
            included = base & (self.exposed_at + (window or 0.0) <= t)
            counted = (times <= t) & included[user_idx]
            user_values, included = self._user_values(metric, user_idx[counted], values[counted], included)
            for arm, members in enumerate((included & ~self.treated, included & self.treated)):
                chosen = user_values[members]
                totals[arm, :, k] = (members.sum(), chosen.sum(), np.square(chosen).sum())
        control, treatment = (ArmSeries.of(*totals[arm]) for arm in (0, 1))
        return control, treatment

    def _user_values(
        self, metric: Metric, user_idx: NDArray[np.intp], values: NDArray[np.float64], included: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Each user's value, and the included users minus those a per-user mean cannot value (no outcome)."""
        if metric.kind == "binary":
            return (np.bincount(user_idx[values != 0.0], minlength=self.users) > 0).astype(float), included
        sums = np.bincount(user_idx, weights=values, minlength=self.users).astype(float)
        if metric.per_user == "sum":
            return sums, included
        counts = np.bincount(user_idx, minlength=self.users)
        return np.divide(sums, counts, out=np.zeros(self.users), where=counts > 0), included & (counts > 0)
