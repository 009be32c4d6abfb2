"""CloudFormation on the emulator: change-set deployments (what `cdk deploy` does) behave as stack creation does,
stack updates refresh exports, KMS keys accept CloudFormation's property shapes, and the resource types moto
skips are created (:mod:`mlops_local.cloudformation_resources`).

A resource the template does not name gets a generated name, ``<stack>-<logical id>-<12 random characters>``.
The emulator derives those 12 characters from the stack, the logical id and how many times this emulator has
named that resource before, instead of drawing them: the same deployment gets the same names in every emulator,
so a state machine's definition (which holds its functions' names) is the same text, is parsed once per process
(``sfn-definition-parsed-once``; each deployment parsed it again, 3% of the integration tests' interpreter time),
and an execution's history reads the same from run to run. A stack created again gets new names, as on AWS."""

from __future__ import annotations

import hashlib
import json
import string
import threading
from typing import Any

from mlops_local import cloudformation_resources
from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="cfn-changeset-outputs",
        module="moto.cloudformation.models",
        attribute="CloudFormationBackend.execute_change_set",
        signature="(self, change_set_name: 'str', stack_name: 'str | None' = None) -> 'None'",
        why=(
            "stacks created through change sets (what `cdk deploy` does) cannot import other stacks' exports, "
            "get no Outputs and register no exports of their own, and their resources are created in template "
            "order with DependsOn ignored"
        ),
    ),
    PatchPoint(
        name="cfn-update-exports",
        module="moto.cloudformation.models",
        attribute="CloudFormationBackend.update_stack",
        signature=(
            "(self, name: 'str', template: 'str', role_arn: 'str | None', "
            "parameters: 'list[dict[str, Any]]', tags: 'dict[str, str] | None') -> 'Stack'"
        ),
        why="UpdateStack rebuilds Outputs but never refreshes the exports other stacks import",
    ),
    PatchPoint(
        name="kms-cloudformation-create",
        module="moto.kms.models",
        attribute="Key.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, "
            "**kwargs: Any) -> 'Key'"
        ),
        why=(
            "CloudFormation passes Tags as Key/Value and KeyPolicy as an object; KMS expects TagKey/TagValue, JSON; "
            "moto creates every key SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT, ignoring KeySpec and KeyUsage"
        ),
    ),
    PatchPoint(
        name="cfn-json-templates",
        module="moto.cloudformation.models",
        attribute="Stack.parse_template",
        signature="(template: 'str') -> 'dict[str, Any]'",
        why=(
            "moto parses every template with PyYAML's pure-Python loader, JSON ones too (the CDK writes JSON): a "
            "third of a local deployment's CPU; parse JSON as JSON, YAML as moto does"
        ),
    ),
    PatchPoint(
        name="cfn-generated-names-reproducible",
        module="moto.cloudformation.parsing",
        attribute="generate_resource_name",
        signature="(resource_type: str, stack_name: str, logical_id: str) -> str",
        why=(
            "a generated name's suffix is drawn at random: every deployment's state machine definitions differ (so "
            "each is parsed again) and histories differ from run to run; derive it from what it names instead"
        ),
    ),
    PatchPoint(
        name="cfn-json-change-set-templates",
        module="moto.cloudformation.models",
        attribute="ChangeSet._parse_template",
        signature="(self) -> 'None'",
        why="a change set's template is parsed with PyYAML too (what `cdk deploy` sends); parse JSON as JSON",
    ),
)


def _json_template(template: Any) -> dict[str, Any] | None:
    """A JSON template's document; None when ``template`` is not a JSON object (YAML), for moto to parse.

    For a JSON document YAML's loader gives the same values (JSON is YAML's flow style, every string quoted).
    """
    try:
        parsed = json.loads(template)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


_SUFFIX_LENGTH = 12  # moto's (and CloudFormation's) random suffix: digits and capitals, lower case in bucket names
_SUFFIX_ALPHABET = string.digits + string.ascii_uppercase


def reproducible_suffix(resource_type: str, stack_name: str, logical_id: str, nth: int) -> str:
    """The suffix of the ``nth`` (0, 1, ...) name generated for this resource: 12 characters of moto's alphabet."""
    digest = hashlib.sha256(f"{resource_type}|{stack_name}|{logical_id}|{nth}".encode()).digest()
    return "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest[:_SUFFIX_LENGTH])


