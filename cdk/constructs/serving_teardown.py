"""``cdk destroy`` leaves nothing billing: the endpoint the promotion workflow made at runtime, its models, endpoint
configs and Application Auto Scaling targets and policies go with the serving stack.

A ``Custom::ServingTeardown`` resource backed by one Python function (``lambdas/serving_teardown``, no provider
framework): on Delete it runs :func:`mlops_kit.serving.teardown.tear_down` and answers CloudFormation only when the
endpoint is gone. It depends on the function (its service token), and the function on its role's policy, so
CloudFormation deletes the resource first, while the function can still act. The endpoint is compute, not data:
it is removed whatever ``removal_policy`` says; capture files and the promotion history stay with the data stack.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.arns import arn, as_nag_resource
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge
from mlops_kit.serving import deploy
from mlops_kit.serving.teardown import TeardownSettings, business_alarm_names

RESOURCE_TYPE = "Custom::ServingTeardown"


def cleanup_statements(stack: Stack, endpoint_name: str) -> list[iam.PolicyStatement]:
    """Deleting this endpoint's models and endpoint configs (what a promotion's cleanup and the teardown need
    beyond what the deployer has): DeleteModel on ``model/<prefix>-*``, DeleteEndpointConfig on
    ``endpoint-config/<prefix>-*`` (Service Authorization Reference: each action's only resource type), and the
    List calls that find them, which support no resource-level permissions."""
    pattern = deploy.resource_pattern(endpoint_name)
    return [
        iam.PolicyStatement(
            actions=["sagemaker:DeleteEndpointConfig", "sagemaker:DescribeEndpointConfig"],
            resources=[arn(stack, "sagemaker", "endpoint-config", pattern)],
        ),
        iam.PolicyStatement(actions=["sagemaker:DeleteModel"], resources=[arn(stack, "sagemaker", "model", pattern)]),
        iam.PolicyStatement(actions=["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"], resources=["*"]),
    ]


def acknowledge_cleanup(construct: Construct, endpoint_name: str) -> None:
    """The cdk-nag acknowledgements :func:`cleanup_statements` needs on ``construct`` (a role)."""
    stack = Stack.of(construct)
    pattern = deploy.resource_pattern(endpoint_name)
    for kind in ("model", "endpoint-config"):
        acknowledge(
            construct,
            f"AwsSolutions-IAM5[Resource::{as_nag_resource(stack, 'sagemaker', kind, pattern)}]",
            "Models and endpoint configs are created per promotion or experiment, named after the endpoint with a "
            "content digest; removing the unused ones needs the same prefix.",
        )


class ServingTeardown(Construct):
    """Removes endpoint ``endpoint_name`` and what the kit made for it when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = PythonFunction(
            self,
            "Function",
            name="serving_teardown",
            description=f"{endpoint_name}: remove the endpoint, its configs, models and autoscaling on stack delete",
            log_retention=log_retention,
            removal_policy=removal_policy,
            settings=TeardownSettings(endpoint_name=endpoint_name),
            # SageMaker deletes an endpoint in minutes; the teardown waits for it within Lambda's limit.
            timeout=Duration.minutes(15),
        )
        role = self.function.role
        endpoint_arn = arn(stack, "sagemaker", "endpoint", endpoint_name.lower())
        autoscaling_conditions = {
            "StringEquals": {
                "application-autoscaling:service-namespace": "sagemaker",
                "application-autoscaling:scalable-dimension": deploy.AUTOSCALING_DIMENSION,
            }
        }
        statements = [
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"], resources=[endpoint_arn]
            ),
            iam.PolicyStatement(actions=["sagemaker:ListEndpoints"], resources=["*"]),
            *cleanup_statements(stack, endpoint_name),
            # Application Auto Scaling: Describe* has no resource types; DeregisterScalableTarget and
            # DeleteScalingPolicy name scalable-target ARNs by an ID AWS generates, not by the endpoint, so they are
            # limited by condition to SageMaker variant instance counts.
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:DeleteScalingPolicy",
                ],
                resources=["*"],
                conditions=autoscaling_conditions,
            ),
            # Deleting a target tracking policy deletes the alarms Application Auto Scaling made for it.
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                resources=[arn(stack, "cloudwatch", "alarm", f"TargetTracking-endpoint/{endpoint_name}/*", colon=True)],
            ),
            # The canary's business-metric alarms, by name (DescribeAlarms and DeleteAlarms: the alarm resource).
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                resources=[
                    arn(stack, "cloudwatch", "alarm", name, colon=True) for name in business_alarm_names(endpoint_name)
                ],
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)
        acknowledge_cleanup(role, endpoint_name)
        alarms = as_nag_resource(stack, "cloudwatch", "alarm", f"TargetTracking-endpoint/{endpoint_name}/*", colon=True)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{alarms}]",
            "Application Auto Scaling names the target tracking alarms of this endpoint's variants itself.",
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={"EndpointName": endpoint_name},
        )
        # The resource must go before the function and its permissions (CloudFormation deletes in reverse).
        self.resource.node.add_dependency(role)
