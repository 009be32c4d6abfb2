"""Guardrails stop a clearly harmful treatment early, and nothing else (simulated, seeded, vectorised)."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_kit.abtest.guardrails import alpha_per_guardrail, check_guardrail
from mlops_kit.abtest.metrics import GuardrailMetric
from mlops_kit.abtest.sequential import ArmSeries
from tests.unit.abtest.simulate import binary_arm, lognormal_arm

EXPERIMENTS, LOOKS, BATCH = 2000, 40, 500  # 20,000 users per arm at the end
ERROR_RATE = GuardrailMetric(name="error_rate", kind="binary", direction="higher_is_worse", harm_to_detect=0.01)
REVENUE = GuardrailMetric(name="revenue", kind="continuous", direction="lower_is_worse", harm_to_detect=0.1)


def error_rate_experiments(treatment_rate: float, seed: int) -> tuple[ArmSeries, ArmSeries]:
    rng = np.random.default_rng(seed)
    return (
        binary_arm(rng, 0.02, BATCH, EXPERIMENTS, LOOKS),
        binary_arm(rng, treatment_rate, BATCH, EXPERIMENTS, LOOKS),
    )


def test_a_clearly_harmful_treatment_is_stopped_early() -> None:
    # Given a treatment that doubles the error rate (2% -> 4%),
    control, treatment = error_rate_experiments(0.04, seed=21)

    # When the guardrail is checked after every batch of 500 users per arm,
    result = check_guardrail(control, treatment, ERROR_RATE, alpha=0.05)
    first = result.first_breach()

    # Then every experiment is stopped, most within the first fifth of the horizon.
    print(f"harmful: stopped {np.mean(first >= 0):.4f}, median stop at look {np.median(first) + 1:.0f} of {LOOKS}")
    assert (first >= 0).all()
    assert np.median(first) + 1 <= LOOKS / 5
    assert (result.harm[np.arange(EXPERIMENTS), first] > 0).all()


@pytest.mark.parametrize(("treatment_rate", "bound"), [(0.02, 0.05), (0.015, 0.005), (0.01, 0.005)])
def test_a_neutral_or_better_treatment_is_not_stopped(treatment_rate: float, bound: float) -> None:
    # A neutral treatment trips the guardrail in at most alpha of the experiments over all 40 checks (its rate
    # is about 0.02; 0.05 is 6 standard errors, 0.0049, above). A better one almost never does, because
    # evidence only accumulates in the harmful direction (about 0.0005 at 1.5%; 0.005 is 9 standard errors up).
    control, treatment = error_rate_experiments(treatment_rate, seed=22)

    result = check_guardrail(control, treatment, ERROR_RATE, alpha=0.05)

    stopped = float((result.first_breach() >= 0).mean())
    print(f"error rate 2% -> {treatment_rate:.1%}: stopped {stopped:.4f}")
    assert stopped <= bound


def test_harm_within_the_tolerance_is_not_stopped_but_beyond_it_is() -> None:
    tolerant = ERROR_RATE.model_copy(update={"tolerance": 0.005})
    at_tolerance_c, at_tolerance_t = error_rate_experiments(0.025, seed=23)
    beyond_c, beyond_t = error_rate_experiments(0.04, seed=24)

    at_tolerance = check_guardrail(at_tolerance_c, at_tolerance_t, tolerant, alpha=0.05)
    beyond = check_guardrail(beyond_c, beyond_t, tolerant, alpha=0.05)

    assert (at_tolerance.first_breach() >= 0).mean() <= 0.05
    assert (beyond.first_breach() >= 0).mean() >= 0.99


def test_lower_is_worse_guardrail_stops_a_revenue_drop_and_not_a_gain() -> None:
    rng = np.random.default_rng(25)
    control = lognormal_arm(rng, 200, 1000, 30)  # mean revenue 1.65 per user
    dropped = lognormal_arm(rng, 200, 1000, 30, shift=-0.25)
    gained = lognormal_arm(rng, 200, 1000, 30, shift=+0.25)

    drop = check_guardrail(control, dropped, REVENUE, alpha=0.05)
    gain = check_guardrail(control, gained, REVENUE, alpha=0.05)

    assert (drop.first_breach() >= 0).mean() >= 0.99
    assert (drop.harm[:, -1] > 0).all()
    assert (gain.first_breach() >= 0).mean() <= 0.001


def test_a_breach_is_final() -> None:
    control, treatment = error_rate_experiments(0.03, seed=26)

    result = check_guardrail(control, treatment, ERROR_RATE, alpha=0.05)

    assert not (result.breached[:, :-1] & ~result.breached[:, 1:]).any()
    assert result.breached[:, -1].any()


def test_alpha_is_shared_between_guardrails() -> None:
    assert alpha_per_guardrail(0.05, 2) == 0.025
    with pytest.raises(ValueError, match=r"guardrail_alpha must be in \(0, 1\)"):
        alpha_per_guardrail(1.0, 2)
    with pytest.raises(ValueError, match="count must be >= 1"):
        alpha_per_guardrail(0.05, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"harm_to_detect": 0.0}, "harm_to_detect"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"direction": "up"}, "direction"),
        ({"name": "Error Rate"}, "name"),
    ],
)
def test_bad_guardrail_definitions_are_rejected(fields: dict, message: str) -> None:
    definition = {"name": "error_rate", "kind": "binary", "direction": "higher_is_worse", "harm_to_detect": 0.01}

    with pytest.raises(ValueError, match=message):
        GuardrailMetric(**{**definition, **fields})
