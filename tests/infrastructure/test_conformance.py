"""The synthesized app is well-formed for AWS: cfn-lint passes on every template, asl-validator on every state
machine as deployed, and every ``aws-sdk`` task's parameters fit botocore's input shape. ``make lint`` runs this
file; ``make test`` runs it once as part of the suite, on the session's synthesized app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_local.deploy import CloudAssembly
from tests.infrastructure.conformance import (
    CFN_LINT_ACCEPTED,
    ROOT,
    asl_validator,
    cfn_lint,
    deployed_state_machines,
    sdk_task_problems,
    stack_region,
)


@pytest.fixture(scope="module")
def machines(cloud_assembly: CloudAssembly) -> dict[str, Any]:
    return {m.name: m for m in deployed_state_machines(cloud_assembly)}


# --- cfn-lint ---------------------------------------------------------------------------------------------------


def test_every_template_passes_cfn_lint(cloud_assembly: CloudAssembly) -> None:
    by_region: dict[str, list[Path]] = {}
    for stack in cloud_assembly.stacks:
        by_region.setdefault(stack_region(cloud_assembly, stack), []).append(stack.template_file)

    findings = [f for region, files in by_region.items() for f in cfn_lint(files, region)]

    unaccepted = [str(f) for f in findings if f.severity == "error" or f.rule not in CFN_LINT_ACCEPTED]
    assert not unaccepted, "cfn-lint:\n" + "\n".join(unaccepted)
    stale = sorted(set(CFN_LINT_ACCEPTED) - {f.rule for f in findings})
    assert not stale, f"cfn-lint no longer reports {stale}: remove them from CFN_LINT_ACCEPTED"


def test_cfn_lint_reports_an_invalid_property_as_an_error(tmp_path: Path) -> None:
    template = tmp_path / "Broken.template.json"
    template.write_text(
        json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimout": 30}}}})
    )

    findings = cfn_lint([template], "us-east-1")

    assert any(f.severity == "error" and "VisibilityTimout" in f.message for f in findings), findings


# --- state machine definitions ------------------------------------------------------------------------------------


def test_every_definition_file_is_deployed_by_a_state_machine(machines: dict[str, Any]) -> None:
    sources = {m.source for m in machines.values()}
    for path in sorted((ROOT / "step_functions").glob("*.asl.json")):
        assert path.read_text() in sources, f"{path.name} is published by no state machine of the synthesized app"


def test_every_state_machine_passes_asl_validator_as_deployed(machines: dict[str, Any], tmp_path: Path) -> None:
    assert machines, "the synthesized app has no state machine"
    for machine in machines.values():
        assert "${" not in machine.definition, f"{machine.name}: unsubstituted placeholder"

    result = asl_validator({name: m.definition for name, m in machines.items()}, tmp_path)

    assert result.returncode == 0, f"asl-validator:\n{result.stdout}{result.stderr}"
    assert result.stdout.count("is valid") == len(machines), result.stdout


def test_asl_validator_reports_a_transition_to_a_missing_state(tmp_path: Path) -> None:
    definition = {"StartAt": "First", "States": {"First": {"Type": "Pass", "Next": "Nowhere"}}}

    result = asl_validator({"broken": json.dumps(definition)}, tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Missing 'StartAt'|'Next'|'Default' target: Nowhere" in result.stderr


def assembly_of(directory: Path, substitutions: dict[str, Any]) -> CloudAssembly:
    """A one-stack assembly: a Lambda function and a state machine calling it with these substitutions."""
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": "${FunctionArn}", "Comment": "${Note}", "End": True}},
    }
    machine = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"DefinitionString": json.dumps(definition), "DefinitionSubstitutions": substitutions},
    }
    resources = {"Machine": machine, "Steps": {"Type": "AWS::Lambda::Function", "Properties": {}}}
    (directory / "S.template.json").write_text(json.dumps({"Resources": resources}))
    stack = {
        "type": "aws:cloudformation:stack",
        "environment": "aws://unknown-account/eu-west-1",
        "properties": {"templateFile": "S.template.json"},
    }
    (directory / "manifest.json").write_text(json.dumps({"artifacts": {"S": stack}}))
    return CloudAssembly.load(directory)


def test_substitutions_take_the_form_cloudformation_gives_them(tmp_path: Path) -> None:
    assembly = assembly_of(tmp_path, {"FunctionArn": {"Fn::GetAtt": ["Steps", "Arn"]}, "Note": "shadow first"})

    [machine] = deployed_state_machines(assembly)

    state = json.loads(machine.definition)["States"]["Call"]
    assert state["Resource"] == "arn:aws:lambda:eu-west-1:123456789012:function:steps"
    assert state["Comment"] == "shadow first"


@pytest.mark.parametrize(
    ("substitutions", "refusal"),
    [
        (
            {"FunctionArn": "arn:aws:lambda:eu-west-1:1:function:f"},
            r"uses \$\{Note\} but DefinitionSubstitutions has no",
        ),
        ({"FunctionArn": "f", "Note": "n", "Extra": "x"}, r"\['Extra'\] appear nowhere in the definition"),
        ({"FunctionArn": {"Fn::ImportValue": "steps-arn"}, "Note": "n"}, "cannot represent .*Fn::ImportValue"),
    ],
)
def test_substitutions_that_do_not_match_the_definition_are_refused(
    tmp_path: Path, substitutions: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        deployed_state_machines(assembly_of(tmp_path, substitutions))


# --- aws-sdk task parameters ----------------------------------------------------------------------------------------


def test_every_aws_sdk_task_matches_botocore_input_shape(machines: dict[str, Any]) -> None:
    problems = [p for name, m in machines.items() for p in sdk_task_problems(json.loads(m.definition))]

    assert not problems, "\n".join(problems)


def machine_with(resource: str, parameters: Any) -> dict[str, Any]:
    """A definition whose one Task sits inside a Map inside a Parallel, to show nested tasks are checked."""
    task = {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
    inner = {"StartAt": "Call", "States": {"Call": task}}
    mapped = {"Type": "Map", "ItemProcessor": inner, "End": True}
    parallel = {"Type": "Parallel", "Branches": [{"StartAt": "Each", "States": {"Each": mapped}}], "End": True}
    return {"StartAt": "Fan", "States": {"Fan": parallel}}


DESCRIBE_ENDPOINT = "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"


@pytest.mark.parametrize(
    ("resource", "parameters"),
    [
        (DESCRIBE_ENDPOINT, {"EndpointName": "blue"}),
        (DESCRIBE_ENDPOINT, {"EndpointName.$": "$.endpoint"}),
        ("arn:aws:states:::aws-sdk:sagemaker:listEndpoints", {"MaxResults": 10, "SortBy": "Name"}),
        ("arn:aws:states:::aws-sdk:sagemaker:listEndpoints", {}),
        # botocore's "events" is "eventbridge" to Step Functions; API Gateway's camelCase members are PascalCase.
        ("arn:aws:states:::aws-sdk:eventbridge:putEvents", {"Entries": [{"Source": "mlops", "Detail.$": "$.d"}]}),
        ("arn:aws:states:::aws-sdk:apigateway:getRestApi", {"RestApiId": "abc123"}),
        (
            "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess.waitForTaskToken",
            {"TaskToken.$": "$$.Task.Token", "Output": "{}"},
        ),
    ],
)
def test_parameters_that_fit_the_input_shape_pass(resource: str, parameters: dict[str, Any]) -> None:
    assert sdk_task_problems(machine_with(resource, parameters)) == []


@pytest.mark.parametrize(
    ("resource", "parameters", "problems"),
    [
        (
            DESCRIBE_ENDPOINT,
            {"EndpointNme": "blue"},
            [
                "no member 'EndpointNme' in DescribeEndpointInput",
                "required member 'EndpointName' of DescribeEndpointInput is missing",
            ],
        ),
        (DESCRIBE_ENDPOINT, {"EndpointNme.$": "$.endpoint"}, ["no member 'EndpointNme'", "'EndpointName'"]),
        (DESCRIBE_ENDPOINT, {"EndpointName": 7}, ["EndpointName: string expected, got 7"]),
        (DESCRIBE_ENDPOINT, {"EndpointName": "x" * 64}, ["EndpointName: length 64 is outside [0, 63]"]),
        (
            "arn:aws:states:::aws-sdk:sagemaker:listEndpoints",
            {"MaxResults": "10"},
            ['MaxResults: integer expected, got "10"'],
        ),
        ("arn:aws:states:::aws-sdk:sagemaker:listEndpoints", {"MaxResults": True}, ["integer expected, got true"]),
        ("arn:aws:states:::aws-sdk:sagemaker:listEndpoints", {"SortBy": "Size"}, ["'Size' is not one of"]),
        (
            "arn:aws:states:::aws-sdk:eventbridge:putEvents",
            {"Entries": [{"Sauce": "mlops"}]},
            ["Entries[0]: no member 'Sauce'"],
        ),
        ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoints", {}, ["sagemaker has no action 'describeEndpoints'"]),
        (
            "arn:aws:states:::aws-sdk:sagemaker:DescribeEndpoint",
            {"EndpointName": "blue"},
            ["write the action in camelCase"],
        ),
        ("arn:aws:states:::aws-sdk:stepfunctions:startExecution", {}, ["no AWS service is called 'stepfunctions'"]),
        ("arn:aws:states:::aws-sdk:sage_maker:describeEndpoint", {}, ["is not arn:aws:states:::aws-sdk:"]),
    ],
)
def test_parameters_that_do_not_fit_are_reported(
    resource: str, parameters: dict[str, Any], problems: list[str]
) -> None:
    found = sdk_task_problems(machine_with(resource, parameters))

    assert len(found) == len(problems), found
    for expected, actual in zip(problems, found, strict=True):
        assert expected in actual
        assert actual.startswith("Fan/Branches[0]/Each/ItemProcessor/Call")
