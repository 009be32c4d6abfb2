"""Names the quality function, its metrics and alarm, the stack and the CLI must agree on (no AWS calls here)."""

from __future__ import annotations

import datetime as dt

METRIC_NAMESPACE = "MlopsKit/Quality"
# Per window, dimensions EndpointName and VariantName (every variant that served labelled requests, the shadow
# included), and dimension EndpointName alone for the Production model version's rows on the production variants.
SAMPLES_METRIC = "LabeledSamples"
PRIMARY_METRIC_NAMES = {
    "roc_auc": "RocAuc",
    "average_precision": "AveragePrecision",
    "f1": "F1",
    "accuracy": "Accuracy",
}
BRIER_METRIC = "BrierScore"
ECE_METRIC = "ExpectedCalibrationError"
POSITIVE_RATE_METRIC = "PositiveRate"
# The evaluation-time figure minus the window's, for the Production version's rows (dimension EndpointName);
# published only for windows with at least quality.min_samples labelled rows.
DROP_METRIC = "PrimaryMetricDrop"
REPORTS_PREFIX = "quality"
REPORT_TIME = "%Y%m%dT%H%M%SZ"


def quality_alarm(endpoint: str) -> str:
    """The alarm on a drop of the primary metric against its evaluation-time figure."""
    return f"{endpoint}-quality-drop"


def reports_prefix(endpoint: str) -> str:
    """Key prefix (in the artifacts bucket) of every quality window report of ``endpoint``."""
    return f"{REPORTS_PREFIX}/{endpoint}/reports"


def report_key(endpoint: str, window_end: dt.datetime) -> str:
    """One report per window end: a retried run of the same window overwrites its own report."""
    return f"{reports_prefix(endpoint)}/{window_end.astimezone(dt.UTC).strftime(REPORT_TIME)}.json"
