"""What the emulator's SNS delivered to e-mail subscribers.

moto applies a subscription's filter policy before it delivers (``Subscription.publish``) and keeps every
message published to a topic (``Topic.sent_notifications``), but it delivers nothing to ``email`` endpoints.
:func:`mailbox` is what an e-mail subscriber would have received: each message published to a topic they are
subscribed to, filtered by their subscription's filter policy with moto's own matcher (the one that decides the
other protocols' deliveries). A message published before the subscription existed is counted too; the
platform's subscriptions are created with its stacks, before anything publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EMAIL_PROTOCOLS = ("email", "email-json")


@dataclass(frozen=True)
class Mail:
    """One message as an e-mail subscriber receives it; ``attributes`` are its String message attributes."""

    topic_arn: str
    subject: str
    message: str
    attributes: dict[str, str]


def mailbox(account: str, region: str, address: str) -> list[Mail]:
    """Every message SNS delivered to the e-mail ``address`` (all its subscriptions), oldest first per topic."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account][region]
    mails: list[Mail] = []
    for subscription in list(backend.subscriptions.values()):
        if subscription.protocol not in EMAIL_PROTOCOLS or subscription.endpoint != address:
            continue
        matcher = subscription._filter_policy_matcher
        for _id, message, subject, attributes, _group in list(subscription.topic.sent_notifications):
            if matcher is not None and not matcher.matches(attributes, message):
                continue
            mails.append(Mail(subscription.topic.arn, str(subject or ""), message, _strings(attributes)))
    return mails


def _strings(attributes: dict[str, Any] | None) -> dict[str, str]:
    return {name: str(value.get("Value")) for name, value in (attributes or {}).items()}
