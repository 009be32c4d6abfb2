"""Test support for drift monitoring: an in-memory S3 client, capture records as the endpoint writes them, and
a stand-in model score."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError


def score(frame: pd.DataFrame) -> np.ndarray:
    """The stand-in model: a score that rises with the amount (so amount drift shows in the prediction)."""
    return 1.0 / (1.0 + np.exp(-(frame["log_amount"].to_numpy() - 3.5)))


def capture_line(
    request: dict[str, Any], response: dict[str, Any] | None, when: dt.datetime, *, encoding: str = "JSON"
) -> str:
    """One data-capture record (SageMaker's JSON-lines format) of a request and its response (None: no answer)."""
    import base64

    def section(body: dict[str, Any], mode: str) -> dict[str, Any]:
        text = json.dumps(body)
        data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
        return {"observedContentType": "application/json", "mode": mode, "data": data, "encoding": encoding}

    capture = {"endpointInput": section(request, "INPUT")}
    if response is not None:
        capture["endpointOutput"] = section(response, "OUTPUT")
    return json.dumps(
        {
            "captureData": capture,
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            },
            "eventVersion": "0",
        }
    )


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    """``objects[(bucket, key)] = bytes``; ``gets`` counts GetObject calls."""

    exceptions = SimpleNamespace(ClientError=ClientError)

    def __init__(self, page_size: int = 1000) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.gets = 0
        self.pages = 0  # list pages served
        self.page_size = page_size  # S3 returns at most 1,000 keys a page

    def put_object(self, *, Bucket: str, Key: str, Body: bytes | str, IfNoneMatch: str | None = None) -> dict:
        if IfNoneMatch == "*" and (Bucket, Key) in self.objects:
            raise _error("PreconditionFailed", "PutObject")
        self.objects[(Bucket, Key)] = Body.encode() if isinstance(Body, str) else bytes(Body)
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:
        self.gets += 1
        if (Bucket, Key) not in self.objects:
            raise _error("NoSuchKey", "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def head_object(self, *, Bucket: str, Key: str) -> dict:
        if (Bucket, Key) not in self.objects:
            raise _error("404", "HeadObject")
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        return SimpleNamespace(paginate=self._pages)

    def _pages(
        self, *, Bucket: str, Prefix: str = "", Delimiter: str | None = None, StartAfter: str = ""
    ) -> Iterator[dict]:
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix) and k > StartAfter)
        if Delimiter:
            self.pages += 1
            common = sorted(
                {
                    Prefix + k[len(Prefix) :].split(Delimiter)[0] + Delimiter
                    for k in keys
                    if Delimiter in k[len(Prefix) :]
                }
            )
            direct = [k for k in keys if Delimiter not in k[len(Prefix) :]]
            yield {"CommonPrefixes": [{"Prefix": p} for p in common], "Contents": self._contents(Bucket, direct)}
            return
        for first in range(0, max(len(keys), 1), self.page_size):
            self.pages += 1
            yield {"Contents": self._contents(Bucket, keys[first : first + self.page_size])}

    def _contents(self, bucket: str, keys: list[str]) -> list[dict]:
        return [{"Key": k, "Size": len(self.objects[(bucket, k)])} for k in keys]
