"""Registry lifecycle rules and the adapter that applies them to a SageMaker model package group."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_kit.registry.lineage import DOCUMENT_KEYS, LineageDocuments, LineageReference, metadata_properties
from mlops_kit.registry.metadata import METADATA_ENTRIES_MAX, metadata_key, metadata_value, single_line


class Stage(StrEnum):
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class StageStatus(StrEnum):
    PENDING_APPROVAL = "PendingApproval"
    APPROVED = "Approved"
    IN_PROGRESS = "InProgress"
    AWAITING_APPROVAL = "AwaitingApproval"
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
# Where a version serves when versions are promoted through environments (``environments.<name>``): per
# environment, ``environment.<name>`` is ``serving`` or ``archived`` (it served there, another version replaced it)
# and ``environment.<name>.since`` when that became true. A version that has either value was promoted there.
SERVING, ARCHIVED = "serving", "archived"


def environment_key(environment: str) -> str:
    return f"environment.{environment}"


def environment_since_key(environment: str) -> str:
    return f"environment.{environment}.since"


@dataclass(frozen=True)
class Environment:
    """The environment a registry's moves act in, when versions go through several (``environments.<name>``):
    ``name`` becomes the ``ModelLifeCycle`` stage of a version being promoted there or serving there, and
    ``previous`` is the environment a version must have been promoted to first (None for the first)."""

    name: str
    previous: str | None = None


_EMPTY = ("", "none", "None", "null", "unknown")


class IllegalTransition(ValueError):  # noqa: N818  (named for what happened, like the domain's other errors)
    """A lifecycle move that the rules do not allow from the version's current state."""


class IncompleteLineage(ValueError):  # noqa: N818
    """Registration refused: lineage keys are missing or empty."""


class NotPromotedInPreviousEnvironment(IllegalTransition):
    """A promotion to an environment of a version that was never promoted to the environment before it."""


class UnknownModelVersion(LookupError):  # noqa: N818
    """No model package with that ARN or version number in the group."""


def missing_lineage(properties: Mapping[str, Any]) -> list[str]:
    """Required lineage keys that are absent or empty in ``properties``: a version's metadata, or the lineage
    as recorded with ``lineage.``-prefixed keys (where an empty map or list is empty too)."""
    return [key for key in REQUIRED_LINEAGE if _empty(properties.get(key))]


def _empty(value: Any) -> bool:
    if isinstance(value, Mapping | list | tuple):
        return not value
    return value is None or str(value).strip() in _EMPTY


