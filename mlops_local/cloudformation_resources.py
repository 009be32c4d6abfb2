"""CloudFormation resource types the kit synthesizes and moto's CloudFormation silently skips.

moto collects resource types from the direct subclasses of ``CloudFormationModel``; each class below is one
(the mixin carries the shared plumbing) and creates its resource in the matching moto backend, so a deployed
alarm is a real CloudWatch alarm, a schedule a real EventBridge Scheduler schedule, and so on. The deployer
refuses templates with types that no model understands (:func:`unsupported_types`), instead of moto's
silent skip.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel


class _Emulated:
    """Shared plumbing for the emulated resource types: Ref, GetAtt, update by replace, delete."""

    TYPE: ClassVar[str] = ""
    NAME_PROPERTY: ClassVar[str] = ""
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, physical_id: str, attributes: dict[str, Any], properties: dict[str, Any]) -> None:
        self._physical_id = physical_id
        self._attributes = attributes
        self.properties = properties

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self._attributes:
            return self._attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        return cls.create(resource_name, properties, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.create(new_resource_name, cloudformation_json.get("Properties", {}), account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        raise NotImplementedError

    def delete(self, account_id: str, region: str) -> None:
        return None


def _tags(properties: dict[str, Any]) -> list[dict[str, str]]:
    tags = properties.get("Tags") or []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": v} for k, v in tags.items()]
    return list(tags)


def _policy_json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class CdkMetadata(_Emulated, CloudFormationModel):
    TYPE = "AWS::CDK::Metadata"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        return cls(name, {}, properties)


class CloudWatchAlarm(_Emulated, CloudFormationModel):
    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    ATTRIBUTES = ("Arn",)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.cloudwatch.models import (
            Dimension,
            Metric,
            MetricDataQuery,
            MetricStat,
            cloudwatch_backends,
        )

        queries = None
        if properties.get("Metrics"):
            queries = []
            for query in properties["Metrics"]:
                stat = query.get("MetricStat")
                metric_stat = None
                if stat:
                    metric = stat["Metric"]
                    metric_stat = MetricStat(
                        metric=Metric(
                            metric_name=metric["MetricName"],
                            namespace=metric.get("Namespace"),
                            dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
                        ),
                        period=stat.get("Period"),
                        stat=stat.get("Stat"),
                        unit=stat.get("Unit"),
                    )
                queries.append(
                    MetricDataQuery(
                        query_id=query["Id"],
                        label=query.get("Label"),
                        period=query.get("Period"),
                        return_data=query.get("ReturnData", True),
                        expression=query.get("Expression"),
                        metric_stat=metric_stat,
                    )
                )
        backend: Any = cloudwatch_backends[account_id][region]
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=properties.get("Namespace"),
            metric_name=properties.get("MetricName"),
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=int(properties["Period"]) if properties.get("Period") else None,
            threshold=float(properties["Threshold"]) if "Threshold" in properties else None,
            statistic=properties.get("Statistic"),
            description=properties.get("AlarmDescription"),
            dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []),
            metric_data_queries=queries,
            datapoints_to_alarm=properties.get("DatapointsToAlarm"),
            extended_statistic=properties.get("ExtendedStatistic"),
            ok_actions=properties.get("OKActions", []),
            insufficient_data_actions=properties.get("InsufficientDataActions", []),
            unit=properties.get("Unit"),
            actions_enabled=properties.get("ActionsEnabled", True),
            treat_missing_data=properties.get("TreatMissingData"),
        )
        return cls(name, {"Arn": alarm.alarm_arn}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region].delete_alarms([self.physical_resource_id])


class S3BucketPolicy(_Emulated, CloudFormationModel):
    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.s3.models import s3_backends

        bucket = properties["Bucket"]
        s3_backends[account_id]["aws"].put_bucket_policy(bucket, _policy_json(properties["PolicyDocument"]).encode())
        return cls(bucket, {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.s3.models import s3_backends

        with contextlib.suppress(Exception):  # the bucket may already be gone with its stack
            s3_backends[account_id]["aws"].delete_bucket_policy(self.physical_resource_id)


class SnsTopicPolicy(_Emulated, CloudFormationModel):
    TYPE = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.sns.models import sns_backends

        backend = sns_backends[account_id][region]
        for topic_arn in properties.get("Topics", []):
            # moto sets the attribute named as given: "policy" is the topic's policy ("Policy" is a new attribute).
            backend.set_topic_attribute(topic_arn, "policy", _policy_json(properties["PolicyDocument"]))
        return cls(name, {}, properties)


class SnsSubscription(_Emulated, CloudFormationModel):
    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.sns.models import sns_backends

        backend = sns_backends[account_id][region]
        subscription = backend.subscribe(properties["TopicArn"], properties["Endpoint"], properties["Protocol"])
        # The filter decides who receives what (moto applies it before delivering, as SNS does); the scope is set
        # first because the policy is validated for it. CloudFormation gives the policy as an object.
        for attribute in ("FilterPolicyScope", "FilterPolicy"):
            if attribute in properties:
                value = properties[attribute]
                text = value if isinstance(value, str) else json.dumps(value)
                backend.set_subscription_attributes(subscription.arn, attribute, text)
        return cls(subscription.arn, {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.sns.models import sns_backends

        sns_backends[account_id][region].unsubscribe(self.physical_resource_id)


class SqsQueuePolicy(_Emulated, CloudFormationModel):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[account_id][region]
        for queue_url in properties.get("Queues", []):
            backend.set_queue_attributes(
                queue_url.rstrip("/").split("/")[-1], {"Policy": _policy_json(properties["PolicyDocument"])}
            )
        return cls(name, {}, properties)


class LambdaEventInvokeConfig(_Emulated, CloudFormationModel):
    """A function's asynchronous-invocation settings: retries and the on-failure destination, which the emulator's
    EventBridge delivery honours (:mod:`mlops_local.events`)."""

    TYPE = "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.awslambda.utils import get_backend

        config: dict[str, Any] = {
            key: properties[key]
            for key in ("DestinationConfig", "MaximumEventAgeInSeconds", "MaximumRetryAttempts")
            if key in properties
        }
        get_backend(account_id, region).put_function_event_invoke_config(properties["FunctionName"], config)
        return cls(name, {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.awslambda.utils import get_backend

        with contextlib.suppress(Exception):  # the function may already be gone with its stack
            get_backend(account_id, region).delete_function_event_invoke_config(self.properties["FunctionName"])


class SchedulerScheduleGroup(_Emulated, CloudFormationModel):
    TYPE = "AWS::Scheduler::ScheduleGroup"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn",)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.scheduler.models import scheduler_backends

        group = scheduler_backends[account_id][region].create_schedule_group(name, _tags(properties))
        return cls(name, {"Arn": group.arn}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.scheduler.models import scheduler_backends

        scheduler_backends[account_id][region].delete_schedule_group(self.physical_resource_id)


class SchedulerSchedule(_Emulated, CloudFormationModel):
    TYPE = "AWS::Scheduler::Schedule"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn",)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.scheduler.models import scheduler_backends

        schedule = scheduler_backends[account_id][region].create_schedule(
            description=properties.get("Description", ""),
            end_date=properties.get("EndDate"),  # type: ignore[arg-type]
            flexible_time_window=properties.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            group_name=properties.get("GroupName", "default"),
            kms_key_arn=properties.get("KmsKeyArn"),  # type: ignore[arg-type]
            name=name,
            schedule_expression=properties["ScheduleExpression"],
            schedule_expression_timezone=properties.get("ScheduleExpressionTimezone"),  # type: ignore[arg-type]
            start_date=properties.get("StartDate"),  # type: ignore[arg-type]
            state=properties.get("State", "ENABLED"),
            target=properties["Target"],
            action_after_completion=properties.get("ActionAfterCompletion"),
        )
        return cls(name, {"Arn": schedule.arn}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.scheduler.models import scheduler_backends

        scheduler_backends[account_id][region].delete_schedule(
            self.properties.get("GroupName", "default"), self.physical_resource_id
        )


class SageMakerModelPackageGroup(_Emulated, CloudFormationModel):
    TYPE = "AWS::SageMaker::ModelPackageGroup"
    NAME_PROPERTY = "ModelPackageGroupName"
    ATTRIBUTES = ("ModelPackageGroupArn", "ModelPackageGroupStatus", "CreationTime")

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[account_id][region]
        arn = backend.create_model_package_group(
            model_package_group_name=name,
            model_package_group_description=properties.get("ModelPackageGroupDescription", ""),
            tags=_tags(properties),
        )
        # Kept for the IAM evaluation (mlops_local.iam.enforcement): who else may read the group's versions.
        policy = properties.get("ModelPackageGroupPolicy")
        if policy:
            group = backend.model_package_groups[name]
            group.resource_policy = policy if isinstance(policy, str) else json.dumps(policy)  # type: ignore[attr-defined]
        # CloudFormation's Ref of a model package group is its ARN.
        return cls(arn, {"ModelPackageGroupArn": arn, "ModelPackageGroupStatus": "Completed"}, properties)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        """A new ``ModelPackageGroupPolicy`` (or none) is applied in place ("Update requires: No interruption" in
        the resource's reference); the group, its versions and its creation time stay. Another name replaces it."""
        from moto.sagemaker.models import sagemaker_backends

        properties = cloudformation_json.get("Properties", {})
        name = original_resource.physical_resource_id.rsplit("/", 1)[-1]
        group = sagemaker_backends[account_id][region_name].model_package_groups.get(name)
        if group is None or properties.get("ModelPackageGroupName", name) != name:
            return super().update_from_cloudformation_json(
                original_resource, new_resource_name, cloudformation_json, account_id, region_name
            )
        policy = properties.get("ModelPackageGroupPolicy")
        group.resource_policy = (policy if isinstance(policy, str) else json.dumps(policy)) if policy else None  # type: ignore[attr-defined]
        original_resource.properties = properties
        return original_resource


class SageMakerPipeline(_Emulated, CloudFormationModel):
    TYPE = "AWS::SageMaker::Pipeline"
    NAME_PROPERTY = "PipelineName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        definition = properties.get("PipelineDefinition", {})
        body = definition.get("PipelineDefinitionBody")
        s3_location = definition.get("PipelineDefinitionS3Location")
        pipeline = sagemaker_backends[account_id][region].create_pipeline(
            pipeline_name=name,
            pipeline_display_name=properties.get("PipelineDisplayName", name),
            pipeline_definition=body if isinstance(body, str) or body is None else json.dumps(body),  # type: ignore[arg-type]
            pipeline_definition_s3_location=(
                {"Bucket": s3_location["Bucket"], "ObjectKey": s3_location["Key"]} if s3_location else None  # type: ignore[arg-type]
            ),
            pipeline_description=properties.get("PipelineDescription", ""),
            role_arn=properties["RoleArn"],
            tags=_tags(properties),
            parallelism_configuration=properties.get("ParallelismConfiguration"),  # type: ignore[arg-type]
        )
        return cls(name, {"PipelineArn": pipeline.arn}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.sagemaker.models import sagemaker_backends

        sagemaker_backends[account_id][region].delete_pipeline(self.physical_resource_id)


class GlueDatabase(_Emulated, CloudFormationModel):
    TYPE = "AWS::Glue::Database"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.glue.models import glue_backends

        database_input = properties["DatabaseInput"]
        glue_backends[account_id][region].create_database(database_input["Name"], database_input)
        return cls(database_input["Name"], {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.glue.models import glue_backends

        glue_backends[account_id][region].delete_database(self.physical_resource_id)


class GlueTable(_Emulated, CloudFormationModel):
    TYPE = "AWS::Glue::Table"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.glue.models import glue_backends

        table_input = properties["TableInput"]
        glue_backends[account_id][region].create_table(properties["DatabaseName"], table_input["Name"], table_input)
        return cls(table_input["Name"], {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.glue.models import glue_backends

        glue_backends[account_id][region].delete_table(self.properties["DatabaseName"], self.physical_resource_id)


class AthenaWorkGroup(_Emulated, CloudFormationModel):
    TYPE = "AWS::Athena::WorkGroup"
    NAME_PROPERTY = "Name"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.athena.models import athena_backends

        athena_backends[account_id][region].create_work_group(
            name=name,
            configuration=properties.get("WorkGroupConfiguration", {}),
            description=properties.get("Description", ""),
            tags=_tags(properties),
        )
        return cls(name, {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.athena.models import athena_backends

        athena_backends[account_id][region].delete_work_group(self.physical_resource_id)


class ApiGatewayStage(_Emulated, CloudFormationModel):
    """A REST API stage (moto creates the API, resources, methods and deployments, but skips the stage)."""

    TYPE = "AWS::ApiGateway::Stage"
    NAME_PROPERTY = "StageName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        from moto.apigateway.models import apigateway_backends

        deployment = properties["DeploymentId"]
        apigateway_backends[account_id][region].create_stage(
            properties["RestApiId"],
            name,
            # moto's Deployment has no physical id, so its Ref resolves to the model object itself.
            str(getattr(deployment, "id", deployment)),
            variables=properties.get("Variables"),
            description=properties.get("Description", ""),
            tags={t["Key"]: t["Value"] for t in _tags(properties)} or None,
            tracing_enabled=properties.get("TracingEnabled"),
        )
        # CloudFormation's Ref of a stage is its name.
        return cls(name, {}, properties)

    def delete(self, account_id: str, region: str) -> None:
        from moto.apigateway.models import apigateway_backends

        with contextlib.suppress(Exception):  # the API (and its stages) may be gone already
            apigateway_backends[account_id][region].delete_stage(
                self.properties["RestApiId"], self.physical_resource_id
            )


def register() -> list[tuple[Any, str, Any, bool]]:
    """Make moto's CloudFormation see the classes above (its type maps are cached)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    return []


EMULATED_TYPES: tuple[type[_Emulated], ...] = (
    CdkMetadata,
    CloudWatchAlarm,
    S3BucketPolicy,
    SnsTopicPolicy,
    SnsSubscription,
    SqsQueuePolicy,
    SchedulerScheduleGroup,
    SchedulerSchedule,
    SageMakerModelPackageGroup,
    SageMakerPipeline,
    GlueDatabase,
    GlueTable,
    AthenaWorkGroup,
    ApiGatewayStage,
)


def supported_types() -> set[str]:
    from moto.cloudformation import parsing

    return set(parsing.get_model_map())


def unsupported_types(template: dict[str, Any]) -> list[str]:
    """Resource types in a template that the emulator's CloudFormation would silently skip."""
    known = supported_types()
    types = {resource["Type"] for resource in template.get("Resources", {}).values()}
    return sorted(t for t in types if t not in known and not t.startswith("Custom::"))
