"""IAM enforcement on the emulator: every request made as a role is evaluated against the role's policies.

A request check (:mod:`mlops_local.requests`) finds who made the request (:mod:`mlops_local.iam.identity`), what
it must be allowed to do (:mod:`mlops_local.iam.authorizations`) and decides each authorization as AWS does
(:mod:`mlops_local.iam.policies`) from the policies the account holds in moto: the role's inline policies (those
CloudFormation attaches from ``AWS::IAM::Policy`` included), its managed policies (customer and AWS managed) and
its permissions boundary, and the resource's own policy where the service has one (S3 bucket policies, SNS topic
and SQS queue policies, Lambda function policies, SageMaker model package group policies, DynamoDB table policies,
KMS key policies and, for sts:AssumeRole, the role's trust policy, which must allow). A denial reaches the client
as the service's AccessDenied error with AWS's message ("User: arn:aws:sts::...:assumed-role/ROLE/SESSION is not
authorized to perform: ACTION on resource: ARN because no identity-based policy allows the ACTION action").

Requests from no role (tests, the CLI, CloudFormation deploying stacks) are the administrator's and are not
evaluated. Where the emulator itself acts for an AWS service with a role (EventBridge and Scheduler targets,
SageMaker Pipelines creating jobs) it calls :func:`authorize_role` or :func:`authorize_service`.

Patch points: a state machine's tasks run on the interpreter's threads; the two task evaluators are wrapped so
each task's calls are made as the state machine's RoleArn. moto's CloudFormation drops a role's
``ManagedPolicyArns``; role creation and update are wrapped to attach them (AWS managed ones from the documents
moto ships), so the CDK bootstrap roles and any role with managed policies are evaluated with them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from html import unescape
from typing import Any
from urllib.parse import unquote

from mlops_local import requests
from mlops_local.iam import identity
from mlops_local.iam.authorizations import (
    GLOBAL_KEYS,
    Authorization,
    UnresolvedResourceError,
    authorizations,
    service_prefix,
)
from mlops_local.iam.policies import (
    PolicyDocument,
    Principal,
    RequestContext,
    UnsupportedPolicyError,
    evaluate,
)
from mlops_local.iam.reference import UnknownActionError
from mlops_local.patching import Patcher, PatchPoint, points_by_name
from mlops_local.requests import ApiError, ApiRequest

LOG = logging.getLogger(__name__)
CHECK_NAME = "iam"
UNSUPPORTED_CODE = "MlopsLocalIamUnsupported"

_TASKS = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="iam-sfn-service-task-role",
        module=f"{_TASKS}.service.state_task_service",
        attribute="StateTaskService._eval_execution",
        signature="(self, env: 'Environment') -> 'None'",
        why="a state machine's service integrations (aws-sdk, lambda:invoke, dynamodb, ...) call AWS as its RoleArn",
    ),
    PatchPoint(
        name="iam-cfn-role-managed-policies",
        module="moto.iam.models",
        attribute="Role.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: 'str', cloudformation_json: 'dict[str, Any]', account_id: 'str', "
            "region_name: 'str', **kwargs: 'Any') -> 'Role'"
        ),
        why="CloudFormation roles lose their ManagedPolicyArns (the CDK bootstrap roles' AWS managed policies)",
    ),
    PatchPoint(
        name="iam-cfn-role-managed-policies-update",
        module="moto.iam.models",
        attribute="Role.update_from_cloudformation_json",
        signature=(
            "(cls, original_resource: 'Role', new_resource_name: 'str', cloudformation_json: 'dict[str, Any]', "
            "account_id: 'str', region_name: 'str') -> 'Role'"
        ),
        why="a stack update keeps a role's old managed policies whatever ManagedPolicyArns now lists",
    ),
    PatchPoint(
        name="iam-sfn-lambda-task-role",
        module=f"{_TASKS}.state_task_lambda",
        attribute="StateTaskLambda._eval_execution",
        signature="(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment) -> None",
        why="a Task whose Resource is a Lambda function ARN invokes it as the state machine's RoleArn",
    ),
)


class AccessDeniedError(Exception):
    """A role or service principal is not allowed to do something the emulator does on its behalf."""


# -- the AccessDenied error each service returns --------------------------------------------------------------

# (code, HTTP status) by botocore service name, where the service does not use the JSON protocols' common
# AccessDeniedException (400): S3's AccessDenied, SNS's AuthorizationError (both in their API models), and the
# query-protocol services' AccessDenied.
DENIAL_ERRORS: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}


def denial(service: str, message: str) -> ApiError:
    code, status = DENIAL_ERRORS.get(service, ("AccessDeniedException", 400))
    return ApiError(code, message, status)


# -- policies held by the account ---------------------------------------------------------------------------


def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _managed_document(backend: Any, arn: str, policy: Any = None) -> PolicyDocument | None:
    policy = policy or backend.managed_policies.get(arn)
    if policy is None and arn.startswith("arn:aws:iam::aws:policy/"):
        # AWS managed policies are not loaded into moto's backend unless asked for; moto ships their documents.
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        data = json.loads(aws_managed_policies_data).get(arn.rsplit("/", 1)[-1])
        return PolicyDocument.parse(data["Document"], f"AWS managed policy {arn}") if data else None
    if policy is None:
        return None
    version = next((v for v in policy.versions if v.is_default), policy.versions[-1])
    return PolicyDocument.parse(version.document, f"managed policy {arn}")


def role_policies(role_arn: str) -> tuple[list[PolicyDocument], list[PolicyDocument] | None]:
    """The role's identity-based policies and its permissions boundary (None when it has none); no role, no
    policies (every request is then implicitly denied, as AWS denies a role that no longer exists)."""
    account = role_arn.split(":")[4]
    backend = _iam_backend(account)
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:
        return [], None
    documents = [
        PolicyDocument.parse(document, f"inline policy {name} of role {role.name}")
        for name, document in role.policies.items()
    ]
    for arn, policy in role.managed_policies.items():
        document = _managed_document(backend, arn, policy)
        if document is not None:
            documents.append(document)
    boundary = None
    if role.permissions_boundary_arn:
        document = _managed_document(backend, role.permissions_boundary_arn)
        boundary = [document] if document is not None else []
    return documents, boundary


def resource_policy(resource: str, region: str) -> tuple[list[PolicyDocument] | None, bool]:
    """The resource-based policy of ``resource`` (None: its type has none, or the resource is unknown) and
    whether that policy must allow (KMS key policies)."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[2] not in _RESOURCE_POLICIES:
        return None, False
    service, resource_region, account, rest = parts[2], parts[3] or region, parts[4], parts[5]
    try:
        return _RESOURCE_POLICIES[service](resource, rest, account, resource_region)
    except Exception as exc:  # a resource that does not exist has no policy; the service reports it missing
        LOG.debug("no resource policy for %s: %s", resource, exc)
    return None, False


