"""Deleting stacks on the emulator (what ``cdk destroy`` does), and custom resources (``Custom::*`` backed by a
Lambda function), as AWS runs them.

moto invokes the function on Create only, on a thread, with a ResponseURL on a port nothing listens on in-process;
it never sends Delete, and it deletes a stack's resources in no particular order (the function could be gone
before its resource). Here:

* **Create** invokes the function (in-process, as its role) with a ResponseURL on the emulator's HTTP endpoint
  (:meth:`Emulator.job_endpoint`), where moto's ``cfnresponse`` route receives the function's PUT. The answer is
  read back by request id: SUCCESS gives the resource its Data and physical id, FAILED fails the stack with the
  function's Reason.
* **Order**: a stack's resources, custom ones among them, are deleted in reverse dependency order (Ref,
  Fn::GetAtt, ${...} in Fn::Sub, DependsOn), as CloudFormation does: a resource only after every resource that
  refers to it, so a custom resource goes after what depends on it and before its function. moto sent custom
  resources no Delete, deleted the rest in set order and retried failures. Each resource gets its events
  (``DELETE_IN_PROGRESS``, ``DELETE_COMPLETE``, ``DELETE_FAILED`` with the reason, ``DELETE_SKIPPED`` for
  ``DeletionPolicy: Retain``), as DescribeStackEvents shows them on AWS.
* **Delete** of a custom resource carries its physical id and properties; a FAILED answer (or a function that
  cannot be invoked) fails that resource.
* **Failure**: a resource that fails to delete stays, with its reason, and the stack ends ``DELETE_FAILED`` ("The
  following resource(s) failed to delete: [...]"); the other resources are still deleted in order, those the
  failed one refers to included. That is what CloudFormation does (it has no option to stop at the first failure:
  aws-cloudformation/cloudformation-coverage-roadmap#852 and #1508), so a custom resource whose Delete failed may
  find its function gone when the stack is deleted again. Deleting the stack again tries only what is left.
* **Roles** (``AWS::IAM::Role``) are deleted with their managed policies detached first, as CloudFormation does
  (moto refused: DeleteConflict, and only its retries, once the stack's managed policy was gone, got past it).
* **REST APIs** (``AWS::ApiGateway::RestApi``) and **managed policies** (``AWS::IAM::ManagedPolicy``, detached
  first) are deleted with their stack; moto has no delete for either: the APIs stayed, and the roles a policy is
  attached to could never be deleted (DeleteConflict).
"""

from __future__ import annotations

