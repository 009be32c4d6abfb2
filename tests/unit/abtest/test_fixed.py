"""Fixed-horizon tests against statsmodels and scipy, and their power and size at the planned sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from mlops_kit.abtest.fixed import fixed_horizon, two_proportion_ztest, welch_ttest
from mlops_kit.abtest.planning import sample_size_proportions
from mlops_kit.abtest.totals import ArmTotals

PROPORTION_CASES = [
    # (control conversions, control n, treatment conversions, treatment n)
    (1474, 14745, 1622, 14745),
    (50, 1000, 71, 1200),
    (300, 600, 280, 610),
    (3, 400, 9, 350),
    (0, 200, 4, 200),
]


@pytest.mark.parametrize(("x_c", "n_c", "x_t", "n_t"), PROPORTION_CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_two_proportion_ztest_agrees_with_statsmodels(x_c: int, n_c: int, x_t: int, n_t: int, alpha: float) -> None:
    z, p = proportions_ztest([x_t, x_c], [n_t, n_c])
    low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=alpha)

    result = two_proportion_ztest(
        ArmTotals.from_conversions(n_c, x_c), ArmTotals.from_conversions(n_t, x_t), alpha=alpha
    )

    assert result.statistic == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert result.difference == pytest.approx(x_t / n_t - x_c / n_c)
    assert result.confidence == 1 - alpha
    assert result.significant == (p <= alpha)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("n_c", "n_t", "sd_c", "sd_t"), [(50, 50, 1.0, 1.0), (200, 80, 2.0, 5.0), (1000, 3000, 10.0, 9.0)]
)
def test_welch_agrees_with_scipy_and_statsmodels(seed: int, n_c: int, n_t: int, sd_c: float, sd_t: float) -> None:
    rng = np.random.default_rng(seed)
    control = rng.normal(10.0, sd_c, n_c)
    treatment = rng.normal(10.4, sd_t, n_t)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(0.95)
    statsmodels_ci = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(usevar="unequal")

    result = welch_ttest(ArmTotals.from_values(control), ArmTotals.from_values(treatment))

    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-9)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(interval.low, rel=1e-9),
        pytest.approx(interval.high, rel=1e-9),
    )
    assert (result.ci_low, result.ci_high) == (pytest.approx(statsmodels_ci[0]), pytest.approx(statsmodels_ci[1]))
    assert result.relative_difference == pytest.approx(result.difference / control.mean())


def test_fixed_horizon_dispatches_on_the_metric_kind() -> None:
    control, treatment = ArmTotals.from_conversions(1000, 100), ArmTotals.from_conversions(1000, 130)

    assert fixed_horizon(control, treatment, kind="binary").test == "two-proportion z-test"
    assert fixed_horizon(control, treatment, kind="continuous").test == "Welch t-test"
    with pytest.raises(ValueError, match="kind must be 'binary' or 'continuous'"):
        fixed_horizon(control, treatment, kind="ordinal")  # type: ignore[arg-type]


def _simulated_rejections(rate_c: float, rate_t: float, n: int, experiments: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x_c = rng.binomial(n, rate_c, experiments)
    x_t = rng.binomial(n, rate_t, experiments)
    p_values = [
        two_proportion_ztest(ArmTotals.from_conversions(n, int(c)), ArmTotals.from_conversions(n, int(t))).p_value
        for c, t in zip(x_c, x_t, strict=True)
    ]
    return float(np.mean(np.array(p_values) <= 0.05))


def test_at_the_planned_size_the_test_has_the_planned_power_and_size() -> None:
    # 4,000 experiments: the standard error of a rate near 0.8 is 0.0063 and near 0.05 is 0.0034, so the
    # bounds below sit more than 4.4 standard errors away (a false failure below 1e-5).
    n = sample_size_proportions(0.1, 0.02).control

    power = _simulated_rejections(0.1, 0.12, n, 4000, seed=11)
    size = _simulated_rejections(0.1, 0.1, n, 4000, seed=12)

    assert 0.77 <= power <= 0.83
    assert 0.035 <= size <= 0.065


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: two_proportion_ztest(ArmTotals.from_conversions(100, 0), ArmTotals.from_conversions(100, 0)),
            "no variance",
        ),
        (
            lambda: two_proportion_ztest(ArmTotals.from_conversions(0, 0), ArmTotals.from_conversions(10, 1)),
            "control has no users",
        ),
        (
            lambda: two_proportion_ztest(ArmTotals(n=10, total=2.5, total_sq=2.5), ArmTotals.from_conversions(10, 1)),
            "control is not a binary arm",
        ),
        (
            lambda: two_proportion_ztest(
                ArmTotals.from_conversions(10, 1), ArmTotals.from_conversions(10, 1), alpha=1.5
            ),
            r"alpha must be in \(0, 1\)",
        ),
        (lambda: welch_ttest(ArmTotals.from_values([1.0]), ArmTotals.from_values([1.0, 2.0])), "at least 2 per arm"),
        (lambda: welch_ttest(ArmTotals.from_values([1.0, 1.0]), ArmTotals.from_values([2.0, 2.0])), "zero variance"),
        (lambda: ArmTotals.from_conversions(10, 11), r"conversions must be in \[0, n=10\]"),
        (lambda: ArmTotals(n=-1, total=0.0, total_sq=0.0), "n must be >= 0"),
        (lambda: ArmTotals(n=1, total=float("nan"), total_sq=0.0), "must be finite"),
    ],
)
def test_bad_inputs_are_rejected(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
