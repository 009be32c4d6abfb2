"""Dead-letter queues for asynchronous consumers: nothing an event brings is dropped after the last retry."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.nag import acknowledge

# How long a dead letter waits to be redriven: SQS's longest retention.
RETENTION = Duration.days(14)
# Lambda's own retries of a failed asynchronous invocation (0-2) before the event goes to the on-failure destination.
ASYNC_RETRIES = 2


class DeadLetters(Construct):
    """The dead-letter queue of one asynchronously invoked function, and its alarm.

    Two kinds of failure land in ``queue``: an event EventBridge (a rule, or a Scheduler schedule) could not deliver
    to the function after its retries (the target's dead-letter queue: message attributes ``RULE_ARN``,
    ``TARGET_ARN``, ``ERROR_CODE``), and an invocation the function itself failed after Lambda's
    :data:`ASYNC_RETRIES` retries (the function's on-failure destination: a JSON record with ``requestPayload``, the
    original event, and ``responsePayload``, the error). The queue is encrypted with ``key``, kept for 14 days and
    follows ``removal_policy``; ``alarm`` goes to ALARM as soon as a message is visible and notifies ``topic`` when
    given. ``mlops_kit.deadletters`` redrives it (README: "Dead letters").
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.key = key
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=RETENTION,
            removal_policy=removal_policy,
        )
        acknowledge(self.queue, "AwsSolutions-SQS3", "This is a dead-letter queue; nothing redrives into it.")
        # The function's own failures, after Lambda's retries: the whole event is kept with the error.
        function.configure_async_invoke(on_failure=_QueueDestination(self.queue, key), retry_attempts=ASYNC_RETRIES)
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description=f"An event for {function.node.path} was not processed: it waits in the dead-letter "
            "queue (README: Dead letters, how to redrive)",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if topic is not None:
            self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` (a Scheduler schedule's role) put dead letters: ``sqs:SendMessage`` on the queue and the key
        use an encrypted queue needs. (CDK's schedule target grants only ``sqs:SendMessage``.)"""
        iam.Grant.add_to_principal(grantee=grantee, actions=["sqs:SendMessage"], resource_arns=[self.queue.queue_arn])
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["kms:GenerateDataKey", "kms:Decrypt"], resource_arns=[self.key.key_arn]
        )

    def rule_target(self, *, retry_attempts: int = 4) -> targets.LambdaFunction:
        """The function as an EventBridge rule target whose undeliverable events go to ``queue``. CDK adds the
        queue policy statement EventBridge needs: ``sqs:SendMessage`` for ``events.amazonaws.com`` with
        ``aws:SourceArn`` the rule's ARN."""
        return targets.LambdaFunction(self.function, retry_attempts=retry_attempts, dead_letter_queue=self.queue)


@jsii.implements(lambda_.IDestination)
class _QueueDestination:
    """An on-failure destination granting exactly what sending to a KMS-encrypted queue takes: ``sqs:SendMessage``
    on the queue, ``kms:GenerateDataKey`` and ``kms:Decrypt`` on its key (SQS developer guide, "Key management").
    CDK's ``SqsDestination`` grants the whole send family (``kms:ReEncrypt*``, ``kms:Encrypt`` too)."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self._queue = queue
        self._key = key

    def bind(self, scope: Construct, fn: lambda_.IFunction, *_: Any, **__: Any) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._queue.queue_arn]))
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self._key.key_arn])
        )
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)
