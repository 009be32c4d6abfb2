"""The online store's item layout and value encoding (DynamoDB wire format, no boto3 needed).

One table, one item per (entity, feature group)::

    pk  (S, partition key)  the entity key: canonical JSON array of the key values, e.g. ["C000123"]
                            or ["C000123",42]; strings stay quoted, so ["1"] and [1] differ and no two
                            multi-column keys can collide (no concatenation)
    sk  (S, sort key)       the feature group name
    et  (N)                 event time, microseconds since the epoch (UTC): the latest-wins order
    ct  (N, optional)       created time in microseconds, when the group declares a created-time column
                            and the record has one: breaks ties on equal event time
    gv  (S)                 the feature group version (definition hash) that wrote the item
    ttl (N, optional)       epoch seconds after which DynamoDB may delete the item (event time + group TTL);
                            reads check the TTL themselves, since DynamoDB deletes expired items lazily
    f   (M)                 feature name -> value, encoded by the feature's declared type:

    int64          N   decimal digits (int64 fits DynamoDB's 38 digits exactly)
    float64        N   shortest repr that round-trips (``repr(float)``) when DynamoDB's number type holds it
                   S   otherwise: "nan", "inf", "-inf", "-0.0", and magnitudes outside 1e-130..1e126
    string         S   (empty strings allowed)
    bool           BOOL
    timestamp      N   microseconds since the epoch, UTC
    *_list         L   of the element encoding above
    null           NULL true

Decoding is by the declared type, so a float stored as S is unambiguous. Every supported value round-trips
exactly: ``decode_value(t, encode_value(t, v)) == v`` (NaN compared as NaN).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from collections.abc import Sequence
from typing import Any

from mlops_kit.features.definitions import FeatureGroup, FeatureStoreError, ValueType

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# DynamoDB's limits ("Constraints in Amazon DynamoDB"): a partition key value of at most 2,048 bytes, an item of
# at most 400 KB, where 1 KB = 1,024 bytes, measured as "DynamoDB item sizes and formats" describes.
_MAX_KEY_BYTES = 2048
MAX_ITEM_BYTES = 400 * 1024
_N_MIN, _N_MAX = 1e-130, 1e126


class EncodingError(FeatureStoreError):
    """A value cannot be encoded for its declared type."""


def to_micros(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise EncodingError(f"timestamp {value.isoformat()} has no time zone")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def encode_key(values: Sequence[Any]) -> str:
    """The partition key of an entity: canonical JSON of its key values (strings or ints, in key order)."""
    canonical: list[str | int] = []
    for value in values:
        if isinstance(value, str):
            canonical.append(str(value))
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            canonical.append(int(value))  # numpy integers too (numpy's bool is not Integral)
        else:
            raise EncodingError(f"entity key values must be strings or int64, got {type(value).__name__} {value!r}")
    key = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise EncodingError(f"entity key {key[:60]}... is longer than DynamoDB's {_MAX_KEY_BYTES} bytes")
    return key


def _number_size(text: str) -> int:
    """DynamoDB's size of a number: 1 byte per two significant digits, plus 1 (leading/trailing zeros trimmed)."""
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0") or "0"
    return -(-len(digits) // 2) + 1


def attribute_size(attribute: dict[str, Any]) -> int:
    """Bytes of one attribute value (wire format), by "DynamoDB item sizes and formats" (name not included)."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return len(value.encode())
    if kind == "N":
        return _number_size(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(1 + attribute_size(element) for element in value)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(element) for name, element in value.items())
    raise EncodingError(f"attribute type {kind} is not one the online store writes")


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for ``item`` against its 400 KB limit: attribute names plus values."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def decode_key(pk: str) -> tuple[Any, ...]:
    return tuple(json.loads(pk))


def _float(value: float) -> dict[str, str]:
    magnitude = abs(value)
    if math.isfinite(value) and (magnitude == 0.0 or _N_MIN <= magnitude < _N_MAX):
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return {"S": "-0.0"}  # DynamoDB normalises -0 to 0
        return {"N": repr(value)}
    return {"S": repr(value)}


def _scalar(dtype: ValueType, value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if dtype is ValueType.INT64:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodingError(f"expected int64, got {type(value).__name__} {value!r}")
        return {"N": str(int(value))}
    if dtype is ValueType.FLOAT64:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodingError(f"expected float64, got {type(value).__name__} {value!r}")
        return _float(float(value))
    if dtype is ValueType.STRING:
        if not isinstance(value, str):
            raise EncodingError(f"expected string, got {type(value).__name__} {value!r}")
        return {"S": value}
    if dtype is ValueType.BOOL:
        if not isinstance(value, bool):
            raise EncodingError(f"expected bool, got {type(value).__name__} {value!r}")
        return {"BOOL": value}
    if dtype is ValueType.TIMESTAMP:
        if not isinstance(value, dt.datetime):
            raise EncodingError(f"expected a timestamp, got {type(value).__name__} {value!r}")
        return {"N": str(to_micros(value))}
    raise EncodingError(f"{dtype} is not a scalar type")


_ELEMENT = {ValueType.INT64_LIST: ValueType.INT64, ValueType.FLOAT64_LIST: ValueType.FLOAT64}


def encode_value(dtype: ValueType, value: Any) -> dict[str, Any]:
    """One feature value as a DynamoDB attribute value (wire format)."""
    if dtype.is_list and value is not None:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise EncodingError(f"expected a list for {dtype.value}, got {type(value).__name__}")
        element = _ELEMENT[dtype]
        return {"L": [_scalar(element, v) for v in value]}
    return _scalar(dtype, value)


def _decode_scalar(dtype: ValueType, attribute: dict[str, Any]) -> Any:
    if "NULL" in attribute:
        return None
    if dtype is ValueType.FLOAT64:
        return float(attribute["N"] if "N" in attribute else attribute["S"])
    if dtype is ValueType.INT64:
        return int(attribute["N"])
    if dtype is ValueType.STRING:
        return attribute["S"]
    if dtype is ValueType.BOOL:
        return bool(attribute["BOOL"])
    if dtype is ValueType.TIMESTAMP:
        return from_micros(int(attribute["N"]))
    raise EncodingError(f"cannot decode {attribute!r} as {dtype.value}")


def decode_value(dtype: ValueType, attribute: dict[str, Any]) -> Any:
    """Inverse of :func:`encode_value`."""
    if dtype.is_list and "L" in attribute:
        element = _ELEMENT[dtype]
        return [_decode_scalar(element, a) for a in attribute["L"]]
    return _decode_scalar(dtype, attribute)


def encode_item(
    group: FeatureGroup,
    key: Sequence[Any],
    event_us: int,
    created_us: int | None,
    features: dict[str, Any],
) -> dict[str, Any]:
    """The full item of one record (see the module docstring for the layout).

    Raises :class:`EncodingError` when a value does not fit its type, the key is over 2,048 bytes or the item
    over DynamoDB's 400 KB.
    """
    item: dict[str, Any] = {
        "pk": {"S": encode_key(key)},
        "sk": {"S": group.name},
        "et": {"N": str(event_us)},
        "gv": {"S": group.version},
        "f": {"M": {f.name: encode_value(f.dtype, features.get(f.name)) for f in group.features}},
    }
    if created_us is not None:
        item["ct"] = {"N": str(created_us)}
    if group.ttl_us is not None:
        item["ttl"] = {"N": str(-(-(event_us + group.ttl_us) // 1_000_000))}
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise EncodingError(
            f"entity {item['pk']['S'][:60]}: the online item would be {size} bytes, above DynamoDB's "
            f"{MAX_ITEM_BYTES} (400 KB); shorten its string or list values"
        )
    return item


def decode_features(group: FeatureGroup, item: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The named features of an item; a feature the item lacks (written by an older version) is ``None``."""
    stored = item.get("f", {}).get("M", {})
    types = group.feature_types
    result = {}
    for name in names:
        attribute = stored.get(name)
        result[name] = None if attribute is None else decode_value(types[name], attribute)
    return result
