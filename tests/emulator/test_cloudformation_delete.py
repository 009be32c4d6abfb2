"""Stack deletion on the emulator as CloudFormation does it: custom resources get Create and Delete requests and
their answers count (a FAILED Delete leaves the stack DELETE_FAILED with the reason), and every resource, custom ones
among them, is deleted in reverse dependency order (DependsOn, Ref, Fn::GetAtt, Fn::Sub)."""

from __future__ import annotations

import json
from collections.abc import Callable

from mlops_local.cloudformation_delete import deletion_order, references
from mlops_local.deploy import _delete_failures
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
    events = cfn.describe_stack_events(StackName="s")["StackEvents"]
    failed = [
        (e["LogicalResourceId"], e.get("ResourceStatusReason"))
        for e in events
        if e["ResourceStatus"] == "DELETE_FAILED"
    ]
    assert ("Thing", "the endpoint is still Updating") in failed
    assert ("s", "The following resource(s) failed to delete: [Thing]. ") in failed
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


def test_dependencies_count_in_every_form_an_intrinsic_takes() -> None:
    resources = {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Key": {"Type": "AWS::KMS::Key"},
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Joined": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Value": {"Fn::Join": ["/", [{"Fn::Sub": "${Bucket}"}, {"Fn::GetAtt": "Key.Arn"}]]}},
        },
        "Subbed": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                # Queue here is the variable the map defines, Bucket through it; ${!Key} is literal text
                "Value": {"Fn::Sub": ["${Queue}-${!Key}-${AWS::Region}", {"Queue": {"Ref": "Bucket"}}]},
            },
        },
        "Step": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Step": {"DependsOn": ["Queue"]}}}},
    }

    order = deletion_order(resources)

    assert order.index("Joined") < order.index("Bucket")
    assert order.index("Joined") < order.index("Key")
    assert order.index("Subbed") < order.index("Bucket")
    # neither the Fn::Sub variable nor the literal ${!Key}, nor a DependsOn inside properties, is a dependency
    assert references(resources["Subbed"]) & set(resources) == {"Bucket"}
    assert references(resources["Step"]) & set(resources) == set()
    assert sorted(order) == sorted(resources)


def _ordered_stack(emulator: Emulator, function_arn: str, *, retain_topic: bool = False) -> str:
    """Topic <-Ref- Thing (custom) <-DependsOn- Queue <-Fn::Sub- Log, and Queue <-Fn::GetAtt in Fn::Join- Dlq."""
    topic: dict[str, object] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "cfn-order"}}
    if retain_topic:
        topic["DeletionPolicy"] = "Retain"
    template = {
        "Resources": {
            "Log": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/o/${Queue.QueueName}"}},
            },
            "Dlq": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": {"Fn::Join": ["-", [{"Fn::GetAtt": ["Queue", "QueueName"]}, "dlq"]]}},
            },
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": "Thing", "Properties": {"QueueName": "cfn-order"}},
            "Thing": {
                "Type": "Custom::Thing",
                "Properties": {"ServiceToken": function_arn, "Size": "3", "Topic": {"Ref": "Topic"}},
            },
            "Topic": topic,
        }
    }
    return str(
        emulator.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))["StackId"]
    )


def _resource_events(emulator: Emulator, stack_id: str, status: str) -> list[str]:
    """Logical ids of resources with a ``status`` event, oldest first (DescribeStackEvents lists the newest first)."""
    events = emulator.client("cloudformation").describe_stack_events(StackName=stack_id)["StackEvents"]
    mine = [e for e in reversed(events) if e["ResourceType"] != "AWS::CloudFormation::Stack"]
    return [e["LogicalResourceId"] for e in mine if e["ResourceStatus"] == status]


def test_a_stack_is_deleted_in_reverse_dependency_order_custom_resources_included(
    emulator: Emulator, make_function: Callable[..., str]
) -> None:
    stack_id = _ordered_stack(emulator, make_function("thing", HANDLER))

    emulator.client("cloudformation").delete_stack(StackName="s")

    deleted = _resource_events(emulator, stack_id, "DELETE_COMPLETE")
    assert sorted(deleted) == ["Dlq", "Log", "Queue", "Thing", "Topic"]
    assert deleted.index("Log") < deleted.index("Queue")  # Fn::Sub
    assert deleted.index("Dlq") < deleted.index("Queue")  # Fn::GetAtt inside Fn::Join
    assert deleted.index("Queue") < deleted.index("Thing")  # DependsOn: the custom resource is not first
    assert deleted.index("Thing") < deleted.index("Topic")  # Ref
    assert _status(emulator) == "DELETE_COMPLETE"


