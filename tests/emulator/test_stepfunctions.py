"""Patch points sfn-*: state machines from CloudFormation execute; time is compressed; results serialise."""

from __future__ import annotations

import json
import time

from mlops_local.emulator import Emulator
from tests.emulator.conftest import make_role


def _deploy(emulator: Emulator, template: dict) -> dict[str, str]:
    # The state machine's role: its tasks invoke the test functions and describe SageMaker resources.
    grants = ("lambda:InvokeFunction", "sagemaker:DescribeModelPackageGroup")
    make_role(emulator, "sfn", "states.amazonaws.com", *grants)
    cfn = emulator.client("cloudformation")
    cfn.create_stack(StackName="sfn-test", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="sfn-test")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _state_machine_template(definition: dict, substitutions: dict | None = None) -> dict:
    properties = {"DefinitionString": json.dumps(definition), "RoleArn": "arn:aws:iam::123456789012:role/sfn"}
    if substitutions:
        properties["DefinitionSubstitutions"] = substitutions
    return {
        "Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": properties}},
        "Outputs": {"Arn": {"Value": {"Ref": "Machine"}}},
    }


def test_a_cloudformation_state_machine_executes_with_substitutions(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": "${EchoArn}", "ResultPath": "$.result", "End": True}},
    }
    arn = _deploy(emulator, _state_machine_template(definition, {"EchoArn": function_arn}))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn, input=json.dumps({"x": 1}))
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["result"]["event"] == {"x": 1}


def test_catch_matches_the_lambda_error_type(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": function_arn,
                "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn, input='{"fail": "x"}')
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["error"]["Error"] == "ValueError"


def test_wait_and_retry_time_is_compressed(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    definition = {
        "StartAt": "Bake",
        "States": {
            "Bake": {"Type": "Wait", "Seconds": 3600, "Next": "Flaky"},
            "Flaky": {
                "Type": "Task",
                "Resource": function_arn,
                "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 60, "MaxAttempts": 2, "BackoffRate": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]
    started = time.monotonic()

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn, input='{"fail": "always"}')
    result = emulator.wait_for_execution(execution["executionArn"], timeout=60)

    assert result["status"] == "SUCCEEDED"
    # 3600 s + 60 s + 120 s emulated at 1/1000 speed: about 4 s, not an hour.
    assert time.monotonic() - started < 30


def test_executions_without_a_name_get_distinct_arns(emulator: Emulator) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]
    sfn = emulator.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    assert first != second
    assert not first.endswith(":None")


def test_aws_sdk_results_with_timestamps_serialise(emulator: Emulator) -> None:
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="g")
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackageGroup",
                "Parameters": {"ModelPackageGroupName": "g"},
                "End": True,
            }
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn)
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    assert isinstance(json.loads(result["output"])["CreationTime"], str)


def test_task_token_callbacks_time_out_on_the_compressed_clock(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    definition = {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": function_arn, "Payload": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 3600,
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
                "End": True,
            },
            "TimedOut": {"Type": "Pass", "Result": {"outcome": "timed out"}, "End": True},
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn)
    result = emulator.wait_for_execution(execution["executionArn"], timeout=60)

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"outcome": "timed out"}


def test_a_fail_state_reports_a_states_error_from_its_error_path(emulator: Emulator) -> None:
    # A workflow that catches States.Timeout (or States.TaskFailed) and ends in a Fail state with ErrorPath.
    definition = {
        "StartAt": "Caught",
        "States": {
            "Caught": {
                "Type": "Pass",
                "Result": {"Error": "States.Timeout", "Cause": "the approval timed out"},
                "ResultPath": "$.failure",
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn, input="{}")
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "FAILED"
    assert (result["error"], result["cause"]) == ("States.Timeout", "the approval timed out")
