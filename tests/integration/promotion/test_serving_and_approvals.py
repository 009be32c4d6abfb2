"""The deployed endpoint serves through the client (with capture and clear errors), and `mlops approve|reject`
answer a waiting promotion exactly once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.promotion.approvals import WAITING_STATE, ApprovalRefused, follow, pending_approval
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient, ModelRequestError
from mlops_local.demo.scenarios import register_model
from mlops_local.demo.serving import answer_as_reviewer
from mlops_local.deploy import CloudAssembly
from mlops_local.iam.identity import acting_as
from tests.support import platform_with_production

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def wide_console() -> Any:
    """The CLI's console renders 240 columns wide, so table cells are not folded across lines."""
    from mlops_kit.cli.console import console

    previous = console._width
    console.width = 240
    yield
    console._width = previous


@pytest.fixture(scope="module")
def served(cloud_assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with platform_with_production(cloud_assembly, tmp_path_factory.mktemp("served")) as served:
        yield served


def test_the_endpoint_answers_with_version_and_variant_and_captures_the_request(served: Any) -> None:
    context, data = served
    client = EndpointClient(context.output("EndpointName"), context.emulator.client("sagemaker-runtime"))

    prediction = client.predict(data.payloads[0])
    context.emulator.sagemaker.flush_capture()

    assert prediction.variant == "blue"
    assert prediction.body["model_version"] == "1"
    assert 0 <= prediction.body["score"] <= 1
    bucket = context.output("ArtifactsBucketName")
    s3 = context.emulator.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{context.output('EndpointName')}/blue/")["Contents"]
    ]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    assert any(json.loads(r["captureData"]["endpointInput"]["data"]) == data.payloads[0] for r in records)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"customer_id": "C1"}, 400, "'transaction'"),
        (
            {
                "customer_id": "C0404",
                "transaction": {
                    "amount": 3.0,
                    "merchant_category": "fuel",
                    "event_timestamp": "2025-03-01T10:00:00+00:00",
                },
            },
            404,
            "unknown customer_id 'C0404'",
        ),
    ],
)
def test_malformed_requests_surface_the_models_message(served: Any, payload: dict, status: int, message: str) -> None:
    context, _ = served
    client = EndpointClient(context.output("EndpointName"), context.emulator.client("sagemaker-runtime"))

    with pytest.raises(ModelRequestError) as raised:
        client.predict(payload)

    assert message in str(raised.value)
    assert f"({status})" in str(raised.value)


def test_a_missing_endpoint_is_an_error(served: Any) -> None:
    context, data = served

    with pytest.raises(ModelRequestError, match=r"no-such-endpoint .* not found"):
        EndpointClient("no-such-endpoint", context.emulator.client("sagemaker-runtime")).predict(data.payloads[0])


def test_a_promotion_from_the_cli_waits_for_an_approval_answered_once(served: Any, wide_console: None) -> None:
    context, data = served
    aws = context.emulator
    candidate = register_model(context, data, name="v2", seed=2)
    client = EndpointClient(context.output("EndpointName"), aws.client("sagemaker-runtime"))
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    from mlops_local.demo.traffic import BackgroundTraffic

    with BackgroundTraffic(client, data.payloads, aws.clock):
        promoted = runner.invoke(app, ["promote", candidate, "--comment", "tuned"], env={"COLUMNS": "240"})
        version = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName")).get(candidate)
        machine = context.output("PromotionStateMachineArn")
        name = execution_name("promote", candidate, version.version)
        arn = machine.replace(":stateMachine:", ":execution:") + ":" + name
        described = aws.client("stepfunctions").describe_execution(executionArn=arn)
        approval = pending_approval(store, arn)
        aws.settle()  # the registry's approval event reaches the trigger, which starts nothing new

        assert promoted.exit_code == 0, promoted.output
        assert described["status"] == "RUNNING"
        assert f"mlops approve {approval.approval_id}" in promoted.output  # printed once the request is stored

        unknown = runner.invoke(app, ["approve", "nope1234"])
        # The CLI here runs as the account's administrator, who is not an approver.
        own = runner.invoke(app, ["approve", approval.approval_id, "--comment", "mine is fine"])
        with acting_as(context.output("ApproverRoleArn"), "alice"):  # signed in with the approver role
            approved = runner.invoke(
                app, ["approve", approval.approval_id, "--comment", "metrics better, shadow agrees"]
            )
            again = runner.invoke(app, ["reject", approval.approval_id, "--reason", "too late"])
        final = follow(aws.client("stepfunctions"), arn, timeout_seconds=86400, poll_seconds=30)

    assert unknown.exit_code == 1
    assert "no approval request 'nope1234'" in unknown.output
    assert own.exit_code == 1, own.output
    assert "arn:aws:sts::123456789012:user/moto is not an approver; approvers: " in own.output  # says who may
    assert approved.exit_code == 0, approved.output
    alice = f"assumed-role/{context.output('ApproverRoleArn').rsplit('/', 1)[-1]}/alice"
    assert alice in approved.output  # the identity SageMaker recorded, not a typed name
    assert "promoted" in approved.output  # followed to the end, not stopped on the waiting state it was leaving
    assert again.exit_code == 1
    assert "already answered" in again.output
    assert final["status"] == "SUCCEEDED"
    records = store.deployments(context.output("EndpointName"))
    latest = next(r for r in records if r["execution_arn"] == arn)
    assert latest["approval_comment"] == "metrics better, shadow agrees"
    assert latest["approver"].endswith(alice)
    assert WAITING_STATE in latest["path"] or "Finalize" in latest["path"]
    for output in (promoted.output, own.output, approved.output, again.output):
        assert approval.task_token not in output


