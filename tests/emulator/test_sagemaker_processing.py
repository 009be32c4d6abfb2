"""Patch points sagemaker-*-processing-job: a processing job really runs, reports its status and announces it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mlops_local.emulator import Emulator
from tests.emulator.conftest import make_role

JOB = """
import json, os, pathlib, sys, tempfile, time
root = pathlib.Path(os.environ["MLOPS_OPT_ML"])
value = float(pathlib.Path(root, "processing/input/data/value.txt").read_text())
out = root / "processing/output/result"
(out / "nested").mkdir(parents=True, exist_ok=True)
(out / "nested" / "result.json").write_text(json.dumps({"doubled": value * 2, "greeting": os.environ["GREETING"],
                                                         "args": sys.argv[1:],
                                                         "own_tmp": pathlib.Path(tempfile.gettempdir()).parent
                                                         == root.parent.parent}))
print("doubled", value)
if "--sleep" in sys.argv:
    time.sleep(60)
if "--crash" in sys.argv:
    raise SystemExit("job crashed on purpose")
"""
ROLE = "arn:aws:iam::123456789012:role/processing"


@pytest.fixture(autouse=True)
def role(emulator: Emulator) -> str:
    """The job's role: it downloads inputs by prefix (ListBucket), uploads outputs and writes its logs."""
    actions = ("s3:GetObject", "s3:ListBucket", "s3:PutObject", "logs:CreateLogGroup", "logs:CreateLogStream")
    arn = make_role(emulator, "processing", "sagemaker.amazonaws.com", *actions, "logs:PutLogEvents")
    assert arn == ROLE
    return arn


@pytest.fixture
def bucket(emulator: Emulator) -> str:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="processing-test")
    s3.put_object(Bucket="processing-test", Key="code/job.py", Body=JOB.encode())
    s3.put_object(Bucket="processing-test", Key="data/value.txt", Body=b"21")
    return "processing-test"


@pytest.fixture
def state_changes(emulator: Emulator) -> Any:
    """Every processing job state change event, read back from an SQS queue subscribed to them."""
    sqs, events = emulator.client("sqs"), emulator.client("events")
    queue_url = sqs.create_queue(QueueName="processing-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="processing-changes",
        EventPattern=json.dumps(
            {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Processing Job State Change"]}
        ),
    )
    events.put_targets(Rule="processing-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    rule_arn = events.describe_rule(Name="processing-changes")["Arn"]
    allow = {  # what CDK's SqsQueue target adds to the queue policy
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow]})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})

    def read() -> list[dict[str, Any]]:
        """Every event so far (the job's final one included: it is on the bus when Describe shows the end)."""
        emulator.settle()
        received: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received += [json.loads(m["Body"]) for m in messages]
        return received

    return read


def _create(emulator: Emulator, name: str, *extra: str) -> None:
    emulator.client("sagemaker").create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE,
        AppSpecification={
            "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
            "ContainerArguments": ["--factor", "2", *extra],
        },
        ProcessingInputs=[
            {
                "InputName": name,
                "S3Input": {
                    "S3Uri": f"s3://processing-test/{prefix}",
                    "LocalPath": f"/opt/ml/processing/input/{name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
            for name, prefix in (("code", "code/job.py"), ("data", "data/"))
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": f"s3://processing-test/out/{name}",
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 5}
        },
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Environment={"GREETING": "hello"},
    )


def _wait(emulator: Emulator, name: str) -> dict[str, Any]:
    sagemaker = emulator.client("sagemaker")

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sagemaker.describe_processing_job(ProcessingJobName=name)
        return described if described["ProcessingJobStatus"] not in ("InProgress", "Stopping") else None

    return dict(emulator.wait_until(ended, description=f"processing job {name}"))


