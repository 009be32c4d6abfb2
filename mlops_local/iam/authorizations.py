"""What one API request must be authorized for: its IAM actions, the resources they act on, and the request's
condition keys.

The Service Authorization Reference (:mod:`mlops_local.iam.reference`) gives, for each action, the resource types
it is authorized against and their ARN templates. The ARNs are filled in from the request's own parameters:

1. a parameter that holds a whole ARN matching a resource type's template is that resource
   (``stateMachineArn``, ``TopicArn``, ``ModelPackageArn``, ``PipelineExecutionArn``, ...);
2. otherwise each ``${Placeholder}`` takes the parameter of the same name, case-insensitively
   (``EndpointName``, ``EndpointConfigName``, ``TableName``, ``logGroupName``, ...), or a value from
   :data:`PLACEHOLDER_SOURCES` where the reference's name is not a parameter's (an SQS ``QueueUrl`` names its
   queue, a batch DynamoDB request its tables, a scheduler request its ``Name``);
3. ``${Partition}``, ``${Region}`` and ``${Account}`` come from the request.

Every *required* resource type must be filled; one that cannot be raises :class:`UnresolvedResourceError` naming
the action and the placeholder, so the mapping gets added rather than the request silently allowed. The one
exception is a required type that is an alternative form of another the request named by ARN (Step Functions'
``execution`` and ``express``, ``statemachine`` and ``maprun``). Optional resource types are used when the
request fills them (S3's object actions: the object, not an access point); an action with no resource the
request names is authorized against ``*``, as AWS does for actions without resource-level permissions.

Dependent actions from the reference are added where the request triggers them: ``iam:PassRole`` for every role
ARN the request passes (with ``iam:PassedToService``), and the service's tagging action when it carries tags.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_local.iam.reference import (
    Privilege,
    ResourceType,
    UnknownActionError,
    has_service,
    privilege,
    resource_type_named,
)

ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/.+")

# Keys the emulator computes for every request (present or absent). Lower-case, as IAM compares key names.
GLOBAL_KEYS = frozenset(
    {
        "aws:securetransport",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:principalservicename",
        "aws:requestedregion",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:viaawsservice",
        "aws:calledvia",
        "aws:resourceaccount",
        "s3:resourceaccount",
    }
)


class UnresolvedResourceError(LookupError):
    """A required resource of an action cannot be filled in from the request (names the action and placeholder)."""


@dataclass(frozen=True)
class Authorization:
    """One action on one resource, with the condition keys the request carries for it."""

    action: str  # "sagemaker:UpdateEndpoint"
    resource: str  # an ARN, or "*"
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service keys, lower-case names
    known: frozenset[str] = frozenset()  # service keys computed for this request (present or absent)


# -- service prefixes and action names ----------------------------------------------------------------------

# botocore service name -> IAM service prefix, where they differ.
SERVICE_PREFIXES: dict[str, str] = {
    "stepfunctions": "states",
    "sagemaker-runtime": "sagemaker",
    "sagemaker-featurestore-runtime": "sagemaker",
    "dynamodbstreams": "dynamodb",
}

# (prefix, API operation) -> IAM action, where the operation is not itself an action.
ACTION_NAMES: dict[tuple[str, str], str] = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "SelectObject"): "GetObject",
    ("s3", "GetPublicAccessBlock"): "GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
}


def _group_versions(params: Mapping[str, Any], partition: str, region: str, account: str) -> list[str] | None:
    """The versions of the group a ListModelPackages or CreateModelPackage names (``model-package/<group>/*``, in
    the group's account when it is named by ARN); None without a group (an unversioned package is named)."""
    group = str(params.get("ModelPackageGroupName") or "")
    if not group:
        return None
    named = re.match(r"^arn:([^:]+):sagemaker:([^:]*):(\d{12}):model-package-group/(.+)$", group)
    if named:
        partition, region, account, group = named.groups()
    return [f"arn:{partition}:sagemaker:{region}:{account}:model-package/{group.lower()}/*"]


# (prefix, action) -> (resource type, the ARNs of that type the request names), where the reference's resource type
# cannot be filled from the request's parameters. ListModelPackages lists a group's versions and CreateModelPackage
# adds one: the reference gives both an optional ``model-package`` (Service Authorization Reference, Amazon
# SageMaker), and AWS's cross-account examples grant them on ``model-package/<group>/*`` only, the group ARN getting
# DescribeModelPackageGroup alone ("Deploy a Model Version from a Different Account" and "Register a Model Version
# from a Different Account", SageMaker Developer Guide), so both are authorized on the group's versions.
ACTION_RESOURCES: dict[tuple[str, str], tuple[str, Callable[[Mapping[str, Any], str, str, str], list[str] | None]]] = {
    ("sagemaker", "ListModelPackages"): ("model-package", _group_versions),
    ("sagemaker", "CreateModelPackage"): ("model-package", _group_versions),
}

# Operations that need no permission at all.
UNAUTHORIZED_OPERATIONS = frozenset({("sts", "GetCallerIdentity")})

# DynamoDB transactions are authorized per item, as the item action on the item's table.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def service_prefix(service: str) -> str:
    """The IAM prefix of a botocore service name (``stepfunctions`` -> ``states``)."""
    prefix = SERVICE_PREFIXES.get(service, service)
    if not has_service(prefix):
        raise UnknownActionError(
            f"no IAM service prefix for the botocore service {service!r}: add it to SERVICE_PREFIXES in "
            "mlops_local/iam/authorizations.py"
        )
    return prefix


def action_privilege(prefix: str, operation: str) -> Privilege:
    name = ACTION_NAMES.get((prefix, operation), operation)
    try:
        return privilege(prefix, name)
    except UnknownActionError as exc:
        raise UnknownActionError(
            f"{exc}; the request was {prefix} {operation}: map the operation to its IAM action in ACTION_NAMES "
            "(mlops_local/iam/authorizations.py)"
        ) from exc


# -- placeholders -------------------------------------------------------------------------------------------

Source = Callable[[Mapping[str, Any]], list[str] | None]
EVERY = "\0every"  # a source's value meaning "the request names every resource of the type": authorized against *


def _last_segment(name: str) -> Source:
    return lambda params: [str(params[name]).rstrip("/").rsplit("/", 1)[-1]] if params.get(name) else None


def _keys_of(name: str) -> Source:
    return lambda params: sorted(params[name]) if isinstance(params.get(name), Mapping) else None


def _param_or(name: str, default: str) -> Source:
    return lambda params: [str(params.get(name) or default)]


def _lambda_function(params: Mapping[str, Any]) -> list[str] | None:
    name = params.get("FunctionName")
    if not name:
        return None
    name = str(name)
    if ":function:" in name:  # a partial ARN (ACCOUNT:function:NAME[:QUALIFIER]); full ARNs match as ARNs
        name = name.split(":function:", 1)[1]
    qualifier = params.get("Qualifier")
    if qualifier and qualifier != "$LATEST" and ":" not in name:
        name = f"{name}:{qualifier}"
    return [name]


def _alarm_names(params: Mapping[str, Any]) -> list[str] | None:
    names = params.get("AlarmNames")
    if names:
        return [str(n) for n in names]
    if params.get("AlarmName"):
        return [str(params["AlarmName"])]
    if params.get("AlarmNamePrefix"):
        return [f"{params['AlarmNamePrefix']}*"]
    return [EVERY]  # every alarm of the account


def _event_buses(params: Mapping[str, Any]) -> list[str] | None:
    entries = params.get("Entries")
    if isinstance(entries, list):
        return sorted({str(e.get("EventBusName") or "default").rsplit("/", 1)[-1] for e in entries})
    return [str(params.get("EventBusName") or params.get("Name") or "default").rsplit("/", 1)[-1]]


# (prefix, placeholder) -> where its values come from, where no parameter has the placeholder's name.
PLACEHOLDER_SOURCES: dict[tuple[str, str], Source] = {
    ("sqs", "QueueName"): _last_segment("QueueUrl"),
    ("dynamodb", "TableName"): lambda p: [str(p["TableName"])] if p.get("TableName") else _keys_of("RequestItems")(p),
    ("scheduler", "ScheduleName"): lambda p: [str(p["Name"])] if p.get("Name") else None,
    ("scheduler", "GroupName"): _param_or("GroupName", "default"),
    ("lambda", "FunctionName"): _lambda_function,
    ("cloudwatch", "AlarmName"): _alarm_names,
    ("events", "EventBusName"): _event_buses,
    ("athena", "WorkGroupName"): _param_or("WorkGroup", "primary"),
    ("iam", "RoleNameWithPath"): lambda p: [str(p["RoleName"])] if p.get("RoleName") else None,
    # A stack the request names by name: the emulator passes an existing stack by its ARN (which holds the id);
    # a stack not created yet has no id, so its ARN is the name's every id.
    ("cloudformation", "Id"): lambda p: ["*"] if p.get("StackName") else None,
    ("ssm", "ParameterNameWithoutLeadingSlash"): lambda p: [str(p["Name"]).lstrip("/")] if p.get("Name") else None,
}


def _named(params: Mapping[str, Any], placeholder: str) -> list[str] | None:
    """The parameter called ``placeholder`` (any case): its value, or its values when it is a list."""
    wanted = placeholder.lower()
    for key, value in params.items():
        if key.lower() != wanted:
            continue
        values = value if isinstance(value, list) else [value]
        texts = [str(v) for v in values if isinstance(v, str | int) and not str(v).startswith("arn:")]
        return texts or None
    return None


def _arns_in(params: Mapping[str, Any]) -> list[str]:
    """Every ARN at the top level of the request (scalars and lists of scalars)."""
    found = []
    for value in params.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("arn:"):
                found.append(item)
    return found


@dataclass(frozen=True)
class _Filled:
    resources: tuple[str, ...]
    by_arn: bool


class _Missing(Exception):  # noqa: N818  (control flow: the placeholder that could not be filled)
    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder)
        self.placeholder = placeholder


def fill(
    resource_type: ResourceType, prefix: str, params: Mapping[str, Any], *, partition: str, region: str, account: str
) -> _Filled:
    """The ARNs of ``resource_type`` the request names. Raises _Missing with the first unfilled placeholder."""
    pattern = resource_type.pattern()
    by_arn = tuple(arn for arn in _arns_in(params) if pattern.match(arn))
    if by_arn:
        return _Filled(by_arn, True)
    choices: list[list[str]] = []
    for placeholder in resource_type.placeholders:
        if placeholder == "Partition":
            values: list[str] | None = [partition]
        elif placeholder == "Region":
            values = [region]
        elif placeholder == "Account":
            values = [account]
        else:
            source = PLACEHOLDER_SOURCES.get((prefix, placeholder))
            values = source(params) if source else None
            values = values if values else _named(params, placeholder)
        if not values:
            raise _Missing(placeholder)
        choices.append(values)
    resources = []
    for combination in itertools.product(*choices):
        if EVERY in combination:
            resources.append("*")  # the request names every resource of the type (a source said so)
            continue
        arn = resource_type.arn_template
        for placeholder, value in zip(resource_type.placeholders, combination, strict=True):
            arn = arn.replace("${" + placeholder + "}", value, 1)
        resources.append(arn)
    return _Filled(tuple(dict.fromkeys(resources)), False)


def _adjust(prefix: str, action: str, resource_type: ResourceType, arn: str) -> str:
    """Where IAM evaluates a different ARN from the reference's template."""
    # CloudWatch Logs evaluates log groups with a trailing ":*" except for its tagging actions (the log group's
    # ``arn`` attribute carries it; the reference's template does not). CloudWatch Logs API reference, LogGroup.
    tagging = action in ("TagResource", "UntagResource", "ListTagsForResource")
    if prefix == "logs" and resource_type.name == "log-group" and arn != "*" and not arn.endswith(":*") and not tagging:
        return f"{arn}:*"
    return arn


def resources_for(
    entry: Privilege, params: Mapping[str, Any], *, partition: str, region: str, account: str
) -> list[tuple[ResourceType | None, str]]:
    """Every (resource type, ARN) the action is authorized against for this request; ``(None, "*")`` when the
    request names no resource. Raises UnresolvedResourceError for a required type the request does not fill."""
    named_by_action = ACTION_RESOURCES.get((entry.prefix, entry.name))
    if named_by_action is not None:
        type_name, source = named_by_action
        arns = source(params, partition, region, account)
        if arns:
            resource_type = resource_type_named(entry.prefix, type_name)
            return [(resource_type, arn) for arn in arns]
    filled: dict[ResourceType, _Filled] = {}
    missing: dict[ResourceType, str] = {}
    for resource_type in entry.resource_types:
        try:
            filled[resource_type] = fill(
                resource_type, entry.prefix, params, partition=partition, region=region, account=account
            )
        except _Missing as gap:
            if resource_type.required:
                missing[resource_type] = gap.placeholder
    named_by_arn = [t for t, f in filled.items() if f.by_arn and t.required]
    for resource_type, placeholder in missing.items():
        if named_by_arn:
            continue  # an alternative form of the resource the request named by ARN
        raise UnresolvedResourceError(
            f"{entry.action} needs a {resource_type.name} resource ({resource_type.arn_template}) and the emulator "
            f"cannot fill ${{{placeholder}}} from the request (parameters: {sorted(params)}); add a source for "
            f"({entry.prefix!r}, {placeholder!r}) to PLACEHOLDER_SOURCES in mlops_local/iam/authorizations.py"
        )
    out: list[tuple[ResourceType | None, str]] = [
        (t, _adjust(entry.prefix, entry.name, t, arn))
        for t in entry.resource_types
        if t in filled
        for arn in filled[t].resources
    ]
    return out or [(None, "*")]


# -- condition keys ----------------------------------------------------------------------------------------


def _scalar(value: Any) -> str | None:
    """A DynamoDB attribute value's text ({"S": "x"} -> "x")."""
    if isinstance(value, Mapping):
        for kind in ("S", "N", "B"):
            if kind in value:
                raw = value[kind]
                return raw.decode() if isinstance(raw, bytes) else str(raw)
    return None


def dynamodb_leading_keys(table_key: str, params: Mapping[str, Any], operation: str) -> list[str] | None:
    """The partition key values a DynamoDB item request reads or writes (None: the request names none, as a
    Scan does; such a request has no ``dynamodb:LeadingKeys``)."""
    if operation in ("GetItem", "DeleteItem", "UpdateItem", "ConditionCheckItem") and params.get("Key"):
        value = _scalar(params["Key"].get(table_key))
        return [value] if value is not None else None
    if operation == "PutItem" and params.get("Item"):
        value = _scalar(params["Item"].get(table_key))
        return [value] if value is not None else None
    if operation == "Query":
        conditions = params.get("KeyConditions") or {}
        if table_key in conditions:
            values = [_scalar(v) for v in conditions[table_key].get("AttributeValueList", [])]
            return [v for v in values if v is not None] or None
        expression = str(params.get("KeyConditionExpression") or "")
        names = dict(params.get("ExpressionAttributeNames") or {})
        for match in re.finditer(r"([#\w.]+)\s*=\s*(:\w+)|(:\w+)\s*=\s*([#\w.]+)", expression):
            name, placeholder = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
            if names.get(name, name) == table_key:
                value = _scalar((params.get("ExpressionAttributeValues") or {}).get(placeholder))
                return [value] if value is not None else None
        return None
    return None


def passed_roles(params: Any) -> list[str]:
    """Every IAM role ARN anywhere in the request (what iam:PassRole is checked on)."""
    found: list[str] = []
    if isinstance(params, Mapping):
        for value in params.values():
            found += passed_roles(value)
    elif isinstance(params, list):
        for value in params:
            found += passed_roles(value)
    elif isinstance(params, str) and ROLE_ARN.match(params):
        found.append(params)
    return list(dict.fromkeys(found))


def _has_tags(params: Mapping[str, Any]) -> bool:
    return any(key.lower() == "tags" and value for key, value in params.items())


# -- the request --------------------------------------------------------------------------------------------

TableKey = Callable[[str], str | None]  # table name -> its partition key attribute (None: unknown table)


def authorizations(
    prefix: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    partition: str = "aws",
    region: str,
    account: str,
    table_key: TableKey | None = None,
) -> list[Authorization]:
    """Everything one request must be allowed to do. Raises UnknownActionError or UnresolvedResourceError when
    the emulator cannot tell (a message naming what to add)."""
    if (prefix, operation) in UNAUTHORIZED_OPERATIONS:
        return []
    if prefix == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        return _transaction(operation, params, partition=partition, region=region, account=account, table_key=table_key)
    if prefix == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
        return _batch(operation, params, partition=partition, region=region, account=account, table_key=table_key)
    entry = action_privilege(prefix, operation)
    request_keys = _REQUEST_KEYS.get(prefix)
    keys, known = request_keys(_Call(entry, params, account, table_key)) if request_keys else ({}, set())
    primary = _primary(entry, params, partition=partition, region=region, account=account, keys=keys, known=known)
    out = list(primary)
    dependents = set(entry.dependent_actions)
    if "iam:PassRole" in dependents:
        out += _passed_roles(prefix, params, primary)
    tagging = [a for a in dependents if a.split(":")[0] == prefix and a.split(":")[1] in ("AddTags", "TagResource")]
    if tagging and _has_tags(params):
        out += [Authorization(action=tagging[0], resource=a.resource) for a in primary]
    return out


def _transaction(
    operation: str, params: Mapping[str, Any], *, partition: str, region: str, account: str, table_key: TableKey | None
) -> list[Authorization]:
    """A DynamoDB transaction needs each item's own action (GetItem, PutItem, ...) on its table."""
    out: list[Authorization] = []
    for item in params.get("TransactItems") or []:
        for kind, body in item.items():
            action = "GetItem" if operation == "TransactGetItems" else _TRANSACT_ACTIONS[kind]
            out += authorizations(
                "dynamodb", action, body, partition=partition, region=region, account=account, table_key=table_key
            )
    return out


def _batch(
    operation: str, params: Mapping[str, Any], *, partition: str, region: str, account: str, table_key: TableKey | None
) -> list[Authorization]:
    """A DynamoDB batch needs the batch action on each table, with the partition keys it touches there."""
    out: list[Authorization] = []
    for table, body in (params.get("RequestItems") or {}).items():
        leading: list[str] = []
        key_name = table_key(table) if table_key else None
        items = body.get("Keys", []) if isinstance(body, Mapping) else body
        for item in items:
            record = item.get("PutRequest", {}).get("Item") or item.get("DeleteRequest", {}).get("Key") or item
            value = _scalar(record.get(key_name)) if key_name and isinstance(record, Mapping) else None
            if value is not None:
                leading.append(value)
        out += _primary(
            action_privilege("dynamodb", operation),
            {"TableName": table},
            partition=partition,
            region=region,
            account=account,
            keys={"dynamodb:leadingkeys": tuple(dict.fromkeys(leading))} if leading else {},
            known={"dynamodb:leadingkeys"},
        )
    return out


@dataclass(frozen=True)
class _Call:
    """What the service-specific condition keys of one request are computed from."""

    entry: Privilege
    params: Mapping[str, Any]
    account: str
    table_key: TableKey | None


# (the request's values of the service's condition keys, the keys the emulator computes for this action at all):
# a condition on a key outside the second cannot be evaluated and is refused as unsupported.
RequestKeys = tuple[dict[str, tuple[str, ...]], set[str]]


def _dynamodb_keys(call: _Call) -> RequestKeys:
    table = str(call.params.get("TableName") or "")  # a name, or a table ARN (another account's table)
    key_name = call.table_key(table) if call.table_key and table else None
    partition_keys = dynamodb_leading_keys(key_name, call.params, call.entry.name) if key_name else None
    return ({"dynamodb:leadingkeys": tuple(partition_keys)} if partition_keys else {}), {"dynamodb:leadingkeys"}


def _cloudwatch_keys(call: _Call) -> RequestKeys:
    if call.entry.name == "PutMetricAlarm":
        # cloudwatch:AlarmActions: the actions the alarm performs on any state change ("Using condition keys to
        # limit alarm actions", CloudWatch User Guide: alarm, OK and insufficient-data actions alike).
        actions = [
            str(action)
            for parameter in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for action in call.params.get(parameter) or []
        ]
        return ({"cloudwatch:alarmactions": tuple(actions)} if actions else {}), {"cloudwatch:alarmactions"}
    if call.entry.name != "PutMetricData":
        return {}, set()
    namespace = call.params.get("Namespace")
    return ({"cloudwatch:namespace": (str(namespace),)} if namespace else {}), {"cloudwatch:namespace"}


def _autoscaling_keys(call: _Call) -> RequestKeys:
    keys: dict[str, tuple[str, ...]] = {}
    known: set[str] = set()
    for key, parameter in (("service-namespace", "ServiceNamespace"), ("scalable-dimension", "ScalableDimension")):
        known.add(f"application-autoscaling:{key}")
        if call.params.get(parameter):
            keys[f"application-autoscaling:{key}"] = (str(call.params[parameter]),)
    return keys, known


def _kms_keys(call: _Call) -> RequestKeys:
    # A direct call: not through another service, so kms:ViaService is known and absent.
    keys: dict[str, tuple[str, ...]] = {"kms:calleraccount": (call.account,)}
    known = {"kms:viaservice", "kms:calleraccount"}
    if call.entry.name in ("Sign", "Verify"):
        # Sign and Verify carry the algorithm and the message type (MessageType defaults to RAW).
        known |= {"kms:signingalgorithm", "kms:messagetype"}
        if call.params.get("SigningAlgorithm"):
            keys["kms:signingalgorithm"] = (str(call.params["SigningAlgorithm"]),)
        keys["kms:messagetype"] = (str(call.params.get("MessageType") or "RAW"),)
    return keys, known


def _iam_keys(call: _Call) -> RequestKeys:
    if call.entry.name != "CreateServiceLinkedRole":
        return {}, set()
    service = call.params.get("AWSServiceName")
    return ({"iam:awsservicename": (str(service),)} if service else {}), {"iam:awsservicename"}


def _s3_keys(call: _Call) -> RequestKeys:
    # s3:prefix on ListBucket: the listing's prefix; a listing without one has no s3:prefix (a StringLike on it
    # then fails, as on AWS).
    if call.entry.name != "ListBucket":
        return {}, set()
    prefix = call.params.get("Prefix")
    return ({"s3:prefix": (str(prefix),)} if prefix else {}), {"s3:prefix"}


def _sagemaker_keys(call: _Call) -> RequestKeys:
    """The model registry's request keys: the lifecycle stage and status and the approval status a CreateModelPackage
    or UpdateModelPackage sets (what an approver policy conditions on)."""
    if call.entry.name not in ("CreateModelPackage", "UpdateModelPackage"):
        return {}, set()
    keys: dict[str, tuple[str, ...]] = {}
    life_cycle = call.params.get("ModelLifeCycle") or {}
    for key, value in (
        ("sagemaker:modellifecycle:stage", life_cycle.get("Stage")),
        ("sagemaker:modellifecycle:stagestatus", life_cycle.get("StageStatus")),
        ("sagemaker:modelapprovalstatus", call.params.get("ModelApprovalStatus")),
    ):
        if value:
            keys[key] = (str(value),)
    known = {"sagemaker:modellifecycle:stage", "sagemaker:modellifecycle:stagestatus", "sagemaker:modelapprovalstatus"}
    return keys, known


def _sts_keys(call: _Call) -> RequestKeys:
    """What AssumeRole carries that a trust policy conditions on: the external id, the session name and the source
    identity (IAM User Guide, "Available keys for AWS STS")."""
    if call.entry.name != "AssumeRole":
        return {}, set()
    keys: dict[str, tuple[str, ...]] = {}
    for key, parameter in (
        ("sts:externalid", "ExternalId"),
        ("sts:rolesessionname", "RoleSessionName"),
        ("sts:sourceidentity", "SourceIdentity"),
    ):
        if call.params.get(parameter):
            keys[key] = (str(call.params[parameter]),)
    return keys, {"sts:externalid", "sts:rolesessionname", "sts:sourceidentity"}


_REQUEST_KEYS: dict[str, Callable[[_Call], RequestKeys]] = {
    "sts": _sts_keys,
    "sagemaker": _sagemaker_keys,
    "s3": _s3_keys,
    "dynamodb": _dynamodb_keys,
    "cloudwatch": _cloudwatch_keys,
    "application-autoscaling": _autoscaling_keys,
    "kms": _kms_keys,
    "iam": _iam_keys,
}


def _passed_roles(prefix: str, params: Mapping[str, Any], primary: list[Authorization]) -> list[Authorization]:
    """iam:PassRole on every role the request passes, to the calling service and for the resource it creates."""
    created = next((a.resource for a in primary if a.resource != "*"), None)
    return [
        Authorization(
            action="iam:PassRole",
            resource=role,
            keys={
                "iam:passedtoservice": (f"{prefix}.amazonaws.com",),
                **({"iam:associatedresourcearn": (created,)} if created else {}),
            },
            known=frozenset({"iam:passedtoservice", "iam:associatedresourcearn"}),
        )
        for role in passed_roles(params)
    ]


def _primary(
    entry: Privilege,
    params: Mapping[str, Any],
    *,
    partition: str,
    region: str,
    account: str,
    keys: Mapping[str, tuple[str, ...]],
    known: Iterable[str],
) -> list[Authorization]:
    resources = resources_for(entry, params, partition=partition, region=region, account=account)
    return [
        Authorization(action=entry.action, resource=arn, keys=dict(keys), known=frozenset(known))
        for _type, arn in resources
    ]
