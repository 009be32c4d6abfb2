"""What every promotion step works with: the settings, the AWS clients and the domain objects built on them.

A step is a function ``(promotion, state) -> state`` in :mod:`mlops_kit.promotion.steps`; ``state`` is the
execution's JSON state, which the state machine passes in and takes back. Clients are passed in (boto3 in the
Lambda, the emulator's or in-memory fakes in tests), and so is the clock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_kit.promotion.settings import PromotionSettings
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry, ModelVersion
from mlops_kit.serving import naming
from mlops_kit.serving.deploy import EndpointDeployer


@dataclass
class Clients:
    """The AWS clients the steps use."""

    sagemaker: Any
    dynamodb: Any
    sns: Any
    cloudwatch: Any
    s3: Any
    autoscaling: Any


@dataclass
class Promotion:
    """One step's world: ``settings``, ``aws`` and ``clock`` (seconds since the epoch), and what is built on them."""

    settings: PromotionSettings
    aws: Clients
    clock: Callable[[], float] = time.time
    registry: ModelRegistry = field(init=False)
    store: PromotionStore = field(init=False)
    deployer: EndpointDeployer = field(init=False)

    def __post_init__(self) -> None:
        self.registry = ModelRegistry(self.aws.sagemaker, self.settings.model_package_group)
        self.store = PromotionStore(self.aws.dynamodb, self.settings.table_name)
        self.deployer = EndpointDeployer(self.aws.sagemaker, self.aws.autoscaling, self.settings.endpoint.name)

    def autoscale(self, slot: str) -> None:
        """Application Auto Scaling on the serving variant, as the platform config sets it. Nothing for a
        serverless endpoint: SageMaker scales it itself, and it has no instance count to scale."""
        endpoint = self.settings.endpoint
        if endpoint.serverless is not None:
            return
        self.deployer.autoscale(
            slot,
            minimum=endpoint.initial_instance_count,
            maximum=endpoint.max_instance_count,
            invocations_per_instance=endpoint.target_invocations_per_instance,
        )

    @property
    def endpoint_name(self) -> str:
        return self.settings.endpoint.name

    def now_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat(timespec="seconds")

    def notify(self, subject: str, message: str) -> None:
        """Publish to the notification topic (SNS subjects are at most 100 characters)."""
        self.aws.sns.publish(TopicArn=self.settings.topic_arn, Subject=subject[:100], Message=message)

    def rollout_metric(self, percent: float) -> None:
        """The candidate's share of traffic, for the dashboard."""
        self.aws.cloudwatch.put_metric_data(
            Namespace=naming.ROLLOUT_NAMESPACE,
            MetricData=[
                {
                    "MetricName": naming.ROLLOUT_METRIC,
                    "Dimensions": [{"Name": "EndpointName", "Value": self.endpoint_name}],
                    "Value": float(percent),
                    "Unit": "Percent",
                }
            ],
        )


def passed(state: dict[str, Any], stage: str) -> dict[str, Any]:
    """Append ``stage`` to the path the execution took (what the deployment record and notifications show)."""
    state.setdefault("path", []).append(stage)
    return state


def version_summary(version: ModelVersion) -> dict[str, Any]:
    return {
        "arn": version.arn,
        "version": version.version,
        "model_data_url": version.model_data_url,
        "stage": version.stage,
        "metrics": version.metrics,
    }
