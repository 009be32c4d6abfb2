"""Each quality statistic against scikit-learn's (the evaluation step's reference), on random and edge-case data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    roc_auc_score,
)

from mlops_kit.quality import metrics


def sample(seed: int, n: int, rate: float, ties: bool) -> tuple[list[int], list[float]]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < rate).astype(int)
    scores = np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1)
    if ties:
        scores = np.round(scores, 1)  # many ties, and scores exactly on the calibration bins' edges
    return labels.tolist(), scores.tolist()


def reference_ece(labels: list[int], scores: list[float], bins: int = 10) -> float:
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], scores), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts * np.abs(prob_true - prob_pred)) / len(labels))


CASES = [
    (seed, n, rate, ties)
    for seed, (n, rate) in enumerate([(50, 0.5), (400, 0.05), (1000, 0.2)])
    for ties in (False, True)
]


@pytest.mark.parametrize(("seed", "n", "rate", "ties"), CASES)
def test_every_statistic_matches_scikit_learn(seed: int, n: int, rate: float, ties: bool) -> None:
    labels, scores = sample(seed, n, rate, ties)
    predicted = [int(s >= 0.5) for s in scores]

    assert metrics.roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics.average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert metrics.f1(labels, scores) == pytest.approx(f1_score(labels, predicted, zero_division=0), abs=1e-12)
    assert metrics.accuracy(labels, scores) == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert metrics.brier(labels, scores) == pytest.approx(brier_score_loss(labels, scores), abs=1e-12)
    assert metrics.expected_calibration_error(labels, scores) == pytest.approx(reference_ece(labels, scores), abs=1e-12)


def test_the_summary_carries_its_sample_size_and_rates() -> None:
    labels, scores = [1, 0, 0, 1, 0], [0.9, 0.2, 0.6, 0.4, 0.1]

    figures = metrics.quality_metrics(labels, scores, primary_metric="roc_auc")

    assert (figures.samples, figures.positives) == (5, 2)
    assert figures.primary == pytest.approx(roc_auc_score(labels, scores))
    assert figures.positive_rate == pytest.approx(0.4)
    assert figures.predicted_positive_rate == pytest.approx(0.4)
    assert figures.mean_score == pytest.approx(np.mean(scores))


def test_undefined_statistics_are_none_not_a_made_up_number() -> None:
    one_class = metrics.quality_metrics([0, 0, 0], [0.1, 0.7, 0.2], primary_metric="roc_auc")
    empty = metrics.quality_metrics([], [], primary_metric="average_precision")

    assert one_class.primary is None
    assert one_class.brier is not None
    assert metrics.average_precision([1, 1], [0.3, 0.4]) is None
    assert empty.samples == 0
    assert (empty.primary, empty.brier, empty.positive_rate) == (None, None, None)


def test_a_perfect_ranking_and_a_reversed_one_bound_the_auc() -> None:
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
