"""DynamoDB on the emulator: item attribute values are written to responses directly, a table named by another
account's ARN is that account's table, and CloudFormation applies a table's ``ResourcePolicy``.

moto serializes every response by walking botocore's output shape member by member; for an item that means ten
member look-ups per attribute value (``S``, ``N``, ``B``, ... ``BOOL``), at every level of nesting. Online feature
reads (a ``BatchGetItem`` per prediction) spent more time there than in the model. An attribute value already
holds exactly its wire form when it is a string, number, boolean, null, string or number set, list or map of
those, so it is copied as is; anything else (binary values, which the wire carries base64-encoded) goes through
moto's serializer unchanged.

DynamoDB takes a table's ARN wherever it takes a table name (``TableName``, the keys of ``RequestItems``), and an
ARN of another account's table acts on that account's table (DynamoDB developer guide, "Cross-account access with
resource-based policies": "If you only provide the table name ... the API operation will be performed on the table
in the account to which the requestor belongs"). moto looks the table up in the caller's account only, so the
request is served from the backend of the account (and region) its ARN names; whether the caller may is the IAM
check's (:mod:`mlops_local.iam.enforcement`: the caller's identity policy and the table's resource policy must both
allow a cross-account request). moto's CloudFormation ignores ``AWS::DynamoDB::Table``'s ``ResourcePolicy`` and
does nothing on a table's update; the table gets its policy at creation, and an update applies the policy it
names (or removes it), leaving the rest of the table as moto does.

A condition expression is parsed once per request, not twice: moto parses it to validate the request, then again
when the table applies the write. The parse (lexing, then building moto's tree of conditions) was a quarter of a
conditional ``PutItem``'s time, the online store's every write. A parse of an expression, names and values parsed
moments before (the request's own first parse, or an identical request's) returns that parse's result: the tree of
conditions only reads the items it is given, and the names and values it found are the same.

A Query on the table's own key reads its partition only, as DynamoDB does; moto listed and sorted every item of the
table for each one (an A/B test's status read its exposures' partition from a table of all its outcomes too). The
items moto then filters, sorts and pages are the partition's; a query of an index is moto's as it is.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="dynamodb-condition-parsed-once",
        module="moto.dynamodb.comparisons",
        attribute="ConditionExpressionParser.parse",
        signature="(self) -> 'Op | Func'",
        why="moto parses each condition expression twice per request, a quarter of a conditional PutItem's time",
    ),
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
    PatchPoint(
        name="dynamodb-table-arn-account",
        module="moto.dynamodb.responses",
        attribute="DynamoHandler.dynamodb_backend",
        signature="",  # a property
        why=(
            "moto finds a table named by ARN in the caller's account only; DynamoDB acts on the account (and region) "
            "the ARN names (cross-account access through the table's resource-based policy)"
        ),
    ),
    PatchPoint(
        name="dynamodb-cfn-table-resource-policy",
        module="moto.dynamodb.models.table",
        attribute="Table.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: str, cloudformation_json: dict[str, typing.Any], account_id: str, region_name: str, "
            "**kwargs: Any) -> 'Table'"
        ),
        why="CloudFormation drops AWS::DynamoDB::Table's ResourcePolicy (a cross-account table's grants)",
    ),
    PatchPoint(
        name="dynamodb-cfn-table-update",
        module="moto.dynamodb.models.table",
        attribute="Table.update_from_cloudformation_json",
        signature="",
        why="moto has no update for AWS::DynamoDB::Table: a stack update never changes a table's ResourcePolicy",
        adds=True,
    ),
    PatchPoint(
        name="dynamodb-query-one-partition",
        module="moto.dynamodb.models.table",
        attribute="Table.query",
        signature=(
            "(self, hash_key: moto.dynamodb.models.dynamo_type.DynamoType | None, range_comparison: str | None, "
            "range_objs: list[moto.dynamodb.models.dynamo_type.DynamoType], limit: int, exclusive_start_key: "
            "dict[str, typing.Any], scan_index_forward: bool, projection_expressions: list[list[str]] | None, "
            "index_name: str | None = None, consistent_read: bool = False, filter_expression: Any = None, "
            "hash_key_conditions: list[tuple[str, moto.dynamodb.models.dynamo_type.DynamoType]] | None = None, "
            "range_key_conditions: list[tuple[str, str, list[moto.dynamodb.models.dynamo_type.DynamoType]]] | None "
            "= None, **filter_kwargs: Any) -> tuple[list[moto.dynamodb.models.dynamo_type.Item], int, "
            "dict[str, typing.Any] | None]"
        ),
        why=(
            "a Query of the table's own key sorts every item of the table, then keeps its partition's: a query's cost "
            "grew with the table (the A/B tables' exposures and outcomes). DynamoDB reads the one partition"
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


class CrossAccountRequestError(Exception):
    """A request names tables of more than one account (the emulator serves one request from one account)."""


def _table_names(body: Any) -> list[str]:
    """The tables a DynamoDB request names: ``TableName``, the keys of ``RequestItems``, and each transaction
    item's ``TableName``."""
    if not isinstance(body, dict):
        return []
    names = [body["TableName"]] if isinstance(body.get("TableName"), str) else []
    names += [str(name) for name in body.get("RequestItems") or {}]
    for item in body.get("TransactItems") or []:
        names += [str(part["TableName"]) for part in item.values() if isinstance(part, dict) and "TableName" in part]
    return names


