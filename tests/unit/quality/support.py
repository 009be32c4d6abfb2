"""Capture records and label files as the endpoint and a labelling process write them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def capture_line(
    when: dt.datetime,
    scores: list[float],
    *,
    inference_id: str | None = None,
    transaction_ids: list[str] | None = None,
    model_version: str = "1",
    request_fields: dict[str, Any] | None = None,
    response_fields: dict[str, Any] | None = None,
) -> bytes:
    """One capture record of a request with ``len(scores)`` rows (``instances`` when more than one); the request and
    response carry ``request_fields`` / ``response_fields`` at their top level too."""
    ids = transaction_ids or [f"T{i}" for i in range(len(scores))]
    rows = [{"customer_id": "C1", "transaction": {"transaction_id": t, "amount": 10.0}} for t in ids]
    request: dict[str, Any] = {**(rows[0] if len(rows) == 1 else {"instances": rows}), **(request_fields or {})}
    answers = [{"score": s, "label": int(s >= 0.5)} for s in scores]
    response = (
        {**answers[0], "model_version": model_version}
        if len(answers) == 1
        else {"predictions": answers, "model_version": model_version}
    ) | (response_fields or {})
    metadata: dict[str, Any] = {"eventId": "e", "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    section = {"observedContentType": "application/json", "encoding": "JSON"}
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {**section, "mode": "INPUT", "data": json.dumps(request)},
                "endpointOutput": {**section, "mode": "OUTPUT", "data": json.dumps(response)},
            },
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    ).encode()


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()
