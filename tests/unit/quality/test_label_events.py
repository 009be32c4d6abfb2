"""Labels sent as EventBridge events: good rows stored where the quality run reads label files, bad rows and
unusable events kept with their reasons beside them, a redelivered event written to the same objects."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from mlops_kit.quality.intake import MAX_ROWS, sort_event, store_event
from mlops_kit.quality.labels import read_labels
from mlops_kit.quality.settings import LabelIntakeSettings

SETTINGS = LabelIntakeSettings(
    endpoint_name="ep", bucket="data", labels_prefix="ground-truth", key_column="transaction_id", label_column="label"
)
AT = dt.datetime(2026, 12, 6, 21, 30, tzinfo=dt.UTC)


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[(Bucket, Key)] = Body


def event(labels: Any, *, endpoint: Any = "ep", event_id: str = "e-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "source": "mlops.quality",
        "detail-type": "Ground Truth Labels",
        "time": "2026-12-06T21:30:00Z",
        "detail": {"endpoint_name": endpoint, "labels": labels},
    }


def test_good_rows_become_a_label_file_and_bad_rows_are_kept_with_their_reasons() -> None:
    s3 = FakeS3()
    rows = [
        {"transaction_id": "T1", "label": 1},
        {"transaction_id": "T2", "label": "false"},
        {"transaction_id": "T3", "label": "maybe"},
        {"label": 1},
        "T4,1",
        {"transaction_id": "T5", "label": 0.0},
    ]

    result = store_event(s3, SETTINGS, event(rows), at=AT)

    stored = s3.objects[("data", "ground-truth/events/2026/12/06/e-1.jsonl")]
    # The stored file is read back by the quality run exactly as any label file,
    labels = read_labels([("e-1.jsonl", stored)], key_column="transaction_id", label_column="label")
    assert labels.by_key == {"T1": 1, "T2": 0, "T5": 0}
    assert not labels.bad_rows
    # and the bad rows are reported beside the labels, never among them.
    rejected = json.loads(s3.objects[("data", "ground-truth-rejected/events/2026/12/06/e-1.json")])
    assert rejected["bad_rows"] == {
        "labels[2]": "label 'maybe' is not binary (write 0/1 or true/false)",
        "labels[3]": "no 'transaction_id' field",
        "labels[4]": "row is not a JSON object",
    }
    assert rejected["event"]["detail"]["labels"] == rows
    assert result["stored"] == 3
    assert result["rejected"]["uri"] == "s3://data/ground-truth-rejected/events/2026/12/06/e-1.json"


@pytest.mark.parametrize(
    ("detail_event", "reason"),
    [
        (event([], endpoint="ep"), "detail.labels must be a non-empty list of rows like {'transaction_id': ..."),
        (event({"T1": 1}), "detail.labels must be a non-empty list"),
        (event([{"transaction_id": "T1", "label": 1}], endpoint="other"), "detail.endpoint_name is 'other', not 'ep'"),
        ({"id": "e-1", "detail": "T1=1"}, "the event has no detail object"),
        (event([{"transaction_id": "T", "label": 1}] * (MAX_ROWS + 1)), "send them in several events"),
    ],
)
def test_an_unusable_event_is_rejected_whole_and_nothing_is_stored_as_labels(
    detail_event: dict[str, Any], reason: str
) -> None:
    s3 = FakeS3()

    result = store_event(s3, SETTINGS, detail_event, at=AT)

    assert result["stored"] == 0
    assert reason in result["rejected"]["reason"]
    assert [key for _, key in s3.objects] == ["ground-truth-rejected/events/2026/12/06/e-1.json"]


def test_a_redelivered_event_writes_the_same_objects() -> None:
    s3 = FakeS3()
    labelled = event([{"transaction_id": "T1", "label": 1}])

    store_event(s3, SETTINGS, labelled, at=AT)
    first = dict(s3.objects)
    store_event(s3, SETTINGS, labelled, at=AT)

    assert s3.objects == first


def test_an_event_without_a_usable_id_is_named_by_its_content() -> None:
    one = sort_event({"id": "../../x", "detail": {}}, SETTINGS).event_id
    assert one.startswith("sha256-")
    assert one == sort_event({"id": "../../x", "detail": {}}, SETTINGS).event_id
    assert "/" not in one
