"""Answer a pending promotion approval, and follow a promotion execution (the CLI and the demo share these)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlops_kit.promotion.store import Approval, PromotionStore
from mlops_kit.waiting import poll

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

    def progressed() -> dict[str, Any] | None:
        entered = []
        for event in _new_events(sfn, execution_arn, max(seen, default=0)):
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
        return None

    result: dict[str, Any] = poll(
        progressed, every=poll_seconds, timeout=timeout_seconds, what=f"execution {execution_arn}"
    )
    return result


def _new_events(sfn: Any, execution_arn: str, after_id: int) -> list[dict[str, Any]]:
    """The execution's history events after ``after_id``, oldest first, read newest-first page by page and only
    as far back as needed (a long promotion's history has thousands of events; re-reading it all on every poll
    is what made following one slow)."""
    newest_first: list[dict[str, Any]] = []
    token = None
    page_size = 25  # a poll usually finds a handful of new events: read a short page first, longer ones after
    while True:
        request: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": page_size}
        page_size = 1000
        if token:
            request["nextToken"] = token
        page = sfn.get_execution_history(**request)
        for event in page["events"]:
            if event["id"] <= after_id:
                return newest_first[::-1]
            newest_first.append(event)
        token = page.get("nextToken")
        if not token:
            return newest_first[::-1]


def pending_approval(store: PromotionStore, execution_arn: str, *, timeout_seconds: float = 60) -> Approval:
    """The approval request the execution stored. Its Lambda runs just after the waiting state is entered, so
    an execution seen waiting may not have stored it yet: poll until it has (TimeoutError after the timeout)."""

    def stored() -> Approval | None:
        pending = [a for a in store.pending_approvals() if a.execution_arn == execution_arn]
        return pending[0] if pending else None

    try:
        return poll(stored, every=0.5, timeout=timeout_seconds, what=f"the approval request of {execution_arn}")
    except TimeoutError as exc:
        raise TimeoutError(f"{execution_arn} waits for approval but stored no approval request") from exc
