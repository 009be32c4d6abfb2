"""A/B testing infrastructure: the experiments table (data stack); the status job on a schedule, outcome events
and the IAM-authorized HTTP router (serving stack); least-privilege roles; Lambda packages within Lambda's limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from mlops_kit.abtest.names import METRICS_NAMESPACE, OUTCOME_DETAIL_TYPE, OUTCOME_SOURCE
from mlops_kit.abtest.settings import StatusSettings
from mlops_local.deploy import CloudAssembly

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def _function(serving: Any, name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, properties) of the Lambda function built from ``lambdas/<name>``."""
    roles = serving.find_resources("AWS::IAM::Role", {"Properties": {"Description": f"{name} Lambda function"}})
    (role_id,) = roles
    functions = {
        k: v
        for k, v in serving.find_resources("AWS::Lambda::Function").items()
        if v["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    }
    ((function_id, function),) = functions.items()
    return function_id, function["Properties"]


def _statements(serving: Any, name: str) -> list[dict[str, Any]]:
    roles = serving.find_resources("AWS::IAM::Role", {"Properties": {"Description": f"{name} Lambda function"}})
    (role_id,) = roles
    policies = [
        p for p in serving.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _by_action(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in _actions(s)]


def test_the_experiments_table_is_encrypted_recoverable_retained_and_exported(stack_template: Any) -> None:
    data = stack_template("data")
    template = data.to_json()
    table_id = template["Outputs"]["ExperimentTableName"]["Value"]["Ref"]

    assert template["Resources"][table_id]["Type"] == "AWS::DynamoDB::Table"
    data.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    table = template["Resources"][table_id]
    assert "TimeToLiveSpecification" not in table["Properties"]  # experiments are the audit trail of decisions
    assert table["DeletionPolicy"] == "Retain"
    exported = {o.get("Export", {}).get("Name"): o["Value"] for o in template["Outputs"].values()}
    assert exported["mlops-kit-experiment-table-arn"] == {"Fn::GetAtt": [table_id, "Arn"]}


def test_the_status_job_runs_hourly_with_the_statistics_layer(stack_template: Any) -> None:
    serving = stack_template("serving")
    function_id, function = _function(serving, "abtest_status")

    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert StatusSettings.VARIABLE in function["Environment"]["Variables"]  # parsed in test_function_settings
    assert len(function["Layers"]) == 2  # the shared layer and numpy/scipy
    serving.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"Description": Match.string_like_regexp("numpy and scipy"), "CompatibleRuntimes": ["python3.14"]},
    )
    serving.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(1 hour)",
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
                "RoleArn": Match.any_value(),
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            },
        },
    )


def test_the_status_job_may_only_touch_its_endpoint_its_lock_and_its_metrics(stack_template: Any) -> None:
    statements = _statements(stack_template("serving"), "abtest_status")

    (endpoint,) = _by_action(statements, "sagemaker:UpdateEndpoint")
    assert _actions(endpoint) == {"sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"}
    # UpdateEndpoint needs the endpoint and the endpoint-config resource (Service Authorization Reference).
    resources = json.dumps(endpoint["Resource"])
    assert resources.count(":endpoint/mlops-kit-endpoint") == 1
    assert resources.count(":endpoint-config/mlops-kit-endpoint-*") == 1
    (metrics,) = _by_action(statements, "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}
    lock = next(s for s in statements if s["Resource"] == {"Fn::ImportValue": "mlops-kit-promotion-table-arn"})
    assert _actions(lock) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
    assert lock["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["lock#mlops-kit-endpoint"]}}
    assert not [s for s in statements if {"sagemaker:CreateEndpointConfig", "sagemaker:CreateModel"} & _actions(s)]
    assert all(not a.endswith(":*") for s in statements for a in _actions(s))


def test_outcome_events_reach_the_outcome_function(stack_template: Any) -> None:
    serving = stack_template("serving")
    function_id, function = _function(serving, "abtest_outcome")

    serving.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": [OUTCOME_SOURCE], "detail-type": [OUTCOME_DETAIL_TYPE]},
            "Targets": [
                Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}, "RetryPolicy": Match.any_value()})
            ],
        },
    )
    assert len(function["Layers"]) == 2
    statements = _statements(serving, "abtest_outcome")
    assert not [s for s in statements if any(a.startswith("sagemaker:") for a in _actions(s))]


