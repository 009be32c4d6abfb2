"""Registry lifecycle on the emulator's SageMaker: Staging -> Production -> Archived, rollback, refusals."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from mlops_kit.registry import (
    REQUIRED_LINEAGE,
    IllegalTransition,
    IncompleteLineage,
    LineageDocuments,
    LineageMismatch,
    ModelRegistry,
    Stage,
    StageStatus,
    UnknownModelVersion,
)
from mlops_local.emulator import Emulator

LINEAGE = {key.removeprefix("lineage."): f"value-of-{key}" for key in REQUIRED_LINEAGE}
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
# The lineage as the training pipeline records it: maps for feature groups, libraries and hyper-parameters.
PIPELINE_LINEAGE = {
    "dataset_manifest_hash": "5daffdcd5f368f368d455361cde0ff2c8318a73f7cb7877db5cb539c1a8483b3",
    "dataset_manifest_uri": "s3://artifacts/pipelines/iiuly6evtxrk/BuildTrainingSet/training_set/manifest.json",
    "feature_group_versions": {"customer_activity": "1f0bbe98820f6020", "customer_profile": "690a323d8c255cea"},
    "code_commit": "fce90544332abe9b75c653545b841d0ca4d31d52-dirty",
    "pipeline_execution": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/training/execution/iiuly6evtxrk",
    "training_image": IMAGE,
    "inference_image": IMAGE,
    "library_versions": {"numpy": "2.4.6", "python": "3.11.7", "scikit-learn": "1.9.1"},
    "hyperparameters": {"learning_rate": 0.05, "max_depth": 2, "max_iter": 300},
    "seed": "42",
}


@pytest.fixture
def registry(emulator: Emulator) -> ModelRegistry:
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    emulator.client("s3").create_bucket(Bucket="artifacts")
    return ModelRegistry(sagemaker, "fraud", documents=LineageDocuments(emulator.client("s3"), "artifacts"))


def register(registry: ModelRegistry, n: int = 1) -> list[str]:
    return [
        registry.register(
            model_data_url=f"s3://b/models/{i}/model.tar.gz",
            image="123.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.9-0",
            environment={"SAGEMAKER_PROGRAM": "inference.py"},
            lineage=LINEAGE,
            metrics={"roc_auc": 0.9 + i / 100},
        ).arn
        for i in range(n)
    ]


def promote(registry: ModelRegistry, arn: str) -> None:
    registry.approve(arn, approver="ana")
    registry.promote(arn)


def test_registration_lands_in_staging_pending_approval_with_lineage(registry: ModelRegistry) -> None:
    (arn,) = register(registry)

    version = registry.get(arn)
    assert (version.stage, version.stage_status, version.approval_status) == (
        Stage.STAGING, StageStatus.PENDING_APPROVAL, "PendingManualApproval",
    )  # fmt: skip
    assert version.lineage["seed"] == "value-of-lineage.seed"
    assert version.metrics == {"roc_auc": 0.9}
    assert registry.get(1).arn == arn


def test_registration_without_complete_lineage_is_refused(emulator: Emulator, registry: ModelRegistry) -> None:
    incomplete = {k: v for k, v in PIPELINE_LINEAGE.items() if k != "code_commit"}
    incomplete["seed"] = ""
    incomplete["hyperparameters"] = {}

    with pytest.raises(
        IncompleteLineage, match=r"missing \['lineage.code_commit', 'lineage.hyperparameters', 'lineage.seed'\]"
    ):
        registry.register(model_data_url="s3://b/m.tar.gz", image="i", environment={}, lineage=incomplete)

    assert registry.versions() == []
    assert "Contents" not in emulator.client("s3").list_objects_v2(Bucket="artifacts")


def test_the_full_lineage_is_a_document_in_s3_the_registry_references_by_uri_and_hash(
    emulator: Emulator, registry: ModelRegistry
) -> None:
    version = registry.register(
        model_data_url="s3://artifacts/models/1/model.tar.gz", image=IMAGE, environment={}, lineage=PIPELINE_LINEAGE
    )

    # What SageMaker keeps: a short value per key (the stricter emulator refuses JSON there), and the reference.
    assert version.lineage["hyperparameters"] == "learning_rate=0.05 max_depth=2 max_iter=300"
    assert version.lineage["feature_group_versions"] == (
        "customer_activity=1f0bbe98820f6020 customer_profile=690a323d8c255cea"
    )
    assert version.lineage["seed"] == "42"
    reference = version.lineage_document
    assert reference is not None
    assert reference.uri == f"s3://artifacts/lineage/{reference.sha256}.json"
    stored = emulator.client("s3").get_object(Bucket="artifacts", Key=f"lineage/{reference.sha256}.json")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == reference.sha256
    # What `mlops registry lineage` shows: every value, as recorded.
    assert registry.full_lineage(version.version) == PIPELINE_LINEAGE


def test_a_lineage_document_changed_after_registration_is_detected(emulator: Emulator, registry: ModelRegistry) -> None:
    version = registry.register(
        model_data_url="s3://artifacts/models/1/model.tar.gz", image=IMAGE, environment={}, lineage=PIPELINE_LINEAGE
    )
    reference = version.lineage_document
    assert reference is not None
    tampered = json.dumps({"schema": "mlops-kit/lineage/1", "lineage": PIPELINE_LINEAGE | {"seed": "7"}})
    emulator.client("s3").put_object(Bucket="artifacts", Key=f"lineage/{reference.sha256}.json", Body=tampered)

    with pytest.raises(LineageMismatch, match="changed or replaced after registration"):
        registry.full_lineage(version.arn)


def test_promotion_archives_the_previous_production(registry: ModelRegistry) -> None:
    first, second = register(registry, 2)
    promote(registry, first)

    promote(registry, second)

    assert registry.production().arn == second  # type: ignore[union-attr]
    archived = registry.get(first)
    assert (archived.stage, archived.stage_status) == (Stage.ARCHIVED, StageStatus.RETIRED)
    assert [v.stage for v in registry.versions()].count(Stage.PRODUCTION) == 1


def test_moves_are_idempotent(registry: ModelRegistry) -> None:
    (arn,) = register(registry)
    registry.approve(arn, approver="ana")
    registry.approve(arn, approver="ana")
    registry.promote(arn)

    again = registry.promote(arn)

    assert again.stage == Stage.PRODUCTION
    assert len(registry.versions()) == 1


def test_rollback_restores_the_most_recently_archived_production(registry: ModelRegistry) -> None:
    first, second, third = register(registry, 3)
    for arn in (first, second, third):
        promote(registry, arn)

    restored = registry.rollback()

    assert restored.arn == second
    assert registry.production().arn == second  # type: ignore[union-attr]
    assert registry.get(third).stage == Stage.ARCHIVED


def test_illegal_moves_are_refused_with_the_state_and_what_is_allowed(registry: ModelRegistry) -> None:
    first, second = register(registry, 2)
    promote(registry, first)
    registry.reject(second, reason="shadow disagreement 40%")

    with pytest.raises(
        IllegalTransition, match=r"cannot promote version 2 .* Staging/Rejected .* allowed from Staging/Approved"
    ):
        registry.promote(second)
    with pytest.raises(IllegalTransition, match="cannot reject version 1"):
        registry.reject(first, reason="x")
    with pytest.raises(IllegalTransition, match="no archived former Production"):
        registry.rollback()
    assert registry.get(second).approval_status == "Rejected"


def test_unknown_versions_are_a_clear_error(registry: ModelRegistry) -> None:
    with pytest.raises(UnknownModelVersion, match="has no version 7"):
        registry.get(7)


def test_an_approval_comment_with_punctuation_and_line_breaks_is_recorded_not_refused(
    emulator: Emulator, registry: ModelRegistry
) -> None:
    (arn,) = register(registry)
    comment = "A/B test checkout-model: ship_treatment (conversion +4 points, p=0.01)\nreviewed by Ana O'Brien"

    version = registry.approve(arn, approver="ana@example.com", comment=comment)

    # Metadata values allow letters, numbers, spaces and _.:/=+-@ only; the description keeps the text on one line.
    assert version.properties["approval.comment"] == (
        "A/B test checkout-model: ship_treatment conversion +4 points p=0.01 reviewed by Ana O Brien"
    )
    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert described["ApprovalDescription"] == (
        "ana@example.com: A/B test checkout-model: ship_treatment (conversion +4 points, p=0.01) "
        "reviewed by Ana O'Brien"
    )


def test_a_reject_reason_over_several_lines_is_recorded_on_one(emulator: Emulator, registry: ModelRegistry) -> None:
    (arn,) = register(registry)

    version = registry.reject(arn, reason="shadow disagreement 40%\r\nerrors 3x Production")

    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert described["ApprovalDescription"] == "shadow disagreement 40% errors 3x Production"
    assert version.description == "rejected: shadow disagreement 40% errors 3x Production"


@pytest.fixture
def cli(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`mlops ...` against the emulator's registry (group "fraud")."""
    from typer.testing import CliRunner

    from mlops_kit.cli import console
    from mlops_kit.cli.main import app
    from mlops_kit.cli.platform import Platform

    platform = Platform(emulator.session(), "test", {"ModelPackageGroupName": "fraud"})
    monkeypatch.setattr(Platform, "connect", classmethod(lambda cls, project=None, session=None: platform))
    monkeypatch.setattr(console.console, "_width", 400)
    monkeypatch.setattr(console.err_console, "_width", 400)
    return lambda *args: CliRunner().invoke(app, list(args))


def test_mlops_registry_lineage_shows_every_value_from_the_checked_document(
    emulator: Emulator, registry: ModelRegistry, cli: Any
) -> None:
    version = registry.register(
        model_data_url="s3://artifacts/models/1/model.tar.gz", image=IMAGE, environment={}, lineage=PIPELINE_LINEAGE
    )

    shown = cli("registry", "lineage", "1")

    assert shown.exit_code == 0, shown.output
    assert '{"learning_rate": 0.05, "max_depth": 2, "max_iter": 300}' in shown.output
    assert '"scikit-learn": "1.9.1"' in shown.output
    assert version.lineage_document is not None
    assert version.lineage_document.sha256 in shown.output

    emulator.client("s3").put_object(
        Bucket="artifacts", Key=f"lineage/{version.lineage_document.sha256}.json", Body=b'{"lineage": {}}'
    )
    tampered = cli("registry", "lineage", "1")
    assert tampered.exit_code == 1
    assert "changed or replaced after registration" in tampered.output
