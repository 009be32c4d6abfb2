"""``Finalize``: the candidate becomes Production (the previous one Archived), autoscaling on the serving variant,
the promotion's unused models and endpoint configs deleted, the deployment recorded, the lock released, approvers
notified."""

from __future__ import annotations

import logging
from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.steps.record import record
from mlops_kit.promotion.trigger import start_promotion
from mlops_kit.serving.cleanup import unused_after_promotion

logger = logging.getLogger(__name__)


def finalize(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    candidate = state["candidate"]
    rollback = state["plan"]["mode"] == "rollback"
    if rollback:
        version = promotion.registry.rollback(note=f"restored by {state['execution']}")
    else:
        version = promotion.registry.promote(candidate["arn"], note=f"promoted by {state['execution']}")
    promotion.autoscale(state["plan"]["candidate_slot"])
    state["cleanup"] = clean_up(promotion, state)
    promotion.rollout_metric(100)
    state["outcome"] = "rolled_back_to_archived" if rollback else "promoted"
    passed(state, "Finalize")
    if not rollback:
        state["next_promotion"] = start_next_environment(promotion, state)
    record(promotion, state, version=version)
    promotion.store.release_lock(promotion.endpoint_name, state["execution"])
    where = f"serves in {promotion.environment_name}" if promotion.environment_name else "is Production"
    following = state.get("next_promotion") or {}
    promotion.notify(
        f"Model version {candidate['version']} is serving on {promotion.endpoint_name}",
        f"Version {candidate['version']} {where} ({state['outcome']}); path: {' -> '.join(state['path'])}"
        + (f"; its promotion to {following['environment']} started: {following['execution_arn']}" if following else ""),
    )
    return state


def start_next_environment(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any] | None:
    """Start the next environment's promotion of the candidate (None when this environment is the last, or there
    are none). Named after the version like the registry trigger's, so a retried Finalize starts it once; it waits
    for its own approval there."""
    environment = promotion.settings.target_environment
    if environment is None or environment.next_state_machine_arn is None:
        return None
    if promotion.aws.stepfunctions is None:
        raise ValueError("starting the next environment's promotion needs Clients(stepfunctions=...)")
    candidate = state["candidate"]
    arn, started = start_promotion(
        promotion.aws.stepfunctions,
        environment.next_state_machine_arn,
        package_arn=candidate["arn"],
        version=int(candidate["version"]),
        requested_by=str(state.get("requested_by", "registry")),
    )
    return {"environment": environment.next, "execution_arn": arn, "started": started}


def clean_up(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Delete the endpoint configs and models promotions made that nothing needs any more
    (:func:`mlops_kit.serving.cleanup.unused_after_promotion`).

    Kept: the config the endpoint serves and its models; the config this promotion started from and its models
    (the previous Production version's deployment). The rollback workflow does not need them, it deploys the
    Archived version from the registry, but it reuses that model when the version lands in the same slot, and an
    operator can put the endpoint back on that config with one UpdateEndpoint. A/B tests' configs and models are
    theirs to remove. A failed cleanup does not fail a promotion that already succeeded: what it could not delete
    is left for the next promotion's cleanup or the stack's teardown, and the error is in the record.
    """
    plan = state["plan"]
    deployer = promotion.deployer
    keep: set[str] = {c for c in (plan.get("target_config"), plan.get("original_config")) if c}
    try:
        keep |= {str((deployer.describe() or {}).get("EndpointConfigName") or plan["target_config"])}
        unused = unused_after_promotion(
            promotion.endpoint_name, deployer.configs_with_models(), deployer.model_names(), keep=keep
        )
        deployer.delete_configs_and_models(unused.configs, unused.models)
    except Exception as exc:  # the promotion succeeded; leftovers go with the next cleanup or the teardown
        logger.warning("cleanup after promotion failed: %s", exc)
        return {"error": f"{type(exc).__name__}: {exc}", "kept": sorted(keep)}
    return {"kept": sorted(keep), **unused.to_dict()}
