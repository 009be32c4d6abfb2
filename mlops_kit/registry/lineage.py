"""A model version's lineage in a form SageMaker accepts: short metadata values plus the full document in S3.

The lineage that makes a version reproducible does not fit SageMaker's metadata (:mod:`mlops_kit.registry.metadata`:
values of at most 256 letters, numbers, spaces and ``_.:/=+-@``): library versions, hyper-parameters and feature
group versions are maps. So it is kept twice:

* the **lineage document**: every value in full, as canonical JSON in S3. The registry records its SHA-256, so
  the document is verified when read and cannot be swapped unnoticed;
* the **metadata**: one short, readable value per lineage key (``lineage.hyperparameters`` =
  ``learning_rate=0.08 max_depth=6 max_iter=300``), plus ``lineage.document_uri`` and
  ``lineage.document_sha256``. Search and filters in the registry work on these; the document is the authority.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_kit.registry.metadata import metadata_key, metadata_value

DOCUMENT_URI = "lineage.document_uri"
DOCUMENT_SHA256 = "lineage.document_sha256"
DOCUMENT_KEYS = (DOCUMENT_URI, DOCUMENT_SHA256)
DOCUMENT_SCHEMA = "mlops-kit/lineage/1"
DOCUMENT_NAME = "lineage.json"  # the file the evaluation step writes beside its report


def summary(value: Any) -> str:
    """A short, acceptable metadata value for one lineage value: maps as ``key=value key=value`` (sorted), lists
    space-separated, anything else as text; ``none`` when empty (the document keeps the exact value)."""
    if isinstance(value, Mapping):
        text = " ".join(f"{key}={_plain(item)}" for key, item in sorted(value.items()))
    elif isinstance(value, list | tuple):
        text = " ".join(_plain(item) for item in value)
    else:
        text = _plain(value)
    return metadata_value(text, empty="none")


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, Mapping | list | tuple) else str(value)


@dataclass(frozen=True)
class LineageReference:
    """Where a version's lineage document is, and the SHA-256 the registry recorded for it."""

    uri: str
    sha256: str

    def properties(self) -> dict[str, str]:
        """The two metadata entries; raises ``ValueError`` for a URI that SageMaker metadata cannot hold as is."""
        for name, value in ((DOCUMENT_URI, self.uri), (DOCUMENT_SHA256, self.sha256)):
            if metadata_value(value) != value:
                raise ValueError(
                    f"{name} {value!r} cannot be stored as SageMaker metadata (letters, numbers, spaces and "
                    "_.:/=+-@ only, at most 256 characters): store the lineage document under a plainer key"
                )
        return {DOCUMENT_URI: self.uri, DOCUMENT_SHA256: self.sha256}

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> LineageReference | None:
        uri, digest = properties.get(DOCUMENT_URI), properties.get(DOCUMENT_SHA256)
        return cls(uri, digest) if uri and digest else None


class LineageMismatch(ValueError):  # noqa: N818  (named for what happened, like the registry's other errors)
    """The lineage document is not the one the registry recorded (its SHA-256 differs)."""


def document_bytes(lineage: Mapping[str, Any]) -> bytes:
    """The canonical document for ``lineage`` (keys with or without the ``lineage.`` prefix): the same lineage
    always gives the same bytes, so the same SHA-256."""
    values = {key.removeprefix("lineage."): value for key, value in lineage.items()}
    document = {"schema": DOCUMENT_SCHEMA, "lineage": values}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(data: bytes, reference: LineageReference) -> dict[str, Any]:
    """The lineage values in a document's bytes; raises :class:`LineageMismatch` when the bytes are not the
    document ``reference`` recorded."""
    digest = sha256(data)
    if digest != reference.sha256:
        raise LineageMismatch(
            f"the lineage document at {reference.uri} has SHA-256 {digest}, but the registry recorded "
            f"{reference.sha256}: it was changed or replaced after registration"
        )
    return dict(json.loads(data)["lineage"])


def metadata_properties(lineage: Mapping[str, Any], reference: LineageReference) -> dict[str, str]:
    """The ``CustomerMetadataProperties`` entries for ``lineage``: a summary per key, and the document's reference."""
    properties = {
        metadata_key(key if key.startswith("lineage.") else f"lineage.{key}"): summary(value)
        for key, value in lineage.items()
    }
    return properties | reference.properties()


class LineageDocuments:
    """Lineage documents in S3: stored under their own hash (``s3://BUCKET/PREFIX/SHA256.json``), read verified.

    ``bucket`` is needed only to store; reading follows the URI the registry recorded.
    """

    def __init__(self, s3: Any, bucket: str | None = None, prefix: str = "lineage") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def put(self, lineage: Mapping[str, Any]) -> LineageReference:
        """Store the document for ``lineage`` (idempotent: the same lineage is the same object)."""
        if not self._bucket:
            raise ValueError("storing a lineage document needs LineageDocuments(s3, bucket)")
        data = document_bytes(lineage)
        digest = sha256(data)
        key = "/".join(part for part in (self._prefix, f"{digest}.json") if part)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="application/json")
        return LineageReference(f"s3://{self._bucket}/{key}", digest)

    def load(self, reference: LineageReference) -> dict[str, Any]:
        """Every value of the document ``reference`` points to; raises :class:`LineageMismatch` when the object is
        not the recorded document."""
        bucket, _, key = reference.uri.removeprefix("s3://").partition("/")
        data = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return read_document(data, reference)
