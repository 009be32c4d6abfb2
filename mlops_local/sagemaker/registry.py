"""Model registry behaviours moto lacks: lifecycle stages, partial updates and state-change events.

* ``ModelLifeCycle`` (Stage, StageStatus, StageDescription) is kept on CreateModelPackage and
  UpdateModelPackage and returned by DescribeModelPackage (moto drops it).
* UpdateModelPackage changes only the fields a request carries, merging ``CustomerMetadataProperties``, as
  the service does (moto overwrites every field not passed, so approving a package wiped its metadata).
* DeleteModelPackage (missing from moto) deletes a version by ARN (or an unversioned package by name), so a
  registry can be emptied before its group is deleted.
* Every create and update emits the ``SageMaker Model Package State Change`` event on the default bus, its
  detail mirroring DescribeModelPackage, so EventBridge rules on approvals fire as on AWS.
* DescribeModelPackage of a version ARN of another account describes it in that account's registry (moto looks in
  the caller's), so an environment account reads the versions the tooling account shares; the request check has
  already required the caller's identity policy and the group's resource policy to allow it.
* ``CreatedBy`` and ``LastModifiedBy`` name the caller as AWS verified it (``IamIdentity``: the role session of a
  request made as a role, otherwise the caller STS reports for the request's credentials), not moto's made-up
  Studio user profile: the approval service trusts ``LastModifiedBy`` as the reviewer's identity.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


def caller_context(response: Any) -> dict[str, Any]:
    """The ``UserContext`` SageMaker records for the caller of ``response``'s request: ``{"IamIdentity": {"Arn",
    "PrincipalId"}}`` with the assumed-role session ARN of a role's request, else what STS GetCallerIdentity
    answers for the request's credentials."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from mlops_local.iam import identity

    account = str(response.current_account)
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
        result = original_create(response)
        package = backend_and_package(response, result.result["ModelPackageArn"])
        package.model_life_cycle = response._get_param("ModelLifeCycle")
        package.created_by = package.last_modified_by = caller_context(response)
        _emit_state_change(response.current_account, response.region, package)
        return result

    def update_model_package(response: Any) -> Any:
        from moto.core.responses import ActionResult

        package = backend_and_package(response, response._get_param("ModelPackageArn"))
        _update(package, response._get_param)
        package.modifications_done()
        package.last_modified_by = caller_context(response)
        _emit_state_change(response.current_account, response.region, package)
        return ActionResult({"ModelPackageArn": package.arn})

    def describe(package: Any) -> dict[str, Any]:
        described: dict[str, Any] = original_describe(package)
        life_cycle = getattr(package, "model_life_cycle", None)
        if life_cycle:
            described["ModelLifeCycle"] = life_cycle
        return described

    original_describe_request = points["sagemaker-describe-model-package-request"].original()

    def describe_model_package(response: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.sagemaker.models import sagemaker_backends

        name = str(response._get_param("ModelPackageName") or "")
        owner = name.split(":")[4] if name.startswith("arn:") and name.count(":") >= 5 else ""
        if not owner or owner == response.current_account:
            return original_describe_request(response)
        region = name.split(":")[3] or response.region
        package = sagemaker_backends[owner][region].describe_model_package(model_package_name=name)
        return ActionResult(package.gen_response_object())

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
    patcher.replace(points["sagemaker-describe-model-package-request"], describe_model_package)