@pytest.mark.parametrize(
    "forged",
    [
        {"decision": "approve", "approver": "mallory@example.com", "comment": "trust me"},
        {},  # a bare SendTaskSuccess: no decision, no approver
    ],
    ids=["made-up-approver", "no-fields"],
)
def test_an_answer_sent_around_the_approval_service_does_not_promote(served: Any, forged: dict) -> None:
    context, data = served
    aws = context.emulator
    sfn = aws.client("stepfunctions")
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    serving_before = registry.production()
    candidate = register_model(context, data, name=f"forged-{len(forged)}", seed=3 + len(forged))
    client = EndpointClient(context.output("EndpointName"), aws.client("sagemaker-runtime"))
    from mlops_local.demo.traffic import BackgroundTraffic

    with BackgroundTraffic(client, data.payloads, aws.clock):
        version = registry.approve(candidate, approver="data-scientist", comment="ready")
        aws.settle()  # the trigger starts the promotion
        arn = context.output("PromotionStateMachineArn").replace(":stateMachine:", ":execution:")
        arn += ":" + execution_name("promote", candidate, version.version)
        follow(sfn, arn, until_waiting=True, timeout_seconds=86400, poll_seconds=30)
        approval = pending_approval(store, arn)
        # Anyone allowed to call states:SendTaskSuccess (it has no resource-level permissions) who got the token.
        sfn.send_task_success(taskToken=approval.task_token, output=json.dumps(forged))
        final = follow(sfn, arn, timeout_seconds=86400, poll_seconds=30)

    assert final["status"] == "FAILED"
    assert final["error"] == "ApprovalNotVerified"
    assert "did not come from the approval service" in final["cause"]
    assert "mallory" not in final["cause"]
    # Abort ran: the previous model serves, the candidate is rejected, the lock is free, the approval is closed.
    assert registry.production().arn == serving_before.arn  # type: ignore[union-attr]
    assert (registry.get(candidate).stage_status, registry.get(candidate).approval_status) == ("Rejected", "Rejected")
    assert store.lock_holder(context.output("EndpointName")) is None
    assert store.get_approval(approval.approval_id).status == "closed"
    record = next(r for r in store.deployments(context.output("EndpointName")) if r["execution_arn"] == arn)
    assert record["approver"] == "-"
    assert record["outcome"] == "failed"


