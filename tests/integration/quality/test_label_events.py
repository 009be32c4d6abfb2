"""Labels as EventBridge events on the emulator: events put on the default bus are stored where the quality run
reads label files, the next run scores them, and bad events (or rows) are reported beside the labels, not lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdk.config import QualityConfig
from mlops_kit.quality import naming
from mlops_kit.quality.job import PRODUCTION, read_reports
from mlops_kit.serving.client import EndpointClient
from mlops_local.deploy import CloudAssembly
from tests.support import platform_with_production, with_transaction_ids

DEFAULTS = QualityConfig()  # cdk.json switches the section on with its defaults
REQUESTS = 60


def label_event(endpoint: str, labels: Any) -> dict[str, Any]:
    return {
        "Source": naming.LABEL_EVENT_SOURCE,
        "DetailType": naming.LABEL_EVENT_DETAIL_TYPE,
        "Detail": json.dumps({"endpoint_name": endpoint, "labels": labels}),
    }


def test_label_events_are_scored_by_the_next_quality_run_and_bad_ones_are_reported(
    cloud_assembly: CloudAssembly, tmp_path: Path
) -> None:
    with platform_with_production(cloud_assembly, tmp_path) as (context, data):
        aws, endpoint = context.emulator, context.output("EndpointName")
        client = EndpointClient(endpoint, aws.client("sagemaker-runtime"))
        # Given transactions served and captured, each with its transaction id (the business key),
        rows = with_transaction_ids(data.payloads, REQUESTS)
        answers = client.predict({"instances": rows}).body["predictions"]
        scores = {r["transaction"]["transaction_id"]: a["score"] for r, a in zip(rows, answers, strict=True)}
        aws.sagemaker.flush_capture()
        aws.advance(DEFAULTS.label_delay_hours * 3600)

        # When their labels arrive days later as events (two good events, one with a bad row among good ones,
        # one for which no row is usable), put on the default bus,
        keys = list(scores)
        labels = {key: i % 2 for i, key in enumerate(keys)}
        events = aws.client("events")
        first, second = keys[: REQUESTS // 2], keys[REQUESTS // 2 :]
        put = events.put_events(
            Entries=[
                label_event(endpoint, [{"transaction_id": k, "label": labels[k]} for k in first]),
                label_event(
                    endpoint,
                    [{"transaction_id": k, "label": labels[k]} for k in second]
                    + [{"transaction_id": "T9", "label": 7}],
                ),
                label_event(endpoint, {"transaction_id": "T1", "label": 1}),
            ]
        )
        assert put["FailedEntryCount"] == 0
        aws.settle()

        # Then every event was delivered to the intake and none failed (nothing waits in its dead-letter queue),
        delivered = [r for r in aws.events.delivered if "QualityLabels" in r.target_arn]
        assert len(delivered) == 3
        assert not any(r.errored for r in delivered), [r.result for r in delivered]
        results = [json.loads(r.result) for r in delivered]
        assert sorted(r["stored"] for r in results) == [0, REQUESTS // 2, REQUESTS // 2]
        # the bad row and the unusable event are reported beside the labels, with their reasons,
        s3, bucket = aws.client("s3"), context.output("DataBucketName")
        rejected_prefix = naming.rejected_labels_prefix(DEFAULTS.labels_prefix)
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{rejected_prefix}/")["Contents"]
        reports = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed]
        assert sorted(r["stored_rows"] for r in reports) == [0, REQUESTS // 2]
        reasons = sorted(r["reason"] for r in reports)
        assert reasons[0].startswith("1 of the event's rows are not usable labels")
        assert reasons[1].startswith("detail.labels must be a non-empty list")
        (partial,) = [r for r in reports if r["stored_rows"]]
        assert partial["bad_rows"] == {f"labels[{len(second)}]": "label 7 is not binary (write 0/1 or true/false)"}

        # and the next quality run scores every labelled request.
        aws.advance(DEFAULTS.window_hours * 3600 / 2)
        record = aws.fire_schedule(context.output("QualityScheduleName"))
        assert not record.errored, record.result
        (report,) = read_reports(aws.client("s3"), context.output("ArtifactsBucketName"), endpoint)
        assert report["labels"]["files"] == 2
        assert report["labels"]["labels"] == REQUESTS
        assert report["labels"]["bad_rows"] == 0  # the bad row never reached the labels
        assert report["groups"][PRODUCTION]["samples"] == REQUESTS
        assert report["groups"][PRODUCTION]["positive_rate"] == sum(labels.values()) / REQUESTS
