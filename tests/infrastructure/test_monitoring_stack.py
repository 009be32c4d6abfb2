"""The monitoring stack: drift schedule, least-privilege roles, one alarm per feature, rules, the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from mlops_kit.features import fraud
from mlops_kit.monitoring import naming
from mlops_kit.monitoring.settings import DriftSettings
from tests.infrastructure.conftest import template_of
from tests.infrastructure.functions import resolved

ENDPOINT = "mlops-kit-endpoint"
MONITORED = [*fraud.MODEL_FEATURES, naming.PREDICTION]


def rendered(value: Any) -> str:
    """A template value as text, every CloudFormation token written as <token>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(rendered(p) for p in parts)
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return f"<{value['Fn::ImportValue']}>"
    return "<token>"


def statements(template: Any, role_fragment: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to roles whose logical id contains ``role_fragment``."""
    roles = {k for k in template.find_resources("AWS::IAM::Role") if role_fragment in k}
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        attached = {r["Ref"] for r in policy["Properties"]["Roles"]}
        if attached & roles:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert found, f"no policy for a role like {role_fragment}"
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def resources_of(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [rendered(r) for r in (resource if isinstance(resource, list) else [resource])]


def test_the_schedule_invokes_the_start_function_with_the_scheduled_time(stack_template: Any) -> None:
    monitoring = stack_template("monitoring")

    monitoring.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Name": naming.schedule_name(ENDPOINT),
            "ScheduleExpression": "rate(1 hour)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": {"Fn::GetAtt": [Match.string_like_regexp("DriftStartFunction"), "Arn"]},
                "Input": json.dumps(
                    {"source": "schedule", "scheduled_time": "<aws.scheduler.scheduled-time>"}, separators=(",", ":")
                ),
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            },
        },
    )


def test_the_schedule_role_is_for_scheduler_in_this_account_and_may_only_invoke_the_start_function(
    stack_template: Any,
) -> None:
    monitoring = stack_template("monitoring")
    schedules = monitoring.find_resources("AWS::Scheduler::Schedule").values()
    (schedule,) = [s for s in schedules if "DriftStart" in json.dumps(s)]  # the quality schedule: tests/**/quality
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = monitoring.find_resources("AWS::IAM::Role")[role_id]["Properties"]

    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    found = statements(monitoring, role_id)
    # Invoke the start function; put what it cannot deliver into the start function's dead-letter queue.
    assert {a for s in found for a in actions_of(s)} == {"lambda:InvokeFunction", "sqs:SendMessage", *DEAD_LETTER_KEY}
    invoke = [s for s in found if actions_of(s) == ["lambda:InvokeFunction"]]
    targets = {
        json.dumps(r) for s in invoke for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert targets
    assert all("DriftStartFunction" in t for t in targets), targets
    dead_letters = {json.dumps(s["Resource"]) for s in found if actions_of(s) == ["sqs:SendMessage"]}
    assert len(dead_letters) == 1
    assert all("DriftStartDeadLettersQueue" in q for q in dead_letters), dead_letters


DEAD_LETTER_KEY = ("kms:GenerateDataKey", "kms:Decrypt")  # sending to the KMS-encrypted dead-letter queue


def test_every_model_feature_and_the_prediction_has_a_drift_alarm_at_the_act_threshold(stack_template: Any) -> None:
    monitoring = stack_template("monitoring")

    alarms = monitoring.find_resources(
        "AWS::CloudWatch::Alarm",
        {
            "Properties": {
                "Namespace": naming.METRIC_NAMESPACE,
                "MetricName": naming.PSI_METRIC,
                "Statistic": "Maximum",
                "Period": 3600,
                "Threshold": 0.2,
                "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "TreatMissingData": "ignore",
                "AlarmActions": [{"Fn::ImportValue": "mlops-kit-notification-topic-arn"}],
            }
        },
    )

    by_feature = {
        next(d["Value"] for d in a["Properties"]["Dimensions"] if d["Name"] == "Feature"): a["Properties"]
        for a in alarms.values()
    }
    assert sorted(by_feature) == sorted(MONITORED)
    for feature, alarm in by_feature.items():
        assert alarm["AlarmName"] == naming.drift_alarm(ENDPOINT, feature)
        assert {"Name": "EndpointName", "Value": ENDPOINT} in alarm["Dimensions"]


def test_the_publish_rule_matches_only_this_endpoints_drift_jobs_when_they_end(stack_template: Any) -> None:
    stack_template("monitoring").has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Processing Job State Change"],
                "detail": {
                    "ProcessingJobName": [{"prefix": naming.job_prefix(ENDPOINT)}],
                    "ProcessingJobStatus": ["Completed", "Failed", "Stopped"],
                },
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("DriftPublish"), "Arn"]}})],
        },
    )


def test_the_retrain_rule_matches_the_drift_alarms_going_to_alarm(stack_template: Any) -> None:
    monitoring = stack_template("monitoring")

    rules = monitoring.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.cloudwatch"]}}}
    ).values()
    (rule,) = [r for r in rules if "-drift-" in json.dumps(r)]  # the quality alarm's rule: tests/**/quality

    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    assert sorted(pattern["detail"]["alarmName"]) == sorted(naming.drift_alarm(ENDPOINT, f) for f in MONITORED)
    assert rendered(rule["Properties"]["Targets"][0]["Arn"]) == "<token>"
    assert "DriftRetrain" in rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]


def test_the_job_role_reads_capture_baselines_and_features_and_writes_only_reports(stack_template: Any) -> None:
    monitoring = stack_template("monitoring")
    monitoring.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
            },
            "Description": Match.string_like_regexp("the drift job"),
        },
    )

    found = statements(monitoring, "DriftJobRole")

    writes = [s for s in found if any(a.startswith("s3:Put") for a in actions_of(s))]
    assert [resources_of(s) for s in writes] == [[f"<mlops-kit-artifacts-bucket-arn>/drift/{ENDPOINT}/reports/*"]]
    reads = {r for s in found if "s3:GetObject*" in actions_of(s) for r in resources_of(s)}
    assert {
        f"<mlops-kit-artifacts-bucket-arn>/capture/{ENDPOINT}/*",
        "<mlops-kit-artifacts-bucket-arn>/pipelines/*/baseline.json",
        "<mlops-kit-data-bucket-arn>/features/*",
    } <= reads
    assert not any(a in ("s3:*", "sagemaker:*", "*") for s in found for a in actions_of(s))


def test_the_start_function_creates_only_this_endpoints_drift_jobs_and_passes_only_the_job_role(
    stack_template: Any,
) -> None:
    found = statements(stack_template("monitoring"), "DriftStartRole")

    create = next(s for s in found if "sagemaker:CreateProcessingJob" in actions_of(s))
    assert resources_of(create) == [
        f"arn:<token>:sagemaker:us-east-1:<token>:processing-job/{naming.job_prefix(ENDPOINT)}-*"
    ]
    (passing,) = [s for s in found if "iam:PassRole" in actions_of(s)]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "DriftJobRole" in passing["Resource"]["Fn::GetAtt"][0]


def test_metrics_may_only_be_put_into_the_drift_namespace(stack_template: Any) -> None:
    found = statements(stack_template("monitoring"), "DriftPublishRole")

    (put,) = [s for s in found if "cloudwatch:PutMetricData" in actions_of(s)]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": naming.METRIC_NAMESPACE}}


def test_retraining_may_start_only_the_training_pipeline(stack_template: Any) -> None:
    found = statements(stack_template("monitoring"), "DriftRetrainRole")

    (start,) = [s for s in found if "sagemaker:StartPipelineExecution" in actions_of(s)]
    assert sorted(actions_of(start)) == ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]
    assert resources_of(start) == ["arn:<token>:sagemaker:us-east-1:<token>:pipeline/mlops-kit-training"]


def test_the_drift_job_reads_capture_where_the_endpoint_writes_it(stack_template: Any) -> None:
    (variables,) = [
        f["Properties"]["Environment"]["Variables"]
        for f in stack_template("monitoring").find_resources("AWS::Lambda::Function").values()
        if "DriftStart" in json.dumps(f["Properties"].get("Role", ""))
    ]
    (destination,) = [
        o["Value"] for k, o in stack_template("serving").to_json()["Outputs"].items() if k.startswith("CaptureUri")
    ]

    # Both are s3://<the artifacts bucket's name>/capture: the same bucket token, the same key prefix.
    separator, (scheme, bucket, prefix) = destination["Fn::Join"]
    assert (separator, scheme, prefix) == ("", "s3://", "/capture")
    parts = variables[DriftSettings.VARIABLE]["Fn::Join"][1]
    (at,) = [i for i in range(1, len(parts)) if isinstance(parts[i - 1], str) and '"capture_uri"' in parts[i - 1][-20:]]
    assert parts[at - 1].endswith('"s3://')
    assert json.dumps(parts[at], sort_keys=True) == json.dumps(bucket, sort_keys=True)
    assert parts[at + 1].startswith('/capture"')


@pytest.fixture(scope="module")
def dashboard(stack_template: Any) -> dict[str, Any]:
    (resource,) = stack_template("monitoring").find_resources("AWS::CloudWatch::Dashboard").values()
    return {
        "name": resource["Properties"]["DashboardName"],
        "body": json.loads(rendered(resource["Properties"]["DashboardBody"])),
    }


def test_the_dashboard_draws_psi_per_feature_with_the_investigate_and_act_bands(dashboard: dict[str, Any]) -> None:
    widgets = [w["properties"] for w in dashboard["body"]["widgets"]]

    psi = [w for w in widgets if w.get("title", "").startswith("PSI")]
    drawn = {m[5] for w in psi for m in w["metrics"]}
    assert drawn == set(MONITORED)
    for widget in psi:
        bands = {a["label"]: a["value"] for a in widget["annotations"]["horizontal"]}
        assert bands == {"investigate": 0.1, "act": 0.2}


def test_the_dashboard_keeps_the_serving_widgets_and_the_rollback_alarms(dashboard: dict[str, Any]) -> None:
    widgets = [w["properties"] for w in dashboard["body"]["widgets"]]
    titles = [w.get("title") for w in widgets]

    assert dashboard["name"] == "mlops-kit-platform"
    for title in ("Invocations per variant", "5xx errors per variant", "Rollout: candidate traffic (%)"):
        assert title in titles
    (rollback,) = [w for w in widgets if w.get("title") == "Rollback alarms"]
    names = sorted(a.rsplit(":alarm:", 1)[1] for a in rollback["alarms"])
    # The business-metric alarm is put for the length of a canary only, so the dashboard cannot name it.
    assert names == sorted(
        [f"{ENDPOINT}-{slot}-{kind}" for slot in ("blue", "green") for kind in ("5xx-rate", "p99-latency")]
    )
    (drift_alarms,) = [w for w in widgets if w.get("title") == "Drift alarms"]
    assert len(drift_alarms["alarms"]) == len(MONITORED)


def test_the_dashboard_moved_out_of_the_serving_stack(stack_template: Any) -> None:
    assert stack_template("serving").find_resources("AWS::CloudWatch::Dashboard") == {}


@pytest.fixture(scope="module")
def tuned(tuned_templates: dict[str, dict[str, Any]]) -> Any:
    """The monitoring stack synthesized with drift settings changed from their defaults (``TUNED_DRIFT``, conftest)."""
    from aws_cdk.assertions import Template

    return Template.from_json(template_of(tuned_templates, "monitoring"))


def test_drift_config_sets_the_schedule_the_alarms_and_whether_alarms_retrain(tuned: Any) -> None:
    tuned.has_resource_properties("AWS::Scheduler::Schedule", {"ScheduleExpression": "rate(15 minutes)"})
    alarms = tuned.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": naming.PSI_METRIC}})
    assert len(alarms) == len(MONITORED)
    assert {(a["Properties"]["Threshold"], a["Properties"]["Period"]) for a in alarms.values()} == {(0.3, 900)}
    # retrain_on_drift false: no retrain function and no rule on the alarms' state changes
    assert (
        tuned.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.cloudwatch"]}}})
        == {}
    )
    assert not [k for k in tuned.find_resources("AWS::Lambda::Function") if "DriftRetrain" in k]
    (start,) = [
        DriftSettings.model_validate_json(resolved(variables[DriftSettings.VARIABLE]))
        for f in tuned.find_resources("AWS::Lambda::Function").values()
        if DriftSettings.VARIABLE in (variables := f["Properties"].get("Environment", {}).get("Variables", {}))
    ]
    assert (start.window_hours, start.psi_act) == (6, 0.3)
    assert (start.min_window_rows, start.min_baseline_rows) == (50, 400)
