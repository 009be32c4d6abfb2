"""The deployment record every finished promotion leaves (``mlops promotions history`` reads it), with what it
cost: instance-hours per variant and an estimate (:mod:`mlops_kit.promotion.cost`)."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion import cost
from mlops_kit.promotion.context import Promotion
from mlops_kit.registry import ModelVersion


def record(promotion: Promotion, state: dict[str, Any], version: ModelVersion | None = None) -> None:
    approval = state.get("approval") or {}
    promotion.store.record_deployment(
        promotion.endpoint_name,
        {
            "execution_arn": state["execution"],
            "environment": promotion.environment_name,
            "next_promotion": state.get("next_promotion"),
            "started_at": state.get("started_at"),
            "finished_at": promotion.now_iso(),
            "requested_by": state.get("requested_by", "registry"),
            "candidate": state.get("candidate"),
            "previous_production": state.get("production"),
            "approver": approval.get("approver"),
            "approval_comment": approval.get("comment"),
            "shadow": state.get("shadow"),
            "mode": state.get("plan", {}).get("mode"),
            "path": state.get("path", []),
            "outcome": state.get("outcome"),
            "failure": state.get("failure"),
            "serving_version": version.version if version else None,
            "cost": _cost(promotion, state),
            "cleanup": state.get("cleanup"),
        },
    )


def _cost(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any] | None:
    """None when the promotion ended before Validate planned it (nothing was deployed)."""
    plan = state.get("plan") or {}
    if "started" not in (plan.get("times") or {}):
        return None
    endpoint = promotion.settings.endpoint
    if endpoint.serverless is not None:
        return cost.serverless_estimate(
            plan["times"],
            finished=promotion.clock(),
            endpoint_existed=bool(plan.get("endpoint_exists")),
            serverless=endpoint.serverless.request(),
        )
    hours = cost.instance_hours(
        plan["times"],
        finished=promotion.clock(),
        instance_count=endpoint.initial_instance_count,
        endpoint_existed=bool(plan.get("endpoint_exists")),
    )
    return cost.estimate(hours, endpoint.instance_type, promotion.settings.instance_prices)
