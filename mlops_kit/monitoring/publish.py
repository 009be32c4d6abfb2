"""Turn a finished drift job into CloudWatch metrics (the ``drift_publish`` Lambda).

Metrics, namespace :data:`~mlops_kit.monitoring.naming.METRIC_NAMESPACE`:

* ``PSI`` per feature and for the prediction (dimensions ``EndpointName``, ``Feature``; the prediction's
  ``Feature`` is ``prediction``), only where PSI is defined and rests on enough rows: a feature with no
  current rows, or fewer than the configured minimum in the window or the baseline (``insufficient_data``),
  publishes no PSI, so its alarm keeps its state (the alarms treat missing data as "ignore") and every PSI
  datapoint an alarm evaluates rests on at least the minimum rows.
* ``RowsAnalyzed``, ``FeaturesInActBand`` and ``FeaturesWithInsufficientData`` (dimension ``EndpointName``),
  every run.
* ``JobFailed`` = 1 (dimension ``EndpointName``) when the job failed or was stopped; the failure reason also
  goes to the notification topic.

Reads the kit's ``drift_report.json`` as plain JSON: the functions' layer has no numpy or pandas.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_kit.monitoring import naming
from mlops_kit.monitoring.capture import split_uri

REPORT_FILE = "drift_report.json"
_CHUNK = 500  # PutMetricData takes up to 1000 metrics per call


@dataclass(frozen=True)
class PublishAws:
    sagemaker: Any
    s3: Any
    cloudwatch: Any
    sns: Any


@dataclass
class PublishResult:
    job_name: str
    status: str
    endpoint: str
    metrics: int = 0
    severity: str | None = None
    psi: dict[str, float] = field(default_factory=dict)
    report_uri: str | None = None
    failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dimension(name: str, value: str) -> dict[str, str]:
    return {"Name": name, "Value": value}


def metric_data(report: dict[str, Any], endpoint: str, timestamp: dt.datetime) -> list[dict[str, Any]]:
    """The metrics of one report (the kit's ``drift_report.json`` as a dict), at ``timestamp``.

    Raises ValueError when ``report`` is not a drift report (its ``kind`` is not the kit's).
    """
    if report.get("kind") != "mlops_kit.drift.report":
        raise ValueError(f"not a drift report (kind {report.get('kind')!r})")
    endpoint_dimension = _dimension("EndpointName", endpoint)
    columns = [*report.get("features", []), *([report["prediction"]] if report.get("prediction") else [])]
    data = [
        {
            "MetricName": naming.PSI_METRIC,
            "Dimensions": [endpoint_dimension, _dimension("Feature", str(column["name"]))],
            "Timestamp": timestamp,
            "Value": float(column["psi"]),
            "Unit": "None",
        }
        for column in columns
        if column.get("psi") is not None and column.get("severity") != "insufficient_data"
    ]
    act = sum(1 for column in columns if column.get("severity") == "act")
    insufficient = sum(1 for column in columns if column.get("severity") == "insufficient_data")
    data += [
        {
            "MetricName": naming.ROWS_METRIC,
            "Dimensions": [endpoint_dimension],
            "Timestamp": timestamp,
            "Value": float(report.get("current_rows", 0)),
            "Unit": "Count",
        },
        {
            "MetricName": naming.ACT_METRIC,
            "Dimensions": [endpoint_dimension],
            "Timestamp": timestamp,
            "Value": float(act),
            "Unit": "Count",
        },
        {
            "MetricName": naming.INSUFFICIENT_METRIC,
            "Dimensions": [endpoint_dimension],
            "Timestamp": timestamp,
            "Value": float(insufficient),
            "Unit": "Count",
        },
    ]
    return data


def put_metrics(cloudwatch: Any, data: list[dict[str, Any]]) -> int:
    """PutMetricData in chunks; returns the number of metrics put."""
    for first in range(0, len(data), _CHUNK):
        cloudwatch.put_metric_data(Namespace=naming.METRIC_NAMESPACE, MetricData=data[first : first + _CHUNK])
    return len(data)


def _endpoint_of(described: dict[str, Any]) -> str:
    endpoint = (described.get("Environment") or {}).get(naming.ENDPOINT_ENVIRONMENT)
    if not endpoint:
        raise ValueError(
            f"processing job {described.get('ProcessingJobName')} has no {naming.ENDPOINT_ENVIRONMENT} in its "
            "environment: it was not started by the drift monitor"
        )
    return str(endpoint)


def report_location(described: dict[str, Any]) -> str:
    """The ``drift_report.json`` URI of a described drift job; raises ValueError when it has no report output."""
    for output in (described.get("ProcessingOutputConfig") or {}).get("Outputs", []):
        if output.get("OutputName") == naming.REPORT_OUTPUT:
            return f"{output['S3Output']['S3Uri'].rstrip('/')}/{REPORT_FILE}"
    raise ValueError(f"processing job {described.get('ProcessingJobName')} has no '{naming.REPORT_OUTPUT}' output")


def publish_job(aws: PublishAws, job_name: str, *, topic_arn: str, now: dt.datetime) -> PublishResult:
    """Publish the metrics of drift job ``job_name`` (Completed), or its failure (Failed/Stopped).

    Returns without publishing for jobs still running. Raises ValueError for a job the drift monitor did not
    start, and the clients' errors (the report cannot be read: the invocation fails and is retried).
    """
    described: dict[str, Any] = aws.sagemaker.describe_processing_job(ProcessingJobName=job_name)
    status = described["ProcessingJobStatus"]
    endpoint = _endpoint_of(described)
    result = PublishResult(job_name=job_name, status=status, endpoint=endpoint)
    if status in ("Failed", "Stopped"):
        result.failure_reason = described.get("FailureReason") or status
        result.metrics = put_metrics(
            aws.cloudwatch,
            [
                {
                    "MetricName": naming.FAILED_METRIC,
                    "Dimensions": [_dimension("EndpointName", endpoint)],
                    "Timestamp": now,
                    "Value": 1.0,
                    "Unit": "Count",
                }
            ],
        )
        aws.sns.publish(
            TopicArn=topic_arn,
            Subject=f"Drift job {status.lower()}: {endpoint}"[:100],
            Message=f"The drift job {job_name} of endpoint {endpoint} {status.lower()}:\n{result.failure_reason}",
        )
        return result
    if status != "Completed":
        return result
    result.report_uri = report_location(described)
    bucket, key = split_uri(result.report_uri)
    report = json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    result.metrics = put_metrics(aws.cloudwatch, metric_data(report, endpoint, now))
    result.severity = report.get("severity")
    columns = [*report.get("features", []), *([report["prediction"]] if report.get("prediction") else [])]
    result.psi = {str(c["name"]): float(c["psi"]) for c in columns if c.get("psi") is not None}
    return result
