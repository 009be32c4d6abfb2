"""Model registry behaviours moto lacks: lifecycle stages, partial updates and state-change events.

* ``ModelLifeCycle`` (Stage, StageStatus, StageDescription) is kept on CreateModelPackage and
  UpdateModelPackage and returned by DescribeModelPackage (moto drops it).
* UpdateModelPackage changes only the fields a request carries, merging ``CustomerMetadataProperties``, as
  the service does (moto overwrites every field not passed, so approving a package wiped its metadata).
* DeleteModelPackage (missing from moto) deletes a version by ARN (or an unversioned package by name), so a
  registry can be emptied before its group is deleted.
* Every create and update emits the ``SageMaker Model Package State Change`` event on the default bus, its
  detail mirroring DescribeModelPackage, so EventBridge rules on approvals fire as on AWS.
* A call that names a group or version by the ARN of another account acts in that account's registry (moto looks in
  the caller's): DescribeModelPackage, DescribeModelPackageGroup, ListModelPackages (ModelPackageGroupName),
  UpdateModelPackage and CreateModelPackage (ModelPackageGroupName), so an environment account reads (and, where
  the group's policy lets it, updates or registers) the versions the tooling account shares; the request check
  has already required the caller's identity policy and the group's resource policy to allow it.
  DescribeModelPackageGroup and CreateModelPackage also take the group's ARN in its own account (moto only a
  name).
* PutModelPackageGroupPolicy, GetModelPackageGroupPolicy and DeleteModelPackageGroupPolicy (missing from moto) keep a
  group's resource policy, which the IAM evaluation reads (``group.resource_policy``, as CloudFormation's
  ``ModelPackageGroupPolicy`` sets it). They take a group name only (their API models allow no ARN): a group's
  policy is managed from its own account.
* ``CreatedBy`` and ``LastModifiedBy`` name the caller as AWS verified it (``IamIdentity``: the role session of a
  request made as a role, otherwise the caller STS reports for the request's credentials), not moto's made-up
  Studio user profile: the approval service trusts ``LastModifiedBy`` as the reviewer's identity.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from mlops_local.patching import PatchPoint

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="sagemaker-create-model-package",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.create_model_package",
        signature="(self) -> moto.core.responses.ActionResult",
        why="keep ModelLifeCycle and emit the model package state change event",
    ),
    PatchPoint(
        name="sagemaker-update-model-package",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.update_model_package",
        signature="(self) -> moto.core.responses.ActionResult",
        why="update only the fields passed (moto wipes the rest), keep ModelLifeCycle, emit the event",
    ),
    PatchPoint(
        name="sagemaker-describe-model-package",
        module="moto.sagemaker.models",
        attribute="ModelPackage.gen_response_object",
        signature="(self) -> dict[str, typing.Any]",
        why="return ModelLifeCycle in DescribeModelPackage and ListModelPackages",
    ),
    PatchPoint(
        name="sagemaker-describe-model-package-request",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.describe_model_package",
        signature="(self) -> moto.core.responses.ActionResult",
        why="describe a version shared by another account (its ARN names the account) in that account's registry",
    ),
    PatchPoint(
        name="sagemaker-describe-model-package-group-request",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.describe_model_package_group",
        signature="(self) -> moto.core.responses.ActionResult",
        why="describe a group named by its ARN, in the account the ARN names (moto takes only a name, its own)",
    ),
    PatchPoint(
        name="sagemaker-list-model-packages-request",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.list_model_packages",
        signature="(self) -> moto.core.responses.ActionResult",
        why="list the versions of a group of another account named by its ARN, in that account's registry",
    ),
    PatchPoint(
        name="sagemaker-put-model-package-group-policy",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.put_model_package_group_policy",
        signature="",
        why="moto lacks PutModelPackageGroupPolicy; add it (the IAM evaluation reads the policy)",
        adds=True,
    ),
    PatchPoint(
        name="sagemaker-get-model-package-group-policy",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.get_model_package_group_policy",
        signature="",
        why="moto lacks GetModelPackageGroupPolicy; add it",
        adds=True,
    ),
    PatchPoint(
        name="sagemaker-delete-model-package-group-policy",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.delete_model_package_group_policy",
        signature="",
        why="moto lacks DeleteModelPackageGroupPolicy; add it",
        adds=True,
    ),
    PatchPoint(
        name="sagemaker-delete-model-package",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.delete_model_package",
        signature="",
        why="moto lacks DeleteModelPackage; add it",
        adds=True,
    ),
)

STATE_CHANGE = "SageMaker Model Package State Change"


def _emit_state_change(account_id: str, region: str, package: Any) -> None:
    from moto.events.models import events_backends

    detail = package.gen_response_object()
    events_backends[account_id][region].put_events(
        [
            {
                "Source": "aws.sagemaker",
                "DetailType": STATE_CHANGE,
                "Detail": json.dumps(detail, default=str),
                "Resources": [package.arn],
            }
        ]
    )


def _owner(response: Any, name: str) -> tuple[str, str]:
    """The account and region a group or version ARN names; a name is the caller's."""
    if name.startswith("arn:") and name.count(":") >= 5:
        parts = name.split(":")
        return parts[4], parts[3] or response.region
    return str(response.current_account), str(response.region)


