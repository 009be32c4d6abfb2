"""Per-arm sufficient statistics: user count, sum and sum of squares of the per-user metric value.

Every analysis in this package works from these three numbers per arm, so storage can keep them as running
counters (DynamoDB ``ADD``) instead of raw rows, and an arm can be updated without re-reading its history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

DEFAULT_MIN_SAMPLES = 100
"""Users each arm needs before a look counts: below it the plug-in variance is too noisy to trust."""

MetricKind = Literal["binary", "continuous"]
"""``binary``: a 0/1 value per user (converted or not), analysed as a proportion.
``continuous``: any real value per user (revenue, latency), analysed as a mean."""


@dataclass(frozen=True)
class ArmTotals:
    """One arm's ``n`` users, the ``total`` of their values and the ``total_sq`` of their squared values.

    Raises ``ValueError`` on a negative count, non-finite sums, or a binary arm whose total is not a count of
    converted users within ``0..n`` (for 0/1 values ``total_sq`` equals ``total``).
    """

    n: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        if not (math.isfinite(self.total) and math.isfinite(self.total_sq)):
            raise ValueError(f"total and total_sq must be finite, got {self.total}, {self.total_sq}")
        if self.total_sq < 0:
            raise ValueError(f"total_sq must be >= 0, got {self.total_sq}")

    @classmethod
    def from_conversions(cls, n: int, conversions: int) -> ArmTotals:
        """A binary arm: ``conversions`` of ``n`` users converted. Raises ``ValueError`` unless in [0, n]."""
        if not 0 <= conversions <= n:
            raise ValueError(f"conversions must be in [0, n={n}], got {conversions}")
        return cls(n=n, total=float(conversions), total_sq=float(conversions))

    @classmethod
    def from_values(cls, values: Iterable[float]) -> ArmTotals:
        """The totals of per-user values (one value per user)."""
        import numpy as np  # here only: the experiment models import this module in functions that record

        array = np.asarray(list(values), dtype=float)
        return cls(n=int(array.size), total=float(array.sum()), total_sq=float(np.square(array).sum()))

    @property
    def mean(self) -> float:
        """The arm's mean value (conversion rate for a binary metric); NaN for an empty arm."""
        return self.total / self.n if self.n else math.nan

    def variance(self, kind: MetricKind) -> float:
        """Per-user variance: ``p(1 - p)`` for a binary metric, the sample variance (ddof 1) otherwise.

        NaN when the arm is too small for it (no users; one user for a continuous metric).
        """
        if kind == "binary":
            p = self.mean
            return p * (1.0 - p)
        if self.n < 2:
            return math.nan
        return max(self.total_sq - self.total * self.total / self.n, 0.0) / (self.n - 1)

    def check_binary(self, name: str) -> None:
        """Raise ``ValueError`` (naming the arm) unless this arm holds 0/1 values: a count of converted users."""
        if not (self.total == self.total_sq and float(self.total).is_integer() and 0 <= self.total <= self.n):
            raise ValueError(
                f"{name} is not a binary arm: total ({self.total}) must be a whole count of converted users in "
                f"[0, n={self.n}] and equal total_sq ({self.total_sq})"
            )
