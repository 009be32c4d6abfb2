"""Shadow agreement: the correlation of the two models' log-odds on the same requests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_kit.promotion.shadow import score_correlation


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_a_model_that_rescales_the_log_odds_agrees_fully_though_raw_scores_do_not() -> None:
    rng = np.random.default_rng(1)
    production = [_sigmoid(x) for x in rng.normal(-3, 0.8, 200)]  # mostly near 0, as on fraud traffic
    candidate = [_sigmoid(2 * math.log(p / (1 - p)) + 1) for p in production]

    assert score_correlation(list(zip(production, candidate, strict=True))) == pytest.approx(1.0)
    assert np.corrcoef(production, candidate)[0, 1] < 0.95  # the raw scores' correlation understates it


def test_unrelated_scores_do_not_agree_and_constant_scores_give_zero() -> None:
    rng = np.random.default_rng(2)
    unrelated = list(zip(rng.uniform(0, 1, 500), rng.uniform(0, 1, 500), strict=True))

    assert abs(score_correlation(unrelated)) < 0.15
    assert score_correlation([(0.2, 0.5), (0.3, 0.5), (0.9, 0.5)]) == 0.0
    assert score_correlation([(0.0, 0.0), (1.0, 1.0), (0.5, 0.4)]) > 0.9  # 0 and 1 are clipped, not infinite
