"""Catalogue: every asynchronous target has a dead-letter queue, encrypted and alarmed, with exactly the grants it
needs. Issue 16: events delivered through EventBridge (feature records, A/B outcomes, registry approvals, drift job
ends) were gone after Lambda's async retries. A new rule or schedule without a dead-letter queue fails here."""

from __future__ import annotations

from typing import Any

import pytest


def _resources(templates: dict[str, dict[str, Any]], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stack, logical_id, resource)
        for stack, template in templates.items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    ]


def _ref(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points to."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _lambda_rule_targets(templates: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for stack, rule_id, rule in _resources(templates, "AWS::Events::Rule"):
        for target in rule["Properties"].get("Targets", []):
            function_id = _ref(target["Arn"])
            if function_id and templates[stack]["Resources"][function_id]["Type"] == "AWS::Lambda::Function":
                found.append((stack, rule_id, target))
    return found


def _schedules(templates: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return _resources(templates, "AWS::Scheduler::Schedule")


EXPECTED_RULE_TARGETS = 5  # feature records, A/B outcomes, registry approvals, drift job ends, drift alarms


def test_every_rule_targeting_a_function_has_a_dead_letter_queue_and_retries(templates: dict) -> None:
    targets = _lambda_rule_targets(templates)

    assert len(targets) >= EXPECTED_RULE_TARGETS
    for stack, rule_id, target in targets:
        queue_id = _ref(target.get("DeadLetterConfig", {}).get("Arn"))
        assert queue_id, f"{stack}/{rule_id} has no DeadLetterConfig"
        assert templates[stack]["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4


def test_every_schedule_has_a_dead_letter_queue(templates: dict) -> None:
    schedules = _schedules(templates)

    assert len(schedules) >= 2  # drift start, A/B status
    for stack, schedule_id, schedule in schedules:
        queue_id = _ref(schedule["Properties"]["Target"].get("DeadLetterConfig", {}).get("Arn"))
        assert queue_id, f"{stack}/{schedule_id} has no DeadLetterConfig"
        assert templates[stack]["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"


def test_each_schedule_role_may_put_dead_letters_into_the_encrypted_queue(templates: dict) -> None:
    for stack, schedule_id, schedule in _schedules(templates):
        role_id = _ref(schedule["Properties"]["Target"]["RoleArn"])
        queue_id = _ref(schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"])
        statements = [
            statement
            for _, _, policy in _resources({stack: templates[stack]}, "AWS::IAM::Policy")
            if role_id in [_ref(r) for r in policy["Properties"]["Roles"]]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        actions = {
            action
            for statement in statements
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        }

        assert {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"} <= actions, (stack, schedule_id, actions)
        assert any(_ref(s["Resource"]) == queue_id for s in statements if "sqs:SendMessage" in s["Action"])


def _async_functions(templates: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    functions = {(stack, _ref(target["Arn"])) for stack, _, target in _lambda_rule_targets(templates)}
    functions |= {(stack, _ref(s["Properties"]["Target"]["Arn"])) for stack, _, s in _schedules(templates)}
    return {(stack, str(function)) for stack, function in functions}


def test_every_asynchronously_invoked_function_sends_its_failures_to_its_queue(templates: dict) -> None:
    configs = {
        (stack, _ref(config["Properties"]["FunctionName"])): config["Properties"]
        for stack, _, config in _resources(templates, "AWS::Lambda::EventInvokeConfig")
    }

    for stack, function_id in _async_functions(templates):
        config = configs.get((stack, function_id))
        assert config, f"{stack}/{function_id} has no on-failure destination"
        assert config["MaximumRetryAttempts"] == 2
        destination = _ref(config["DestinationConfig"]["OnFailure"]["Destination"])
        assert templates[stack]["Resources"][destination]["Type"] == "AWS::SQS::Queue"


def _dead_letter_queues(templates: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    queues = {(s, _ref(t["DeadLetterConfig"]["Arn"])) for s, _, t in _lambda_rule_targets(templates)}
    queues |= {(s, _ref(x["Properties"]["Target"]["DeadLetterConfig"]["Arn"])) for s, _, x in _schedules(templates)}
    return {(stack, str(queue)) for stack, queue in queues}


def test_dead_letter_queues_are_encrypted_kept_14_days_and_retained(templates: dict) -> None:
    for stack, queue_id in _dead_letter_queues(templates):
        queue = templates[stack]["Resources"][queue_id]

        assert queue["Properties"]["KmsMasterKeyId"], f"{stack}/{queue_id} is not KMS-encrypted"
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert queue["DeletionPolicy"] == "Retain"  # removal_policy retain (cdk.json)


def test_each_dead_letter_queue_alarms_on_its_first_message(templates: dict) -> None:
    alarmed = set()
    for stack, _, alarm in _resources(templates, "AWS::CloudWatch::Alarm"):
        properties = alarm["Properties"]
        if properties.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert properties["TreatMissingData"] == "notBreaching"
        alarmed |= {(stack, _ref(d["Value"])) for d in properties["Dimensions"] if d["Name"] == "QueueName"}

    assert _dead_letter_queues(templates) <= alarmed


def test_eventbridge_may_send_to_a_dead_letter_queue_only_for_its_rules(templates: dict) -> None:
    policies = _resources(templates, "AWS::SQS::QueuePolicy")
    rule_targets = _lambda_rule_targets(templates)
    for stack, rule_id, target in rule_targets:
        queue_id = _ref(target["DeadLetterConfig"]["Arn"])
        statements = [
            statement
            for s, _, policy in policies
            if s == stack and queue_id in [_ref(q) for q in policy["Properties"]["Queues"]]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement.get("Principal") == {"Service": "events.amazonaws.com"}
        ]

        # One statement per rule that uses this queue (the approval service's two rules share one), each
        # allowing exactly that rule.
        rules = {r for s, r, t in rule_targets if s == stack and _ref(t["DeadLetterConfig"]["Arn"]) == queue_id}
        assert len(statements) == len(rules), (stack, rule_id, statements)
        assert {s["Action"] for s in statements} == {"sqs:SendMessage"}
        assert {_ref(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in statements} == rules


def test_the_platform_key_lets_eventbridge_encrypt_dead_letters_from_this_account_only(stack_template: Any) -> None:
    key = next(iter(stack_template("data").find_resources("AWS::KMS::Key").values()))
    events = {"Service": "events.amazonaws.com"}
    statements = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal") == events]

    assert len(statements) == 1
    assert sorted(statements[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statements[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize("kind", ["AWS::Events::Rule", "AWS::Scheduler::Schedule"])
def test_the_catalogue_sees_every_asynchronous_source(templates: dict, kind: str) -> None:
    # A rule or schedule that targets something other than a function would escape the checks above: list them.
    for stack, logical_id, resource in _resources(templates, kind):
        targets = resource["Properties"].get("Targets") or [resource["Properties"]["Target"]]
        for target in targets:
            function_id = _ref(target["Arn"])
            assert function_id, f"{stack}/{logical_id} targets {target['Arn']}: add its dead-letter check here"
            assert templates[stack]["Resources"][function_id]["Type"] == "AWS::Lambda::Function"