def test_who_requested_a_promotion_may_not_approve_it(served: Any) -> None:
    context, data = served
    aws = context.emulator
    sfn = aws.client("stepfunctions")
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    candidate = register_model(context, data, name="self", seed=7)
    role = context.output("ApproverRoleArn")
    alice = f"arn:aws:sts::123456789012:assumed-role/{role.rsplit('/', 1)[-1]}/alice"
    client = EndpointClient(context.output("EndpointName"), aws.client("sagemaker-runtime"))
    from mlops_local.demo.traffic import BackgroundTraffic

    with BackgroundTraffic(client, data.payloads, aws.clock):
        # Alice, an approver who may also promote (an extra grant of her role here), approves the version in the
        # registry: the trigger records her, as SageMaker verified her, as the promotion's requester.
        # (Straight into moto's IAM: moto names CloudFormation's roles past IAM's 64 characters, which the
        # emulator's request constraints then refuse in PutRolePolicy.)
        from moto.iam.models import iam_backends

        grant = {"Effect": "Allow", "Action": "sagemaker:UpdateModelPackage", "Resource": "*"}
        iam = iam_backends["123456789012"]["aws"]
        iam.put_role_policy(
            role.rsplit("/", 1)[-1], "may-promote", json.dumps({"Version": "2012-10-17", "Statement": [grant]})
        )
        with acting_as(role, "alice"):
            version = registry.approve(candidate, approver="alice", comment="ship it")
        iam.delete_role_policy(role.rsplit("/", 1)[-1], "may-promote")
        aws.settle()
        arn = context.output("PromotionStateMachineArn").replace(":stateMachine:", ":execution:")
        arn += ":" + execution_name("promote", candidate, version.version)
        follow(sfn, arn, until_waiting=True, timeout_seconds=86400, poll_seconds=30)
        approval = pending_approval(store, arn)
        with pytest.raises(ApprovalRefused, match="alice requested the promotion of this version and may not approve"):
            answer_as_reviewer(
                aws, context.output, approval.approval_id, decision="approve", comment="mine", session="alice"
            )
        waiting_again = registry.get(candidate)
        answered = answer_as_reviewer(
            aws, context.output, approval.approval_id, decision="approve", comment="ok", session="bob"
        )
        final = follow(sfn, arn, timeout_seconds=86400, poll_seconds=30)

    assert approval.context["requested_by"] == alice
    assert waiting_again.stage_status == "AwaitingApproval"  # the refused answer was undone in the registry
    assert answered.approver.endswith("/bob")
    assert final["status"] == "SUCCEEDED"
    assert registry.production().arn == candidate  # type: ignore[union-attr]


def test_no_task_token_reaches_a_log(served: Any) -> None:
    context, _ = served
    aws = context.emulator
    logs = aws.client("logs")
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    tokens = [
        store.get_approval(item["pk"]["S"].split("#", 1)[1]).task_token
        for item in aws.client("dynamodb").scan(TableName=context.output("PromotionTableName"))["Items"]
        if item["pk"]["S"].startswith("approval#")
    ]
    machine = aws.client("stepfunctions").describe_state_machine(
        stateMachineArn=context.output("PromotionStateMachineArn")
    )
    messages = [
        event["message"]
        for group in logs.describe_log_groups()["logGroups"]
        for event in logs.filter_log_events(logGroupName=group["logGroupName"]).get("events", [])
    ]

    assert tokens  # the tests above left answered, closed and pending approvals
    assert messages  # the functions did log
    assert machine["loggingConfiguration"]["includeExecutionData"] is False
    assert not [m for m in messages for token in tokens if token in m]


def test_mlops_invoke_sends_a_batch_and_reports_each_row(served: Any, tmp_path: Any, wide_console: None) -> None:
    context, data = served
    lines = tmp_path / "requests.jsonl"
    lines.write_text("\n".join(json.dumps(p) for p in [*data.payloads[:2], {"customer_id": "C1"}]) + "\n")
    table = tmp_path / "requests.csv"
    table.write_text(
        "customer_id,amount,merchant_category,event_timestamp\nC0404,12.5,fuel,2025-03-01T10:00:00+00:00\n"
    )

    batch = runner.invoke(app, ["invoke", "--file", str(lines)], env={"COLUMNS": "200"})
    from_csv = runner.invoke(app, ["invoke", "--file", str(table)], env={"COLUMNS": "200"})
    single = runner.invoke(
        app,
        ["invoke", "--customer-id", "C0404", "--amount", "3", "--merchant-category", "fuel"],
        env={"COLUMNS": "200"},
    )
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text('{"customer_id": "C1"}\n{oops\n')
    broken = runner.invoke(app, ["invoke", "--file", str(not_json)], env={"COLUMNS": "200"})

    live = context.emulator.client("sagemaker").describe_endpoint(EndpointName=context.output("EndpointName"))
    (variant,) = [v["VariantName"] for v in live["ProductionVariants"]]  # blue, or green after a promotion test
    assert batch.exit_code == 0, batch.output
    assert batch.output.count(variant) == 2  # the two good rows, with the variant that served them
    assert "'transaction'" in batch.output  # the bad row's error, the batch goes on
    assert "1 of 3 requests failed" in batch.output
    assert from_csv.exit_code == 1  # its only row failed: nothing was served
    assert "unknown customer_id 'C0404'" in from_csv.output
    assert "1 of 1 requests failed" in from_csv.output
    assert single.exit_code == 1
    assert "unknown customer_id 'C0404'" in single.output
    assert broken.exit_code == 1
    assert "broken.jsonl:2: not JSON" in broken.output


