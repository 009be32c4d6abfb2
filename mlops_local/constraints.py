"""Every request checked against its API model's value constraints, server side, as AWS does.

botocore validates little before sending (types, required members, minimum lengths); AWS validates the rest on
arrival and refuses the whole request. This family registers a request check (:mod:`mlops_local.requests`) that
walks the operation's botocore input shape over the parsed request and refuses it the way AWS's request
validation does:

* required members (``Member must not be null``), ``pattern`` (Java regular expressions, matched whole, see
  :mod:`mlops_local.java_regex`), ``min``/``max`` as lengths for strings, blobs, lists and maps and as ranges for
  numbers, and ``enum``;
* the error is the service's own: ``ValidationException`` for JSON protocols, ``ValidationError`` for query
  protocols (and services that keep query error codes, such as CloudWatch); a value of the wrong type is a
  ``SerializationException``;
* the message counts every violated constraint (a string too long *and* off-pattern is two), lists at most ten,
  and names each place AWS's way: members in lowerCamelCase, list items as ``name.N.member`` (1-based), map
  values as ``name.KEY.member``; a list or map of scalars is reported once at its own path
  (``Member must satisfy constraint: [...]``, ``Map keys must satisfy constraint: [...]``,
  ``Map value must satisfy constraint: [...]``) with every constraint of the item shape. Values of shapes the
  model marks ``sensitive`` are not echoed.

Real texts these rules follow: ``2 validation errors detected: Value '...' at 'modelName' failed to satisfy
constraint: Member must have length less than or equal to 63; Value '...' at 'modelName' failed to satisfy
constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*`` (SageMaker
CreateModel, aws-samples/sagemaker-ml-workflow-with-apache-airflow#3); ``... at
'productionVariants.1.member.modelName' ...`` (aws/amazon-sagemaker-examples#2236); ``ValidationError ... Value
'30' at 'period' ...`` (CloudWatch over query, ansible/ansible#29694); the ten-error cap and the
container-level forms from emulators that probed AWS (dynalite, floci).

Beyond the models, :data:`SERVICE_RULES` holds documented value rules the kit depends on (each names the API
reference page it rests on), checked after the model, as the service checks them after request validation.

Not modelled: the order AWS lists violations in (here: the shape's member order, a container before its items);
constraints on members that AWS also derives elsewhere (``@required`` on list items, unions having exactly one
member); S3 (not validated this way by AWS; its own errors); requests CloudFormation makes on a stack's behalf
(moto creates those resources without an API request; cfn-lint checks templates).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_local import requests
from mlops_local.java_regex import matches
from mlops_local.patching import Patcher, PatchPoint
from mlops_local.requests import ApiError, ApiRequest

PATCH_POINTS: tuple[PatchPoint, ...] = ()  # a request check: it hooks mlops_local.requests, not moto
CHECK_NAME = "api-model-constraints"
MAX_LISTED = 10  # AWS lists (and counts) at most ten violations
_SCALARS = frozenset({"string", "integer", "long", "float", "double", "boolean", "blob", "timestamp"})
_NUMBERS = frozenset({"integer", "long", "float", "double"})
_QUERY_PROTOCOLS = frozenset({"query", "ec2"})
_UNVALIDATED_SERVICES = frozenset({"s3", "s3control"})


@dataclass(frozen=True)
class Violation:
    """One violated constraint, at ``path`` (AWS's spelling: ``productionVariants.1.member.modelName``)."""

    path: str
    constraint: str
    value: str | None  # as AWS renders it; None for a missing value
    hidden: bool = False  # a sensitive member: the value is not echoed

    def message(self) -> str:
        if self.hidden:
            shown = ""
        elif self.value is None:
            shown = " null"
        else:
            shown = f" '{self.value}'"
        return f"Value{shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def validation_message(violations: list[Violation]) -> str:
    """AWS's message for ``violations``: ``N validation error(s) detected: ...; ...`` (at most ten listed)."""
    listed = violations[:MAX_LISTED]
    noun = "error" if len(listed) == 1 else "errors"
    return f"{len(listed)} validation {noun} detected: " + "; ".join(v.message() for v in listed)


class WrongType(Exception):  # noqa: N818  (named for what it is, as the service names it)
    """A value whose JSON type does not fit its shape (AWS answers ``SerializationException``)."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"Value at '{path}' is a {type(value).__name__} where the model has a {expected}")


# -- the validator ---------------------------------------------------------------------------------------
def validate(shape: Any, params: Mapping[str, Any]) -> list[Violation]:
    """Every constraint of the botocore input ``shape`` that ``params`` (a parsed request) violates, in order.

    Raises :class:`WrongType` when a value cannot be read as its shape's type.
    """
    found: list[Violation] = []
    _walk(shape, params, "", found)
    return found


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _walk(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    _check_type(shape, value, path)
    walker = _WALKERS.get(shape.type_name)
    if walker is None:
        found.extend(_own_violations(shape, value, path))
    else:
        walker(shape, value, path, found)


def _walk_structure(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    if shape.metadata.get("document"):
        return
    required = set(shape.metadata.get("required", []))
    for name, member in shape.members.items():
        member_path = _member_path(path, name)
        item = value.get(name)
        if item is None:
            if name in required:
                found.append(Violation(member_path, "Member must not be null", None))
            continue
        _walk(member, item, member_path, found)


def _walk_list(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    found.extend(_own_violations(shape, value, path))
    items = list(enumerate(value, start=1))
    _walk_items(shape, value, shape.member, items, path, "Member must satisfy constraint", found)


def _walk_map(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    found.extend(_own_violations(shape, value, path))
    if any(_scalar_failures(shape.key, key) for key in value):
        found.append(_container(shape, value, path, "Map keys must satisfy constraint", shape.key))
    _walk_items(shape, value, shape.value, list(value.items()), path, "Map value must satisfy constraint", found)


def _walk_items(
    shape: Any,
    value: Any,
    item_shape: Any,
    items: list[tuple[Any, Any]],
    path: str,
    lead: str,
    found: list[Violation],
) -> None:
    """A list's members or a map's values, labelled by index or key. Scalars are type-checked one by one and
    their constraints reported once, on the container (as AWS words it); other items are walked."""
    if item_shape.type_name in _SCALARS:
        for label, item in items:
            _check_type(item_shape, item, f"{path}.{label}.member")
        if any(_scalar_failures(item_shape, item) for _, item in items if item is not None):
            found.append(_container(shape, value, path, lead, item_shape))
        return
    for label, item in items:
        if item is not None:
            _walk(item_shape, item, f"{path}.{label}.member", found)


_WALKERS: dict[str, Callable[[Any, Any, str, list[Violation]], None]] = {
    "structure": _walk_structure,
    "list": _walk_list,
    "map": _walk_map,
}


def _container(shape: Any, value: Any, path: str, lead: str, item_shape: Any) -> Violation:
    rules = ", ".join(_constraints(item_shape))
    return Violation(path, f"{lead}: [{rules}]", render(shape, value), hidden=_sensitive(shape, item_shape))


def _own_violations(shape: Any, value: Any, path: str) -> list[Violation]:
    failed = _scalar_failures(shape, value)
    return [Violation(path, text, render(shape, value), hidden=_sensitive(shape)) for text in failed]


def _sensitive(*shapes: Any) -> bool:
    return any(s.metadata.get("sensitive") for s in shapes)


def _constraints(shape: Any) -> list[str]:
    """Every constraint ``shape`` declares, as AWS words them, in AWS's order (maximum, minimum, pattern, enum)."""
    meta, kind = shape.metadata, shape.type_name
    texts = []
    measure = "value" if kind in _NUMBERS else "length"
    if "max" in meta:
        texts.append(f"Member must have {measure} less than or equal to {meta['max']}")
    if "min" in meta:
        texts.append(f"Member must have {measure} greater than or equal to {meta['min']}")
    if meta.get("pattern") is not None and kind == "string":
        texts.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if getattr(shape, "enum", None):
        texts.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return texts


def _scalar_failures(shape: Any, value: Any) -> list[str]:
    """The constraints of ``shape`` (its own, not its members') that ``value`` violates."""
    meta, kind = shape.metadata, shape.type_name
    failed: list[str] = []
    if kind in _NUMBERS:
        if "max" in meta and value > meta["max"]:
            failed.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            failed.append(f"Member must have value greater than or equal to {meta['min']}")
        return failed
    if kind not in ("string", "blob", "list", "map"):
        return failed
    size = len(value)
    if "max" in meta and size > meta["max"]:
        failed.append(f"Member must have length less than or equal to {meta['max']}")
    if "min" in meta and size < meta["min"]:
        failed.append(f"Member must have length greater than or equal to {meta['min']}")
    if kind == "string":
        pattern = meta.get("pattern")
        if pattern is not None and matches(pattern, value) is False:
            failed.append(f"Member must satisfy regular expression pattern: {pattern}")
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            failed.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    return failed


_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (Mapping,),
    "map": (Mapping,),
    "list": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray, str),
    "timestamp": (dt.datetime, dt.date, int, float, str),
}


