"""Training-set manifests: the dataset version that training records, and content hashes of Arrow tables.

:func:`content_hash` hashes a table by its *values* (column names, logical types, validity and values in
row order), not by its bytes in memory or on disk, so the same rows hash the same whichever engine produced
them (the local engine or Athena), however they are chunked and whatever sits in the slots under nulls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MANIFEST_FORMAT = "mlops-kit/training-set/v1"


def _update_column(digest: Any, column: pa.ChunkedArray) -> None:
    import numpy as np

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = column.type
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    digest.update(np.packbits(valid).tobytes())
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        column = column.cast(pa.int64())
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        values = column.to_numpy(zero_copy_only=False)
        values = values[valid] if len(values) else values
        if pa.types.is_floating(kind):
            values = values.astype(np.float64)
            values[np.isnan(values)] = np.nan  # one NaN bit pattern, whichever engine produced it
        elif pa.types.is_integer(kind):
            values = values.astype(np.int64)
        digest.update(np.ascontiguousarray(values).tobytes())
        return
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        filled = pc.fill_null(column.cast(pa.large_string()), "")
        lengths = pc.binary_length(filled).to_numpy(zero_copy_only=False).astype(np.int64)
        digest.update(lengths.tobytes())
        # The UTF-8 bytes of all values in order (nulls as ""), read from the data buffer without Python strings.
        offsets = np.frombuffer(filled.buffers()[1], np.int64)[filled.offset : filled.offset + len(filled) + 1]
        data = filled.buffers()[2]
        if data is not None and len(offsets):
            digest.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        return
    # Lists and anything else: a JSON rendering of the Python values (NaN spelled out).
    digest.update(json.dumps(column.to_pylist(), default=str, allow_nan=True).encode())


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the table's names, types and values (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[f.name, str(f.type)] for f in table.schema]).encode())
    digest.update(str(table.num_rows).encode())
    for column in table.columns:
        _update_column(digest, column)
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainingSetManifest:
    """What a training set is: its content hash is the dataset version.

    ``feature_groups`` maps each group used to its definition version; ``matched`` counts, per group, the
    label rows that got a value (the others got nulls); ``duplicate_label_rows`` counts label rows equal to
    an earlier one on keys and time (kept, each with its own output row).
    """

    dataset_hash: str
    label_hash: str
    feature_refs: list[str]
    feature_groups: dict[str, str]
    columns: dict[str, str]
    rows: int
    label_rows: int
    duplicate_label_rows: int
    matched: dict[str, int]
    label_time_column: str
    created_before_label: bool | str  # True, False or "where_created" (mlops_kit.features.sql)
    engine: str
    format: str = MANIFEST_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_version(self) -> str:
        return self.dataset_hash[:16]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset_version"] = self.dataset_version
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSetManifest:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> TrainingSetManifest:
        return cls.from_dict(json.loads(text))