@contextlib.contextmanager
def in_owner_account(response: Any, name: str) -> Iterator[None]:
    """Serve ``response``'s request from the registry of the account (and region) ``name``'s ARN names, keeping
    the caller's account as ``response.caller_account`` (who the caller is does not change)."""
    account, region = _owner(response, name)
    saved = response.current_account, response.region
    response.caller_account = getattr(response, "caller_account", None) or saved[0]
    response.current_account, response.region = account, region
    try:
        yield
    finally:
        response.current_account, response.region = saved


@contextlib.contextmanager
def _group_named(response: Any, group: str) -> Iterator[None]:
    """Within the block ``response``'s ModelPackageGroupName is the group's name, not its ARN (moto looks groups
    up by name only)."""
    if not group.startswith("arn:"):
        yield
        return
    original = response._get_param

    def get_param(name: str, if_none: Any = None) -> Any:
        return group.rsplit("/", 1)[-1] if name == "ModelPackageGroupName" else original(name, if_none)

    response._get_param = get_param
    try:
        yield
    finally:
        response._get_param = original


def _group(response: Any, name: str) -> Any:
    """The model package group ``name`` (a name or an ARN of the registry ``response`` serves from), or
    ValidationException as moto's DescribeModelPackageGroup raises it."""
    return response.sagemaker_backend.describe_model_package_group(model_package_group_name=name.rsplit("/", 1)[-1])


