"""``Validate``: check the candidate, take the endpoint's promotion lock, mark the candidate, plan the path."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion, passed, version_summary
from mlops_kit.promotion.settings import SERVERLESS_EXCLUSIONS_DOC
from mlops_kit.registry import ModelVersion, NotPromotedInPreviousEnvironment, Stage, StageStatus, missing_lineage
from mlops_kit.registry.lifecycle import ARCHIVED
from mlops_kit.serving import naming


class InvalidCandidate(ValueError):  # noqa: N818  (the workflow catches it by this name)
    """The model package cannot be promoted (not approved, wrong stage, incomplete lineage...)."""


def _check(promotion: Promotion, arn: str, rollback: bool) -> ModelVersion:
    group = promotion.settings.model_package_group
    try:
        candidate = promotion.registry.get(arn)
    except Exception as exc:
        raise InvalidCandidate(f"model package {arn} cannot be read: {exc}") from exc
    if candidate.group != group:
        raise InvalidCandidate(f"{arn} belongs to group {candidate.group!r}, not {group!r}")
    if candidate.approval_status != "Approved":
        raise InvalidCandidate(
            f"version {candidate.version} is {candidate.approval_status}; approve it in the registry first"
        )
    missing = missing_lineage(candidate.properties)
    if missing:
        raise InvalidCandidate(f"version {candidate.version} has incomplete lineage: {missing}")
    environment = promotion.registry.environment
    if rollback:
        target = promotion.registry.rollback_target()
        archived = candidate.stage == Stage.ARCHIVED if environment is None else (
            candidate.environments.get(environment.name) == ARCHIVED
        )  # fmt: skip
        if not archived or target is None or target.arn != candidate.arn:
            where = f" in {environment.name}" if environment else ""
            raise InvalidCandidate(
                f"version {candidate.version} is not the most recently archived Production version{where}"
            )
    elif environment is not None and environment.previous is not None:
        _check_environment_order(candidate, environment.name, environment.previous)
    elif not (
        candidate.stage == Stage.STAGING
        and candidate.stage_status in (StageStatus.PENDING_APPROVAL, StageStatus.APPROVED, StageStatus.IN_PROGRESS)
    ) and not (  # a retried Validate of a promotion to the first environment finds the candidate marked
        environment is not None
        and candidate.stage == environment.name
        and candidate.stage_status == StageStatus.IN_PROGRESS
    ):
        raise InvalidCandidate(
            f"version {candidate.version} is {candidate.stage}/{candidate.stage_status}; only Staging versions are "
            "promoted"
        )
    return candidate


def _check_environment_order(candidate: ModelVersion, name: str, previous: str) -> None:
    """A version goes to ``name`` only after a successful promotion to ``previous``, and only once at a time."""
    if not candidate.promoted_to(previous):
        raise NotPromotedInPreviousEnvironment(
            f"version {candidate.version} has no successful promotion to {previous}, which comes before {name}: "
            f"promote it to {previous} first (approve it in the registry; a successful promotion to {previous} "
            f"starts the one to {name})"
        )
    if candidate.serves_in(name):
        raise InvalidCandidate(f"version {candidate.version} already serves in {name}")
    if candidate.stage == name and candidate.stage_status not in (StageStatus.IN_PROGRESS, StageStatus.REJECTED):
        raise InvalidCandidate(
            f"version {candidate.version} is {candidate.stage}/{candidate.stage_status}: another promotion to "
            f"{name} has it"
        )


class ServingModeChange(ValueError):  # noqa: N818  (the workflow reports it by this name)
    """The platform serves serverless, but the endpoint runs on instances: SageMaker refuses that update."""


def _check_serving_mode(promotion: Promotion) -> None:
    """Refuse to move an instance-based endpoint to serverless: SageMaker answers such an UpdateEndpoint with a
    ValidationError (Serverless Inference, "Feature exclusions"). The other way, serverless to instances, is
    allowed (and cannot be undone)."""
    if promotion.settings.endpoint.serverless is None or promotion.deployer.describe() is None:
        return
    serving = promotion.deployer.serving_config()
    on_instances = [v["VariantName"] for v in serving["ProductionVariants"] if not v.get("ServerlessConfig")]
    if on_instances:
        raise ServingModeChange(
            f"endpoint {promotion.endpoint_name} serves on instances ({serving['EndpointConfigName']}, variants "
            f"{on_instances}) and serving.serverless is set: SageMaker cannot convert an instance-based endpoint "
            f"to serverless ({SERVERLESS_EXCLUSIONS_DOC}); delete the endpoint (aws sagemaker delete-endpoint) and "
            "promote again, "
            "or remove serving.serverless"
        )


def validate(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Raises InvalidCandidate, NotPromotedInPreviousEnvironment (an environment's promotion of a version the
    environment before it never had) or ServingModeChange (nothing changed), or PromotionLocked (another promotion
    holds the endpoint)."""
    rollout = promotion.settings.rollout
    rollback = state.get("mode") == "rollback"
    candidate = _check(promotion, state["model_package_arn"], rollback)
    _check_serving_mode(promotion)
    promotion.store.acquire_lock(promotion.endpoint_name, state["execution"], ttl_seconds=rollout.lock_ttl())
    if not rollback:
        if candidate.stage == Stage.STAGING and candidate.stage_status == StageStatus.PENDING_APPROVAL:
            promotion.registry.approve(
                candidate.arn, approver=state.get("requested_by", "registry"), comment="approved in the registry"
            )
        candidate = promotion.registry.start_promotion(candidate.arn, execution=state["execution"])
    production = promotion.registry.production()
    endpoint = promotion.deployer.describe()
    current_slot = None
    if endpoint:
        weights = {v["VariantName"]: v.get("CurrentWeight", 0) for v in endpoint["ProductionVariants"]}
        current_slot = max(weights, key=lambda name: weights[name]) if weights else None
    mode = "rollback" if rollback else ("first_deploy" if endpoint is None else rollout.mode)
    candidate_slot = current_slot if mode == "guardrails" else naming.other_slot(current_slot)
    state.update(
        {
            "started_at": promotion.now_iso(),
            "candidate": version_summary(candidate),
            "production": version_summary(production) if production else None,
            "plan": {
                "mode": mode,
                "endpoint_exists": endpoint is not None,
                "original_config": endpoint["EndpointConfigName"] if endpoint else None,
                "current_slot": current_slot,
                "candidate_slot": candidate_slot,
                "steps": rollout.steps,
                "bake_seconds": rollout.bake_seconds,
                "shadow_bake_seconds": rollout.shadow_bake_seconds,
                "approval_timeout_seconds": rollout.approval_timeout_seconds,
                "poll_seconds": rollout.poll_seconds,
                "lock_held": True,
            },
            "rollout": {"index": 0, "percent": 0, "done": False},
        }
    )
    state["plan"]["times"] = {"started": promotion.clock()}
    return passed(state, "Validate")
