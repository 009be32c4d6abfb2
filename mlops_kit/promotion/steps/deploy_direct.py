"""``DeployDirect``: no endpoint yet (create it) or a rollback (update it) with the candidate alone."""

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
    if plan["endpoint_exists"]:
        promotion.deployer.update(config)  # a rollback: the serving slot leaves autoscaling first
    else:
        promotion.deployer.create(config)
    endpoints.await_change(promotion, state, config, milestone="previous_removed")
    return passed(state, "DeployDirect")
