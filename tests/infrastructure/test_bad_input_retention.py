"""Catalogue: every retention and removal setting is applied to the synthesized template, none is ignored.

Issue 16 found settings accepted and then ignored (capture kept forever, a report rule on a prefix nothing is
written to, access logs never really deleted from a versioned bucket) and stateful resources deleted with their
stack whatever ``removal_policy`` said. Each row below names a resource and what the default config must give it.
"""

from __future__ import annotations

from typing import Any

import pytest

from cdk.config import load_config
from cdk.constructs.storage import NONCURRENT_DAYS
from mlops_kit.monitoring import naming as drift_naming
from mlops_kit.serving import naming as serving_naming

CONFIG = load_config({})  # the tests' app: cdk.json's mlops section, whose retention keys are the defaults
ENDPOINT = CONFIG.endpoint_name


def _rules(template: Any) -> list[dict[str, Any]]:
    buckets = template.find_resources("AWS::S3::Bucket")
    return [
        rule
        for bucket in buckets.values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]


def _rule(template: Any, rule_id: str) -> dict[str, Any]:
    found = [r for r in _rules(template) if r.get("Id") == rule_id]
    assert len(found) == 1, [r.get("Id") for r in _rules(template)]
    return found[0]


@pytest.mark.parametrize(
    ("rule_id", "prefix", "days"),
    [
        ("ExpireCapture", f"{serving_naming.capture_prefix(ENDPOINT)}/", CONFIG.retention.capture_days),
        ("ExpireDriftReports", f"{drift_naming.reports_prefix(ENDPOINT)}/", CONFIG.retention.report_days),
        ("ExpireAccessLogs", None, CONFIG.retention.report_days),
    ],
)
def test_each_retention_key_expires_current_and_noncurrent_versions(
    stack_template: Any, rule_id: str, prefix: str | None, days: int
) -> None:
    rule = _rule(stack_template("data"), rule_id)

    assert rule["Status"] == "Enabled"
    assert rule.get("Prefix") == prefix
    assert rule["ExpirationInDays"] == days
    # The buckets are versioned: expiring the current version alone leaves a noncurrent copy forever.
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": NONCURRENT_DAYS}


def test_the_report_rule_covers_where_the_drift_job_writes() -> None:
    uri = drift_naming.report_uri("bucket", ENDPOINT, "drift-job-1")

    assert uri.removeprefix("s3://bucket/").startswith(f"{drift_naming.reports_prefix(ENDPOINT)}/")


@pytest.mark.parametrize(
    ("unit", "resource_type", "expected_count"),
    [
        ("training", "AWS::SageMaker::ModelPackageGroup", 1),
        ("data", "AWS::SQS::Queue", None),  # the ingestion queue, its DLQ and every dead-letter queue
        ("data", "AWS::DynamoDB::Table", None),
        ("data", "AWS::S3::Bucket", 3),
        ("data", "AWS::KMS::Key", 1),
    ],
)
def test_stateful_resources_follow_removal_policy_retain(
    stack_template: Any, unit: str, resource_type: str, expected_count: int | None
) -> None:
    assert CONFIG.removal_policy == "retain"
    resources = stack_template(unit).find_resources(resource_type)

    assert resources
    if expected_count is not None:
        assert len(resources) == expected_count
    assert {(r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) for r in resources.values()} == {
        ("Retain", "Retain")
    }


def test_removal_policy_destroy_reaches_the_model_package_group() -> None:
    from aws_cdk import App, RemovalPolicy, Stack
    from aws_cdk.assertions import Template

    from cdk.constructs.model_registry import ModelRegistry

    stack = Stack(App(), "Registry")
    ModelRegistry(stack, "Registry", group_name="fraud-models", removal_policy=RemovalPolicy.DESTROY)

    group = next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::ModelPackageGroup").values()))
    assert group["DeletionPolicy"] == "Delete"
