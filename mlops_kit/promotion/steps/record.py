"""The deployment record every finished promotion leaves (``mlops promotions history`` reads it)."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion
from mlops_kit.registry import ModelVersion


def record(promotion: Promotion, state: dict[str, Any], version: ModelVersion | None = None) -> None:
    approval = state.get("approval") or {}
    promotion.store.record_deployment(
        promotion.endpoint_name,
        {
            "execution_arn": state["execution"],
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
        },
    )
