"""A Lambda function invoked on an EventBridge Scheduler schedule (the drift job's start, the model-quality run,
batch scoring): the schedule's own role, assumable only by Scheduler in this account, and a target that retries
twice within an hour and sends what it cannot deliver to the function's dead-letter queue. The function reads
``{"source": "schedule", "scheduled_time": ...}`` as its event."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.nag import acknowledge


def scheduler_role(scope: Construct, description: str) -> iam.Role:
    """``ScheduleRole`` in ``scope``: the schedule's own role (the default one is shared at stack level)."""
    return iam.Role(
        scope,
        "ScheduleRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
        ),
        description=description,
    )


def invoke_on_schedule(
    scope: Construct,
    *,
    function: lambda_.IFunction,
    role: iam.Role,
    dead_letter_queue: sqs.IQueue,
    expression: str,
    description: str,
    schedule_name: str | None = None,
) -> scheduler.Schedule:
    """``Schedule`` in ``scope``, invoking ``function`` as ``role`` (from :func:`scheduler_role`; the target grants
    it InvokeFunction on this one function). Without ``schedule_name`` CloudFormation generates one."""
    schedule = scheduler.Schedule(
        scope,
        "Schedule",
        schedule_name=schedule_name,
        description=description,
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=scheduler_targets.LambdaInvoke(
            function,
            input=scheduler.ScheduleTargetInput.from_object(
                {"source": "schedule", "scheduled_time": scheduler.ContextAttribute.scheduled_time}
            ),
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            role=role,
            dead_letter_queue=dead_letter_queue,
        ),
    )
    function_id = Stack.of(scope).get_logical_id(function.node.default_child)
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
        "CDK's Lambda schedule target grants invoke on the scheduled function and its versions (<arn>:*); "
        "the role is assumable only by EventBridge Scheduler in this account.",
    )
    return schedule
