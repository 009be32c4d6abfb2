"""The platform's notification topic: approvals, rollbacks, drift alarms."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Notifications(Construct):
    """One KMS-encrypted SNS topic that enforces TLS; each ``approver_emails`` address is subscribed.

    With no addresses the topic still exists (approvals then happen from the CLI, which prints the pending
    request); subscribe other endpoints (chat, paging) to ``topic`` as your organisation needs. Its subscriptions
    are not filtered: CloudWatch alarms publish without message attributes, which an attribute filter never
    delivers. The approval page's one-time links go to the page's own topic instead, where each address receives
    only its own (:class:`cdk.constructs.approval_page.ApprovalPage`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, approver_emails: list[str]) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
        for email in approver_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # CloudWatch alarms publish to the topic; they need the key to encrypt.
        key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        self.topic.grant_publish(grantee)
