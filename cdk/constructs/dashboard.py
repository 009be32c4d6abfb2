"""The platform's CloudWatch dashboard: serving traffic, errors and latency per variant, alarms, rollout.

Built from names, not from other stacks' objects: SageMaker's metrics are addressed by endpoint and variant
names, and the rollback alarms by their (deterministic) ARNs, so the dashboard can live in its own stack and a
change to it never touches the serving stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from mlops_kit.serving import naming

SAGEMAKER_NAMESPACE = "AWS/SageMaker"


def alarm_arn(scope: Construct, name: str) -> str:
    """``arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`` in ``scope``'s stack."""
    return Stack.of(scope).format_arn(
        service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def alarms_by_name(scope: Construct, names: Sequence[str]) -> list[cloudwatch.IAlarm]:
    """Handles on alarms other stacks own, by name (for alarm widgets)."""
    return [cloudwatch.Alarm.from_alarm_arn(scope, f"Alarm{i}", alarm_arn(scope, name)) for i, name in enumerate(names)]


def variant_metric(endpoint_name: str, metric: str, slot: str, statistic: str, period: int = 60) -> cloudwatch.Metric:
    """A SageMaker endpoint metric of one production variant (or the shadow)."""
    return cloudwatch.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=metric,
        dimensions_map={"EndpointName": endpoint_name, "VariantName": slot},
        statistic=statistic,
        period=Duration.seconds(period),
    )


class PlatformDashboard(Construct):
    """One dashboard: serving rows for ``endpoint_name`` with its ``rollback_alarms`` (by name); capabilities
    add rows (:meth:`add_row`), e.g. drift monitoring adds PSI per feature over time."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        endpoint_name: str,
        rollback_alarms: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        slots = [*naming.SLOTS, naming.SHADOW]

        def per_slot(metric: str, statistic: str, suffix: str = "") -> list[cloudwatch.IMetric]:
            return [
                variant_metric(endpoint_name, metric, slot, statistic).with_(label=f"{slot}{suffix}") for slot in slots
            ]

        self.add_row(
            cloudwatch.GraphWidget(title="Invocations per variant", left=per_slot("Invocations", "Sum"), width=8),
            cloudwatch.GraphWidget(
                title="5xx errors per variant", left=per_slot("Invocation5XXErrors", "Sum"), width=8
            ),
            cloudwatch.GraphWidget(
                title="Model latency p50 / p99 (µs)",
                left=per_slot("ModelLatency", "p50", " p50") + per_slot("ModelLatency", "p99", " p99"),
                width=8,
            ),
        )
        self.add_row(
            cloudwatch.AlarmStatusWidget(
                title="Rollback alarms", alarms=alarms_by_name(self, rollback_alarms), width=12
            ),
            cloudwatch.GraphWidget(
                title="Rollout: candidate traffic (%)",
                left=[
                    cloudwatch.Metric(
                        namespace=naming.ROLLOUT_NAMESPACE,
                        metric_name=naming.ROLLOUT_METRIC,
                        dimensions_map={"EndpointName": endpoint_name},
                        statistic="Maximum",
                        period=Duration.minutes(1),
                    )
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=12,
            ),
        )

    def add_row(self, *widgets: cloudwatch.IWidget) -> None:
        # jsii typing: Row implements IWidget at runtime.
        self.dashboard.add_widgets(cloudwatch.Row(*widgets))