def _check_type(shape: Any, value: Any, path: str) -> None:
    if value is None:
        return
    kind = shape.type_name
    if kind == "string" and shape.metadata.get("jsonvalue"):
        return  # JSON-valued headers arrive decoded
    expected = _TYPES.get(kind)
    if expected is None:
        return
    wrong_bool = isinstance(value, bool) and kind in _NUMBERS
    if wrong_bool or not isinstance(value, expected):
        raise WrongType(path, kind, value)


def render(shape: Any, value: Any) -> str:
    """``value`` as AWS echoes it in a message (Java's ``toString``: ``[a, b]``, ``{k=v}``)."""
    kind = shape.type_name
    if value is None:
        return "null"
    if kind == "list":
        return "[" + ", ".join(render(shape.member, item) for item in value) + "]"
    if kind == "map":
        return "{" + ", ".join(f"{key}={render(shape.value, item)}" for key, item in value.items()) + "}"
    if kind == "structure":
        members = ", ".join(
            f"{_member_path('', name)}={render(shape.members[name], item)}"
            for name, item in value.items()
            if name in shape.members
        )
        return f"{shape.name}({members})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


# -- service rules beyond the model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceRule:
    """A documented value rule the API model does not carry: ``check`` returns the service's refusal or None."""

    service: str
    action: str
    doc: str  # the API reference page the rule rests on
    check: Callable[[dict[str, Any], ApiRequest], ApiError | None]  # (the request's parameters, the request)


_HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


def _period_allowed(period: int) -> bool:
    return period % 60 == 0 or period in _HIGH_RESOLUTION_PERIODS


def _period_refusal(parameter: str, period: int) -> ApiError:
    return ApiError(
        "InvalidParameterValue",
        f"The parameter {parameter} must be a multiple of 60 (or 1, 5, 10, 20 or 30 for a high-resolution "
        f"metric); got {period}.",
    )


def _metric_data_periods(params: dict[str, Any], _request: ApiRequest) -> ApiError | None:
    for index, query in enumerate(params.get("MetricDataQueries") or [], start=1):
        for parameter, period in (
            ("MetricStat.Period", (query.get("MetricStat") or {}).get("Period")),
            ("Period", query.get("Period")),
        ):
            if period is not None and not _period_allowed(period):
                return _period_refusal(f"MetricDataQueries.member.{index}.{parameter}", period)
    return None


MAX_STATISTICS_DATAPOINTS = 1440


def _metric_statistics_period(params: dict[str, Any], _request: ApiRequest) -> ApiError | None:
    period = params.get("Period")
    if period is None:
        return None
    if not _period_allowed(period):
        return _period_refusal("Period", period)
    start, end = params.get("StartTime"), params.get("EndTime")
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        requested = math.ceil((end - start).total_seconds() / period)
        if requested > MAX_STATISTICS_DATAPOINTS:
            # The text AWS answers (cloud-custodian/cloud-custodian#7103).
            return ApiError(
                "InvalidParameterCombination",
                f"You have requested up to {requested} datapoints, which exceeds the limit of "
                f"{MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, "
                "or decreasing the time range.",
            )
    return None


