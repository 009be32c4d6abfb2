"""Deploy, promote twice, destroy: afterwards nothing billing is left in any service, and what remains is exactly
the stateful data the README's "Tear down" section lists (``removal_policy: retain``, the default)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.promotion.store import PromotionStore
from mlops_local.demo.scenarios import register_model
from mlops_local.demo.serving import promote
from mlops_local.deploy import CloudAssembly, LocalDeployer
from tests.support import platform_with_production

pytestmark = pytest.mark.slow


def inventory(aws: Any) -> dict[str, list[str]]:
    """Every resource the kit's stacks or its runtime make, by service and kind (names), read back from the APIs."""
    sm = aws.client("sagemaker")
    scaling = aws.client("application-autoscaling")
    return {
        "sagemaker endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "sagemaker endpoint configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "sagemaker models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "sagemaker pipelines": [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]],
        "autoscaling targets": [
            t["ResourceId"] for t in scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        ],
        "autoscaling policies": [
            p["PolicyName"] for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        ],
        "lambda functions": [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]],
        "state machines": [m["name"] for m in aws.client("stepfunctions").list_state_machines()["stateMachines"]],
        "rest apis": [a["name"] for a in aws.client("apigateway").get_rest_apis()["items"]],
        "event rules": [r["Name"] for r in aws.client("events").list_rules()["Rules"]],
        "schedules": [s["Name"] for s in aws.client("scheduler").list_schedules()["Schedules"]],
        "alarms": [a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]],
        "sns topics": [t["TopicArn"].rsplit(":", 1)[-1] for t in aws.client("sns").list_topics()["Topics"]],
        "sqs queues": [u.rsplit("/", 1)[-1] for u in aws.client("sqs").list_queues().get("QueueUrls", [])],
        "dynamodb tables": aws.client("dynamodb").list_tables()["TableNames"],
        "s3 buckets": [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"] if "cdk-" not in b["Name"]],
        "kms keys": [
            k["KeyId"]
            for k in aws.client("kms").list_keys()["Keys"]
            if aws.client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
        ],
        "log groups": [g["logGroupName"] for g in aws.client("logs").describe_log_groups()["logGroups"]],
        "model package groups": [
            g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
        ],
        "glue databases": [d["Name"] for d in aws.client("glue").get_databases()["DatabaseList"]],
        "athena workgroups": [
            w["Name"] for w in aws.client("athena").list_work_groups()["WorkGroups"] if w["Name"] != "primary"
        ],
    }


# Billed while they exist (instances, invocations aside): none may survive `cdk destroy`.
BILLING = (
    "sagemaker endpoints",
    "sagemaker endpoint configs",
    "sagemaker models",
    "autoscaling targets",
    "autoscaling policies",
    "lambda functions",
    "state machines",
    "rest apis",
    "schedules",
    "alarms",
    "event rules",
    "sns topics",
    "sagemaker pipelines",
    "glue databases",
    "athena workgroups",
)
# Stateful data, retained with `removal_policy: retain` (the default), by the template resource type that makes it.
RETAINED = {
    "AWS::DynamoDB::Table": "dynamodb tables",
    "AWS::S3::Bucket": "s3 buckets",
    "AWS::KMS::Key": "kms keys",
    "AWS::SQS::Queue": "sqs queues",
    "AWS::Logs::LogGroup": "log groups",
    "AWS::SageMaker::ModelPackageGroup": "model package groups",
}


def retained_by_templates(assembly: CloudAssembly) -> dict[str, int]:
    """How many resources of each retained kind the templates keep on deletion (DeletionPolicy Retain)."""
    counts = dict.fromkeys(RETAINED.values(), 0)
    for stack in assembly.stacks:
        for body in stack.template()["Resources"].values():
            if body.get("DeletionPolicy") == "Retain":
                assert body["Type"] in RETAINED, f"{body['Type']} is retained: add it to the README's Tear down list"
                counts[RETAINED[body["Type"]]] += 1
    return counts


def test_destroy_after_two_promotions_leaves_nothing_billing(cloud_assembly: CloudAssembly, tmp_path: Path) -> None:
    started = time.monotonic()
    with platform_with_production(cloud_assembly, tmp_path) as (context, data):
        aws = context.emulator
        paths = []
        for name, seed in (("v2", 2), ("v3", 3)):
            candidate = register_model(context, data, name=name, seed=seed)
            result = promote(context, candidate, traffic_payloads=data.payloads)
            assert result["status"] == "SUCCEEDED", result["cause"]
            paths.append(result["states"])
        endpoint = context.output("EndpointName")
        history = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName")).deployments(endpoint)
        before = inventory(aws)
        serving = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

        deleted = LocalDeployer(aws.session(), account=aws.account, region=aws.region).destroy(cloud_assembly)
        after = inventory(aws)
        wall = time.monotonic() - started
    print(f"deploy, three promotions and destroy: {wall:.1f} s wall")

    # The shadow went as soon as it was compared, before anyone was asked to approve
    for states in paths:
        assert states.index("CompareShadow") < states.index("EndShadow") < states.index("WaitForHumanApproval")
    # After the second promotion only the served config and the one it started from (version 2's) remain,
    # with their two models; the shadow and canary configs of both promotions are gone
    assert serving in history[0]["cleanup"]["kept"]
    assert len(history[0]["cleanup"]["kept"]) == 2
    assert history[0]["cleanup"]["configs"]  # the shadow and canary configs of version 3 at least
    assert len(before["sagemaker endpoint configs"]) == 2, before["sagemaker endpoint configs"]
    assert len(before["sagemaker models"]) == 2, before["sagemaker models"]
    assert before["autoscaling targets"]
    assert before["sagemaker endpoints"] == [endpoint]
    # Every record carries its instance-hours: the shadow's short, both variants during the canary
    for record in history[:2]:
        hours = record["cost"]["instance_hours"]
        assert 0 < hours["shadow"] < hours["candidate"] < hours["production"]
        assert hours["total"] == pytest.approx(hours["shadow"] + hours["candidate"] + hours["production"], abs=1e-3)
        assert record["cost"]["instance_type"] == "ml.m5.large"
        assert record["cost"]["unpriced"] == "no price for ml.m5.large in cost.instance_prices"
    # Destroyed: every stack, nothing billing left, and exactly the retained data
    assert set(deleted) == {s.stack_name for s in cloud_assembly.stacks}
    assert {kind: after[kind] for kind in BILLING if after[kind]} == {}
    # Log groups made at runtime, not by the templates: SageMaker's own for the endpoint (on AWS it outlives the
    # endpoint; the emulator writes it only for container errors), and moto's /aws/lambda/<name> for every function
    # whatever its LoggingConfig says (on AWS the kit's functions log to their own groups).
    after["log groups"] = [
        g
        for g in after["log groups"]
        if not g.startswith("/aws/lambda/") and g != f"/aws/sagemaker/Endpoints/{endpoint}"
    ]
    assert {kind: len(after[kind]) for kind in RETAINED.values()} == retained_by_templates(cloud_assembly)