ResourcePolicy = tuple[list[PolicyDocument] | None, bool]


def bucket_account(bucket: str) -> str:
    """The account that owns ``bucket`` (S3 ARNs name none; bucket names are global), or the emulator's default
    account when no account has it."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    return str(owner[1]) if owner else _default_account("")


def _bucket_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    from moto.s3.models import s3_backends

    name = rest.split("/", 1)[0]
    bucket = s3_backends[account or bucket_account(name)]["aws"].buckets.get(name)
    if bucket is None or not bucket.policy:
        return [], False
    return [PolicyDocument.parse(bucket.policy.decode(), f"bucket policy of {bucket.name}")], False


def _topic_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(resource)
    return ([PolicyDocument.parse(topic.policy, f"topic policy of {resource}")] if topic else []), False


def _queue_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].queues.get(rest)
    policy = getattr(queue, "policy", None)
    return ([PolicyDocument.parse(policy, f"queue policy of {resource}")] if policy else []), False


def _function_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    if not rest.startswith("function:"):
        return None, False
    from moto.awslambda.utils import get_backend

    function = get_backend(account, region).get_function(resource)
    statements = list(function.policy.statements)
    return ([PolicyDocument.parse({"Statement": statements}, f"function policy of {resource}")]), False


def _key_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    """A KMS key's policy, which must allow the request (identity policies alone do not)."""
    if not rest.startswith("key/"):
        return None, False
    from moto.kms.models import kms_backends

    key = kms_backends[account][region].keys.get(rest.split("/", 1)[1])
    if key is None:
        return None, False
    managed = [a for a in key.aliases if a.startswith("alias/aws/")]
    if managed:
        return [_aws_managed_key_policy(managed[0], account, region)], True
    return [PolicyDocument.parse(key.policy, f"key policy of {resource}")], True


