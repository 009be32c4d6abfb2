"""Conformance of the synthesized app with what AWS accepts: cfn-lint on the templates, the state machine
definitions as deployed (``DefinitionSubstitutions`` filled in), and each ``aws-sdk`` task's parameters against
botocore's input shape of the operation it calls.

The checks return findings rather than asserting, so their own tests can feed them broken input.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_local.deploy import CloudAssembly, StackArtifact

ROOT = Path(__file__).resolve().parents[2]
NPX = Path(sys.executable).parent / "npx"
# Stands in for the account in values CloudFormation resolves at deploy time (a function ARN, say).
PLACEHOLDER_ACCOUNT = "123456789012"

# cfn-lint warnings we accept, each with the reason; errors are never ignored.
CFN_LINT_ACCEPTED = {
    "W3005": "CDK makes a function, state machine or pipeline depend on its whole role construct (the role and its "
    "DefaultPolicy) so the policy exists before first use; the role half repeats the GetAtt's ordering, harmlessly.",
    "W6001": "The capture and drift-report URI outputs are built from the imported artifacts bucket (Fn::Select over "
    "Fn::ImportValue); W6001 flags any import inside an output, and these re-export nothing.",
}

_SDK_RESOURCE = re.compile(r"^arn:aws[a-z-]*:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<action>[a-zA-Z0-9]+)(\.\w+)?$")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


# --- cfn-lint ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintFinding:
    rule: str
    severity: str  # "error", "warning" or "informational"
    location: str  # template file name and line
    message: str

    def __str__(self) -> str:
        return f"{self.location} {self.rule} ({self.severity}): {self.message}"


def cfn_lint(templates: list[Path], region: str) -> list[LintFinding]:
    """Every cfn-lint finding (errors and warnings, cfn-lint's default rule set) on ``templates`` in ``region``."""
    from cfnlint.api import ManualArgs, lint_by_config

    matches = lint_by_config(ManualArgs(templates=[str(t) for t in templates], regions=[region]))
    return [
        LintFinding(
            rule=m.rule.id,
            severity=m.rule.severity,
            location=f"{Path(m.filename or '?').name}:{m.linenumber}",
            message=m.message,
        )
        for m in matches
    ]


def stack_region(assembly: CloudAssembly, stack: StackArtifact) -> str:
    """The region the stack is synthesized for (``aws://account/region`` in the manifest)."""
    manifest = json.loads((assembly.directory / "manifest.json").read_text())
    environment = manifest["artifacts"][stack.artifact_id].get("environment", "")
    region = environment.rsplit("/", 1)[-1]
    if not region or region == "unknown-region":
        raise ValueError(
            f"stack {stack.stack_name} is environment-agnostic ({environment!r}); give it a region in cdk.json so "
            "cfn-lint checks it against that region's resource specifications"
        )
    return region


# --- state machine definitions as deployed ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedStateMachine:
    """One ``AWS::StepFunctions::StateMachine`` of a synthesized stack."""

    stack: str
    logical_id: str
    source: str  # the definition text as published, before substitution
    definition: str  # the definition Step Functions receives, ``${...}`` filled in

    @property
    def name(self) -> str:
        return f"{self.stack}/{self.logical_id}"


def deployed_state_machines(assembly: CloudAssembly) -> list[DeployedStateMachine]:
    """Every state machine in the assembly with its definition as CloudFormation hands it to Step Functions.

    Substitution values CloudFormation resolves at deploy time (an ARN by ``Fn::GetAtt``) become
    representative values of the same form. Raises ``ValueError`` for a substitution this cannot represent, a
    placeholder with no substitution, or a substitution no placeholder uses.
    """
    machines = []
    for stack in assembly.stacks:
        template = stack.template()
        region = stack_region(assembly, stack)
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::StepFunctions::StateMachine":
                continue
            where = f"{stack.stack_name}/{logical_id}"
            props = resource.get("Properties", {})
            source = _definition_source(assembly, stack, props, resources, region, where)
            substitutions = {
                key: _resolve(value, resources, region, f"{where} DefinitionSubstitutions.{key}")
                for key, value in props.get("DefinitionSubstitutions", {}).items()
            }
            used = set(_PLACEHOLDER.findall(source))
            if missing := sorted(used - substitutions.keys()):
                raise ValueError(
                    f"{where}: the definition uses ${{{missing[0]}}} but DefinitionSubstitutions has no "
                    f"{missing[0]!r}; add it where the construct builds the state machine"
                )
            if unused := sorted(substitutions.keys() - used):
                raise ValueError(
                    f"{where}: DefinitionSubstitutions {unused} appear nowhere in the definition; remove or use them"
                )
            definition = _substitute(source, substitutions)
            machines.append(DeployedStateMachine(stack.stack_name, logical_id, source, definition))
    return machines


def _substitute(source: str, substitutions: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], source)


