"""``Finalize``: the candidate becomes Production (the previous one Archived), autoscaling on the serving variant,
the deployment recorded, the lock released, approvers notified."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps.record import record


def finalize(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    candidate = state["candidate"]
    rollback = state["plan"]["mode"] == "rollback"
    if rollback:
        version = promotion.registry.rollback(note=f"restored by {state['execution']}")
    else:
        version = promotion.registry.promote(candidate["arn"], note=f"promoted by {state['execution']}")
    promotion.autoscale(state["plan"]["candidate_slot"])
    promotion.rollout_metric(100)
    state["outcome"] = "rolled_back_to_archived" if rollback else "promoted"
    passed(state, "Finalize")
    record(promotion, state, version=version)
    promotion.store.release_lock(promotion.endpoint_name, state["execution"])
    promotion.notify(
        f"Model version {candidate['version']} is serving on {promotion.endpoint_name}",
        f"Version {candidate['version']} is Production ({state['outcome']}); path: {' -> '.join(state['path'])}",
    )
    return state
