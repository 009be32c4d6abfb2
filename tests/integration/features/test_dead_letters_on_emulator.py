"""Feature records sent through EventBridge are never dropped: an event that cannot be delivered, or whose
processing still fails after Lambda's retries, waits in the dead-letter queue, and the redrive processes it."""

from __future__ import annotations

import json
from typing import Any

from mlops_kit.deadletters import event_of, redrive
from mlops_kit.features.store import FeatureStore
from mlops_local.emulator import Emulator

from .test_feature_store_on_emulator import activity


def _dead_letters(emulator: Emulator, queue_url: str) -> list[dict[str, Any]]:
    sqs = emulator.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    )
    return messages.get("Messages", [])


def _put(emulator: Emulator, detail: dict[str, Any]) -> None:
    emulator.client("events").put_events(
        Entries=[{"Source": "mlops.features", "DetailType": "Feature Records", "Detail": json.dumps(detail)}]
    )
    emulator.settle()


def test_an_undeliverable_event_waits_in_the_dead_letter_queue_and_is_redriven(
    emulator: Emulator, outputs: dict[str, str], store: FeatureStore
) -> None:
    # Given EventBridge may no longer invoke the function (its resource policy lost the rule's statement)
    lambda_client = emulator.client("lambda")
    function = outputs["FeatureIngestFunctionName"]
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    for statement in policy["Statement"]:
        if statement["Principal"] == {"Service": "events.amazonaws.com"}:
            lambda_client.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    queue_url = outputs["FeatureEventDeadLetterQueueUrl"]

    # When a feature record is published
    _put(emulator, {"group": "customer_activity", "records": [activity("D1", 2, 7)]})

    # Then it waits in the dead-letter queue with EventBridge's attributes, and nothing was written
    (message,) = _dead_letters(emulator, queue_url)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["RULE_ARN"].startswith("arn:aws:events:")
    assert event_of(message["Body"])["detail"]["records"][0]["customer_id"] == "D1"
    assert store.online is not None
    assert store.online.get([{"customer_id": "D1"}], ["customer_activity:txn_count_7d"]).rows == [
        {"txn_count_7d": None}
    ]

    # When it is redriven, the record is written and the queue is empty
    result = redrive(emulator.client("sqs"), lambda_client, queue_url=queue_url, function_name=function)

    assert (result.redriven, result.failed) == (1, [])
    assert store.online.get([{"customer_id": "D1"}], ["customer_activity:txn_count_7d"]).rows == [{"txn_count_7d": 7}]
    assert _dead_letters(emulator, queue_url) == []


def test_an_event_the_function_keeps_failing_on_is_kept_with_its_error(
    emulator: Emulator, outputs: dict[str, str]
) -> None:
    queue_url = outputs["FeatureEventDeadLetterQueueUrl"]

    _put(emulator, {"group": "customer_activity", "records": []})  # refused by the handler: no records

    (message,) = _dead_letters(emulator, queue_url)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # the invocation and Lambda's two retries
    assert record["responsePayload"]["errorType"] == "ValidationError"
    assert event_of(message["Body"])["detail"] == {"group": "customer_activity", "records": []}

    result = redrive(
        emulator.client("sqs"),
        emulator.client("lambda"),
        queue_url=queue_url,
        function_name=outputs["FeatureIngestFunctionName"],
    )

    assert result.redriven == 0
    assert len(result.failed) == 1
    assert "ValidationError" in result.failed[0]
    # Made visible again "now"; moto shows a message only once its visible-at time has passed, and emulated time
    # stands still until something waits.
    emulator.advance(1)
    assert len(_dead_letters(emulator, queue_url)) == 1  # still there, to fix and redrive again
