"""Read SageMaker data-capture files (JSON lines) into a DataFrame of features, prediction and timestamp.

Each line is one capture record::

    {"captureData": {"endpointInput":  {"observedContentType": "application/json", "mode": "INPUT",
                                        "data": "...", "encoding": "JSON" | "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "...", "encoding": "JSON" | "BASE64"}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-05-01T12:00:00Z"},
     "eventVersion": "0"}

What is accepted (anything else makes the record malformed; it is counted with its reason and skipped,
never raised):

- content types: ``application/json`` (with parameters such as ``; charset=utf-8``), ``application/jsonlines``
  / ``application/x-ndjson`` bodies holding a single JSON document, and bodies of any type that parse as
  JSON; ``text/csv`` and other non-JSON bodies are malformed ("unsupported content type").
- ``encoding``: ``JSON`` or ``TEXT`` (``data`` is the body as text) or ``BASE64`` (UTF-8 body, base64-encoded).
- request bodies: ``{"features": {name: value, ...}}`` (one row), ``{"instances": [{...}, ...]}`` (one row
  per instance; each instance an object, or ``{"features": {...}}``), or a flat object ``{name: value, ...}``.
- response bodies: ``{"predictions": [p, ...]}`` with one entry per row, each a number, a string or an object
  holding ``prediction_key``; ``{prediction_key: value}`` (one row); or a bare number or string (one row).
  A response whose row count differs from the request's is malformed.
- ``eventMetadata.inferenceTime``: ISO 8601; records without a parsable time are malformed.
- records without ``endpointOutput`` (input-only capture) give rows whose prediction is missing.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_kit.drift.report import EVENT_ID_COLUMN, TIMESTAMP_COLUMN

DEFAULT_PREDICTION_KEY = "score"
PREDICTION_COLUMN = "prediction"
MAX_EXAMPLES = 20


class MalformedRecordError(ValueError):
    """A capture record the reader cannot use; the message is the reason counted in :class:`CaptureData`."""


@dataclass
class CaptureData:
    """Rows read from capture files, and what was skipped.

    ``frame`` has one column per feature seen (union over rows; absent values are missing), then
    ``prediction_column``, :data:`TIMESTAMP_COLUMN` (UTC) and :data:`EVENT_ID_COLUMN`; rows are in file order.
    ``malformed_reasons`` counts skipped records by reason; ``examples`` holds the first few
    ``(source, line number, reason)``.
    """

    frame: pd.DataFrame
    records: int = 0
    malformed: int = 0
    malformed_reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, int, str]] = field(default_factory=list)


def decode_payload(section: Any, part: str) -> Any:
    """The JSON body of one capture section (``endpointInput`` / ``endpointOutput``), decoded as described above.

    Raises MalformedRecordError naming ``part`` when the section is not an object, its encoding or content
    type is not accepted, or its data is not (base64 of) JSON.
    """
    if not isinstance(section, dict):
        raise MalformedRecordError(f"{part} is not an object")
    content_type = str(section.get("observedContentType", "")).split(";")[0].strip().lower()
    encoding = str(section.get("encoding", "JSON")).upper()
    data = section.get("data")
    if not isinstance(data, str):
        raise MalformedRecordError(f"{part}.data is missing or not text")
    if encoding == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedRecordError(f"{part}.data is not base64 of UTF-8 text") from None
    elif encoding in {"JSON", "TEXT"}:
        text = data
    else:
        raise MalformedRecordError(f"{part}.encoding {encoding!r} is not JSON, TEXT or BASE64")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if content_type in {"", "application/json", "application/jsonlines", "application/x-ndjson"}:
            raise MalformedRecordError(f"{part}.data is not valid JSON") from None
        raise MalformedRecordError(f"{part}: unsupported content type {content_type!r}") from None


def _rows_from_request(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise MalformedRecordError("request body is not a JSON object")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise MalformedRecordError("request 'instances' is not a non-empty list")
        rows = []
        for instance in instances:
            row = instance["features"] if isinstance(instance, dict) and "features" in instance else instance
            if not isinstance(row, dict):
                raise MalformedRecordError("request instance is not an object of named features")
            rows.append(row)
        return rows
    if "features" in body:
        if not isinstance(body["features"], dict):
            raise MalformedRecordError("request 'features' is not an object")
        return [body["features"]]
    return [body]


def _predictions(body: Any, key: str, rows: int) -> list[Any]:
    if isinstance(body, dict) and "predictions" in body:
        entries = body["predictions"]
        if not isinstance(entries, list):
            raise MalformedRecordError("response 'predictions' is not a list")
    elif isinstance(body, dict):
        entries = [body]
    else:
        entries = [body]
    if len(entries) != rows:
        raise MalformedRecordError(f"response has {len(entries)} prediction(s) for {rows} request row(s)")
    values = []
    for entry in entries:
        if isinstance(entry, dict) and key not in entry:
            raise MalformedRecordError(f"response prediction has no {key!r}")
        value = entry[key] if isinstance(entry, dict) else entry
        if value is not None and not isinstance(value, int | float | str | bool):
            raise MalformedRecordError("response prediction is not a number or a string")
        values.append(value)
    return values


def load_record(line: str | bytes) -> dict[str, Any]:
    """One capture line as a dict with a ``captureData`` object that has an ``endpointInput``; raises
    MalformedRecordError naming what is missing otherwise."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedRecordError("line is not valid JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
        raise MalformedRecordError("record has no captureData object")
    if "endpointInput" not in record["captureData"]:
        raise MalformedRecordError("captureData has no endpointInput")
    return record


