"""DynamoDB responses on the emulator carry every attribute type exactly as written."""

from __future__ import annotations

from typing import Any

from mlops_local.dynamodb import _NotPlainError, wire_form
from mlops_local.emulator import Emulator

ITEM: dict[str, Any] = {
    "k": {"S": "a"},
    "n": {"N": "1.5"},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "nothing": {"NULL": True},
    "nested": {"M": {"x": {"L": [{"S": "q"}, {"N": "2"}, {"BOOL": False}, {"M": {}}]}}},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2"]},
    "bytes": {"B": b"\x00\x01"},
    "byte_sets": {"BS": [b"x", b"y"]},
    "list_with_bytes": {"L": [{"B": b"\xff"}, {"S": "s"}]},
}


def test_items_of_every_attribute_type_read_back_as_written(emulator: Emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="t", Item=ITEM)

    got = dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]
    batch = dynamodb.batch_get_item(RequestItems={"t": {"Keys": [{"k": {"S": "a"}}]}})["Responses"]["t"]
    queried = dynamodb.query(
        TableName="t", KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}}
    )["Items"]

    assert got == ITEM
    assert batch == [ITEM]
    assert queried == [ITEM]


def test_binary_values_are_left_to_moto() -> None:
    for value in ({"B": b"\x00"}, {"BS": [b"x"]}, {"L": [{"B": b"\x00"}]}, {"M": {"a": {"B": b"1"}}}):
        try:
            wire_form(value)
        except _NotPlainError:
            continue
        raise AssertionError(f"{value} must go through moto's serializer (base64 on the wire)")