def test_a_job_runs_with_its_inputs_environment_and_arguments_and_uploads_its_output(
    emulator: Emulator, bucket: str, state_changes: Any
) -> None:
    _create(emulator, "double-it")

    running = emulator.client("sagemaker").describe_processing_job(ProcessingJobName="double-it")
    described = _wait(emulator, "double-it")

    assert running["ProcessingJobStatus"] == "InProgress"
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["Environment"] == {"GREETING": "hello"}
    assert described["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.t3.medium"
    assert described["ProcessingEndTime"] >= described["ProcessingStartTime"]
    body = emulator.client("s3").get_object(Bucket=bucket, Key="out/double-it/nested/result.json")["Body"].read()
    assert json.loads(body) == {
        "doubled": 42.0,
        "greeting": "hello",
        "args": ["--factor", "2"],
        "own_tmp": True,  # the container's temporary folder is in its workspace, not this machine's /tmp
    }
    logs = emulator.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName="double-it"
    )
    assert [e["message"] for e in logs["events"]] == ["doubled 21.0"]
    listed = emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    assert [(j["ProcessingJobName"], j["ProcessingJobStatus"]) for j in listed] == [("double-it", "Completed")]
    changes = [(e["detail"]["ProcessingJobName"], e["detail"]["ProcessingJobStatus"]) for e in state_changes()]
    assert changes == [("double-it", "InProgress"), ("double-it", "Completed")]


def test_a_failing_job_reports_failed_with_its_last_output(emulator: Emulator, bucket: str, state_changes: Any) -> None:
    _create(emulator, "crash-it", "--crash")

    described = _wait(emulator, "crash-it")

    assert described["ProcessingJobStatus"] == "Failed"
    assert "job crashed on purpose" in described["FailureReason"]
    assert "doubled 21.0" in described["FailureReason"]
    final = [e["detail"] for e in state_changes() if e["detail"]["ProcessingJobStatus"] != "InProgress"]
    assert [(d["ProcessingJobStatus"], "crashed on purpose" in d["FailureReason"]) for d in final] == [("Failed", True)]
    assert isinstance(final[0]["CreationTime"], int)  # epoch milliseconds, as SageMaker's events carry them


def test_a_missing_input_fails_the_job_naming_the_input(emulator: Emulator, bucket: str) -> None:
    emulator.client("s3").delete_object(Bucket=bucket, Key="data/value.txt")

    _create(emulator, "no-data")
    described = _wait(emulator, "no-data")

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"] == "input s3://processing-test/data/ has no objects"


def test_stopping_a_job_ends_its_container(emulator: Emulator, bucket: str) -> None:
    _create(emulator, "sleepy", "--sleep")
    # The container runs for a minute of real time (work holds the emulated clock still, so only a real-time wait
    # can see it running); stop it once its process exists.
    assert emulator.containers.wait_started("sleepy", timeout=30)

    started = time.monotonic()
    emulator.client("sagemaker").stop_processing_job(ProcessingJobName="sleepy")
    described = _wait(emulator, "sleepy")

    assert described["ProcessingJobStatus"] == "Stopped"
    assert time.monotonic() - started < 20


def test_job_names_are_unique(emulator: Emulator, bucket: str) -> None:
    _create(emulator, "once")
    _wait(emulator, "once")

    with pytest.raises(Exception, match="must be unique"):
        _create(emulator, "once")


def test_the_end_event_is_on_the_bus_before_describe_shows_the_end(
    emulator: Emulator, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever sees the final status and then waits for the bus to go idle has seen the event's consumers run."""
    from moto.events.models import events_backends

    from mlops_local.sagemaker.processing import STATE_CHANGE

    backend = events_backends[emulator.account][emulator.region]
    original = backend.put_events
    seen: list[tuple[str, str]] = []

    def put_events(entries: list[dict[str, Any]]) -> Any:
        for entry in entries:
            if entry.get("DetailType") == STATE_CHANGE:
                detail = json.loads(entry["Detail"])
                described = emulator.client("sagemaker").describe_processing_job(ProcessingJobName="ordered")
                seen.append((detail["ProcessingJobStatus"], described["ProcessingJobStatus"]))
        return original(entries)

    monkeypatch.setattr(backend, "put_events", put_events)
    _create(emulator, "ordered")
    _wait(emulator, "ordered")

    assert seen == [("InProgress", "InProgress"), ("Completed", "InProgress")]


def test_a_role_that_may_not_read_an_input_fails_the_job(emulator: Emulator, bucket: str) -> None:
    # The inputs are read on the job's thread, as its role (SageMaker reads them as the job's role), not on a transfer
    # manager's threads, which act as nobody.
    deny = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"}
    emulator.client("iam").put_role_policy(
        RoleName="processing",
        PolicyName="no-data",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )

    _create(emulator, "denied")
    described = _wait(emulator, "denied")

    assert described["ProcessingJobStatus"] == "Failed"
    assert "AccessDenied" in described["FailureReason"]
