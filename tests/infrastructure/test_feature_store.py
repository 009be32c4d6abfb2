"""The feature store in the data stack: table, Glue catalog, Athena workgroup, ingestion, least-privilege IAM."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration
from aws_cdk.assertions import Match

from mlops_kit.features.fraud import FEATURE_GROUPS
from mlops_kit.features.ingest import IngestSettings


def _ingest_policy(data: Any) -> list[dict[str, Any]]:
    roles = data.find_resources("AWS::IAM::Role", {"Properties": {"Description": "feature_ingest Lambda function"}})
    (role_id,) = roles
    policies = [
        p for p in data.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_the_online_table_is_encrypted_recoverable_expiring_and_retained(stack_template: Any) -> None:
    data = stack_template("data")

    data.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "BillingMode": "PAY_PER_REQUEST",
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    assert data.find_resources("AWS::DynamoDB::GlobalTable") == {}


def test_one_glue_table_per_feature_group_with_projected_date_partitions(stack_template: Any) -> None:
    data = stack_template("data")

    tables = data.find_resources("AWS::Glue::Table")
    by_name = {t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"] for t in tables.values()}
    assert set(by_name) == {g.name for g in FEATURE_GROUPS}
    for group in FEATURE_GROUPS:
        table = by_name[group.name]
        columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        assert columns[: len(group.key_names)] == list(group.key_names)
        assert set(group.feature_names) <= set(columns)
        assert {"__event_us", "__created_us", "__ingested_us", "__batch", "__row"} <= set(columns)
        assert table["PartitionKeys"] == [{"Name": "date", "Type": "string"}]
        assert table["Parameters"]["projection.enabled"] == "true"
        assert table["Parameters"]["mlops:feature_group_version"] == group.version
        assert "ParquetHiveSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]


def test_the_athena_workgroup_enforces_encrypted_results(stack_template: Any) -> None:
    data = stack_template("data")

    data.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": Match.any_value()},
                    "OutputLocation": Match.any_value(),
                },
            }
        },
    )


def test_ingestion_reads_sqs_with_partial_failures_and_eventbridge(stack_template: Any) -> None:
    data = stack_template("data")

    data.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10}
    )
    data.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"source": ["mlops.features"], "detail-type": ["Feature Records"]}, "State": "ENABLED"},
    )
    data.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": Match.any_value(), "RedrivePolicy": Match.object_like({"maxReceiveCount": 5})},
    )
    data.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {"Variables": Match.object_like({IngestSettings.VARIABLE: Match.any_value()})},
            "Layers": Match.any_value(),
            "TracingConfig": {"Mode": "Active"},
        },
    )


def test_the_ingest_function_may_only_put_items_and_create_feature_files(stack_template: Any) -> None:
    statements = _ingest_policy(stack_template("data"))

    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert [_actions(s) for s in dynamodb] == [{"dynamodb:PutItem"}]
    s3_actions = {a for s in statements for a in _actions(s) if a.startswith("s3:")}
    assert "s3:DeleteObject" not in s3_actions
    assert "s3:GetObject" not in s3_actions  # append-only writer: no reads of the data bucket
    assert {"s3:PutObject"} <= s3_actions
    object_resources = [
        r
        for s in statements
        if "s3:PutObject" in _actions(s)
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert all(r["Fn::Join"][1][-1] == "/features/*" for r in object_resources)
    assert not any(
        s["Resource"] == "*"
        for s in statements
        if not _actions(s) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    )


def test_outputs_locate_the_feature_store(stack_template: Any) -> None:
    outputs = stack_template("data").find_outputs("*")

    assert {
        "FeatureTableName",
        "FeatureDatabaseName",
        "FeatureWorkGroupName",
        "FeatureIngestQueueUrl",
        "FeatureIngestFunctionName",
    } <= set(outputs)


def test_read_grants_are_scoped_and_their_findings_acknowledged(tmp_path) -> None:
    """A consumer (the training role, later) gets read access to both stores; cdk-nag passes on it."""
    from aws_cdk import App, RemovalPolicy, Stack
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from cdk.constructs.feature_store import FeatureStore
    from cdk.constructs.storage import PlatformStorage
    from cdk.nag import enable_checks

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Consumer")
    storage = PlatformStorage(
        stack,
        "Storage",
        removal_policy=RemovalPolicy.DESTROY,
        report_retention=Duration.days(1),
        capture_retention=Duration.days(1),
        capture_prefix="capture/endpoint",
        reports_prefix="drift/endpoint/reports",
    )
    store = FeatureStore(
        stack, "FeatureStore", groups=FEATURE_GROUPS, key=storage.key, data_bucket=storage.data_bucket,
        artifacts_bucket=storage.artifacts_bucket, database_name="db", workgroup_name="wg",
        removal_policy=RemovalPolicy.DESTROY,
    )  # fmt: skip
    role = iam.Role(stack, "Training", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    store.grant_read_online(role)
    store.grant_read_offline(role)
    store.acknowledge_grants(role, read_offline=True)
    enable_checks(app)

    template = Template.from_stack(stack)  # raises ValidationFailed on any unacknowledged cdk-nag finding

    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in _actions(s)}
    assert {"dynamodb:BatchGetItem", "dynamodb:GetItem", "athena:StartQueryExecution", "glue:GetTable"} <= actions
    assert not {
        a for a in actions if a.startswith("dynamodb:") and a not in ("dynamodb:BatchGetItem", "dynamodb:GetItem")
    }
    assert "s3:PutObject" in actions  # Athena staging only:
    put_resources = [s["Resource"] for s in statements if "s3:PutObject" in _actions(s)]
    for resource in (r for rs in put_resources for r in (rs if isinstance(rs, list) else [rs])):
        if "Fn::Join" in resource:  # object ARNs: the staging prefix only
            assert resource["Fn::Join"][1][-1] == "/athena/features/*"
        else:  # the bucket ARN itself (bucket-level actions merged into the statement)
            assert "Fn::GetAtt" in resource
    (glue_writes,) = [s for s in statements if "glue:CreateTable" in _actions(s)]
    rendered = json.dumps(glue_writes["Resource"])
    assert "table/db/labels_*" in rendered  # only the temporary label tables may be created or dropped
    assert "table/db/*" not in rendered


def test_the_arrow_layer_holds_pyarrow_without_the_parts_the_store_never_loads(cloud_assembly: Any) -> None:
    data = next(s for s in cloud_assembly.stacks if s.stack_name.endswith("-data"))
    template = json.loads(data.template_file.read_text())
    (layer,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion" and "pyarrow" in r["Properties"]["Description"]
    ]
    assets = json.loads(data.template_file.with_name(data.template_file.name.replace("template", "assets")).read_text())
    key = layer["Properties"]["Content"]["S3Key"]
    (source,) = [f["source"]["path"] for h, f in assets["files"].items() if key.startswith(h)]
    package = cloud_assembly.directory / source / "python" / "pyarrow"

    assert (package / "__init__.py").is_file()
    assert (package / "parquet").is_dir()
    pruned = ["include", "tests", "libarrow_flight*", "libarrow_substrait*", "_flight*", "_substrait*", "*.pyx"]
    assert [p for pattern in pruned for p in package.glob(pattern)] == []
