"""Redrive a dead-letter queue of the kit: each dead letter's event is given to its function again.

The kit's dead-letter queues (``cdk/constructs/dead_letters.py``) hold two kinds of message: an event EventBridge could
not deliver (the body is the event itself) and a Lambda invocation record after the function's retries failed (the
event is its ``requestPayload``). SQS's own redrive (``StartMessageMoveTask``) only moves messages back to a source
*queue*, and these came from EventBridge and Lambda, so redriving means invoking the function with each event.

``python -m mlops_kit.deadletters --queue-url URL --function NAME`` invokes ``NAME`` synchronously with each message's
event and deletes the message only when the invocation succeeded; a failing one stays in the queue, visible again at
once, and is counted. Run it after fixing what made the events fail.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RedriveResult:
    redriven: int = 0
    failed: list[str] = field(default_factory=list)  # message id: the function's error


def event_of(body: str) -> Any:
    """The original event of a dead letter: a Lambda invocation record's ``requestPayload``, else the body itself.
    Raises ValueError when the body is not JSON (not a message the kit's queues receive)."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a dead letter of the kit (the body is not JSON): {exc}") from None
    if isinstance(message, dict) and "requestContext" in message and "requestPayload" in message:
        return message["requestPayload"]
    return message


def redrive(sqs: Any, lambda_client: Any, *, queue_url: str, function_name: str) -> RedriveResult:
    """Invoke ``function_name`` with the event of every message in ``queue_url``; delete each one that succeeded.

    One pass: every message received is tried once (a message seen again in this pass is not retried); one that
    still fails is made visible again at once.
    """
    result = RedriveResult()
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        for message in messages:
            if message["MessageId"] in seen:  # failed earlier in this pass: receiving it hid it again
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if not fresh:
            return result
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                event = event_of(message["Body"])
            except ValueError as exc:
                result.failed.append(f"{message['MessageId']}: {exc}")
                continue
            response = lambda_client.invoke(
                FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
            )
            if response.get("FunctionError"):
                error = response["Payload"].read().decode(errors="replace")[:500]
                result.failed.append(f"{message['MessageId']}: {error}")
                # Visible again now, for the next redrive: this pass does not retry it (it is in ``seen``).
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.redriven += 1


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every message was redriven, 1 when some still fail (they stay in the queue)."""
    import boto3

    parser = argparse.ArgumentParser(prog="python -m mlops_kit.deadletters", description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True, help="the dead-letter queue (its alarm names the function)")
    parser.add_argument("--function", required=True, help="the function whose events the queue holds")
    args = parser.parse_args(argv)
    session = boto3.Session()
    result = redrive(
        session.client("sqs"), session.client("lambda"), queue_url=args.queue_url, function_name=args.function
    )
    print(f"redriven: {result.redriven}; still failing: {len(result.failed)}")
    for failure in result.failed:
        print(f"  {failure}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