def _definition_source(
    assembly: CloudAssembly,
    stack: StackArtifact,
    props: Mapping[str, Any],
    resources: Mapping[str, Any],
    region: str,
    where: str,
) -> str:
    if "DefinitionString" in props:
        return _resolve(props["DefinitionString"], resources, region, f"{where} DefinitionString")
    if "Definition" in props:
        return json.dumps(props["Definition"])
    location = props.get("DefinitionS3Location")
    if not location:
        raise ValueError(f"{where} has no DefinitionString, Definition or DefinitionS3Location")
    if stack.assets_file is None:
        raise ValueError(f"{where} reads its definition from S3 but stack {stack.stack_name} has no asset manifest")
    # DefinitionBody.from_file publishes the file as a file asset; the template names its object key.
    for asset in json.loads(stack.assets_file.read_text()).get("files", {}).values():
        if any(d.get("objectKey") == location.get("Key") for d in asset["destinations"].values()):
            return (assembly.directory / asset["source"]["path"]).read_text()
    raise ValueError(f"{where}: no file asset of {stack.stack_name} is published to {location!r}")


# What Ref and Fn::GetAtt return for the resource types a substitution is likely to name (CloudFormation's
# "Return values" of each type): type -> (the property that names it, {attribute or "Ref": form of the value}).
_RESOLVED_FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "AWS::Lambda::Function": ("FunctionName", {"Ref": "{n}", "Arn": "arn:aws:lambda:{r}:{a}:function:{n}"}),
    "AWS::IAM::Role": ("RoleName", {"Ref": "{n}", "Arn": "arn:aws:iam::{a}:role/{n}"}),
    "AWS::DynamoDB::Table": ("TableName", {"Ref": "{n}", "Arn": "arn:aws:dynamodb:{r}:{a}:table/{n}"}),
    "AWS::S3::Bucket": ("BucketName", {"Ref": "{n}", "Arn": "arn:aws:s3:::{n}"}),
    "AWS::SNS::Topic": ("TopicName", {"Ref": "arn:aws:sns:{r}:{a}:{n}", "TopicArn": "arn:aws:sns:{r}:{a}:{n}"}),
    "AWS::SQS::Queue": (
        "QueueName",
        {"Ref": "https://sqs.{r}.amazonaws.com/{a}/{n}", "Arn": "arn:aws:sqs:{r}:{a}:{n}", "QueueName": "{n}"},
    ),
    "AWS::StepFunctions::StateMachine": (
        "StateMachineName",
        {"Ref": "arn:aws:states:{r}:{a}:stateMachine:{n}", "Arn": "arn:aws:states:{r}:{a}:stateMachine:{n}"},
    ),
}


