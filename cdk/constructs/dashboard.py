"""The platform's CloudWatch dashboard: serving traffic, errors and latency per variant, alarms, rollout."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from cdk.constructs.endpoint import EndpointSupport
from mlops_kit.serving import naming


class PlatformDashboard(Construct):
    """One dashboard; capabilities add rows (:meth:`add_row`), e.g. drift monitoring adds PSI per feature."""

    def __init__(self, scope: Construct, construct_id: str, *, dashboard_name: str, endpoint: EndpointSupport) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        slots = [*naming.SLOTS, naming.SHADOW]
        self.add_row(
            cloudwatch.GraphWidget(
                title="Invocations per variant",
                left=[endpoint.metric_invocations(slot).with_(label=slot) for slot in slots],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="5xx errors per variant",
                left=[endpoint.metric_errors(slot).with_(label=slot) for slot in slots],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Model latency p50 / p99 (µs)",
                left=[endpoint.metric_latency(slot, "p50").with_(label=f"{slot} p50") for slot in slots]
                + [endpoint.metric_latency(slot, "p99").with_(label=f"{slot} p99") for slot in slots],
                width=8,
            ),
        )
        self.add_row(
            cloudwatch.AlarmStatusWidget(title="Rollback alarms", alarms=list(endpoint.alarms.values()), width=12),
            cloudwatch.GraphWidget(
                title="Rollout: candidate traffic (%)",
                left=[
                    cloudwatch.Metric(
                        namespace=naming.ROLLOUT_NAMESPACE,
                        metric_name=naming.ROLLOUT_METRIC,
                        dimensions_map={"EndpointName": endpoint.endpoint_name},
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
        self.dashboard.add_widgets(cloudwatch.Row(*widgets))  # type: ignore[arg-type]
