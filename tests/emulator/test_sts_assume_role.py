"""sts:AssumeRole as AWS evaluates it, within an account and across two (STS API reference, AssumeRole; IAM User
Guide, "Cross-account policy evaluation logic"): the role's trust policy must allow the caller, naming its role (or
session) or its account, with the trust policy's conditions (sts:ExternalId) met; a trust policy that names only the
account delegates to the caller's identity policy, which must allow sts:AssumeRole on the role, as it always must
for a caller of another account. The credentials then act as the role, in the role's account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator, free_port
from mlops_local.iam import acting_as

ENVIRONMENT = "222222222222"
OTHER = "333333333333"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _role(emulator: Emulator, account: str, name: str, trusted: Any, *grants: dict[str, Any], **condition: Any) -> str:
    """A role of ``account`` whose trust policy lets the principal ``trusted`` (``{"AWS": ...}``) assume it (with
    ``condition``, when given), allowed ``grants``."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": trusted, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    iam = emulator.client("iam", account=account)
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(statement))["Role"]["Arn"])
    if grants:
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=_policy(*grants))
    return arn


def _may_assume(role_arn: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}


def _caller(emulator: Emulator, *grants: dict[str, Any], name: str = "promoter") -> str:
    """A role of the emulator's (tooling) account that code runs as (a Lambda function's), allowed ``grants``."""
    return _role(emulator, emulator.account, name, {"Service": "lambda.amazonaws.com"}, *grants)


def _assume(emulator: Emulator, caller: str, role: str, **extra: Any) -> dict[str, Any]:
    with acting_as(caller):
        answer: dict[str, Any] = emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="deploy", **extra)
    return answer


def _denied(emulator: Emulator, caller: str, role: str, **extra: Any) -> str:
    with pytest.raises(ClientError) as raised:
        _assume(emulator, caller, role, **extra)
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    return str(raised.value.response["Error"]["Message"])


def _session(emulator: Emulator, credentials: dict[str, Any]) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=emulator.region,
    )


def _root(account: str) -> dict[str, str]:
    return {"AWS": f"arn:aws:iam::{account}:root"}


def test_a_role_assumes_a_role_of_another_account_that_trusts_it(emulator: Emulator) -> None:
    deployment = f"arn:aws:iam::{ENVIRONMENT}:role/deployment"
    caller = _caller(emulator, _may_assume(deployment))
    _role(
        emulator,
        ENVIRONMENT,
        "deployment",
        {"AWS": caller},
        {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"},
    )

    answer = _assume(emulator, caller, deployment)

    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ENVIRONMENT}:assumed-role/deployment/deploy"


def test_the_credentials_act_as_the_role_in_the_roles_account(emulator: Emulator) -> None:
    deployment = f"arn:aws:iam::{ENVIRONMENT}:role/deployment"
    caller = _caller(emulator, _may_assume(deployment))
    queues = {"Effect": "Allow", "Action": ["sqs:CreateQueue", "sqs:ListQueues"], "Resource": "*"}
    _role(emulator, ENVIRONMENT, "deployment", _root(emulator.account), queues)
    credentials = _assume(emulator, caller, deployment)["Credentials"]

    # Used by code that runs as the caller's role (a Lambda handler): the credentials decide, not the thread's role.
    with acting_as(caller):
        sqs = _session(emulator, credentials).client("sqs")
        sqs.create_queue(QueueName="made-by-the-deployment-role")
        with pytest.raises(ClientError) as raised:
            _session(emulator, credentials).client("sns").list_topics()
        identity = _session(emulator, credentials).client("sts").get_caller_identity()

    assert identity["Arn"] == f"arn:aws:sts::{ENVIRONMENT}:assumed-role/deployment/deploy"
    assert identity["Account"] == ENVIRONMENT
    in_environment = emulator.client("sqs", account=ENVIRONMENT).list_queues().get("QueueUrls", [])
    assert [url.rsplit("/", 1)[-1] for url in in_environment] == ["made-by-the-deployment-role"]
    assert emulator.client("sqs").list_queues().get("QueueUrls", []) == []
    message = raised.value.response["Error"]["Message"]
    assert f"{ENVIRONMENT}:assumed-role/deployment/deploy is not authorized to perform: sns:ListTopics" in message


def test_a_trust_policy_that_does_not_name_the_caller_refuses_it(emulator: Emulator) -> None:
    deployment = f"arn:aws:iam::{ENVIRONMENT}:role/deployment"
    caller = _caller(emulator, _may_assume(deployment))
    _role(emulator, ENVIRONMENT, "deployment", _root(OTHER))

    message = _denied(emulator, caller, deployment)

    assert f"User: arn:aws:sts::{emulator.account}:assumed-role/promoter/promoter is not authorized" in message
    assert f"sts:AssumeRole on resource: {deployment} because no resource-based policy allows" in message


def test_across_accounts_the_callers_own_policy_must_allow_it_too(emulator: Emulator) -> None:
    deployment = f"arn:aws:iam::{ENVIRONMENT}:role/deployment"
    caller = _caller(emulator)  # trusted by name, but its own policy does not allow sts:AssumeRole
    _role(emulator, ENVIRONMENT, "deployment", {"AWS": caller})

    assert "because no identity-based policy allows the sts:AssumeRole action" in _denied(emulator, caller, deployment)


