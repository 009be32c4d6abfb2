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
from mlops_kit.registry import Environment, ModelRegistry, ModelVersion
from mlops_kit.serving import naming
from mlops_kit.serving.deploy import EndpointDeployer


@dataclass
class Clients:
    """The AWS clients the steps use. With environments, ``sagemaker``, ``cloudwatch`` and ``autoscaling`` act in
    the environment's account (the deployment role's session) and ``registry`` is the tooling account's SageMaker
    client (where the model package group is); left unset, ``sagemaker`` is both. ``stepfunctions`` starts the
    next environment's promotion; only a promotion with a next environment needs it."""

    sagemaker: Any
    dynamodb: Any
    sns: Any
    cloudwatch: Any
    s3: Any
    autoscaling: Any
    registry: Any = None
    stepfunctions: Any = None


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
        environment = self.settings.target_environment
        self.registry = ModelRegistry(
            self.aws.registry or self.aws.sagemaker,
            self.settings.model_package_group,
            environment=Environment(environment.name, environment.previous) if environment else None,
        )
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

    @property
    def registry_sagemaker(self) -> Any:
        """The SageMaker client of the account the model package group is in."""
        return self.aws.registry or self.aws.sagemaker

    @property
    def environment_name(self) -> str | None:
        """The environment this promotion serves in; None with one account."""
        return self.settings.target_environment.name if self.settings.target_environment else None

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


def assume_deployment_role(sts: Any, role_arn: str, environment: str) -> dict[str, str]:
    """Client keyword arguments (``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``,
    ``region_name``) acting in an environment's account: ``sts:AssumeRole`` of its deployment role (the role's trust
    policy names the promotion steps' role), in the tooling account's region (the config refuses another). The
    credentials last the default hour; a step invocation takes minutes.

    Raises botocore's ClientError (AccessDenied) when the role does not trust the caller or the caller may not
    assume it."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"promotion-{environment}")["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
        "region_name": sts.meta.region_name,
    }


def environment_session(sts: Any, role_arn: str, environment: str) -> Any:
    """A boto3 session in an environment's account (:func:`assume_deployment_role`), for tools and tests that hold
    no session of their own. Raises as :func:`assume_deployment_role`."""
    import boto3  # only callers outside the steps need it; the steps themselves take clients

    return boto3.session.Session(**assume_deployment_role(sts, role_arn, environment))


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
