"""``DeployDirect``: no endpoint yet (create it), a rollback, or a serverless endpoint's approved candidate
(``all_at_once``: update it) with the candidate alone. After an ``all_at_once`` update the workflow bakes and
checks the candidate slot's alarms (``SwapBake``, ``SwapCheckAlarms``) before Finalize."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints


def deploy_direct(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    plan = state["plan"]
    slot = plan["candidate_slot"]
    model = endpoints.candidate_model(promotion, state, slot)
    config = endpoints.config(promotion, "direct", [endpoints.variant(promotion, slot, model, 1.0)])
    plan["target_config"] = config
    endpoints.mark(promotion, state, "candidate_requested")
    if plan["mode"] == "all_at_once":  # the candidate takes all traffic with this update
        state.setdefault("rollout", {}).update({"percent": 100, "done": True})
    if plan["endpoint_exists"]:
        promotion.deployer.update(config)  # a rollback: the serving slot leaves autoscaling first
    else:
        promotion.deployer.create(config)
    endpoints.await_change(promotion, state, config, milestone="previous_removed")
    return passed(state, "DeployDirect")
