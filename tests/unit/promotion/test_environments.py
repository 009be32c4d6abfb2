"""Promotion through environments on in-memory fakes: staging first, then production; each environment's endpoint
calls go to its own account's clients, the registry, table and topic stay the tooling account's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_kit.promotion.approvals import decision_of
from mlops_kit.promotion.context import Clients, Promotion
from mlops_kit.promotion.settings import EnvironmentSettings, PromotionSettings
from mlops_kit.promotion.steps import run_action
from mlops_kit.promotion.steps.validate import InvalidCandidate
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import IllegalTransition, NotPromotedInPreviousEnvironment
from tests.unit.promotion.conftest import GROUP, LINEAGE, TABLE, settings
from tests.unit.promotion.fakes import (
    FakeAutoscaling,
    FakeClock,
    FakeCloudWatch,
    FakeDynamoDB,
    FakeS3,
    FakeSageMaker,
    FakeSNS,
    FakeStepFunctions,
)

MACHINES = "arn:aws:states:us-east-1:111111111111:stateMachine:fraud-promotion-"


@dataclass
class Account:
    """What an environment's account holds: its endpoint's SageMaker, CloudWatch and Application Auto Scaling."""

    autoscaling: FakeAutoscaling = field(default_factory=FakeAutoscaling)
    cloudwatch: FakeCloudWatch = field(default_factory=FakeCloudWatch)
    sagemaker: FakeSageMaker = field(init=False)

    def __post_init__(self) -> None:
        self.sagemaker = FakeSageMaker(self.autoscaling)


def environment_settings(name: str) -> PromotionSettings:
    base = settings(endpoint=f"fraud-endpoint-{name}")
    order = {"staging": (None, "production"), "production": ("staging", None)}
    previous, following = order[name]
    account = {"staging": "222222222222", "production": "333333333333"}[name]
    return base.model_copy(
        update={
            "target_environment": EnvironmentSettings(
                name=name,
                account=account,
                deployment_role_arn=f"arn:aws:iam::{account}:role/fraud-deploy-{name}",
                previous=previous,
                next=following,
                next_state_machine_arn=f"{MACHINES}{following}" if following else None,
            )
        }
    )


@dataclass
class Platform:
    """The tooling account (registry, table, topic, Step Functions) and two environment accounts."""

    registry: FakeSageMaker = field(default_factory=FakeSageMaker)
    dynamodb: FakeDynamoDB = field(default_factory=FakeDynamoDB)
    sns: FakeSNS = field(default_factory=FakeSNS)
    s3: FakeS3 = field(default_factory=FakeS3)
    stepfunctions: FakeStepFunctions = field(default_factory=FakeStepFunctions)
    clock: FakeClock = field(default_factory=FakeClock)
    accounts: dict[str, Account] = field(default_factory=lambda: {"staging": Account(), "production": Account()})

    def promotion(self, environment: str) -> Promotion:
        account = self.accounts[environment]
        clients = Clients(
            sagemaker=account.sagemaker, dynamodb=self.dynamodb, sns=self.sns, cloudwatch=account.cloudwatch,
            s3=self.s3, autoscaling=account.autoscaling, registry=self.registry, stepfunctions=self.stepfunctions,
        )  # fmt: skip
        return Promotion(environment_settings(environment), clients, clock=self.clock)

    def run(self, environment: str, action: str, state: dict[str, Any]) -> dict[str, Any]:
        result = run_action(self.promotion(environment), action, json.loads(json.dumps(state)))
        return dict(json.loads(json.dumps(result)))

    def package(self, version: int) -> str:
        return self.registry.add_package(
            GROUP, version, ModelApprovalStatus="Approved",
            ModelLifeCycle={"Stage": "Staging", "StageStatus": "PendingApproval"},
            CustomerMetadataProperties=dict(LINEAGE),
        )  # fmt: skip

    def validated(self, environment: str, candidate: str, mode: str = "promote") -> dict[str, Any]:
        execution = f"{MACHINES.replace(':stateMachine:', ':execution:')}{environment}:{mode}-{candidate[-1]}"
        state = {"model_package_arn": candidate, "mode": mode, "requested_by": "registry", "execution": execution}
        return self.run(environment, "validate", state)

    def promoted(self, environment: str, candidate: str) -> dict[str, Any]:
        """Validate, then Finalize (the endpoint steps between them are the single-account ones, tested there)."""
        state = self.validated(environment, candidate)
        state["plan"]["candidate_slot"] = "blue"
        return self.run(environment, "finalize", state)

    def lifecycle(self, arn: str) -> tuple[str, str, str]:
        package = self.registry.packages[arn]
        return (
            package["ModelLifeCycle"]["Stage"],
            package["ModelLifeCycle"]["StageStatus"],
            package["ModelApprovalStatus"],
        )

    def where(self, arn: str) -> dict[str, str]:
        properties = self.registry.packages[arn]["CustomerMetadataProperties"]
        return {k: v for k, v in properties.items() if k.startswith("environment.") and not k.endswith(".since")}


@pytest.fixture
def platform() -> Platform:
    return Platform()


def test_a_version_goes_to_staging_first_and_its_success_starts_production(platform: Platform) -> None:
    v1 = platform.package(1)

    state = platform.validated("staging", v1)
    assert platform.lifecycle(v1) == ("staging", "InProgress", "Approved")

    state["plan"]["candidate_slot"] = "blue"
    state = platform.run("staging", "finalize", state)

    assert platform.lifecycle(v1) == ("staging", "Deployed", "Approved")
    assert platform.where(v1) == {"environment.staging": "serving"}
    (started,) = platform.stepfunctions.executions.values()
    assert started["executionArn"].startswith(f"{MACHINES.replace(':stateMachine:', ':execution:')}production:")
    assert json.loads(started["input"])["model_package_arn"] == v1
    assert state["next_promotion"]["environment"] == "production"
    record = PromotionStore(platform.dynamodb, TABLE).deployments("fraud-endpoint-staging")[0]
    assert record["environment"] == "staging"
    assert record["next_promotion"]["execution_arn"] == started["executionArn"]


def test_production_takes_the_version_staging_promoted_and_starts_nothing_after_it(platform: Platform) -> None:
    v1 = platform.package(1)
    platform.promoted("staging", v1)
    platform.stepfunctions.executions.clear()

    state = platform.validated("production", v1)
    assert platform.lifecycle(v1) == ("production", "InProgress", "Approved")
    state["plan"]["candidate_slot"] = "blue"
    state = platform.run("production", "finalize", state)

    assert platform.lifecycle(v1) == ("production", "Deployed", "Approved")
    assert platform.where(v1) == {"environment.staging": "serving", "environment.production": "serving"}
    assert platform.stepfunctions.executions == {}
    assert "next_promotion" not in state or state["next_promotion"] is None
    assert "serves in production" in platform.sns.messages[-1]["Message"]


def test_production_refuses_a_version_without_a_successful_staging_promotion(platform: Platform) -> None:
    v1 = platform.package(1)

    with pytest.raises(NotPromotedInPreviousEnvironment, match="no successful promotion to staging") as refused:
        platform.validated("production", v1)

    assert "promote it to staging first" in str(refused.value)
    assert platform.lifecycle(v1) == ("Staging", "PendingApproval", "Approved")
    assert PromotionStore(platform.dynamodb, TABLE).lock_holder("fraud-endpoint-production") is None


def test_a_staging_rejection_is_no_staging_promotion(platform: Platform) -> None:
    v1 = platform.package(1)
    platform.validated("staging", v1)
    platform.promotion("staging").registry.reject(v1, reason="shadow disagreed")

    with pytest.raises(InvalidCandidate, match="version 1 is Rejected"):
        platform.validated("production", v1)
    assert platform.lifecycle(v1) == ("staging", "Rejected", "Rejected")
    assert platform.where(v1) == {}


def test_the_registry_refuses_production_directly_too(platform: Platform) -> None:
    v1 = platform.package(1)
    registry = platform.promotion("production").registry
    registry.approve(v1, approver="registry")

    with pytest.raises(NotPromotedInPreviousEnvironment, match="never promoted to staging"):
        registry.start_promotion(v1, execution="x")


def test_a_newer_version_in_staging_archives_the_older_there_only(platform: Platform) -> None:
    v1, v2 = platform.package(1), platform.package(2)
    platform.promoted("staging", v1)
    platform.promoted("production", v1)

    platform.promoted("staging", v2)

    assert platform.where(v1) == {"environment.staging": "archived", "environment.production": "serving"}
    assert platform.lifecycle(v1)[:2] == ("production", "Deployed")
    assert platform.where(v2) == {"environment.staging": "serving"}
    assert platform.promotion("production").registry.production().arn == v1  # type: ignore[union-attr]
    assert platform.promotion("staging").registry.production().arn == v2  # type: ignore[union-attr]


def test_a_version_replaced_everywhere_is_archived(platform: Platform) -> None:
    v1, v2 = platform.package(1), platform.package(2)
    for environment in ("staging", "production"):
        platform.promoted(environment, v1)
    for environment in ("staging", "production"):
        platform.promoted(environment, v2)

    assert platform.lifecycle(v1)[:2] == ("Archived", "Retired")
    assert platform.where(v1) == {"environment.staging": "archived", "environment.production": "archived"}


def test_rollback_acts_on_one_environment_only(platform: Platform) -> None:
    v1, v2 = platform.package(1), platform.package(2)
    platform.promoted("staging", v1)
    platform.promoted("production", v1)
    platform.promoted("staging", v2)

    state = platform.validated("staging", v1, mode="rollback")
    state["plan"]["candidate_slot"] = "green"
    platform.run("staging", "finalize", state)

    assert platform.where(v1) == {"environment.staging": "serving", "environment.production": "serving"}
    assert platform.where(v2) == {"environment.staging": "archived"}
    assert platform.promotion("production").registry.rollback_target() is None
    with pytest.raises(InvalidCandidate, match="archived Production version in production"):
        platform.validated("production", v2, mode="rollback")


def test_endpoint_calls_go_to_the_environments_account(platform: Platform) -> None:
    v1 = platform.package(1)

    platform.promoted("staging", v1)

    assert platform.accounts["staging"].autoscaling.registered("fraud-endpoint-staging", "blue")
    assert not platform.accounts["production"].autoscaling.targets
    assert platform.registry.endpoints == {}
    assert platform.registry.models == {}


def test_the_approval_service_reads_an_answer_in_an_environments_stage() -> None:
    waiting = {"ModelLifeCycle": {"Stage": "production", "StageStatus": "Approved"}, "ModelApprovalStatus": "Approved"}
    serving = {"ModelLifeCycle": {"Stage": "production", "StageStatus": "Deployed"}, "ModelApprovalStatus": "Approved"}

    assert decision_of(waiting) == "approve"
    assert decision_of(serving) is None


def test_an_environment_registry_answers_only_in_its_own_stage(platform: Platform) -> None:
    v1 = platform.package(1)
    platform.promoted("staging", v1)
    state = platform.validated("production", v1)
    staging = platform.promotion("staging").registry

    platform.promotion("production").registry.await_approval(v1, note=state["execution"])

    with pytest.raises(IllegalTransition, match="staging/AwaitingApproval"):
        staging.answer(v1, decision="approve")
    staging.within("production").answer(v1, decision="approve")
    assert platform.lifecycle(v1) == ("production", "Approved", "Approved")


class CodeBuckets(FakeS3):
    """The tooling account's S3 as the steps see it: the bootstrap bucket's bundle, and writes they make."""

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = Body
        return {}


SHARED = "s3://fraud-artifacts/models/code/"
BUNDLE = "s3://cdk-hnb659fds-assets-111111111111-us-east-1/0123abcd.tar.gz"


def _with_shared_code(platform: Platform, environment: str) -> Promotion:
    platform.s3 = CodeBuckets()
    promotion = platform.promotion(environment)
    target = promotion.settings.target_environment
    assert target is not None
    promotion.settings = promotion.settings.model_copy(
        update={"target_environment": target.model_copy(update={"shared_code_uri": SHARED})}
    )
    return promotion


def test_an_environments_model_reads_its_code_from_a_copy_under_the_shared_models_prefix(platform: Platform) -> None:
    from mlops_kit.promotion.steps.endpoint import shared_code

    promotion = _with_shared_code(platform, "staging")
    platform.s3.objects[("cdk-hnb659fds-assets-111111111111-us-east-1", "0123abcd.tar.gz")] = b"bundle"

    copied = shared_code(promotion, BUNDLE)

    assert copied.startswith(SHARED)
    assert copied.endswith("/sourcedir.tar.gz")
    bucket, _, key = copied.removeprefix("s3://").partition("/")
    assert platform.s3.objects[(bucket, key)] == b"bundle"
    assert shared_code(promotion, BUNDLE) == copied  # the same name every time: a retry writes the same object
    assert shared_code(promotion, copied) == copied  # already shared: left as it is


def test_a_missing_bundle_fails_the_copy_and_one_account_keeps_the_registered_bundle(platform: Platform) -> None:
    from mlops_kit.promotion.steps.endpoint import shared_code

    promotion = _with_shared_code(platform, "production")

    with pytest.raises(ClientError, match="NoSuchKey"):
        shared_code(promotion, BUNDLE)
    with pytest.raises(ValueError, match="SAGEMAKER_SUBMIT_DIRECTORY"):
        shared_code(promotion, "/opt/ml/code")
    single = Promotion(settings(), promotion.aws, clock=platform.clock)
    assert shared_code(single, BUNDLE) == BUNDLE
