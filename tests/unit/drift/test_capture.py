"""Capture files: JSON and base64 bodies, instances and predictions, malformed lines counted, never raised."""

from __future__ import annotations

import base64
import gzip
import json

import pandas as pd
import pytest

from mlops_kit.drift.capture import read_capture


def record(
    request, response=None, *, encoding="JSON", time="2024-05-01T12:00:00Z", event="e1", content="application/json"
):
    def section(body, mode):
        text = body if isinstance(body, str) else json.dumps(body)
        data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
        return {"observedContentType": content, "mode": mode, "data": data, "encoding": encoding}

    capture = {"endpointInput": section(request, "INPUT")}
    if response is not None:
        capture["endpointOutput"] = section(response, "OUTPUT")
    return json.dumps(
        {"captureData": capture, "eventMetadata": {"eventId": event, "inferenceTime": time}, "eventVersion": "0"}
    )


def test_reads_every_accepted_shape():
    lines = [
        record({"features": {"age": 30, "colour": "red"}}, {"score": 0.2}),
        record(
            {"instances": [{"age": 40}, {"features": {"age": 50}}]},
            {"predictions": [{"score": 0.5}, 0.7]},
            encoding="BASE64",
        ),
        record(
            {"age": 60, "colour": "blue"},
            {"predictions": [{"score": 0.9, "label": 1}]},
            time="2024-05-01T14:00:00+02:00",
        ),
        record({"features": {"age": 70}}),  # input-only capture
    ]
    data = read_capture(lines)
    assert data.records == 4
    assert data.malformed == 0
    frame = data.frame
    assert list(frame.columns) == ["age", "colour", "prediction", "inference_time", "event_id"]
    assert frame["age"].tolist() == [30, 40, 50, 60, 70]
    assert frame["prediction"].tolist()[:4] == [0.2, 0.5, 0.7, 0.9]
    assert pd.isna(frame["prediction"].iloc[4])
    assert str(frame["inference_time"].dt.tz) == "UTC"
    assert frame["inference_time"].iloc[3] == pd.Timestamp("2024-05-01T12:00:00Z")
    assert frame["colour"].iloc[1] is None or pd.isna(frame["colour"].iloc[1])


def test_malformed_records_are_counted_by_reason_not_raised():
    good = record({"features": {"age": 1}}, {"score": 0.1})
    lines = [
        good,
        "not json",
        json.dumps({"something": "else"}),
        record({"instances": [{"age": 1}, {"age": 2}]}, {"predictions": [{"score": 0.1}]}),
        record({"features": {"age": 1}}, {"label": 3}),
        record({"features": {"age": 1}}, {"score": 0.1}, time="yesterday"),
        record("a,b,c", {"score": 0.1}, content="text/csv"),
        record({"features": {"age": 1}}, {"score": 0.1}, encoding="BASE64").replace('"data": "', '"data": "!!'),
        "",
        good,
    ]
    data = read_capture(lines)
    assert data.records == 9  # the blank line is not a record
    assert data.malformed == 7
    assert len(data.frame) == 2
    reasons = data.malformed_reasons
    assert reasons["line is not valid JSON"] == 1
    assert reasons["record has no captureData object"] == 1
    assert reasons["response has 1 prediction(s) for 2 request row(s)"] == 1
    assert reasons["response prediction has no 'score'"] == 1
    assert reasons["inferenceTime 'yesterday' is not ISO 8601"] == 1
    assert reasons["endpointInput: unsupported content type 'text/csv'"] == 1
    assert reasons["endpointInput.data is not base64 of UTF-8 text"] == 1
    assert data.examples[0] == ("<lines>", 2, "line is not valid JSON")


def test_reads_files_and_directories_including_gzip(tmp_path):
    hour = tmp_path / "endpoint" / "AllTraffic" / "2024" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    (hour / "a.jsonl").write_text(record({"features": {"x": 1}}, {"score": 0.1}) + "\n" + "garbage\n")
    with gzip.open(hour / "b.jsonl.gz", "wt") as handle:
        handle.write(record({"features": {"x": 2}}, {"score": 0.2}, event="e2") + "\n")
    data = read_capture(tmp_path)
    assert sorted(data.frame["x"].tolist()) == [1, 2]
    assert data.malformed == 1
    assert data.examples[0][0].endswith("a.jsonl")
    assert read_capture([hour / "a.jsonl"]).frame["x"].tolist() == [1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_capture(tmp_path / "nope")


def test_no_records_give_an_empty_frame_with_the_reader_columns():
    data = read_capture([])
    assert data.records == 0
    assert list(data.frame.columns) == ["prediction", "inference_time", "event_id"]
    assert len(data.frame) == 0


def test_a_custom_prediction_key_and_reserved_names():
    data = read_capture([record({"features": {"x": 1}}, {"probability": 0.4})], prediction_key="probability")
    assert data.frame["prediction"].tolist() == [0.4]
    clash = read_capture([record({"features": {"prediction": 1}}, {"score": 0.4})])
    assert clash.malformed == 1
    assert "reserved" in next(iter(clash.malformed_reasons))