def _resolve(value: Any, resources: Mapping[str, Any], region: str, where: str) -> str:
    """A CloudFormation value as the string it becomes at deploy time (or one of the same form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": PLACEHOLDER_ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_resolve(p, resources, region, where) for p in parts)
        if function in ("Ref", "Fn::GetAtt"):
            if function == "Ref":
                logical_id, attribute = argument, "Ref"
            else:
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            resource = resources.get(logical_id, {})
            name_property, forms = _RESOLVED_FORMS.get(resource.get("Type"), ("", {}))
            if attribute in forms:
                name = resource.get("Properties", {}).get(name_property)
                name = name if isinstance(name, str) else logical_id.lower()  # as CloudFormation would generate
                return forms[attribute].format(n=name, r=region, a=PLACEHOLDER_ACCOUNT)
    raise ValueError(
        f"{where}: cannot represent {json.dumps(value)} before deployment; teach _resolve in "
        "tests/infrastructure/conformance.py the form this value takes once CloudFormation resolves it"
    )


def asl_validator(definitions: Mapping[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the pinned ``asl-validator`` (package.json) on Node from the virtualenv over each named definition."""
    workdir.mkdir(parents=True, exist_ok=True)
    arguments = []
    for name, definition in definitions.items():
        path = workdir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".asl.json")
        path.write_text(definition)
        arguments += ["--json-path", str(path)]
    # The virtualenv's Node 24 first: the machine's own node may be an older, unsupported one.
    env = {**os.environ, "PATH": str(NPX.parent) + os.pathsep + os.environ.get("PATH", "")}
    # --no: never download (asl-validator comes from package-lock.json through `make install`); `--` keeps npx
    # from taking the validator's options as its own (it then validates nothing and exits 0).
    return subprocess.run(
        [str(NPX), "--no", "--", "asl-validator", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# --- aws-sdk task parameters against botocore --------------------------------------------------------------------


def task_states(definition: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, state) of every Task state, including those inside Parallel branches and Map processors."""
    for name, state in definition.get("States", {}).items():
        where = f"{path}/{name}" if path else name
        if state.get("Type") == "Task":
            yield where, state
        for index, branch in enumerate(state.get("Branches", [])):
            yield from task_states(branch, f"{where}/Branches[{index}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from task_states(state[key], f"{where}/{key}")


def sdk_task_problems(definition: Mapping[str, Any]) -> list[str]:
    """Every way an ``aws-sdk`` Task state's parameters differ from botocore's input shape for its operation:
    an unknown service or action, an unknown member, a missing required member, a literal of the wrong type,
    out of its enum or outside its length or range. Keys ending in ``.$`` (JSONPath) and JSONata ``{% %}``
    values are checked by name only."""
    problems = []
    for where, state in task_states(definition):
        resource = state.get("Resource", "")
        if not isinstance(resource, str) or ":states:::aws-sdk:" not in resource:
            continue
        match = _SDK_RESOURCE.match(resource)
        if match is None:
            problems.append(f"{where}: {resource!r} is not arn:aws:states:::aws-sdk:<service>:<apiAction>[.pattern]")
            continue
        parameters = state.get("Parameters", state.get("Arguments", {}))
        problems += _sdk_call_problems(match["service"], match["action"], parameters, where)
    return problems


def _sdk_call_problems(service: str, action: str, parameters: Any, where: str) -> list[str]:
    from botocore.model import OperationNotFoundError

    model = botocore_service(service)
    if model is None:
        return [
            f"{where}: no AWS service is called {service!r} in aws-sdk integrations (botocore has no service whose "
            "serviceId gives that name); use the SDK's service name, lower case, e.g. 'sagemaker', 'sfn'"
        ]
    if not action[:1].islower():
        return [f"{where}: write the action in camelCase as Step Functions does ({action[:1].lower() + action[1:]!r})"]
    operation = action[:1].upper() + action[1:]
    try:
        input_shape = model.operation_model(operation).input_shape
    except OperationNotFoundError:
        return [f"{where}: {service} has no action {action!r} (botocore's {model.service_name} has no {operation})"]
    if _is_jsonata(parameters):
        return []
    if input_shape is None:
        return [f"{where}: {service}:{action} takes no parameters, got {sorted(parameters)}"] if parameters else []
    return _value_problems(input_shape, parameters, f"{where} {service}:{action}")


@functools.cache
def botocore_service(name: str) -> Any:
    """botocore's model of the service that Step Functions' aws-sdk integrations call ``name``, or None.

    Step Functions names a service as the AWS SDKs do: its serviceId, lower case, spaces and a trailing
    "Service" dropped (serviceId "SFN" is ``sfn``, "EventBridge" is ``eventbridge``, "CloudWatch Logs" is
    ``cloudwatchlogs``): botocore's name without hyphens for most services, not for some.
    """
    import botocore.session

    session = botocore.session.get_session()
    for service, service_id in _service_ids().items():
        if _sdk_service_name(service_id) == name:
            return session.get_service_model(service)
    return None


@functools.cache
def _service_ids() -> dict[str, str]:
    """botocore's service name -> serviceId, for every service botocore has a model of."""
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    ids = {}
    for service in session.get_available_services():
        version = loader.determine_latest_version(service, "service-2")
        # Parsing every model takes 5 s; serviceId sits in the metadata at the top of each file.
        files = [Path(root, service, version, "service-2.json.gz") for root in loader.search_paths]
        head = next((_head(f) for f in files if f.exists()), "")
        found = re.search(r'"serviceId"\s*:\s*"([^"]+)"', head)
        if found:
            ids[service] = found.group(1)
        else:  # an uncompressed or differently ordered model: read it whole
            ids[service] = loader.load_service_model(service, "service-2")["metadata"]["serviceId"]
    return ids


def _head(path: Path) -> str:
    with gzip.open(path, "rt") as model:
        return model.read(4096)


def _sdk_service_name(service_id: str) -> str:
    return re.sub(r"\s+service$", "", service_id, flags=re.IGNORECASE).lower().replace(" ", "").replace("-", "")


def _is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("{%") and value.strip().endswith("%}")


def _value_problems(shape: Any, value: Any, where: str) -> list[str]:
    if _is_jsonata(value):
        return []
    kind = shape.type_name
    if kind == "structure" and shape.metadata.get("document"):
        return []  # any JSON
    if not _has_type(value, kind):
        return [f"{where}: {kind} expected, got {json.dumps(value)}"]
    if kind == "structure":
        return _structure_problems(shape, value, where)
    problems = _limit_problems(shape, value, where)
    if kind == "list":
        for index, item in enumerate(value):
            problems += _value_problems(shape.member, item, f"{where}[{index}]")
    elif kind == "map":
        for key, item in value.items():
            if not key.endswith(".$"):
                problems += _value_problems(shape.value, item, f"{where}.{key}")
    return problems


_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "structure": dict,
    "map": dict,
    "list": list,
    "string": str,
    "blob": str,
    "boolean": bool,
    "integer": int,
    "long": int,
    "float": (int, float),
    "double": (int, float),
    "timestamp": (str, int, float),
}


def _has_type(value: Any, kind: str) -> bool:
    """Whether a JSON literal can stand for a botocore shape of this type (a bool is no number)."""
    return isinstance(value, _PYTHON_TYPES[kind]) and (kind == "boolean" or not isinstance(value, bool))


def _structure_problems(shape: Any, value: Mapping[str, Any], where: str) -> list[str]:
    # Step Functions spells every member in PascalCase, whatever case the API uses, and calls "Equals" EqualsValue.
    members = {name[:1].upper() + name[1:]: member for name, member in shape.members.items()}
    if "Equals" in members:
        members["EqualsValue"] = members.pop("Equals")
    problems = []
    given = set()
    for key, item in value.items():
        name = key.removesuffix(".$")
        given.add(name)
        if name not in members:
            problems.append(f"{where}: no member {name!r} in {shape.name}; members: {', '.join(sorted(members))}")
        elif not key.endswith(".$"):
            problems += _value_problems(members[name], item, f"{where}.{name}")
    for required in shape.required_members:
        name = required[:1].upper() + required[1:]
        name = "EqualsValue" if name == "Equals" else name
        if name not in given:
            problems.append(f"{where}: required member {name!r} of {shape.name} is missing")
    return problems


def _limit_problems(shape: Any, value: Any, where: str) -> list[str]:
    problems = []
    if getattr(shape, "enum", None) and value not in shape.enum:
        problems.append(f"{where}: {value!r} is not one of {shape.enum}")
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    size = value if shape.type_name in ("integer", "long", "float", "double") else None
    if isinstance(value, str | list | dict):
        size = len(value)
    if size is not None and ((low is not None and size < low) or (high is not None and size > high)):
        what = "value" if isinstance(value, int | float) else "length"
        problems.append(f"{where}: {what} {size} is outside [{low}, {high}]")
    return problems
