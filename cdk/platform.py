"""Build the whole platform (every stack) into a CDK app from one validated config."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Stack, Tags

from cdk.config import PlatformConfig
from cdk.nag import enable_checks
from cdk.stacks.data_stack import DataStack


@dataclass(frozen=True)
class Platform:
    data: DataStack

    @property
    def stacks(self) -> list[Stack]:
        return [self.data]


def build_platform(app: App, config: PlatformConfig) -> Platform:
    """Add every stack to ``app``; cdk-nag AwsSolutions checks run on its synth."""
    env = Environment(account=config.account, region=config.region)
    data = DataStack(
        app,
        "Data",
        stack_name=config.stack_name("data"),
        description="MLOps kit: platform key, data and artifact buckets, notifications (stateful)",
        env=env,
        config=config,
    )
    Tags.of(app).add("mlops:project", config.project_name)
    enable_checks(app)
    return Platform(data=data)