def test_mlops_registry_lists_shows_and_traces_versions(served: Any, wide_console: None) -> None:
    wide = {"COLUMNS": "240"}

    listed = runner.invoke(app, ["registry", "list"], env=wide)
    shown = runner.invoke(app, ["registry", "show", "1"], env=wide)
    traced = runner.invoke(app, ["registry", "lineage", "1"], env=wide)
    unknown = runner.invoke(app, ["registry", "show", "99"], env=wide)

    assert listed.exit_code == 0, listed.output
    assert "Production" in listed.output
    assert shown.exit_code == 0, shown.output
    assert "model.tar.gz" in shown.output
    assert traced.exit_code == 0, traced.output
    assert "dataset_manifest_hash" in traced.output
    assert unknown.exit_code == 1
    assert "99" in unknown.output


def test_promote_says_what_happened_with_its_exit_code(served: Any, wide_console: None) -> None:
    # Issue 16: a version already in Production, or a promotion already running, printed "already running or
    # done" with exit 0 and replayed the old run; a promotion just started printed the same message.
    from mlops_kit.cli.promotion import EXIT_ALREADY_ENDED, EXIT_ALREADY_IN_PRODUCTION, EXIT_ALREADY_RUNNING

    context, data = served
    aws = context.emulator
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    production = registry.production()
    assert production is not None
    candidate = register_model(context, data, name="v-again", seed=3)
    version = registry.get(candidate).version
    name = execution_name("promote", candidate, version)
    arn = context.output("PromotionStateMachineArn").replace(":stateMachine:", ":execution:") + ":" + name
    env = {"COLUMNS": "400"}

    in_production = runner.invoke(app, ["promote", str(production.version), "--no-follow"], env=env)
    started = runner.invoke(app, ["promote", str(version), "--no-follow"], env=env)
    running = runner.invoke(app, ["promote", str(version), "--no-follow"], env=env)
    # End it the way an operator would (reject it once it waits), so the endpoint's lock is free for other tests.
    sfn = aws.client("stepfunctions")
    client = EndpointClient(context.output("EndpointName"), aws.client("sagemaker-runtime"))
    from mlops_local.demo.traffic import BackgroundTraffic

    with BackgroundTraffic(client, data.payloads, aws.clock):
        waiting = follow(sfn, arn, until_waiting=True, timeout_seconds=86400, poll_seconds=30)
    if waiting["status"] == "RUNNING":
        store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
        with acting_as(context.output("ApproverRoleArn"), "ops"):  # a reviewer signed in with the approver role
            rejected = runner.invoke(
                app, ["reject", pending_approval(store, arn).approval_id, "--reason", "test over"], env=env
            )
        assert rejected.exit_code == 0, rejected.output
    final = follow(sfn, arn, timeout_seconds=86400, poll_seconds=30)
    ended = runner.invoke(app, ["promote", str(version), "--no-follow"], env=env)

    assert final["status"] != "RUNNING"
    assert ended.exit_code == EXIT_ALREADY_ENDED, ended.output
    assert f"the promotion of version {version} already ended {final['status']}: {arn}" in ended.output

    assert in_production.exit_code == EXIT_ALREADY_IN_PRODUCTION, in_production.output
    assert f"version {production.version} is already in Production: nothing started" in in_production.output
    assert started.exit_code == 0, started.output
    assert f"started the promotion of version {version}" in started.output
    assert arn in started.output
    assert running.exit_code == EXIT_ALREADY_RUNNING, running.output
    assert f"a promotion of version {version} is already running: {arn}; nothing started" in running.output
