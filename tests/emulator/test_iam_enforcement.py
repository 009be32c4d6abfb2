"""IAM on the emulator: deployed code calls AWS as the role the template gives it, and AWS's rules decide.

Covers the request check (every service's AccessDenied shape), who is calling (a thread acting as a role, STS
credentials, the administrator), and each place code runs: Lambda handlers, state machine tasks (patch points
iam-sfn-service-task-role and iam-sfn-lambda-task-role), EventBridge and Scheduler targets, SageMaker processing
jobs and pipelines, resource policies (S3, Lambda, KMS), and what the emulator refuses to guess.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as
from mlops_local.iam.enforcement import AccessDeniedError
from tests.emulator.conftest import allow_events, make_role, zipped

ACCOUNT = "123456789012"


def _denied(call: Any) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def _put_policy(emulator: Emulator, role: str, *statements: dict[str, Any]) -> None:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    emulator.client("iam").put_role_policy(RoleName=role, PolicyName="extra", PolicyDocument=json.dumps(document))


# -- the request check ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "call", "code", "status", "action"),
    [
        ("s3", lambda c: c.list_objects_v2(Bucket="some-bucket"), "AccessDenied", 403, "s3:ListBucket"),
        ("sagemaker", lambda c: c.describe_endpoint(EndpointName="e"), "AccessDeniedException", 400, None),
        ("dynamodb", lambda c: c.list_tables(), "AccessDeniedException", 400, "dynamodb:ListTables"),
        ("sns", lambda c: c.list_topics(), "AuthorizationError", 403, "sns:ListTopics"),
        ("cloudwatch", lambda c: c.describe_alarms(), "AccessDenied", 403, "cloudwatch:DescribeAlarms"),
        ("stepfunctions", lambda c: c.list_state_machines(), "AccessDeniedException", 400, "states:ListStateMachines"),
        ("lambda", lambda c: c.list_functions(), "AccessDeniedException", 403, "lambda:ListFunctions"),
    ],
)
def test_a_denial_is_the_services_access_denied_with_awss_message(
    emulator: Emulator, service: str, call: Any, code: str, status: int, action: str | None
) -> None:
    emulator.client("s3").create_bucket(Bucket="some-bucket")
    role = make_role(emulator, "app", "lambda.amazonaws.com")

    with acting_as(role, "my-function"):
        error = _denied(lambda: call(emulator.client(service)))

    assert (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    message = error.response["Error"]["Message"]
    action = action or "sagemaker:DescribeEndpoint"
    assert message.startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/app/my-function is not authorized to perform: {action}"
    )
    assert message.endswith(f"because no identity-based policy allows the {action} action")


def test_the_administrator_is_not_evaluated(emulator: Emulator) -> None:
    make_role(emulator, "app", "lambda.amazonaws.com")

    assert emulator.client("dynamodb").list_tables()["TableNames"] == []


def test_a_role_may_do_what_its_policies_allow_and_nothing_else(emulator: Emulator) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="data-bucket")
    s3.put_object(Bucket="data-bucket", Key="features/a", Body=b"1")
    s3.put_object(Bucket="data-bucket", Key="labels/a", Body=b"2")
    role = make_role(
        emulator, "reader", "lambda.amazonaws.com", "s3:GetObject", resource="arn:aws:s3:::data-bucket/features/*"
    )

    with acting_as(role):
        assert s3.get_object(Bucket="data-bucket", Key="features/a")["Body"].read() == b"1"
        error = _denied(lambda: s3.get_object(Bucket="data-bucket", Key="labels/a"))

    assert "s3:GetObject on resource: arn:aws:s3:::data-bucket/labels/a" in error.response["Error"]["Message"]


def test_sts_credentials_of_a_role_act_as_the_role_from_any_client(emulator: Emulator) -> None:
    role = make_role(emulator, "ci", "lambda.amazonaws.com", "dynamodb:ListTables")
    credentials = emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="ci-run")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=emulator.region,
    )

    assert session.client("dynamodb").list_tables()["TableNames"] == []
    error = _denied(lambda: session.client("sqs").list_queues())
    assert "assumed-role/ci/ci-run is not authorized to perform: sqs:ListQueues" in error.response["Error"]["Message"]


# -- resource policies ------------------------------------------------------------------------------------------


def test_a_bucket_policy_deny_applies_to_the_role(emulator: Emulator) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="locked-bucket")
    role = make_role(emulator, "app", "lambda.amazonaws.com", "s3:*")
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": role},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::locked-bucket",
    }
    s3.put_bucket_policy(Bucket="locked-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))

    with acting_as(role):
        error = _denied(lambda: s3.list_objects_v2(Bucket="locked-bucket"))

    assert error.response["Error"]["Message"].endswith("with an explicit deny in a resource-based policy")


def test_a_function_policy_lets_a_role_invoke_without_an_identity_policy(emulator: Emulator, make_function) -> None:
    function = make_function("echo")
    caller = make_role(emulator, "caller", "lambda.amazonaws.com")
    client = emulator.client("lambda")

    with acting_as(caller):
        _denied(lambda: client.invoke(FunctionName=function, Payload=b"{}"))
    client.add_permission(FunctionName=function, StatementId="caller", Action="lambda:InvokeFunction", Principal=caller)
    with acting_as(caller):
        assert client.invoke(FunctionName=function, Payload=b"{}")["StatusCode"] == 200


def test_a_kms_key_policy_must_allow_even_a_role_allowed_by_its_own_policy(emulator: Emulator) -> None:
    kms = emulator.client("kms")
    role = make_role(emulator, "app", "lambda.amazonaws.com", "kms:Encrypt")
    only_admins = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
        "Action": "kms:*",
        "Resource": "*",
    }
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    strict = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [only_admins]}))["KeyMetadata"]
    delegated = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [root]}))["KeyMetadata"]

    with acting_as(role):
        error = _denied(lambda: kms.encrypt(KeyId=strict["KeyId"], Plaintext=b"x"))
        assert kms.encrypt(KeyId=delegated["Arn"], Plaintext=b"x")["KeyId"] == delegated["Arn"]

    assert error.response["Error"]["Message"].endswith("because no resource-based policy allows the kms:Encrypt action")
    assert f"on resource: {strict['Arn']}" in error.response["Error"]["Message"]


# -- what the emulator cannot evaluate is an error, never an allow ----------------------------------------------


def test_a_condition_key_the_emulator_does_not_compute_is_an_emulator_error(emulator: Emulator) -> None:
    role = make_role(emulator, "tagged", "lambda.amazonaws.com")
    _put_policy(
        emulator,
        "tagged",
        {
            "Effect": "Allow",
            "Action": "dynamodb:ListTables",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "ml"}},
        },
    )

    with acting_as(role):
        error = _denied(lambda: emulator.client("dynamodb").list_tables())

    assert error.response["Error"]["Code"] == "MlopsLocalIamUnsupported"
    assert "aws:ResourceTag/team" in error.response["Error"]["Message"]


def test_a_required_resource_the_request_does_not_name_is_an_emulator_error(emulator: Emulator) -> None:
    role = make_role(emulator, "linker", "lambda.amazonaws.com", "iam:*")

    with acting_as(role):
        error = _denied(
            lambda: emulator.client("iam").create_service_linked_role(AWSServiceName="sagemaker.amazonaws.com")
        )

    assert error.response["Error"]["Code"] == "MlopsLocalIamUnsupported"
    assert "iam:CreateServiceLinkedRole" in error.response["Error"]["Message"]
    assert "${RoleNameWithPath}" in error.response["Error"]["Message"]


# -- iam:PassRole -------------------------------------------------------------------------------------------------


def _processing_job(name: str, role: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": {"ImageUri": "i", "ContainerEntrypoint": ["python3", "-c", "print(1)"]},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 1}
        },
    }


def test_creating_a_job_needs_pass_role_on_the_role_it_passes_to_sagemaker(emulator: Emulator) -> None:
    job_role = make_role(emulator, "job", "sagemaker.amazonaws.com", "logs:*")
    starter = make_role(emulator, "starter", "lambda.amazonaws.com", "sagemaker:CreateProcessingJob")
    sagemaker = emulator.client("sagemaker")

    with acting_as(starter):
        error = _denied(lambda: sagemaker.create_processing_job(**_processing_job("j1", job_role)))
    assert f"iam:PassRole on resource: {job_role}" in error.response["Error"]["Message"]

    wrong_service = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    _put_policy(
        emulator,
        "starter",
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": job_role, "Condition": wrong_service},
    )
    with acting_as(starter):
        _denied(lambda: sagemaker.create_processing_job(**_processing_job("j2", job_role)))

    to_sagemaker = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    _put_policy(
        emulator,
        "starter",
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": job_role, "Condition": to_sagemaker},
    )
    with acting_as(starter):
        sagemaker.create_processing_job(**_processing_job("j3", job_role))


# -- where deployed code runs ----------------------------------------------------------------------------------

LISTER = (
    "import boto3\n\ndef handler(event, context):\n    return boto3.client('sqs').list_queues().get('QueueUrls', [])\n"
)


def test_a_lambda_handler_calls_as_its_functions_role(emulator: Emulator) -> None:
    role = make_role(emulator, "lister-role", "lambda.amazonaws.com")
    emulator.client("lambda").create_function(
        FunctionName="lister", Runtime="python3.13", Role=role, Handler="app.handler",
        Code={"ZipFile": zipped({"app.py": LISTER})},
    )  # fmt: skip

    response = emulator.client("lambda").invoke(FunctionName="lister", Payload=b"{}")

    error = json.loads(response["Payload"].read())
    assert response.get("FunctionError")
    assert "assumed-role/lister-role/lister is not authorized to perform: sqs:ListQueues" in error["errorMessage"]


def _machine(emulator: Emulator, role: str, definition: dict[str, Any]) -> str:
    return str(
        emulator.client("stepfunctions").create_state_machine(
            name="m", definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
    )


def _execute(emulator: Emulator, machine: str) -> dict[str, Any]:
    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=machine)["executionArn"]
    return emulator.wait_for_execution(execution)


def test_an_aws_sdk_task_calls_as_the_state_machines_role(emulator: Emulator) -> None:
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="g")
    role = make_role(emulator, "machine", "states.amazonaws.com")
    describe = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackageGroup",
                "Parameters": {"ModelPackageGroupName": "g"},
                "End": True,
            }
        },
    }
    machine = _machine(emulator, role, describe)

    failed = _execute(emulator, machine)
    _put_policy(
        emulator, "machine", {"Effect": "Allow", "Action": "sagemaker:DescribeModelPackageGroup", "Resource": "*"}
    )
    succeeded = _execute(emulator, machine)

    assert failed["status"] == "FAILED"
    assert "assumed-role/machine/" in failed.get("cause", "")
    assert "sagemaker:DescribeModelPackageGroup" in failed.get("cause", "")
    assert succeeded["status"] == "SUCCEEDED"


def test_a_lambda_task_invokes_as_the_state_machines_role(emulator: Emulator, make_function) -> None:
    function = make_function("echo")
    role = make_role(emulator, "machine", "states.amazonaws.com")
    call = {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": function, "End": True}}}
    machine = _machine(emulator, role, call)

    failed = _execute(emulator, machine)
    _put_policy(emulator, "machine", {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function})
    succeeded = _execute(emulator, machine)

    assert failed["status"] == "FAILED"
    assert "lambda:InvokeFunction" in failed.get("cause", "")
    assert succeeded["status"] == "SUCCEEDED"


def test_eventbridge_invokes_a_function_only_as_its_permission_for_the_rule_allows(
    emulator: Emulator, make_function
) -> None:
    function = make_function("echo")
    events = emulator.client("events")
    for rule in ("allowed", "other"):
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function}])
    allow_events(emulator, function, "allowed")  # the permission names this rule as its source only

    events.put_events(Entries=[{"Source": s, "DetailType": "x", "Detail": "{}"} for s in ("allowed", "other")])
    emulator.settle()

    assert [json.loads(d.result)["event"]["source"] for d in emulator.events.delivered] == ["allowed"]
    (failure,) = emulator.events.failures
    assert "events.amazonaws.com is not authorized to perform: lambda:InvokeFunction" in failure.error


def test_a_state_machine_target_starts_as_the_targets_role(emulator: Emulator) -> None:
    machine = _machine(
        emulator,
        make_role(emulator, "machine", "states.amazonaws.com"),
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    )
    starter = make_role(emulator, "starter", "events.amazonaws.com")
    events = emulator.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine, "RoleArn": starter}])

    events.put_events(Entries=[{"Source": "app", "DetailType": "x", "Detail": "{}"}])
    emulator.settle()

    (failure,) = emulator.events.failures
    assert "assumed-role/starter/EventBridge is not authorized to perform: states:StartExecution" in failure.error
    assert emulator.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_a_schedule_invokes_its_target_as_the_schedules_role(emulator: Emulator, make_function) -> None:
    function = make_function("echo")
    role = make_role(emulator, "scheduler-role", "scheduler.amazonaws.com")
    emulator.client("scheduler").create_schedule(
        Name="hourly",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function, "RoleArn": role, "Input": "{}"},
    )

    with pytest.raises(
        AccessDeniedError,
        match="scheduler-role/EventBridgeScheduler is not authorized to perform: lambda:InvokeFunction",
    ):
        emulator.fire_schedule("hourly")


JOB = "import os, pathlib\nprint(pathlib.Path(os.environ['MLOPS_OPT_ML'], 'processing/input/code/job.py').exists())\n"


def _wait_job(emulator: Emulator, name: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = emulator.client("sagemaker").describe_processing_job(ProcessingJobName=name)
        return described if described["ProcessingJobStatus"] != "InProgress" else None

    return dict(emulator.wait_until(ended, description=f"processing job {name}"))


def test_a_processing_job_downloading_an_s3_prefix_needs_list_bucket(emulator: Emulator) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="code-bucket")
    s3.put_object(Bucket="code-bucket", Key="code/job.py", Body=JOB.encode())
    make_role(emulator, "job", "sagemaker.amazonaws.com", "s3:GetObject", "logs:*")
    request = _processing_job("no-list", f"arn:aws:iam::{ACCOUNT}:role/job")
    request["AppSpecification"]["ContainerEntrypoint"] = ["python3", "/opt/ml/processing/input/code/job.py"]
    request["ProcessingInputs"] = [
        {
            "InputName": "code",
            "S3Input": {
                "S3Uri": "s3://code-bucket/code/job.py",
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    ]
    emulator.client("sagemaker").create_processing_job(**request)
    failed = _wait_job(emulator, "no-list")

    _put_policy(emulator, "job", {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::code-bucket"})
    emulator.client("sagemaker").create_processing_job(**{**request, "ProcessingJobName": "with-list"})
    completed = _wait_job(emulator, "with-list")

    assert failed["ProcessingJobStatus"] == "Failed"
    assert "assumed-role/job/SageMaker is not authorized to perform: s3:ListBucket" in failed["FailureReason"]
    assert completed["ProcessingJobStatus"] == "Completed", completed.get("FailureReason")


CONTAINER_CALL = "import boto3; print(boto3.client('sqs').list_queues())"  # one line: ContainerEntrypoint is .*


def test_a_job_container_calls_as_the_jobs_role(emulator: Emulator) -> None:
    make_role(emulator, "job", "sagemaker.amazonaws.com", "logs:*")
    request = _processing_job("container", f"arn:aws:iam::{ACCOUNT}:role/job")
    request["AppSpecification"]["ContainerEntrypoint"] = ["python3", "-c", CONTAINER_CALL]

    emulator.client("sagemaker").create_processing_job(**request)
    failed = _wait_job(emulator, "container")

    assert failed["ProcessingJobStatus"] == "Failed"
    assert "assumed-role/job/SageMaker is not authorized to perform: sqs:ListQueues" in failed["FailureReason"]


def test_s3_objects_encrypted_with_a_kms_key_need_the_key_as_well(emulator: Emulator) -> None:
    kms, s3 = emulator.client("kms"), emulator.client("s3")
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [root]}))["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="sealed-bucket")
    s3.put_bucket_encryption(
        Bucket="sealed-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    s3.put_object(Bucket="sealed-bucket", Key="a", Body=b"1")
    role = make_role(emulator, "app", "lambda.amazonaws.com", "s3:GetObject", "s3:PutObject")

    with acting_as(role):
        upload = _denied(lambda: s3.put_object(Bucket="sealed-bucket", Key="b", Body=b"2"))
        download = _denied(lambda: s3.get_object(Bucket="sealed-bucket", Key="a"))
    _put_policy(emulator, "app", {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key})
    with acting_as(role):
        s3.put_object(Bucket="sealed-bucket", Key="b", Body=b"2")
        assert s3.get_object(Bucket="sealed-bucket", Key="b")["Body"].read() == b"2"

    assert upload.response["Error"]["Code"] == "AccessDenied"
    assert f"kms:GenerateDataKey on resource: {key}" in upload.response["Error"]["Message"]
    assert f"kms:Decrypt on resource: {key}" in download.response["Error"]["Message"]


def test_eventbridge_sends_to_a_queue_only_as_its_queue_policy_allows(emulator: Emulator) -> None:
    sqs, events = emulator.client("sqs"), emulator.client("events")
    url = sqs.create_queue(QueueName="events-queue")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": queue}])

    events.put_events(Entries=[{"Source": "app", "DetailType": "x", "Detail": "{}"}])
    emulator.settle()
    rule = events.describe_rule(Name="to-queue")["Arn"]
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
    }
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [allow]})}
    )
    events.put_events(Entries=[{"Source": "app", "DetailType": "x", "Detail": json.dumps({"n": 2})}])
    emulator.settle()

    (failure,) = emulator.events.failures
    assert "events.amazonaws.com is not authorized to perform: sqs:SendMessage" in failure.error
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["detail"] == {"n": 2}


# -- patch points iam-cfn-role-managed-policies(-update) ---------------------------------------------------------


def _role_stack(managed: list[str]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {"RoleName": "managed", "AssumeRolePolicyDocument": trust, "ManagedPolicyArns": managed},
    }
    return json.dumps({"Resources": {"Role": role}})


def test_a_cloudformation_role_gets_its_managed_policies_aws_managed_ones_included(emulator: Emulator) -> None:
    cfn, iam = emulator.client("cloudformation"), emulator.client("iam")
    read_only = "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"
    cfn.create_stack(StackName="roles", TemplateBody=_role_stack([read_only]), Capabilities=["CAPABILITY_NAMED_IAM"])
    role = iam.get_role(RoleName="managed")["Role"]["Arn"]

    attached = iam.list_attached_role_policies(RoleName="managed")["AttachedPolicies"]
    with acting_as(role):
        assert emulator.client("sqs").list_queues().get("QueueUrls", []) == []
        _denied(lambda: emulator.client("sns").list_topics())
    cfn.update_stack(StackName="roles", TemplateBody=_role_stack([]), Capabilities=["CAPABILITY_NAMED_IAM"])
    with acting_as(role):
        _denied(lambda: emulator.client("sqs").list_queues())

    assert [p["PolicyArn"] for p in attached] == [read_only]
    assert iam.list_attached_role_policies(RoleName="managed")["AttachedPolicies"] == []


def test_a_model_lifecycle_condition_limits_the_stage_statuses_a_role_may_set(emulator: Emulator) -> None:
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    package = sagemaker.create_model_package(
        ModelPackageGroupName="fraud",
        InferenceSpecification={
            "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/sklearn:1", "ModelDataUrl": "s3://b/m"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    role = make_role(emulator, "approver", "lambda.amazonaws.com")
    _put_policy(
        emulator,
        "approver",
        {
            "Effect": "Allow",
            "Action": "sagemaker:UpdateModelPackage",
            "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/fraud/*",
            "Condition": {
                "StringEquals": {
                    "sagemaker:ModelLifeCycle:Stage": "Staging",
                    "sagemaker:ModelLifeCycle:StageStatus": ["Approved", "Rejected"],
                }
            },
        },
    )

    with acting_as(role, "alice"):
        sagemaker.update_model_package(
            ModelPackageArn=package, ModelLifeCycle={"Stage": "Staging", "StageStatus": "Approved"}
        )
        to_production = _denied(
            lambda: sagemaker.update_model_package(
                ModelPackageArn=package, ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed"}
            )
        )
        approval_status = _denied(
            lambda: sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
        )

    assert "sagemaker:UpdateModelPackage" in to_production.response["Error"]["Message"]
    assert "sagemaker:UpdateModelPackage" in approval_status.response["Error"]["Message"]


def test_the_cloudwatch_guides_alarm_actions_example_limits_what_an_alarm_may_do(emulator: Emulator) -> None:
    # "Using condition keys to limit alarm actions" (CloudWatch User Guide): alarms that may only notify SNS or
    # call Systems Manager; an alarm that would stop an EC2 instance is refused.
    role = make_role(emulator, "alarm-writer", "lambda.amazonaws.com")
    statement = {
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricAlarm",
        "Resource": "*",
        "Condition": {"ForAllValues:StringLike": {"cloudwatch:AlarmActions": ["arn:aws:sns:*", "arn:aws:ssm:*"]}},
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    emulator.client("iam").put_role_policy(RoleName="alarm-writer", PolicyName="alarms", PolicyDocument=document)
    cloudwatch = emulator.client("cloudwatch")
    alarm = {
        "AlarmName": "errors",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }

    with acting_as(role):
        cloudwatch.put_metric_alarm(**alarm, AlarmActions=[f"arn:aws:sns:us-east-1:{emulator.account}:alerts"])
        with pytest.raises(ClientError) as refused:
            cloudwatch.put_metric_alarm(**alarm, OKActions=["arn:aws:automate:us-east-1:ec2:stop"])
    assert "cloudwatch:PutMetricAlarm" in refused.value.response["Error"]["Message"]
