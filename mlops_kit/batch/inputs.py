"""What a batch input is: its format (from the file names), its files and their manifest hash.

An input is one object or a prefix of objects in S3 (a folder locally), all in one format: ``.parquet``, ``.csv``
(with a header row) or ``.jsonl`` (one JSON object per line). Names starting with ``_`` or ``.`` (``_SUCCESS``
markers, hidden files) and folder markers are skipped, as Spark and Athena skip them. Bad inputs raise
:class:`BatchInputError` naming what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}
EXTENSIONS = {fmt: ext for ext, fmt in FORMATS.items()}


class BatchInputError(ValueError):
    """The batch input (or how it was asked for) cannot be scored; the message says what to change."""


def data_files(names: Iterable[str]) -> list[str]:
    """The names that hold data, sorted (markers and hidden files left out)."""
    kept = []
    for name in names:
        base = PurePosixPath(name).name
        if name.endswith("/") or not base or base.startswith(("_", ".")):
            continue
        kept.append(name)
    return sorted(kept)


def input_format(names: Sequence[str], where: str) -> str:
    """The one format of ``names`` (already filtered by :func:`data_files`); ``where`` names the input in errors.

    Raises BatchInputError when there are no files, a name has an unknown extension, or formats are mixed.
    """
    if not names:
        raise BatchInputError(
            f"the batch input {where} holds no data files: upload a .parquet, .csv or .jsonl file there, "
            "or point --input at the file"
        )
    formats: dict[str, list[str]] = {}
    for name in names:
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in FORMATS:
            raise BatchInputError(
                f"the batch input {where} holds {name!r}, of unknown format {suffix or '(no extension)'!r}: "
                f"inputs are {', '.join(FORMATS)} files (rename it, or move it out of the input)"
            )
        formats.setdefault(FORMATS[suffix], []).append(name)
    if len(formats) > 1:
        shown = ", ".join(f"{fmt} ({files[0]})" for fmt, files in sorted(formats.items()))
        raise BatchInputError(f"the batch input {where} mixes formats: {shown}; score one format per run")
    return next(iter(formats))


@dataclass(frozen=True)
class InputFile:
    name: str  # relative to the input
    size: int
    sha256: str


def manifest_hash(files: Sequence[InputFile]) -> str:
    """SHA-256 of the input's file names, sizes and content hashes: equal exactly when the input is the same."""
    document = [[f.name, f.size, f.sha256] for f in sorted(files, key=lambda f: f.name)]
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); raises BatchInputError for anything else."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or not uri[5:].partition("/")[0]:
        raise BatchInputError(f"{uri!r} is not an s3:// URI: write s3://<bucket>/<key or prefix>")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