def _checked_policy(document: Any) -> str:
    """A resource policy as SageMaker stores it: a JSON object with a Statement; ValidationException otherwise."""
    from moto.sagemaker.exceptions import ValidationError

    try:
        parsed = json.loads(document) if isinstance(document, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not parsed.get("Statement"):
        raise ValidationError("ResourcePolicy must be a JSON policy document with a Statement")
    return str(document)


def caller_context(response: Any) -> dict[str, Any]:
    """The ``UserContext`` SageMaker records for the caller of ``response``'s request: ``{"IamIdentity": {"Arn",
    "PrincipalId"}}`` with the assumed-role session ARN of a role's request, else what STS GetCallerIdentity
    answers for the request's credentials."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from mlops_local.iam import identity

    account = str(getattr(response, "caller_account", None) or response.current_account)
    access_key = str(getattr(response, "access_key", "") or "")
    caller = identity.of_request(getattr(response, "headers", {}), access_key, account)
    if caller is not None:
        role_name = caller.role_arn.rsplit("/", 1)[-1]
        roles = iam_backends[caller.account]["aws"].roles.values()
        role_id = next((r.id for r in roles if r.arn == caller.role_arn), "AROA" + role_name.upper()[:17])
        arn = f"arn:aws:sts::{caller.account}:assumed-role/{role_name}/{caller.session_name}"
        return {"IamIdentity": {"Arn": arn, "PrincipalId": f"{role_id}:{caller.session_name}"}}
    user_id, arn, _ = sts_backends[account]["aws"].get_caller_identity(access_key, response.region)
    return {"IamIdentity": {"Arn": arn, "PrincipalId": user_id}}


def _update(package: Any, param: Callable[[str], Any]) -> None:
    """Apply UpdateModelPackage's fields to ``package``: each one given is set, the rest are left as they are."""
    status = param("ModelApprovalStatus")
    if status is not None:
        package.set_model_approval_status(status)
    description = param("ApprovalDescription")
    if description is not None:
        package.approval_description = description
    properties = param("CustomerMetadataProperties")
    if properties:
        package.customer_metadata_properties = {**(package.customer_metadata_properties or {}), **properties}
    for key in param("CustomerMetadataPropertiesToRemove") or []:
        (package.customer_metadata_properties or {}).pop(key, None)
    additions = param("AdditionalInferenceSpecificationsToAdd")
    if additions:
        package.add_additional_inference_specifications(additions)
    life_cycle = param("ModelLifeCycle")
    if life_cycle is not None:
        package.model_life_cycle = life_cycle


def apply(patcher: Any) -> None:
    from moto.sagemaker.exceptions import ValidationError

    points = {p.name: p for p in PATCH_POINTS}
    original_create = points["sagemaker-create-model-package"].original()
    original_describe = points["sagemaker-describe-model-package"].original()

    def backend_and_package(response: Any, arn_or_name: str) -> Any:
        backend = response.sagemaker_backend
        key = backend.model_package_name_mapping.get(arn_or_name, arn_or_name)
        package = backend.model_packages.get(key)
        if package is None:
            raise ValidationError(f"Model package {arn_or_name} not found")
        return package

    def create_model_package(response: Any) -> Any:
        created_by = caller_context(response)
        # A version registered into another account's group by its ARN ("Register a Model Version from a Different
        # Account") is that account's: created in its registry, announced on its bus.
        group = str(response._get_param("ModelPackageGroupName") or "")
        with in_owner_account(response, group), _group_named(response, group):
            result = original_create(response)
            package = backend_and_package(response, result.result["ModelPackageArn"])
            package.model_life_cycle = response._get_param("ModelLifeCycle")
            package.created_by = package.last_modified_by = created_by
            _emit_state_change(response.current_account, response.region, package)
        return result

    def update_model_package(response: Any) -> Any:
        from moto.core.responses import ActionResult

        arn = str(response._get_param("ModelPackageArn") or "")
        modified_by = caller_context(response)
        with in_owner_account(response, arn):
            package = backend_and_package(response, arn)
            _update(package, response._get_param)
            package.modifications_done()
            package.last_modified_by = modified_by
            # The state change is the registry's: it goes to the default bus of the account that owns the version.
            _emit_state_change(response.current_account, response.region, package)
        return ActionResult({"ModelPackageArn": package.arn})

    def describe(package: Any) -> dict[str, Any]:
        described: dict[str, Any] = original_describe(package)
        life_cycle = getattr(package, "model_life_cycle", None)
        if life_cycle:
            described["ModelLifeCycle"] = life_cycle
        return described

    def delete_model_package(response: Any) -> Any:
        from moto.core.responses import ActionResult

        backend = response.sagemaker_backend
        package = backend_and_package(response, response._get_param("ModelPackageName"))
        backend.model_packages.pop(package.arn, None)
        for name in [n for n, arn in backend.model_package_name_mapping.items() if arn == package.arn]:
            del backend.model_package_name_mapping[name]
        return ActionResult({})

    patcher.replace(points["sagemaker-create-model-package"], create_model_package)
    patcher.replace(points["sagemaker-delete-model-package"], delete_model_package)
    patcher.replace(points["sagemaker-update-model-package"], update_model_package)
    patcher.replace(points["sagemaker-describe-model-package"], describe)
    _apply_sharing(patcher, points)


def _in_owner_account_of(original: Any, parameter: str) -> Any:
    """``original`` (a response method) served from the registry of the account its ``parameter``'s ARN names."""

    def handler(response: Any) -> Any:
        with in_owner_account(response, str(response._get_param(parameter) or "")):
            return original(response)

    return handler


def _describe_model_package_group(response: Any) -> Any:
    from moto.core.responses import ActionResult

    name = str(response._get_param("ModelPackageGroupName") or "")
    with in_owner_account(response, name):
        return ActionResult(_group(response, name).gen_response_object())


def _put_model_package_group_policy(response: Any) -> Any:
    from moto.core.responses import ActionResult

    group = _group(response, str(response._get_param("ModelPackageGroupName") or ""))
    group.resource_policy = _checked_policy(response._get_param("ResourcePolicy"))
    return ActionResult({"ModelPackageGroupArn": group.arn})


def _group_with_policy(response: Any) -> Any:
    """The request's group, or ValidationException when it has no resource policy. (What SageMaker answers then
    is not in its API reference; the emulator's message names the group.)"""
    from moto.sagemaker.exceptions import ValidationError

    group = _group(response, str(response._get_param("ModelPackageGroupName") or ""))
    if not getattr(group, "resource_policy", None):
        raise ValidationError(f"ModelPackageGroup {group.arn} has no resource policy")
    return group


def _get_model_package_group_policy(response: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult({"ResourcePolicy": _group_with_policy(response).resource_policy})


def _delete_model_package_group_policy(response: Any) -> Any:
    from moto.core.responses import ActionResult

    _group_with_policy(response).resource_policy = None
    return ActionResult({})


def _apply_sharing(patcher: Any, points: dict[str, PatchPoint]) -> None:
    """The calls an environment account makes on the tooling account's registry, and the group policy calls."""
    describe = points["sagemaker-describe-model-package-request"]
    listing = points["sagemaker-list-model-packages-request"]
    patcher.replace(describe, _in_owner_account_of(describe.original(), "ModelPackageName"))
    patcher.replace(listing, _in_owner_account_of(listing.original(), "ModelPackageGroupName"))
    patcher.replace(points["sagemaker-describe-model-package-group-request"], _describe_model_package_group)
    patcher.replace(points["sagemaker-put-model-package-group-policy"], _put_model_package_group_policy)
    patcher.replace(points["sagemaker-get-model-package-group-policy"], _get_model_package_group_policy)
    patcher.replace(points["sagemaker-delete-model-package-group-policy"], _delete_model_package_group_policy)
