"""EventBridge delivery and schedules for the emulator.

moto matches events to rules but cannot deliver to Lambda or Step Functions, and never fires a schedule.
Here matched events are delivered asynchronously, as EventBridge does, by one worker thread (so a handler
that puts an event never waits on its own consumer); each queued delivery counts as work on the emulator's
clock until it has run, so ``emulator.settle()`` returns only after every delivery in flight. Schedules
(EventBridge Scheduler schedules and rules with a ``ScheduleExpression``) fire when asked to:
:meth:`EventDelivery.fire_schedule`, :meth:`fire_rule`.

Nothing is dropped that AWS would keep: an event a rule or schedule cannot deliver goes to the target's
``DeadLetterConfig`` queue (with EventBridge's ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE`` and ``ERROR_MESSAGE``
attributes), and a Lambda invocation that still fails after the function's ``MaximumRetryAttempts`` (its
``EventInvokeConfig``, 2 by default; retried at once, not after Lambda's minutes of back-off) goes to its on-failure
destination as Lambda's invocation record. Both sends are authorized as AWS authorizes them: the queue's policy for
``events.amazonaws.com`` and the rule, the schedule's role, the function's execution role.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from mlops_local.clock import Token, VirtualClock
from mlops_local.iam.enforcement import authorize_target, permitted_targets
from mlops_local.patching import Patcher, PatchPoint, points_by_name

LOG = logging.getLogger(__name__)

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="events-deliver",
        module="moto.events.models",
        attribute="Rule.send_to_targets",
        signature=("(self, original_event: 'EventMessageType', transform_input: 'bool' = True) -> 'None'"),
        why="EventBridge raises NotImplementedError for Lambda and Step Functions targets; deliver them",
    ),
)


@dataclass
class DeliveryFailure:
    target_arn: str
    event: Any
    error: str


@dataclass
class DeliveryRecord:
    target_arn: str
    payload: Any
    result: Any = None
    errored: bool = False


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, region, account) of an ARN."""
    parts = arn.split(":")
    return parts[2], parts[3], parts[4]


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's wire format: ISO-8601 ``time``, no internal bookkeeping keys."""
    out = {k: v for k, v in event.items() if k != "ingestion-time"}
    when = out.get("time")
    if isinstance(when, int | float):
        out["time"] = dt.datetime.fromtimestamp(when, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _json_path(document: Any, path: str) -> Any:
    from jsonpath_ng.ext import parse

    matches = parse(path).find(document)
    return matches[0].value if matches else None


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What a target receives: ``Input``, ``InputPath``, ``InputTransformer`` or the whole event."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return _json_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        text = transformer["InputTemplate"]
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            value = _json_path(event, path)
            rendered = value if isinstance(value, str) else json.dumps(value)
            # Inside a quoted string the value is inserted raw; elsewhere as JSON.
            text = text.replace(f'"<{name}>"', json.dumps(rendered) if isinstance(value, str) else rendered)
            text = text.replace(f"<{name}>", rendered)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return event


class EventDelivery:
    """Delivers matched events and fired schedules to Lambda functions and state machines."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.failures: list[DeliveryFailure] = []
        self.delivered: list[DeliveryRecord] = []
        self._queue: queue.Queue[tuple[dict[str, Any], Any, str | None, Token] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        if self._worker is None:
            # A plain thread: it waits for work without counting; each item it takes is counted (a clock token).
            self._worker = threading.Thread(target=self._run, name="emulator-eventbridge", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None
        while True:  # deliveries nobody will run any more must not hold the clock
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[3].release()

    def deliver(self, target: dict[str, Any], event: dict[str, Any], rule_arn: str | None = None) -> None:
        """Queue one event for one target (called from moto's rule matching)."""
        payload = target_input(target, normalise_event(event))
        self._queue.put((target, payload, rule_arn, self.clock.hold()))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            target, payload, rule_arn, token = item
            with self.clock.adopted(token):
                try:
                    self.deliver_now(target["Arn"], payload, role_arn=target.get("RoleArn"), rule_arn=rule_arn)
                except Exception as exc:
                    LOG.warning("event delivery to %s failed: %s", target["Arn"], exc)
                    self.failures.append(DeliveryFailure(target["Arn"], payload, f"{type(exc).__name__}: {exc}"))
                    self.undeliverable(target, payload, exc, rule_arn=rule_arn)

    def undeliverable(
        self, target: dict[str, Any], payload: Any, error: Exception, *, rule_arn: str | None, via: str = "events"
    ) -> bool:
        """Send an event that could not be delivered to the target's dead-letter queue, if it has one; return
        whether it was sent. The send itself is authorized (a queue policy that does not allow the rule, or a
        schedule role without sqs:SendMessage, loses the event, as on AWS)."""
        queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            return False
        code = "NO_PERMISSIONS" if type(error).__name__ == "AccessDeniedError" else "RESOURCE_NOT_FOUND"
        attributes = {
            "RULE_ARN": rule_arn or "",
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": code,
            "ERROR_MESSAGE": str(error)[:1000],
        }
        try:
            authorize_target(queue_arn, via=via, role_arn=target.get("RoleArn"), source_arn=rule_arn)
            _send(queue_arn, payload, {k: v for k, v in attributes.items() if v})
        except Exception as exc:
            LOG.warning("dead-lettering an event for %s failed: %s", target["Arn"], exc)
            self.failures.append(DeliveryFailure(queue_arn, payload, f"{type(exc).__name__}: {exc}"))
            return False
        return True

    def deliver_now(
        self, arn: str, payload: Any, *, role_arn: str | None = None, rule_arn: str | None = None, via: str = "events"
    ) -> DeliveryRecord:
        """Invoke a Lambda function or start a state machine execution with ``payload``, if ``via`` (``events`` for
        the rule ``rule_arn``, ``scheduler``) may: raises AccessDeniedError otherwise."""
        service, region, account = _arn_parts(arn)
        authorize_target(arn, via=via, role_arn=role_arn, source_arn=rule_arn)
        record = DeliveryRecord(target_arn=arn, payload=payload)
        if service == "lambda":
            from moto.awslambda.utils import get_backend

            function = get_backend(account, region).get_function(arn)
            config = (function.event_invoke_config[-1].config if function.event_invoke_config else {}) or {}
            attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
            for _attempt in range(attempts):  # Lambda retries a failed asynchronous invocation
                result, errored, _logs = function._invoke_lambda(json.dumps(payload))
                if not errored:
                    break
            record.result, record.errored = result, errored
            if errored:
                self.failures.append(DeliveryFailure(arn, payload, result))
                self._on_failure(function, config, payload, result, attempts)
        elif service == "states":
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            execution = stepfunctions_parser_backends[account][region].start_execution(
                arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload)
            )
            record.result = execution.execution_arn
        else:
            raise NotImplementedError(f"the emulator does not deliver to {service} targets ({arn})")
        self.delivered.append(record)
        return record

    def _on_failure(self, function: Any, config: dict[str, Any], payload: Any, result: Any, attempts: int) -> None:
        """Lambda's on-failure destination (an SQS queue): the invocation record, sent with the function's role."""
        from mlops_local.iam.enforcement import authorize_role

        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if not destination:
            return
        try:
            response = json.loads(result) if isinstance(result, str) else result
        except json.JSONDecodeError:
            response = {"errorMessage": str(result)}
        record = {
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": response,
        }
        _service, region, account = _arn_parts(destination)
        name = destination.rsplit(":", 1)[-1]
        try:
            authorize_role(
                function.role,
                "Lambda",
                "sqs",
                "SendMessage",
                {"QueueUrl": f"https://sqs.{region}.amazonaws.com/{account}/{name}"},
                region=region,
            )
            _send(destination, record, {})
        except Exception as exc:
            LOG.warning("the on-failure destination of %s refused the record: %s", function.function_arn, exc)
            self.failures.append(DeliveryFailure(destination, payload, f"{type(exc).__name__}: {exc}"))

    # -- schedules ------------------------------------------------------------------------------------
    def fire_schedule(self, name: str, *, group: str = "default", account: str, region: str) -> DeliveryRecord:
        """Fire an EventBridge Scheduler schedule once, now, synchronously (context attributes such as
        ``<aws.scheduler.scheduled-time>`` in the target's input are filled in)."""
        from moto.scheduler.models import scheduler_backends

        schedule = scheduler_backends[account][region].get_schedule(group, name)
        target = schedule.target
        text = target.get("Input") or ""
        # Scheduler's context attributes, as the service fills them in for each invocation. The scheduled time
        # has whole seconds and is never after the invocation (Scheduler invokes at or after it): a time rounded
        # up stamped the run's metrics up to a second in the future, past the minute the alarms evaluate at next.
        scheduled = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for attribute, value in (
            ("scheduled-time", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("execution-id", str(uuid.uuid4())),
            ("attempt-number", "0"),
            ("schedule-arn", schedule.arn),
        ):
            text = text.replace(f"<aws.scheduler.{attribute}>", value)
        payload = json.loads(text) if text else {}
        try:
            return self.deliver_now(target["Arn"], payload, role_arn=target.get("RoleArn"), via="scheduler")
        except Exception as exc:
            if self.undeliverable(target, payload, exc, rule_arn=None, via="scheduler"):
                return DeliveryRecord(target_arn=target["Arn"], payload=payload, result=str(exc), errored=True)
            raise

    def fire_rule(self, name: str, *, account: str, region: str, bus: str = "default") -> list[DeliveryRecord]:
        """Fire a scheduled EventBridge rule once, now, synchronously, with a 'Scheduled Event'."""
        from moto.events.models import events_backends

        rule = events_backends[account][region].describe_rule(name, bus)
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        }
        return [
            self.deliver_now(t["Arn"], target_input(t, event), role_arn=t.get("RoleArn"), rule_arn=rule.arn)
            for t in rule.targets
        ]


def _send(queue_arn: str, body: Any, attributes: dict[str, str]) -> None:
    from moto.sqs.models import sqs_backends

    _service, region, account = _arn_parts(queue_arn)
    sqs_backends[account][region].send_message(
        queue_arn.rsplit(":", 1)[-1],
        json.dumps(body),
        message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


def apply(patcher: Patcher) -> None:
    point = points_by_name(PATCH_POINTS)["events-deliver"]
    original_send = point.original()
    delivery = patcher.emulator.events

    def send_to_targets(rule: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        if not rule.event_pattern.matches_event(original_event):
            return
        own: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for target in rule.targets:
            service = target["Arn"].split(":")[2]
            (own if service in ("lambda", "states") else others).append(target)
        for target in own:
            delivery.deliver(target, original_event, rule.arn)
        others, denied = permitted_targets(others, rule.arn)  # topics and queues need their policies to allow
        delivery.failures += [DeliveryFailure(t["Arn"], original_event, error) for t, error in denied]
        if others:
            saved_targets = rule.targets
            rule.targets = others
            try:
                original_send(rule, original_event, transform_input)
            finally:
                rule.targets = saved_targets

    patcher.replace(point, send_to_targets)
