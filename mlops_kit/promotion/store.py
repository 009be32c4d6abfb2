"""The promotion workflow's state in one DynamoDB table: per-endpoint locks, approval tokens, deployment records.

Item layout (``pk``, ``sk`` strings):

=====================================  ==============================  ==========================================
pk                                     sk                              what
=====================================  ==============================  ==========================================
``lock#<endpoint>``                    ``lock``                        holder (execution ARN), expires_at (epoch)
``approval#<id>``                      ``approval``                    task token, context, status (below)
``deployment#<endpoint>``              ``<started ISO>#<execution>``   the deployment record (who, when, path...)
=====================================  ==============================  ==========================================

An approval is ``pending`` until the approval service (:mod:`mlops_kit.promotion.approvals`) claims it for a
verified decision (``used``, with the decision, the approver AWS reported and the comment), or the execution ends
without an answer (``closed``: rejected by a forged answer, timed out, aborted). A claim whose resume failed is
given back (``pending`` again, :meth:`PromotionStore.release_answer`), so an approval can always still be given.
The task token is read only by the approval service; :class:`Approval` keeps it out of its ``repr``.

Locks are taken with a conditional write (free, expired, or already ours), so a second promotion of the same
endpoint fails fast while the first runs, and a crashed one cannot block the endpoint past the expiry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


class PromotionLocked(RuntimeError):  # noqa: N818  (the error name is the workflow's Catch name)
    """Another promotion holds the endpoint's lock."""


class ApprovalNotFound(LookupError):  # noqa: N818
    """No pending approval with that id (unknown, or already answered)."""


@dataclass(frozen=True)
class Approval:
    approval_id: str
    task_token: str = field(repr=False)  # a bearer credential for the waiting execution: never printed
    context: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    execution_arn: str = ""
    decision: str = ""
    approver: str = ""
    comment: str = ""
    refusal: str = ""
    answered_at: str = ""

    @property
    def candidate_arn(self) -> str:
        return str((self.context.get("candidate") or {}).get("arn", ""))


class PromotionStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self.table = table

    # -- locks ---------------------------------------------------------------------------------------
    def acquire_lock(self, endpoint: str, holder: str, *, ttl_seconds: float, now: float | None = None) -> None:
        """Take the endpoint's lock for ``holder`` (idempotent for the same holder)."""
        now = time.time() if now is None else now
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"lock#{endpoint}"},
                    "sk": {"S": "lock"},
                    "holder": {"S": holder},
                    "expires_at": {"N": str(int(now + ttl_seconds))},
                    "acquired_at": {"S": dt.datetime.fromtimestamp(now, dt.UTC).isoformat()},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"N": str(int(now))}, ":me": {"S": holder}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            current = self.lock_holder(endpoint)
            raise PromotionLocked(
                f"endpoint {endpoint} is being promoted by {current or 'another execution'}; "
                "wait for it to finish (or for its lock to expire) before promoting again"
            ) from None

    def release_lock(self, endpoint: str, holder: str) -> bool:
        """Release the lock if ``holder`` holds it; False if it did not (already released or expired)."""
        try:
            self._dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"lock#{endpoint}"}, "sk": {"S": "lock"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
            return True
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False

    def lock_holder(self, endpoint: str) -> str | None:
        item = self._dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"lock#{endpoint}"}, "sk": {"S": "lock"}}, ConsistentRead=True
        ).get("Item")
        if not item or int(item["expires_at"]["N"]) < time.time():
            return None
        return str(item["holder"]["S"])

    # -- approvals -------------------------------------------------------------------------------------
    def put_approval(self, *, task_token: str, execution_arn: str, context: dict[str, Any]) -> str:
        """Store a pending approval; returns its short id (what ``mlops approve`` takes)."""
        approval_id = secrets.token_hex(4)
        self._dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"approval#{approval_id}"},
                "sk": {"S": "approval"},
                "task_token": {"S": task_token},
                "execution_arn": {"S": execution_arn},
                "context": {"S": json.dumps(context, default=str)},
                "status": {"S": "pending"},
                "created_at": {"S": dt.datetime.now(dt.UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return approval_id

    def get_approval(self, approval_id: str) -> Approval:
        item = self._dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"approval#{approval_id}"}, "sk": {"S": "approval"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            raise ApprovalNotFound(
                f"no approval request {approval_id!r}; `mlops promotions pending` lists the open ones"
            )
        return Approval(
            approval_id=approval_id,
            task_token=item["task_token"]["S"],
            context=json.loads(item["context"]["S"]),
            status=item["status"]["S"],
            execution_arn=item["execution_arn"]["S"],
            decision=_text(item, "decision"),
            approver=_text(item, "approver"),
            comment=_text(item, "comment_text"),
            refusal=_text(item, "refusal"),
            answered_at=_text(item, "answered_at"),
        )

    def answer_approval(
        self, approval_id: str, *, decision: str, approver: str, comment: str, answered_at: str = ""
    ) -> Approval:
        """Claim a pending approval for a decision (once); raises ApprovalNotFound if it is unknown or already
        answered. Claiming again with the same decision and approver is a no-op (a retried delivery), so the
        caller can go on to resume the execution."""
        answered_at = answered_at or dt.datetime.now(dt.UTC).isoformat()
        claimed = self._update_approval(
            approval_id,
            "SET #s = :used, decision = :d, approver = :a, comment_text = :c, answered_at = :t REMOVE refusal",
            "attribute_exists(pk) AND (#s = :pending OR (#s = :used AND decision = :d AND approver = :a))",
            {":d": decision, ":a": approver, ":c": comment or "-", ":t": answered_at},
        )
        if not claimed:
            approval = self.get_approval(approval_id)  # raises when unknown
            raise ApprovalNotFound(
                f"approval request {approval_id} was already answered ({approval.status}"
                f"{': ' + approval.decision + ' by ' + approval.approver if approval.decision else ''}); "
                "an approval is answered once"
            ) from None
        return self.get_approval(approval_id)

    def release_answer(self, approval_id: str, *, decision: str, approver: str, reason: str) -> bool:
        """Give a claimed approval back (``pending``) when resuming the execution failed, so it can be given again;
        False if it was not claimed with that decision by that approver (nothing to undo)."""
        return self._update_approval(
            approval_id,
            "SET #s = :pending, refusal = :r REMOVE decision, approver, comment_text, answered_at",
            "#s = :used AND decision = :d AND approver = :a",
            {":d": decision, ":a": approver, ":r": reason},
        )

    def refuse(self, approval_id: str, reason: str) -> None:
        """Note on a pending approval why an answer was refused (the CLI shows it to the person who answered)."""
        self._dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"approval#{approval_id}"}, "sk": {"S": "approval"}},
            UpdateExpression="SET refusal = :r",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":r": {"S": reason}},
        )

    def close_approvals(self, execution_arn: str, reason: str) -> list[str]:
        """Close the execution's pending approvals (it ended without a verified answer); returns their ids."""
        closed = []
        for approval in self.pending_approvals():
            if approval.execution_arn != execution_arn:
                continue
            if self._update_approval(  # False: answered meanwhile
                approval.approval_id, "SET #s = :closed, refusal = :r", "#s = :pending", {":r": reason}
            ):
                closed.append(approval.approval_id)
        return closed

    def _update_approval(self, approval_id: str, update: str, condition: str, values: dict[str, str]) -> bool:
        """A conditional update of one approval record (``#s`` is its status; ``:used``, ``:pending`` and
        ``:closed`` name the statuses); False when the condition does not hold."""
        statuses = {f":{status}": status for status in ("used", "pending", "closed")}
        used = set(re.findall(r":\w+", f"{update} {condition}"))  # DynamoDB refuses values no expression uses
        try:
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"approval#{approval_id}"}, "sk": {"S": "approval"}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    name: {"S": value} for name, value in {**statuses, **values}.items() if name in used
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def pending_for_package(self, package_arn: str) -> Approval | None:
        """The pending approval whose candidate is ``package_arn`` (one at most: one promotion per version)."""
        found = [a for a in self.pending_approvals() if a.candidate_arn == package_arn]
        return found[0] if found else None

    def pending_approvals(self) -> list[Approval]:
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p) AND #s = :pending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":p": {"S": "approval#"}, ":pending": {"S": "pending"}},
        }
        while True:
            page = self._dynamodb.scan(**arguments)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [self.get_approval(item["pk"]["S"].split("#", 1)[1]) for item in items]

    # -- deployment records ------------------------------------------------------------------------------
    def record_deployment(self, endpoint: str, record: dict[str, Any]) -> None:
        started = str(record.get("started_at") or dt.datetime.now(dt.UTC).isoformat())
        self._dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"deployment#{endpoint}"},
                "sk": {"S": f"{started}#{record.get('execution_arn', '')}"},
                "record": {"S": json.dumps(record, default=str, sort_keys=True)},
                "outcome": {"S": str(record.get("outcome", "unknown"))},
            },
        )

    def deployments(self, endpoint: str, limit: int = 20) -> list[dict[str, Any]]:
        page = self._dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"deployment#{endpoint}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [json.loads(item["record"]["S"]) for item in page.get("Items", [])]


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return str(value["S"]) if value else ""
