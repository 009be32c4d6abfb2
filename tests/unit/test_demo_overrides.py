"""The demo's own config: the approval page on, its reviewer standing for a session of the approver role, and
``-c`` overrides merged key by key over it."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config
from mlops_local.demo.runner import DEMO_REVIEWER, demo_overrides


def test_the_demo_deploys_the_approval_page_for_its_reviewer() -> None:
    config = load_config(demo_overrides(None)["mlops"])

    assert config.approval_page.enabled
    assert config.notifications.approver_emails == [DEMO_REVIEWER]
    assert config.approval_page.identities == {DEMO_REVIEWER: "approver-role/demo-reviewer"}


def test_overrides_are_merged_key_by_key_over_the_demos_config() -> None:
    merged = demo_overrides({"mlops": {"approval_page": {"link_ttl_seconds": 600}, "region": "eu-west-1"}})
    config = load_config(merged["mlops"])

    assert config.approval_page.enabled
    assert config.approval_page.link_ttl_seconds == 600
    assert config.region == "eu-west-1"


def test_other_addressees_need_their_identities() -> None:
    merged = demo_overrides({"mlops": {"notifications": {"approver_emails": ["ana@example.com"]}}})

    with pytest.raises(ConfigError, match=r"approval_page\.identities must name .* missing \['ana@example\.com'\]"):
        load_config(merged["mlops"])
