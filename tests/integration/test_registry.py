"""Registry lifecycle on the emulator's SageMaker: Staging -> Production -> Archived, rollback, refusals."""

from __future__ import annotations

import pytest

from mlops_kit.registry import (
    REQUIRED_LINEAGE,
    IllegalTransition,
    IncompleteLineage,
    ModelRegistry,
    Stage,
    StageStatus,
    UnknownModelVersion,
)
from mlops_local.emulator import Emulator

LINEAGE = {key.removeprefix("lineage."): f"value-of-{key}" for key in REQUIRED_LINEAGE}


@pytest.fixture
def registry(emulator: Emulator) -> ModelRegistry:
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    return ModelRegistry(sagemaker, "fraud")


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


def test_registration_without_complete_lineage_is_refused(registry: ModelRegistry) -> None:
    incomplete = {k: v for k, v in LINEAGE.items() if k != "code_commit"}
    incomplete["seed"] = ""

    with pytest.raises(IncompleteLineage, match=r"missing \['lineage.code_commit', 'lineage.seed'\]"):
        registry.register(model_data_url="s3://b/m.tar.gz", image="i", environment={}, lineage=incomplete)

    assert registry.versions() == []


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
