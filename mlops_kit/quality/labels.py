"""Ground-truth intake: label files (JSON lines or CSV, optionally gzipped) read and validated row by row.

Labels arrive late (a chargeback days after the transaction) as files under the configured prefix
(``quality.labels_prefix`` of the data bucket), each row holding a key and a label:

* the key column (``quality.key_column``): the request's ``InferenceId`` (``quality.key = "inference_id"``) or
  the business key, e.g. the transaction id (``quality.key = "business_key"``);
* the label column (``quality.label_column``): ``0``/``1``, ``true``/``false`` (JSON booleans, or those words
  in any case), ``0.0``/``1.0``.

Nothing is lost without a trace: a row that cannot be used (no key, no label, a label that is not binary, a
line that is not JSON) is counted and reported with its file, line and reason, and the good rows of the same file
are kept; a file that cannot be read at all (a CSV without the key or label column in its header, an
unsupported extension) is reported whole. When the same key is labelled twice, the later file (by its time in
S3, then its name) wins -- a corrected label replaces the first -- and the replacement is counted.

Standard library only: the quality function's layer has no pandas.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv")
MAX_EXAMPLES = 20
_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}


class LabelFileError(ValueError):
    """A whole label file is unusable (the message says why and what to change)."""


@dataclass(frozen=True)
class BadRow:
    """A label row left out: where it is and why."""

    file: str
    line: int
    reason: str


@dataclass
class Labels:
    """Validated labels by key, and everything left out.

    ``by_key`` maps each key to its label (0 or 1); ``rows`` counts every row read, ``bad_rows`` the rows left out
    by reason (``examples`` keeps the first :data:`MAX_EXAMPLES`), ``bad_files`` the files left out whole
    (file -> reason), ``replaced`` the keys labelled again by a later file.
    """

    by_key: dict[str, int] = field(default_factory=dict)
    files: int = 0
    rows: int = 0
    bad_rows: Counter[str] = field(default_factory=Counter)
    examples: list[BadRow] = field(default_factory=list)
    bad_files: dict[str, str] = field(default_factory=dict)
    replaced: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "labels": len(self.by_key),
            "replaced": self.replaced,
            "bad_rows": sum(self.bad_rows.values()),
            "bad_row_reasons": dict(self.bad_rows),
            "bad_row_examples": [f"{e.file}:{e.line}: {e.reason}" for e in self.examples],
            "bad_files": dict(self.bad_files),
        }

    def _bad(self, file: str, line: int, reason: str) -> None:
        self.bad_rows[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(BadRow(file, line, reason))


def parse_label(value: Any) -> int:
    """A label value as 0 or 1; raises ValueError saying what was given and what is accepted."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return 1 if value.strip().lower() in _TRUE else 0
    shown = "empty" if value is None or (isinstance(value, str) and not value.strip()) else repr(value)
    raise ValueError(f"label {shown} is not binary (write 0/1 or true/false)")


def parse_key(value: Any) -> str:
    """A key value as text; raises ValueError when it is missing or empty (numbers are accepted as written)."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError("key is missing" if value is None else f"key {value!r} is not text or a number")
    text = str(value).strip()
    if not text:
        raise ValueError("key is empty")
    return text


def label_row(row: Any, *, key_column: str, label_column: str) -> tuple[str, int]:
    """A JSON label row's key and label (0 or 1): the checks a JSON-lines label file's rows go through.

    Raises ValueError with the reason a file's row would be reported under (not an object, a missing field, an
    empty key, a label that is not binary).
    """
    if not isinstance(row, dict):
        raise ValueError("row is not a JSON object")
    for column in (key_column, label_column):
        if column not in row:
            raise ValueError(f"no {column!r} field")
    return parse_key(row[key_column]), parse_label(row[label_column])


def _text(name: str, body: bytes) -> str:
    if name.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise LabelFileError(f"{name} ends in .gz but is not gzip ({exc})") from None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabelFileError(f"{name} is not UTF-8 text") from None


def file_format(name: str) -> str:
    """``jsonl`` or ``csv`` from a file name (``.gz`` allowed after it); raises LabelFileError otherwise."""
    base = name.removesuffix(".gz").lower()
    if base.endswith(".csv"):
        return "csv"
    if base.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    raise LabelFileError(
        f"{name}: unsupported label file type; write JSON lines ({', '.join(SUFFIXES[:3])}) or CSV (.csv), "
        "optionally gzipped (.gz)"
    )


def _rows(name: str, text: str, key_column: str, label_column: str) -> Iterable[tuple[int, Any, Any, str | None]]:
    """(line, key, label, problem) per data row of one file."""
    if file_format(name) == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in (key_column, label_column) if c not in header]
        if missing:
            raise LabelFileError(
                f"{name}: the CSV header has no {' and no '.join(repr(c) for c in missing)} column (columns: "
                f"{', '.join(header) or 'none'}); set quality.key_column / quality.label_column or rename the columns"
            )
        reader.fieldnames = header
        for row in reader:
            if all(not (v or "").strip() for k, v in row.items() if k is not None):
                continue
            yield reader.line_num, row.get(key_column), row.get(label_column), None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            yield number, None, None, "line is not valid JSON"
            continue
        if not isinstance(row, dict):
            yield number, None, None, "line is not a JSON object"
            continue
        if key_column not in row:
            yield number, None, None, f"no {key_column!r} field"
            continue
        if label_column not in row:
            yield number, None, None, f"no {label_column!r} field"
            continue
        yield number, row[key_column], row[label_column], None


def read_labels(
    files: Iterable[tuple[str, bytes]], *, key_column: str, label_column: str, into: Labels | None = None
) -> Labels:
    """Validate label files given as ``(name, body)`` in arrival order (later files win on a repeated key).

    Never raises for bad data: bad rows and unusable files are recorded in the result (see :class:`Labels`).
    """
    labels = into if into is not None else Labels()
    for name, body in files:
        labels.files += 1
        try:
            rows = list(_rows(name, _text(name, body), key_column, label_column))
        except LabelFileError as exc:
            labels.bad_files[name] = str(exc)
            continue
        for line, raw_key, raw_label, found in rows:
            labels.rows += 1
            problem = found
            if problem is None:
                try:
                    key, label = parse_key(raw_key), parse_label(raw_label)
                except ValueError as exc:
                    problem = str(exc)
            if problem is not None:
                labels._bad(name, line, problem)
                continue
            if key in labels.by_key:
                labels.replaced += 1
            labels.by_key[key] = label
    return labels
