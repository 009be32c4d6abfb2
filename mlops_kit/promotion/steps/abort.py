"""``Abort``, ``AbortFinish``: any failure after the lock was taken gives the previous model all traffic again,
rejects the candidate with the reason, records the deployment, releases the lock and notifies."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.promotion.steps.canary import delete_business_alarm
from mlops_kit.promotion.steps.record import record
from mlops_kit.serving.deploy import BUSY

logger = logging.getLogger(__name__)


def abort(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Start restoring the original config (or remove a half-created endpoint); ``plan.restore`` says what:
    ``started`` (then RestoreCheck polls), ``wait`` (busy: Abort runs again after a poll interval, at most
    ``max_polls`` times, then ``gave_up``), ``deleted`` or ``none``."""
    plan = state.get("plan") or {}
    state["plan"] = plan
    endpoint = promotion.deployer.describe()
    original = plan.get("original_config")
    if endpoint is None:
        plan["restore"] = "none"
    elif endpoint["EndpointStatus"] in BUSY:
        plan["restore_waits"] = int(plan.get("restore_waits", 0)) + 1
        if plan["restore_waits"] > promotion.settings.rollout.max_polls("restore"):
            plan["restore"] = "gave_up"
            plan["restore_problem"] = f"the endpoint stayed {endpoint['EndpointStatus']}; it was not restored"
        else:
            plan["restore"] = "wait"
    elif original is None:
        promotion.deployer.delete()
        plan["restore"] = "deleted"
    elif endpoint["EndpointConfigName"] != original:
        promotion.deployer.update(original)
        endpoints.await_change(promotion, state, original, kind="restore", milestone="restored")
        plan["restore"] = "started"
    else:
        plan["restore"] = "none"
    return passed(state, f"Restore:{plan['restore']}")


def abort_finish(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Put autoscaling back on the restored variant, reject the candidate with the reason, record, release the
    lock, notify; the state machine then fails with ``failure``."""
    failure = state.get("failure") or {"Error": "PromotionFailed", "Cause": "unknown failure"}
    if isinstance(failure.get("Cause"), str) and failure["Cause"].startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):  # a caught Lambda error: keep its message
            failure = {
                "Error": failure.get("Error", "PromotionFailed"),
                "Cause": json.loads(failure["Cause"]).get("errorMessage", failure["Cause"]),
            }
    plan = state.get("plan") or {}
    _restore_autoscaling(promotion, plan)
    candidate = state.get("candidate")
    # An approval still pending is answered by nobody now: closed before the candidate is rejected in the
    # registry, so that change is not taken for a reviewer's answer.
    promotion.store.close_approvals(state["execution"], f"the promotion ended: {failure['Error']}")
    if candidate and plan.get("mode") != "rollback":
        promotion.registry.reject(candidate["arn"], reason=f"{failure['Error']}: {failure['Cause']}"[:900])
    promotion.rollout_metric(0)
    try:
        delete_business_alarm(promotion, plan.get("candidate_slot") if plan.get("mode") == "staged" else None)
    except ClientError as exc:  # the next canary of the slot replaces it; releasing the lock matters more
        logger.warning("the canary's business-metric alarm was not deleted: %s", exc)
    state["outcome"] = "failed"
    state["failure"] = failure
    passed(state, "Aborted")
    if candidate:
        record(promotion, state)
    if plan.get("lock_held"):
        promotion.store.release_lock(promotion.endpoint_name, state["execution"])
    version = candidate["version"] if candidate else "?"
    restored = (
        f"Restoring the previous model did not finish: {plan['restore_problem']}. Check the endpoint."
        if plan.get("restore_problem")
        else "The previous model keeps all traffic."
    )
    promotion.notify(
        f"Promotion of model version {version} failed: {failure['Error']}",
        f"{failure['Cause']}\n{restored} Path: {' -> '.join(state.get('path', []))}",
    )
    return state


def _restore_autoscaling(promotion: Promotion, plan: dict[str, Any]) -> None:
    """An update that removed the serving variant may have taken it out of autoscaling before it failed: when
    the endpoint serves the original config again, its variant is registered again (an upsert)."""
    slot, original = plan.get("current_slot"), plan.get("original_config")
    if not slot or not original:
        return
    endpoint = promotion.deployer.describe()
    if endpoint and endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == original:
        promotion.autoscale(slot)
