"""One quality run on moto's S3 and CloudWatch: late labels joined with a window's capture, metrics per variant,
the drop published only with enough labels, the report readable by the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sklearn.metrics import roc_auc_score

from mlops_kit.quality import naming
from mlops_kit.quality.job import PRODUCTION, QualityAws, publish, read_reports, run_quality, window
from mlops_kit.quality.settings import QualitySettings
from tests.unit.quality.support import capture_line, jsonl

NOW = dt.datetime(2026, 5, 5, 0, tzinfo=dt.UTC)
GROUP = "models"


class FakeRegistry:
    """SageMaker's two registry reads, for a group whose version 3 is in Production with a recorded roc_auc."""

    def __init__(self, auc: str | None) -> None:
        self.properties = {} if auc is None else {"metrics.roc_auc": auc}

    def list_model_packages(self, **_: Any) -> dict[str, Any]:
        return {"ModelPackageSummaryList": [{"ModelPackageArn": "arn:pkg/3"}]}

    def describe_model_package(self, **_: Any) -> dict[str, Any]:
        return {
            "ModelPackageArn": "arn:pkg/3",
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": 3,
            "ModelLifeCycle": {"Stage": "Production", "StageStatus": "Deployed"},
            "CustomerMetadataProperties": self.properties,
        }


def settings(**overrides: Any) -> QualitySettings:
    values: dict[str, Any] = {
        "endpoint_name": "ep",
        "model_package_group": GROUP,
        "capture_uri": "s3://artifacts/capture",
        "labels_uri": "s3://data/labels",
        "reports_bucket": "artifacts",
        "key": "inference_id",
        "key_column": "inference_id",
        "label_column": "label",
        "business_key_path": "transaction.transaction_id",
        "window_hours": 24,
        "label_delay_hours": 48,
        "min_samples": 20,
        "max_drop": 0.05,
        "primary_metric": "roc_auc",
    }
    return QualitySettings(**(values | overrides))


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="artifacts")
        client.create_bucket(Bucket="data")
        yield client


def served(s3: Any, variant: str, rows: list[tuple[str, float]], version: str = "3") -> None:
    start, _ = window(NOW, window_hours=24, label_delay_hours=48)
    when = start + dt.timedelta(hours=5)
    body = b"\n".join(capture_line(when, [score], inference_id=key, model_version=version) for key, score in rows)
    s3.put_object(Bucket="artifacts", Key=f"capture/ep/{variant}/{when:%Y/%m/%d/%H}/f.jsonl", Body=body)


def test_a_window_is_scored_per_variant_and_for_the_production_version(s3: Any) -> None:
    scores = [(f"r{i}", (i % 10) / 10 + 0.05) for i in range(40)]
    labels = {key: int(score > 0.5) if i % 4 else 1 - int(score > 0.5) for i, (key, score) in enumerate(scores)}
    served(s3, "blue", scores)
    served(s3, "shadow", [(k, 1 - s) for k, s in scores], version="4")
    s3.put_object(
        Bucket="data",
        Key="labels/2026-05-04.jsonl",
        Body=jsonl([{"inference_id": k, "label": v} for k, v in labels.items()] + [{"inference_id": "x", "label": 7}]),
    )

    report = run_quality(QualityAws(FakeRegistry("0.9"), s3, None), settings(), now=NOW)

    expected = roc_auc_score([labels[k] for k, _ in scores], [s for _, s in scores])
    assert report["groups"][PRODUCTION]["samples"] == 40
    assert report["groups"][PRODUCTION]["primary"] == pytest.approx(expected)
    assert report["groups"]["blue"]["primary"] == pytest.approx(expected)
    assert report["groups"]["shadow"]["primary"] == pytest.approx(1 - expected)  # the shadow is its own figure
    assert report["labels"]["bad_rows"] == 1
    assert report["drop"] == {"value": pytest.approx(0.9 - expected), "reason": "published", "breached": True}


def test_too_few_labels_publish_figures_but_no_drop(s3: Any) -> None:
    served(s3, "blue", [("r1", 0.9), ("r2", 0.1)])
    s3.put_object(Bucket="data", Key="labels/a.csv", Body=b"inference_id,label\nr1,1\nr2,0\n")

    report = run_quality(QualityAws(FakeRegistry("0.9"), s3, None), settings(), now=NOW)

    assert report["groups"][PRODUCTION]["samples"] == 2
    assert report["drop"]["value"] is None
    assert "fewer than the minimum 20" in report["drop"]["reason"]


def test_without_an_evaluation_figure_no_drop_is_published(s3: Any) -> None:
    served(s3, "blue", [(f"r{i}", i / 30) for i in range(30)])
    s3.put_object(
        Bucket="data", Key="labels/a.jsonl", Body=jsonl([{"inference_id": f"r{i}", "label": i % 2} for i in range(30)])
    )

    report = run_quality(QualityAws(FakeRegistry(None), s3, None), settings(), now=NOW)

    assert report["drop"]["value"] is None
    assert "records no metrics.roc_auc" in report["drop"]["reason"]


def test_publishing_writes_the_report_and_the_metrics(s3: Any) -> None:
    served(s3, "blue", [(f"r{i}", i / 30) for i in range(30)])
    s3.put_object(
        Bucket="data",
        Key="labels/a.jsonl",
        Body=jsonl([{"inference_id": f"r{i}", "label": int(i > 14)} for i in range(30)]),
    )
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    aws = QualityAws(FakeRegistry("0.95"), s3, cloudwatch)
    report = run_quality(aws, settings(), now=NOW)

    uri = publish(aws, settings(), report, now=NOW)

    assert uri == "s3://artifacts/quality/ep/reports/20260503T000000Z.json"
    assert read_reports(s3, "artifacts", "ep") == [report]
    names = {
        (m["MetricName"], tuple(d["Value"] for d in m["Dimensions"]))
        for m in cloudwatch.list_metrics(Namespace=naming.METRIC_NAMESPACE)["Metrics"]
    }
    assert ("RocAuc", ("ep", "blue")) in names
    assert ("LabeledSamples", ("ep",)) in names
    assert ("PrimaryMetricDrop", ("ep",)) in names
    assert ("ExpectedCalibrationError", ("ep", "blue")) in names
