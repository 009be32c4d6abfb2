"""The model registry lifecycle: Staging -> Production -> Archived, on SageMaker model package groups.

Stages live in each package's ``ModelLifeCycle`` (Stage, StageStatus, StageDescription); approval in
``ModelApprovalStatus``. The rules, enforced here and by the promotion workflow that calls this module:

==============================  =========================================================================
State (Stage / StageStatus)      Meaning
==============================  =========================================================================
Staging / PendingApproval        registered by the training pipeline, awaiting a reviewer
Staging / Approved               approved in the registry; the promotion workflow deploys it
Staging / InProgress             the promotion workflow is deploying it (shadow, approval, canary)
Staging / AwaitingApproval       the promotion waits for its reviewer: setting Approved or Rejected answers it
Staging / Rejected               rejected by a reviewer, the shadow check, an alarm or a timeout
Production / Deployed            serving; exactly one per group
Archived / Retired               was Production until another version replaced it (rollback candidates)
==============================  =========================================================================

Moves: ``approve`` (Staging), ``start_promotion``, ``await_approval`` and ``answer`` (the reviewer's
decision), ``promote`` (Staging/Approved|InProgress -> Production,
the previous Production -> Archived), ``reject`` (Staging), ``rollback`` (the most recently archived
former Production -> Production; the current one -> Archived). Every move is idempotent (repeating it is
a no-op) and an illegal move raises :class:`IllegalTransition` naming the version, its state and what is
allowed. Registration refuses a version whose lineage is incomplete (:data:`REQUIRED_LINEAGE`); the complete
lineage is a document in S3 that the registry references by URI and SHA-256 (:mod:`mlops_kit.registry.lineage`).
"""

from mlops_kit.registry.lifecycle import (
    REQUIRED_LINEAGE,
    Environment,
    IllegalTransition,
    IncompleteLineage,
    ModelRegistry,
    ModelVersion,
    NotPromotedInPreviousEnvironment,
    Stage,
    StageStatus,
    UnknownModelVersion,
    missing_lineage,
)
from mlops_kit.registry.lineage import LineageDocuments, LineageMismatch, LineageReference

__all__ = [
    "REQUIRED_LINEAGE",
    "Environment",
    "IllegalTransition",
    "IncompleteLineage",
    "LineageDocuments",
    "LineageMismatch",
    "LineageReference",
    "ModelRegistry",
    "ModelVersion",
    "NotPromotedInPreviousEnvironment",
    "Stage",
    "StageStatus",
    "UnknownModelVersion",
    "missing_lineage",
]
