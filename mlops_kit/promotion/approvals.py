"""Answer a pending promotion approval, and follow a promotion execution (the CLI and the demo share these)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from mlops_kit.promotion.store import Approval, PromotionStore

WAITING_STATE = "WaitForHumanApproval"


class ApprovalExpired(RuntimeError):  # noqa: N818
    """The execution no longer waits for this approval (it timed out or was stopped)."""


def answer(
    store: PromotionStore, sfn: Any, approval_id: str, *, decision: str, approver: str, comment: str
) -> Approval:
    """Record the decision once (ApprovalNotFound if unknown or already used) and resume the execution."""
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
    approval = store.answer_approval(approval_id, decision=decision, approver=approver, comment=comment)
    output = json.dumps({"decision": decision, "approver": approver, "comment": comment or "-"})
    try:
        sfn.send_task_success(taskToken=approval.task_token, output=output)
    except (sfn.exceptions.TaskDoesNotExist, sfn.exceptions.InvalidToken, sfn.exceptions.TaskTimedOut) as exc:
        raise ApprovalExpired(
            f"the promotion is no longer waiting for approval {approval_id} (it timed out or was stopped)"
        ) from exc
    return approval


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    on_state: Callable[[str], None] | None = None,
    until_waiting: bool = False,
    poll_seconds: float = 0.05,
    timeout_seconds: float = 600,
    seen: set[int] | None = None,
) -> dict[str, Any]:
    """Poll until the execution ends (or, with ``until_waiting``, waits for approval); report each state entered
    once (pass the same ``seen`` set to a later call to continue where the previous one stopped)."""
    seen = set() if seen is None else seen
    deadline = time.monotonic() + timeout_seconds
    while True:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        entered = []
        for event in events:
            details = event.get("stateEnteredEventDetails")
            if details and event["id"] not in seen:
                seen.add(event["id"])
                entered.append(details["name"])
                if on_state:
                    on_state(details["name"])
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if until_waiting and entered and entered[-1] == WAITING_STATE:
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still running after {timeout_seconds:.0f} s")
        time.sleep(poll_seconds)


def pending_approval(store: PromotionStore, execution_arn: str, *, timeout_seconds: float = 60) -> Approval:
    """The approval request the execution stored. Its Lambda runs just after the waiting state is entered, so
    an execution seen waiting may not have stored it yet: poll until it has (TimeoutError after the timeout)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        pending = [a for a in store.pending_approvals() if a.execution_arn == execution_arn]
        if pending:
            return pending[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} waits for approval but stored no approval request")
        time.sleep(0.05)