_SERVERLESS_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html (Feature exclusions: KMS keys, data "
    "capture, multiple production variants), API_ProductionVariantServerlessConfig.html (MemorySizeInMB in 1 GB "
    "increments; ProvisionedConcurrency at most MaxConcurrency), API_ProductionVariant.html (ServerlessConfig "
    "instead of an instance-based configuration) and shadow-tests-exclusions.html (serverless inference)"
)


def _serverless_endpoint_config(params: dict[str, Any], _request: ApiRequest) -> ApiError | None:
    """CreateEndpointConfig with a serverless variant. The rules are AWS's (:data:`_SERVERLESS_DOC`); the message
    texts are the emulator's, as AWS does not document its own."""
    production = params.get("ProductionVariants") or []
    shadows = params.get("ShadowProductionVariants") or []
    serverless = [v for v in [*production, *shadows] if v.get("ServerlessConfig")]
    if not serverless:
        return None
    for variant in serverless:
        name, config = variant.get("VariantName"), variant["ServerlessConfig"]
        if "InstanceType" in variant or "InitialInstanceCount" in variant:
            return ApiError(
                "ValidationException",
                f"Variant {name} has a ServerlessConfig and InstanceType or InitialInstanceCount: a serverless "
                "variant is configured instead of instances, not with them.",
            )
        memory = config.get("MemorySizeInMB")
        if isinstance(memory, int) and memory % 1024:
            return ApiError(
                "ValidationException",
                f"Variant {name}: MemorySizeInMB must be 1024, 2048, 3072, 4096, 5120 or 6144 (1 GB increments); "
                f"got {memory}.",
            )
        provisioned, maximum = config.get("ProvisionedConcurrency"), config.get("MaxConcurrency")
        if isinstance(provisioned, int) and isinstance(maximum, int) and provisioned > maximum:
            return ApiError(
                "ValidationException",
                f"Variant {name}: ProvisionedConcurrency ({provisioned}) must be less than or equal to "
                f"MaxConcurrency ({maximum}).",
            )
    unsupported = [
        what
        for what, present in (
            ("multiple production variants", len(production) > 1),
            ("ShadowProductionVariants", bool(shadows)),
            ("DataCaptureConfig", bool(params.get("DataCaptureConfig"))),
            ("KmsKeyId", bool(params.get("KmsKeyId"))),
        )
        if present
    ]
    if unsupported:
        return ApiError(
            "ValidationException",
            f"Serverless endpoint configurations do not support {', '.join(unsupported)}.",
        )
    return None


_SAME_REGION_DOC = (
    'https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html (ModelDataUrl: "The '
    "model artifacts must be in an S3 bucket that is in the same region as the model or endpoint you are "
    'creating.") and API_ModelPackageContainerDefinition.html (ModelDataUrl: "... in the same region as the '
    'model package.")'
)


