"""DynamoDB responses on the emulator carry every attribute type exactly as written."""

from __future__ import annotations

from typing import Any

import pytest

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


def _new_table(emulator: Emulator, name: str, keys: dict[str, str], types: dict[str, str], **extra: Any) -> Any:
    """An on-demand table keyed by ``keys`` (attribute: HASH or RANGE) whose attributes have ``types``; the client."""
    dynamodb = emulator.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": kind} for a, kind in keys.items()],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": kind} for a, kind in types.items()],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return dynamodb


def test_a_query_of_the_tables_key_reads_only_its_partition_and_answers_as_before(
    emulator: Emulator, monkeypatch: Any
) -> None:
    # Patch point dynamodb-query-one-partition: moto sorted the whole table for every Query; DynamoDB reads the
    # partition. Pages, order, range conditions, filters and index queries answer as they did.
    from moto.dynamodb.models.table import Table

    dynamodb = _new_table(
        emulator,
        "events",
        {"pk": "HASH", "sk": "RANGE"},
        {"pk": "S", "sk": "N", "kind": "S"},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for pk in ("a", "b", "c"):
        for sk in (3, 1, 10, 2):  # numbers, so 10 sorts after 3
            kind = "odd" if sk % 2 else "even"
            item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "kind": {"S": kind}}
            dynamodb.put_item(TableName="events", Item=item)
    listed: list[int] = []
    all_items = Table.all_items

    def counted(table: Any) -> Any:
        listed.append(1)
        return all_items(table)

    monkeypatch.setattr(Table, "all_items", counted)

    def query(**kwargs: Any) -> list[tuple[str, int]]:
        pages = dynamodb.get_paginator("query").paginate(TableName="events", **kwargs)
        return [(i["pk"]["S"], int(i["sk"]["N"])) for page in pages for i in page["Items"]]

    b = {":p": {"S": "b"}}
    assert query(KeyConditionExpression="pk = :p", ExpressionAttributeValues=b) == [("b", s) for s in (1, 2, 3, 10)]
    assert query(KeyConditionExpression="pk = :p", ExpressionAttributeValues=b, ScanIndexForward=False, Limit=1) == [
        ("b", s) for s in (10, 3, 2, 1)
    ]
    between = {**b, ":lo": {"N": "2"}, ":hi": {"N": "3"}}
    assert query(KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi", ExpressionAttributeValues=between) == [
        ("b", 2),
        ("b", 3),
    ]
    odd = {**b, ":k": {"S": "odd"}}
    filtered = query(KeyConditionExpression="pk = :p", FilterExpression="kind = :k", ExpressionAttributeValues=odd)
    assert filtered == [("b", 1), ("b", 3)]
    assert query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "zz"}}) == []
    assert listed == []  # no query of the table's key listed the table
    by_kind = query(
        IndexName="by-kind", KeyConditionExpression="kind = :k", ExpressionAttributeValues={":k": {"S": "even"}}
    )
    assert sorted(by_kind) == [(p, s) for p in "abc" for s in (2, 10)]


def test_a_conditional_write_parses_its_condition_once_and_decides_as_moto_does(
    emulator: Emulator, monkeypatch: Any
) -> None:
    # Patch point dynamodb-condition-parsed-once: moto parsed each condition twice per request (to validate it,
    # then to apply the write). Written, refused and invalid conditions answer as they did.
    from moto.dynamodb.comparisons import ConditionExpressionParser

    dynamodb = _new_table(emulator, "online", {"pk": "HASH"}, {"pk": "S"})
    lexed: list[str] = []
    lex = ConditionExpressionParser._lex_condition_expression

    def counted(parser: Any) -> Any:
        lexed.append(parser.condition_expression)
        return lex(parser)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted)
    newer = "attribute_not_exists(pk) OR #t < :t"

    def put(t: int, condition: str = newer) -> str:
        try:
            dynamodb.put_item(
                TableName="online",
                Item={"pk": {"S": "c1"}, "t": {"N": str(t)}},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#t": "t"},
                ExpressionAttributeValues={":t": {"N": str(t)}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return "stale"
        return "written"

    assert [put(5), put(3), put(4), put(9)] == ["written", "stale", "stale", "written"]
    assert lexed == [newer] * 4  # one parse per request
    item = dynamodb.get_item(TableName="online", Key={"pk": {"S": "c1"}})["Item"]
    assert item["t"] == {"N": "9"}
    for _ in range(2):  # a parse that fails is not remembered: the second request fails the same way
        with pytest.raises(ValueError, match="Bad comparison"):  # moto's own failure (AWS: ValidationException)
            put(10, "#t < < :t")
