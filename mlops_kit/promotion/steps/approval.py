"""``WaitForHumanApproval``: store the task token as an approval request and notify approvers with the context and
the exact commands; the execution waits until ``mlops approve|reject`` (or the timeout) answers."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion


def request_approval(promotion: Promotion, state: dict[str, Any], task_token: str) -> dict[str, Any]:
    """Returns ``{"approval_id": ...}``; the answer, not this, becomes the state's ``approval``."""
    candidate, production = state["candidate"], state.get("production")
    context = {
        "endpoint": promotion.endpoint_name,
        "candidate": {"version": candidate["version"], "arn": candidate["arn"], "metrics": candidate["metrics"]},
        "production": {"version": production["version"], "metrics": production["metrics"]} if production else None,
        "shadow": state.get("shadow"),
    }
    approval_id = promotion.store.put_approval(task_token=task_token, execution_arn=state["execution"], context=context)
    production_text = (
        f"Production: version {production['version']} {production['metrics']}" if production else "Production: none"
    )
    shadow = state.get("shadow") or {}
    hours = promotion.settings.rollout.approval_timeout_seconds / 3600
    message = "\n".join(
        [
            f"Promotion of model version {candidate['version']} to {promotion.endpoint_name} awaits approval.",
            f"Candidate: version {candidate['version']} {candidate['metrics']}",
            production_text,
            f"Shadow comparison: {shadow.get('pairs', 0)} paired requests, agreement {shadow.get('agreement')}, "
            f"p99 ratio {shadow.get('p99_ratio')}, shadow error rate {shadow.get('shadow_error_rate')}",
            "",
            f"Approve:  mlops approve {approval_id} --comment '...'",
            f"Reject:   mlops reject {approval_id} --reason '...'",
            f"Unanswered, it counts as rejected after {hours:g} h.",
        ]
    )
    promotion.notify(f"Approve model version {candidate['version']}? ({approval_id})", message)
    return {"approval_id": approval_id}
