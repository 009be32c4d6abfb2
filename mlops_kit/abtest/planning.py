"""Planning a test: per-arm sample size for a minimum detectable effect, and the runtime it implies.

Both sample sizes solve the two-sided normal-approximation power equation exactly (both tails counted),
the same equation as statsmodels' ``NormalIndPower().solve_power``:

    power = Phi(|d| sqrt(m) - z) + Phi(-|d| sqrt(m) - z),   z = Phi^-1(1 - alpha/2),
    m = 1 / (1/n_control + 1/n_treatment)

with ``d`` the standardized effect: Cohen's ``h = 2 asin(sqrt(p + mde)) - 2 asin(sqrt(p))`` for a conversion
rate (statsmodels' ``proportion_effectsize(p + mde, p)``), ``mde / sd`` for a continuous metric. Each arm is
rounded up to a whole user.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MdeKind = Literal["absolute", "relative"]
"""``absolute``: the MDE is in the metric's units (0.01 is +1 percentage point on a rate).
``relative``: a fraction of the baseline (0.05 is +5% of the baseline rate or mean)."""


class SampleSize(BaseModel):
    """Users needed in each arm (randomization units, not requests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    control: int = Field(ge=1)
    treatment: int = Field(ge=1)

    @property
    def total(self) -> int:
        """Users needed in the experiment, both arms together."""
        return self.control + self.treatment


class Runtime(BaseModel):
    """How long the test must run to reach its sample size, in days and in whole weeks (business cycles)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(ge=1)
    weeks: int = Field(ge=1)


def check_open_unit(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``0 < value < 1``."""
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), exclusive, got {value}")


def check_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number above 0."""
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def absolute_mde(baseline: float, mde: float, mde_kind: MdeKind) -> float:
    """The MDE in the metric's units: ``mde`` itself, or ``mde * baseline`` when it is relative."""
    if mde_kind not in ("absolute", "relative"):
        raise ValueError(f"mde_kind must be 'absolute' or 'relative', got {mde_kind!r}")
    return mde if mde_kind == "absolute" else mde * baseline


def proportion_effect_size(treatment_rate: float, control_rate: float) -> float:
    """Cohen's h, the arcsine-transformed difference of two rates (statsmodels' ``proportion_effectsize``)."""
    return 2.0 * math.asin(math.sqrt(treatment_rate)) - 2.0 * math.asin(math.sqrt(control_rate))


def _check_test(alpha: float, power: float, treatment_share: float) -> None:
    check_open_unit("alpha", alpha)
    check_open_unit("power", power)
    check_open_unit("treatment_share", treatment_share)
    if power <= alpha:
        raise ValueError(f"power ({power}) must exceed alpha ({alpha}): any test reaches power alpha with no data")


