"""``StartGuardrails``: SageMaker's blue/green deployment (CANARY or LINEAR traffic routing) with the rollback alarms;
SageMaker shifts the traffic and rolls back on an alarm (``GuardrailsCheck`` reads the outcome).

It starts from the config the promotion started from: the shadow variant was removed right after the comparison
(``EndShadow``, :func:`mlops_kit.promotion.steps.shadow.end_shadow`). A blue/green deployment "must have the same
variant name as the old endpoint configuration" (SageMaker's deployment guardrails exclusions), and whether a
config whose only extra variant is a shadow passes that rule is not documented, so the guarded update always goes
from one single-variant config to another."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.serving import naming


def start_guardrails(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """The candidate replaces the serving variant's model under the same variant name (a blue/green update must
    keep it), with the slot's rollback alarms as auto-rollback alarms."""
    plan = state["plan"]
    guardrails = promotion.settings.rollout.guardrails
    slot = plan["current_slot"]
    model = endpoints.candidate_model(promotion, state, slot)
    config = endpoints.config(promotion, "guarded", [endpoints.variant(promotion, slot, model, 1.0)])
    routing: dict[str, Any] = {"Type": guardrails.routing, "WaitIntervalInSeconds": guardrails.wait_seconds}
    if guardrails.routing == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": guardrails.canary_percent}
    else:
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": guardrails.linear_step_percent}
    # No business alarm: both fleets carry the slot's variant name, so there is no Production variant to compare
    # with (PromotionSettings rejects a business alarm in this mode).
    alarms = naming.rollback_alarms(promotion.endpoint_name, slot, business=False)
    promotion.deployer.update(
        config,
        deployment={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": guardrails.termination_wait_seconds,
                "MaximumExecutionTimeoutInSeconds": guardrails.max_execution_seconds,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
        },
    )
    plan["target_config"] = config
    plan["candidate_slot"] = slot
    endpoints.mark(promotion, state, "candidate_requested")
    promotion.rollout_metric(
        guardrails.canary_percent if guardrails.routing == "CANARY" else guardrails.linear_step_percent
    )
    endpoints.await_change(promotion, state, config, kind="guardrails", milestone="previous_removed")
    return passed(state, "GuardrailsDeployment")
