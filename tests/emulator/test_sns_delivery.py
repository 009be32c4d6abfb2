"""SNS subscription filter policies in the emulator, as SNS applies them (Amazon SNS developer guide,
"Amazon SNS subscription filter policies", "Filter policy constraints", "Key matching"): a subscription created by
CloudFormation keeps its filter; an attribute filter delivers only messages whose attribute matches one of its
values, case-sensitively, and no message without attributes; an unfiltered subscription receives everything.
The mailbox reads moto's record of published messages and moto's filter matcher: this also checks that both still
have the shape it reads."""

from __future__ import annotations

import json

from mlops_local.emulator import Emulator


def _stack(emulator: Emulator) -> str:
    def email(address: str, filtered: bool) -> dict:
        properties = {"TopicArn": {"Ref": "Links"}, "Protocol": "email", "Endpoint": address}
        if filtered:
            properties["FilterPolicy"] = {"addressee": [address]}  # an object, as CDK synthesizes it
        return {"Type": "AWS::SNS::Subscription", "Properties": properties}

    template = {
        "Resources": {
            "Links": {"Type": "AWS::SNS::Topic"},
            "Ana": email("ana@example.com", True),
            "Bo": email("bo@example.com", True),
            "Ops": email("ops@example.com", False),
        },
        "Outputs": {"Topic": {"Value": {"Ref": "Links"}}},
    }
    cfn = emulator.client("cloudformation")
    cfn.create_stack(StackName="links", TemplateBody=json.dumps(template))
    return str(cfn.describe_stacks(StackName="links")["Stacks"][0]["Outputs"][0]["OutputValue"])


def test_a_cloudformation_subscription_keeps_its_filter_policy(emulator: Emulator) -> None:
    topic = _stack(emulator)
    sns = emulator.client("sns")

    attributes = {
        s["Endpoint"]: sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    }

    assert json.loads(attributes["ana@example.com"]["FilterPolicy"]) == {"addressee": ["ana@example.com"]}
    assert attributes["ana@example.com"]["FilterPolicyScope"] == "MessageAttributes"
    assert "FilterPolicy" not in attributes["ops@example.com"]


def test_each_filtered_subscriber_receives_only_messages_addressed_to_them(emulator: Emulator) -> None:
    topic = _stack(emulator)
    sns = emulator.client("sns")

    def publish(message: str, addressee: str | None) -> None:
        extra = {"MessageAttributes": {"addressee": {"DataType": "String", "StringValue": addressee}}}
        sns.publish(TopicArn=topic, Subject=message, Message=message, **(extra if addressee else {}))

    publish("for ana", "ana@example.com")
    publish("for bo", "bo@example.com")
    publish("for ANA", "ANA@example.com")  # string matching is case-sensitive
    publish("for nobody in particular", None)  # no attributes: an attribute filter never matches

    received = {
        address: [mail.message for mail in emulator.mailbox(address)]
        for address in ("ana@example.com", "bo@example.com", "ops@example.com", "eve@example.com")
    }

    assert received == {
        "ana@example.com": ["for ana"],
        "bo@example.com": ["for bo"],
        "ops@example.com": ["for ana", "for bo", "for ANA", "for nobody in particular"],
        "eve@example.com": [],
    }
    assert emulator.mailbox("ana@example.com")[0].attributes == {"addressee": "ana@example.com"}
    assert emulator.mailbox("ana@example.com")[0].topic_arn == topic