def sample_size_for_effect(
    effect_size: float, *, alpha: float = 0.05, power: float = 0.8, treatment_share: float = 0.5
) -> SampleSize:
    """Per-arm users for a two-sided test to detect a standardized effect ``effect_size`` (``d`` above).

    ``treatment_share`` is the fraction of the experiment's users in treatment (0.5: equal arms).
    Raises ``ValueError`` when ``effect_size`` is zero or not finite, or alpha, power or treatment_share are
    outside (0, 1) (or power does not exceed alpha).
    """
    # scipy (0.6 s to import) only where a plan is sized: the Lambda functions that record outcomes import
    # this module for its models and never call it.
    from scipy import optimize, special

    _check_test(alpha, power, treatment_share)
    if not (math.isfinite(effect_size) and effect_size != 0.0):
        raise ValueError(f"effect_size must be a non-zero finite number, got {effect_size}")
    z = float(-special.ndtri(alpha / 2.0))
    d = abs(effect_size)

    def shortfall(m: float) -> float:
        shift = d * math.sqrt(m)
        return float(special.ndtr(shift - z) + special.ndtr(-z - shift)) - power

    # One tail alone needs slightly more users than both, so this closed form brackets the root from above;
    # at m = 0 the power is alpha < power.
    one_tail = ((z + float(special.ndtri(power))) / d) ** 2
    effective_n = optimize.brentq(shortfall, 0.0, one_tail, xtol=1e-12, rtol=1e-14)
    ratio = treatment_share / (1.0 - treatment_share)  # n_treatment / n_control
    control = effective_n * (1.0 + ratio) / ratio
    # The 1e-9 keeps a float-noise 3841.0000000001 at 3841 instead of rounding it up to 3842.
    return SampleSize(control=math.ceil(control - 1e-9), treatment=math.ceil(control * ratio - 1e-9))


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    mde_kind: MdeKind = "absolute",
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> SampleSize:
    """Per-arm users to detect a change of ``mde`` in a conversion rate whose control value is ``baseline``.

    The MDE is absolute by default (``0.01``: from 10% to 11%); ``mde_kind="relative"`` reads it as a fraction
    of the baseline (``0.1``: from 10% to 11%). A negative MDE plans for a decrease; the test is two-sided
    either way. Agrees with ``NormalIndPower().solve_power(proportion_effectsize(p + mde, p), alpha=alpha,
    power=power, ratio=n_treatment/n_control)`` (rounded up).

    Raises ``ValueError`` naming the argument when baseline is outside (0, 1), the MDE is zero or moves the
    rate outside (0, 1), or alpha, power or treatment_share are outside (0, 1).
    """
    check_open_unit("baseline", baseline)
    if not math.isfinite(mde):
        raise ValueError(f"mde must be a finite number, got {mde}")
    delta = absolute_mde(baseline, mde, mde_kind)
    if delta == 0.0:
        raise ValueError("mde must be non-zero: no sample size detects an effect of 0")
    if not 0.0 < baseline + delta < 1.0:
        raise ValueError(
            f"mde moves the rate outside (0, 1): baseline {baseline} + absolute mde {delta} = {baseline + delta}"
        )
    return sample_size_for_effect(
        proportion_effect_size(baseline + delta, baseline), alpha=alpha, power=power, treatment_share=treatment_share
    )


def sample_size_means(
    sd: float,
    mde: float,
    *,
    mde_kind: MdeKind = "absolute",
    baseline: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> SampleSize:
    """Per-arm users to detect a change of ``mde`` in the mean of a continuous metric with std dev ``sd``.

    ``sd`` is the per-user standard deviation (both arms assumed alike). The MDE is in the metric's units
    unless ``mde_kind="relative"``, which needs the control mean as ``baseline``.

    Raises ``ValueError`` when sd is not positive, the MDE is zero, a relative MDE has no non-zero baseline,
    or alpha, power or treatment_share are outside (0, 1).
    """
    check_positive("sd", sd)
    if not math.isfinite(mde):
        raise ValueError(f"mde must be a finite number, got {mde}")
    if mde_kind == "relative" and (baseline is None or baseline == 0.0 or not math.isfinite(baseline)):
        raise ValueError(f"a relative mde needs a non-zero finite baseline mean, got baseline={baseline}")
    delta = absolute_mde(baseline if baseline is not None else 0.0, mde, mde_kind)
    if delta == 0.0:
        raise ValueError("mde must be non-zero: no sample size detects an effect of 0")
    return sample_size_for_effect(delta / sd, alpha=alpha, power=power, treatment_share=treatment_share)


def runtime(
    sample_size: SampleSize, *, daily_users: float, coverage: float = 1.0, treatment_share: float = 0.5
) -> Runtime:
    """Days (and whole weeks, at least one) until both arms reach ``sample_size``.

    ``daily_users`` is the expected number of *new* distinct users reaching the endpoint per day (returning
    users add no sample); ``coverage`` the fraction of them in the experiment; ``treatment_share`` the fraction
    of those in treatment. Whole weeks, because a test stopped mid-week over-weights the weekdays it saw.

    Raises ``ValueError`` when daily_users is not positive, coverage is outside (0, 1] or treatment_share
    outside (0, 1).
    """
    check_positive("daily_users", daily_users)
    if not (math.isfinite(coverage) and 0.0 < coverage <= 1.0):
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    check_open_unit("treatment_share", treatment_share)
    in_test = daily_users * coverage
    days = math.ceil(
        max(
            sample_size.control / (in_test * (1.0 - treatment_share)),
            sample_size.treatment / (in_test * treatment_share),
        )
        - 1e-9
    )
    days = max(days, 1)
    return Runtime(days=days, weeks=math.ceil(days / 7))