def _legacy_json(value: str) -> Any:
    """A metadata value; versions registered before the lineage document kept maps here as JSON text."""
    if value.startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


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
        """The lineage as the registry's metadata summarizes it (``hyperparameters``: ``learning_rate=0.08
        max_depth=6``); :meth:`ModelRegistry.full_lineage` reads every value from the lineage document."""
        out: dict[str, Any] = {}
        for key, value in self.properties.items():
            if key.startswith("lineage.") and key not in DOCUMENT_KEYS:
                out[key.removeprefix("lineage.")] = _legacy_json(value)
        return out

    @property
    def lineage_document(self) -> LineageReference | None:
        """Where the complete lineage document is, and its recorded SHA-256 (None for versions without one)."""
        return LineageReference.from_properties(self.properties)

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

    @property
    def environments(self) -> dict[str, str]:
        """Where this version was promoted: environment name -> ``serving`` or ``archived`` (empty with one
        account, or before its first promotion)."""
        out = {}
        for key, value in self.properties.items():
            name = key.removeprefix("environment.")
            if key.startswith("environment.") and "." not in name:
                out[name] = value
        return out

    def serves_in(self, environment: str) -> bool:
        return self.environments.get(environment) == SERVING

    def promoted_to(self, environment: str) -> bool:
        """Whether a promotion of this version to ``environment`` succeeded (it serves there, or served until
        another version replaced it)."""
        return self.environments.get(environment) in (SERVING, ARCHIVED)

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
    """Lifecycle moves on one model package group, through a SageMaker client (boto3 or the emulator's).

    ``documents`` stores and reads lineage documents in S3; :meth:`register` and :meth:`full_lineage` need it.
    Left unset, the registry reads versions and moves them through the lifecycle only.

    ``environment`` set: the moves act in that environment (versions promoted through several accounts). A version
    being promoted there has the environment's name as its stage (instead of Staging); a promoted one is
    ``<name>/Deployed`` and its metadata says it serves there; the one it replaces is archived there (and
    ``Archived/Retired`` once it serves nowhere). :meth:`production` and :meth:`rollback_target` are that
    environment's. Left unset: one Production version, as described in :mod:`mlops_kit.registry`.
    """

    def __init__(
        self,
        sagemaker: Any,
        group: str,
        *,
        documents: LineageDocuments | None = None,
        environment: Environment | None = None,
    ) -> None:
        self._sagemaker = sagemaker
        self.group = group
        self._documents = documents
        self.environment = environment

    def within(self, environment: str) -> ModelRegistry:
        """This registry acting in ``environment`` (the moves of a promotion there: approval and answer)."""
        if self.environment is not None and self.environment.name == environment:
            return self
        return ModelRegistry(
            self._sagemaker, self.group, documents=self._documents, environment=Environment(environment)
        )

    @property
    def candidate_stage(self) -> str:
        """The stage of a version while it is being promoted: Staging, or the environment's name."""
        return self.environment.name if self.environment else Stage.STAGING.value

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

    def full_lineage(self, ref: str | int) -> dict[str, Any]:
        """Every lineage value of a version, read from its lineage document and verified against the SHA-256 the
        registry recorded (the metadata summary for versions registered without a document).

        Raises ``LineageMismatch`` when the document was changed, ``ValueError`` without ``documents``.
        """
        version = self.get(ref)
        reference = version.lineage_document
        if reference is None:
            return version.lineage
        if self._documents is None:
            raise ValueError("reading a lineage document needs ModelRegistry(..., documents=LineageDocuments(s3))")
        return self._documents.load(reference)

    def production(self) -> ModelVersion | None:
        """The version serving (in the environment, when the registry has one); None before the first promotion."""
        environment = self.environment
        if environment is None:
            serving = [v for v in self.versions() if v.stage == Stage.PRODUCTION]
        else:
            serving = [v for v in self.versions() if v.serves_in(environment.name)]
        if len(serving) > 1:
            where = f"serving in {environment.name}" if environment else "Production"
            raise IllegalTransition(
                f"group {self.group!r} has {len(serving)} versions {where} "
                f"({[v.version for v in serving]}); the registry is inconsistent"
            )
        return serving[0] if serving else None

    def rollback_target(self) -> ModelVersion | None:
        """The most recently archived former Production version (of two archived within the same second, the later
        version: each promotion archives the one before it); in an environment, the one archived there last."""
        environment = self.environment
        if environment is not None:
            since = environment_since_key(environment.name)
            archived = [v for v in self.versions() if v.environments.get(environment.name) == ARCHIVED]
            return max(archived, key=lambda v: (v.properties.get(since, ""), v.version)) if archived else None
        archived = [v for v in self.versions() if v.stage == Stage.ARCHIVED and v.archived_at]
        return max(archived, key=lambda v: (v.archived_at or "", v.version)) if archived else None

    # -- moves -----------------------------------------------------------------------------------------
    def _update(self, version: ModelVersion, stage: str, status: StageStatus, note: str, **extra: Any) -> None:
        self._sagemaker.update_model_package(
            ModelPackageArn=version.arn,
            ModelLifeCycle={"Stage": str(stage), "StageStatus": status.value, "StageDescription": single_line(note)},
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
        """Mark an approved Staging version as being promoted by ``execution``. In an environment after the first,
        the version must have been promoted to the previous environment instead (it is then in any stage but
        this environment's own): raises :class:`NotPromotedInPreviousEnvironment` otherwise."""
        version = self.get(ref)
        stage = self.candidate_stage
        if version.stage == stage and version.stage_status == StageStatus.IN_PROGRESS:
            return version
        environment = self.environment
        if environment is not None and environment.previous is not None:
            if not version.promoted_to(environment.previous):
                raise NotPromotedInPreviousEnvironment(
                    f"version {version.version} was never promoted to {environment.previous}, which comes before "
                    f"{environment.name}: promote it to {environment.previous} first (its promotion there starts "
                    f"this one when it succeeds)"
                )
            if (
                version.approval_status != "Approved"
                or version.serves_in(environment.name)
                or (version.stage == stage and version.stage_status != StageStatus.REJECTED)
            ):
                raise self._refuse(
                    version,
                    f"start a promotion to {environment.name} of",
                    f"an approved version promoted to "
                    f"{environment.previous} that neither serves in nor is being promoted to {environment.name}",
                )
        elif version.stage != Stage.STAGING or version.stage_status != StageStatus.APPROVED:
            raise self._refuse(version, "start a promotion of", "Staging/Approved")
        self._update(version, stage, StageStatus.IN_PROGRESS, f"promotion {execution}")
        return self.get(version.arn)

    def await_approval(self, ref: str | int, *, note: str) -> ModelVersion:
        """Mark a version being promoted as waiting for its reviewer: setting its stage status to Approved or
        Rejected (in SageMaker Studio, the CLI or the API) answers the promotion."""
        version = self.get(ref)
        stage = self.candidate_stage
        if version.stage != stage or version.stage_status not in (
            StageStatus.IN_PROGRESS,
            StageStatus.AWAITING_APPROVAL,
            StageStatus.APPROVED,
            StageStatus.REJECTED,
        ):
            raise self._refuse(version, "wait for an approval of", f"{stage}/InProgress")
        self._update(version, stage, StageStatus.AWAITING_APPROVAL, note, ModelApprovalStatus="Approved")
        return self.get(version.arn)

    def answer(self, ref: str | int, *, decision: str, comment: str = "") -> ModelVersion:
        """Answer the promotion waiting for this version (``decision``: ``approve`` or ``reject``): its stage
        status becomes Approved or Rejected, which SageMaker records with the caller's identity. The approval
        service reads that identity and resumes the promotion; the comment is kept on one line."""
        if decision not in ("approve", "reject"):
            raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
        version = self.get(ref)
        stage = self.candidate_stage
        if version.stage != stage or version.stage_status != StageStatus.AWAITING_APPROVAL:
            raise self._refuse(version, f"{decision} the promotion of", f"{stage}/AwaitingApproval")
        status = StageStatus.APPROVED if decision == "approve" else StageStatus.REJECTED
        self._update(version, stage, status, comment.strip() or f"{decision}d")
        return self.get(version.arn)

    def promote(self, ref: str | int, *, note: str = "") -> ModelVersion:
        """Make a Staging version Production; the previous Production version becomes Archived. In an environment:
        the version being promoted there serves there (``<name>/Deployed``), the one it replaces is archived
        there."""
        version = self.get(ref)
        environment = self.environment
        stage = self.candidate_stage
        if version.stage == Stage.PRODUCTION or (environment is not None and version.serves_in(environment.name)):
            return version
        if version.stage != stage or version.stage_status not in (StageStatus.APPROVED, StageStatus.IN_PROGRESS):
            raise self._refuse(version, "promote", f"{stage}/Approved or {stage}/InProgress")
        self._retire_current(except_arn=version.arn, note=f"replaced by version {version.version}")
        if environment is None:
            self._serve(version, Stage.PRODUCTION, note or "promoted to Production")
        else:
            self._serve(version, environment.name, note or f"promoted to {environment.name}")
        return self.get(version.arn)

    def reject(self, ref: str | int, *, reason: str) -> ModelVersion:
        """Reject a Staging version (reviewer, shadow check, alarm, timeout), with the reason (on one line). In an
        environment, the version's approval becomes Rejected only if it serves in no other environment (one that
        does stays approved: the accounts it serves in read it by its approval)."""
        version = self.get(ref)
        stage = self.candidate_stage
        serves_elsewhere = any(status == SERVING for status in version.environments.values())
        rejected_approval = "Approved" if serves_elsewhere else "Rejected"
        if (
            version.stage == stage
            and version.stage_status == StageStatus.REJECTED
            and version.approval_status == rejected_approval
        ):
            return version
        if version.stage != stage:
            raise self._refuse(version, "reject", stage)
        self._update(
            version,
            stage,
            StageStatus.REJECTED,
            f"rejected: {reason}",
            ModelApprovalStatus=rejected_approval,
            ApprovalDescription=single_line(reason),
        )
        return self.get(version.arn)

    def rollback(self, *, note: str = "") -> ModelVersion:
        """Restore the most recently archived former Production version; archive the current one. In an
        environment, only that environment's: the others keep what they serve."""
        target = self.rollback_target()
        environment = self.environment
        if target is None:
            where = f" in {environment.name}" if environment else ""
            raise IllegalTransition(
                f"group {self.group!r} has no archived former Production version{where} to roll back to"
            )
        current = self.production()
        if current is not None:
            self._archive(current, f"rolled back to version {target.version}")
        if environment is None:
            self._serve(target, Stage.PRODUCTION, note or "restored by rollback")
        else:
            target = self.get(target.arn)
            # Its stage shows the environment it serves in; one it still serves in further on keeps its stage.
            serving_elsewhere = [name for name, status in target.environments.items() if status == SERVING]
            stage = target.stage if serving_elsewhere and target.stage in serving_elsewhere else environment.name
            self._serve(target, stage, note or f"restored in {environment.name} by rollback")
        return self.get(target.arn)

    def _serve(self, version: ModelVersion, stage: str, note: str) -> None:
        """``version`` is deployed (``stage``/Deployed, approved); in an environment, recorded as serving there."""
        where = {} if self.environment is None else {"CustomerMetadataProperties": self._where(SERVING)}
        self._update(version, stage, StageStatus.DEPLOYED, note, ModelApprovalStatus="Approved", **where)

    def _where(self, status: str) -> dict[str, str]:
        """The metadata that says the version has ``status`` in the registry's environment, from now."""
        assert self.environment is not None
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        return {environment_key(self.environment.name): status, environment_since_key(self.environment.name): now}

    def _retire_current(self, *, except_arn: str, note: str) -> None:
        current = self.production()
        if current is not None and current.arn != except_arn:
            self._archive(current, note)

    def _archive(self, version: ModelVersion, note: str) -> None:
        environment = self.environment
        if environment is None:
            self._update(
                version,
                Stage.ARCHIVED,
                StageStatus.RETIRED,
                note,
                CustomerMetadataProperties={_ARCHIVED_AT: dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")},
            )
            return
        # Archived in this environment; its stage says Archived once it serves nowhere, else where it still serves.
        still_serving = [n for n, s in version.environments.items() if s == SERVING and n != environment.name]
        if still_serving:
            stage = version.stage if version.stage in still_serving else still_serving[0]
            self._update(
                version, stage, StageStatus.DEPLOYED, f"{environment.name}: {note}",
                CustomerMetadataProperties=self._where(ARCHIVED),
            )  # fmt: skip
        else:
            self._update(
                version, Stage.ARCHIVED, StageStatus.RETIRED, f"{environment.name}: {note}",
                CustomerMetadataProperties=self._where(ARCHIVED),
            )  # fmt: skip

    # -- registration ------------------------------------------------------------------------------
    def register(
        self,
        *,
        model_data_url: str,
        image: str,
        environment: dict[str, str],
        lineage: Mapping[str, Any],
        metrics: dict[str, float] | None = None,
        metrics_uri: str | None = None,
    ) -> ModelVersion:
        """Register a version (Staging / PendingApproval) with its lineage.

        ``lineage`` holds the values as recorded (maps for library versions, hyper-parameters and feature group
        versions; keys with or without the ``lineage.`` prefix). The complete document is stored in S3 through
        ``documents``; the registry keeps a short summary per key and the document's URI and SHA-256
        (:mod:`mlops_kit.registry.lineage`). Raises :class:`IncompleteLineage` when a required key is missing or
        empty (nothing is stored then), ``ValueError`` without ``documents`` or with more metadata entries than
        SageMaker keeps.
        """
        content = {key.removeprefix("lineage."): value for key, value in lineage.items()}
        missing = missing_lineage({f"lineage.{key}": value for key, value in content.items()})
        if missing:
            raise IncompleteLineage(
                f"registration refused: lineage is missing {missing}. A model version must record the dataset "
                "manifest, feature group versions, code commit, pipeline execution, images, library versions, "
                "hyper-parameters and seed."
            )
        if self._documents is None:
            raise ValueError("registering needs ModelRegistry(..., documents=LineageDocuments(s3, bucket))")
        properties = metadata_properties(content, self._documents.put(content))
        properties.update({metadata_key(f"metrics.{k}"): f"{v:.6g}" for k, v in (metrics or {}).items()})
        if len(properties) > METADATA_ENTRIES_MAX:
            raise ValueError(
                f"{len(properties)} metadata entries for a version of {self.group!r}; SageMaker keeps at most "
                f"{METADATA_ENTRIES_MAX}: record fewer metrics"
            )
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
