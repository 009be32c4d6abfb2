"""Build the whole platform (every stack) into a CDK app from one validated config."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import App, Environment, Stack, Tags

from cdk.config import PlatformConfig
from cdk.nag import enable_checks
from cdk.stacks.data_stack import DataStack
from cdk.stacks.environment_stack import EnvironmentStack
from cdk.stacks.monitoring_stack import MonitoringStack
from cdk.stacks.serving_stack import ServingStack
from cdk.stacks.training_stack import TrainingStack


@dataclass(frozen=True)
class Platform:
    data: DataStack
    training: TrainingStack
    serving: ServingStack
    monitoring: MonitoringStack
    # By environment name, in promotion order; empty when one account trains and serves.
    environments: dict[str, EnvironmentStack] = field(default_factory=dict)

    @property
    def stacks(self) -> list[Stack]:
        return [self.data, self.training, self.serving, self.monitoring, *self.environments.values()]


def build_platform(app: App, config: PlatformConfig, *, code_commit: str = "unknown") -> Platform:
    """Add every stack to ``app``; cdk-nag AwsSolutions checks run on its synth.

    ``code_commit`` is recorded in the training pipeline (and so in every model version's lineage).
    """
    env = Environment(account=config.account, region=config.region)
    data = DataStack(
        app,
        "Data",
        stack_name=config.stack_name("data"),
        description="MLOps kit: platform key, buckets, notifications, feature store, promotion and experiment tables "
        "(stateful)",
        env=env,
        config=config,
    )
    training = TrainingStack(
        app,
        "Training",
        stack_name=config.stack_name("training"),
        description="MLOps kit: model registry and the SageMaker training pipeline",
        env=env,
        config=config,
        code_commit=code_commit,
    )
    training.add_dependency(data)
    serving = ServingStack(
        app,
        "Serving",
        stack_name=config.stack_name("serving"),
        description="MLOps kit: real-time endpoint role, data capture, rollback alarms, promotion, A/B testing",
        env=env,
        config=config,
        registry=training.registry,
        code_bundle=training.pipeline.bundle,
    )
    serving.add_dependency(data)
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        stack_name=config.stack_name("monitoring"),
        description="MLOps kit: scheduled drift jobs, drift metrics and alarms, retraining on drift, dashboard",
        env=env,
        config=config,
        registry=training.registry,
    )
    monitoring.add_dependency(training)  # retraining starts the training pipeline
    monitoring.add_dependency(serving)  # the dashboard shows the serving alarms
    # Each environment's stack goes to its own account; the tooling stacks above share the versions with it.
    environments = {
        name: EnvironmentStack(
            app,
            f"Environment{name.capitalize()}",
            stack_name=config.stack_name(f"serving-{name}"),
            description=f"MLOps kit: the {name} environment's serving role, for versions shared by the tooling account",
            env=Environment(account=environment.account, region=environment.region or config.region),
            config=config,
            environment_name=name,
        )
        for name, environment in config.environments.items()
    }
    Tags.of(app).add("mlops:project", config.project_name)
    enable_checks(app)
    return Platform(data=data, training=training, serving=serving, monitoring=monitoring, environments=environments)
