"""Monitoring: scheduled drift jobs, drift metrics and alarms, retraining on drift, batch scoring, and the platform
dashboard."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import PlatformConfig
from cdk.constructs.batch_scoring import MODEL_ARTIFACTS, BatchScoring
from cdk.constructs.dashboard import PlatformDashboard
from cdk.constructs.drift_monitor import BASELINE_OBJECTS, DriftMonitor
from cdk.constructs.model_quality import ModelQuality
from cdk.constructs.model_registry import ModelRegistry
from cdk.nag import acknowledge_object_prefixes
from cdk.stacks import shared
from cdk.stacks.shared import SharedData
from mlops_kit.batch import naming as batch_naming
from mlops_kit.monitoring import naming as drift_naming
from mlops_kit.pipeline.definition import ecr_repository
from mlops_kit.pipeline.usecase import load_use_case
from mlops_kit.quality import naming as quality_naming
from mlops_kit.serving import naming


class MonitoringStack(Stack):
    """``registry`` is the training stack's model registry handle (the Production version and its baseline)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        registry: ModelRegistry,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        project, endpoint = config.project_name, config.endpoint_name
        data = SharedData.import_into(self, project)
        # The monitored columns are the use case's model inputs, known at synth (importing it makes no AWS call).
        use_case = load_use_case(config.training.use_case)
        image = config.image_uri("processing")
        self.drift = DriftMonitor(
            self,
            "Drift",
            config=config.drift,
            endpoint_name=endpoint,
            features=list(use_case.MODEL_FEATURES),
            use_case=config.training.use_case,
            registry=registry,
            pipeline_name=config.pipeline_name,
            artifacts_bucket=data.artifacts_bucket,
            data_bucket=data.data_bucket,
            key=data.key,
            topic=data.topic,
            state_table=data.promotion_table,
            image_uri=image,
            image_repository=ecr_repository(image),
            instance_type=config.training.processing_instance_type,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        artifacts = shared.export_name(project, shared.ARTIFACTS_BUCKET_ARN)
        data_arn = shared.export_name(project, shared.DATA_BUCKET_ARN)
        capture = f"{artifacts}/{naming.capture_prefix(endpoint)}/*"
        baselines = f"{artifacts}/{BASELINE_OBJECTS}"
        reports = f"{artifacts}/{drift_naming.reports_prefix(endpoint)}/*"
        why = (
            "SageMaker writes capture files per variant and hour, each model version's baseline sits in its "
            "pipeline run's folder, each drift job writes its own report folder, and the offline store is "
            "partitioned by date: object names are generated, the prefixes are fixed."
        )
        acknowledge_object_prefixes(self.drift.job_role, [capture, baselines, reports, f"{data_arn}/features/*"], why)
        acknowledge_object_prefixes(self.drift.start.role, [capture, baselines], why)
        acknowledge_object_prefixes(self.drift.publish.role, [reports], why)

        self.quality: ModelQuality | None = None
        if config.quality is not None:
            self.quality = ModelQuality(
                self,
                "Quality",
                config=config.quality,
                endpoint_name=endpoint,
                primary_metric=config.training.primary_metric,
                registry=registry,
                artifacts_bucket=data.artifacts_bucket,
                data_bucket=data.data_bucket,
                key=data.key,
                topic=data.topic,
                log_retention=config.log_retention,
                removal_policy=config.cdk_removal_policy,
                retrain=self.drift.dead_letters.get("Retrain") if config.quality.retrain_on_drop is not False else None,
            )
            why_quality = "Label files, capture files and window reports are named per arrival, hour and window."
            labels = f"{data_arn}/{config.quality.labels_prefix}/*"
            quality_reports = f"{artifacts}/{quality_naming.reports_prefix(endpoint)}/*"
            acknowledge_object_prefixes(self.quality.run.role, [capture, labels, quality_reports], why_quality)
            acknowledge_object_prefixes(
                self.quality.labels.role,
                [f"{data_arn}/{self.quality.label_event_objects}", f"{data_arn}/{self.quality.rejected_label_objects}"],
                "Each label event is stored (or rejected) as its own object, named by day and event id.",
            )

        self.batch = BatchScoring(
            self,
            "Batch",
            config=config.batch,
            project=project,
            registry=registry,
            data_bucket=data.data_bucket,
            artifacts_bucket=data.artifacts_bucket,
            key=data.key,
            topic=data.topic,
            image_uri=image,
            image_repository=ecr_repository(image),
            instance_type=config.training.processing_instance_type,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        batch_objects = [
            f"{data_arn}/{batch_naming.INPUT_PREFIX}/*",
            f"{data_arn}/{batch_naming.OUTPUT_PREFIX}/*",
            f"{data_arn}/features/*",
            f"{artifacts}/{MODEL_ARTIFACTS}",
        ]
        acknowledge_object_prefixes(
            self.batch.job_role,
            batch_objects,
            "Batch inputs and outputs are files under fixed prefixes (one output folder per job), the offline store "
            "is partitioned by date, and each model version's artifact sits in its training run's folder.",
        )

        rollback = sorted(
            {
                name
                for slot in naming.SLOTS
                # The business-metric alarm exists only during a canary (mlops_kit.promotion.business_alarm).
                for name in naming.rollback_alarms(endpoint, slot, business=False)
            }
        )
        self.dashboard = PlatformDashboard(
            self, "Dashboard", dashboard_name=config.dashboard_name, endpoint_name=endpoint, rollback_alarms=rollback
        )
        for row in self.drift.dashboard_rows():
            self.dashboard.add_row(*row)

        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard.dashboard_name)
        CfnOutput(self, "DriftScheduleName", value=drift_naming.schedule_name(endpoint))
        CfnOutput(self, "DriftScheduleGroup", value=self.drift.schedule_group)
        CfnOutput(self, "DriftStartFunctionName", value=self.drift.start.function.function_name)
        CfnOutput(self, "DriftReportsUri", value=self.drift.reports_uri)
        CfnOutput(self, "DriftJobRoleArn", value=self.drift.job_role.role_arn)
        if self.quality is not None:
            self.dashboard.add_row(*self.quality.dashboard_row())
            CfnOutput(self, "QualityScheduleName", value=self.quality.schedule.schedule_name)
            CfnOutput(self, "QualityFunctionName", value=self.quality.run.function.function_name)
            CfnOutput(self, "QualityLabelsUri", value=self.quality.labels_uri)
        CfnOutput(self, "BatchStartFunctionName", value=self.batch.start.function.function_name)
        CfnOutput(self, "BatchInputUri", value=self.batch.input_uri)
        CfnOutput(self, "BatchOutputUri", value=self.batch.output_uri)
        if self.batch.schedule is not None:
            CfnOutput(self, "BatchScheduleName", value=batch_naming.schedule_name(project))
