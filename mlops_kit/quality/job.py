"""One scheduled model-quality run: late labels joined with a window's captured predictions -> metrics and a report.

The window is the ``window_hours`` of predictions ending ``label_delay_hours`` before the scheduled time: labels
arrive late, so the run looks back far enough for most of them to be in. Label files are read when S3 received
them at or after the window's start (a label cannot come before its prediction), in arrival order.

For every variant that served labelled predictions in the window (the shadow variant too, so a shadowed
candidate is compared on labels when they arrive in time), the run publishes to CloudWatch
(:data:`~mlops_kit.quality.naming.METRIC_NAMESPACE`, dimensions ``EndpointName``, ``VariantName``) the primary
metric (the one the evaluation step gates on, ``training.primary_metric``), the Brier score and expected
calibration error, the positive rate, and the sample size (``LabeledSamples``) they rest on. The same figures
for the Production model version's rows on the production variants are published with dimension
``EndpointName`` alone, and, when at least ``min_samples`` rows are labelled, the drop of the primary metric
against its evaluation-time figure in the registry (``metrics.<primary>`` of the Production version): the alarm's
metric. The run also writes its report (inputs, counts, bad label rows, figures) as JSON under
``s3://<artifacts>/quality/<endpoint>/reports/<window end>.json`` for ``mlops quality report``.

Datapoints carry the run's time, not the window's: an alarm evaluates recent periods only, and the window
(days back, by design) is in the report.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from mlops_kit.monitoring.capture import SHADOW_VARIANT, list_capture, read_lines, split_uri, utc
from mlops_kit.quality import naming
from mlops_kit.quality.join import Joined, join
from mlops_kit.quality.labels import Labels, read_labels
from mlops_kit.quality.metrics import QualityMetrics, quality_metrics
from mlops_kit.quality.settings import QualitySettings

PRODUCTION = "production"  # the report's name for the Production version's rows on the production variants
_CHUNK = 500  # PutMetricData takes up to 1000 metrics per call


@dataclass(frozen=True)
class QualityAws:
    sagemaker: Any
    s3: Any
    cloudwatch: Any


def window(now: dt.datetime, *, window_hours: int, label_delay_hours: int) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the predictions a run at ``now`` evaluates; raises ValueError for a naive ``now``."""
    end = utc(now) - dt.timedelta(hours=label_delay_hours)
    return end - dt.timedelta(hours=window_hours), end