def _model_data_urls(params: dict[str, Any]) -> list[str]:
    """The S3 model artifacts a CreateModel or CreateModelPackage names (each container's ModelDataUrl or
    ModelDataSource)."""
    containers = [params.get("PrimaryContainer") or {}, *(params.get("Containers") or [])]
    for specification in [
        params.get("InferenceSpecification"),
        *(params.get("AdditionalInferenceSpecifications") or []),
    ]:
        containers += (specification or {}).get("Containers") or []
    urls = []
    for container in containers:
        source = ((container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        urls += [
            str(u) for u in (container.get("ModelDataUrl"), source) if isinstance(u, str) and u.startswith("s3://")
        ]
    return urls


def _bucket_region(bucket: str) -> str | None:
    """The region of an existing bucket of any account of the emulator; None when there is no such bucket (then
    AWS refuses the request for another reason: the model data cannot be read)."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        return None
    partition, account = owner
    found = s3_backends[account][partition].buckets.get(bucket)
    return str(found.region_name) if found is not None else None


def _model_data_in_region(params: dict[str, Any], request: ApiRequest) -> ApiError | None:
    """CreateModel and CreateModelPackage: every S3 model artifact in a bucket of the request's region
    (:data:`_SAME_REGION_DOC`). When AWS checks this and its message text are not documented: the emulator refuses
    the request, with its own text."""
    for url in _model_data_urls(params):
        bucket = url.removeprefix("s3://").split("/", 1)[0]
        region = _bucket_region(bucket)
        if region is not None and region != request.region:
            return ApiError(
                "ValidationException",
                f"Could not use model data at {url}: the model artifacts must be in an S3 bucket in the same region "
                f"as the model ({request.region}); bucket {bucket} is in {region}. Copy them to a bucket in "
                f"{request.region}.",
            )
    return None


SERVICE_RULES: tuple[ServiceRule, ...] = (
    ServiceRule("sagemaker", "CreateEndpointConfig", _SERVERLESS_DOC, _serverless_endpoint_config),
    ServiceRule("sagemaker", "CreateModel", _SAME_REGION_DOC, _model_data_in_region),
    ServiceRule("sagemaker", "CreateModelPackage", _SAME_REGION_DOC, _model_data_in_region),
    ServiceRule(
        "cloudwatch",
        "GetMetricData",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html (Period: a multiple "
        "of 60; 1, 5, 10, 20, 30 for high-resolution metrics) and API_MetricDataQuery.html (Period, the same)",
        _metric_data_periods,
    ),
    ServiceRule(
        "cloudwatch",
        "GetMetricStatistics",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html (Period: a "
        "multiple of 60, or 1, 5, 10, 20, 30 for high resolution; more than 1,440 data points is an error)",
        _metric_statistics_period,
    ),
)


# -- the request check ---------------------------------------------------------------------------------------
@functools.cache
def _service_model(service: str) -> Any:
    from moto.core.utils import get_service_model

    return get_service_model(service)


def validation_code(service_model: Any) -> str:
    """``ValidationError`` where the service speaks (or keeps the error codes of) the query protocol,
    ``ValidationException`` elsewhere."""
    query = service_model.protocol in _QUERY_PROTOCOLS or "awsQueryCompatible" in service_model.metadata
    return "ValidationError" if query else "ValidationException"


def _input(request: ApiRequest, operation: Any) -> dict[str, Any] | None:
    """The parsed input, or None when the request could not be parsed (then it is not judged here)."""
    params = request.params()
    if params or not operation.input_shape or not operation.input_shape.required_members:
        return params
    # Empty although members are required: a parse failure reads as {} (requests._parse); parse again, strictly.
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol

    try:
        raw = request.response.normalized_request
        protocol = determine_request_protocol(operation.service_model, raw.content_type)
        parser = PROTOCOL_PARSERS[protocol](operation, map_type=dict)
        parsed = parser.parse(
            {
                "method": raw.method,
                "values": raw.values,
                "headers": raw.headers,
                "body": raw.data,
                "url_path": raw.path,
                "url_params": getattr(request.response, "uri_match", {}) or {},
            }
        )
    except Exception:
        return None
    return dict(parsed)


def check(request: ApiRequest) -> None:
    """Refuse ``request`` as AWS would when it breaks its operation's model or a :data:`SERVICE_RULES` rule."""
    if request.service in _UNVALIDATED_SERVICES or not request.action:
        return
    try:
        model = _service_model(request.service)
        operation = model.operation_model(request.action)
    except Exception:
        return  # not an AWS API (moto's own endpoints) or an operation botocore does not know
    params = _input(request, operation)
    if params is None or operation.input_shape is None:
        return
    try:
        violations = validate(operation.input_shape, params)
    except WrongType as wrong:
        raise ApiError("SerializationException", str(wrong)) from wrong
    if violations:
        raise ApiError(validation_code(model), validation_message(violations))
    for rule in SERVICE_RULES:
        if (rule.service, rule.action) == (request.service, request.action):
            refusal = rule.check(params, request)
            if refusal is not None:
                raise refusal


def apply(patcher: Patcher) -> None:
    """Switch the check on for this emulator (it runs only while :mod:`mlops_local.requests` is patched)."""
    requests.register(CHECK_NAME, check)
