"""Model-quality statistics of a binary classifier's scores against late labels, in plain Python.

The same definitions as scikit-learn's (``roc_auc_score``, ``average_precision_score``, ``f1_score``,
``accuracy_score``, ``brier_score_loss``, and ``calibration_curve(strategy="uniform")`` for the expected
calibration error), which the evaluation step uses; ``tests/unit/quality`` checks each against scikit-learn.
Standard library only, so the quality function's layer needs no numpy: a window of a few hundred thousand
labelled predictions takes seconds.

Statistics that are undefined on a window are ``None``, never a made-up number: ROC AUC and average precision
with only one class among the labels, anything on an empty window.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

PRIMARY_METRICS = ("roc_auc", "average_precision", "f1", "accuracy")  # what the evaluation step can gate on
THRESHOLD = 0.5  # the evaluation step's decision threshold for f1 and accuracy
CALIBRATION_BINS = 10


def _check(labels: Sequence[int], scores: Sequence[float]) -> None:
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    for value in labels:
        if value not in (0, 1):
            raise ValueError(f"labels must be 0 or 1, got {value!r}")
    for score in scores:
        if not math.isfinite(score):
            raise ValueError(f"scores must be finite numbers, got {score!r}")


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied scores sharing their average rank); None with one class."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks are 1-based; ties share the mean of their ranks
        rank_sum += average_rank * sum(labels[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Sum over distinct score thresholds (highest first) of precision times the recall gained; None with one class."""
    positives = sum(labels)
    if positives == 0 or positives == len(labels):
        return None
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, true_positives, seen, previous_recall, i = 0.0, 0, 0, 0.0, 0
    while i < len(order):
        threshold = scores[order[i]]
        while i < len(order) and scores[order[i]] == threshold:
            true_positives += labels[order[i]]
            seen += 1
            i += 1
        recall = true_positives / positives
        total += (recall - previous_recall) * (true_positives / seen)
        previous_recall = recall
    return total


def _confusion(labels: Sequence[int], scores: Sequence[float]) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for label, score in zip(labels, scores, strict=True):
        predicted = score >= THRESHOLD
        if predicted and label:
            tp += 1
        elif predicted:
            fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def f1(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """F1 at the 0.5 threshold (0 when nothing is predicted or labelled positive, as scikit-learn with
    ``zero_division=0``); None on an empty window."""
    if not labels:
        return None
    tp, fp, fn, _ = _confusion(labels, scores)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def accuracy(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Share of labels the 0.5 threshold gets right; None on an empty window."""
    if not labels:
        return None
    tp, _, _, tn = _confusion(labels, scores)
    return (tp + tn) / len(labels)


def brier(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Mean squared difference between score and label; None on an empty window."""
    if not labels:
        return None
    return sum((s - y) ** 2 for y, s in zip(labels, scores, strict=True)) / len(labels)


def calibration_bins(
    labels: Sequence[int], scores: Sequence[float], bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    """Equal-width score bins on [0, 1] that hold rows: count, mean score, positive rate (scikit-learn's
    ``calibration_curve(strategy="uniform")`` binning: a score on an inner edge falls in the lower bin)."""
    inner = [k / bins for k in range(1, bins)]
    counts, score_sums, label_sums = [0] * bins, [0.0] * bins, [0] * bins
    for label, score in zip(labels, scores, strict=True):
        b = bisect.bisect_left(inner, score)
        counts[b] += 1
        score_sums[b] += score
        label_sums[b] += label
    return [
        {
            "low": b / bins,
            "high": (b + 1) / bins,
            "rows": counts[b],
            "mean_score": score_sums[b] / counts[b],
            "positive_rate": label_sums[b] / counts[b],
        }
        for b in range(bins)
        if counts[b]
    ]


def expected_calibration_error(
    labels: Sequence[int], scores: Sequence[float], bins: int = CALIBRATION_BINS
) -> float | None:
    """Row-weighted mean over the bins of ``|positive rate - mean score|``; None on an empty window."""
    if not labels:
        return None
    return sum(
        b["rows"] * abs(b["positive_rate"] - b["mean_score"]) for b in calibration_bins(labels, scores, bins)
    ) / (len(labels))


PRIMARY = {"roc_auc": roc_auc, "average_precision": average_precision, "f1": f1, "accuracy": accuracy}


@dataclass(frozen=True)
class QualityMetrics:
    """The statistics of one group of labelled predictions (a variant, or the Production version's rows)."""

    samples: int
    positives: int
    primary_metric: str
    primary: float | None
    brier: float | None
    expected_calibration_error: float | None
    positive_rate: float | None  # share of labels that are positive
    predicted_positive_rate: float | None  # share of scores at or above the threshold
    mean_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality_metrics(labels: Sequence[int], scores: Sequence[float], *, primary_metric: str) -> QualityMetrics:
    """Every statistic of one group; raises ValueError for an unknown primary metric or mismatched inputs."""
    if primary_metric not in PRIMARY:
        raise ValueError(f"primary metric {primary_metric!r} is not one of {', '.join(PRIMARY_METRICS)}")
    _check(labels, scores)
    n = len(labels)
    return QualityMetrics(
        samples=n,
        positives=sum(labels),
        primary_metric=primary_metric,
        primary=PRIMARY[primary_metric](labels, scores),
        brier=brier(labels, scores),
        expected_calibration_error=expected_calibration_error(labels, scores),
        positive_rate=sum(labels) / n if n else None,
        predicted_positive_rate=sum(1 for s in scores if s >= THRESHOLD) / n if n else None,
        mean_score=sum(scores) / n if n else None,
    )
