"""DynamoDB on the emulator: item attribute values are written to responses directly.

moto serializes every response by walking botocore's output shape member by member; for an item that means ten
member look-ups per attribute value (``S``, ``N``, ``B``, ... ``BOOL``), at every level of nesting. Online feature
reads (a ``BatchGetItem`` per prediction) spent more time there than in the model. An attribute value already
holds exactly its wire form when it is a string, number, boolean, null, string or number set, list or map of
those, so it is copied as is; anything else (binary values, which the wire carries base64-encoded) goes through
moto's serializer unchanged.
"""

from __future__ import annotations

from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="dynamodb-attribute-values",
        module="moto.core.serialize",
        attribute="BaseJSONSerializer._serialize_type_structure",
        signature="(self, serialized: 'Serialized', value: 'Any', shape: 'StructureShape', key: 'str') -> 'None'",
        why=(
            "moto walks every AttributeValue member by member (ten look-ups per attribute, per nesting level); "
            "copy values that are already in wire form, hand the rest (binary) to moto"
        ),
    ),
)

_SCALARS = {"S": str, "N": str}
_SETS = ("SS", "NS")


class _NotPlainError(Exception):
    """The value holds something whose wire form differs from what moto stores (binary)."""


def wire_form(value: Any) -> dict[str, Any]:
    """An attribute value as DynamoDB's JSON protocol carries it; raises _NotPlainError for binary values."""
    if not isinstance(value, dict) or len(value) != 1:
        raise _NotPlainError
    ((kind, inner),) = value.items()
    if kind in _SCALARS and isinstance(inner, str):
        return {kind: inner}
    if kind in ("BOOL", "NULL") and isinstance(inner, bool):
        return {kind: inner}
    if kind in _SETS and isinstance(inner, list) and all(isinstance(v, str) for v in inner):
        return {kind: list(inner)}
    if kind == "M" and isinstance(inner, dict):
        return {"M": {str(k): wire_form(v) for k, v in inner.items()}}
    if kind == "L" and isinstance(inner, list):
        return {"L": [wire_form(v) for v in inner]}
    raise _NotPlainError


def apply(patcher: Patcher) -> None:
    point = points_by_name(PATCH_POINTS)["dynamodb-attribute-values"]
    original = point.original()

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue":
            try:
                serialized[key] = wire_form(value)
                return
            except _NotPlainError:
                pass
        original(self, serialized, value, shape, key)

    patcher.replace(point, serialize_structure)