@pytest.mark.parametrize(("given", "allowed"), [("ticket-42", True), ("ticket-41", False), (None, False)])
def test_a_trust_policys_external_id_condition_is_evaluated(
    emulator: Emulator, given: str | None, allowed: bool
) -> None:
    deployment = f"arn:aws:iam::{ENVIRONMENT}:role/deployment"
    caller = _caller(emulator, _may_assume(deployment))
    _role(emulator, ENVIRONMENT, "deployment", _root(emulator.account), StringEquals={"sts:ExternalId": "ticket-42"})
    extra = {"ExternalId": given} if given else {}

    if allowed:
        assert _assume(emulator, caller, deployment, **extra)["Credentials"]["AccessKeyId"]
    else:
        assert "because no resource-based policy allows" in _denied(emulator, caller, deployment, **extra)


def test_within_an_account_a_trust_policy_naming_the_role_is_enough(emulator: Emulator) -> None:
    caller = _caller(emulator)
    target = _role(emulator, emulator.account, "named", {"AWS": caller})

    assert _assume(emulator, caller, target)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/named/deploy")


def test_within_an_account_a_trust_policy_naming_the_account_needs_the_callers_policy(emulator: Emulator) -> None:
    caller = _caller(emulator)
    target = _role(emulator, emulator.account, "delegated", _root(emulator.account))

    assert f"not authorized to perform: sts:AssumeRole on resource: {target}" in _denied(emulator, caller, target)
    emulator.client("iam").put_role_policy(
        RoleName="promoter", PolicyName="assume", PolicyDocument=_policy(_may_assume(target))
    )
    assert _assume(emulator, caller, target)["Credentials"]["AccessKeyId"]


def test_a_role_that_does_not_exist_cannot_be_assumed(emulator: Emulator) -> None:
    missing = f"arn:aws:iam::{ENVIRONMENT}:role/missing"
    caller = _caller(emulator, _may_assume(missing))

    assert "because no resource-based policy allows the sts:AssumeRole action" in _denied(emulator, caller, missing)


def test_assumed_credentials_in_the_process_environment_do_not_replace_the_threads_role(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread acting as a role (a Lambda handler) that finds another identity's credentials in the process
    environment (a CLI run in-process as a reviewer) still calls as its own role, as a function does on AWS."""
    reviewer = f"arn:aws:iam::{emulator.account}:role/reviewer"
    queues = {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}
    _role(emulator, emulator.account, "reviewer", _root(emulator.account), queues)
    caller = _caller(emulator, _may_assume(reviewer), name="env-caller")  # allowed nothing else
    credentials = _assume(emulator, caller, reviewer)["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])

    # Outside a role's thread they are the reviewer's, as anywhere.
    identity = boto3.Session(region_name=emulator.region).client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{emulator.account}:assumed-role/reviewer/deploy"
    with acting_as(caller), pytest.raises(ClientError) as raised:
        boto3.Session(region_name=emulator.region).client("sqs").list_queues()

    assert "assumed-role/env-caller/env-caller is not authorized to perform: sqs:ListQueues" in str(raised.value)


def test_other_session_credentials_do_not_replace_the_threads_role(tmp_path: Path) -> None:
    """Over HTTP (server mode) a thread's role travels in a header; a session token the emulator's STS did not issue
    (a developer's own) must not drop it. (A server's state outlives it in the process: names are unique.)"""
    with Emulator(server=True, port=free_port(), workdir=tmp_path / "emulator") as aws:
        caller = _caller(aws, name="http-foreign")  # allowed nothing
        foreign = {"AccessKeyId": "ASIAFROMADEVELOPER01", "SecretAccessKey": "secret", "SessionToken": "token"}
        sqs = _session(aws, foreign).client("sqs", endpoint_url=aws.endpoint_url)

        with acting_as(caller), pytest.raises(ClientError) as raised:
            sqs.list_queues()

    assert "assumed-role/http-foreign/http-foreign is not authorized to perform: sqs:ListQueues" in str(raised.value)


def test_over_http_the_assumed_roles_credentials_act_as_it_on_a_thread_acting_as_another(tmp_path: Path) -> None:
    with Emulator(server=True, port=free_port(), workdir=tmp_path / "emulator") as aws:
        deployment = f"arn:aws:iam::{ENVIRONMENT}:role/http-deployment"
        caller = _caller(aws, _may_assume(deployment), name="http-caller")
        queues = {"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": "*"}
        _role(aws, ENVIRONMENT, "http-deployment", {"AWS": caller}, queues)

        with acting_as(caller):
            credentials = aws.client("sts").assume_role(RoleArn=deployment, RoleSessionName="deploy")["Credentials"]
            sqs = _session(aws, credentials).client("sqs", endpoint_url=aws.endpoint_url)
            sqs.create_queue(QueueName="made-over-http")

        urls = aws.client("sqs", account=ENVIRONMENT).list_queues().get("QueueUrls", [])
        tooling = aws.client("sqs").list_queues().get("QueueUrls", [])
    assert "made-over-http" in [url.rsplit("/", 1)[-1] for url in urls]
    assert "made-over-http" not in [url.rsplit("/", 1)[-1] for url in tooling]