def parse_record(line: str | bytes, *, prediction_key: str = DEFAULT_PREDICTION_KEY) -> list[dict[str, Any]]:
    """The rows of one capture line: feature values, ``prediction``, ``inference_time`` and ``event_id``.

    Raises MalformedRecordError with the reason when the line is not a capture record the reader accepts (see the
    module docstring).
    """
    record = load_record(line)
    capture = record["captureData"]
    rows = _rows_from_request(decode_payload(capture["endpointInput"], "endpointInput"))
    if "endpointOutput" in capture:
        predictions = _predictions(
            decode_payload(capture["endpointOutput"], "endpointOutput"), prediction_key, len(rows)
        )
    else:
        predictions = [None] * len(rows)
    metadata = record.get("eventMetadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("inferenceTime"), str):
        raise MalformedRecordError("eventMetadata.inferenceTime is missing")
    try:
        timestamp = pd.Timestamp(metadata["inferenceTime"])
    except ValueError:
        raise MalformedRecordError(f"inferenceTime {metadata['inferenceTime']!r} is not ISO 8601") from None
    timestamp = timestamp.tz_localize("UTC") if timestamp.tzinfo is None else timestamp.tz_convert("UTC")
    event_id = metadata.get("eventId")
    out = []
    for row, prediction in zip(rows, predictions, strict=True):
        values = dict(row)
        for reserved in (PREDICTION_COLUMN, TIMESTAMP_COLUMN, EVENT_ID_COLUMN):
            if reserved in values:
                raise MalformedRecordError(f"request feature name {reserved!r} is reserved for the reader's own column")
        values[PREDICTION_COLUMN] = prediction
        values[TIMESTAMP_COLUMN] = timestamp
        values[EVENT_ID_COLUMN] = None if event_id is None else str(event_id)
        out.append(values)
    return out


def _lines(source: str | Path | Iterable[str | bytes]) -> Iterator[tuple[str, int, str | bytes]]:
    if isinstance(source, str | Path):
        path = Path(source)
        paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in paths:
            opener = gzip.open if file.suffix == ".gz" else open
            with opener(file, "rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    yield str(file), number, raw
    else:
        for number, line in enumerate(source, start=1):
            yield "<lines>", number, line


def read_capture(
    sources: str | Path | Iterable[str | bytes] | Iterable[str | Path],
    *,
    prediction_key: str = DEFAULT_PREDICTION_KEY,
) -> CaptureData:
    """Read capture records from files, directories (recursively, ``.gz`` too) or an iterable of lines.

    A list of ``Path`` objects reads each; any other iterable (of ``str`` or ``bytes``) is taken as lines.
    Blank lines are skipped silently; malformed records are counted by reason (see :class:`CaptureData`),
    never raised. Raises FileNotFoundError when a named file or directory does not exist.
    """
    if isinstance(sources, str | Path):
        streams: list[Any] = [sources]
    else:
        items = list(sources)
        streams = items if items and all(isinstance(i, Path) for i in items) else [items]
    for stream in streams:
        if isinstance(stream, str | Path) and not Path(stream).exists():
            raise FileNotFoundError(f"capture source {stream} does not exist")
    rows: list[dict[str, Any]] = []
    result = CaptureData(frame=pd.DataFrame())
    for stream in streams:
        for origin, number, line in _lines(stream):
            if not line.strip():
                continue
            result.records += 1
            try:
                rows.extend(parse_record(line, prediction_key=prediction_key))
            except MalformedRecordError as reason:
                result.malformed += 1
                result.malformed_reasons[str(reason)] += 1
                if len(result.examples) < MAX_EXAMPLES:
                    result.examples.append((origin, number, str(reason)))
    result.frame = _frame(rows)
    return result


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {
                PREDICTION_COLUMN: pd.Series([], dtype="float64"),
                TIMESTAMP_COLUMN: pd.Series([], dtype="datetime64[ns, UTC]"),
                EVENT_ID_COLUMN: pd.Series([], dtype="str"),
            }
        )
    frame = pd.DataFrame.from_records(rows)
    order = [c for c in frame.columns if c not in (PREDICTION_COLUMN, TIMESTAMP_COLUMN, EVENT_ID_COLUMN)]
    frame = frame[[*order, PREDICTION_COLUMN, TIMESTAMP_COLUMN, EVENT_ID_COLUMN]]
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    return frame
