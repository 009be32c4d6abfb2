"""The approval page's infrastructure: an asymmetric signing key, the grants (only the steps function signs, only
the page function verifies, both limited to ECDSA_SHA_256 over RAW messages), a REST API with GET and POST, and
the link settings that reach the steps function."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk.config import ConfigError, load_config
from mlops_kit.environment import read_settings
from mlops_kit.promotion.approval_page import LINKS_VARIABLE, ApprovalPageSettings, LinkIssuerSettings

SIGNING = {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"}}


def _functions(serving: Any) -> dict[str, dict[str, Any]]:
    return serving.find_resources("AWS::Lambda::Function")


def _role_of(serving: Any, marker: str) -> str:
    """The logical id of the role of the function whose environment holds ``marker``."""
    for function in _functions(serving).values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if marker in variables:
            return str(function["Properties"]["Role"]["Fn::GetAtt"][0])
    raise AssertionError(f"no function has {marker}")


def _kms_actions_of(serving: Any, role: str) -> list[tuple[list[str], Any]]:
    found = []
    for policy in serving.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a in ("kms:Sign", "kms:Verify") for a in actions):
                found.append((actions, statement.get("Condition")))
    return found


def test_the_link_key_is_an_asymmetric_signing_key(stack_template: Any) -> None:
    stack_template("serving").has_resource_properties(
        "AWS::KMS::Key", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}
    )


def test_only_the_steps_function_signs_and_only_the_page_verifies(stack_template: Any) -> None:
    serving = stack_template("serving")

    steps = _kms_actions_of(serving, _role_of(serving, "MLOPS_PROMOTION_SETTINGS"))
    page = _kms_actions_of(serving, _role_of(serving, ApprovalPageSettings.VARIABLE))
    others = [
        _kms_actions_of(serving, function["Properties"]["Role"]["Fn::GetAtt"][0])
        for function in _functions(serving).values()
        if not {"MLOPS_PROMOTION_SETTINGS", ApprovalPageSettings.VARIABLE}
        & set(function["Properties"].get("Environment", {}).get("Variables", {}))
    ]

    assert steps == [(["kms:Sign"], SIGNING)]
    assert page == [(["kms:Verify"], SIGNING)]
    assert all(found == [] for found in others)


def test_the_page_answers_get_and_post_without_an_authorizer(stack_template: Any) -> None:
    serving = stack_template("serving")
    methods = serving.find_resources("AWS::ApiGateway::Method", {"Properties": {"AuthorizationType": "NONE"}})

    assert sorted(m["Properties"]["HttpMethod"] for m in methods.values()) == ["GET", "POST"]
    serving.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false"})}},
    )


def test_the_steps_function_gets_the_link_settings(stack_template: Any) -> None:
    serving = stack_template("serving")
    steps = next(
        f
        for f in _functions(serving).values()
        if "MLOPS_PROMOTION_SETTINGS" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    raw = steps["Properties"]["Environment"]["Variables"][LINKS_VARIABLE]
    text = json.dumps(raw) if not isinstance(raw, str) else raw

    assert "reviewer@example.com" in text
    assert "second.reviewer@example.com" in text
    assert "execute-api" in text
    if isinstance(raw, str):  # fully resolved at synth only when no token is inside
        settings = read_settings(LinkIssuerSettings, {LINKS_VARIABLE: raw})
        assert settings.link_ttl_seconds == 86400


def test_the_page_needs_addressees() -> None:
    with pytest.raises(ConfigError, match=r"approval_page\.enabled needs notifications\.approver_emails"):
        load_config({"approval_page": {"enabled": True}})


def test_each_addressee_is_subscribed_to_the_links_topic_for_their_own_copies_only(stack_template: Any) -> None:
    serving = stack_template("serving")
    subscriptions = serving.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}})
    link_topics = serving.find_resources("AWS::SNS::Topic")

    filters = {s["Properties"]["Endpoint"]: s["Properties"]["FilterPolicy"] for s in subscriptions.values()}
    assert filters == {
        "reviewer@example.com": {"addressee": ["reviewer@example.com"]},
        "second.reviewer@example.com": {"addressee": ["second.reviewer@example.com"]},
    }
    assert {s["Properties"].get("FilterPolicyScope", "MessageAttributes") for s in subscriptions.values()} == {
        "MessageAttributes"
    }
    assert len(link_topics) == 1  # the links topic; the platform's topic is the data stack's
    assert all("KmsMasterKeyId" in t["Properties"] for t in link_topics.values())


def test_the_page_judges_each_addressee_as_the_identity_it_stands_for(stack_template: Any) -> None:
    serving = stack_template("serving")
    page = next(
        f
        for f in _functions(serving).values()
        if ApprovalPageSettings.VARIABLE in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    text = json.dumps(page["Properties"]["Environment"]["Variables"][ApprovalPageSettings.VARIABLE])

    # approver-role/<session> becomes that session of the approver role, whose name is known once deployed.
    assert ":assumed-role/" in text
    assert "/reviewer" in text
    assert "/second-reviewer" in text
    assert "approver-role/" not in text
    assert "allow_self_approval" in text


ADDRESSEES = ["ana@example.com", "bo@example.com"]


@pytest.mark.parametrize(
    ("identities", "approvers", "error"),
    [
        ({"ana@example.com": "approver-role/ana"}, [], r"missing \['bo@example\.com'\]"),
        (
            {
                "ana@example.com": "approver-role/ana",
                "bo@example.com": "approver-role/bo",
                "x@y.io": "approver-role/xy",
            },
            [],
            r"not an addressee \['x@y\.io'\]",
        ),
        ({"ana@example.com": "approver-role/ana", "bo@example.com": "bo"}, [], "not IAM identities"),
        (
            {"ana@example.com": "approver-role/ana", "bo@example.com": "arn:aws:iam::123456789012:user/bo"},
            [],
            "names identities that may not approve",
        ),
        (
            {"ana@example.com": "approver-role/ana", "bo@example.com": "arn:aws:iam::123456789012:user/bo"},
            ["arn:aws:iam::123456789012:role/Reviewers"],
            "names identities that may not approve",
        ),
    ],
)
def test_page_addressees_must_stand_for_approvers(identities: Any, approvers: list[str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_config(
            {
                "approval_page": {"enabled": True, "identities": identities},
                "notifications": {"approver_emails": ADDRESSEES},
                "approvals": {"approvers": approvers},
            }
        )


def test_page_addressees_may_stand_for_named_approvers_or_sessions_of_the_approver_role() -> None:
    config = load_config(
        {
            "approval_page": {
                "enabled": True,
                "identities": {
                    "ana@example.com": "approver-role/ana",
                    "bo@example.com": "arn:aws:sts::123456789012:assumed-role/Reviewers/bo@example.com",
                },
            },
            "notifications": {"approver_emails": ADDRESSEES},
            "approvals": {"approvers": ["arn:aws:iam::123456789012:role/Reviewers"]},
        }
    )

    assert config.approval_page.identities["ana@example.com"] == "approver-role/ana"


def test_page_addressees_may_stand_for_an_environments_approvers() -> None:
    managers = "arn:aws:iam::111111111111:role/ReleaseManagers"
    config = load_config(
        {
            "account": "111111111111",
            "approval_page": {
                "enabled": True,
                "identities": {"ana@example.com": "approver-role/ana", "bo@example.com": managers},
            },
            "notifications": {"approver_emails": ADDRESSEES},
            "approvals": {"approvers": ["arn:aws:iam::111111111111:role/Reviewers"]},
            "environments": {"production": {"account": "333333333333", "approvers": [managers]}},
        }
    )

    assert config.approval_page.identities["bo@example.com"] == managers  # the page judges by production's


def test_the_page_allows_as_many_addressees_as_sns_allows_filter_policies_per_topic() -> None:
    emails = [f"r{i}@example.com" for i in range(201)]
    with pytest.raises(ConfigError, match="at most 200"):
        load_config(
            {
                "approval_page": {"enabled": True, "identities": {e: "approver-role/r" + e[1:4] for e in emails}},
                "notifications": {"approver_emails": emails},
            }
        )