def test_a_failed_delete_fails_the_stack_and_the_rest_is_deleted_as_cloudformation_does(
    emulator: Emulator, make_function: Callable[..., str]
) -> None:
    # Given a custom resource whose Delete fails, with a queue that depends on it and a topic it refers to
    stack_id = _ordered_stack(emulator, make_function("thing", HANDLER, FAIL_DELETE="1"))
    cfn = emulator.client("cloudformation")

    cfn.delete_stack(StackName="s")

    # Then what depends on it went before it; it stays; and, as on AWS, what it refers to is deleted all the same
    assert _status(emulator) == "DELETE_FAILED"
    assert _resource_events(emulator, stack_id, "DELETE_FAILED") == ["Thing"]
    deleted = _resource_events(emulator, stack_id, "DELETE_COMPLETE")
    assert deleted.index("Queue") < deleted.index("Topic")
    assert "Thing" not in deleted
    assert [r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="s")["StackResourceSummaries"]] == [
        "Thing"
    ]
    assert not emulator.client("sns").list_topics()["Topics"]
    assert _delete_failures(cfn, stack_id) == ["Thing: the endpoint is still Updating"]

    # When the cause is fixed, deleting again tries only what is left, and completes
    emulator.client("lambda").update_function_configuration(
        FunctionName="thing", Environment={"Variables": {"FAIL_DELETE": "0"}}
    )
    cfn.delete_stack(StackName="s")

    assert _status(emulator) == "DELETE_COMPLETE"
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    since_retry = events[: next(i for i, e in enumerate(events) if e["ResourceStatus"] == "DELETE_FAILED")]
    assert {e["LogicalResourceId"] for e in since_retry} == {"Thing", "s"}
    assert sorted(_requests(emulator)) == ["request Create None", "request Delete thing-1", "request Delete thing-1"]


def test_a_retained_resource_is_skipped_and_stays_in_its_service(
    emulator: Emulator, make_function: Callable[..., str]
) -> None:
    stack_id = _ordered_stack(emulator, make_function("thing", HANDLER), retain_topic=True)

    emulator.client("cloudformation").delete_stack(StackName="s")

    assert _status(emulator) == "DELETE_COMPLETE"
    assert _resource_events(emulator, stack_id, "DELETE_SKIPPED") == ["Topic"]
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in emulator.client("sns").list_topics()["Topics"]] == ["cfn-order"]


def test_a_role_goes_before_the_managed_policy_it_names_which_is_detached_first(emulator: Emulator) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    template = {
        "Resources": {
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": document}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": trust, "ManagedPolicyArns": [{"Ref": "Policy"}]},
            },
        }
    }
    cfn = emulator.client("cloudformation")
    stack_id = cfn.create_stack(StackName="s", TemplateBody=json.dumps(template))["StackId"]

    cfn.delete_stack(StackName="s")

    assert _status(emulator) == "DELETE_COMPLETE"
    assert _resource_events(emulator, stack_id, "DELETE_COMPLETE") == ["Role", "Policy"]
    assert not emulator.client("iam").list_roles()["Roles"]
    assert not emulator.client("iam").list_policies(Scope="Local")["Policies"]


def test_a_deleted_stack_is_described_with_its_outputs_and_exports_and_nothing_comes_back(emulator: Emulator) -> None:
    # Given a stack whose outputs, one exported, name a queue it holds
    cfn, sqs = emulator.client("cloudformation"), emulator.client("sqs")
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "kept-orders"}}},
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}, "Export": {"Name": "orders-queue"}},
            "QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
        },
    }
    stack_id = cfn.create_stack(StackName="exporter", TemplateBody=json.dumps(template))["StackId"]
    assert [e["Name"] for e in cfn.list_exports()["Exports"]] == ["orders-queue"]

    # When it is deleted, then described by its id (what the CDK CLI polls while `cdk destroy` runs)
    cfn.delete_stack(StackName="exporter")
    described = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    described_again = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]

    # Then it shows the outputs it had, and its queue stays gone (moto evaluated the exports again at every
    # describe, re-creating the resources they name) and its export with it
    assert described["StackStatus"] == described_again["StackStatus"] == "DELETE_COMPLETE"
    assert {o["OutputKey"] for o in described["Outputs"]} == {"QueueUrl", "QueueArn"}
    assert "QueueUrls" not in sqs.list_queues()
    assert cfn.list_exports()["Exports"] == []
