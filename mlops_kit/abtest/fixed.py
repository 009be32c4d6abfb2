"""Fixed-horizon analysis: one test, once, at the planned sample size.

Valid only when looked at once (at the planned size); for looking every day use :mod:`.sequential`.

* Conversion rates: the two-proportion z-test with the pooled variance under the null (statsmodels'
  ``proportions_ztest``) for the p-value, and the unpooled Wald interval (statsmodels'
  ``confint_proportions_2indep(method="wald")``) for the confidence interval. This is the textbook pairing;
  at the very edge of significance the two can disagree on which side of the line the result falls.
* Continuous metrics: Welch's t-test (unequal variances, Welch-Satterthwaite degrees of freedom), the p-value
  and interval of ``scipy.stats.ttest_ind(equal_var=False)``.

The difference is always treatment minus control. Distribution functions come from ``scipy.special``
(``ndtr``, ``stdtr`` and their inverses), the routines behind ``scipy.stats``, without its per-call cost.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict
from scipy import special

from mlops_kit.abtest.planning import check_open_unit
from mlops_kit.abtest.totals import ArmTotals, MetricKind


class FixedHorizonResult(BaseModel):
    """The outcome of a fixed-horizon test of treatment minus control."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    difference: float
    relative_difference: float | None
    """``difference / control_mean``; ``None`` when the control mean is 0."""
    ci_low: float
    ci_high: float
    confidence: float
    statistic: float
    df: float | None
    """Degrees of freedom of the t distribution; ``None`` for a z-test."""
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the p-value is at or below ``1 - confidence`` (the test's alpha)."""
        return self.p_value <= 1.0 - self.confidence + 1e-12


def _relative(difference: float, control_mean: float) -> float | None:
    return difference / control_mean if control_mean != 0.0 else None


def two_proportion_ztest(control: ArmTotals, treatment: ArmTotals, *, alpha: float = 0.05) -> FixedHorizonResult:
    """Two-sided two-proportion z-test of treatment vs control conversion rates, with a ``1 - alpha`` CI.

    Raises ``ValueError`` when alpha is outside (0, 1), an arm is empty or not binary, or both arms are all
    0 or all 1 (no variance: the test is undefined).
    """
    check_open_unit("alpha", alpha)
    for name, arm in (("control", control), ("treatment", treatment)):
        arm.check_binary(name)
        if arm.n < 1:
            raise ValueError(f"{name} has no users; the test needs at least one per arm")
    p_c, p_t = control.mean, treatment.mean
    difference = p_t - p_c
    pooled = (control.total + treatment.total) / (control.n + treatment.n)
    null_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / control.n + 1.0 / treatment.n))
    if null_se == 0.0:
        raise ValueError("both arms converted at 0% or both at 100%: no variance, the z-test is undefined")
    z = difference / null_se
    se = math.sqrt(p_c * (1.0 - p_c) / control.n + p_t * (1.0 - p_t) / treatment.n)
    half_width = float(-special.ndtri(alpha / 2.0)) * se
    return FixedHorizonResult(
        test="two-proportion z-test",
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=p_c,
        treatment_mean=p_t,
        difference=difference,
        relative_difference=_relative(difference, p_c),
        ci_low=difference - half_width,
        ci_high=difference + half_width,
        confidence=1.0 - alpha,
        statistic=z,
        df=None,
        p_value=float(2.0 * special.ndtr(-abs(z))),
    )


def welch_ttest(control: ArmTotals, treatment: ArmTotals, *, alpha: float = 0.05) -> FixedHorizonResult:
    """Two-sided Welch t-test of treatment vs control means, with a ``1 - alpha`` CI.

    Raises ``ValueError`` when alpha is outside (0, 1), an arm has fewer than 2 users, or both arms have zero
    variance (the test is undefined).
    """
    check_open_unit("alpha", alpha)
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise ValueError(f"{name} has {arm.n} users; Welch's test needs at least 2 per arm")
    var_c = control.variance("continuous") / control.n
    var_t = treatment.variance("continuous") / treatment.n
    se2 = var_c + var_t
    if se2 == 0.0:
        raise ValueError("both arms have zero variance: Welch's test is undefined")
    se = math.sqrt(se2)
    df = se2 * se2 / (var_c * var_c / (control.n - 1) + var_t * var_t / (treatment.n - 1))
    difference = treatment.mean - control.mean
    t = difference / se
    half_width = float(-special.stdtrit(df, alpha / 2.0)) * se
    return FixedHorizonResult(
        test="Welch t-test",
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        difference=difference,
        relative_difference=_relative(difference, control.mean),
        ci_low=difference - half_width,
        ci_high=difference + half_width,
        confidence=1.0 - alpha,
        statistic=t,
        df=df,
        p_value=float(2.0 * special.stdtr(df, -abs(t))),
    )


def fixed_horizon(
    control: ArmTotals, treatment: ArmTotals, *, kind: MetricKind, alpha: float = 0.05
) -> FixedHorizonResult:
    """The fixed-horizon test for a metric of ``kind``: z-test for ``binary``, Welch for ``continuous``.

    Raises what the chosen test raises, or ``ValueError`` for an unknown kind.
    """
    if kind == "binary":
        return two_proportion_ztest(control, treatment, alpha=alpha)
    if kind == "continuous":
        return welch_ttest(control, treatment, alpha=alpha)
    raise ValueError(f"kind must be 'binary' or 'continuous', got {kind!r}")
