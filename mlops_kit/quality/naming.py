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


# Labels sent as EventBridge events (README "Labels as events"): detail {"endpoint_name": ..., "labels": [rows]}.
LABEL_EVENT_SOURCE = "mlops.quality"
LABEL_EVENT_DETAIL_TYPE = "Ground Truth Labels"
LABEL_EVENTS_FOLDER = "events"
REJECTED_SUFFIX = "-rejected"


def label_events_prefix(labels_prefix: str) -> str:
    """Where the label events' rows are stored, inside the prefix the quality run reads (data bucket)."""
    return f"{labels_prefix}/{LABEL_EVENTS_FOLDER}"


def rejected_labels_prefix(labels_prefix: str) -> str:
    """Where rejected label events are kept with their reasons: beside the labels prefix, never read as labels (the
    run lists ``<labels_prefix>/``, with its slash)."""
    return f"{labels_prefix}{REJECTED_SUFFIX}/{LABEL_EVENTS_FOLDER}"
