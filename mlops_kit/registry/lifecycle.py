"""Registry lifecycle rules and the adapter that applies them to a SageMaker model package group."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_kit.registry.metadata import metadata_value, single_line


class Stage(StrEnum):
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class StageStatus(StrEnum):
    PENDING_APPROVAL = "PendingApproval"
    APPROVED = "Approved"
    IN_PROGRESS = "InProgress"
    REJECTED = "Rejected"
    DEPLOYED = "Deployed"
    RETIRED = "Retired"


# Lineage a version must carry (CustomerMetadataProperties keys) to be registered: what makes it reproducible.
REQUIRED_LINEAGE: tuple[str, ...] = (
    "lineage.dataset_manifest_hash",
    "lineage.dataset_manifest_uri",
    "lineage.feature_group_versions",
    "lineage.code_commit",
    "lineage.pipeline_execution",
    "lineage.training_image",
    "lineage.inference_image",
    "lineage.library_versions",
    "lineage.hyperparameters",
    "lineage.seed",
)
_ARCHIVED_AT = "lifecycle.archived_at"
_EMPTY = ("", "none", "None", "null", "unknown")


class IllegalTransition(ValueError):  # noqa: N818  (named for what happened, like the domain's other errors)
    """A lifecycle move that the rules do not allow from the version's current state."""


class IncompleteLineage(ValueError):  # noqa: N818
    """Registration refused: lineage keys are missing or empty."""


class UnknownModelVersion(LookupError):  # noqa: N818
    """No model package with that ARN or version number in the group."""


def missing_lineage(properties: dict[str, str]) -> list[str]:
    """Required lineage keys that are absent or empty in ``properties``."""
    return [key for key in REQUIRED_LINEAGE if str(properties.get(key, "")).strip() in _EMPTY]


