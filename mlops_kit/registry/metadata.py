"""Text the SageMaker model registry accepts: metadata values and keys, one-line descriptions.

SageMaker's API model restricts model package metadata (``CustomerMetadataProperties``) to at most 50 entries,
keys of 1-128 and values of 1-256 characters drawn from letters, numbers, separators (spaces) and ``_.:/=+-@``
(pattern ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``): no JSON, commas, quotes, parentheses or line breaks. Descriptions
(``ApprovalDescription``, ``ModelLifeCycle.StageDescription``) take anything but a line break (patterns ``.*`` and
``.{0,1024}``), at most 1024 characters. Free text that reaches the registry (approval comments, reasons, notes)
is made acceptable with these functions rather than refused.
"""

from __future__ import annotations

import re
import unicodedata

METADATA_KEY_MAX = 128
METADATA_VALUE_MAX = 256
METADATA_ENTRIES_MAX = 50
DESCRIPTION_MAX = 1000  # of 1024: a margin for characters Java counts twice (outside the Basic Multilingual Plane)
_METADATA_PUNCTUATION = frozenset("_.:/=+-@")
# Java's line terminators (a '.' does not match them), and the vertical tab and form feed besides.
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x85\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


def _allowed_in_metadata(char: str) -> bool:
    return char in _METADATA_PUNCTUATION or unicodedata.category(char)[0] in ("L", "N", "Z")


def metadata_value(text: object, *, limit: int = METADATA_VALUE_MAX, empty: str = "-") -> str:
    """``text`` as a metadata value: characters SageMaker refuses become spaces, runs of spaces one, at most
    ``limit`` characters; ``empty`` when nothing is left (a value must not be empty)."""
    kept = "".join(char if _allowed_in_metadata(char) else " " for char in str(text))
    return _SPACES.sub(" ", kept).strip()[:limit].rstrip() or empty


def metadata_key(text: object) -> str:
    """``text`` as a metadata key (the characters of a value, 1-128 of them)."""
    return metadata_value(text, limit=METADATA_KEY_MAX, empty="_")


def single_line(text: object, *, limit: int = DESCRIPTION_MAX) -> str:
    """``text`` for ``ApprovalDescription`` or ``StageDescription``: line breaks become spaces, at most ``limit``."""
    return _LINE_BREAKS.sub(" ", str(text)).strip()[:limit]
