"""Patch points lambda-invoke-api and lambda-run-handler: deployed handlers really run."""

from __future__ import annotations

import json

from mlops_local.emulator import Emulator
from tests.emulator.conftest import invoke


def test_invoke_runs_the_deployed_handler_with_its_environment(emulator: Emulator, make_function) -> None:
    make_function("echo", GREETING="hello")

    error, payload = invoke(emulator, "echo", {"n": 1})

    assert error is None
    assert payload == {
        "event": {"n": 1},
        "greeting": "hello",
        "function": "echo",
        "remaining_ms_positive": True,
    }


def test_a_raised_exception_comes_back_as_a_lambda_error_envelope(emulator: Emulator, make_function) -> None:
    make_function("echo")

    error, payload = invoke(emulator, "echo", {"fail": "boom"})

    assert error
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "asked to fail: boom"
    assert "app.py" in "".join(payload["stackTrace"])


def test_handler_output_goes_to_the_functions_log_group_not_the_terminal(
    emulator: Emulator, make_function, capsys
) -> None:
    make_function("echo")

    invoke(emulator, "echo", {"n": 2})

    assert "invoked echo" not in capsys.readouterr().out
    logs = emulator.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/echo")["logStreams"]
    messages = [
        e["message"]
        for s in streams
        for e in logs.get_log_events(logGroupName="/aws/lambda/echo", logStreamName=s["logStreamName"])["events"]
    ]
    assert any('invoked echo {"n": 2}' in m for m in messages)


def test_updated_code_is_what_runs_next(emulator: Emulator, make_function) -> None:
    from tests.emulator.conftest import zipped

    make_function("echo")
    new_source = "def handler(event, context):\n    return {'version': 2}\n"
    emulator.client("lambda").update_function_code(FunctionName="echo", ZipFile=zipped({"app.py": new_source}))

    assert invoke(emulator, "echo", {}) == (None, {"version": 2})


def test_a_missing_handler_module_is_a_clear_error(emulator: Emulator, role_arn: str) -> None:
    from tests.emulator.conftest import zipped

    emulator.client("lambda").create_function(
        FunctionName="broken",
        Runtime="python3.13",
        Role=role_arn,
        Handler="nothere.handler",
        Code={"ZipFile": zipped({"app.py": "x = 1"})},
    )

    error, payload = invoke(emulator, "broken", {})

    assert error
    assert payload["errorType"] == "FileNotFoundError"
    assert "nothere.py" in payload["errorMessage"]
    assert json.dumps(payload)


def test_on_the_server_a_handler_has_credentials_as_on_lambda(tmp_path, monkeypatch) -> None:
    """`mlops local serve` started from a shell without AWS credentials: handlers still reach the emulator."""
    from mlops_local.emulator import free_port
    from tests.emulator.conftest import zipped

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    source = (
        "import boto3\n\n"
        "def handler(event, context):\n"
        "    return [b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']]\n"
    )
    with Emulator(server=True, port=free_port(), workdir=tmp_path / "emulator") as aws:
        aws.client("s3").create_bucket(Bucket="seen-by-the-handler")
        trust = {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
        role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        allow = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
        }
        aws.client("iam").put_role_policy(RoleName="r", PolicyName="list", PolicyDocument=json.dumps(allow))
        aws.client("lambda").create_function(
            FunctionName="lister", Runtime="python3.13", Role=role, Handler="app.handler",
            Code={"ZipFile": zipped({"app.py": source})},
        )  # fmt: skip

        error, payload = invoke(aws, "lister", {})

    assert error is None, payload
    assert payload == ["seen-by-the-handler"]
