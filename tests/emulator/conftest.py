"""Helpers for the emulator's patch-point contract tests."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from mlops_local.emulator import Emulator

HANDLER = """
import json, os, time

def handler(event, context):
    print("invoked", context.function_name, json.dumps(event))
    if event.get("fail"):
        raise ValueError("asked to fail: " + str(event["fail"]))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"event": event, "greeting": os.environ.get("GREETING"), "function": context.function_name,
            "remaining_ms_positive": context.get_remaining_time_in_millis() > 0}
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def make_role(emulator: Emulator, name: str, service: str, *actions: str, resource: str = "*") -> str:
    """A role ``service`` can assume, allowed ``actions`` on ``resource`` (the emulator evaluates IAM)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    iam = emulator.client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    if actions:
        statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


def allow_events(emulator: Emulator, function_arn: str, rule: str) -> None:
    """Let the EventBridge rule ``rule`` invoke the function, as CDK's LambdaFunction target does."""
    rule_arn = emulator.client("events").describe_rule(Name=rule)["Arn"]
    emulator.client("lambda").add_permission(
        FunctionName=function_arn,
        StatementId=f"events-{rule}",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )


@pytest.fixture
def role_arn(emulator: Emulator) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(
        emulator.client("iam").create_role(RoleName="test-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    )


@pytest.fixture
def make_function(emulator: Emulator, role_arn: str) -> Callable[..., str]:
    def make(name: str = "echo", source: str = HANDLER, **environment: str) -> str:
        created = emulator.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": zipped({"app.py": source})},
            Environment={"Variables": environment},
        )
        return str(created["FunctionArn"])

    return make


def invoke(emulator: Emulator, name: str, payload: Any) -> tuple[str | None, Any]:
    response = emulator.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload))
    return response.get("FunctionError"), json.loads(response["Payload"].read())
