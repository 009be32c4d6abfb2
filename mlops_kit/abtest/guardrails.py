"""Guardrails: stop a clearly harmful treatment early, and nothing else.

Each guardrail metric runs a one-sided mSPRT (:func:`.sequential.msprt_one_sided`) of
``H0: harm <= tolerance``, harm being ``treatment - control`` for a ``higher_is_worse`` metric and
``control - treatment`` for a ``lower_is_worse`` one. Its always-valid p-value may be checked after every
batch: a treatment that is neutral, better, or worse by no more than the tolerance trips it with probability
at most its alpha over the whole experiment, however often it is checked. A treatment that helps the
guardrail metric never trips it, because evidence only accumulates in the harmful direction.

With several guardrails the family-wise alpha is split equally (Bonferroni), so a harmless treatment is
stopped by *any* guardrail with probability at most the plan's ``guardrail_alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlops_kit.abtest.metrics import GuardrailMetric
from mlops_kit.abtest.planning import check_open_unit
from mlops_kit.abtest.sequential import DEFAULT_MIN_SAMPLES, ArmSeries, FloatArray, msprt_one_sided


@dataclass(frozen=True)
class GuardrailResult:
    """A guardrail at every look (last axis). ``harm`` is oriented so that positive is worse for users.

    ``breached`` is whether the always-valid ``p_value`` is at or below ``alpha`` at that look (once true it
    stays true, because the p-value never rises).
    """

    harm: FloatArray
    p_value: FloatArray
    breached: NDArray[np.bool_]
    alpha: float

    def first_breach(self) -> NDArray[np.intp]:
        """Index of the first breached look along the last axis, -1 where it never breached."""
        hit = self.breached
        return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def alpha_per_guardrail(guardrail_alpha: float, count: int) -> float:
    """Each guardrail's alpha when ``count`` share ``guardrail_alpha`` (Bonferroni).

    Raises ``ValueError`` when guardrail_alpha is outside (0, 1) or count is below 1.
    """
    check_open_unit("guardrail_alpha", guardrail_alpha)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return guardrail_alpha / count


def check_guardrail(
    control: ArmSeries,
    treatment: ArmSeries,
    metric: GuardrailMetric,
    *,
    alpha: float,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> GuardrailResult:
    """Check one guardrail at every look: is the treatment's harm beyond the tolerance, with confidence?

    Raises ``ValueError`` when alpha is outside (0, 1) or min_samples is below 2.
    """
    harmful_up = metric.direction == "higher_is_worse"
    result = msprt_one_sided(
        control,
        treatment,
        kind=metric.kind,
        mixing_sd=metric.harm_to_detect,
        alternative="greater" if harmful_up else "less",
        null=metric.tolerance if harmful_up else -metric.tolerance,
        alpha=alpha,
        min_samples=min_samples,
    )
    harm = result.difference if harmful_up else -result.difference
    return GuardrailResult(harm=harm, p_value=result.p_value, breached=result.p_value <= alpha, alpha=alpha)
