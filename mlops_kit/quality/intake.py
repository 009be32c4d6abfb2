"""Ground truth sent as EventBridge events, stored where the quality run reads label files.

An event (``PutEvents`` on the account's default bus)::

    {"Source": "mlops.quality", "DetailType": "Ground Truth Labels",
     "Detail": "{\\"endpoint_name\\": \\"mlops-kit-endpoint\\",
                 \\"labels\\": [{\\"transaction_id\\": \\"T1\\", \\"label\\": 1}, ...]}"}

``labels`` holds 1 to :data:`MAX_ROWS` rows shaped like the rows of a JSON-lines label file (the key under
``quality.key_column``, the label under ``quality.label_column``), checked exactly as a file's rows are
(:func:`mlops_kit.quality.labels.label_row`). The rule matches the endpoint's name, so two platforms in one account
keep their labels apart.

What happens to an event (:func:`store_event`; retried deliveries of the same event id write the same objects):

* its good rows are written as one JSON-lines file, ``<labels_prefix>/events/<yyyy>/<mm>/<dd>/<event id>.jsonl``
  in the data bucket, which the next quality run reads like any label file (it arrives now, so every window that
  starts before it sees it);
* its bad rows, or the whole event when it is unusable (no ``labels`` list, another endpoint, too many rows), are
  written with their reasons to ``<labels_prefix>-rejected/events/<yyyy>/<mm>/<dd>/<event id>.json``: reported,
  never lost, and never read as labels. Fix and send them again as a new event.

Standard library and pydantic only (the intake function's layer has no pandas).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mlops_kit.quality import naming
from mlops_kit.quality.labels import label_row
from mlops_kit.quality.settings import LabelIntakeSettings as IntakeSettings

MAX_ROWS = 10_000  # far above what fits in one event (256 KB); a larger list is a producer bug, rejected whole


@dataclass
class Intake:
    """One event sorted: its good rows (key -> label, in order) and its bad ones (``labels[i]`` -> reason), or the
    reason the whole event is unusable."""

    event_id: str
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, str] = field(default_factory=dict)
    unusable: str | None = None

    @property
    def rejected(self) -> bool:
        return self.unusable is not None or bool(self.bad_rows)


def event_id(event: Any) -> str:
    """The event's ``id`` (EventBridge's, unique per event), or a digest of the event when it has none."""
    raw = event.get("id") if isinstance(event, dict) else None
    if isinstance(raw, str) and raw and all(c.isalnum() or c in "-_." for c in raw) and len(raw) <= 128:
        return raw
    return "sha256-" + hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()[:32]


def sort_event(event: Any, settings: IntakeSettings) -> Intake:
    """Check a label event's detail and each of its rows (see the module doc); never raises for bad data."""
    intake = Intake(event_id=event_id(event))
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        intake.unusable = "the event has no detail object"
        return intake
    if detail.get("endpoint_name") != settings.endpoint_name:
        intake.unusable = (
            f"detail.endpoint_name is {detail.get('endpoint_name')!r}, not {settings.endpoint_name!r}, the endpoint "
            "these labels are stored for"
        )
        return intake
    rows = detail.get("labels")
    if not isinstance(rows, list) or not rows:
        intake.unusable = (
            f"detail.labels must be a non-empty list of rows like {{{settings.key_column!r}: ..., "
            f"{settings.label_column!r}: 0 or 1}}"
        )
        return intake
    if len(rows) > MAX_ROWS:
        intake.unusable = f"detail.labels holds {len(rows)} rows, more than {MAX_ROWS}: send them in several events"
        return intake
    for position, row in enumerate(rows):
        try:
            key, label = label_row(row, key_column=settings.key_column, label_column=settings.label_column)
        except ValueError as exc:
            intake.bad_rows[f"labels[{position}]"] = str(exc)
            continue
        intake.rows[key] = label  # a key labelled twice in one event: the later row wins, as in a file
    return intake


def _day(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y/%m/%d")


def labels_key(settings: IntakeSettings, intake: Intake, at: dt.datetime) -> str:
    return f"{naming.label_events_prefix(settings.labels_prefix)}/{_day(at)}/{intake.event_id}.jsonl"


def rejected_key(settings: IntakeSettings, intake: Intake, at: dt.datetime) -> str:
    return f"{naming.rejected_labels_prefix(settings.labels_prefix)}/{_day(at)}/{intake.event_id}.json"


def store_event(s3: Any, settings: IntakeSettings, event: Any, *, at: dt.datetime) -> dict[str, Any]:
    """Sort a label event and write its good rows and its rejection (see the module doc); returns what was stored.

    ``at`` is the event's time (EventBridge's ``time``): it names the day folder, so a redelivery writes the same
    keys. Raises the S3 client's errors (the invocation fails and is retried, then dead-lettered).
    """
    intake = sort_event(event, settings)
    result: dict[str, Any] = {"event_id": intake.event_id, "stored": len(intake.rows), "rejected": None}
    if intake.rows:
        key = labels_key(settings, intake, at)
        body = "\n".join(json.dumps({settings.key_column: k, settings.label_column: v}) for k, v in intake.rows.items())
        s3.put_object(Bucket=settings.bucket, Key=key, Body=(body + "\n").encode(), ContentType="application/x-ndjson")
        result["labels_uri"] = f"s3://{settings.bucket}/{key}"
    if intake.rejected:
        key = rejected_key(settings, intake, at)
        report = {
            "kind": "mlops_kit.quality.rejected_label_event",
            "event_id": intake.event_id,
            "reason": intake.unusable or f"{len(intake.bad_rows)} of the event's rows are not usable labels",
            "bad_rows": intake.bad_rows,
            "stored_rows": len(intake.rows),
            "event": event,
        }
        s3.put_object(
            Bucket=settings.bucket,
            Key=key,
            Body=json.dumps(report, indent=1, default=str).encode(),
            ContentType="application/json",
        )
        result["rejected"] = {
            "uri": f"s3://{settings.bucket}/{key}",
            "reason": report["reason"],
            "bad_rows": intake.bad_rows,
        }
    return result
