"""Multi-account environments: the tooling stacks share the registry's versions, the model artifacts and the key
with each environment's account, exactly and no more; each environment's stack goes to its own account."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.support import session_synth

TOOLING, STAGING, PRODUCTION = "111111111111", "222222222222", "333333333333"
RELEASE_MANAGERS = f"arn:aws:iam::{TOOLING}:role/ReleaseManagers"
ENVIRONMENTS = {
    "mlops": {
        "account": TOOLING,
        "environments": {
            "staging": {"account": STAGING},
            "production": {"account": PRODUCTION, "approvers": [RELEASE_MANAGERS]},
        },
        # The approval page answers each environment's approvals by that environment's approvers.
        "approval_page": {
            "enabled": True,
            "identities": {"ana@example.com": "approver-role/ana", "rhea@example.com": RELEASE_MANAGERS},
        },
        "notifications": {"approver_emails": ["ana@example.com", "rhea@example.com"]},
    }
}


def _root(account: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:root"]]}


ENVIRONMENT_PRINCIPALS = {"AWS": [_root(STAGING), _root(PRODUCTION)]}


# Synthesized in the background from the start of the session (tests/conftest.py), as `assembly_with` names them:
# the promotion and local-deploy tests deploy the same assemblies.
environments_assembly = session_synth("environments_assembly", "cdk.out.environments", ENVIRONMENTS)


@pytest.fixture(scope="module")
def assembly(environments_assembly: Any) -> Any:
    return environments_assembly


def _template(assembly: Any, stack_name: str) -> Template:
    return Template.from_json(assembly.stack(stack_name).template())


def test_each_stack_is_deployed_to_its_account(assembly: Any) -> None:
    manifest = json.loads((assembly.directory / "manifest.json").read_text())
    targets = {
        artifact["properties"]["stackName"]: artifact["environment"]
        for artifact in manifest["artifacts"].values()
        if artifact.get("type") == "aws:cloudformation:stack"
    }

    assert targets == {
        "mlops-kit-data": f"aws://{TOOLING}/us-east-1",
        "mlops-kit-training": f"aws://{TOOLING}/us-east-1",
        "mlops-kit-serving": f"aws://{TOOLING}/us-east-1",
        "mlops-kit-monitoring": f"aws://{TOOLING}/us-east-1",
        "mlops-kit-serving-staging": f"aws://{STAGING}/us-east-1",
        "mlops-kit-serving-production": f"aws://{PRODUCTION}/us-east-1",
    }


def test_the_registry_shares_reading_its_versions_with_the_environment_accounts_only(assembly: Any) -> None:
    group = assembly.stack("mlops-kit-training").template()["Resources"]
    (policy,) = [
        r["Properties"]["ModelPackageGroupPolicy"]
        for r in group.values()
        if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    ]

    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == ENVIRONMENT_PRINCIPALS
    assert statement["Action"] == [
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ]
    resources = [json.dumps(r) for r in statement["Resource"]]
    assert len(resources) == 2
    assert f":sagemaker:us-east-1:{TOOLING}:model-package-group/mlops-kit-models" in resources[0]
    assert f":sagemaker:us-east-1:{TOOLING}:model-package/mlops-kit-models/*" in resources[1]


def test_the_artifacts_bucket_shares_only_reading_models_with_the_environment_accounts(assembly: Any) -> None:
    data = _template(assembly, "mlops-kit-data")

    data.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "EnvironmentsReadModels",
                            "Effect": "Allow",
                            "Principal": ENVIRONMENT_PRINCIPALS,
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Join": ["", [Match.any_value(), "/models/*"]]},
                        }
                    ]
                )
            }
        },
    )
    shared = [
        statement
        for resource in data.find_resources("AWS::S3::BucketPolicy").values()
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Principal") == ENVIRONMENT_PRINCIPALS
    ]
    assert len(shared) == 1  # no other bucket, prefix or action is shared


def test_the_key_lets_the_environment_accounts_decrypt_only_through_s3(assembly: Any) -> None:
    data = _template(assembly, "mlops-kit-data")
    (key,) = data.find_resources("AWS::KMS::Key").values()

    shared = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == ENVIRONMENT_PRINCIPALS and "ArnEquals" not in s.get("Condition", {})
    ]  # the accounts as a whole; the model roles' table reads are below
    assert shared == [
        {
            "Sid": "EnvironmentsDecryptModels",
            "Effect": "Allow",
            "Principal": ENVIRONMENT_PRINCIPALS,
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        }
    ]


@pytest.mark.parametrize("stack_name", ["mlops-kit-serving-staging", "mlops-kit-serving-production"])
def test_an_environment_serves_with_a_role_that_reads_only_the_tooling_accounts_models(
    assembly: Any, stack_name: str
) -> None:
    environment = _template(assembly, stack_name)

    environment.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
            }
        },
    )
    environment.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::*/models/*"]]},
                            "Condition": {"StringEquals": {"s3:ResourceAccount": TOOLING}},
                        },
                        {
                            "Effect": "Allow",
                            # Decrypt reads the models, Encrypt and GenerateDataKey write the endpoint's capture.
                            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                            "Resource": {
                                "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":kms:us-east-1:{TOOLING}:key/*"]]
                            },
                            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                        },
                    ]
                )
            }
        },
    )


def test_a_single_account_platform_shares_nothing(templates: dict[str, dict[str, Any]]) -> None:
    assert not [name for name in templates if "-serving-" in name]
    text = json.dumps(templates)
    for shared in (
        "ModelPackageGroupPolicy", "EnvironmentsReadModels", "EnvironmentsDecryptModels", "EnvironmentWritesCapture",
        "target_environment", "EnvironmentsReadFeatures", "EnvironmentsReadRoutes", "EnvironmentsDecryptTables",
    ):  # fmt: skip
        assert shared not in text
    machines = [
        r
        for t in templates.values()
        for r in t["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert len(machines) == 1


# -- what each environment account holds -----------------------------------------------------------------------
def _resources(template: Template, kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.find_resources(kind).values()]


def _role(template: Template, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The role named ``name`` and the statements of its policies."""
    roles = template.find_resources("AWS::IAM::Role")
    ((logical_id, role),) = [(k, r) for k, r in roles.items() if r["Properties"].get("RoleName") == name]
    statements = [
        statement
        for policy in _resources(template, "AWS::IAM::Policy")
        if {"Ref": logical_id} in policy["Roles"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    return role["Properties"], statements


def _text(value: Any) -> str:
    """A template value as text, with ``Fn::Join``s joined and references shown as ``<Ref>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if "Fn::Join" in value:
        return "".join(_text(part) if not isinstance(part, dict) or "Fn::Join" in part else _ref(part)
                       for part in value["Fn::Join"][1])  # fmt: skip
    return _ref(value)


def _ref(value: dict[str, Any]) -> str:
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return f"<{json.dumps(value)}>"


@pytest.mark.parametrize(("name", "account"), [("staging", STAGING), ("production", PRODUCTION)])
def test_an_environments_deployment_role_trusts_exactly_its_promotion_steps_role(
    assembly: Any, name: str, account: str
) -> None:
    role, _ = _role(_template(assembly, f"mlops-kit-serving-{name}"), f"mlops-kit-deploy-{name}")

    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert _text(trust["Principal"]["AWS"]) == f"arn:aws:iam::{TOOLING}:root"
    assert list(trust["Condition"]) == ["ArnEquals"]
    assert _text(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == (
        f"arn:aws:iam::{TOOLING}:role/mlops-kit-promotion-{name}"
    )


@pytest.mark.parametrize(("name", "account"), [("staging", STAGING), ("production", PRODUCTION)])
def test_an_environments_deployment_role_acts_on_its_own_endpoint_only(assembly: Any, name: str, account: str) -> None:
    template = _template(assembly, f"mlops-kit-serving-{name}")
    _, statements = _role(template, f"mlops-kit-deploy-{name}")
    endpoint = f"mlops-kit-endpoint-{name}"

    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in _actions(s))]
    for statement in sagemaker:
        resources = _text(statement["Resource"]).split(" ")
        if resources == ["*"]:
            assert set(_actions(statement)) & {"sagemaker:ListEndpointConfigs", "sagemaker:ListEndpoints"}
            assert all(a.startswith("sagemaker:List") for a in _actions(statement) if a.startswith("sagemaker:"))
            continue
        for resource in resources:
            assert resource.startswith(f"arn:aws:sagemaker:us-east-1:{account}:"), resource
            assert resource.split(":", 5)[5].split("/", 1)[1] in (endpoint, f"{endpoint}-*"), resource
    (pass_role,) = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    (model_role,) = [
        k for k, r in template.find_resources("AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == f"mlops-kit-models-{name}"
    ]  # fmt: skip
    assert pass_role["Resource"] == {"Fn::GetAtt": [model_role, "Arn"]}
    alarms = {k for k, r in template.find_resources("AWS::CloudWatch::Alarm").items()}
    (describe,) = [s for s in statements if _actions(s) == ["cloudwatch:DescribeAlarms"]]
    assert {r["Fn::GetAtt"][0] for r in describe["Resource"]} == alarms
    assert not [s for s in statements if "sts:AssumeRole" in _actions(s) or "s3:" in json.dumps(s)]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.mark.parametrize("name", ["staging", "production"])
def test_an_environments_rollback_alarms_watch_its_endpoint_in_its_account(assembly: Any, name: str) -> None:
    alarms = _resources(_template(assembly, f"mlops-kit-serving-{name}"), "AWS::CloudWatch::Alarm")

    names = [a["AlarmName"] for a in alarms]
    assert len(set(names)) == 4
    assert all(alarm.startswith(f"mlops-kit-endpoint-{name}-") for alarm in names)
    assert len(alarms) == 4
    dimensions = {
        d["Value"] for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "EndpointName"
    } | {d["Value"] for a in alarms for d in a.get("Dimensions", []) if d["Name"] == "EndpointName"}  # fmt: skip
    assert dimensions == {f"mlops-kit-endpoint-{name}"}


@pytest.mark.parametrize(("name", "account"), [("staging", STAGING), ("production", PRODUCTION)])
def test_an_environments_capture_goes_to_the_tooling_bucket_from_its_model_role_only(
    assembly: Any, name: str, account: str
) -> None:
    data = _template(assembly, "mlops-kit-data")
    statements = [
        s
        for policy in _resources(data, "AWS::S3::BucketPolicy")
        for s in policy["PolicyDocument"]["Statement"]
        if s.get("Sid", "").startswith("EnvironmentWritesCapture")
        and _text(s["Condition"]["ArnEquals"]["aws:PrincipalArn"])
        == f"arn:aws:iam::{account}:role/mlops-kit-models-{name}"
    ]

    (statement,) = statements
    assert statement["Action"] == "s3:PutObject"
    assert _text(statement["Principal"]["AWS"]) == f"arn:aws:iam::{account}:root"
    assert _text(statement["Resource"]).endswith(f"/capture/mlops-kit-endpoint-{name}/*")
    (bucket,) = [b for b in _resources(data, "AWS::S3::Bucket") if "LifecycleConfiguration" in b and any(
        r["Id"] == "ExpireCapture" for r in b["LifecycleConfiguration"]["Rules"]
    )]  # fmt: skip
    expiry = {r.get("Prefix"): r.get("ExpirationInDays") for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert expiry[f"capture/mlops-kit-endpoint-{name}/"] == expiry["capture/mlops-kit-endpoint/"] == 90
    (key,) = _resources(data, "AWS::KMS::Key")
    (encrypt,) = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Sid", "").startswith("EnvironmentEncryptsCapture")
        and _text(s["Principal"]["AWS"]).endswith(f"{account}:root")
    ]
    assert sorted(encrypt["Action"]) == ["kms:Encrypt", "kms:GenerateDataKey"]
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


# -- the tooling account's promotion of each environment -------------------------------------------------------
def _steps_settings(serving: Template, name: str) -> str:
    marker = f'"target_environment":{{"name":"{name}"'
    (function,) = [
        f
        for f in _resources(serving, "AWS::Lambda::Function")
        if marker in _text(f["Environment"]["Variables"].get("MLOPS_PROMOTION_SETTINGS", ""))
    ]
    return _text(function["Environment"]["Variables"]["MLOPS_PROMOTION_SETTINGS"])


def test_each_environment_has_its_promotion_state_machine_in_the_tooling_account(assembly: Any) -> None:
    serving = _template(assembly, "mlops-kit-serving")
    names = sorted(m.get("StateMachineName", "") for m in _resources(serving, "AWS::StepFunctions::StateMachine"))

    assert names == ["", "mlops-kit-promotion-production", "mlops-kit-promotion-staging"]
    staging = _steps_settings(serving, "staging")
    assert '"endpoint":{"name":"mlops-kit-endpoint-staging"' in staging
    assert f'"model_role_arn":"arn:aws:iam::{STAGING}:role/mlops-kit-models-staging"' in staging
    assert f'"deployment_role_arn":"arn:aws:iam::{STAGING}:role/mlops-kit-deploy-staging"' in staging
    assert '"next":"production","next_state_machine_arn":"<' in staging
    assert '"previous"' not in staging
    production = _steps_settings(serving, "production")
    assert '"previous":"staging"' in production
    assert "next_state_machine_arn" not in production


@pytest.mark.parametrize(
    ("name", "account", "other"), [("staging", STAGING, PRODUCTION), ("production", PRODUCTION, STAGING)]
)
def test_a_promotion_steps_role_may_assume_its_environments_deployment_role_only(
    assembly: Any, name: str, account: str, other: str
) -> None:
    _, statements = _role(_template(assembly, "mlops-kit-serving"), f"mlops-kit-promotion-{name}")

    (assume,) = [s for s in statements if "sts:AssumeRole" in _actions(s)]
    assert _actions(assume) == ["sts:AssumeRole"]
    assert _text(assume["Resource"]) == f"arn:aws:iam::{account}:role/mlops-kit-deploy-{name}"
    # The endpoint calls go through that role: none of them is granted here.
    text = json.dumps(statements)
    for action in ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "iam:PassRole", "application-autoscaling:"):
        assert action not in text
    assert other not in text


def test_staging_may_start_productions_promotion_and_production_none(assembly: Any) -> None:
    serving = _template(assembly, "mlops-kit-serving")
    machines = {
        r["Properties"].get("StateMachineName"): k
        for k, r in serving.find_resources("AWS::StepFunctions::StateMachine").items()
    }
    _, staging = _role(serving, "mlops-kit-promotion-staging")
    _, production = _role(serving, "mlops-kit-promotion-production")

    (start,) = [s for s in staging if "states:StartExecution" in _actions(s)]
    assert start["Resource"] == {"Ref": machines["mlops-kit-promotion-production"]}
    assert not [s for s in production if "states:StartExecution" in _actions(s)]


def test_a_registry_approval_starts_the_first_environments_promotion(assembly: Any) -> None:
    serving = _template(assembly, "mlops-kit-serving")
    machines = {
        r["Properties"].get("StateMachineName"): k
        for k, r in serving.find_resources("AWS::StepFunctions::StateMachine").items()
    }
    triggers = [
        f for f in _resources(serving, "AWS::Lambda::Function")
        if "MLOPS_PROMOTION_TRIGGER_SETTINGS" in f["Environment"]["Variables"]
    ]  # fmt: skip

    (trigger,) = triggers
    assert f'"Ref": "{machines["mlops-kit-promotion-staging"]}"' in json.dumps(trigger["Environment"])


def test_the_approval_service_answers_in_each_environments_stage(assembly: Any) -> None:
    serving = _template(assembly, "mlops-kit-serving")
    rules = [r for r in _resources(serving, "AWS::Events::Rule") if "ModelLifeCycle" in json.dumps(r["EventPattern"])]

    (rule,) = rules
    assert rule["EventPattern"]["detail"]["ModelLifeCycle"]["Stage"] == ["Staging", "staging", "production"]
    (policy,) = [
        p for p in _resources(serving, "AWS::IAM::ManagedPolicy") if "sagemaker:ModelLifeCycle:Stage" in json.dumps(p)
    ]
    (answer,) = [s for s in policy["PolicyDocument"]["Statement"] if "sagemaker:ModelLifeCycle:Stage" in json.dumps(s)]
    assert answer["Condition"]["StringEquals"]["sagemaker:ModelLifeCycle:Stage"] == ["Staging", "staging", "production"]


@pytest.mark.parametrize("name", ["staging", "production"])
def test_an_environments_steps_copy_the_code_bundle_under_the_shared_models_prefix_only(
    assembly: Any, name: str
) -> None:
    serving = _template(assembly, "mlops-kit-serving")
    _, statements = _role(serving, f"mlops-kit-promotion-{name}")

    settings = _steps_settings(serving, name)
    assert '"shared_code_uri":"s3://<' in settings
    assert '>/models/code/"' in settings
    (read,) = [s for s in statements if _actions(s) == ["s3:GetObject"]]
    bundle = _text(read["Resource"])
    assert bundle.startswith("arn:aws:s3:::cdk-hnb659fds-assets-111111111111-us-east-1/")
    assert "*" not in bundle  # exactly the bundle's object
    writes = [s for s in statements if any(a.startswith("s3:PutObject") for a in _actions(s))]
    assert [_text(s["Resource"]).rsplit(">", 1)[-1] for s in writes] == ["/models/code/*"]


@pytest.mark.parametrize("name", ["staging", "production"])
def test_an_environments_models_name_the_tooling_accounts_tables_by_arn(assembly: Any, name: str) -> None:
    settings = _steps_settings(_template(assembly, "mlops-kit-serving"), name)

    # DynamoDB takes a table ARN as TableName for another account's table; a bare name would be the caller's.
    assert '"MLOPS_ONLINE_TABLE":"<{"Fn::ImportValue": "mlops-kit-feature-table-arn"}>"' in settings
    assert '"MLOPS_EXPERIMENT_TABLE":"<{"Fn::ImportValue": "mlops-kit-experiment-table-arn"}>"' in settings


def _table_statements(data: Template, sid_prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for table in _resources(data, "AWS::DynamoDB::Table")
        for s in (table.get("ResourcePolicy") or {}).get("PolicyDocument", {}).get("Statement", [])
        if s.get("Sid", "").startswith(sid_prefix)
    ]


MODEL_ROLES = {
    "ArnEquals": {
        "aws:PrincipalArn": [f"arn:aws:iam::{STAGING}:role/mlops-kit-models-staging",
                             f"arn:aws:iam::{PRODUCTION}:role/mlops-kit-models-production"]
    }
}  # fmt: skip


def _conditions(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        operator: {key: [_text(v) for v in values] if isinstance(values, list) else _text(values)
                   for key, values in keys.items()}
        for operator, keys in statement["Condition"].items()
    }  # fmt: skip


def test_the_online_table_lets_the_environments_model_roles_batch_read_only(assembly: Any) -> None:
    data = _template(assembly, "mlops-kit-data")

    (read,) = _table_statements(data, "EnvironmentsReadFeatures")
    assert read["Principal"] == ENVIRONMENT_PRINCIPALS
    assert read["Action"] == "dynamodb:BatchGetItem"  # what the inference script's online lookup calls
    assert read["Resource"] == "*"  # the table the policy is attached to
    assert _conditions(read) == MODEL_ROLES


def test_the_experiments_table_lets_the_environments_model_roles_route_and_record_exposures_only(
    assembly: Any,
) -> None:
    data = _template(assembly, "mlops-kit-data")

    (routes,) = _table_statements(data, "EnvironmentsReadRoutes")
    (exposures,) = _table_statements(data, "EnvironmentsRecordExposures")
    assert sorted(routes["Action"]) == ["dynamodb:GetItem", "dynamodb:Query"]
    experiment_items = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["experiment"]}}
    assert _conditions(routes) == {**MODEL_ROLES, **experiment_items}
    assert exposures["Action"] == "dynamodb:PutItem"
    exposure_items = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}}
    assert _conditions(exposures) == {**MODEL_ROLES, **exposure_items}
    for statement in (routes, exposures):
        assert statement["Principal"] == ENVIRONMENT_PRINCIPALS
        assert statement["Resource"] == "*"
    tables_with_policies = [t for t in _resources(data, "AWS::DynamoDB::Table") if "ResourcePolicy" in t]
    assert len(tables_with_policies) == 2  # the online and experiments tables; not the promotion table


def test_the_key_lets_the_environments_model_roles_decrypt_only_through_dynamodb(assembly: Any) -> None:
    data = _template(assembly, "mlops-kit-data")
    (key,) = _resources(data, "AWS::KMS::Key")

    (decrypt,) = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "EnvironmentsDecryptTables"]
    assert decrypt["Principal"] == ENVIRONMENT_PRINCIPALS
    assert decrypt["Action"] == "kms:Decrypt"
    assert _conditions(decrypt) == {
        **MODEL_ROLES,
        "StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"},
    }


@pytest.mark.parametrize(("name", "account"), [("staging", STAGING), ("production", PRODUCTION)])
def test_an_environments_model_role_may_read_features_and_route_on_the_tooling_accounts_tables(
    assembly: Any, name: str, account: str
) -> None:
    _, statements = _role(_template(assembly, f"mlops-kit-serving-{name}"), f"mlops-kit-models-{name}")
    tables = f"arn:aws:dynamodb:us-east-1:{TOOLING}:table/*"

    dynamodb = {
        (tuple(_actions(s)), json.dumps(s.get("Condition", {}), sort_keys=True))
        for s in statements
        if any(a.startswith("dynamodb:") for a in _actions(s))
    }
    assert dynamodb == {
        (("dynamodb:BatchGetItem",), "{}"),
        (("dynamodb:GetItem", "dynamodb:Query"),
         json.dumps({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["experiment"]}}, sort_keys=True)),
        (("dynamodb:PutItem",),
         json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["exposure#*"]}}, sort_keys=True)),
    }  # fmt: skip
    assert {_text(s["Resource"]) for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))} == {tables}
    (decrypt,) = [s for s in statements if s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                  == "dynamodb.us-east-1.amazonaws.com"]  # fmt: skip
    assert _actions(decrypt) == ["kms:Decrypt"]
    assert _text(decrypt["Resource"]) == f"arn:aws:kms:us-east-1:{TOOLING}:key/*"
    (invoke,) = [s for s in statements if _actions(s) == ["sagemaker:InvokeEndpoint"]]
    assert _text(invoke["Resource"]) == f"arn:aws:sagemaker:us-east-1:{account}:endpoint/mlops-kit-endpoint-{name}"


# -- tearing an environment down -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "account"), [("staging", STAGING), ("production", PRODUCTION)])
def test_an_environments_teardown_may_remove_only_its_endpoint_and_what_was_named_for_it(
    assembly: Any, name: str, account: str
) -> None:
    template = _template(assembly, f"mlops-kit-serving-{name}")
    endpoint = f"mlops-kit-endpoint-{name}"
    (resource,) = template.find_resources("Custom::ServingTeardown").values()
    assert resource["Properties"]["EndpointName"] == endpoint
    functions = template.find_resources("AWS::Lambda::Function")
    (function,) = [f for k, f in functions.items() if k in json.dumps(resource["Properties"]["ServiceToken"])]
    assert f'{{"endpoint_name":"{endpoint}"}}' in function["Properties"]["Environment"]["Variables"].values()
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in _resources(template, "AWS::IAM::Policy")
        if {"Ref": role} in policy["Roles"]
        for s in policy["PolicyDocument"]["Statement"]
    ]

    # The resource goes before its function's permissions (CloudFormation deletes in reverse dependency order)
    assert any(d.startswith(role) for d in resource.get("DependsOn", []))
    for statement in statements:
        if all(a.startswith(("logs:", "xray:")) for a in _actions(statement)):
            continue  # its own log group and traces
        for resource_arn in _text(statement["Resource"]).split(" "):
            if resource_arn == "*":
                continue
            assert f":{account}:" in resource_arn, resource_arn  # this account's, named after this endpoint
            assert re.search(rf"[/:]{endpoint}(\b|/|-)", resource_arn), resource_arn
    granted = {a: _text(s["Resource"]) for s in statements for a in _actions(s)}
    deletes_alarms = " ".join(_text(s["Resource"]) for s in statements if "cloudwatch:DeleteAlarms" in _actions(s))
    for slot in ("blue", "green"):  # a canary's business alarm a stopped promotion left
        assert f":{account}:alarm:{endpoint}-{slot}-business-drop" in deletes_alarms
    assert granted["sagemaker:DeleteEndpoint"] == f"arn:aws:sagemaker:us-east-1:{account}:endpoint/{endpoint}"
    assert granted["sagemaker:DeleteModel"] == f"arn:aws:sagemaker:us-east-1:{account}:model/{endpoint}-*"
    (scaling,) = [s for s in statements if "application-autoscaling:DeregisterScalableTarget" in _actions(s)]
    assert scaling["Condition"]["StringEquals"]["application-autoscaling:service-namespace"] == "sagemaker"
    assert "sts:AssumeRole" not in granted  # it acts in its own account only


@pytest.mark.parametrize("name", ["staging", "production"])
def test_an_environments_deployment_role_is_deleted_before_its_teardown_runs(assembly: Any, name: str) -> None:
    template = _template(assembly, f"mlops-kit-serving-{name}")
    (teardown,) = template.find_resources("Custom::ServingTeardown")
    roles = template.find_resources("AWS::IAM::Role")
    (deployment,) = [k for k, r in roles.items() if r["Properties"].get("RoleName") == f"mlops-kit-deploy-{name}"]
    policies = [
        body
        for body in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": deployment} in body["Properties"]["Roles"]
    ]

    # CloudFormation deletes what depends on a resource first: the role and its policy, then the teardown
    assert teardown in roles[deployment]["DependsOn"]
    assert policies
    assert all(teardown in body["DependsOn"] for body in policies)


def test_the_serving_stack_names_the_environments_in_promotion_order(assembly: Any) -> None:
    outputs = _template(assembly, "mlops-kit-serving").find_outputs("PromotionEnvironments")

    assert [o["Value"] for o in outputs.values()] == ["staging,production"]  # `mlops promote` starts staging's


def test_the_approval_page_judges_each_environments_approvals_by_its_approvers(assembly: Any) -> None:
    from mlops_kit.promotion.approval_page import LINKS_VARIABLE, ApprovalPageSettings

    serving = _template(assembly, "mlops-kit-serving")
    variables = [f["Environment"]["Variables"] for f in _resources(serving, "AWS::Lambda::Function")]
    (page,) = [_text(v[ApprovalPageSettings.VARIABLE]) for v in variables if ApprovalPageSettings.VARIABLE in v]
    approver_role = page.split('"approvers":["<', 1)[1].split('>"]', 1)[0]  # approvals.approvers is the role only

    # Production's approvers and the approver role's sessions; staging takes approvals.approvers (none here)
    assert f'"environment_approvers":{{"staging":["<{approver_role}>"],' in page
    assert f'"production":["{RELEASE_MANAGERS}","<{approver_role}>"]}}' in page
    # Every promotion's steps sign links: the platform's and each environment's
    signers = [v for v in variables if LINKS_VARIABLE in v and "MLOPS_PROMOTION_SETTINGS" in v]
    assert len(signers) == 3


# -- a serverless staging in front of an instance-backed production (environments.<name>.serverless) -----------
# The tooling account is the emulator's own (tests/integration/promotion/test_environments.py promotes on it).
EMULATOR_TOOLING = "123456789012"
STAGING_SERVERLESS = {"memory_size_in_mb": 2048, "max_concurrency": 5, "provisioned_concurrency": 1}
SERVERLESS_STAGING = {
    "mlops": {
        "account": EMULATOR_TOOLING,
        "environments": {
            "staging": {"account": STAGING, "serverless": STAGING_SERVERLESS},
            "production": {"account": PRODUCTION},
        },
    }
}


serverless_staging_assembly = session_synth(
    "serverless_staging_assembly", "cdk.out.environments-serverless-staging", SERVERLESS_STAGING
)


@pytest.fixture(scope="module")
def serverless_staging(serverless_staging_assembly: Any) -> Any:
    return serverless_staging_assembly


def _capture_writes(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "s3:PutObject" in _actions(s) and "/capture/" in _text(s["Resource"])]


def test_a_serverless_environments_model_role_may_not_write_capture_and_the_bucket_admits_only_production(
    serverless_staging: Any,
) -> None:
    _, staging = _role(_template(serverless_staging, "mlops-kit-serving-staging"), "mlops-kit-models-staging")
    _, production = _role(_template(serverless_staging, "mlops-kit-serving-production"), "mlops-kit-models-production")
    data = _template(serverless_staging, "mlops-kit-data")
    bucket_writers = [
        _text(s["Condition"]["ArnEquals"]["aws:PrincipalArn"])
        for policy in _resources(data, "AWS::S3::BucketPolicy")
        for s in policy["PolicyDocument"]["Statement"]
        if s.get("Sid", "").startswith("EnvironmentWritesCapture")
    ]
    (key,) = _resources(data, "AWS::KMS::Key")
    key_writers = [
        _text(s["Principal"]["AWS"])
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Sid", "").startswith("EnvironmentEncryptsCapture")
    ]

    assert _capture_writes(staging) == []
    assert not [s for s in staging if "kms:GenerateDataKey" in _actions(s)]  # nothing to encrypt: it only reads
    (write,) = _capture_writes(production)
    assert _text(write["Resource"]).endswith("/capture/mlops-kit-endpoint-production/*")
    assert bucket_writers == [f"arn:aws:iam::{PRODUCTION}:role/mlops-kit-models-production"]
    assert key_writers == [f"arn:aws:iam::{PRODUCTION}:root"]


def test_a_serverless_environments_promotion_creates_its_endpoint_serverless_along_the_all_at_once_path(
    serverless_staging: Any,
) -> None:
    serving = _template(serverless_staging, "mlops-kit-serving")
    # References (shown as <{...}>) become plain strings, so the settings read as JSON.
    staging, production = (
        json.loads(re.sub(r"<\{.*?\}>", "REF", _steps_settings(serving, name))) for name in ("staging", "production")
    )

    assert staging["rollout"]["mode"] == "all_at_once"
    assert staging["endpoint"]["serverless"] == STAGING_SERVERLESS
    assert "business_alarm" not in staging
    assert production["rollout"]["mode"] == "staged"
    assert "serverless" not in production["endpoint"]  # instances: the platform's serving, with capture
    assert production["endpoint"]["instance_type"] == "ml.m5.large"
    assert production["endpoint"]["capture_sampling_percent"] == 100
    # The rest of the rollout is the platform's, in both.
    assert staging["rollout"]["approval_timeout_seconds"] == production["rollout"]["approval_timeout_seconds"]


def test_a_serverless_environments_steps_read_no_capture_and_productions_read_its_own(
    serverless_staging: Any,
) -> None:
    serving = _template(serverless_staging, "mlops-kit-serving")
    _, staging = _role(serving, "mlops-kit-promotion-staging")
    _, production = _role(serving, "mlops-kit-promotion-production")

    def capture_reads(statements: list[dict[str, Any]]) -> list[str]:
        return [
            _text(resource)
            for s in statements
            if "s3:GetObject*" in _actions(s)
            for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
            if "/capture/" in _text(resource)
        ]

    assert capture_reads(staging) == []
    (read,) = capture_reads(production)
    assert read.endswith("/capture/mlops-kit-endpoint-production/*")
