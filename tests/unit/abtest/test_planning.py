"""Planning: sample sizes against statsmodels' NormalIndPower, runtime in whole weeks, and bad inputs."""

from __future__ import annotations

import itertools
import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from mlops_kit.abtest.planning import (
    SampleSize,
    runtime,
    sample_size_means,
    sample_size_proportions,
)

BASELINES = [0.005, 0.02, 0.1, 0.3, 0.5, 0.85]
RELATIVE_MDES = [-0.1, 0.05, 0.1, 0.3]
ALPHAS = [0.01, 0.05, 0.1]
POWERS = [0.8, 0.9]
SHARES = [0.5, 0.2, 0.7]

GRID = [
    (p, m, a, pw, s)
    for p, m, a, pw, s in itertools.product(BASELINES, RELATIVE_MDES, ALPHAS, POWERS, SHARES)
    if 0 < p * (1 + m) < 1
]


def reference(effect_size: float, alpha: float, power: float, share: float) -> tuple[float, float]:
    """statsmodels' per-arm sizes (control is nobs1; ratio = n_treatment / n_control)."""
    ratio = share / (1 - share)
    control = NormalIndPower().solve_power(effect_size=effect_size, alpha=alpha, power=power, ratio=ratio)
    return control, control * ratio


def test_the_grid_is_wide() -> None:
    assert len(GRID) >= 400


@pytest.mark.parametrize("baseline", BASELINES)
def test_proportion_sample_size_agrees_with_statsmodels(baseline: float) -> None:
    # One test per baseline, looping over the rest of the grid: 400 tiny cases as test items would cost more
    # in pytest overhead than in arithmetic.
    disagreements = []
    for _, relative_mde, alpha, power, share in (case for case in GRID if case[0] == baseline):
        mde = baseline * relative_mde
        control, treatment = reference(proportion_effectsize(baseline + mde, baseline), alpha, power, share)

        size = sample_size_proportions(baseline, mde, alpha=alpha, power=power, treatment_share=share)

        if abs(size.control - math.ceil(control)) > 1 or abs(size.treatment - math.ceil(treatment)) > 1:
            disagreements.append((relative_mde, alpha, power, share, size, control, treatment))
    assert disagreements == []


@pytest.mark.parametrize(("baseline", "relative_mde"), [(0.1, 0.1), (0.03, -0.2), (0.5, 0.02)])
@pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.8), (0.01, 0.9)])
def test_the_size_is_the_smallest_that_reaches_the_power(
    baseline: float, relative_mde: float, alpha: float, power: float
) -> None:
    mde = baseline * relative_mde
    effect = proportion_effectsize(baseline + mde, baseline)
    size = sample_size_proportions(baseline, mde, alpha=alpha, power=power)

    achieved = NormalIndPower().power(effect_size=effect, nobs1=size.control, alpha=alpha, ratio=1)
    one_less = NormalIndPower().power(effect_size=effect, nobs1=size.control - 1, alpha=alpha, ratio=1)

    assert size.control == size.treatment
    assert achieved >= power > one_less


def test_relative_and_absolute_mde_plan_the_same_test() -> None:
    assert sample_size_proportions(0.1, 0.1, mde_kind="relative") == sample_size_proportions(0.1, 0.01)
    assert sample_size_means(5.0, 0.1, mde_kind="relative", baseline=20.0) == sample_size_means(5.0, 2.0)


def test_a_known_textbook_size() -> None:
    # 10% -> 11% at 5% two-sided and 80% power: 14,745 users per arm (statsmodels: 14,744.1).
    assert sample_size_proportions(0.1, 0.01) == SampleSize(control=14_745, treatment=14_745)


@pytest.mark.parametrize(("sd", "mde"), [(1.0, 0.1), (12.5, 0.8), (200.0, -15.0), (3.0, 2.5)])
@pytest.mark.parametrize(("alpha", "power", "share"), [(0.05, 0.8, 0.5), (0.01, 0.95, 0.3)])
def test_mean_sample_size_agrees_with_statsmodels(
    sd: float, mde: float, alpha: float, power: float, share: float
) -> None:
    control, treatment = reference(mde / sd, alpha, power, share)

    size = sample_size_means(sd, mde, alpha=alpha, power=power, treatment_share=share)

    assert abs(size.control - math.ceil(control)) <= 1
    assert abs(size.treatment - math.ceil(treatment)) <= 1


