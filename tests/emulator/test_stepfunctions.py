"""Patch points sfn-*: state machines from CloudFormation execute; their waits, retries and timeouts run on the
emulator's virtual clock (exact emulated durations, no wall time); results serialise."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

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
    properties: dict[str, Any] = {
        "DefinitionString": json.dumps(definition),
        "RoleArn": "arn:aws:iam::123456789012:role/sfn",
    }
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
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    # Exactly 3600 s of Wait, then retries after 60 s and 120 s, in emulated time; next to no wall time.
    assert (result["stopDate"] - result["startDate"]).total_seconds() == 3600 + 60 + 120
    assert time.monotonic() - started < 10


def test_executions_without_a_name_get_distinct_arns(emulator: Emulator) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]
    sfn = emulator.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    assert first != second
    assert not first.endswith(":None")


def _describe_group(parameters: dict[str, Any], **state: Any) -> dict[str, Any]:
    """A definition of one aws-sdk task, SageMaker DescribeModelPackageGroup with ``parameters``."""
    describe = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackageGroup"}
    return {"StartAt": "Describe", "States": {"Describe": {**describe, "Parameters": parameters, **state, "End": True}}}


def test_aws_sdk_results_with_timestamps_serialise(emulator: Emulator) -> None:
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="g")
    arn = _deploy(emulator, _state_machine_template(_describe_group({"ModelPackageGroupName": "g"})))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn)
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    assert isinstance(json.loads(result["output"])["CreationTime"], str)


def test_task_token_callbacks_time_out_on_the_emulated_clock(emulator: Emulator, make_function) -> None:
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
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"outcome": "timed out"}
    assert (result["stopDate"] - result["startDate"]).total_seconds() == 3600


def test_an_answered_task_token_resumes_at_the_moment_it_is_answered(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    definition = {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": function_arn, "Payload": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 3600,
                "End": True,
            }
        },
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    emulator.settle()  # the task has started and waits for its token
    token = _token_of(emulator, execution)

    emulator.advance(1800)  # half an hour passes with nobody answering
    sfn.send_task_success(taskToken=token, output='{"decision": "approve"}')
    result = emulator.wait_for_execution(execution)

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"decision": "approve"}
    assert (result["stopDate"] - result["startDate"]).total_seconds() == 1800


def _token_of(emulator: Emulator, execution: str) -> str:
    events = emulator.client("stepfunctions").get_execution_history(executionArn=execution)["events"]
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")
    return str(json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["token"])


def test_a_state_machine_timeout_ends_the_execution_on_the_emulated_clock(emulator: Emulator) -> None:
    definition = {
        "TimeoutSeconds": 600,
        "StartAt": "Long",
        "States": {"Long": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=arn)
    result = emulator.wait_for_execution(execution["executionArn"])

    assert result["status"] == "TIMED_OUT"
    events = emulator.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    assert events[-1]["type"] == "ExecutionTimedOut"
    assert (events[-1]["timestamp"] - result["startDate"]).total_seconds() == 600


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


def test_history_comes_in_pages_as_aws_gives_it(emulator: Emulator) -> None:
    states: dict[str, dict[str, Any]] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(60)}
    states["S60"] = {"Type": "Pass", "End": True}
    arn = _deploy(emulator, _state_machine_template({"StartAt": "S0", "States": states}))["Arn"]
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    emulator.wait_for_execution(execution)

    first = sfn.get_execution_history(executionArn=execution)
    assert len(first["events"]) == 100  # AWS's default page, not the whole history
    rest = sfn.get_execution_history(executionArn=execution, nextToken=first["nextToken"], maxResults=1000)
    ids = [e["id"] for e in first["events"] + rest["events"]]
    assert ids == list(range(1, len(ids) + 1))
    assert "nextToken" not in rest
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=3)["events"]
    assert [e["id"] for e in newest] == [ids[-1], ids[-2], ids[-3]]


def _counting_loop(iterations: int) -> dict:
    """Increment, then Choice: Succeed after ``iterations`` rounds. History: ExecutionStarted, four events a round
    (Pass and Choice entered and exited), SucceedStateEntered/Exited, ExecutionSucceeded: 4 * iterations + 4."""
    return {
        "StartAt": "Increment",
        "States": {
            "Increment": {"Type": "Pass", "Parameters": {"count.$": "States.MathAdd($.count, 1)"}, "Next": "Enough"},
            "Enough": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.count", "NumericEquals": iterations, "Next": "Done"}],
                "Default": "Increment",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_an_execution_fails_when_its_history_reaches_25000_events(emulator: Emulator) -> None:
    # One round more than fits: event 25,000 would be a PassStateEntered, so it is the failure instead.
    arn = _deploy(emulator, _state_machine_template(_counting_loop(6250)))["Arn"]
    sfn = emulator.client("stepfunctions")

    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"count": 0}))["executionArn"]
    result = emulator.wait_for_execution(execution)

    assert result["status"] == "FAILED"
    assert result["error"] == "States.Runtime"
    assert result["cause"] == "The execution reached the maximum number of history events (25000)."
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=2)["events"]
    assert [(e["id"], e["type"]) for e in newest] == [(25000, "ExecutionFailed"), (24999, "PassStateExited")]
    assert newest[0]["executionFailedEventDetails"] == {"error": result["error"], "cause": result["cause"]}


def test_an_execution_whose_25000th_event_is_its_success_succeeds(emulator: Emulator) -> None:
    arn = _deploy(emulator, _state_machine_template(_counting_loop(6249)))["Arn"]
    sfn = emulator.client("stepfunctions")

    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"count": 0}))["executionArn"]
    result = emulator.wait_for_execution(execution)

    assert result["status"] == "SUCCEEDED"
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1)["events"]
    assert [(e["id"], e["type"]) for e in newest] == [(25000, "ExecutionSucceeded")]


def test_each_jsonpath_is_parsed_once_and_finds_what_a_fresh_parse_finds(emulator: Emulator) -> None:
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    data = {"a": {"b": [1, {"c": "x"}]}, "n": 3}

    assert json_path.parse("$.a.b[1].c") is json_path.parse("$.a.b[1].c")
    assert result_path.parse("$.r") is result_path.parse("$.r")
    for path in ("$.a.b[1].c", "$.a.b[*]", "$.n", "$.a.b[?(@.c == 'x')]"):
        assert [m.value for m in json_path.parse(path).find(data)] == [
            m.value for m in jsonpath_ng.ext.parse(path).find(data)
        ]
    assert result_path.parse("$.r").update_or_create({"n": 1}, 2) == jsonpath_ng.parse("$.r").update_or_create(
        {"n": 1}, 2
    )
    assert json_path.extract_json("$.a", data) == data["a"]  # moto's reader, through the remembered parse


def test_each_definition_is_parsed_once_and_executions_sharing_it_keep_their_own_retry_counts(
    emulator: Emulator,
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 2}]
    definition = _describe_group({"ModelPackageGroupName.$": "$.group"}, Retry=retry)
    arn = _deploy(emulator, _state_machine_template(definition))["Arn"]
    text = emulator.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
    program, tree = AmazonStateLanguageParser.parse(text)
    assert AmazonStateLanguageParser.parse(text) == (program, tree)  # the same objects: parsed once

    sfn = emulator.client("stepfunctions")
    executions = [
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"group": f"missing-{n}"}))["executionArn"]
        for n in range(2)
    ]
    for execution in executions:  # both wait out the same retrier's intervals at the same emulated times
        assert emulator.wait_for_execution(execution)["status"] == "FAILED"
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        assert [e["type"] for e in events].count("TaskScheduled") == 3  # the first try and exactly 2 retries

    bad = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})[:-2]  # not JSON
    for _ in range(2):  # a failure is not remembered: each call refuses it
        with pytest.raises(ClientError, match="ASLParserException"):
            sfn.create_state_machine(name="bad", definition=bad, roleArn="arn:aws:iam::123456789012:role/sfn")


def test_lambda_tasks_share_one_client_and_each_still_acts_as_its_state_machine(
    emulator: Emulator, make_function, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's Lambda tasks made a new boto3 client for every Invoke (patch point sfn-lambda-task-client-reused).
    import boto3

    made: list[str] = []
    original = boto3.client

    def counted(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("aws_access_key_id") == "ak":  # moto's task client
            made.append(str(kwargs.get("service_name")))
        return original(*args, **kwargs)

    monkeypatch.setattr(boto3, "client", counted)
    function_arn = make_function("echo")
    call = {"Type": "Task", "Resource": "${EchoArn}"}
    definition = {
        "StartAt": "First",
        "States": {"First": {**call, "ResultPath": "$.first", "Next": "Second"}, "Second": {**call, "End": True}},
    }
    arn = _deploy(emulator, _state_machine_template(definition, {"EchoArn": function_arn}))["Arn"]
    sfn = emulator.client("stepfunctions")

    results = [
        emulator.wait_for_execution(
            sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": n}))["executionArn"]
        )
        for n in (1, 2)
    ]

    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    assert [json.loads(r["output"])["event"]["n"] for r in results] == [1, 2]
    assert made == ["lambda"]  # four Invokes, one client
