"""Metric definitions: what one user's value is, the primary metric's MDE, a guardrail's notion of harm.

A user's value for a metric comes from the outcomes recorded for them after their first exposure:

* ``binary``: 1 when the user has any outcome with a non-zero value (converted, saw an error), else 0.
  Every exposed user counts, converted or not.
* ``continuous`` with ``per_user="sum"``: the sum of the user's outcome values (revenue per user, errors per
  user); users with no outcome count as 0.
* ``continuous`` with ``per_user="mean"``: the mean of the user's outcome values (latency per user); users
  with no outcome are left out.

``window``: outcomes count only within this time after the user's first exposure, and a user enters the
analysis only once their window has closed, so their value is final when it is first used (the sequential
test assumes a value never changes after it entered; a conversion arriving days later would otherwise turn
an earlier 0 into a 1). Without a window every exposed user enters at once with the outcomes so far.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_kit.abtest.planning import MdeKind, absolute_mde
from mlops_kit.abtest.totals import MetricKind

METRIC_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

Direction = Literal["higher_is_worse", "lower_is_worse"]
"""For a guardrail: ``higher_is_worse`` (error rate, latency), ``lower_is_worse`` (revenue, retention)."""


class Metric(BaseModel):
    """What is measured per user; see the module docstring for how outcomes become a user's value.

    Raises ``ValueError`` for a non-positive window or ``per_user="mean"`` on a binary metric.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=METRIC_NAME_PATTERN)
    kind: MetricKind
    per_user: Literal["sum", "mean"] = "sum"
    window: timedelta | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if self.kind == "binary" and self.per_user != "sum":
            raise ValueError(f"metric {self.name!r}: per_user applies to continuous metrics; leave it unset for binary")
        if self.window is not None and self.window <= timedelta(0):
            raise ValueError(f"metric {self.name!r}: window must be positive, got {self.window}")
        return self

    def same_measurement(self, other: Metric) -> bool:
        """Whether ``other`` turns outcomes into user values the same way (same name, kind, per_user, window)."""
        return (self.name, self.kind, self.per_user, self.window) == (
            other.name,
            other.kind,
            other.per_user,
            other.window,
        )


class PrimaryMetric(Metric):
    """The metric the decision is made on, with the effect the test is sized to detect.

    ``baseline`` is the control's conversion rate (binary, in (0, 1)) or mean (continuous); ``sd`` the per-user
    standard deviation (continuous only, required). ``mde`` is absolute unless ``mde_kind="relative"``.
    ``mixing_sd`` is the mSPRT's ``tau`` (see :mod:`.sequential`); unset, it is ``|absolute MDE|``.

    Raises ``ValueError`` naming the field for a baseline outside (0, 1) on a binary metric, a missing or
    non-positive sd on a continuous one (or an sd on a binary one), a zero MDE, an MDE that moves a rate
    outside (0, 1), or a non-positive mixing_sd.
    """

    baseline: float
    sd: float | None = None
    mde: float
    mde_kind: MdeKind = "absolute"
    mixing_sd: float | None = None

    @model_validator(mode="after")
    def _valid_design(self) -> PrimaryMetric:
        if not math.isfinite(self.baseline):
            raise ValueError(f"baseline must be finite, got {self.baseline}")
        if self.kind == "binary":
            if not 0.0 < self.baseline < 1.0:
                raise ValueError(f"baseline must be a conversion rate in (0, 1), exclusive, got {self.baseline}")
            if self.sd is not None:
                raise ValueError("sd applies to continuous metrics; a binary metric's variance follows from its rate")
        elif self.sd is None or not (math.isfinite(self.sd) and self.sd > 0.0):
            raise ValueError(f"sd must be a finite number > 0 for a continuous metric, got {self.sd}")
        if self.mde_kind == "relative" and self.baseline == 0.0:
            raise ValueError("a relative mde needs a non-zero baseline")
        if not math.isfinite(self.mde) or self.absolute_mde == 0.0:
            raise ValueError(f"mde must be a non-zero finite number, got {self.mde}")
        if self.kind == "binary" and not 0.0 < self.baseline + self.absolute_mde < 1.0:
            raise ValueError(
                f"mde moves the rate outside (0, 1): baseline {self.baseline} + absolute mde "
                f"{self.absolute_mde} = {self.baseline + self.absolute_mde}"
            )
        if self.mixing_sd is not None and not (math.isfinite(self.mixing_sd) and self.mixing_sd > 0.0):
            raise ValueError(f"mixing_sd must be a finite number > 0, got {self.mixing_sd}")
        return self

    @property
    def absolute_mde(self) -> float:
        """The MDE in the metric's units."""
        return absolute_mde(self.baseline, self.mde, self.mde_kind)

    @property
    def tau(self) -> float:
        """The mSPRT mixing standard deviation in use: ``mixing_sd``, else ``|absolute MDE|``."""
        return self.mixing_sd if self.mixing_sd is not None else abs(self.absolute_mde)


class GuardrailMetric(Metric):
    """A metric the treatment must not harm; a clear harm stops the experiment early.

    ``direction`` says which way is harm. ``harm_to_detect`` (metric units, > 0) is the size of harm the check
    is tuned to catch quickly: the one-sided mSPRT's ``tau``. ``tolerance`` (metric units, >= 0) is harm that
    is acceptable: the check tests ``H0: harm <= tolerance``.

    Raises ``ValueError`` for a non-positive harm_to_detect or a negative tolerance.
    """

    direction: Direction
    harm_to_detect: float = Field(gt=0.0, allow_inf_nan=False)
    tolerance: float = Field(0.0, ge=0.0, allow_inf_nan=False)