def _reproducible_names(generate: Any) -> Any:
    named: dict[tuple[str, str, str], int] = {}  # per emulator: how many names each resource was given
    lock = threading.Lock()

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = str(generate(resource_type, stack_name, logical_id))  # moto's shape, its suffix last
        resource = (resource_type, stack_name, logical_id)
        with lock:
            nth = named[resource] = named.get(resource, -1) + 1
        suffix = reproducible_suffix(resource_type, stack_name, logical_id, nth)
        return name[:-_SUFFIX_LENGTH] + (suffix.lower() if resource_type == "AWS::S3::Bucket" else suffix)

    return generate_resource_name


def _refresh_outputs_and_exports(backend: Any, stack: Any) -> None:
    """Rebuild a stack's Outputs from its resources and re-register its exports."""
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for export in stack.exports:
        backend.exports[export.name] = export


def depends_on_order(resources: dict[str, Any]) -> dict[str, Any]:
    """The template's resources with each one after everything it names in DependsOn (otherwise in template
    order); a dependency cycle or an unknown name is left for CloudFormation's own validation to report."""
    ordered: dict[str, Any] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting or name not in resources:
            return
        visiting.add(name)
        body = resources[name]
        depends = body.get("DependsOn", []) if isinstance(body, dict) else []
        for dependency in [depends] if isinstance(depends, str) else depends:
            visit(dependency)
        visiting.discard(name)
        ordered[name] = body

    for name in resources:
        visit(name)
    return ordered


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
    names = points["cfn-generated-names-reproducible"]
    patcher.replace(names, _reproducible_names(names.original()))
    original_execute = points["cfn-changeset-outputs"].original()

    def execute_change_set(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = backend.change_sets.get(change_set_name) or next(
            (c for c in backend.change_sets.values() if c.change_set_name == change_set_name), None
        )
        if change_set is not None:
            # A change-set stack is created empty, without the account's exports: give it them, or its
            # Fn::ImportValue of another stack's output fails.
            stack = backend.stacks[change_set.stack_id]
            stack.cross_stack_resources = backend.exports
            stack.resource_map.cross_stack_resources = backend.exports
            # Added resources are created in template order, DependsOn ignored (stack creation honours it):
            # an API Gateway Deployment listed before its methods fails. Order them by DependsOn first.
            template = change_set.template_dict
            if isinstance(template.get("Resources"), dict):
                template["Resources"] = depends_on_order(template["Resources"])
        original_execute(backend, change_set_name, stack_name)
        if change_set is not None:
            _refresh_outputs_and_exports(backend, backend.stacks[change_set.stack_id])

    patcher.replace(points["cfn-changeset-outputs"], execute_change_set)

    original_parse = points["cfn-json-templates"].original()
    original_parse_change_set = points["cfn-json-change-set-templates"].original()

    def parse_template(template: str) -> dict[str, Any]:
        parsed = _json_template(template)
        return original_parse(template) if parsed is None else parsed

    def parse_change_set_template(change_set: Any) -> None:
        parsed = _json_template(change_set.template)
        if parsed is None:
            original_parse_change_set(change_set)
        else:
            change_set.template_dict = parsed

    patcher.replace(points["cfn-json-templates"], staticmethod(parse_template))
    patcher.replace(points["cfn-json-change-set-templates"], parse_change_set_template)

    original_update = points["cfn-update-exports"].original()

    def update_stack(backend: Any, *args: Any, **kwargs: Any) -> Any:
        stack = original_update(backend, *args, **kwargs)
        _refresh_outputs_and_exports(backend, stack)
        return stack

    patcher.replace(points["cfn-update-exports"], update_stack)

    original_kms_create = points["kms-cloudformation-create"].original()

    def kms_create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties", {}))
        properties["Tags"] = [
            {"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
            for t in properties.get("Tags", [])
        ]
        if not isinstance(properties.get("KeyPolicy", ""), str):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        fixed = {**cloudformation_json, "Properties": properties}
        spec, usage = properties.get("KeySpec", "SYMMETRIC_DEFAULT"), properties.get("KeyUsage", "ENCRYPT_DECRYPT")
        if (spec, usage) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"):
            return original_kms_create(cls, resource_name, fixed, account_id, region_name, **kwargs)
        # An asymmetric key (e.g. ECC_NIST_P256 / SIGN_VERIFY): created as moto's CreateKey would create it.
        from moto.kms.models import kms_backends

        key = kms_backends[account_id][region_name].create_key(
            policy=properties["KeyPolicy"],
            key_usage=usage,
            key_spec=spec,
            description=str(properties.get("Description") or ""),
            tags=properties["Tags"],
        )
        key.enabled = properties.get("Enabled", True)
        return key

    patcher.replace(points["kms-cloudformation-create"], classmethod(kms_create))
    cloudformation_resources.register()
