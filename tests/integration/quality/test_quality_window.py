"""Model quality on the emulator, end to end: transactions served in batches and captured, labels written
days later (the emulator's clock advanced, not slept), the schedule fires, the window's metrics and report are
published, the drop alarm goes to ALARM and drift's retrain function starts one training run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from cdk.config import QualityConfig
from mlops_kit.quality import naming
from mlops_kit.quality.job import PRODUCTION, read_reports
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient
from mlops_local.deploy import CloudAssembly
from tests.support import platform_with_production, with_transaction_ids

DEFAULTS = QualityConfig()  # cdk.json switches the section on with its defaults
REQUESTS = DEFAULTS.min_samples + 20


def test_a_window_of_late_labels_publishes_its_quality_and_a_drop_retrains(
    cloud_assembly: CloudAssembly, tmp_path: Path
) -> None:
    with platform_with_production(cloud_assembly, tmp_path) as (context, data):
        aws, endpoint = context.emulator, context.output("EndpointName")
        client = EndpointClient(endpoint, aws.client("sagemaker-runtime"))
        # Given transactions served in batches, each row with its transaction id (the business key), and the truth
        # about them: the world changed, and what the model scores high is now legitimate (labels opposite to
        # its scores' ranking).
        rows = with_transaction_ids(data.payloads, REQUESTS)
        scores: dict[str, float] = {}
        for first in range(0, REQUESTS, 50):
            batch = rows[first : first + 50]
            answers = client.predict({"instances": batch}).body["predictions"]
            scores |= {r["transaction"]["transaction_id"]: a["score"] for r, a in zip(batch, answers, strict=True)}
        aws.sagemaker.flush_capture()
        median = sorted(scores.values())[len(scores) // 2]
        truth = {key: int(score < median) for key, score in scores.items()}
        # When the labels arrive days later (one bad row among them), and the schedule fires once the window
        # that holds the requests has passed the label delay
        aws.advance(DEFAULTS.label_delay_hours * 3600)
        labels = [{"transaction_id": k, "label": v} for k, v in truth.items()] + [{"transaction_id": "x", "label": "?"}]
        aws.client("s3").put_object(
            Bucket=context.output("DataBucketName"),
            Key=f"{DEFAULTS.labels_prefix}/chargebacks.jsonl",
            Body="\n".join(json.dumps(r) for r in labels).encode(),
        )
        aws.advance(DEFAULTS.window_hours * 3600 / 2)
        record = aws.fire_schedule(context.output("QualityScheduleName"))
        result: dict[str, Any] = json.loads(record.result)
        assert not record.errored, result
        aws.advance(60)  # the alarm evaluates on the minute; its state change reaches the retrain function

        # Then the window's report holds every labelled request and the bad row, the figures scikit-learn gives
        reports = read_reports(aws.client("s3"), context.output("ArtifactsBucketName"), endpoint)
        assert len(reports) == 1
        report = reports[0]
        y = [truth[k] for k in scores]
        production = report["groups"][PRODUCTION]
        assert production["samples"] == report["groups"]["blue"]["samples"] == REQUESTS
        assert production["primary"] == pytest.approx(roc_auc_score(y, list(scores.values())))
        assert production["brier"] == pytest.approx(brier_score_loss(y, list(scores.values())))
        assert report["labels"]["bad_rows"] == 1
        registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
        evaluated = registry.production().metrics["roc_auc"]  # type: ignore[union-attr]
        assert report["drop"]["value"] == pytest.approx(evaluated - production["primary"])
        # the metrics are in CloudWatch, the alarm is in ALARM, and drift's retrain function started one run
        listed = aws.client("cloudwatch").list_metrics(Namespace=naming.METRIC_NAMESPACE)["Metrics"]
        published = {(m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in listed}
        assert {
            ("RocAuc", (endpoint, "blue")),
            ("LabeledSamples", (endpoint,)),
            ("PrimaryMetricDrop", (endpoint,)),
        } <= published
        alarm = aws.client("cloudwatch").describe_alarms(AlarmNames=[naming.quality_alarm(endpoint)])["MetricAlarms"][0]
        assert alarm["StateValue"] == "ALARM"
        decisions = [
            json.loads(r.result) for r in aws.events.delivered if "DriftRetrain" in r.target_arn and not r.errored
        ]
        assert [(d["alarm"], d["started"]) for d in decisions] == [(naming.quality_alarm(endpoint), True)]
