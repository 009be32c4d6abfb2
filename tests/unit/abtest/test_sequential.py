"""The mSPRT: closed forms against numerical integration, always-valid error control by simulation, power.

Simulations are seeded and vectorised across experiments. Each bound on a simulated rate sits at least
4 standard errors from the rate the method actually has (stated per test), so a different seed would fail
with probability below 1e-4; the seeds are fixed, so runs are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mlops_kit.abtest.planning import sample_size_proportions
from mlops_kit.abtest.sequential import (
    ArmSeries,
    confidence_sequence_half_width,
    mixture_log_likelihood_ratio,
    msprt,
    one_sided_mixture_log_likelihood_ratio,
)
from tests.unit.abtest.simulate import binary_arm, lognormal_arm, naive_p_values

ALPHA = 0.05


def normal_likelihood_ratio(theta: float, d: float, v: float, null: float) -> float:
    return math.exp(stats.norm.logpdf(d, theta, math.sqrt(v)) - stats.norm.logpdf(d, null, math.sqrt(v)))


@pytest.mark.parametrize(
    ("d", "v", "tau", "null"),
    [
        (0.01, 1e-5, 0.01, 0.0),
        (0.0, 2e-4, 0.02, 0.0),
        (-0.03, 1e-4, 0.005, 0.0),
        (1.5, 0.3, 1.0, 0.5),
        (0.2, 1.0, 3.0, 0.0),
    ],
)
def test_two_sided_mixture_is_the_integral_over_the_normal_mixing_distribution(
    d: float, v: float, tau: float, null: float
) -> None:
    span = 40 * max(tau, math.sqrt(v))
    expected, _ = integrate.quad(
        lambda theta: normal_likelihood_ratio(theta, d, v, null) * stats.norm.pdf(theta, null, tau),
        null - span,
        null + span,
        points=[d],
        limit=400,
    )

    assert math.exp(mixture_log_likelihood_ratio(d, v, mixing_sd=tau, null=null)) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(
    ("d", "v", "tau", "null"),
    [
        (0.01, 1e-5, 0.01, 0.0),
        (-0.01, 1e-5, 0.01, 0.0),
        (0.0, 2e-4, 0.02, 0.0),
        (2.0, 0.3, 1.0, 0.5),
        (0.4, 1.0, 3.0, 0.5),
    ],
)
def test_one_sided_mixture_is_the_integral_over_the_half_normal(d: float, v: float, tau: float, null: float) -> None:
    span = 40 * max(tau, math.sqrt(v))
    expected, _ = integrate.quad(
        lambda theta: normal_likelihood_ratio(theta, d, v, null) * 2 * stats.norm.pdf(theta, null, tau),
        null,
        null + span,
        points=[max(d, null + 1e-12)],
        limit=400,
    )

    assert math.exp(one_sided_mixture_log_likelihood_ratio(d, v, mixing_sd=tau, null=null)) == pytest.approx(
        expected, rel=1e-7
    )


def test_default_tau_makes_the_confidence_sequence_tightest_near_the_planned_size() -> None:
    # The sequential module's claim: tau = |MDE| is (within a few percent) the tau whose confidence sequence is
    # narrowest at the planned sample size.
    baseline, mde = 0.1, 0.01
    n = sample_size_proportions(baseline, mde).control
    v_planned = (baseline * (1 - baseline) + (baseline + mde) * (1 - baseline - mde)) / n
    taus = mde * np.geomspace(0.2, 5.0, 2001)
    widths = confidence_sequence_half_width(v_planned, mixing_sd=taus, alpha=ALPHA)  # type: ignore[arg-type]

    best = taus[np.argmin(widths)] / mde
    at_mde = confidence_sequence_half_width(v_planned, mixing_sd=mde, alpha=ALPHA)

    assert 0.9 <= best <= 1.15
    assert at_mde <= 1.002 * widths.min()


def test_p_value_and_confidence_sequence_agree_and_only_tighten() -> None:
    rng = np.random.default_rng(5)
    control = binary_arm(rng, 0.1, 300, 200, 30)
    treatment = binary_arm(rng, 0.107, 300, 200, 30)

    result = msprt(control, treatment, kind="binary", mixing_sd=0.01)

    excludes_zero = (result.ci_low > 0) | (result.ci_high < 0)
    assert np.array_equal(result.p_value <= ALPHA, excludes_zero)
    assert excludes_zero.any()
    assert excludes_zero.mean() < 1
    assert np.all(np.diff(result.p_value, axis=1) <= 0)
    assert np.all(np.diff(result.ci_low, axis=1) >= 0)
    assert np.all(np.diff(result.ci_high, axis=1) <= 0)


def test_looks_before_the_minimum_sample_carry_no_evidence() -> None:
    control = ArmSeries.conversions([50, 99, 100, 400], [0, 1, 2, 8])
    treatment = ArmSeries.conversions([50, 99, 100, 400], [40, 80, 80, 320])

    result = msprt(control, treatment, kind="binary", mixing_sd=0.05, min_samples=100)

    assert result.p_value[:2].tolist() == [1.0, 1.0]
    assert np.isinf(result.ci_low[:2]).all()
    assert np.isinf(result.ci_high[:2]).all()
    assert result.p_value[2] < 1e-10
    assert result.difference[0] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("kind", "share", "batch"),
    [("binary", 0.5, 300), ("binary", 0.1, 300), ("continuous", 0.5, 100), ("continuous", 0.2, 100)],
)
def test_aa_peeking_after_every_batch_keeps_msprt_false_positives_at_or_below_alpha(
    kind: str, share: float, batch: int
) -> None:
    # Given many A/A experiments (no true effect) looked at after every one of 40 batches,
    experiments, looks = 2000, 40
    rng = np.random.default_rng({"binary": 1, "continuous": 2}[kind] + int(share * 100))
    treated = round(2 * batch * share)
    per_arm = {"control": 2 * batch - treated, "treatment": treated}
    if kind == "binary":
        control = binary_arm(rng, 0.1, per_arm["control"], experiments, looks)
        treatment = binary_arm(rng, 0.1, per_arm["treatment"], experiments, looks)
        tau = 0.01
    else:
        control = lognormal_arm(rng, per_arm["control"], experiments, looks)
        treatment = lognormal_arm(rng, per_arm["treatment"], experiments, looks)
        tau = 0.1  # about 5% of the mean (1.65), a typical revenue MDE

    # When the mSPRT's always-valid p-value and a naive test are both checked at every look,
    sequential = msprt(control, treatment, kind=kind, mixing_sd=tau)  # type: ignore[arg-type]
    naive = naive_p_values(control, treatment, kind)

    # Then the mSPRT ever rejects in at most alpha of them (its rate is about 0.01-0.02: the bound is more
    # than 6 standard errors, 0.0049 at 0.05, away), while peeking at the naive test rejects far more often
    # (about 0.25; the bound 0.15 is 10 standard errors below), though once at the end it holds alpha.
    msprt_rate = float((sequential.p_value[:, -1] <= ALPHA).mean())
    naive_rate = float((naive <= ALPHA).any(axis=1).mean())
    naive_once = float((naive[:, -1] <= ALPHA).mean())
    print(f"A/A {kind} share={share}: mSPRT {msprt_rate:.4f}, naive peeking {naive_rate:.4f}, once {naive_once:.4f}")
    assert msprt_rate <= ALPHA
    assert naive_rate >= 0.15
    assert 0.025 <= naive_once <= 0.075


def test_ab_power_and_early_stopping_on_a_conversion_rate() -> None:
    # Given experiments with a true lift of exactly the MDE (10% -> 11%), looked at 50 times up to twice the
    # planned size,
    experiments, looks = 2000, 50
    planned = sample_size_proportions(0.1, 0.01).control  # 14,745 per arm
    batch = math.ceil(2 * planned / looks)
    rng = np.random.default_rng(3)
    control = binary_arm(rng, 0.10, batch, experiments, looks)
    treatment = binary_arm(rng, 0.11, batch, experiments, looks)

    result = msprt(control, treatment, kind="binary", mixing_sd=0.01)
    at_plan = int(np.searchsorted(control.n[0], planned))
    power_at_plan = float((result.p_value[:, at_plan] <= ALPHA).mean())
    power_at_twice = float((result.p_value[:, -1] <= ALPHA).mean())
    print(f"A/B mSPRT power: {power_at_plan:.4f} at the planned size, {power_at_twice:.4f} at twice it")

    # Then the always-valid test pays for peeking with power: about 0.5 at the planned size (fixed horizon:
    # 0.8), about 0.87 at twice it. Bounds are 5 or more standard errors (0.011, 0.0075) away.
    assert 0.42 <= power_at_plan <= 0.58
    assert power_at_twice >= 0.83
    # And no experiment ever concludes the treatment is worse (the wrong sign).
    assert not (result.ci_high[:, -1] < 0).any()


def test_a_large_effect_stops_well_before_the_planned_size() -> None:
    experiments, looks = 2000, 40
    planned = sample_size_proportions(0.1, 0.01).control
    batch = math.ceil(planned / looks)
    rng = np.random.default_rng(4)
    control = binary_arm(rng, 0.10, batch, experiments, looks)
    treatment = binary_arm(rng, 0.125, batch, experiments, looks)  # 2.5 x the MDE

    result = msprt(control, treatment, kind="binary", mixing_sd=0.01)
    stopped = result.p_value <= ALPHA
    first = np.where(stopped.any(axis=1), stopped.argmax(axis=1), looks)

    assert stopped[:, -1].mean() >= 0.99
    assert np.median(control.n[0, np.minimum(first, looks - 1)]) <= 0.4 * planned


def test_confidence_sequence_covers_the_true_effect_at_every_look() -> None:
    experiments, looks = 2000, 40
    rng = np.random.default_rng(6)
    control = binary_arm(rng, 0.20, 400, experiments, looks)
    treatment = binary_arm(rng, 0.23, 400, experiments, looks)

    result = msprt(control, treatment, kind="binary", mixing_sd=0.02)
    # The running intersection at the last look misses the truth iff some look's interval did.
    missed = float(((result.ci_low[:, -1] > 0.03) | (result.ci_high[:, -1] < 0.03)).mean())

    assert missed <= ALPHA


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mixing_sd": 0.0}, "mixing_sd must be a finite number > 0"),
        ({"mixing_sd": float("inf")}, "mixing_sd must be a finite number > 0"),
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\)"),
        ({"min_samples": 1}, "min_samples must be >= 2"),
        ({"kind": "ordinal"}, "kind must be 'binary' or 'continuous'"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    arm = ArmSeries.conversions([100, 200], [10, 20])
    arguments = {"kind": "binary", "mixing_sd": 0.01, **kwargs}

    with pytest.raises(ValueError, match=message):
        msprt(arm, arm, **arguments)


def test_arrays_that_do_not_broadcast_are_rejected() -> None:
    with pytest.raises(ValueError, match="must broadcast to one shape"):
        ArmSeries.of([1, 2, 3], [1, 2], [1, 2])
