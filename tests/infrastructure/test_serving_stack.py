"""The serving stack: model role, data capture location, rollback alarms, dashboard, promotion workflow."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from mlops_kit.serving import naming

ENDPOINT = "mlops-kit-endpoint"


def _statements(template: Any) -> list[dict[str, Any]]:
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_rollback_alarms_exist_for_both_slots_and_the_business_metric(stack_template: Any) -> None:
    serving = stack_template("serving")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in serving.find_resources("AWS::CloudWatch::Alarm").values()
    }

    expected = {naming.business_alarm(ENDPOINT)} | {
        name
        for slot in naming.SLOTS
        for name in (naming.error_rate_alarm(ENDPOINT, slot), naming.latency_alarm(ENDPOINT, slot))
    }
    assert set(alarms) == expected
    error_rate = alarms[naming.error_rate_alarm(ENDPOINT, "green")]
    assert error_rate["Threshold"] == 1.0
    assert next(m for m in error_rate["Metrics"] if "Expression" in m)["Expression"] == "100 * errors / invocations"
    latency = alarms[naming.latency_alarm(ENDPOINT, "blue")]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", 500_000)
    assert latency["TreatMissingData"] == "notBreaching"
    assert all(a["AlarmActions"] for a in alarms.values())


def test_the_model_role_reads_models_and_features_and_writes_capture_only(stack_template: Any) -> None:
    serving = stack_template("serving")
    statements = _statements(serving)
    dynamo = [
        s
        for s in statements
        if any(a.startswith("dynamodb:") for a in _actions(s))
        and "Resource" in s
        and "feature-table" in json.dumps(s["Resource"])
    ]

    assert dynamo, "the model role can read the online feature table"
    assert {a for s in dynamo for a in _actions(s)} == {"dynamodb:GetItem", "dynamodb:BatchGetItem"}
    capture = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert any(f"/capture/{ENDPOINT}/*" in json.dumps(s["Resource"]) for s in capture)


def test_the_dashboard_shows_variants_alarms_and_rollout(stack_template: Any) -> None:
    (dashboard,) = stack_template("serving").find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for text in ("Invocations per variant", "5xx errors per variant", "p99", "Rollback alarms", naming.ROLLOUT_METRIC):
        assert text in body


def test_the_state_machine_logs_and_traces(stack_template: Any) -> None:
    stack_template("serving").has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "DefinitionSubstitutions": {"PromotionFunctionArn": Match.any_value(), "EndpointName": ENDPOINT},
        },
    )


def test_registry_approvals_of_this_group_start_the_promotion(stack_template: Any) -> None:
    stack_template("serving").has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": ["mlops-kit-models"], "ModelApprovalStatus": ["Approved"]},
            }
        },
    )


def test_the_promotion_steps_act_on_this_endpoint_only(stack_template: Any) -> None:
    statements = _statements(stack_template("serving"))
    update = next(s for s in statements if "sagemaker:UpdateEndpoint" in _actions(s))

    assert f"endpoint/{ENDPOINT}" in json.dumps(update["Resource"])
    assert "*" not in json.dumps(update["Resource"])
