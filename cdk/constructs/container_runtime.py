"""What every SageMaker container's execution role needs, whatever it runs: pull its image, write its log streams,
publish SageMaker's metrics. The processing jobs, the pipeline's jobs and the endpoints' model roles share it."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from cdk.arns import arn, as_nag_resource
from cdk.nag import acknowledge

JOB_LOGS_REASON = "Each job writes its own log stream in the fixed SageMaker log group; streams are named per job."
ENDPOINT_LOGS_REASON = "SageMaker names endpoint log groups per endpoint and streams per instance."


def grant_container_runtime(
    role: iam.Role, *, repositories: Iterable[tuple[str, str]], log_groups: Iterable[str], log_reason: str
) -> None:
    """Grant ``role`` the image pull from ``repositories`` (``(account, name)`` each), log streams in ``log_groups``
    (SageMaker's fixed group names, e.g. ``/aws/sagemaker/Endpoints/*``) and PutMetricData in the
    ``/aws/sagemaker/*`` namespaces; ``log_reason`` says why a log group grant ends in a wildcard (cdk-nag)."""
    stack = Stack.of(role)
    groups = list(log_groups)
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[arn(stack, "ecr", "repository", name, account=account) for account, name in repositories],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[arn(stack, "logs", "log-group", group, colon=True) for group in groups],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions (AWS "
        "requires *); PutMetricData is limited to the /aws/sagemaker/* namespaces by condition.",
    )
    for group in groups:
        finding = as_nag_resource(stack, "logs", "log-group", group, colon=True)
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{finding}]", log_reason)
