"""The API-model check (mlops_local.constraints): botocore's constraints applied server side, with AWS's messages,
and the service rules beyond the model."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops_local import constraints, requests
from mlops_local.constraints import Violation, validate, validation_message
from mlops_local.emulator import Emulator, free_port
from mlops_local.java_regex import compile_java, matches

_SESSION = botocore.session.get_session()
METADATA_VALUE = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"  # botocore's SageMaker CustomerMetadataValue


def input_shape(service: str, operation: str) -> Any:
    return _SESSION.get_service_model(service).operation_model(operation).input_shape


def messages(violations: list[Violation]) -> list[str]:
    return [v.message() for v in violations]


def unvalidated(emulator: Emulator, service: str) -> Any:
    """A client that skips botocore's own checks (minimum lengths and ranges), as other SDKs and raw HTTP do."""
    return emulator.session().client(
        service, endpoint_url=emulator.endpoint_url, config=Config(parameter_validation=False)
    )


def refusal(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


# -- the validator, on real botocore shapes -------------------------------------------------------------------
def test_a_pattern_violation_names_the_member_and_the_models_pattern() -> None:
    shape = input_shape("sagemaker", "CreateModel")

    found = validate(shape, {"ModelName": "fraud_model", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"})

    pattern = shape.members["ModelName"].metadata["pattern"]
    assert messages(found) == [
        f"Value 'fraud_model' at 'modelName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    ]


def test_each_violated_constraint_of_one_value_counts_as_an_error() -> None:
    shape = input_shape("sagemaker", "CreateModel")
    name = "m" * 64 + "_"

    found = validate(shape, {"ModelName": name, "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"})

    assert [v.constraint.split(":")[0] for v in found] == [
        "Member must have length less than or equal to 63",
        "Member must satisfy regular expression pattern",
    ]
    assert validation_message(found).startswith(f"2 validation errors detected: Value '{name}' at 'modelName'")


def test_a_number_out_of_range() -> None:
    found = validate(input_shape("cloudwatch", "DescribeAlarms"), {"MaxRecords": 101})

    assert messages(found) == [
        "Value '101' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100"
    ]


def test_a_value_outside_its_enum() -> None:
    found = validate(input_shape("dynamodb", "Scan"), {"TableName": "features", "Select": "EVERYTHING"})

    assert messages(found) == [
        "Value 'EVERYTHING' at 'select' failed to satisfy constraint: Member must satisfy enum value set: "
        "[ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES, SPECIFIC_ATTRIBUTES, COUNT]"
    ]


def test_items_of_a_list_of_structures_are_named_by_their_1_based_position() -> None:
    variants = [
        {"VariantName": "Blue", "ModelName": "blue", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"},
        {"VariantName": "Green", "ModelName": "not ok", "InitialInstanceCount": 0, "InstanceType": "ml.m5.large"},
    ]

    found = validate(
        input_shape("sagemaker", "CreateEndpointConfig"), {"EndpointConfigName": "c", "ProductionVariants": variants}
    )

    assert [(v.path, v.constraint.split(":")[0]) for v in found] == [
        ("productionVariants.2.member.modelName", "Member must satisfy regular expression pattern"),
        ("productionVariants.2.member.initialInstanceCount", "Member must have value greater than or equal to 1"),
    ]


def test_a_missing_required_member_is_null() -> None:
    found = validate(
        input_shape("sagemaker", "UpdateModelPackage"),
        {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1", "ModelLifeCycle": {}},
    )

    assert messages(found) == [
        "Value null at 'modelLifeCycle.stage' failed to satisfy constraint: Member must not be null",
        "Value null at 'modelLifeCycle.stageStatus' failed to satisfy constraint: Member must not be null",
    ]


def test_a_maps_values_are_reported_once_for_the_map_with_every_constraint_of_the_value_shape() -> None:
    properties = {"lineage.seed": "42", "lineage.hyperparameters": '{"max_iter": 300}', "approval.comment": "a, b"}

    found = validate(input_shape("sagemaker", "UpdateModelPackage"), _package_update(properties))

    assert messages(found) == [
        "Value '{lineage.seed=42, lineage.hyperparameters={\"max_iter\": 300}, approval.comment=a, b}' at "
        "'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 256, Member must have length greater than or equal to 1, "
        f"Member must satisfy regular expression pattern: {METADATA_VALUE}]"
    ]


def test_a_maps_keys_and_size_are_checked_too() -> None:
    properties = {f"k{i}": "v" for i in range(50)} | {"bad key!": "v"}

    found = validate(input_shape("sagemaker", "UpdateModelPackage"), _package_update(properties))

    assert [v.constraint.split(":")[0] for v in found] == [
        "Member must have length less than or equal to 50",
        "Map keys must satisfy constraint",
    ]


def _package_update(properties: dict[str, str]) -> dict[str, Any]:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"
    return {"ModelPackageArn": arn, "CustomerMetadataProperties": properties}


def test_a_list_of_scalars_is_reported_once_at_the_list() -> None:
    specification = {"Containers": [{"Image": "i"}], "SupportedResponseMIMETypes": ["json", "csv"]}

    found = validate(
        input_shape("sagemaker", "CreateModelPackage"),
        {"ModelPackageGroupName": "g", "InferenceSpecification": specification},
    )

    assert [(v.path, v.value, v.constraint.split(":")[0]) for v in found] == [
        ("inferenceSpecification.supportedResponseMIMETypes", "[json, csv]", "Member must satisfy constraint")
    ]


def test_newlines_are_refused_where_the_pattern_is_dot_star() -> None:
    shape = input_shape("sagemaker", "UpdateModelPackage")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"

    for text in ("line\nbreak", "carriage\rreturn", "line\u2028separator"):
        found = validate(shape, {"ModelPackageArn": arn, "ApprovalDescription": text})
        assert [v.path for v in found] == ["approvalDescription"], text
    assert validate(shape, {"ModelPackageArn": arn, "ApprovalDescription": "ana: looks good (v3), ship it"}) == []


def test_at_most_ten_violations_are_listed_and_counted() -> None:
    variants = [
        {"VariantName": f"v{i}", "ModelName": "bad name", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        for i in range(12)
    ]
    found = validate(
        input_shape("sagemaker", "CreateEndpointConfig"), {"EndpointConfigName": "c", "ProductionVariants": variants}
    )

    message = validation_message(found)

    assert len(found) == 13  # the list's own maximum (10 variants), then each item's name
    assert message.startswith("10 validation errors detected: Value '[")
    assert message.count("failed to satisfy constraint") == 10


def test_a_sensitive_value_is_not_echoed() -> None:
    found = validate(input_shape("secretsmanager", "CreateSecret"), {"Name": "s", "SecretString": "x" * 70000})

    assert messages(found) == [
        "Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536"
    ]


def test_a_value_of_the_wrong_type_is_a_serialization_error() -> None:
    with pytest.raises(constraints.WrongType, match="'maxRecords' is a str where the model has a integer"):
        validate(input_shape("cloudwatch", "DescribeAlarms"), {"MaxRecords": "10"})


# -- Java's regular expressions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (METADATA_VALUE, "s3://bucket/lineage/3.json", True),
        (METADATA_VALUE, "Ana Pérez: ok, ship", False),  # the comma
        (METADATA_VALUE, "Ana Pérez 東京 ٣", True),  # \p{L}, \p{Z} and \p{N} are Unicode
        (r"[\w]+", "naïve", False),  # \w is ASCII in Java
        (r"\d+", "٣", False),
        (r"\s*", "\u00a0", False),
        (r".*", "tab\tis fine", True),
        (r".*", "a\u0085b", False),  # NEL is a line terminator in Java
        (r"(?s).*", "a\nb", True),
        (r"[\p{Alnum}]+", "é", False),  # POSIX classes are ASCII in Java
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "emoji \U0001f600", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "bell \x07", False),
        (r"[a-z--]+", "a-b", True),  # -- is literal in Java, a set operator in regex's V1 mode
        (r"arn:\QA.B\E", "arn:A.B", True),
        (r"arn:\QA.B\E", "arn:AxB", False),
        (r"[\x{60}]", "`", True),
        (r"[a-z]+", "abc1", False),  # the whole value must match
    ],
)
def test_java_patterns_keep_their_java_meaning(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


KIT_SERVICES = (
    "sagemaker", "sagemaker-runtime", "stepfunctions", "lambda", "dynamodb", "s3", "events", "scheduler",
    "cloudwatch", "logs", "sns", "sqs", "iam", "sts", "kms", "cloudformation", "ssm", "glue", "athena",
    "apigateway", "application-autoscaling", "secretsmanager",
)  # fmt: skip


@pytest.mark.parametrize("service", KIT_SERVICES)
def test_every_pattern_of_the_services_the_kit_uses_translates(service: str) -> None:
    shapes = _SESSION.get_service_model(service)._shape_resolver._shape_map
    patterns = {shape["pattern"] for shape in shapes.values() if "pattern" in shape}

    assert [p for p in patterns if compile_java(p) is None] == []


# -- through the emulator ---------------------------------------------------------------------------------------
def test_the_check_is_on_in_every_emulator(emulator: Emulator) -> None:
    assert constraints.CHECK_NAME in requests.checks()


def test_a_json_protocol_service_answers_validation_exception(emulator: Emulator) -> None:
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")

    code, message = refusal(
        lambda: sagemaker.create_model_package(
            ModelPackageGroupName="fraud",
            InferenceSpecification={"Containers": [{"Image": "i"}], "SupportedContentTypes": ["application/json"]},
            CustomerMetadataProperties={"lineage.hyperparameters": '{"max_iter": 300}'},
        )
    )

    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value '{lineage.hyperparameters={\"max_iter\": 300}}' at "
        "'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy constraint: ["
    )
    assert sagemaker.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"] == []


def test_query_protocol_services_answer_validation_error(emulator: Emulator) -> None:
    code, message = refusal(lambda: unvalidated(emulator, "sns").create_topic(Name="t", Tags=[{"Key": "k" * 129}]))

    assert (code, message) == (
        "ValidationError",
        f"2 validation errors detected: Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128; Value null at 'tags.1.member.value' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_what_botocore_lets_through_is_refused_by_the_server(emulator: Emulator) -> None:
    # botocore checks minimums itself; another SDK (or raw HTTP) sends them, and the service refuses them.
    code, message = refusal(lambda: unvalidated(emulator, "cloudwatch").describe_alarms(MaxRecords=0))

    assert code == "ValidationError"  # CloudWatch speaks CBOR now but keeps its query error codes
    assert message == (
        "1 validation error detected: Value '0' at 'maxRecords' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_the_local_server_checks_requests_too(tmp_path: Any) -> None:
    with Emulator(server=True, port=free_port(), workdir=tmp_path / "emulator") as aws:
        code, message = refusal(lambda: aws.client("sagemaker").describe_endpoint(EndpointName="not_valid"))

    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value 'not_valid' at 'endpointName'")


def test_a_pipelines_register_step_passes_the_same_check(emulator: Emulator) -> None:
    from tests.emulator.test_sagemaker_pipelines import JOB, _definition, pipeline_role

    s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
    s3.create_bucket(Bucket="pipeline-test")
    s3.put_object(Bucket="pipeline-test", Key="code/job.py", Body=JOB.encode())
    s3.put_object(Bucket="pipeline-test", Key="data/value.txt", Body=b"3")
    sagemaker.create_model_package_group(ModelPackageGroupName="toy")
    pipeline_role(emulator)
    definition = _definition()
    register = definition["Steps"][1]["Arguments"]["IfSteps"][0]
    register["Arguments"]["CustomerMetadataProperties"]["note"] = "doubled, then registered"
    sagemaker.create_pipeline(
        PipelineName="toy", PipelineDefinition=json.dumps(definition), RoleArn="arn:aws:iam::123456789012:role/r"
    )

    arn = sagemaker.start_pipeline_execution(PipelineName="toy")["PipelineExecutionArn"]

    def ended() -> dict | None:
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        return described if described["PipelineExecutionStatus"] != "Executing" else None

    described = emulator.wait_until(ended, description="the pipeline run")
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "(ValidationException) when calling the CreateModelPackage operation" in described["FailureReason"]
    assert "at 'customerMetadataProperties'" in described["FailureReason"]
    assert sagemaker.list_model_packages(ModelPackageGroupName="toy")["ModelPackageSummaryList"] == []


# -- service rules beyond the model ---------------------------------------------------------------------------
def _metric_query(period: int) -> dict[str, Any]:
    metric = {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"}
    return {"Id": "m1", "MetricStat": {"Metric": metric, "Period": period, "Stat": "Sum"}}


@pytest.mark.parametrize("period", [60, 300, 3600, 1, 5, 10, 20, 30])
def test_metric_data_periods_cloudwatch_accepts(emulator: Emulator, period: int) -> None:
    end = dt.datetime.now(dt.UTC)

    result = emulator.client("cloudwatch").get_metric_data(
        MetricDataQueries=[_metric_query(period)], StartTime=end - dt.timedelta(minutes=10), EndTime=end
    )

    assert result["MetricDataResults"][0]["Id"] == "m1"


@pytest.mark.parametrize("period", [37, 90, 61, 2])
def test_a_metric_data_period_off_the_minute_grid_is_refused(emulator: Emulator, period: int) -> None:
    end = dt.datetime.now(dt.UTC)
    queries = [_metric_query(60), _metric_query(period) | {"Id": "m2"}]

    code, message = refusal(
        lambda: emulator.client("cloudwatch").get_metric_data(
            MetricDataQueries=queries, StartTime=end - dt.timedelta(minutes=10), EndTime=end
        )
    )

    assert code == "InvalidParameterValue"
    assert message == (
        f"The parameter MetricDataQueries.member.2.MetricStat.Period must be a multiple of 60 (or 1, 5, 10, 20 or 30 "
        f"for a high-resolution metric); got {period}."
    )


def test_metric_statistics_refuses_an_odd_period_and_more_than_1440_datapoints(emulator: Emulator) -> None:
    cloudwatch = emulator.client("cloudwatch")
    end = dt.datetime.now(dt.UTC)

    def statistics(period: int, span: dt.timedelta) -> Any:
        return cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            StartTime=end - span,
            EndTime=end,
            Period=period,
            Statistics=["Sum"],
        )

    assert refusal(lambda: statistics(45, dt.timedelta(hours=1)))[0] == "InvalidParameterValue"
    assert refusal(lambda: statistics(60, dt.timedelta(days=2))) == (
        "InvalidParameterCombination",
        "You have requested up to 2880 datapoints, which exceeds the limit of 1440. You may reduce the datapoints "
        "requested by increasing Period, or decreasing the time range.",
    )
    assert statistics(60, dt.timedelta(days=1))["Datapoints"] == []


def test_every_service_rule_names_the_page_it_rests_on() -> None:
    for rule in constraints.SERVICE_RULES:
        assert rule.doc.startswith("https://docs.aws.amazon.com/"), rule


# -- the same-region rule for model artifacts ----------------------------------------------------------------
def _bucket_in(emulator: Emulator, bucket: str, region: str) -> str:
    s3 = emulator.session().client("s3", region_name=region, endpoint_url=emulator.endpoint_url)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="models/1/model.tar.gz", Body=b"not a real archive")
    return f"s3://{bucket}/models/1/model.tar.gz"


def test_model_artifacts_in_another_regions_bucket_are_refused(emulator: Emulator) -> None:
    # API_ContainerDefinition.html, ModelDataUrl: "The model artifacts must be in an S3 bucket that is in the same
    # region as the model or endpoint you are creating."
    elsewhere = _bucket_in(emulator, "artifacts-eu", "eu-west-1")
    here = _bucket_in(emulator, "artifacts-here", emulator.region)
    sagemaker = emulator.client("sagemaker")
    container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1"}
    role = f"arn:aws:iam::{emulator.account}:role/model"

    code, message = refusal(
        lambda: sagemaker.create_model(
            ModelName="far", ExecutionRoleArn=role, PrimaryContainer={**container, "ModelDataUrl": elsewhere}
        )
    )

    assert code == "ValidationException"
    assert "bucket artifacts-eu is in eu-west-1" in message
    assert f"same region as the model ({emulator.region})" in message
    sagemaker.create_model(
        ModelName="near", ExecutionRoleArn=role, PrimaryContainer={**container, "ModelDataUrl": here}
    )
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    code, _ = refusal(
        lambda: sagemaker.create_model_package(
            ModelPackageGroupName="fraud",
            InferenceSpecification={
                "Containers": [{**container, "ModelDataUrl": elsewhere}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    )
    assert code == "ValidationException"
    assert sagemaker.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"] == []
