"""Join late labels with the predictions in data capture, per variant.

A capture record (see :mod:`mlops_kit.drift.capture` for the format) holds the request, the response (scores and
the serving ``model_version``), ``eventMetadata.inferenceTime`` and, when the caller passed one to
InvokeEndpoint, ``eventMetadata.inferenceId``. The join key of each scored row is:

* ``inference_id``: the record's ``inferenceId``. A record with several rows (an ``instances`` request) shares one
  id between them, so its rows cannot be told apart by a label: they are counted as ``ambiguous`` and left out
  (send one row per request, or join on the business key);
* ``business_key``: the value at ``business_key_path`` (dotted, e.g. ``transaction.transaction_id``) in each
  request row.

Every scored row is counted once: joined, awaiting its label (labels arrive late; it may join in a later run),
without a key, or left out with a reason. A key served twice by the same variant (a client retry) keeps its first
prediction and counts the repeat. The shadow variant answers copies of the same requests: its rows join the same
labels, and are reported as their own variant (never mixed into Production's figure).

During an A/B test a request the inference container forwarded to the user's assigned variant
(:mod:`mlops_kit.serving.sticky`) is captured twice: where the client's request arrived, with the assigned
variant's answer (``mlops_forwarded_to``; the row counts for that variant, which scored it), and as the forwarded
copy in the assigned variant's capture (``mlops_forwarded_by``; left out, so no prediction counts twice).

Standard library only (the quality function has no pandas).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_kit.serving.sticky import forwarded_copy, scored_by

KeyKind = Literal["inference_id", "business_key"]
SCORE_KEY = "score"
MAX_EXAMPLES = 20


class UnusableRecord(ValueError):  # noqa: N818  (the reason is the message)
    """A capture record the join cannot use; the message is the reason it is counted under."""


@dataclass(frozen=True)
class Scored:
    """One scored row of a capture record."""

    key: str | None
    score: float
    variant: str
    model_version: str | None
    inference_time: dt.datetime


@dataclass
class Joined:
    """Labelled predictions per variant, and the count of every row that did not join (by reason)."""

    rows: dict[str, list[tuple[int, float, str | None]]] = field(default_factory=dict)  # variant -> (label, score, v)
    records: int = 0
    scored: int = 0
    awaiting_label: Counter[str] = field(default_factory=Counter)  # variant -> rows without a label yet
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> rows or records
    examples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "scored_rows": self.scored,
            "joined": {variant: len(rows) for variant, rows in sorted(self.rows.items())},
            "awaiting_label": dict(sorted(self.awaiting_label.items())),
            "left_out": dict(self.left_out),
            "examples": list(self.examples),
        }

    def _leave_out(self, reason: str, where: str, count: int = 1) -> None:
        self.left_out[reason] += count
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")


def _payload(section: Any, part: str) -> Any:
    if not isinstance(section, dict) or not isinstance(section.get("data"), str):
        raise UnusableRecord(f"{part} has no data")
    data, encoding = section["data"], str(section.get("encoding", "JSON")).upper()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UnusableRecord(f"{part}.data is not base64 of UTF-8 text") from None
    elif encoding not in ("JSON", "TEXT"):
        raise UnusableRecord(f"{part}.encoding {encoding!r} is not JSON, TEXT or BASE64")
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        raise UnusableRecord(f"{part}.data is not JSON") from None


def _at_path(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def parse_scored(line: str | bytes, *, variant: str, key: KeyKind, business_key_path: str) -> list[Scored]:
    """The scored rows of one capture line; raises UnusableRecord with the reason it cannot be joined."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UnusableRecord("capture line is not JSON") from None
    capture = record.get("captureData") if isinstance(record, dict) else None
    metadata = record.get("eventMetadata") if isinstance(record, dict) else None
    if not isinstance(capture, dict) or not isinstance(metadata, dict):
        raise UnusableRecord("record has no captureData or eventMetadata")
    if "endpointOutput" not in capture:
        raise UnusableRecord("no response (the request failed or only input is captured)")
    try:
        moment = dt.datetime.fromisoformat(str(metadata.get("inferenceTime", "")).replace("Z", "+00:00"))
    except ValueError:
        raise UnusableRecord("eventMetadata.inferenceTime is missing or not ISO 8601") from None
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    request = _payload(capture.get("endpointInput"), "endpointInput")
    response = _payload(capture["endpointOutput"], "endpointOutput")
    if forwarded_copy(request):
        raise UnusableRecord("a forwarded copy of an A/B request (counted where the client's request arrived)")
    variant = scored_by(response, variant)
    rows = request.get("instances", [request]) if isinstance(request, dict) else None
    answers = response.get("predictions", [response]) if isinstance(response, dict) else None
    if not isinstance(rows, list) or not isinstance(answers, list) or len(rows) != len(answers) or not rows:
        raise UnusableRecord("request and response do not hold one prediction per row")
    version = response.get("model_version") if isinstance(response, dict) else None
    if key == "inference_id" and len(rows) > 1:
        raise UnusableRecord(f"ambiguous: {len(rows)} rows share one InferenceId")
    out = []
    for row, answer in zip(rows, answers, strict=True):
        score = answer.get(SCORE_KEY) if isinstance(answer, dict) else None
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise UnusableRecord(f"response has no numeric {SCORE_KEY!r}")
        if key == "inference_id":
            raw = metadata.get("inferenceId")
        else:
            raw = _at_path(row, business_key_path) if isinstance(row, dict) else None
        out.append(
            Scored(
                key=None if raw is None or str(raw).strip() == "" else str(raw).strip(),
                score=float(score),
                variant=variant,
                model_version=None if version is None else str(version),
                inference_time=moment,
            )
        )
    return out


def join(
    lines: Iterable[tuple[str, str, bytes]],
    labels: Mapping[str, int],
    *,
    start: dt.datetime,
    end: dt.datetime,
    key: KeyKind,
    business_key_path: str = "",
) -> Joined:
    """Join capture lines ``(variant, where, line)`` served in ``[start, end)`` with ``labels`` (key -> 0/1).

    Never raises for bad records: each is counted by reason (see the module doc).
    """
    joined = Joined()
    seen: set[tuple[str, str]] = set()
    for variant, where, line in lines:
        joined.records += 1
        try:
            rows = parse_scored(line, variant=variant, key=key, business_key_path=business_key_path)
        except UnusableRecord as exc:
            joined._leave_out(str(exc), where)
            continue
        for row in rows:
            if not start <= row.inference_time < end:
                continue  # a neighbouring hour's file: not this window's
            joined.scored += 1
            if row.key is None:
                joined._leave_out(f"no {key if key == 'inference_id' else business_key_path} in the request", where)
                continue
            if (row.variant, row.key) in seen:
                joined._leave_out("key served again by the same variant (first prediction kept)", where)
                continue
            seen.add((row.variant, row.key))
            label = labels.get(row.key)
            if label is None:
                joined.awaiting_label[row.variant] += 1
                continue
            joined.rows.setdefault(row.variant, []).append((label, row.score, row.model_version))
    return joined
