"""A promotion's world in memory: the steps' settings (the platform defaults) over the fakes in ``fakes.py``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from cdk.config import load_config
from mlops_kit.promotion.context import Clients, Promotion
from mlops_kit.promotion.settings import EndpointSettings, PromotionSettings
from mlops_kit.promotion.steps import run_action
from tests.unit.promotion.fakes import (
    FakeAutoscaling,
    FakeClock,
    FakeCloudWatch,
    FakeDynamoDB,
    FakeS3,
    FakeSageMaker,
    FakeSNS,
)

ENDPOINT = "fraud-endpoint"
GROUP = "fraud-models"
TABLE = "promotions"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:promotion:promote-v2-0123456789"
LINEAGE = {
    "lineage.dataset_manifest_hash": "sha256-1",
    "lineage.dataset_manifest_uri": "s3://data/manifest.json",
    "lineage.feature_group_versions": "customers=1",
    "lineage.code_commit": "abc123",
    "lineage.pipeline_execution": "pipeline/1",
    "lineage.training_image": "sklearn:1.9-0",
    "lineage.inference_image": "sklearn:1.9-0",
    "lineage.library_versions": "sklearn=1.6",
    "lineage.hyperparameters": "max_iter=300",
    "lineage.seed": "42",
}


def settings(endpoint: str = ENDPOINT, **mlops: Any) -> PromotionSettings:
    """The steps' settings as the construct builds them from ``cdk.json`` (``mlops`` overrides the defaults)."""
    config = load_config({"serving": {"endpoint_name": endpoint}, **mlops})
    return PromotionSettings(
        endpoint=EndpointSettings(
            name=config.endpoint_name,
            instance_type=config.serving.instance_type,
            initial_instance_count=config.serving.initial_instance_count,
            max_instance_count=config.serving.max_instance_count,
            target_invocations_per_instance=config.serving.target_invocations_per_instance,
            model_role_arn="arn:aws:iam::123456789012:role/model",
            capture_uri="s3://artifacts/capture",
            capture_kms_key_id="arn:aws:kms:us-east-1:123456789012:key/k",
            capture_sampling_percent=config.serving.data_capture_sampling_percent,
            serving_environment={"MLOPS_ONLINE_TABLE": "features"},
            serverless=config.serving.serverless.settings() if config.serving.serverless else None,
        ),
        model_package_group=GROUP,
        table_name=TABLE,
        topic_arn="arn:aws:sns:us-east-1:123456789012:notifications",
        business_alarm=config.alarms.business_alarm_settings(),
        rollout=config.rollout.settings(),
        instance_prices=dict(config.cost.instance_prices),
    )


@dataclass
class World:
    settings: PromotionSettings
    clock: FakeClock = field(default_factory=FakeClock)
    autoscaling: FakeAutoscaling = field(default_factory=FakeAutoscaling)
    dynamodb: FakeDynamoDB = field(default_factory=FakeDynamoDB)
    sns: FakeSNS = field(default_factory=FakeSNS)
    cloudwatch: FakeCloudWatch = field(default_factory=FakeCloudWatch)
    s3: FakeS3 = field(default_factory=FakeS3)
    sagemaker: FakeSageMaker = field(init=False)

    def __post_init__(self) -> None:
        self.sagemaker = FakeSageMaker(self.autoscaling)

    @property
    def promotion(self) -> Promotion:
        clients = Clients(self.sagemaker, self.dynamodb, self.sns, self.cloudwatch, self.s3, self.autoscaling)
        return Promotion(self.settings, clients, clock=self.clock)

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint.name

    def run(self, action: str, state: dict[str, Any], task_token: str | None = None) -> dict[str, Any]:
        """One step, with the state through JSON both ways as Step Functions passes it."""
        result = run_action(self.promotion, action, json.loads(json.dumps(state)), task_token)
        return dict(json.loads(json.dumps(result)))

    def package(self, version: int, stage: str = "Staging", status: str = "PendingApproval",
                approval: str = "Approved", **properties: str) -> str:  # fmt: skip
        return self.sagemaker.add_package(
            GROUP, version, ModelApprovalStatus=approval,
            ModelLifeCycle={"Stage": stage, "StageStatus": status},
            CustomerMetadataProperties={**LINEAGE, **properties},
        )  # fmt: skip

    def serve(self, version: int, slot: str = "blue", instances: int = 1) -> str:
        """Version ``version`` is Production and serves alone in ``slot`` (with autoscaling registered), as a
        finished promotion leaves it; returns the package ARN."""
        arn = self.package(version, "Production", "Deployed")
        model, config = f"{self.endpoint}-v{version}-{slot}-seed", f"{self.endpoint}-seed-v{version}"
        container = self.sagemaker.packages[arn]["InferenceSpecification"]["Containers"][0]
        self.sagemaker.create_model(
            ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
            PrimaryContainer={**container, "Environment": {"MLOPS_MODEL_PACKAGE_ARN": arn}},
        )  # fmt: skip
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[{"VariantName": slot, "ModelName": model, "InitialInstanceCount": 1,
                                 "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        )  # fmt: skip
        self.sagemaker.serve(self.endpoint, config)
        self.sagemaker.scale(self.endpoint, slot, instances)
        self.autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=f"endpoint/{self.endpoint}/variant/{slot}",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=1, MaxCapacity=4,
        )  # fmt: skip
        return arn

    def validated(self, candidate: str, **state: Any) -> dict[str, Any]:
        """The state after Validate for ``candidate``."""
        return self.run("validate", {"model_package_arn": candidate, "mode": "promote", "requested_by": "registry",
                                     "execution": EXECUTION, **state})  # fmt: skip


@pytest.fixture
def world() -> World:
    return World(settings())
