"""What the model saw for each served request, rebuilt from data capture: the capture -> model-input mapping.

The drift baseline (computed by the training pipeline's evaluate step) describes the model's inputs,
``use_case.MODEL_FEATURES``, and its scores (``prediction``). The endpoint computes each input row
(``sagemaker_jobs/inference.py``) as::

    use_case.serving_features(request["transaction"], online features of request[<entity key>])

where the online features are the request's ``features`` when it sends them, else the entity's values in the
online store at inference time. Data capture keeps the request and the response, not those online values, so
they are rebuilt here:

==========================  ======================================================================================
baseline column             from the capture record
==========================  ======================================================================================
each of ``MODEL_FEATURES``  ``serving_features(transaction, online)`` -- the same function the endpoint ran, where
                            ``online`` is the request's ``features`` if given, else the entity's feature values as
                            the offline store knew them at ``eventMetadata.inferenceTime``: a point-in-time join
                            with ``created_before_label`` (values created, or ingested, after the inference are
                            ignored) and each group's TTL counted back from the inference time -- the rule the
                            online store applies when it is read (latest event time wins, expired values missing)
``prediction``              the response's ``score`` (``predictions[i].score`` for ``instances`` requests)
==========================  ======================================================================================

Rows left out, each counted in :class:`ServedData`: records without a response (the request failed, so no
input was scored), rows served by another model version than the one monitored (a candidate's canary or
shadow traffic: its scores are not comparable with the Production model's baseline), rows outside the window,
and malformed records (by reason). The rebuild differs from what the endpoint saw only when the two stores
disagree: a value that reached the online store but not the offline store, or the reverse.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_kit.drift.capture import MalformedRecordError, decode_payload, load_record
from mlops_kit.drift.report import EVENT_ID_COLUMN, TIMESTAMP_COLUMN
from mlops_kit.monitoring.naming import PREDICTION

MODEL_VERSION_COLUMN = "model_version"
VARIANT_COLUMN = "variant"
PREDICTION_KEY = "score"
MAX_EXAMPLES = 20
_SERVED_AT = "__served_at"


@dataclass(frozen=True)
class ServedRequest:
    """One scored row of one capture record: what was asked, what was answered, by whom and when."""

    entity: str | None
    fields: Mapping[str, Any]
    given: Mapping[str, Any] | None  # the request's own "features", used instead of the online store
    prediction: float | None
    model_version: str | None
    variant: str
    inference_time: dt.datetime
    event_id: str | None
    answered: bool = True


def _inference_time(record: Mapping[str, Any]) -> tuple[dt.datetime, str | None]:
    metadata = record.get("eventMetadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("inferenceTime"), str):
        raise MalformedRecordError("eventMetadata.inferenceTime is missing")
    try:
        moment = dt.datetime.fromisoformat(metadata["inferenceTime"].replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRecordError(f"inferenceTime {metadata['inferenceTime']!r} is not ISO 8601") from None
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    event_id = metadata.get("eventId")
    return moment, None if event_id is None else str(event_id)


def _requests(body: Any, entity_key: str) -> list[tuple[str | None, dict[str, Any], dict[str, Any] | None]]:
    """(entity, request fields, given features) per instance, as the inference script's ``parse_request``."""
    if not isinstance(body, dict):
        raise MalformedRecordError("request body is not a JSON object")
    items = body.get("instances", [body])
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise MalformedRecordError("request 'instances' is not a non-empty list of objects")
    parsed = []
    for item in items:
        transaction = item.get("transaction")
        if not isinstance(transaction, dict):
            raise MalformedRecordError("request has no 'transaction' object")
        given = item.get("features")
        if given is not None and not isinstance(given, dict):
            raise MalformedRecordError("request 'features' is not an object")
        entity = item.get(entity_key)
        parsed.append((None if entity is None else str(entity), dict(transaction), given))
    return parsed


def _answers(body: Any, rows: int) -> tuple[list[float | None], str | None]:
    """Scores per row and the serving model version from a response body."""
    if not isinstance(body, dict):
        raise MalformedRecordError("response body is not a JSON object")
    entries = body.get("predictions", [body])
    if not isinstance(entries, list) or len(entries) != rows:
        raise MalformedRecordError(f"response does not hold one prediction per request row ({rows})")
    scores: list[float | None] = []
    for entry in entries:
        value = entry.get(PREDICTION_KEY) if isinstance(entry, dict) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise MalformedRecordError(f"response {PREDICTION_KEY!r} is not a number")
        scores.append(None if value is None else float(value))
    version = body.get("model_version")
    return scores, None if version is None else str(version)


def parse_served(line: str | bytes, *, entity_key: str, variant: str) -> list[ServedRequest]:
    """The scored rows of one capture line of the kit's endpoint (request and response formats of
    ``sagemaker_jobs/inference.py``). A record without a response gives rows with ``answered=False``.

    Raises MalformedRecordError with the reason when the line is not such a record.
    """
    record = load_record(line)
    capture = record["captureData"]
    requests = _requests(decode_payload(capture["endpointInput"], "endpointInput"), entity_key)
    moment, event_id = _inference_time(record)
    answered = "endpointOutput" in capture
    scores: list[float | None] = [None] * len(requests)
    version = None
    if answered:
        scores, version = _answers(decode_payload(capture["endpointOutput"], "endpointOutput"), len(requests))
    return [
        ServedRequest(entity, fields, given, score, version, variant, moment, event_id, answered)
        for (entity, fields, given), score in zip(requests, scores, strict=True)
    ]


