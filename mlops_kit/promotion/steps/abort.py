"""``Abort``, ``AbortFinish``: any failure after the lock was taken gives the previous model all traffic again,
rejects the candidate with the reason, records the deployment, releases the lock and notifies."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.promotion.steps.record import record

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def abort(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Start restoring the previous config (or remove a half-created endpoint); ``plan.restore`` says what."""
    plan = state.get("plan") or {}
    endpoint = endpoints.describe(promotion)
    original = plan.get("original_config")
    if endpoint is None:
        plan["restore"] = "none"
    elif endpoint["EndpointStatus"] in BUSY:
        plan["restore"] = "wait"
    elif original is None:
        promotion.aws.sagemaker.delete_endpoint(EndpointName=promotion.endpoint_name)
        plan["restore"] = "deleted"
    elif endpoint["EndpointConfigName"] != original:
        endpoints.update(promotion, original)
        plan["restore"] = "started"
    else:
        plan["restore"] = "none"
    state["plan"] = plan
    return passed(state, f"Restore:{plan['restore']}")


def abort_finish(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Reject the candidate with the reason, record, release the lock, notify; the state machine then fails with
    ``failure``."""
    failure = state.get("failure") or {"Error": "PromotionFailed", "Cause": "unknown failure"}
    if isinstance(failure.get("Cause"), str) and failure["Cause"].startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):  # a caught Lambda error: keep its message
            failure = {
                "Error": failure.get("Error", "PromotionFailed"),
                "Cause": json.loads(failure["Cause"]).get("errorMessage", failure["Cause"]),
            }
    candidate = state.get("candidate")
    if candidate and state.get("plan", {}).get("mode") != "rollback":
        promotion.registry.reject(candidate["arn"], reason=f"{failure['Error']}: {failure['Cause']}"[:900])
    promotion.rollout_metric(0)
    state["outcome"] = "failed"
    state["failure"] = failure
    passed(state, "Aborted")
    if candidate:
        record(promotion, state)
    if state.get("plan", {}).get("lock_held"):
        promotion.store.release_lock(promotion.endpoint_name, state["execution"])
    version = candidate["version"] if candidate else "?"
    promotion.notify(
        f"Promotion of model version {version} failed: {failure['Error']}",
        f"{failure['Cause']}\nThe previous model keeps all traffic. Path: {' -> '.join(state.get('path', []))}",
    )
    return state