def table_location(name: str, account: str, region: str) -> tuple[str, str]:
    """The (account, region) of table ``name``: the ARN's when it is one, else the caller's ``account``/``region``."""
    parts = name.split(":")
    if name.startswith("arn:") and len(parts) >= 6 and parts[2] == "dynamodb" and parts[4]:
        return parts[4], parts[3] or region
    return account, region


def request_location(body: Any, account: str, region: str) -> tuple[str, str]:
    """The (account, region) whose backend serves the request. Raises CrossAccountRequestError naming the
    accounts when its tables are in several."""
    locations = {table_location(name, account, region) for name in _table_names(body)}
    if len(locations) > 1:
        raise CrossAccountRequestError(
            f"the request names tables of several accounts or regions ({sorted(locations)}); the local emulator "
            "serves one request from one account: send one request per account"
        )
    return locations.pop() if locations else (account, region)


def _backend_of_the_tables_account(self: Any) -> Any:
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import dynamodb_backends

    try:
        account, region = request_location(getattr(self, "body", None), self.current_account, self.region)
    except CrossAccountRequestError as exc:
        raise MockValidationException(str(exc)) from exc
    return dynamodb_backends[account][region]


def apply_resource_policy(table: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """Give ``table`` the ``ResourcePolicy`` of its CloudFormation ``properties``, or remove the one it has."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account_id][region_name]
    document = (properties.get("ResourcePolicy") or {}).get("PolicyDocument")
    if document:
        text = document if isinstance(document, str) else json.dumps(document)
        backend.put_resource_policy(table.table_arn, text, None)
    elif table.table_arn in backend.resource_policies:
        backend.delete_resource_policy(table.table_arn, None)


def _create_with_policy(original: Any) -> Any:
    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        table = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        apply_resource_policy(table, cloudformation_json.get("Properties", {}), account_id, region_name)
        return table

    return classmethod(create)


def _update_policy(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    apply_resource_policy(original_resource, cloudformation_json.get("Properties", {}), account_id, region_name)
    return original_resource


class _Partition:
    """A table as one Query of its own key sees it: ``all_items()`` is the partition of ``hash_key`` (everything
    else is the table's)."""

    def __init__(self, table: Any, hash_key: Any) -> None:
        self._table, self._hash_key = table, hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Any]:
        found = self._table.items.get(self._hash_key)  # keyed by DynamoType: its hash and == are moto's match
        if found is None:
            return []
        return list(found.values()) if self._table.range_key_attr else [found]


def _query_one_partition(original: Any) -> Any:
    import inspect

    signature = inspect.signature(original)

    def query(table: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(table, *args, **kwargs).arguments
        if arguments.get("index_name") or arguments.get("hash_key") is None:
            return original(table, *args, **kwargs)
        return original(_Partition(table, arguments["hash_key"]), *args, **kwargs)

    return query


# Parsed conditions kept: a request's two parses are back to back, so a short memory finds the first.
PARSED_CONDITIONS_KEPT = 64


def parsed_once(original: Any) -> Any:
    """``original`` (``ConditionExpressionParser.parse``), answering a repeat of a recent parse from memory: the same
    condition tree, and the same attribute names and values found (the request validation reads those)."""
    parsed: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {}
    lock = threading.Lock()

    def parse(self: Any) -> Any:
        key = json.dumps(
            [self.condition_expression, self.expression_attribute_names, self.expression_attribute_values],
            sort_keys=True,
            default=repr,
        )
        with lock:
            known = parsed.get(key)
        if known is None:
            tree = original(self)
            with lock:
                if len(parsed) >= PARSED_CONDITIONS_KEPT:
                    parsed.pop(next(iter(parsed)))
                parsed[key] = (tree, tuple(self.expr_attr_names_found), tuple(self.expr_attr_values_found))
            return tree
        tree, names, values = known
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return tree

    return parse


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
    patcher.replace(
        points["dynamodb-condition-parsed-once"], parsed_once(points["dynamodb-condition-parsed-once"].original())
    )
    patcher.replace(
        points["dynamodb-query-one-partition"], _query_one_partition(points["dynamodb-query-one-partition"].original())
    )
    patcher.replace(points["dynamodb-table-arn-account"], property(_backend_of_the_tables_account))
    patcher.replace(
        points["dynamodb-cfn-table-resource-policy"],
        _create_with_policy(points["dynamodb-cfn-table-resource-policy"].original()),
    )
    patcher.replace(points["dynamodb-cfn-table-update"], classmethod(_update_policy))
    point = points["dynamodb-attribute-values"]
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
