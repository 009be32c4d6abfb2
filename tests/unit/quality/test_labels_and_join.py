"""Label intake (JSON lines and CSV: bad rows reported, good ones kept) and the join with captured predictions."""

from __future__ import annotations

import datetime as dt
import gzip

from mlops_kit.quality.join import join
from mlops_kit.quality.labels import read_labels
from mlops_kit.serving.sticky import FORWARDED_BY, FORWARDED_TO
from tests.unit.quality.support import capture_line, jsonl

T0 = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def test_good_rows_are_kept_beside_bad_ones_and_every_bad_row_is_reported() -> None:
    files = [
        (
            "a.jsonl",
            jsonl([{"inference_id": "r1", "label": 1}, {"inference_id": "r2", "label": "maybe"}])
            + b"\nnot json\n"
            + jsonl([{"label": 0}, {"inference_id": "r3", "label": False}]),
        ),
        ("b.csv", b"inference_id,label\nr4,true\n,1\nr5,0.0\nr6,2\n"),
    ]

    labels = read_labels(files, key_column="inference_id", label_column="label")

    assert labels.by_key == {"r1": 1, "r3": 0, "r4": 1, "r5": 0}
    assert labels.rows == 9
    assert dict(labels.bad_rows) == {
        "label 'maybe' is not binary (write 0/1 or true/false)": 1,
        "line is not valid JSON": 1,
        "no 'inference_id' field": 1,
        "key is empty": 1,
        "label '2' is not binary (write 0/1 or true/false)": 1,
    }
    assert sum(labels.bad_rows.values()) == 5
    assert [(e.file, e.line) for e in labels.examples] == [
        ("a.jsonl", 2),
        ("a.jsonl", 3),
        ("a.jsonl", 4),
        ("b.csv", 3),
        ("b.csv", 5),
    ]


def test_a_csv_without_the_key_column_is_reported_whole_and_other_files_still_count() -> None:
    files = [
        ("x.csv", b"transaction,label\nT1,1\n"),
        ("y.jsonl.gz", gzip.compress(jsonl([{"inference_id": "r", "label": 1}]))),
    ]

    labels = read_labels(files, key_column="inference_id", label_column="label")

    assert labels.by_key == {"r": 1}
    assert "x.csv" in labels.bad_files
    assert "has no 'inference_id' column (columns: transaction, label)" in labels.bad_files["x.csv"]


def test_a_later_file_corrects_an_earlier_label() -> None:
    files = [("1.jsonl", jsonl([{"k": "a", "y": 0}])), ("2.jsonl", jsonl([{"k": "a", "y": 1}]))]

    labels = read_labels(files, key_column="k", label_column="y")

    assert labels.by_key == {"a": 1}
    assert labels.replaced == 1


def test_the_join_counts_every_scored_row_once() -> None:
    lines = [
        ("blue", "f1", capture_line(T0, [0.9], inference_id="r1")),
        ("blue", "f1", capture_line(T0, [0.2], inference_id="r2")),
        ("blue", "f1", capture_line(T0, [0.4], inference_id="r3")),  # no label yet
        ("blue", "f1", capture_line(T0, [0.4])),  # no InferenceId
        ("blue", "f1", capture_line(T0, [0.9, 0.1], inference_id="r4")),  # two rows, one id
        ("blue", "f1", capture_line(T0, [0.7], inference_id="r1")),  # a retry
        ("shadow", "f2", capture_line(T0, [0.6], inference_id="r1", model_version="2")),
        ("blue", "f1", capture_line(T0 + dt.timedelta(hours=2), [0.5], inference_id="r2")),  # after the window
        ("blue", "f1", b"{}"),
    ]

    joined = join(lines, {"r1": 1, "r2": 0}, start=T0, end=T0 + dt.timedelta(hours=1), key="inference_id")

    assert joined.rows == {"blue": [(1, 0.9, "1"), (0, 0.2, "1")], "shadow": [(1, 0.6, "2")]}
    assert joined.awaiting_label == {"blue": 1}
    assert joined.left_out["no inference_id in the request"] == 1
    assert joined.left_out["ambiguous: 2 rows share one InferenceId"] == 1
    assert joined.left_out["key served again by the same variant (first prediction kept)"] == 1
    assert joined.left_out["record has no captureData or eventMetadata"] == 1


def test_the_business_key_joins_each_row_of_a_batch_request() -> None:
    lines = [("blue", "f", capture_line(T0, [0.9, 0.1], transaction_ids=["T1", "T2"]))]

    joined = join(
        lines,
        {"T1": 1, "T2": 0},
        start=T0,
        end=T0 + dt.timedelta(hours=1),
        key="business_key",
        business_key_path="transaction.transaction_id",
    )

    assert joined.rows == {"blue": [(1, 0.9, "1"), (0, 0.1, "1")]}


def test_a_forwarded_ab_request_counts_once_for_the_variant_that_scored_it() -> None:
    # Given a request that reached blue, whose user the A/B test assigns to green: blue's capture holds green's
    # answer (marked forwarded to green), green's capture the forwarded copy (marked forwarded by blue, no id),
    lines = [
        ("blue", "f1", capture_line(T0, [0.8], inference_id="r1", response_fields={FORWARDED_TO: "green"})),
        ("green", "f2", capture_line(T0, [0.8], request_fields={FORWARDED_BY: "blue"})),
        ("blue", "f1", capture_line(T0, [0.3], inference_id="r2")),
    ]

    # When the window is joined with the labels,
    joined = join(lines, {"r1": 1, "r2": 0}, start=T0, end=T0 + dt.timedelta(hours=1), key="inference_id")

    # Then the forwarded prediction counts for green, once, and the copy is left out with its reason.
    assert joined.rows == {"green": [(1, 0.8, "1")], "blue": [(0, 0.3, "1")]}
    assert joined.left_out == {"a forwarded copy of an A/B request (counted where the client's request arrived)": 1}
