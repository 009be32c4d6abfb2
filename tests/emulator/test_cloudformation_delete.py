"""Stack deletion on the emulator as CloudFormation does it: custom resources get Create and Delete requests and
their answers count (a FAILED Delete leaves the stack DELETE_FAILED with the reason), and the rest is deleted in
reverse dependency order."""

from __future__ import annotations

import json
from collections.abc import Callable

from mlops_local.cloudformation_delete import deletion_order
from mlops_local.emulator import Emulator

# A custom resource handler that answers as CloudFormation expects (PUT to the ResponseURL), failing a Delete
# when its FAIL_DELETE variable is set; it prints each request it gets (read back from its log group).
HANDLER = """
import json, os, urllib.request

def handler(event, context):
    failed = event["RequestType"] == "Delete" and os.environ.get("FAIL_DELETE") == "1"
    answer = {
        "Status": "FAILED" if failed else "SUCCESS",
        "Reason": "the endpoint is still Updating" if failed else "",
        "PhysicalResourceId": event.get("PhysicalResourceId") or "thing-1",
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Seen": event["RequestType"], "Size": event["ResourceProperties"]["Size"]},
    }
    body = json.dumps(answer).encode()
    urllib.request.urlopen(urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                                  headers={"Content-Type": ""})).read()
    print("request", event["RequestType"], event.get("PhysicalResourceId"))
    return answer
"""


def _stack(emulator: Emulator, function_arn: str) -> None:
    template = {
        "Resources": {
            "Thing": {"Type": "Custom::Thing", "Properties": {"ServiceToken": function_arn, "Size": "3"}},
        },
        "Outputs": {"Seen": {"Value": {"Fn::GetAtt": ["Thing", "Seen"]}}, "Id": {"Value": {"Ref": "Thing"}}},
    }
    emulator.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))


def _status(emulator: Emulator) -> str:
    summaries = emulator.client("cloudformation").list_stacks()["StackSummaries"]
    return str(next(s["StackStatus"] for s in summaries if s["StackName"] == "s"))


def _requests(emulator: Emulator) -> list[str]:
    logs = emulator.client("logs")
    group = "/aws/lambda/thing"
    lines = [e["message"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
             for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]]  # fmt: skip
    return [line.strip() for line in lines if line.startswith("request")]


def test_a_custom_resource_answers_create_and_is_sent_delete_with_its_physical_id(
    emulator: Emulator, make_function: Callable[..., str]
) -> None:
    _stack(emulator, make_function("thing", HANDLER))
    cfn = emulator.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="s")["Stacks"][0]["Outputs"]}

    cfn.delete_stack(StackName="s")

    assert outputs == {"Seen": "Create", "Id": "thing-1"}
    assert _status(emulator) == "DELETE_COMPLETE"
    assert sorted(_requests(emulator)) == ["request Create None", "request Delete thing-1"]


def test_a_failed_delete_leaves_the_stack_delete_failed_with_the_reason(
    emulator: Emulator, make_function: Callable[..., str]
) -> None:
    _stack(emulator, make_function("thing", HANDLER, FAIL_DELETE="1"))
    cfn = emulator.client("cloudformation")

    cfn.delete_stack(StackName="s")

    assert _status(emulator) == "DELETE_FAILED"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="s")["StackEvents"]]
    assert any("Thing: the endpoint is still Updating" in r for r in reasons)
    # nothing else went: the function is still there to be retried
    assert emulator.client("lambda").get_function(FunctionName="thing")


def test_resources_are_deleted_before_what_they_refer_to() -> None:
    resources = {
        "Database": {"Type": "AWS::Glue::Database"},
        "Table": {"Type": "AWS::Glue::Table", "Properties": {"DatabaseName": {"Ref": "Database"}}},
        "Role": {"Type": "AWS::IAM::Role"},
        "Policy": {"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "Role"}]}},
        "Function": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": ["Policy"],
            "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}},
        },
        "Custom": {"Type": "Custom::X", "Properties": {"ServiceToken": {"Fn::Sub": "${Function.Arn}"}}},
    }

    order = deletion_order(resources)

    assert order.index("Table") < order.index("Database")
    assert order.index("Custom") < order.index("Function") < order.index("Policy") < order.index("Role")
