"""Deleting stacks on the emulator (what ``cdk destroy`` does), and custom resources (``Custom::*`` backed by a
Lambda function), as AWS runs them.

moto invokes the function on Create only, on a thread, with a ResponseURL on a port nothing listens on in-process;
it never sends Delete, and it deletes a stack's resources in no particular order (the function could be gone
before its resource). Here:

* **Create** invokes the function (in-process, as its role) with a ResponseURL on the emulator's HTTP endpoint
  (:meth:`Emulator.job_endpoint`), where moto's ``cfnresponse`` route receives the function's PUT. The answer is
  read back by request id: SUCCESS gives the resource its Data and physical id, FAILED fails the stack with the
  function's Reason.
* **Delete**: a stack's custom resources are deleted first, each with a Delete request carrying its physical id and
  properties (CloudFormation deletes in reverse dependency order, and a custom resource depends on its function);
  a FAILED answer leaves the stack ``DELETE_FAILED`` with the Reason in its events, nothing else deleted, as AWS does.
* **Order**: the other resources are deleted in reverse dependency order (Ref, Fn::GetAtt, Fn::Sub, DependsOn), as
  CloudFormation does; moto deleted them in set order and retried failures, so a Glue table went after its database
  and failed. moto's own passes still run for whatever this order could not delete.
* **REST APIs** (``AWS::ApiGateway::RestApi``) and **managed policies** (``AWS::IAM::ManagedPolicy``, detached
  first) are deleted with their stack; moto has no delete for either: the APIs stayed, and the roles a policy is
  attached to could never be deleted (DeleteConflict).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="cfn-custom-resource-create",
        module="moto.cloudformation.custom_model",
        attribute="CustomModel.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: str, cloudformation_json: dict[str, typing.Any], account_id: str, region_name: str, "
            "**kwargs: Any) -> 'CustomModel'"
        ),
        why=(
            "moto invokes the function on a thread with a ResponseURL nothing serves in-process, and keeps neither "
            "the properties nor the physical id a Delete request needs"
        ),
    ),
    PatchPoint(
        name="cfn-custom-resource-answer",
        module="moto.cloudformation.responses",
        attribute="CloudFormationResponse.process_cfn_response",
        signature="(self) -> tuple[int, dict[str, int], str]",
        why="moto ignores a FAILED answer and the PhysicalResourceId; keep every answer by request id",
    ),
    PatchPoint(
        name="cfn-custom-resource-delete",
        module="moto.cloudformation.models",
        attribute="CloudFormationBackend.delete_stack",
        signature="(self, name_or_stack_id: 'str') -> 'None'",
        why=(
            "moto never sends custom resources their Delete request and deletes resources in no dependency order; "
            "a failed delete loses the stack instead of leaving it DELETE_FAILED"
        ),
    ),
    PatchPoint(
        name="cfn-delete-order",
        module="moto.cloudformation.parsing",
        attribute="ResourceMap.delete",
        signature="(self) -> None",
        why="moto deletes a stack's resources in set order, not in reverse dependency order as CloudFormation does",
    ),
    PatchPoint(
        name="cfn-rest-api-delete",
        module="moto.apigateway.models",
        attribute="RestAPI.delete",
        signature="",
        why="moto has no delete for AWS::ApiGateway::RestApi: a deleted stack left its APIs behind",
        adds=True,
    ),
    PatchPoint(
        name="cfn-managed-policy-delete",
        module="moto.iam.models",
        attribute="ManagedPolicy.delete",
        signature="",
        why="moto cannot delete a stack's managed policy, so the roles it is attached to are never deleted",
        adds=True,
    ),
)

_answers: dict[str, dict[str, Any]] = {}
_answers_lock = threading.Lock()


class CustomResourceError(RuntimeError):
    """The function answered FAILED, or did not answer."""


def _answer(request_id: str) -> dict[str, Any]:
    with _answers_lock:
        answer = _answers.pop(request_id, None)
    if answer is None:
        raise CustomResourceError("the function sent no response to the ResponseURL")
    return answer


def _request(
    resource: Any, request_type: str, response_url: str, stack_id: str, physical_id: str | None
) -> dict[str, Any]:
    """Invoke the resource's function with one request and return its answer; raises CustomResourceError on a
    FAILED answer (with its Reason) or on a function error."""
    from moto.awslambda.utils import get_backend as get_lambda_backend

    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": resource.service_token,
        "ResponseURL": response_url,
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": resource.logical_id,
        "ResourceType": resource.resource_type,
        "ResourceProperties": resource.properties,
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    function = get_lambda_backend(resource.account_id, resource.region_name).get_function(resource.service_token)
    payload, errored, _ = function._invoke_lambda(event=json.dumps(event))
    if errored:
        # On AWS the function's error means no answer: CloudFormation waits for one until its timeout.
        raise CustomResourceError(f"the function failed without answering: {payload}")
    answer = _answer(request_id)
    if answer.get("Status") != "SUCCESS":
        raise CustomResourceError(str(answer.get("Reason") or "the function answered FAILED without a Reason"))
    return answer


def references(body: Any) -> set[str]:
    """Logical ids a template resource body refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub, DependsOn)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                    found.add(str(target))
                elif key == "Fn::Sub":
                    text = value[0] if isinstance(value, list) else value
                    found.update(m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text)))
                    walk(value[1] if isinstance(value, list) and len(value) > 1 else None)
                elif key == "DependsOn":
                    found.update([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return found


def deletion_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids, each before everything it refers to (the reverse of creation order)."""
    created: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in created or name in visiting or name not in resources:
            return
        visiting.add(name)
        for dependency in sorted(references(resources[name])):
            visit(dependency)
        visiting.discard(name)
        created.append(name)

    for name in resources:
        visit(name)
    return list(reversed(created))


def _delete_managed_policy(policy: Any, account_id: str, region: str) -> None:
    backend = policy.backend
    for holders in (backend.roles.values(), backend.groups.values(), backend.users.values()):
        for holder in holders:
            if policy.arn in holder.managed_policies:
                policy.detach_from(holder)
    backend.managed_policies.pop(policy.arn, None)


def _delete_rest_api(api: Any, account_id: str, region: str) -> None:
    from moto.apigateway.models import apigateway_backends

    apigateway_backends[account_id][region].apis.pop(api.id, None)


def _process_cfn_response(response: Any) -> tuple[int, dict[str, int], str]:
    body = json.loads(response.body or "{}")
    with _answers_lock:
        _answers[str(body.get("RequestId", ""))] = body
    return 200, {"status": 200}, json.dumps("{}")


def _delete_in_order(original_delete: Any) -> Any:
    def delete_in_order(resource_map: Any) -> None:
        bodies = resource_map._resource_json_map
        for name in deletion_order(bodies):
            parsed = resource_map._parsed_resources.get(name)
            if bodies[name].get("DeletionPolicy") == "Retain" or parsed is None or isinstance(parsed, str):
                continue
            try:
                resource_map._delete_resource(parsed, bodies[name])
            except Exception:  # noqa: S112  (left for moto's passes below, which retry and report)
                continue
            resource_map._parsed_resources.pop(name)
        original_delete(resource_map)

    return delete_in_order


def _delete_custom_resources_first(original_delete_stack: Any, response_url: Any) -> Any:
    from moto.cloudformation.custom_model import CustomModel

    def delete_stack(backend: Any, name_or_stack_id: str) -> None:
        stack = next((s for i, s in backend.stacks.items() if name_or_stack_id in (i, s.name)), None)
        if stack is not None:
            parsed = stack.resource_map._parsed_resources
            for logical_id, resource in list(parsed.items()):
                if not isinstance(resource, CustomModel) or not hasattr(resource, "service_token"):
                    continue
                try:
                    url = response_url(stack.region_name, stack.stack_id)
                    _request(resource, "Delete", url, stack.stack_id, resource.physical_resource_id)
                except CustomResourceError as exc:
                    stack.status = "DELETE_FAILED"
                    stack._add_stack_event("DELETE_FAILED", resource_status_reason=f"{logical_id}: {exc}")
                    return
                del parsed[logical_id]
                stack.custom_resources.pop(logical_id, None)
        original_delete_stack(backend, name_or_stack_id)

    return delete_stack


def apply(patcher: Patcher) -> None:
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.custom_model import CustomModel

    points = points_by_name(PATCH_POINTS)
    emulator = patcher.emulator

    def response_url(region: str, stack_id: str) -> str:
        return f"{emulator.job_endpoint()}/cloudformation_{region}/cfnresponse?stack={stack_id}"

    def create(
        cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        stack_id = kw["StackId"]
        resource = CustomModel(region_name, str(uuid.uuid4()), kw["LogicalId"], resource_name)  # type: ignore[abstract]
        resource.account_id = account_id  # type: ignore[attr-defined]
        resource.service_token = properties["ServiceToken"]  # type: ignore[attr-defined]
        resource.resource_type = kw["ResourceType"]  # type: ignore[attr-defined]
        resource.properties = properties  # type: ignore[attr-defined]
        cloudformation_backends[account_id][region_name].get_stack(stack_id).add_custom_resource(resource)
        answer = _request(resource, "Create", response_url(region_name, stack_id), stack_id, None)
        resource.resource_name = str(answer.get("PhysicalResourceId") or resource_name)
        resource.set_data(answer.get("Data") or {})
        return resource

    patcher.replace(points["cfn-custom-resource-create"], classmethod(create))
    patcher.replace(points["cfn-custom-resource-answer"], _process_cfn_response)
    patcher.replace(
        points["cfn-custom-resource-delete"],
        _delete_custom_resources_first(points["cfn-custom-resource-delete"].original(), response_url),
    )
    patcher.replace(points["cfn-delete-order"], _delete_in_order(points["cfn-delete-order"].original()))
    patcher.replace(points["cfn-managed-policy-delete"], _delete_managed_policy)
    patcher.replace(points["cfn-rest-api-delete"], _delete_rest_api)