@dataclass
class ServedData:
    """The rebuilt model inputs of a window and what was left out.

    ``frame`` has the use case's ``MODEL_FEATURES`` (float64), ``prediction``, ``inference_time`` (UTC),
    ``event_id``, ``model_version`` and ``variant``, one row per scored request row, in capture order.
    """

    frame: pd.DataFrame
    records: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    outside_window: int = 0
    other_versions: Counter[str] = field(default_factory=Counter)
    looked_up: int = 0
    given: int = 0
    not_transformable: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": len(self.frame),
            "malformed": dict(self.malformed),
            "unanswered": self.unanswered,
            "outside_window": self.outside_window,
            "other_model_versions": dict(self.other_versions),
            "online_features_rebuilt": self.looked_up,
            "online_features_given": self.given,
            "not_transformable": dict(self.not_transformable),
            "examples": self.examples,
        }


def collect(
    lines: Iterable[tuple[str, str | bytes]],
    *,
    use_case: Any,
    start: dt.datetime,
    end: dt.datetime,
    model_version: str | None,
    offline: Any | None,
) -> ServedData:
    """Rebuild the model inputs of every request scored in ``[start, end)`` from ``(variant, line)`` pairs.

    ``use_case`` is the use-case module (``ENTITY``, ``FEATURE_REFS``, ``MODEL_FEATURES``,
    ``serving_features``); ``offline`` an :class:`~mlops_kit.features.offline.OfflineStore` of its feature
    registry, needed unless every request carried its features. ``model_version``, when given, keeps only rows
    that version answered. Bad records are counted, never raised; raises ValueError when features must be
    looked up and ``offline`` is None.
    """
    entity_key = use_case.ENTITY.name
    data = ServedData(frame=pd.DataFrame())
    kept: list[ServedRequest] = []
    for variant, line in lines:
        data.records += 1
        try:
            rows = parse_served(line, entity_key=entity_key, variant=variant)
        except MalformedRecordError as reason:
            data.malformed[str(reason)] += 1
            if len(data.examples) < MAX_EXAMPLES:
                data.examples.append(f"{variant}: {reason}")
            continue
        for row in rows:
            if not start <= row.inference_time < end:
                data.outside_window += 1
            elif not row.answered or row.prediction is None:
                data.unanswered += 1
            elif model_version is not None and row.model_version != model_version:
                data.other_versions[str(row.model_version)] += 1
            else:
                kept.append(row)
    online = _online_features(kept, use_case, offline)
    data.given = sum(1 for row in kept if row.given is not None)
    data.looked_up = len(kept) - data.given
    records = []
    for row, features in zip(kept, online, strict=True):
        try:
            values = use_case.serving_features(row.fields, features)
        except (KeyError, ValueError, TypeError) as exc:
            data.not_transformable[f"{type(exc).__name__}: {exc}"] += 1
            continue
        records.append(
            {
                **{name: values[name] for name in use_case.MODEL_FEATURES},
                PREDICTION: row.prediction,
                TIMESTAMP_COLUMN: row.inference_time,
                EVENT_ID_COLUMN: row.event_id,
                MODEL_VERSION_COLUMN: row.model_version,
                VARIANT_COLUMN: row.variant,
            }
        )
    data.frame = _frame(records, list(use_case.MODEL_FEATURES))
    return data


def _online_features(rows: list[ServedRequest], use_case: Any, offline: Any | None) -> list[Mapping[str, Any]]:
    """Per row: the request's own features, or the entity's values as of its inference time (see the module doc)."""
    lookups = [i for i, row in enumerate(rows) if row.given is None]
    found: dict[int, Mapping[str, Any]] = {i: dict(rows[i].given or {}) for i in range(len(rows)) if i not in lookups}
    if lookups:
        if offline is None:
            raise ValueError("requests without 'features' need the offline feature store to rebuild their inputs")
        entity_key = use_case.ENTITY.name
        labels = pd.DataFrame(
            {
                entity_key: pd.array([rows[i].entity for i in lookups], dtype="str"),
                _SERVED_AT: pd.to_datetime([rows[i].inference_time for i in lookups], utc=True).astype(
                    "datetime64[us, UTC]"
                ),
            }
        )
        joined = offline.get_historical_features(
            labels, use_case.FEATURE_REFS, label_time_column=_SERVED_AT, created_before_label=True
        )
        values = joined.table.select(list(joined.feature_columns)).to_pylist()
        found.update(zip(lookups, values, strict=True))
    return [found[i] for i in range(len(rows))]


def _frame(records: list[dict[str, Any]], features: list[str]) -> pd.DataFrame:
    columns = [*features, PREDICTION, TIMESTAMP_COLUMN, EVENT_ID_COLUMN, MODEL_VERSION_COLUMN, VARIANT_COLUMN]
    if not records:
        frame = pd.DataFrame({name: pd.Series([], dtype="float64") for name in [*features, PREDICTION]})
        frame[TIMESTAMP_COLUMN] = pd.Series([], dtype="datetime64[ns, UTC]")
        for name in (EVENT_ID_COLUMN, MODEL_VERSION_COLUMN, VARIANT_COLUMN):
            frame[name] = pd.Series([], dtype="str")
        return frame
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in [*features, PREDICTION]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    return frame