def label_files(s3: Any, labels_uri: str, since: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """Keys of the label files under ``labels_uri`` that S3 received at or after ``since``, oldest first."""
    bucket, prefix = split_uri(labels_uri)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/".lstrip("/")):
        for item in page.get("Contents", []):
            modified = utc(item["LastModified"])
            if modified >= since and not item["Key"].endswith("/"):
                found.append((item["Key"], modified))
    return sorted(found, key=lambda f: (f[1], f[0]))


def read_label_files(s3: Any, labels_uri: str, since: dt.datetime, settings: QualitySettings) -> Labels:
    """The validated labels of the files received since ``since`` (see :mod:`mlops_kit.quality.labels`)."""
    bucket, _ = split_uri(labels_uri)
    keys = label_files(s3, labels_uri, since)
    bodies = ((key, s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key, _ in keys)
    return read_labels(
        ((f"s3://{bucket}/{key}", body) for key, body in bodies),
        key_column=settings.key_column,
        label_column=settings.label_column,
    )


def group_metrics(joined: Joined, primary_metric: str, production_version: str | None) -> dict[str, QualityMetrics]:
    """Figures per variant, and under :data:`PRODUCTION` those of the Production version's production-variant rows."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for variant, rows in joined.rows.items():
        groups[variant] = [(label, score) for label, score, _ in rows]
        if variant != SHADOW_VARIANT and production_version is not None:
            groups.setdefault(PRODUCTION, []).extend(
                (label, score) for label, score, version in rows if version == production_version
            )
    groups.setdefault(PRODUCTION, [])
    return {
        name: quality_metrics([y for y, _ in rows], [s for _, s in rows], primary_metric=primary_metric)
        for name, rows in groups.items()
    }


def drop(production: QualityMetrics, evaluated: float | None, min_samples: int) -> tuple[float | None, str]:
    """The primary metric's drop against the evaluation-time figure, or None with the reason it is not published."""
    if evaluated is None:
        return None, f"the Production version records no metrics.{production.primary_metric} in the registry"
    if production.samples < min_samples:
        return None, f"{production.samples} labelled rows, fewer than the minimum {min_samples}: too few to judge"
    if production.primary is None:
        return None, f"{production.primary_metric} is undefined on this window (one class among the labels)"
    return evaluated - production.primary, "published"


def metric_data(report: dict[str, Any], timestamp: dt.datetime) -> list[dict[str, Any]]:
    """CloudWatch datapoints of a report (see the module doc); statistics that are undefined are left out."""
    endpoint = report["endpoint"]
    primary_name = naming.PRIMARY_METRIC_NAMES[report["primary_metric"]]
    data = []
    for group, figures in report["groups"].items():
        dimensions = [{"Name": "EndpointName", "Value": endpoint}]
        if group != PRODUCTION:
            dimensions.append({"Name": "VariantName", "Value": group})
        values = {
            naming.SAMPLES_METRIC: (figures["samples"], "Count"),
            primary_name: (figures["primary"], "None"),
            naming.BRIER_METRIC: (figures["brier"], "None"),
            naming.ECE_METRIC: (figures["expected_calibration_error"], "None"),
            naming.POSITIVE_RATE_METRIC: (figures["positive_rate"], "None"),
        }
        data += [
            {"MetricName": n, "Dimensions": dimensions, "Timestamp": timestamp, "Value": float(v), "Unit": unit}
            for n, (v, unit) in values.items()
            if v is not None
        ]
    if report["drop"]["value"] is not None:
        data.append(
            {
                "MetricName": naming.DROP_METRIC,
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Timestamp": timestamp,
                "Value": float(report["drop"]["value"]),
                "Unit": "None",
            }
        )
    return data


def run_quality(aws: QualityAws, settings: QualitySettings, *, now: dt.datetime) -> dict[str, Any]:
    """Evaluate the window of a run at ``now``; returns the report (not yet written or published).

    Raises the clients' errors (S3 or the registry unreachable: the invocation fails and is retried); bad label
    rows and unusable capture records are counted in the report, never raised.
    """
    from mlops_kit.registry import ModelRegistry

    start, end = window(now, window_hours=settings.window_hours, label_delay_hours=settings.label_delay_hours)
    production = ModelRegistry(aws.sagemaker, settings.model_package_group).production()
    version = None if production is None else str(production.version)
    evaluated = None if production is None else production.metrics.get(settings.primary_metric)
    labels = read_label_files(aws.s3, settings.labels_uri, start, settings)
    listing = list_capture(aws.s3, settings.capture_uri, settings.endpoint_name, start, end, exclude_variants=())
    lines = ((item.variant, item.key, line) for item, line in read_lines(aws.s3, listing))
    joined = join(
        lines,
        labels.by_key,
        start=start,
        end=end,
        key=settings.key,
        business_key_path=settings.business_key_path,
    )
    groups = group_metrics(joined, settings.primary_metric, version)
    value, reason = drop(groups[PRODUCTION], evaluated, settings.min_samples)
    return {
        "kind": "mlops_kit.quality.report",
        "endpoint": settings.endpoint_name,
        "run_at": utc(now).isoformat(),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "label_delay_hours": settings.label_delay_hours},
        "key": settings.key,
        "primary_metric": settings.primary_metric,
        "production_version": version,
        "evaluation_figure": evaluated,
        "min_samples": settings.min_samples,
        "max_drop": settings.max_drop,
        "labels": labels.summary(),
        "capture": {"files": listing.count, "bytes": listing.total_bytes, **joined.summary()},
        "groups": {name: figures.to_dict() for name, figures in sorted(groups.items())},
        "drop": {"value": value, "reason": reason, "breached": value is not None and value > settings.max_drop},
    }


def publish(aws: QualityAws, settings: QualitySettings, report: dict[str, Any], *, now: dt.datetime) -> str:
    """Write the report to S3 and put its metrics; returns the report's URI."""
    key = naming.report_key(settings.endpoint_name, dt.datetime.fromisoformat(report["window"]["end"]))
    aws.s3.put_object(
        Bucket=settings.reports_bucket,
        Key=key,
        Body=json.dumps(report, indent=1).encode(),
        ContentType="application/json",
    )
    data = metric_data(report, utc(now))
    for first in range(0, len(data), _CHUNK):
        aws.cloudwatch.put_metric_data(Namespace=naming.METRIC_NAMESPACE, MetricData=data[first : first + _CHUNK])
    return f"s3://{settings.reports_bucket}/{key}"


def read_reports(s3: Any, bucket: str, endpoint: str, *, last: int = 10) -> list[dict[str, Any]]:
    """The ``last`` window reports of ``endpoint``, newest window first (what ``mlops quality report`` shows)."""
    prefix = f"{naming.reports_prefix(endpoint)}/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".json")]
    newest = sorted(keys, reverse=True)[: max(0, last)]
    return [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in newest]
