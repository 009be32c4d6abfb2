"""The quality monitor as synthesized: its function's exact grants, the schedule, the drop alarm (missing data is
not a breach) and the rule that hands its ALARM to drift's retrain function."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from cdk.config import QualityConfig
from mlops_kit.quality import naming
from mlops_kit.quality.settings import LabelIntakeSettings, QualitySettings
from tests.infrastructure.functions import deployed_settings
from tests.infrastructure.test_monitoring_stack import actions_of, resources_of, statements

ENDPOINT = "mlops-kit-endpoint"
DEFAULTS = QualityConfig()


def test_the_run_function_may_make_exactly_the_calls_it_makes(stack_template: Any) -> None:
    found = statements(stack_template("monitoring"), "QualityRunRole")

    granted = {(a, r) for s in found for a in actions_of(s) for r in resources_of(s)}

    assert {a for a, _ in granted} == {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments",
        "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackageGroup",
        "s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey",
        "cloudwatch:PutMetricData", "sqs:SendMessage",
    }  # fmt: skip
    assert {r for a, r in granted if a == "s3:GetObject"} == {
        f"<mlops-kit-data-bucket-arn>/{DEFAULTS.labels_prefix}/*",
        f"<mlops-kit-artifacts-bucket-arn>/capture/{ENDPOINT}/*",
    }
    assert {r for a, r in granted if a == "s3:PutObject"} == {
        f"<mlops-kit-artifacts-bucket-arn>/{naming.reports_prefix(ENDPOINT)}/*"
    }
    (put_metrics,) = [s for s in found if actions_of(s) == ["cloudwatch:PutMetricData"]]
    assert put_metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": naming.METRIC_NAMESPACE}}


def test_the_function_settings_come_from_the_quality_config(templates: dict[str, dict[str, Any]]) -> None:
    settings = deployed_settings(templates, "quality_run", QualitySettings)

    assert settings.endpoint_name == ENDPOINT
    assert (settings.key, settings.key_column, settings.label_column) == ("business_key", "transaction_id", "label")
    assert settings.business_key_path == "transaction.transaction_id"
    assert (settings.window_hours, settings.label_delay_hours) == (DEFAULTS.window_hours, DEFAULTS.label_delay_hours)
    assert (settings.min_samples, settings.max_drop, settings.primary_metric) == (200, 0.05, "roc_auc")


def test_the_schedule_passes_its_scheduled_time(stack_template: Any) -> None:
    schedules = stack_template("monitoring").find_resources("AWS::Scheduler::Schedule").values()

    (schedule,) = [s for s in schedules if "QualityRun" in json.dumps(s)]

    assert schedule["Properties"]["ScheduleExpression"] == DEFAULTS.schedule
    assert json.loads(schedule["Properties"]["Target"]["Input"]) == {
        "source": "schedule",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


def test_the_drop_alarm_needs_a_datapoint_and_treats_missing_data_as_no_breach(stack_template: Any) -> None:
    stack_template("monitoring").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": naming.quality_alarm(ENDPOINT),
            "Threshold": DEFAULTS.max_drop,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Metrics": [
                Match.object_like(
                    {
                        "MetricStat": Match.object_like(
                            {
                                "Metric": {
                                    "Namespace": naming.METRIC_NAMESPACE,
                                    "MetricName": naming.DROP_METRIC,
                                    "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}],
                                }
                            }
                        )
                    }
                )
            ],
        },
    )


def test_the_drop_alarm_retrains_through_drifts_retrain_function(stack_template: Any) -> None:
    rules = stack_template("monitoring").find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.cloudwatch"]}}}
    )

    (rule,) = [r for r in rules.values() if naming.quality_alarm(ENDPOINT) in json.dumps(r)]

    assert rule["Properties"]["EventPattern"]["detail"] == {
        "alarmName": [naming.quality_alarm(ENDPOINT)],
        "state": {"value": ["ALARM"]},
    }
    (target,) = rule["Properties"]["Targets"]
    assert "DriftRetrain" in target["Arn"]["Fn::GetAtt"][0]
    assert "DriftRetrainDeadLetters" in target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]


def test_label_events_reach_the_intake_function_which_may_only_write_labels_and_rejections(
    stack_template: Any, templates: dict[str, dict[str, Any]]
) -> None:
    monitoring = stack_template("monitoring")
    # The rule matches this endpoint's label events and hands them to the intake, with a dead-letter queue,
    rules = monitoring.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": {"source": [naming.LABEL_EVENT_SOURCE]}}},
    )
    ((_, rule),) = rules.items()
    assert rule["Properties"]["EventPattern"] == {
        "source": [naming.LABEL_EVENT_SOURCE],
        "detail-type": [naming.LABEL_EVENT_DETAIL_TYPE],
        "detail": {"endpoint_name": [ENDPOINT]},
    }
    (target,) = rule["Properties"]["Targets"]
    assert "QualityLabels" in json.dumps(target["Arn"])
    assert "DeadLetterConfig" in target
    # its function writes exactly the label-event and rejected prefixes (and its dead letters), nothing else,
    found = statements(monitoring, "QualityLabelsRole")
    granted = {(a, r) for s in found for a in actions_of(s) for r in resources_of(s)}
    assert {a for a, _ in granted} == {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments",
        "s3:PutObject", "kms:GenerateDataKey", "kms:Decrypt", "sqs:SendMessage",
    }  # fmt: skip
    assert {r for a, r in granted if a == "s3:PutObject"} == {
        f"<mlops-kit-data-bucket-arn>/{naming.label_events_prefix(DEFAULTS.labels_prefix)}/*",
        f"<mlops-kit-data-bucket-arn>/{naming.rejected_labels_prefix(DEFAULTS.labels_prefix)}/*",
    }
    # and its settings come from the quality config.
    settings = deployed_settings(templates, "quality_labels", LabelIntakeSettings)
    assert (settings.endpoint_name, settings.labels_prefix) == (ENDPOINT, DEFAULTS.labels_prefix)
    assert (settings.key_column, settings.label_column) == ("transaction_id", "label")
