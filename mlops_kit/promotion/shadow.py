"""Compare a shadow variant with production on the same requests (captured), against configured limits."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ShadowLimits:
    max_error_rate: float
    max_p99_latency_ratio: float
    min_agreement: float
    min_pairs: int = 20
    threshold: float = 0.5  # decisions are compared at this score


@dataclass
class ShadowComparison:
    pairs: int
    agreement: float | None
    decision_agreement: float | None
    mean_abs_score_difference: float | None
    shadow_invocations: float
    shadow_errors: float
    shadow_error_rate: float | None
    production_p99_ms: float | None
    shadow_p99_ms: float | None
    p99_ratio: float | None
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _decode(part: dict[str, Any]) -> str:
    data = part.get("data", "")
    return base64.b64decode(data).decode() if part.get("encoding") == "BASE64" else str(data)


def score_of(output: Any) -> float | None:
    """The model's score in a response: ``{"score": s}``, ``{"predictions": [{"score": s}]}`` or a number."""
    if isinstance(output, int | float) and not isinstance(output, bool):
        return float(output)
    if isinstance(output, dict):
        if "score" in output:
            return score_of(output["score"])
        if output.get("predictions"):
            return score_of(output["predictions"][0])
    if isinstance(output, list) and output:
        return score_of(output[0])
    return None


def score_correlation(pairs: list[tuple[float, float]]) -> float:
    """Pearson correlation of the two models' log-odds on the same requests (the shadow "agreement").

    Decision agreement at a threshold says little when few requests are positive (a model that flags nothing
    agrees on 96% of 4%-fraud traffic). Scores are probabilities, mostly near 0 on such traffic, so their raw
    correlation swings with the few high ones in a bake window (the demo's retrained model: 0.44 to 0.83 over
    40 requests); on the log-odds scale it is steady (0.74 to 0.86) and still separates a retrained model
    (about 0.86) from one that learned nothing (about 0). Scores outside (0, 1) are used as they are (a model
    returning other scores); probabilities are clipped to [1e-6, 1 - 1e-6]. Constant scores on either side give 0.
    """
    logits = [(_log_odds(p), _log_odds(s)) for p, s in pairs]
    n = len(logits)
    mean_p = sum(p for p, _ in logits) / n
    mean_s = sum(s for _, s in logits) / n
    covariance = sum((p - mean_p) * (s - mean_s) for p, s in logits)
    spread_p = sum((p - mean_p) ** 2 for p, _ in logits) ** 0.5
    spread_s = sum((s - mean_s) ** 2 for _, s in logits) ** 0.5
    if spread_p == 0 or spread_s == 0:
        return 0.0
    return covariance / (spread_p * spread_s)


def _log_odds(score: float) -> float:
    if not 0.0 <= score <= 1.0:
        return score
    clipped = min(max(score, 1e-6), 1 - 1e-6)
    return math.log(clipped / (1 - clipped))


class ShadowPairs:
    """Scores of the same requests answered by production and by the shadow, paired as capture records stream
    in, in bounded memory: production answers are kept per request digest (not the request) for at most
    ``limit`` requests, and pairing stops at ``limit`` pairs.

    Feed production records first (:meth:`add_production`), then shadow records (:meth:`add_shadow`, which
    returns False once nothing more can pair, so the reader can stop).
    """

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self.pairs: list[tuple[float, float]] = []
        self._answers: dict[bytes, list[float]] = defaultdict(list)
        self._waiting = 0

    @staticmethod
    def _key(capture: dict[str, Any]) -> bytes:
        return hashlib.blake2b(_decode(capture["endpointInput"]).encode(), digest_size=16).digest()

    def add_production(self, record: dict[str, Any]) -> bool:
        """Keep this production answer; False once ``limit`` answers are kept."""
        if self._waiting >= self.limit:
            return False
        capture = record.get("captureData", {})
        if "endpointOutput" in capture and "endpointInput" in capture:
            score = score_of(json.loads(_decode(capture["endpointOutput"])))
            if score is not None:
                self._answers[self._key(capture)].append(score)
                self._waiting += 1
        return True

    def add_shadow(self, record: dict[str, Any]) -> bool:
        """Pair this shadow answer with production's answer to the same request; False when done."""
        capture = record.get("captureData", {})
        if "endpointOutput" in capture and "endpointInput" in capture:
            answers = self._answers.get(self._key(capture))
            if answers:
                score = score_of(json.loads(_decode(capture["endpointOutput"])))
                if score is not None:
                    self.pairs.append((answers.pop(0), score))
                    self._waiting -= 1
        return len(self.pairs) < self.limit and self._waiting > 0


def paired_scores(production: list[dict[str, Any]], shadow: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Scores of the same requests (equal request bodies) answered by production and by the shadow."""
    pairing = ShadowPairs(limit=max(1, len(production)))
    for record in production:
        pairing.add_production(record)
    for record in shadow:
        if not pairing.add_shadow(record):
            break
    return pairing.pairs


def compare(
    pairs: list[tuple[float, float]],
    *,
    shadow_invocations: float,
    shadow_errors: float,
    production_p99_ms: float | None,
    shadow_p99_ms: float | None,
    limits: ShadowLimits,
) -> ShadowComparison:
    """Check errors, p99 latency and agreement against ``limits``; every failed check is a reason."""
    reasons = []
    agreement = None
    difference = None
    if len(pairs) < limits.min_pairs:
        reasons.append(f"only {len(pairs)} requests were answered by both variants (need {limits.min_pairs})")
    decisions = None
    if pairs:
        agreement = score_correlation(pairs)
        decisions = sum((p >= limits.threshold) == (s >= limits.threshold) for p, s in pairs) / len(pairs)
        difference = sum(abs(p - s) for p, s in pairs) / len(pairs)
        if agreement < limits.min_agreement:
            reasons.append(
                f"scores agree with production's at correlation {agreement:.2f}, below {limits.min_agreement:.2f}"
            )
    error_rate = shadow_errors / shadow_invocations if shadow_invocations else None
    if error_rate is not None and error_rate > limits.max_error_rate:
        reasons.append(f"shadow error rate {error_rate:.2%} above {limits.max_error_rate:.2%}")
    ratio = None
    if production_p99_ms and shadow_p99_ms is not None:
        ratio = shadow_p99_ms / production_p99_ms
        if ratio > limits.max_p99_latency_ratio:
            reasons.append(f"shadow p99 latency is {ratio:.2f}x production's, above {limits.max_p99_latency_ratio}x")
    return ShadowComparison(
        pairs=len(pairs),
        agreement=agreement,
        decision_agreement=decisions,
        mean_abs_score_difference=difference,
        shadow_invocations=shadow_invocations,
        shadow_errors=shadow_errors,
        shadow_error_rate=error_rate,
        production_p99_ms=production_p99_ms,
        shadow_p99_ms=shadow_p99_ms,
        p99_ratio=ratio,
        passed=not reasons,
        reasons=reasons,
    )
