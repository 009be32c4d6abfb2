"""Feature group definitions, their version hash, and the online value encoding's exact round trip."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_kit.features.definitions import (
    DefinitionError,
    EntityKey,
    Feature,
    FeatureGroup,
    FeatureRegistry,
    FeatureStoreError,
    UnknownFeatureError,
    ValueType,
)
from mlops_kit.features.encoding import (
    EncodingError,
    decode_key,
    decode_value,
    encode_item,
    encode_key,
    encode_value,
)


def group(**overrides: Any) -> FeatureGroup:
    arguments: dict[str, Any] = {
        "name": "g",
        "entity_keys": (EntityKey("customer_id"),),
        "features": (Feature("x", ValueType.FLOAT64),),
        "ttl": dt.timedelta(days=1),
    }
    arguments.update(overrides)
    return FeatureGroup(**arguments)


def test_version_is_stable_and_ignores_documentation() -> None:
    base = group()

    assert base.version == group().version
    assert len(base.version) == 16
    assert group(description="reworded", owner="someone", tags={"a": "b"}).version == base.version


@pytest.mark.parametrize(
    "change",
    [
        {"ttl": dt.timedelta(days=2)},
        {"ttl": None},
        {"features": (Feature("x", ValueType.INT64),)},
        {"features": (Feature("y", ValueType.FLOAT64),)},
        {"entity_keys": (EntityKey("customer_id", ValueType.INT64),)},
        {"event_time_column": "ts"},
        {"created_time_column": "created"},
    ],
)
def test_version_changes_with_meaning(change: dict) -> None:
    assert group(**change).version != group().version


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Bad-Name"}, "must match"),
        ({"features": ()}, "at least one feature"),
        ({"entity_keys": ()}, "at least one entity key"),
        ({"features": (Feature("customer_id", ValueType.INT64),)}, "used twice"),
        ({"ttl": dt.timedelta(0)}, "ttl must be positive"),
    ],
)
def test_invalid_definitions_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        group(**overrides)


def test_reserved_and_unsupported_names_are_refused() -> None:
    with pytest.raises(DefinitionError, match="reserved"):
        Feature("__event_us", ValueType.INT64)
    with pytest.raises(DefinitionError, match="entity key column 'k': type must be"):
        EntityKey("k", ValueType.FLOAT64)


def test_registry_resolves_refs_and_names_what_exists() -> None:
    registry = FeatureRegistry([group(), group(name="h")])

    resolved = registry.resolve(["g:x", "h:x"], full_names=True)

    assert resolved.columns == ["g__x", "h__x"]
    with pytest.raises(FeatureStoreError, match="both give the column 'x'"):
        registry.resolve(["g:x", "h:x"])
    with pytest.raises(UnknownFeatureError, match=r"unknown feature group 'nope'; defined groups: \['g', 'h'\]"):
        registry.resolve(["nope:x"])
    with pytest.raises(UnknownFeatureError, match="has no feature 'y'"):
        registry.resolve(["g:y"])
    with pytest.raises(UnknownFeatureError, match="not of the form"):
        registry.resolve(["gx"])


# -- encoding -----------------------------------------------------------------------------------------------
timestamps = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)
any_float = st.floats(allow_nan=True, allow_infinity=True)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
VALUES = {
    ValueType.INT64: int64,
    ValueType.FLOAT64: any_float,
    ValueType.STRING: st.text(),
    ValueType.BOOL: st.booleans(),
    ValueType.TIMESTAMP: timestamps,
    ValueType.INT64_LIST: st.lists(st.one_of(st.none(), int64), max_size=5),
    ValueType.FLOAT64_LIST: st.lists(st.one_of(st.none(), any_float), max_size=5),
}


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("dtype", list(ValueType))
@given(data=st.data())
def test_every_type_round_trips_exactly(dtype: ValueType, data) -> None:
    value = data.draw(st.one_of(st.none(), VALUES[dtype]))

    decoded = decode_value(dtype, encode_value(dtype, value))

    assert same(decoded, value) or (value is None and decoded is None)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (float("nan"), {"S": "nan"}),
        (float("inf"), {"S": "inf"}),
        (-0.0, {"S": "-0.0"}),
        (1e-300, {"S": "1e-300"}),
        (0.1, {"N": "0.1"}),
        (0.0, {"N": "0.0"}),
    ],
)
def test_floats_dynamodb_cannot_hold_are_stored_as_strings(value: float, stored: dict) -> None:
    assert encode_value(ValueType.FLOAT64, value) == stored


@pytest.mark.parametrize(
    ("dtype", "value"),
    [(ValueType.INT64, True), (ValueType.INT64, 1.5), (ValueType.STRING, 3), (ValueType.BOOL, 1)],
)
def test_wrong_types_are_refused(dtype: ValueType, value) -> None:
    with pytest.raises(EncodingError, match="expected"):
        encode_value(dtype, value)


@given(st.lists(st.one_of(st.text(max_size=6), st.integers(-5, 5)), min_size=1, max_size=3), st.data())
def test_entity_keys_never_collide(a: list, data) -> None:
    b = data.draw(st.lists(st.one_of(st.text(max_size=6), st.integers(-5, 5)), min_size=1, max_size=3))

    assert (encode_key(a) == encode_key(b)) == (a == b and [type(x) for x in a] == [type(x) for x in b])
    assert list(decode_key(encode_key(a))) == a


def test_concatenation_collisions_do_not_happen() -> None:
    assert encode_key(["ab", "c"]) != encode_key(["a", "bc"])
    assert encode_key(["1"]) != encode_key([1])
    with pytest.raises(EncodingError, match="strings or int64"):
        encode_key([True])


def test_item_layout() -> None:
    g = group(created_time_column="created")
    item = encode_item(g, ["C1"], event_us=86_400_000_000, created_us=5, features={"x": 1.5})

    assert item == {
        "pk": {"S": '["C1"]'},
        "sk": {"S": "g"},
        "et": {"N": "86400000000"},
        "ct": {"N": "5"},
        "gv": {"S": g.version},
        "ttl": {"N": str(2 * 86_400)},
        "f": {"M": {"x": {"N": "1.5"}}},
    }