def _model_group_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    """The resource policy of a model package group, for the group and its versions (``model-package/<group>/<n>``;
    unversioned packages have none)."""
    kind, _, path = rest.partition("/")
    if kind not in ("model-package-group", "model-package") or (kind == "model-package" and "/" not in path):
        return None, False
    from moto.sagemaker.models import sagemaker_backends

    name = path.split("/", 1)[0]
    groups = sagemaker_backends[account][region].model_package_groups
    group = next((g for n, g in groups.items() if n.lower() == name.lower()), None)
    if group is None:
        return None, False
    policy = getattr(group, "resource_policy", None)
    return ([PolicyDocument.parse(policy, f"model package group policy of {name}")] if policy else []), False


def _table_policy(resource: str, rest: str, account: str, region: str) -> ResourcePolicy:
    """A DynamoDB table's resource-based policy, for the table and its indexes (``table/<name>/index/<index>``; a
    table's policy covers its indexes: DynamoDB developer guide, "Using resource-based policies for DynamoDB").
    A stream has a policy of its own, which the emulator does not model (None)."""
    kind, _, path = rest.partition("/")
    if kind != "table" or not path or "/stream/" in f"/{path}":
        return None, False
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][region]
    table = backend.tables.get(path.split("/", 1)[0])
    if table is None:
        return None, False
    policy = backend.resource_policies.get(table.table_arn)
    if policy is None:
        return [], False
    return [PolicyDocument.parse(policy.policy_doc, f"resource policy of table {table.name}")], False


# The actions a role's trust policy governs (its resource-based policy for them): the trust policy must allow, as a
# key policy must (IAM User Guide, "Cross-account policy evaluation logic": "a role trust policy ... after
# assuming that role"; STS API reference, AssumeRole: "the role's trust policy ... the principal's identity-based
# policy"). Tags and a source identity passed to AssumeRole need sts:TagSession and sts:SetSourceIdentity there too,
# which the emulator does not model: a request that passes them is not evaluated for them.
TRUST_POLICY_ACTIONS = frozenset({"sts:assumerole"})


def trust_policy(role_arn: str) -> list[PolicyDocument]:
    """The trust policy (``AssumeRolePolicyDocument``) of ``role_arn``; none when the role does not exist, so
    nobody may assume it."""
    try:
        role = _iam_backend(role_arn.split(":")[4]).get_role_by_arn(role_arn)
    except Exception:
        return []
    document = role.assume_role_policy_document
    return [PolicyDocument.parse(document, f"trust policy of role {role.name}")] if document else []


# The resource types with resource-based policies the emulator evaluates, by service prefix.
_RESOURCE_POLICIES: dict[str, Callable[[str, str, str, str], ResourcePolicy]] = {
    "sagemaker": _model_group_policy,
    "s3": _bucket_policy,
    "sns": _topic_policy,
    "sqs": _queue_policy,
    "lambda": _function_policy,
    "kms": _key_policy,
    "dynamodb": _table_policy,
}


def _aws_managed_key_policy(alias: str, account: str, region: str) -> PolicyDocument:
    """The key policy AWS gives its managed keys (``alias/aws/s3``, ...): every principal of the account may use the
    key through that service (AWS KMS developer guide, "AWS managed keys"). moto gives them a root-only policy."""
    service = alias.removeprefix("alias/aws/")
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": f"{service}.{region}.amazonaws.com"}
        },
    }
    describe = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
        "Resource": "*",
    }
    return PolicyDocument.parse({"Statement": [statement, describe]}, f"the AWS managed key policy of {alias}")


def _default_account(account: str) -> str:
    from mlops_local.emulator import DEFAULT_ACCOUNT

    return account or DEFAULT_ACCOUNT


