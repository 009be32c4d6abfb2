"""Patch point events-deliver, and schedules: EventBridge reaches Lambda and Step Functions."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mlops_local.emulator import Emulator
from tests.emulator.conftest import allow_events, make_role


def _pass_machine(emulator: Emulator) -> str:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    return str(
        emulator.client("stepfunctions").create_state_machine(
            name="m", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
    )


def test_a_matching_event_invokes_the_lambda_and_starts_the_state_machine(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    machine_arn = _pass_machine(emulator)
    events = emulator.client("events")
    events.put_rule(
        Name="approved", EventPattern=json.dumps({"source": ["aws.sagemaker"], "detail": {"s": ["Approved"]}})
    )
    starter = make_role(emulator, "starter", "events.amazonaws.com", "states:StartExecution", resource=machine_arn)
    events.put_targets(
        Rule="approved",
        Targets=[{"Id": "fn", "Arn": function_arn}, {"Id": "sm", "Arn": machine_arn, "RoleArn": starter}],
    )
    allow_events(emulator, function_arn, "approved")

    events.put_events(Entries=[{"Source": "aws.sagemaker", "DetailType": "x", "Detail": json.dumps({"s": "Approved"})}])
    events.put_events(Entries=[{"Source": "aws.sagemaker", "DetailType": "x", "Detail": json.dumps({"s": "Rejected"})}])
    emulator.settle()

    delivered = {d.target_arn: d for d in emulator.events.delivered}
    assert set(delivered) == {function_arn, machine_arn}
    lambda_event = json.loads(delivered[function_arn].result)["event"]
    assert lambda_event["detail"] == {"s": "Approved"}
    assert lambda_event["time"].endswith("Z")  # ISO-8601, as EventBridge sends it
    executions = emulator.client("stepfunctions").list_executions(stateMachineArn=machine_arn)["executions"]
    assert len(executions) == 1
    assert not emulator.events.failures


def test_input_transformer_renders_strings_and_objects(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    events = emulator.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(
        Rule="r",
        Targets=[
            {
                "Id": "fn",
                "Arn": function_arn,
                "InputTransformer": {
                    "InputPathsMap": {"arn": "$.detail.arn", "meta": "$.detail.meta"},
                    "InputTemplate": '{"package": "<arn>", "meta": <meta>}',
                },
            }
        ],
    )
    allow_events(emulator, function_arn, "r")

    events.put_events(
        Entries=[{"Source": "app", "DetailType": "x", "Detail": json.dumps({"arn": "arn:1", "meta": {"k": 1}})}]
    )
    emulator.settle()

    assert json.loads(emulator.events.delivered[0].result)["event"] == {"package": "arn:1", "meta": {"k": 1}}


def test_a_failing_target_is_recorded_not_lost(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    events = emulator.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "fn", "Arn": function_arn, "Input": json.dumps({"fail": "x"})}])
    allow_events(emulator, function_arn, "r")

    events.put_events(Entries=[{"Source": "app", "DetailType": "x", "Detail": "{}"}])
    emulator.settle()

    assert len(emulator.events.failures) == 1
    assert "asked to fail" in emulator.events.failures[0].error


def test_a_scheduler_schedule_fires_its_lambda_with_its_input(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    emulator.client("scheduler").create_schedule(
        Name="drift-hourly",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": function_arn,
            "RoleArn": make_role(emulator, "s", "scheduler.amazonaws.com", "lambda:InvokeFunction"),
            "Input": json.dumps({"job": "drift"}),
        },
    )

    record = emulator.fire_schedule("drift-hourly")

    assert json.loads(record.result)["event"] == {"job": "drift"}


def test_a_schedule_fills_in_scheduler_context_attributes(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    emulator.client("scheduler").create_schedule(
        Name="with-context",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": function_arn,
            "RoleArn": make_role(emulator, "s", "scheduler.amazonaws.com", "lambda:InvokeFunction"),
            "Input": '{"at": "<aws.scheduler.scheduled-time>", "schedule": "<aws.scheduler.schedule-arn>"}',
        },
    )
    emulator.advance(0.5)  # mid-second: a scheduled time rounded up would be after the invocation
    before = dt.datetime.now(dt.UTC)

    record = emulator.fire_schedule("with-context")

    event = json.loads(record.result)["event"]
    fired = dt.datetime.strptime(event["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    # Whole seconds, never after the invocation (Scheduler invokes at or after the scheduled time): what a run
    # stamps with it is inside the minute the alarms evaluate next.
    assert before - dt.timedelta(seconds=1) < fired <= before
    assert before.microsecond == 500_000
    assert event["schedule"].endswith(":schedule/default/with-context")


def test_a_scheduled_rule_fires_with_a_scheduled_event(emulator: Emulator, make_function) -> None:
    function_arn = make_function("echo")
    events = emulator.client("events")
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "fn", "Arn": function_arn}])
    allow_events(emulator, function_arn, "nightly")

    (record,) = emulator.fire_rule("nightly")

    assert json.loads(record.result)["event"]["detail-type"] == "Scheduled Event"


def test_an_unknown_schedule_is_an_error(emulator: Emulator) -> None:
    with pytest.raises(Exception, match="Schedule"):
        emulator.fire_schedule("nope")