@pytest.mark.parametrize(
    ("size", "daily", "coverage", "share", "days", "weeks"),
    [
        (SampleSize(control=14_745, treatment=14_745), 1_000, 1.0, 0.5, 30, 5),  # 29.49 days
        (SampleSize(control=14_745, treatment=14_745), 1_000, 0.5, 0.5, 59, 9),
        (SampleSize(control=36_861, treatment=9_216), 1_000, 1.0, 0.2, 47, 7),  # both arms fill in 46.08 days
        (SampleSize(control=36_861, treatment=9_216), 1_000, 1.0, 0.5, 74, 11),  # control is the bottleneck
        (SampleSize(control=100, treatment=100), 10_000, 1.0, 0.5, 1, 1),  # at least one whole week
        (SampleSize(control=7_000, treatment=7_000), 2_000, 1.0, 0.5, 7, 1),  # exactly one week, not two
    ],
)
def test_runtime_in_whole_weeks(
    size: SampleSize, daily: float, coverage: float, share: float, days: int, weeks: int
) -> None:
    planned = runtime(size, daily_users=daily, coverage=coverage, treatment_share=share)

    assert (planned.days, planned.weeks) == (days, weeks)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_size_proportions(0.0, 0.01), r"baseline must be in \(0, 1\), exclusive, got 0.0"),
        (lambda: sample_size_proportions(1.0, -0.01), r"baseline must be in \(0, 1\)"),
        (lambda: sample_size_proportions(1.2, 0.01), r"baseline must be in \(0, 1\)"),
        (lambda: sample_size_proportions(-0.1, 0.01), r"baseline must be in \(0, 1\)"),
        (lambda: sample_size_proportions(math.nan, 0.01), r"baseline must be in \(0, 1\)"),
        (lambda: sample_size_proportions(0.1, 0.0), "mde must be non-zero"),
        (lambda: sample_size_proportions(0.1, 0.0, mde_kind="relative"), "mde must be non-zero"),
        (lambda: sample_size_proportions(0.95, 0.05), r"mde moves the rate outside \(0, 1\)"),
        (lambda: sample_size_proportions(0.05, -0.5, mde_kind="absolute"), r"mde moves the rate outside \(0, 1\)"),
        (lambda: sample_size_proportions(0.5, 1.0, mde_kind="relative"), r"mde moves the rate outside \(0, 1\)"),
        (
            lambda: sample_size_proportions(0.1, 0.01, mde_kind="percent"),  # type: ignore[arg-type]  # the bad input
            "mde_kind must be 'absolute' or 'relative'",
        ),
        (lambda: sample_size_proportions(0.1, 0.01, alpha=0.0), r"alpha must be in \(0, 1\)"),
        (lambda: sample_size_proportions(0.1, 0.01, alpha=1.0), r"alpha must be in \(0, 1\)"),
        (lambda: sample_size_proportions(0.1, 0.01, power=1.0), r"power must be in \(0, 1\)"),
        (lambda: sample_size_proportions(0.1, 0.01, power=0.0), r"power must be in \(0, 1\)"),
        (lambda: sample_size_proportions(0.1, 0.01, power=0.04), r"power \(0.04\) must exceed alpha \(0.05\)"),
        (lambda: sample_size_proportions(0.1, 0.01, treatment_share=1.0), r"treatment_share must be in \(0, 1\)"),
        (lambda: sample_size_means(0.0, 1.0), "sd must be a finite number > 0"),
        (lambda: sample_size_means(1.0, 0.0), "mde must be non-zero"),
        (lambda: sample_size_means(1.0, 0.1, mde_kind="relative"), "a relative mde needs a non-zero finite baseline"),
        (lambda: runtime(SampleSize(control=1, treatment=1), daily_users=0), "daily_users must be a finite number > 0"),
        (
            lambda: runtime(SampleSize(control=1, treatment=1), daily_users=10, coverage=0.0),
            r"coverage must be in \(0, 1\]",
        ),
    ],
)
def test_bad_inputs_name_the_argument_and_the_allowed_range(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
