"""``StartGuardrails``, ``GuardrailsOutcome``: SageMaker's blue/green deployment (CANARY or LINEAR traffic
routing) with the rollback alarms; SageMaker shifts the traffic and rolls back on an alarm."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.serving import naming


def start_guardrails(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    plan = state["plan"]
    guardrails = promotion.settings.rollout.guardrails
    model = endpoints.candidate_model(promotion, state, plan["current_slot"])
    config = endpoints.create_config(
        promotion, state, "guarded", [endpoints.variant(promotion, plan["current_slot"], model, 1.0)]
    )
    routing: dict[str, Any] = {"Type": guardrails.routing, "WaitIntervalInSeconds": guardrails.wait_seconds}
    if guardrails.routing == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": guardrails.canary_percent}
    else:
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": guardrails.linear_step_percent}
    alarms = naming.rollback_alarms(
        promotion.endpoint_name, plan["current_slot"], business=promotion.settings.business_alarm
    )
    endpoints.update(
        promotion,
        config,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": guardrails.termination_wait_seconds,
                "MaximumExecutionTimeoutInSeconds": guardrails.max_execution_seconds,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
        },
    )
    plan["target_config"] = config
    plan["candidate_slot"] = plan["current_slot"]
    promotion.rollout_metric(
        guardrails.canary_percent if guardrails.routing == "CANARY" else guardrails.linear_step_percent
    )
    return passed(state, "GuardrailsDeployment")


def guardrails_outcome(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Did SageMaker finish the deployment, or roll it back on an alarm?"""
    endpoint = endpoints.describe(promotion) or {}
    if endpoint.get("EndpointConfigName") != state["plan"]["target_config"]:
        state["failure"] = {
            "Error": "GuardrailsRollback",
            "Cause": f"SageMaker rolled the deployment back: {endpoint.get('FailureReason', 'an alarm fired')}",
        }
    return passed(state, "GuardrailsOutcome")
