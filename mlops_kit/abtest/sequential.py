r"""Sequential analysis: the mixture sequential probability ratio test (mSPRT) with always-valid p-values.

Reference: Johari, Koomen, Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
(Operations Research 70(3), 2022; arXiv:1512.04922), the method behind Optimizely's Stats Engine.

The model
    At each look the estimate of the effect (treatment minus control mean, or conversion rate) is
    ``d ~ N(theta, V)`` with ``V = var_t / n_t + var_c / n_c``, the per-user variances plugged in from the data
    (``p (1 - p)`` for a conversion rate, the sample variance otherwise). Because each arm's data at one look
    contain the data of the previous looks, ``d / V`` moves like a Brownian motion in "information" ``1 / V``,
    whatever the allocation and however unevenly users arrive.

The statistic
    The likelihood ratio of ``theta`` against the null ``theta_0``, averaged over a normal mixing distribution
    ``theta ~ N(theta_0, tau^2)``::

        Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta_0)^2 / (2 V (V + tau^2)))

    is a non-negative martingale with mean 1 under the null, so by Ville's inequality
    ``P(Lambda ever >= 1 / alpha) <= alpha``. Hence the always-valid p-value ``p_n = min_{k <= n} 1 / Lambda_k``
    (a running minimum: it never goes up) may be looked at after every batch and acted on at any time without
    inflating the false-positive rate. Inverting it gives the confidence sequence
    ``d +/- sqrt(V (V + tau^2) / tau^2 * (2 log(1 / alpha) + log((V + tau^2) / V)))``, intersected over looks,
    which covers the true effect at every look simultaneously with probability ``1 - alpha``. The two agree:
    ``p_n <= alpha`` exactly when the sequence excludes ``theta_0``.

The mixing variance ``tau^2``
    ``tau`` is in the metric's units (an effect size, like the MDE). It sets where the test is most sensitive:
    the confidence sequence is narrowest when ``tau^2 = r V_N`` with ``r = 2 log(1 / alpha) + log(1 + r)``
    (r = 8.2 at alpha = 0.05), ``V_N`` being the variance of the estimate at the horizon that matters. For the
    planned sample size (5% two-sided, 80% power), ``V_N = (MDE / 2.80)^2``, which gives ``tau ~ 1.02 MDE``.
    So the kit's default is ``tau = |MDE|`` of the plan (for guardrails, the harm the team wants to catch), and
    a team that expects effects of another size sets ``mixing_sd`` in the plan. Any ``tau > 0`` keeps the
    false-positive guarantee; only the speed of detection changes.

Caveats
    The guarantee is exact for normal data with known variance; with plug-in variances it holds approximately
    once each arm has enough users for the central limit theorem, hence ``min_samples`` (looks before it give
    ``p = 1`` and an unbounded interval). In the test suite's A/A simulations (40 looks, conversion rates and
    skewed revenue, equal and 10/90 splits) the false-positive rate at alpha = 0.05 is 0.5-1.5%.
    Every user's value must be final when it enters (see the metric ``window`` in :mod:`.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from mlops_kit.abtest.planning import check_open_unit, check_positive
from mlops_kit.abtest.totals import DEFAULT_MIN_SAMPLES, ArmTotals, MetricKind

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ArmSeries:
    """One arm's cumulative totals at successive looks (the last axis); leading axes are independent series.

    Raises ``ValueError`` when the three arrays do not broadcast to one shape.
    """

    n: FloatArray
    total: FloatArray
    total_sq: FloatArray

    @classmethod
    def of(cls, n: ArrayLike, total: ArrayLike, total_sq: ArrayLike) -> ArmSeries:
        """Arrays from anything array-like, broadcast to one shape."""
        try:
            n_, total_, total_sq_ = np.broadcast_arrays(
                np.asarray(n, dtype=float), np.asarray(total, dtype=float), np.asarray(total_sq, dtype=float)
            )
        except ValueError as error:
            raise ValueError(f"n, total and total_sq must broadcast to one shape: {error}") from None
        return cls(n=n_, total=total_, total_sq=total_sq_)

    @classmethod
    def from_totals(cls, looks: Sequence[ArmTotals]) -> ArmSeries:
        """The series of one arm's totals, one :class:`ArmTotals` per look."""
        return cls.of([t.n for t in looks], [t.total for t in looks], [t.total_sq for t in looks])

    @classmethod
    def conversions(cls, n: ArrayLike, conversions: ArrayLike) -> ArmSeries:
        """A binary arm's series from cumulative users and cumulative conversions."""
        return cls.of(n, conversions, conversions)

    def mean(self) -> FloatArray:
        """Mean value at each look (NaN where the arm is empty)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.total / np.where(self.n > 0, self.n, 1.0), np.nan)

    def variance(self, kind: MetricKind) -> FloatArray:
        """Per-user variance at each look: ``p (1 - p)`` for binary, the sample variance (ddof 1) otherwise."""
        mean = self.mean()
        if kind == "binary":
            return mean * (1.0 - mean)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = np.maximum(self.total_sq - self.total * mean, 0.0)
            return np.where(self.n > 1, centred / np.where(self.n > 1, self.n - 1.0, 1.0), np.nan)


@dataclass(frozen=True)
class SequentialResult:
    """The two-sided mSPRT at each look (last axis). Values are as of that look, running ones include earlier looks.

    ``p_value`` is the always-valid p-value (running minimum); ``ci_low``/``ci_high`` the confidence sequence
    (running intersection; infinite before any look counts). ``difference`` and ``variance`` are the estimate
    of treatment minus control and its plug-in variance at that look (NaN while an arm is empty).
    """

    difference: FloatArray
    variance: FloatArray
    log_likelihood_ratio: FloatArray
    p_value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    alpha: float
    mixing_sd: float


@dataclass(frozen=True)
class OneSidedResult:
    """The one-sided mSPRT at each look: ``p_value`` is always valid for ``H0: effect <= null`` (or ``>=``)."""

    difference: FloatArray
    variance: FloatArray
    log_likelihood_ratio: FloatArray
    p_value: FloatArray
    alpha: float
    mixing_sd: float


def mixture_log_likelihood_ratio(
    difference: ArrayLike, variance: ArrayLike, *, mixing_sd: float, null: float = 0.0
) -> FloatArray:
    """``log Lambda`` of the normal-mixture SPRT for an estimate ``difference`` with variance ``variance``.

    Elementwise; ``variance`` must be positive where the result is used.
    """
    d = np.asarray(difference, dtype=float) - null
    v = np.asarray(variance, dtype=float)
    tau2 = mixing_sd * mixing_sd
    return 0.5 * np.log(v / (v + tau2)) + tau2 * d * d / (2.0 * v * (v + tau2))


def one_sided_mixture_log_likelihood_ratio(
    difference: ArrayLike, variance: ArrayLike, *, mixing_sd: float, null: float = 0.0
) -> FloatArray:
    """``log Lambda`` of the mSPRT against ``H0: effect <= null``, mixing over a half-normal on ``effect > null``.

    ``Lambda = 2 Phi(d tau / sqrt(V (V + tau^2))) * Lambda_two_sided(d)``, ``d = difference - null``: the
    integral of the normal likelihood ratio over the half-normal, in closed form. Each component
    ``exp(theta S - theta^2 I / 2)`` with ``theta > 0`` is a supermartingale wherever the effect is at or
    below the null, so Ville's inequality holds for the whole composite null.
    """
    d = np.asarray(difference, dtype=float) - null
    v = np.asarray(variance, dtype=float)
    tau = mixing_sd
    return (
        math.log(2.0)
        + special.log_ndtr(d * tau / np.sqrt(v * (v + tau * tau)))
        + mixture_log_likelihood_ratio(d, v, mixing_sd=mixing_sd)
    )


def confidence_sequence_half_width(variance: ArrayLike, *, mixing_sd: float, alpha: float) -> FloatArray:
    """Half-width at one look of the ``1 - alpha`` normal-mixture confidence sequence (before intersecting)."""
    v = np.asarray(variance, dtype=float)
    tau2 = mixing_sd * mixing_sd
    return np.sqrt(v * (v + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + np.log((v + tau2) / v)))


def _check(mixing_sd: float, alpha: float, min_samples: int) -> None:
    check_positive("mixing_sd", mixing_sd)
    check_open_unit("alpha", alpha)
    if min_samples < 2:
        raise ValueError(f"min_samples must be >= 2 (a variance needs two users), got {min_samples}")


def _estimate(
    control: ArmSeries, treatment: ArmSeries, kind: MetricKind, min_samples: int
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    if kind not in ("binary", "continuous"):
        raise ValueError(f"kind must be 'binary' or 'continuous', got {kind!r}")
    difference = treatment.mean() - control.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = treatment.variance(kind) / treatment.n + control.variance(kind) / control.n
    counts = (control.n >= min_samples) & (treatment.n >= min_samples)
    usable = counts & np.isfinite(variance) & (variance > 0.0) & np.isfinite(difference)
    return difference, variance, usable


def msprt(
    control: ArmSeries,
    treatment: ArmSeries,
    *,
    kind: MetricKind,
    mixing_sd: float,
    alpha: float = 0.05,
    null: float = 0.0,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> SequentialResult:
    """Two-sided mSPRT of ``H0: treatment - control = null`` at every look, with its confidence sequence.

    Looks where either arm has fewer than ``min_samples`` users, or the variance is 0, carry no evidence
    (``Lambda = 1``). Raises ``ValueError`` when mixing_sd is not positive, alpha is outside (0, 1),
    min_samples is below 2, kind is unknown or the arms' shapes do not broadcast.
    """
    _check(mixing_sd, alpha, min_samples)
    difference, variance, usable = _estimate(control, treatment, kind, min_samples)
    safe_variance = np.where(usable, variance, 1.0)
    log_lr = np.where(
        usable,
        mixture_log_likelihood_ratio(np.where(usable, difference, 0.0), safe_variance, mixing_sd=mixing_sd, null=null),
        0.0,
    )
    half_width = confidence_sequence_half_width(safe_variance, mixing_sd=mixing_sd, alpha=alpha)
    low = np.where(usable, difference - half_width, -np.inf)
    high = np.where(usable, difference + half_width, np.inf)
    return SequentialResult(
        difference=difference,
        variance=variance,
        log_likelihood_ratio=log_lr,
        p_value=np.minimum.accumulate(np.minimum(np.exp(-log_lr), 1.0), axis=-1),
        ci_low=np.maximum.accumulate(low, axis=-1),
        ci_high=np.minimum.accumulate(high, axis=-1),
        alpha=alpha,
        mixing_sd=mixing_sd,
    )


def msprt_one_sided(
    control: ArmSeries,
    treatment: ArmSeries,
    *,
    kind: MetricKind,
    mixing_sd: float,
    alternative: Literal["greater", "less"],
    alpha: float = 0.05,
    null: float = 0.0,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> OneSidedResult:
    """One-sided mSPRT at every look: ``greater`` tests ``H0: treatment - control <= null``, ``less`` tests ``>=``.

    Evidence only accumulates for effects beyond ``null`` in the ``alternative`` direction, so an effect in the
    other direction never rejects. Raises ``ValueError`` like :func:`msprt`, and for an unknown alternative.
    """
    _check(mixing_sd, alpha, min_samples)
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    difference, variance, usable = _estimate(control, treatment, kind, min_samples)
    oriented = difference - null if alternative == "greater" else null - difference
    log_lr = np.where(
        usable,
        one_sided_mixture_log_likelihood_ratio(
            np.where(usable, oriented, 0.0), np.where(usable, variance, 1.0), mixing_sd=mixing_sd
        ),
        0.0,
    )
    return OneSidedResult(
        difference=difference,
        variance=variance,
        log_likelihood_ratio=log_lr,
        p_value=np.minimum.accumulate(np.minimum(np.exp(-log_lr), 1.0), axis=-1),
        alpha=alpha,
        mixing_sd=mixing_sd,
    )