def _context(
    principal: Principal, authorization: Authorization, region: str, extra: Mapping[str, tuple[str, ...]]
) -> RequestContext:
    keys: dict[str, list[str]] = {"aws:securetransport": ["true"], "aws:requestedregion": [region]}
    if principal.kind == "role":
        keys |= {
            "aws:principalarn": [principal.arn],
            "aws:principalaccount": [principal.account],
            "aws:principaltype": ["AssumedRole"],
            "aws:viaawsservice": ["false"],
        }
    else:
        keys["aws:principalservicename"] = [principal.arn]
    if authorization.resource != "*":
        # The account that owns the resource: the one in its ARN, or for S3 (whose ARNs name none) the bucket's.
        owner = authorization.resource.split(":")[4] if authorization.resource.count(":") >= 5 else ""
        if (
            not owner
            and authorization.resource.startswith("arn:aws:s3:::")
            and authorization.resource != "arn:aws:s3:::*"
        ):
            owner = bucket_account(authorization.resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
        keys["aws:resourceaccount"] = [owner or principal.account]
        if authorization.resource.startswith("arn:aws:s3:::"):
            keys["s3:resourceaccount"] = [owner or principal.account]
    keys |= {k: list(v) for k, v in authorization.keys.items()}
    keys |= {k: list(v) for k, v in extra.items()}
    return RequestContext(
        action=authorization.action,
        resource=authorization.resource,
        principal=principal,
        keys=keys,
        known=GLOBAL_KEYS | authorization.known,
    )


def decide(
    principal: Principal,
    authorization: Authorization,
    region: str,
    extra: Mapping[str, tuple[str, ...]] | None = None,
) -> str | None:
    """None when ``principal`` may do ``authorization``; otherwise AWS's denial message."""
    context = _context(principal, authorization, region, extra or {})
    documents: list[PolicyDocument] = []
    boundary = None
    if principal.kind == "role":
        documents, boundary = role_policies(principal.arn)
    resource: list[PolicyDocument] | None
    if authorization.action.lower() in TRUST_POLICY_ACTIONS:
        resource, must_allow = trust_policy(authorization.resource), True
    else:
        resource, must_allow = resource_policy(authorization.resource, region)
    if principal.kind == "service" and resource is None:
        resource = []
    decision = evaluate(
        context, identity=documents, resource=resource, boundary=boundary, resource_must_allow=must_allow
    )
    return None if decision.allowed else decision.message(context)


# -- the request check -----------------------------------------------------------------------------------


def _table(name: str, account: str, region: str) -> Any:
    """The table ``name`` (a name in ``account``, or an ARN of any account's table) names; None when there is none."""
    from moto.dynamodb.models import dynamodb_backends

    from mlops_local.dynamodb import table_location

    owner, owner_region = table_location(name, account, region)
    try:
        return dynamodb_backends[owner][owner_region].get_table(name)
    except Exception:
        return None


def _table_key(account: str, region: str) -> Any:
    def key_of(table: str) -> str | None:
        found = _table(table, account, region)
        return str(found.hash_key_attr) if found is not None else None

    return key_of


def _cross_account_table_keys(authorizations_: list[Authorization], account: str, region: str) -> list[Authorization]:
    """A table of another account encrypted with a customer managed key: DynamoDB uses the key on the caller's
    behalf, so the caller needs ``kms:Decrypt`` on it through DynamoDB, which the key's policy must allow (the
    caller's account is not the key's). Same-account requests are not checked for the table's key (the emulator's
    rule so far)."""
    from moto.kms.models import kms_backends

    extra: list[Authorization] = []
    for arn in dict.fromkeys(a.resource for a in authorizations_ if ":dynamodb:" in a.resource):
        table = _table(arn.split("/index/", 1)[0], account, region)
        if table is None or table.account_id == account:
            continue
        key_id = (getattr(table, "sse_specification", None) or {}).get("KMSMasterKeyId")
        if not key_id:
            continue
        try:
            backend = kms_backends[table.account_id][table.region_name]
            key_arn = backend.keys[backend.any_id_to_key_id(str(key_id))].arn
        except Exception:  # a key that no longer exists: DynamoDB itself would fail the request
            LOG.debug("KMS key %s of table %s not found", key_id, arn)
            continue
        keys = {
            "kms:viaservice": (f"dynamodb.{table.region_name}.amazonaws.com",),
            "kms:calleraccount": (account,),
            "aws:viaawsservice": ("true",),
        }
        extra.append(Authorization(action="kms:Decrypt", resource=key_arn, keys=keys, known=frozenset(keys)))
    return extra


def _s3_operation(request: ApiRequest) -> tuple[str, dict[str, Any], list[Authorization]]:
    """S3's IAM action (moto names it while routing), its bucket and key, and the authorizations that replace or
    extend the action's own: a multi-object delete is authorized per key; a copy needs its source readable."""
    response = request.response
    data = getattr(response, "data", {}) or {}
    operation = str(data.get("Action") or "")
    target = request.resource.removeprefix("arn:aws:s3:::")
    bucket, _, key = target.partition("/")
    params: dict[str, Any] = {"BucketName": bucket} if bucket and bucket != "*" else {}
    if key:
        params["ObjectName"] = key
    if operation == "ListBucket" and not key:  # ListObjects(V2): s3:prefix is the request's prefix parameter
        prefix = (getattr(response, "querystring", {}) or {}).get("prefix")
        if prefix:
            params["Prefix"] = prefix[0] if isinstance(prefix, list) else str(prefix)
    headers = getattr(response, "headers", {}) or {}
    if operation == "DeleteObject" and not key and bucket:
        body = getattr(response, "body", b"") or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        names = [unescape(name) for name in re.findall(r"<Key>(.*?)</Key>", text, re.DOTALL)]
        return (
            operation,
            params,
            [Authorization(action="s3:DeleteObject", resource=f"arn:aws:s3:::{bucket}/{name}") for name in names],
        )
    extra: list[Authorization] = []
    source = headers.get("x-amz-copy-source")
    if source and operation == "PutObject" and key:
        source = unquote(source.decode() if isinstance(source, bytes) else str(source)).lstrip("/").split("?")[0]
        extra.append(Authorization(action="s3:GetObject", resource=f"arn:aws:s3:::{source}"))
        source_bucket, _, source_key = source.partition("/")
        extra += _sse_kms(request, "kms:Decrypt", _object_key_id(source_bucket, source_key), source_bucket)
    if operation == "PutObject" and key:
        extra += _sse_kms(request, "kms:GenerateDataKey", _new_object_key_id(bucket, headers), bucket)
        if "uploadId" in (getattr(response, "querystring", {}) or {}):
            extra += _sse_kms(request, "kms:Decrypt", _new_object_key_id(bucket, headers), bucket)
    if operation == "GetObject" and key and str(getattr(response, "method", "GET")).upper() != "HEAD":
        extra += _sse_kms(request, "kms:Decrypt", _object_key_id(bucket, key), bucket)
    return operation, params, extra


# -- S3 objects encrypted with KMS keys: S3 calls KMS as the caller ----------------------------------------------


def _s3_backend(bucket: str) -> Any:
    """The S3 backend of the account that owns ``bucket``."""
    from moto.s3.models import s3_backends

    return s3_backends[bucket_account(bucket)]["aws"]


def _object_key_id(bucket: str, key: str) -> str | None:
    """The KMS key an existing object is encrypted with (None: not SSE-KMS, or no such object)."""
    try:
        found = _s3_backend(bucket).get_object(bucket, key)
    except Exception:
        return None
    if found is None or getattr(found, "encryption", None) != "aws:kms":
        return None
    return str(found.kms_key_id or "alias/aws/s3")


def _new_object_key_id(bucket: str, headers: Any) -> str | None:
    """The KMS key a new object will be encrypted with: the request's SSE headers, else the bucket's default."""
    encryption = headers.get("x-amz-server-side-encryption")
    key_id = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    if not encryption:
        try:
            rule = (_s3_backend(bucket).buckets[bucket].encryption or {}).get("Rule", {})
        except Exception:
            return None
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        encryption, key_id = default.get("SSEAlgorithm"), key_id or default.get("KMSMasterKeyID")
    if encryption not in ("aws:kms", "aws:kms:dsse"):
        return None
    return str(key_id or "alias/aws/s3")


def _sse_kms(request: ApiRequest, action: str, key_id: str | None, bucket: str) -> list[Authorization]:
    """SSE-KMS: S3 asks KMS on the caller's behalf, so the caller needs ``action`` on the key, through S3
    (Amazon S3 user guide, "Using server-side encryption with AWS KMS keys": kms:GenerateDataKey to upload,
    kms:Decrypt to download and for multipart uploads). The key is the bucket owner's unless its ARN names
    another account; for a caller of another account that key's policy must allow too."""
    if not key_id:
        return []
    from moto.kms.models import kms_backends

    region = request.region or "us-east-1"
    account = request.account or _default_account("")
    key_account = key_id.split(":")[4] if key_id.startswith("arn:") else bucket_account(bucket)
    try:
        backend = kms_backends[key_account][region]
        arn = backend.keys[backend.any_id_to_key_id(key_id)].arn
    except Exception:
        return []  # S3's own managed key (aws/s3) before first use: its key policy allows the account's S3 use
    keys = {
        "kms:viaservice": (f"s3.{region}.amazonaws.com",),
        "kms:calleraccount": (account,),
        "aws:viaawsservice": ("true",),  # S3 calls KMS with the caller's forward access session
    }
    return [Authorization(action=action, resource=arn, keys=keys, known=frozenset(keys))]


def _kms_params(params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
    """KMS names its key by id, ARN, alias or alias ARN, or (Decrypt) not at all: the key ARN it acts on."""
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    out = dict(params)
    try:
        if params.get("KeyId"):
            key_id = backend.any_id_to_key_id(str(params["KeyId"]))
            out["KeyId"] = backend.keys[key_id].arn
        elif params.get("CiphertextBlob"):
            from moto.kms.utils import _deserialize_ciphertext_blob

            blob = params["CiphertextBlob"]
            key_id = _deserialize_ciphertext_blob(blob if isinstance(blob, bytes) else str(blob).encode()).key_id
            out["KeyId"] = backend.keys[key_id.decode() if isinstance(key_id, bytes) else key_id].arn
    except Exception as exc:  # an unknown key: KMS itself reports NotFound
        LOG.debug("KMS key of %s not resolved: %s", sorted(params), exc)
    return out


def _stack_arn(name: str, account: str, region: str) -> str:
    """A stack named by name, by its ARN when it exists (its ARN carries the id IAM evaluates)."""
    if name.startswith("arn:"):
        return name
    from moto.cloudformation.models import cloudformation_backends

    for stack in cloudformation_backends[account][region].stacks.values():
        if stack.name == name and stack.status != "DELETE_COMPLETE":
            return str(stack.stack_id)
    return name


def request_authorizations(request: ApiRequest) -> list[Authorization]:
    """What ``request`` must be allowed to do. Raises UnknownActionError / UnresolvedResourceError."""
    account, region = request.account or _default_account(""), request.region or "us-east-1"
    if request.service == "s3":
        operation, params, extra = _s3_operation(request)
        if not operation:
            raise UnknownActionError("moto named no IAM action for this S3 request")
        if operation == "DeleteObject" and "ObjectName" not in params:
            return extra or []  # DeleteObjects: every key it deletes
        return [*authorizations("s3", operation, params, region=region, account=account), *(extra or [])]
    prefix = service_prefix(request.service)
    params = request.params()
    if prefix == "kms":
        params = _kms_params(params, account, region)
    if prefix == "cloudformation" and params.get("StackName"):
        params = {**params, "StackName": _stack_arn(str(params["StackName"]), account, region)}
    found = authorizations(
        prefix, request.action, params, region=region, account=account, table_key=_table_key(account, region)
    )
    if prefix == "dynamodb":
        found += _cross_account_table_keys(found, account, region)
    return found


def check(request: ApiRequest) -> None:
    """The request check: evaluate a request made as a role; pass the administrator's."""
    caller = identity.of_request(request.headers, request.access_key, request.account)
    if caller is None:
        return
    principal = Principal("role", caller.role_arn, caller.account, caller.session_name)
    try:
        for authorization in request_authorizations(request):
            message = decide(principal, authorization, request.region or "us-east-1")
            if message is not None:
                raise denial(request.service, message)
    except (UnknownActionError, UnresolvedResourceError, UnsupportedPolicyError) as exc:
        LOG.warning("IAM cannot evaluate a %s request: %s", request.service, exc)
        raise ApiError(UNSUPPORTED_CODE, f"the local emulator cannot evaluate IAM for this request: {exc}") from exc


# -- authorizations the emulator makes for AWS services --------------------------------------------------------


def authorize_role(
    role_arn: str | None, session_name: str, service: str, operation: str, params: Mapping[str, Any], *, region: str
) -> None:
    """Raise AccessDeniedError unless ``role_arn`` may make the request ``service``/``operation`` with ``params``
    (what a service does with a role it was given: a pipeline creating its jobs, a schedule invoking its target).
    A missing role is denied: the service could not assume it."""
    if not role_arn:
        raise AccessDeniedError(f"no role to make {service} {operation} with")
    account = role_arn.split(":")[4]
    principal = Principal("role", role_arn, account, session_name)
    prefix = service_prefix(service)
    try:
        found = authorizations(prefix, operation, params, region=region, account=account)
    except (UnknownActionError, UnresolvedResourceError) as exc:
        raise AccessDeniedError(f"the local emulator cannot evaluate IAM for {service} {operation}: {exc}") from exc
    for authorization in found:
        message = decide(principal, authorization, region)
        if message is not None:
            raise AccessDeniedError(message)


def authorize_service(
    service_principal: str,
    action: str,
    resource: str,
    *,
    region: str,
    source_arn: str | None = None,
    source_account: str | None = None,
) -> None:
    """Raise AccessDeniedError unless the resource's policy lets ``service_principal`` (``events.amazonaws.com``)
    do ``action`` on ``resource`` for the source ``source_arn`` (an EventBridge rule invoking a Lambda function)."""
    account = source_account or resource.split(":")[4]
    principal = Principal("service", service_principal, account)
    keys = {
        "aws:sourcearn": (source_arn,) if source_arn else (),
        "aws:sourceaccount": (account,),
        "aws:sourceowner": (account,),  # the older name SNS's default topic policy uses
    }
    authorization = Authorization(action=action, resource=resource)
    message = decide(principal, authorization, region, {k: v for k, v in keys.items() if v})
    if message is not None:
        raise AccessDeniedError(message)


# -- the patch family ----------------------------------------------------------------------------------------


def _task_role(original: Any) -> Any:
    def eval_execution(task: Any, env: Any) -> None:
        role = getattr(getattr(env, "aws_execution_details", None), "role_arn", None)
        if not role:
            return original(task, env)
        with identity.acting_as(role, _session_of(env)):
            return original(task, env)

    return eval_execution


def _session_of(env: Any) -> str:
    """Step Functions names its role session after the execution (a 32-character id on AWS)."""
    try:
        execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        return str(execution_arn).rsplit(":", 1)[-1][:64]
    except Exception:
        return "StepFunctions"


def attach_managed_policies(role: Any, arns: list[str], account_id: str, region: str) -> None:
    """Make ``arns`` the role's managed policies (AWS managed ones from the documents moto ships)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    backend = _iam_backend(account_id)
    for arn in list(role.managed_policies):
        if arn not in arns:
            backend.detach_role_policy(arn, role.name)
    for arn in arns:
        if arn not in backend.managed_policies and arn.startswith("arn:aws:iam::aws:policy/"):
            data = json.loads(aws_managed_policies_data).get(arn.rsplit("/", 1)[-1])
            if data is not None:
                policy = AWSManagedPolicy.from_data(arn.rsplit("/", 1)[-1], account_id, region, data)
                backend.managed_policies[policy.arn] = policy
        if arn not in role.managed_policies:
            backend.attach_role_policy(arn, role.name)


def _cloudformation_role(original_create: Any, original_update: Any) -> tuple[Any, Any]:
    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        role = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        arns = list(cloudformation_json.get("Properties", {}).get("ManagedPolicyArns") or [])
        attach_managed_policies(role, arns, account_id, region_name)
        return role

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        role = original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        arns = list(cloudformation_json.get("Properties", {}).get("ManagedPolicyArns") or [])
        attach_managed_policies(role, arns, account_id, region_name)
        return role

    return classmethod(create), classmethod(update)


def apply(patcher: Patcher) -> None:
    identity.forget_credentials()
    identity.install_header_handler()
    patcher.set_attribute(identity, "ACTIVE", True)
    # The check list is swapped, not appended to, so stopping the emulator drops the check with the patches.
    patcher.set_attribute(requests, "_CHECKS", [*requests._CHECKS, (CHECK_NAME, check)])
    points = points_by_name(PATCH_POINTS)
    for name in ("iam-sfn-service-task-role", "iam-sfn-lambda-task-role"):
        patcher.replace(points[name], _task_role(points[name].original()))
    create, update = _cloudformation_role(
        points["iam-cfn-role-managed-policies"].original(), points["iam-cfn-role-managed-policies-update"].original()
    )
    patcher.replace(points["iam-cfn-role-managed-policies"], create)
    patcher.replace(points["iam-cfn-role-managed-policies-update"], update)


# -- EventBridge and Scheduler targets ------------------------------------------------------------------------

# What invoking a target is, per target service: the API call a role makes, and the action a resource policy grants.
_TARGET_CALLS = {
    "lambda": ("lambda", "Invoke", "FunctionName", "lambda:InvokeFunction"),
    "states": ("stepfunctions", "StartExecution", "stateMachineArn", "states:StartExecution"),
    "sns": ("sns", "Publish", "TopicArn", "sns:Publish"),
    "sqs": ("sqs", "SendMessage", "QueueUrl", "sqs:SendMessage"),
}


def authorize_target(target_arn: str, *, via: str, role_arn: str | None = None, source_arn: str | None = None) -> None:
    """Raise AccessDeniedError unless ``via`` (``events`` or ``scheduler``) may deliver to ``target_arn``.

    EventBridge rules invoke Lambda functions, SNS topics and SQS queues through the target's resource policy
    (``events.amazonaws.com`` with the rule as ``aws:SourceArn``) and start state machines as the target's
    ``RoleArn``; EventBridge Scheduler always uses the schedule target's ``RoleArn``. (EventBridge user guide,
    "Using resource-based policies for Amazon EventBridge" and "Amazon EventBridge targets"; EventBridge Scheduler
    user guide, "Set up the execution role".)
    """
    service, region, account = target_arn.split(":")[2], target_arn.split(":")[3], target_arn.split(":")[4]
    if service not in _TARGET_CALLS:
        return
    api, operation, parameter, action = _TARGET_CALLS[service]
    if via == "events" and service != "states":
        authorize_service("events.amazonaws.com", action, target_arn, region=region, source_arn=source_arn)
        return
    if service == "sqs":
        name = target_arn.rsplit(":", 1)[-1]
        value = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    else:
        value = target_arn
    session = "EventBridgeScheduler" if via == "scheduler" else "EventBridge"
    authorize_role(role_arn, session, api, operation, {parameter: value}, region=region)


# -- SageMaker jobs ------------------------------------------------------------------------------------------

_JOB_CALLS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
}


@contextlib.contextmanager
def pipeline_step_role(
    pipeline_role: str | None, step_type: str, arguments: Mapping[str, Any], job_name: str, *, region: str
) -> Iterator[None]:
    """Run a pipeline step as SageMaker Pipelines runs it.

    A Processing or Training step is a job the pipeline creates with its own role (so that role needs
    ``sagemaker:Create...Job`` on the job and ``iam:PassRole`` on the step's role) and that then runs as the
    step's ``RoleArn``; other steps (RegisterModel's CreateModelPackage) are calls of the pipeline's role. Raises
    AccessDeniedError before the job starts when the pipeline's role may not create it. (CreatePipeline API
    reference, ``RoleArn``: "the role used by the pipeline to access and create resources".)
    """
    if step_type not in _JOB_CALLS:
        yield
        return
    operation, name_parameter = _JOB_CALLS[step_type]
    authorize_role(
        pipeline_role, "SageMaker", "sagemaker", operation, {**arguments, name_parameter: job_name}, region=region
    )
    with identity.acting_as(arguments.get("RoleArn"), "SageMaker"):
        yield


def permitted_targets(
    targets: list[dict[str, Any]], rule_arn: str
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The rule's targets EventBridge may deliver to, and the others with the denial (see authorize_target)."""
    permitted, denied = [], []
    for target in targets:
        try:
            authorize_target(target["Arn"], via="events", role_arn=target.get("RoleArn"), source_arn=rule_arn)
            permitted.append(target)
        except AccessDeniedError as exc:
            denied.append((target, str(exc)))
    return permitted, denied
