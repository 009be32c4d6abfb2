"""Names that the CDK app, the A/B Lambdas, the CLI and applications must agree on (no heavy imports here)."""

from __future__ import annotations

OUTCOME_SOURCE = "mlops.abtest"
"""EventBridge ``source`` of outcome events (see :mod:`.events`)."""
OUTCOME_DETAIL_TYPE = "Experiment Outcome"
"""EventBridge ``detail-type`` of outcome events."""

METRICS_NAMESPACE = "MlopsKit/ABTest"
"""CloudWatch namespace of the scheduled status job's metrics, dimension ``Experiment`` (and ``Arm``)."""
METRIC_EXPOSURES = "Exposures"
"""Users exposed in the current phase, per ``Arm`` (``control``/``treatment``)."""
METRIC_DIFFERENCE = "Difference"
"""The primary metric's estimate, treatment minus control (absent until both arms have users)."""
METRIC_P_VALUE = "PValue"
"""The primary metric's always-valid (mSPRT) p-value."""
METRIC_PROGRESS = "ProgressPercent"
"""Percent of the planned sample analysed so far."""
METRIC_GUARDRAILS_BREACHED = "GuardrailsBreached"
"""How many guardrails are breached (any is a stop)."""

LOCK_HOLDER_PREFIX = "abtest:"
"""An experiment holds its endpoint's promotion lock as ``abtest:<experiment>``, so no promotion runs meanwhile."""


def lock_holder(experiment: str) -> str:
    """The promotion-lock holder name of ``experiment``."""
    return f"{LOCK_HOLDER_PREFIX}{experiment}"
