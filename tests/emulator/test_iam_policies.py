"""IAM policy evaluation as AWS documents it (IAM User Guide: "Policy evaluation logic", "Condition operators")."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_local.iam.policies import (
    PolicyDocument,
    Principal,
    RequestContext,
    UnsupportedPolicyError,
    arn_like,
    evaluate,
)

ROLE = Principal("role", "arn:aws:iam::123456789012:role/app", "123456789012", "fn")
EVENTS = Principal("service", "events.amazonaws.com", "123456789012")
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def _doc(*statements: dict[str, Any]) -> PolicyDocument:
    return PolicyDocument.parse({"Version": "2012-10-17", "Statement": list(statements)}, "test policy")


def _allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _context(action: str, resource: str = "*", principal: Principal = ROLE, **keys: Any) -> RequestContext:
    values = {k.replace("__", ":").lower(): v if isinstance(v, list) else [v] for k, v in keys.items()}
    known = frozenset(values) | {"aws:sourcearn", "dynamodb:leadingkeys", "aws:securetransport"}
    return RequestContext(action=action, resource=resource, principal=principal, keys=values, known=known)


def _allowed(context: RequestContext, *statements: dict[str, Any]) -> bool:
    return evaluate(context, identity=[_doc(*statements)]).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k")

    decision = evaluate(context, identity=[_doc(_allow()), _doc({**_allow("s3:*"), "Effect": "Deny"})])

    assert not decision.allowed
    assert decision.reason == "with an explicit deny in an identity-based policy"


def test_nothing_allows_is_an_implicit_deny_with_aws_message() -> None:
    context = _context("sagemaker:UpdateEndpoint", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e")

    decision = evaluate(context, identity=[_doc(_allow("sagemaker:DescribeEndpoint"))])

    assert decision.message(context) == (
        "User: arn:aws:sts::123456789012:assumed-role/app/fn is not authorized to perform: sagemaker:UpdateEndpoint "
        "on resource: arn:aws:sagemaker:us-east-1:123456789012:endpoint/e because no identity-based policy allows "
        "the sagemaker:UpdateEndpoint action"
    )


def test_a_request_without_resource_names_none_in_the_message() -> None:
    context = _context("cloudwatch:PutMetricData")

    message = evaluate(context).message(context)

    assert message.endswith(
        "perform: cloudwatch:PutMetricData because no identity-based policy allows the cloudwatch:PutMetricData action"
    )


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("S3:getobject", "s3:GetObject", True),  # actions are case-insensitive
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("*", "kms:Decrypt", True),
    ],
)
def test_actions_match_with_wildcards_case_insensitively(pattern: str, action: str, matches: bool) -> None:
    assert _allowed(_context(action, "arn:aws:s3:::b/k"), _allow(pattern)) is matches


def test_not_action_and_not_resource_invert_the_match() -> None:
    anything_but_delete = {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}
    outside_secret = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/secret/*"}

    assert _allowed(_context("s3:GetObject", "arn:aws:s3:::b/k"), anything_but_delete)
    assert not _allowed(_context("s3:DeleteObject", "arn:aws:s3:::b/k"), anything_but_delete)
    assert _allowed(_context("s3:GetObject", "arn:aws:s3:::b/public/k"), outside_secret)
    assert not _allowed(_context("s3:GetObject", "arn:aws:s3:::b/secret/k"), outside_secret)


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:logs:us-east-1:1:log-group:/g:*", "arn:aws:logs:us-east-1:1:log-group:/g:log-stream:s", True),
        ("arn:aws:sagemaker:*:1:endpoint/e", "arn:aws:sagemaker:eu-west-1:1:endpoint/e", True),
        ("arn:aws:sagemaker:us-east-1:1:endpoint/e", "arn:aws:sagemaker:us-east-1:1:endpoint/E", False),  # case
        ("arn:aws:sagemaker:us-east-1:1:model/m-?", "arn:aws:sagemaker:us-east-1:1:model/m-1", True),
        ("arn:aws:sagemaker:us-east-1:1:model/m-*", "*", False),  # an action without resources needs "*"
        ("*", "*", True),
    ],
)
def test_arns_match_per_segment_with_the_resource_segment_whole(pattern: str, arn: str, matches: bool) -> None:
    assert arn_like(pattern, arn) is matches


# -- conditions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "keys", "holds"),
    [
        (
            {"StringEquals": {"cloudwatch:namespace": "MlopsKit/Drift"}},
            {"cloudwatch__namespace": "MlopsKit/Drift"},
            True,
        ),
        (
            {"StringEquals": {"cloudwatch:namespace": "MlopsKit/Drift"}},
            {"cloudwatch__namespace": "mlopskit/drift"},
            False,
        ),
        (
            {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            {"cloudwatch__namespace": "/aws/sagemaker/x"},
            True,
        ),
        ({"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}, {"cloudwatch__namespace": "Other"}, False),
        ({"StringNotEquals": {"cloudwatch:namespace": ["A", "B"]}}, {"cloudwatch__namespace": "C"}, True),
        ({"StringEqualsIgnoreCase": {"cloudwatch:namespace": "a"}}, {"cloudwatch__namespace": "A"}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws__securetransport": "true"}, False),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws__securetransport": "true"}, True),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/r"}},
            {"aws__sourcearn": "arn:aws:events:x:1:rule/r"},
            True,
        ),
        (
            {"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/r"}},
            {"aws__sourcearn": "arn:aws:events:x:1:rule/r"},
            False,
        ),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3__max-keys": "5"}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "10.1.2.3"}, True),
    ],
)
def test_condition_operators(condition: dict, keys: dict, holds: bool) -> None:
    context = _context("cloudwatch:PutMetricData", **keys)

    assert _allowed(context, _allow(Condition=condition)) is holds


def test_a_key_the_request_lacks_fails_plain_operators_and_passes_negated_and_if_exists_ones() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k")  # aws:SourceArn is known, and absent

    assert not _allowed(context, _allow(Condition={"ArnLike": {"aws:SourceArn": "*"}}))
    assert _allowed(context, _allow(Condition={"ArnNotLike": {"aws:SourceArn": "arn:x"}}))
    assert _allowed(context, _allow(Condition={"ArnLikeIfExists": {"aws:SourceArn": "arn:x"}}))
    assert _allowed(context, _allow(Condition={"Null": {"aws:SourceArn": "true"}}))
    assert not _allowed(context, _allow(Condition={"Null": {"aws:SourceArn": "false"}}))


def test_multivalued_keys_with_for_all_values_and_for_any_value() -> None:
    lock = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["lock#endpoint"]}}
    exposures = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}}
    any_lock = {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["lock#endpoint"]}}

    assert _allowed(_context("dynamodb:GetItem", TABLE, dynamodb__leadingkeys="lock#endpoint"), _allow(Condition=lock))
    assert not _allowed(_context("dynamodb:GetItem", TABLE, dynamodb__leadingkeys="other"), _allow(Condition=lock))
    assert _allowed(
        _context("dynamodb:BatchWriteItem", TABLE, dynamodb__leadingkeys=["exposure#a", "exposure#b"]),
        _allow(Condition=exposures),
    )
    assert not _allowed(
        _context("dynamodb:BatchWriteItem", TABLE, dynamodb__leadingkeys=["exposure#a", "experiment"]),
        _allow(Condition=exposures),
    )
    # ForAllValues holds over an absent key (a Scan has no leading keys), ForAnyValue does not: AWS's documented trap.
    assert _allowed(_context("dynamodb:Scan", TABLE), _allow(Condition=lock))
    assert not _allowed(_context("dynamodb:Scan", TABLE), _allow(Condition=any_lock))


def test_a_condition_key_the_emulator_does_not_compute_is_an_error_not_an_allow() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k")
    tagged = _allow(Condition={"StringEquals": {"aws:ResourceTag/team": "ml"}})

    with pytest.raises(UnsupportedPolicyError, match=r"aws:ResourceTag/team.*test policy|test policy.*aws:ResourceTag"):
        evaluate(context, identity=[_doc(tagged)])


def test_an_unknown_key_in_a_statement_that_does_not_match_is_never_read() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k")
    other_action = _allow("sqs:*", Condition={"StringEquals": {"aws:ResourceTag/team": "ml"}})

    assert not evaluate(context, identity=[_doc(other_action)]).allowed


def test_an_unimplemented_operator_is_an_error() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k", aws__currenttime="2025-01-01T00:00:00Z")

    with pytest.raises(UnsupportedPolicyError, match="DateGreaterThan"):
        evaluate(context, identity=[_doc(_allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2020"}}))])


# -- resource-based policies -----------------------------------------------------------------------------------


def test_a_resource_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    context = _context("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    queue_policy = _doc(_allow("sqs:SendMessage", Principal={"AWS": ROLE.arn}))

    assert evaluate(context, identity=[], resource=[queue_policy]).allowed


def test_a_resource_policy_naming_the_account_only_delegates_to_identity_policies() -> None:
    context = _context("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    queue_policy = _doc(_allow("sqs:SendMessage", Principal={"AWS": "arn:aws:iam::123456789012:root"}))

    assert not evaluate(context, identity=[], resource=[queue_policy]).allowed
    assert evaluate(context, identity=[_doc(_allow("sqs:*"))], resource=[queue_policy]).allowed


def test_an_explicit_deny_in_a_bucket_policy_wins_over_the_role() -> None:
    context = _context("s3:GetObject", "arn:aws:s3:::b/k", aws__securetransport="false")
    bucket_policy = _doc(
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )

    decision = evaluate(context, identity=[_doc(_allow())], resource=[bucket_policy])

    assert decision.reason == "with an explicit deny in a resource-based policy"


def test_a_kms_key_policy_must_allow_directly_or_by_delegating_to_the_account() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    context = _context("kms:Decrypt", key)
    root_delegation = _doc(_allow("kms:*", Principal={"AWS": "arn:aws:iam::123456789012:root"}))
    only_cloudwatch = _doc(_allow("kms:Decrypt", Principal={"Service": "cloudwatch.amazonaws.com"}))
    role_policy = _doc(_allow("kms:Decrypt", key))

    assert evaluate(context, identity=[role_policy], resource=[root_delegation], resource_must_allow=True).allowed
    assert not evaluate(context, identity=[], resource=[root_delegation], resource_must_allow=True).allowed
    denied = evaluate(context, identity=[role_policy], resource=[only_cloudwatch], resource_must_allow=True)
    assert denied.reason == "because no resource-based policy allows the kms:Decrypt action"


def test_a_service_principal_needs_the_resource_policy_with_its_source() -> None:
    function = "arn:aws:lambda:us-east-1:123456789012:function:f"
    rule = "arn:aws:events:us-east-1:123456789012:rule/r"
    permission = _allow(
        "lambda:InvokeFunction",
        function,
        Principal={"Service": "events.amazonaws.com"},
        Condition={"ArnLike": {"AWS:SourceArn": rule}},
    )

    assert evaluate(
        _context("lambda:InvokeFunction", function, EVENTS, aws__sourcearn=rule), resource=[_doc(permission)]
    ).allowed
    other = _context("lambda:InvokeFunction", function, EVENTS, aws__sourcearn=rule + "-other")
    assert not evaluate(other, resource=[_doc(permission)]).allowed


def test_a_permissions_boundary_caps_the_identity_policies() -> None:
    context = _context("s3:PutObject", "arn:aws:s3:::b/k")

    decision = evaluate(context, identity=[_doc(_allow())], boundary=[_doc(_allow("s3:Get*"))])

    assert decision.reason == "because no permissions boundary allows the s3:PutObject action"
    assert evaluate(context, identity=[_doc(_allow())], boundary=[_doc(_allow("s3:*"))]).allowed
