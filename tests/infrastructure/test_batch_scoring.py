"""Batch scoring's resources: the start function may list only batch/input/, create only batch jobs and pass only
the job role to SageMaker; the job role reads inputs, features and model artifacts and writes only outputs; with
``batch.schedule`` a Scheduler schedule invokes the start function with the scheduled time."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from cdk.config import load_config
from cdk.constructs.batch_scoring import BatchScoring
from cdk.constructs.model_registry import ModelRegistry
from tests.infrastructure.test_monitoring_stack import actions_of, resources_of, statements


def test_the_start_function_lists_batch_input_creates_batch_jobs_and_passes_the_job_role_only(
    stack_template: Any,
) -> None:
    found = statements(stack_template("monitoring"), "BatchStart")

    listing = [s for s in found if actions_of(s) == ["s3:ListBucket"]]
    assert len(listing) == 1
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}
    create = next(s for s in found if "sagemaker:CreateProcessingJob" in actions_of(s))
    assert sorted(actions_of(create)) == ["sagemaker:AddTags", "sagemaker:CreateProcessingJob"]
    assert [r.rsplit(":", 1)[1] for r in resources_of(create)] == ["processing-job/mlops-kit-batch-*"]
    passing = next(s for s in found if actions_of(s) == ["iam:PassRole"])
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    everything = {a for s in found for a in actions_of(s)}
    assert not {a for a in everything if a.startswith("s3:") and a != "s3:ListBucket"}
    assert not {a for a in everything if a.endswith("*") and not a.startswith(("xray:", "sagemaker:Describe"))}


def test_the_job_role_writes_only_batch_output(stack_template: Any) -> None:
    found = statements(stack_template("monitoring"), "BatchJobRole")

    writes = [r for s in found for a in actions_of(s) if a.startswith("s3:Put") for r in resources_of(s)]
    assert writes
    assert all(r.endswith("/batch/output/*") for r in writes), writes
    reads = {r.rsplit(">", 1)[-1] for s in found if "s3:GetObject*" in actions_of(s) for r in resources_of(s)}
    assert {"/batch/input/*", "/features/*", "/*/model.tar.gz"} <= reads


def test_no_batch_schedule_by_default(stack_template: Any) -> None:
    schedules = stack_template("monitoring").find_resources(
        "AWS::Scheduler::Schedule", {"Properties": {"Name": "mlops-kit-batch"}}
    )
    assert schedules == {}


@pytest.fixture(scope="module")
def scheduled() -> Template:
    config = load_config({"batch": {"schedule": "cron(0 2 * * ? *)", "schedule_input": "daily/"}})
    stack = Stack(App(), "BatchOnly", env={"account": "123456789012", "region": "us-east-1"})
    key = kms.Key(stack, "Key")
    BatchScoring(
        stack,
        "Batch",
        config=config.batch,
        project=config.project_name,
        registry=ModelRegistry(stack, "Registry", group_name="g", removal_policy=RemovalPolicy.DESTROY),
        data_bucket=s3.Bucket(stack, "Data"),
        artifacts_bucket=s3.Bucket(stack, "Artifacts"),
        key=key,
        topic=sns.Topic(stack, "Topic"),
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
        image_repository=("683313688378", "sagemaker-scikit-learn"),
        instance_type="ml.m5.large",
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return Template.from_stack(stack)


def test_a_configured_schedule_invokes_the_start_function_with_the_scheduled_time(scheduled: Template) -> None:
    scheduled.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Name": "mlops-kit-batch",
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "Target": {
                "Input": '{"source":"schedule","scheduled_time":"<aws.scheduler.scheduled-time>"}',
                "RetryPolicy": {"MaximumRetryAttempts": 2},
                "DeadLetterConfig": {"Arn": Match.any_value()},
            },
        },
    )
    role = next(
        r
        for r in scheduled.find_resources("AWS::IAM::Role").values()
        if "scheduler.amazonaws.com" in str(r["Properties"]["AssumeRolePolicyDocument"])
    )
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"}
    }
