"""``PrepareCanary``, ``ShiftTraffic``, ``CheckAlarms``, ``CompleteRollout``: the staged rollout. Both slots serve
as production variants; traffic moves to the candidate step by step, each step baked and checked against the
candidate slot's rollback alarms; at 100% the old variant is removed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_kit.promotion import business_alarm
from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.serving import naming


def prepare_canary(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Both slots as production variants: the current one with all traffic, the candidate with none."""
    plan = state["plan"]
    model = endpoints.candidate_model(promotion, state, plan["candidate_slot"])
    variants = [
        endpoints.variant(promotion, plan["current_slot"], endpoints.current_model(promotion, state), 1.0),
        endpoints.variant(promotion, plan["candidate_slot"], model, 0.0),
    ]
    config = endpoints.config(promotion, "canary", variants)
    put_business_alarm(promotion, plan["candidate_slot"], plan["current_slot"])
    endpoints.mark(promotion, state, "candidate_requested")
    promotion.deployer.update(config)
    plan["canary_config"] = config
    endpoints.await_change(promotion, state, config)
    return passed(state, "PrepareCanary")


def shift_traffic(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Move to the next rollout step (percent of traffic on the candidate)."""
    plan, rollout = state["plan"], state["rollout"]
    percent = int(plan["steps"][rollout["index"]])
    weights = {plan["current_slot"]: float(100 - percent), plan["candidate_slot"]: float(percent)}
    promotion.deployer.update_weights(weights)
    promotion.rollout_metric(percent)
    rollout.update(
        {"percent": percent, "index": rollout["index"] + 1, "done": rollout["index"] + 1 >= len(plan["steps"])}
    )
    endpoints.await_change(promotion, state, plan["canary_config"], weights=weights)
    return passed(state, f"Traffic{percent}")


def check_alarms(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Any rollback alarm of the candidate's slot (or the business metric) in ALARM fails the rollout."""
    names = naming.rollback_alarms(
        promotion.endpoint_name,
        state["plan"]["candidate_slot"],
        business=promotion.settings.business_alarm is not None,
    )
    alarms = promotion.aws.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    breached = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
    state["alarms"] = {"checked": names, "breached": breached}
    if breached:
        state["failure"] = {
            "Error": "RollbackAlarm",
            "Cause": f"alarm {', '.join(breached)} in ALARM at {state['rollout']['percent']}% candidate traffic",
        }
    return state


def complete_rollout(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """All traffic is on the candidate: remove the old variant (out of autoscaling first)."""
    plan = state["plan"]
    variant = endpoints.variant(promotion, plan["candidate_slot"], plan["candidate_model"], 1.0)
    config = endpoints.config(promotion, "final", [variant])
    promotion.deployer.update(config)
    plan["target_config"] = config
    endpoints.await_change(promotion, state, config, milestone="previous_removed")
    delete_business_alarm(promotion, plan["candidate_slot"])
    return passed(state, "CompleteRollout")


def put_business_alarm(promotion: Promotion, candidate_slot: str, production_slot: str) -> None:
    """Create (or replace) the canary's business-metric alarm, when the platform has one."""
    settings = promotion.settings.business_alarm
    if settings is None:
        return
    promotion.aws.cloudwatch.put_metric_alarm(
        **business_alarm.definition(
            settings,
            endpoint=promotion.endpoint_name,
            candidate_slot=candidate_slot,
            production_slot=production_slot,
        )
    )


def delete_business_alarm(promotion: Promotion, candidate_slot: str | None) -> None:
    """Remove the canary's business-metric alarm: with one of the variants gone it would breach on missing data.
    An alarm already gone is fine (a retried step, or a failure before PrepareCanary put it)."""
    if promotion.settings.business_alarm is None or candidate_slot is None:
        return
    name = naming.business_alarm(promotion.endpoint_name, candidate_slot)
    try:
        promotion.aws.cloudwatch.delete_alarms(AlarmNames=[name])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFound":
            raise
