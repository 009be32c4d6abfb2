"""``DeployCheck``, ``ShadowCheck``, ``CanaryCheck``, ``ShiftCheck``, ``CompleteCheck``, ``EndShadowCheck``,
``GuardrailsCheck``, ``RestoreCheck``: one round of a polling loop. Did the endpoint reach the change in
``plan.awaiting``?

SageMaker has no ``.sync`` integration for endpoints, so the state machine waits ``poll_seconds`` and asks
again, at most ``max_polls`` times. A failed update ends ``InService`` on the *old* config with a
``FailureReason``; the endpoint may also end Failed, UpdateRollbackFailed or OutOfService. All of those are
failures here (:meth:`mlops_kit.serving.deploy.EndpointDeployer.progress`), never success. The state machine
routes on ``endpoint.state``: ``done``, ``in_progress`` (poll again) or ``failed``.
"""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints


def check_endpoint(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Sets ``endpoint`` (the progress); on failure sets ``failure`` (GuardrailsRollback when SageMaker rolled a
    blue/green deployment back, EndpointUpdateFailed, or EndpointUpdateTimedOut past the bound). While
    restoring, a failure is kept in ``plan.restore_problem`` instead: the original failure stays the cause."""
    plan = state["plan"]
    awaiting = plan["awaiting"]
    awaiting["polls"] += 1
    progress = promotion.deployer.progress(awaiting["config"], weights=awaiting.get("weights"))
    state["endpoint"] = progress.to_dict()
    if progress.state == "done":
        if awaiting.get("milestone"):
            endpoints.mark(promotion, state, awaiting["milestone"])
        return passed(state, f"Ready:{awaiting['config']}")
    if progress.state == "in_progress" and awaiting["polls"] < awaiting["max_polls"]:
        return state
    if progress.state == "in_progress":
        seconds = awaiting["polls"] * promotion.settings.rollout.poll_seconds
        error = "EndpointUpdateTimedOut"
        cause = f"the endpoint is still {progress.status} after {awaiting['polls']} checks ({seconds} s)"
        state["endpoint"]["state"] = "failed"
    elif awaiting["kind"] == "guardrails" and progress.status == "InService":
        error = "GuardrailsRollback"
        cause = f"SageMaker rolled the deployment back: {progress.reason}"
    else:
        error = "EndpointUpdateFailed"
        cause = f"the endpoint did not reach {awaiting['config']}: {progress.reason} (status {progress.status})"
    state["endpoint"]["reason"] = cause
    if awaiting["kind"] == "restore":
        plan["restore_problem"] = f"{error}: {cause}"
    else:
        state["failure"] = {"Error": error, "Cause": cause}
    return passed(state, f"Failed:{error}")