@dataclass(frozen=True)
class ModelVersion:
    """One model package, as the lifecycle sees it."""

    arn: str
    group: str
    version: int
    stage: str
    stage_status: str
    approval_status: str
    created: dt.datetime
    model_data_url: str
    properties: dict[str, str] = field(default_factory=dict)
    metrics_uri: str | None = None
    description: str = ""

    @property
    def lineage(self) -> dict[str, Any]:
        """The lineage properties, JSON values decoded (hyper-parameters, versions, feature groups)."""
        out: dict[str, Any] = {}
        for key, value in self.properties.items():
            if key.startswith("lineage."):
                try:
                    out[key.removeprefix("lineage.")] = json.loads(value)
                except (json.JSONDecodeError, TypeError):
                    out[key.removeprefix("lineage.")] = value
        return out

    @property
    def metrics(self) -> dict[str, float]:
        """Headline metrics recorded at registration (``metrics.<name>`` properties)."""
        out = {}
        for key, value in self.properties.items():
            if key.startswith("metrics."):
                try:
                    out[key.removeprefix("metrics.")] = float(value)
                except ValueError:
                    continue
        return out

    @property
    def archived_at(self) -> str | None:
        return self.properties.get(_ARCHIVED_AT)

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> ModelVersion:
        life_cycle = described.get("ModelLifeCycle") or {}
        containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
        quality = ((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
        created = described.get("CreationTime")
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        return cls(
            arn=described["ModelPackageArn"],
            group=described.get("ModelPackageGroupName", ""),
            version=int(described.get("ModelPackageVersion") or 0),
            stage=life_cycle.get("Stage", Stage.STAGING),
            stage_status=life_cycle.get("StageStatus", StageStatus.PENDING_APPROVAL),
            approval_status=described.get("ModelApprovalStatus", "PendingManualApproval"),
            created=created or dt.datetime.now(dt.UTC),
            model_data_url=containers[0].get("ModelDataUrl", ""),
            properties=dict(described.get("CustomerMetadataProperties") or {}),
            metrics_uri=quality.get("S3Uri"),
            description=life_cycle.get("StageDescription", ""),
        )


class ModelRegistry:
    """Lifecycle moves on one model package group, through a SageMaker client (boto3 or the emulator's)."""

    def __init__(self, sagemaker: Any, group: str) -> None:
        self._sagemaker = sagemaker
        self.group = group

    # -- reading ------------------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        """Every version of the group, oldest first."""
        arns: list[str] = []
        paginator_args: dict[str, Any] = {"ModelPackageGroupName": self.group, "MaxResults": 100}
        while True:
            page = self._sagemaker.list_model_packages(**paginator_args)
            arns.extend(s["ModelPackageArn"] for s in page.get("ModelPackageSummaryList", []))
            if not page.get("NextToken"):
                break
            paginator_args["NextToken"] = page["NextToken"]
        versions = [self.describe(arn) for arn in arns]
        return sorted(versions, key=lambda v: v.version)

    def describe(self, arn: str) -> ModelVersion:
        try:
            described = self._sagemaker.describe_model_package(ModelPackageName=arn)
        except Exception as exc:
            raise UnknownModelVersion(f"no model package {arn!r} in group {self.group!r}: {exc}") from exc
        return ModelVersion.from_description(described)

    def get(self, ref: str | int) -> ModelVersion:
        """A version by ARN, or by version number (``3`` or ``"3"``) within the group."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            for version in self.versions():
                if version.version == int(ref):
                    return version
            raise UnknownModelVersion(f"group {self.group!r} has no version {ref}")
        return self.describe(str(ref))

    def production(self) -> ModelVersion | None:
        serving = [v for v in self.versions() if v.stage == Stage.PRODUCTION]
        if len(serving) > 1:
            raise IllegalTransition(
                f"group {self.group!r} has {len(serving)} Production versions "
                f"({[v.version for v in serving]}); the registry is inconsistent"
            )
        return serving[0] if serving else None

    def rollback_target(self) -> ModelVersion | None:
        """The most recently archived former Production version."""
        archived = [v for v in self.versions() if v.stage == Stage.ARCHIVED and v.archived_at]
        return max(archived, key=lambda v: v.archived_at or "") if archived else None

    # -- moves -----------------------------------------------------------------------------------------
    def _update(self, version: ModelVersion, stage: Stage, status: StageStatus, note: str, **extra: Any) -> None:
        self._sagemaker.update_model_package(
            ModelPackageArn=version.arn,
            ModelLifeCycle={"Stage": stage.value, "StageStatus": status.value, "StageDescription": single_line(note)},
            **extra,
        )

    @staticmethod
    def _refuse(version: ModelVersion, move: str, allowed: str) -> IllegalTransition:
        return IllegalTransition(
            f"cannot {move} version {version.version} ({version.arn}): it is {version.stage}/"
            f"{version.stage_status} with approval {version.approval_status}; {move} is allowed from {allowed}"
        )

    def approve(self, ref: str | int, *, approver: str, comment: str = "") -> ModelVersion:
        """Approve a Staging version in the registry (this is what starts a promotion on AWS).

        The comment is kept whole, on one line, in ``ApprovalDescription``, and with the approver in metadata
        limited to the characters SageMaker allows there (:mod:`mlops_kit.registry.metadata`): free text is made
        acceptable, never refused.
        """
        version = self.get(ref)
        if version.stage == Stage.STAGING and version.stage_status == StageStatus.APPROVED:
            return version
        if version.stage != Stage.STAGING or version.stage_status != StageStatus.PENDING_APPROVAL:
            raise self._refuse(version, "approve", "Staging/PendingApproval")
        self._update(
            version,
            Stage.STAGING,
            StageStatus.APPROVED,
            f"approved by {approver}: {comment}".strip(": "),
            ModelApprovalStatus="Approved",
            ApprovalDescription=single_line(f"{approver}: {comment}" if comment.strip() else approver),
            CustomerMetadataProperties={
                "approval.approver": metadata_value(approver),
                "approval.comment": metadata_value(comment),
            },
        )
        return self.get(version.arn)

    def start_promotion(self, ref: str | int, *, execution: str) -> ModelVersion:
        """Mark an approved Staging version as being promoted by ``execution``."""
        version = self.get(ref)
        if version.stage == Stage.STAGING and version.stage_status == StageStatus.IN_PROGRESS:
            return version
        if version.stage != Stage.STAGING or version.stage_status != StageStatus.APPROVED:
            raise self._refuse(version, "start a promotion of", "Staging/Approved")
        self._update(version, Stage.STAGING, StageStatus.IN_PROGRESS, f"promotion {execution}")
        return self.get(version.arn)

    def promote(self, ref: str | int, *, note: str = "") -> ModelVersion:
        """Make a Staging version Production; the previous Production version becomes Archived."""
        version = self.get(ref)
        if version.stage == Stage.PRODUCTION:
            return version
        if version.stage != Stage.STAGING or version.stage_status not in (
            StageStatus.APPROVED,
            StageStatus.IN_PROGRESS,
        ):
            raise self._refuse(version, "promote", "Staging/Approved or Staging/InProgress")
        self._retire_current(except_arn=version.arn, note=f"replaced by version {version.version}")
        self._update(
            version,
            Stage.PRODUCTION,
            StageStatus.DEPLOYED,
            note or "promoted to Production",
            ModelApprovalStatus="Approved",
        )
        return self.get(version.arn)

    def reject(self, ref: str | int, *, reason: str) -> ModelVersion:
        """Reject a Staging version (reviewer, shadow check, alarm, timeout), with the reason (on one line)."""
        version = self.get(ref)
        if version.stage == Stage.STAGING and version.stage_status == StageStatus.REJECTED:
            return version
        if version.stage != Stage.STAGING:
            raise self._refuse(version, "reject", "Staging")
        self._update(
            version,
            Stage.STAGING,
            StageStatus.REJECTED,
            f"rejected: {reason}",
            ModelApprovalStatus="Rejected",
            ApprovalDescription=single_line(reason),
        )
        return self.get(version.arn)

    def rollback(self, *, note: str = "") -> ModelVersion:
        """Restore the most recently archived former Production version; archive the current one."""
        target = self.rollback_target()
        if target is None:
            raise IllegalTransition(f"group {self.group!r} has no archived former Production version to roll back to")
        current = self.production()
        if current is not None:
            self._archive(current, f"rolled back to version {target.version}")
        self._update(
            target,
            Stage.PRODUCTION,
            StageStatus.DEPLOYED,
            note or "restored by rollback",
            ModelApprovalStatus="Approved",
        )
        return self.get(target.arn)

    def _retire_current(self, *, except_arn: str, note: str) -> None:
        current = self.production()
        if current is not None and current.arn != except_arn:
            self._archive(current, note)

    def _archive(self, version: ModelVersion, note: str) -> None:
        self._update(
            version,
            Stage.ARCHIVED,
            StageStatus.RETIRED,
            note,
            CustomerMetadataProperties={_ARCHIVED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")},
        )

    # -- registration ------------------------------------------------------------------------------
    def register(
        self,
        *,
        model_data_url: str,
        image: str,
        environment: dict[str, str],
        lineage: dict[str, str],
        metrics: dict[str, float] | None = None,
        metrics_uri: str | None = None,
    ) -> ModelVersion:
        """Register a version (Staging / PendingApproval); refused when the lineage is incomplete."""
        properties = {k if k.startswith("lineage.") else f"lineage.{k}": str(v) for k, v in lineage.items()}
        missing = missing_lineage(properties)
        if missing:
            raise IncompleteLineage(
                f"registration refused: lineage is missing {missing}. A model version must record the dataset "
                "manifest, feature group versions, code commit, pipeline execution, images, library versions, "
                "hyper-parameters and seed."
            )
        properties.update({f"metrics.{k}": f"{v:.6g}" for k, v in (metrics or {}).items()})
        request: dict[str, Any] = {
            "ModelPackageGroupName": self.group,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url, "Environment": environment}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": properties,
            "ModelLifeCycle": {"Stage": Stage.STAGING.value, "StageStatus": StageStatus.PENDING_APPROVAL.value},
        }
        if metrics_uri:
            request["ModelMetrics"] = {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
            }
        arn = self._sagemaker.create_model_package(**request)["ModelPackageArn"]
        return self.get(arn)