import contextlib
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
        name="cfn-role-delete",
        module="moto.iam.models",
        attribute="Role.delete_from_cloudformation_json",
        signature=(
            "(cls, resource_name: 'str', cloudformation_json: 'dict[str, Any]', account_id: 'str', "
            "region_name: 'str') -> 'None'"
        ),
        why=(
            "moto deletes a stack's role with its managed policies still attached (DeleteConflict); CloudFormation "
            "detaches them first (a role naming an AWS managed policy, which nothing deletes, goes with its stack)"
        ),
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
    PatchPoint(
        name="cfn-exports-kept",
        module="moto.cloudformation.parsing",
        attribute="OutputMap.exports",
        signature="",  # a property
        why=(
            "moto evaluates a stack's exports again at every DescribeStacks, re-creating (or failing on) the "
            "resources they refer to once a deletion has removed them"
        ),
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
    """Logical ids a template resource body refers to: its DependsOn, and Ref, Fn::GetAtt and ``${...}`` in Fn::Sub
    anywhere in it (inside Fn::Join, Fn::If, ... too). Names that are no resource of the template (parameters,
    pseudo parameters such as ``AWS::Region``, an Fn::Sub variable) are for the caller to ignore."""
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
                    text, variables = (
                        (value[0], value[1]) if isinstance(value, list) and len(value) > 1 else (value, {})
                    )
                    text = text[0] if isinstance(text, list) else text
                    # ${!Literal} is text, and a name the variable map defines is that variable, not a resource.
                    names = {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", str(text))}
                    found.update(names - set(variables if isinstance(variables, dict) else ()))
                    walk(variables)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    if isinstance(body, dict):
        depends = body.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        # DependsOn counts at the top of the resource only: a property may well be named so (a pipeline step's).
        walk({key: value for key, value in body.items() if key != "DependsOn"})
    return found


def deletion_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids, each before everything it refers to (the reverse of creation order). Resources with no path
    between them keep a deterministic order: the reverse of the template's, dependencies visited by name. A
    dependency cycle (which CloudFormation rejects when the stack is created) is broken where it is met."""
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


def _delete_role(original_delete: Any) -> Any:
    def delete_role(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region: str) -> None:
        from moto.iam.models import iam_backends
        from moto.utilities.utils import get_partition

        backend = iam_backends[account_id][get_partition(region)]
        # Each policy object, AWS managed ones too (DetachRolePolicy looks among the account's own only).
        for role in [r for r in backend.roles.values() if r.name == resource_name]:
            for policy in list(role.managed_policies.values()):
                policy.detach_from(role)
        original_delete(cls, resource_name, cloudformation_json, account_id, region)

    return delete_role


def _delete_rest_api(api: Any, account_id: str, region: str) -> None:
    from moto.apigateway.models import apigateway_backends

    apigateway_backends[account_id][region].apis.pop(api.id, None)


def _process_cfn_response(response: Any) -> tuple[int, dict[str, int], str]:
    body = json.loads(response.body or "{}")
    with _answers_lock:
        _answers[str(body.get("RequestId", ""))] = body
    return 200, {"status": 200}, json.dumps("{}")


def _resource_event(stack: Any, logical_id: str, resource: Any, status: str, reason: str | None = None) -> None:
    """Record one resource's event on ``stack`` as CloudFormation does (DescribeStackEvents lists it)."""
    from moto.cloudformation.models import Event

    try:
        physical_id = str(resource.physical_resource_id)
    except Exception:  # some moto models compute it from what deletion just removed
        physical_id = ""
    body = stack.resource_map._resource_json_map.get(logical_id, {})
    event = Event(stack.stack_id, stack.name, logical_id, physical_id, body.get("Type", ""), status, reason, None)
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _forget(resource_map: Any, logical_id: str) -> None:
    """Take a resource that has left the stack out of its resource map, template body too: moto creates a resource
    it finds in the template but not among the parsed ones whenever something reads the map (ListStackResources of
    a DELETE_FAILED stack, a Ref in its outputs), which would bring a deleted resource back."""
    resource_map._parsed_resources.pop(logical_id, None)
    resource_map._resource_json_map.pop(logical_id, None)


def delete_resources(stack: Any, delete_custom: Any) -> list[str]:
    """Delete ``stack``'s resources in reverse dependency order, each with its events, and return the logical ids
    of those that failed (they stay in the stack; the others are deleted all the same, as CloudFormation does).

    ``delete_custom(logical_id, resource)`` sends a custom resource its Delete request; it raises on failure.
    Resources with ``DeletionPolicy: Retain`` leave the stack and stay in their service.
    """
    from moto.cloudformation.custom_model import CustomModel

    resource_map = stack.resource_map
    bodies = resource_map._resource_json_map
    parsed = resource_map._parsed_resources
    failed: list[str] = []
    for logical_id in deletion_order(bodies):
        resource = parsed.get(logical_id)
        # None: never created (a false Condition); a str: a type moto only names.
        if resource is None or isinstance(resource, str):
            _forget(resource_map, logical_id)
            continue
        if bodies[logical_id].get("DeletionPolicy") == "Retain":
            _resource_event(stack, logical_id, resource, "DELETE_SKIPPED")
            _forget(resource_map, logical_id)
            continue
        _resource_event(stack, logical_id, resource, "DELETE_IN_PROGRESS")
        try:
            if isinstance(resource, CustomModel) and hasattr(resource, "service_token"):
                delete_custom(logical_id, resource)
                stack.custom_resources.pop(logical_id, None)
            else:
                resource_map._delete_resource(resource, bodies[logical_id])
        except Exception as exc:  # any failure is the resource's DELETE_FAILED reason, as on AWS
            _resource_event(stack, logical_id, resource, "DELETE_FAILED", str(exc) or type(exc).__name__)
            failed.append(logical_id)
            continue
        _resource_event(stack, logical_id, resource, "DELETE_COMPLETE")
        _forget(resource_map, logical_id)
    return failed


def _delete_stack(response_url: Any) -> Any:
    def delete_stack(backend: Any, name_or_stack_id: str) -> None:
        # A live stack by id or name; deleting a stack that is gone (or was never there) does nothing, as on AWS.
        stack = next((s for i, s in backend.stacks.items() if name_or_stack_id in (i, s.name)), None)
        if stack is None:
            return
        # The exports registered for it, not its outputs evaluated again (their Refs to resources a failed deletion
        # already removed would fail).
        export_names = [name for name, export in backend.exports.items() if export.exporting_stack_id == stack.stack_id]
        # The outputs as they are before anything is deleted: DescribeStacks shows these while the deletion runs
        # (moto would evaluate them, exports included, against resources already gone).
        with contextlib.suppress(Exception):  # an output moto cannot evaluate fails nothing but itself
            _ = stack.outputs
        stack.status = "DELETE_IN_PROGRESS"
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")

        def delete_custom(logical_id: str, resource: Any) -> None:
            url = response_url(stack.region_name, stack.stack_id)
            _request(resource, "Delete", url, stack.stack_id, resource.physical_resource_id)

        failed = delete_resources(stack, delete_custom)
        if failed:
            stack.status = "DELETE_FAILED"
            reason = f"The following resource(s) failed to delete: [{', '.join(failed)}]. "
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
            return
        stack._add_stack_event("DELETE_COMPLETE")
        stack.status = "DELETE_COMPLETE"
        backend.stacks.pop(stack.stack_id)
        backend.deleted_stacks[stack.stack_id] = stack
        for name in export_names:
            backend.exports.pop(name, None)

    return delete_stack


def _delete_in_order(resource_map: Any) -> None:
    """ResourceMap.delete for moto's own callers (a stack set's instances): the same order, failing on the first
    resource that could not be deleted."""
    bodies = resource_map._resource_json_map
    for logical_id in deletion_order(bodies):
        resource = resource_map._parsed_resources.get(logical_id)
        retained = bodies[logical_id].get("DeletionPolicy") == "Retain"
        if not retained and resource is not None and not isinstance(resource, str):
            resource_map._delete_resource(resource, bodies[logical_id])
        _forget(resource_map, logical_id)


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
    patcher.replace(points["cfn-custom-resource-delete"], _delete_stack(response_url))
    patcher.replace(points["cfn-delete-order"], _delete_in_order)
    patcher.replace(points["cfn-managed-policy-delete"], _delete_managed_policy)
    patcher.replace(points["cfn-role-delete"], classmethod(_delete_role(points["cfn-role-delete"].original())))
    patcher.replace(points["cfn-rest-api-delete"], _delete_rest_api)
    evaluate_exports = points["cfn-exports-kept"].original().fget

    def exports(output_map: Any) -> Any:
        # A stack's exports as first evaluated (on AWS they are fixed when the stack's create or update completes;
        # an update gives the stack a new output map here, so they are evaluated again then).
        kept = output_map.__dict__.get("_mlops_exports")
        if kept is None:
            kept = output_map.__dict__["_mlops_exports"] = evaluate_exports(output_map)
        return kept

    patcher.replace(points["cfn-exports-kept"], property(exports))