def test_the_http_router_is_iam_authorized_logged_traced_and_writes_only_exposures(stack_template: Any) -> None:
    serving = stack_template("serving")
    function_id, function = _function(serving, "abtest_router")
    methods = {  # the router's methods (the approval page's API is in the same stack)
        k: m for k, m in serving.find_resources("AWS::ApiGateway::Method").items() if function_id in json.dumps(m)
    }

    assert sorted(m["Properties"]["HttpMethod"] for m in methods.values()) == ["GET", "POST"]
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
        assert function_id in json.dumps(method["Properties"]["Integration"]["Uri"])
    serving.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        },
    )
    serving.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    assert serving.find_resources("AWS::ApiGateway::Account") == {}  # no account-wide settings changed
    assert "Layers" not in function or len(function["Layers"]) == 1  # no numpy/scipy on the request path
    statements = _statements(serving, "abtest_router")
    (write,) = _by_action(statements, "dynamodb:PutItem")
    assert _actions(write) == {"dynamodb:PutItem"}
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}}
    (read,) = _by_action(statements, "dynamodb:GetItem")
    assert read["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["experiment"]}}
    (invoke,) = _by_action(statements, "sagemaker:InvokeEndpoint")
    assert json.dumps(invoke["Resource"]).endswith(':endpoint/mlops-kit-endpoint"]]}')
    outputs = serving.to_json()["Outputs"]
    assert {"AbTestRouterUrl", "AbTestRouterFunctionName", "AbTestStatusScheduleName"} <= set(outputs)


def _asset_size(assembly: CloudAssembly, s3_key: Any) -> int:
    digest = str(s3_key).removesuffix(".zip")
    folder = Path(assembly.directory) / f"asset.{digest}"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_the_statistics_functions_fit_in_lambdas_unzipped_limit(
    stack_template: Any, cloud_assembly: CloudAssembly
) -> None:
    serving = stack_template("serving")
    layers = serving.find_resources("AWS::Lambda::LayerVersion")

    for name in ("abtest_status", "abtest_outcome"):
        _, function = _function(serving, name)
        size = _asset_size(cloud_assembly, function["Code"]["S3Key"])
        for layer in function["Layers"]:
            size += _asset_size(cloud_assembly, layers[layer["Ref"]]["Properties"]["Content"]["S3Key"])
        assert 100 * 1024 * 1024 < size < LAMBDA_UNZIPPED_LIMIT - 20 * 1024 * 1024, (name, size)


def test_served_models_may_assign_plain_clients_requests_and_nothing_more(stack_template: Any) -> None:
    # Given the serving stack, the model role (what SageMaker serves with) and the promotion steps' settings,
    serving = stack_template("serving")
    (role_id,) = serving.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("serves the model versions")}}
    )
    policies = [
        p for p in serving.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]

    # Then the model role reads experiments' routes, writes exposures and invokes its own endpoint, nothing else
    # of the experiments table,
    (write,) = _by_action(statements, "dynamodb:PutItem")
    assert _actions(write) == {"dynamodb:PutItem"}
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}}
    (read,) = _by_action(statements, "dynamodb:Query")
    assert _actions(read) == {"dynamodb:GetItem", "dynamodb:Query"}
    assert read["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["experiment"]}}
    (invoke,) = _by_action(statements, "sagemaker:InvokeEndpoint")
    assert _actions(invoke) == {"sagemaker:InvokeEndpoint"}
    assert json.dumps(invoke["Resource"]).endswith(':endpoint/mlops-kit-endpoint"]]}')
    assert not any(
        a.startswith("dynamodb:")
        and a not in {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"}
        for s in statements
        for a in _actions(s)
    )
    # and every model the promotion workflow deploys is told where the experiments are.
    settings = json.dumps(serving.find_resources("AWS::Lambda::Function"))
    assert "MLOPS_EXPERIMENT_TABLE" in settings
    assert "MLOPS_ENDPOINT_NAME" in settings
