"""Names the monitoring stack, its functions, the drift job and the CLI must agree on (no AWS calls here)."""

from __future__ import annotations

import datetime as dt
import re

METRIC_NAMESPACE = "MlopsKit/Drift"
PSI_METRIC = "PSI"  # dimensions: EndpointName, Feature (the prediction is the feature "prediction")
ROWS_METRIC = "RowsAnalyzed"  # dimensions: EndpointName
ACT_METRIC = "FeaturesInActBand"  # dimensions: EndpointName
INSUFFICIENT_METRIC = "FeaturesWithInsufficientData"  # dimensions: EndpointName
FAILED_METRIC = "JobFailed"  # dimensions: EndpointName
PREDICTION = "prediction"
REPORTS_PREFIX = "drift"
REPORT_OUTPUT = "report"  # the processing job's output name
RETRAIN_PK_PREFIX = "drift-retrain#"  # the retrain gate's items in the promotion state table
ENDPOINT_ENVIRONMENT = "MLOPS_DRIFT_ENDPOINT"  # the job's environment variable naming its endpoint
_JOB_TIME = "%Y%m%d-%H%M%S"


def drift_alarm(endpoint: str, feature: str) -> str:
    """The drift alarm of one feature (or of the prediction)."""
    return f"{endpoint}-drift-{feature}"


def schedule_name(endpoint: str) -> str:
    return f"{endpoint}-drift"


def job_prefix(endpoint: str) -> str:
    """Every drift job of ``endpoint`` starts with this (the publish rule matches on it)."""
    return f"drift-{endpoint}"[:40]


def job_name(endpoint: str, window_end: dt.datetime) -> str:
    """``drift-<endpoint>-<window end>``: a retried start for the same window gets the same name (idempotent)."""
    return f"{job_prefix(endpoint)}-{window_end.astimezone(dt.UTC).strftime(_JOB_TIME)}"


def job_window_end(name: str) -> dt.datetime | None:
    """The window end encoded in a job name from :func:`job_name` (None for other names)."""
    match = re.search(r"(\d{8}-\d{6})$", name)
    if match is None:
        return None
    return dt.datetime.strptime(match.group(1), _JOB_TIME).replace(tzinfo=dt.UTC)


def reports_prefix(endpoint: str) -> str:
    """Key prefix (in the artifacts bucket) of every drift report of ``endpoint``."""
    return f"{REPORTS_PREFIX}/{endpoint}/reports"


def report_uri(bucket: str, endpoint: str, job: str) -> str:
    """Where job ``job`` writes its files."""
    return f"s3://{bucket}/{reports_prefix(endpoint)}/{job}"
