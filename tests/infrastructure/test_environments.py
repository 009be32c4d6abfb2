"""Multi-account environments: the tooling stacks share the registry's versions, the model artifacts and the key
with each environment's account, exactly and no more; each environment's stack goes to its own account."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

TOOLING, STAGING, PRODUCTION = "111111111111", "222222222222", "333333333333"
ENVIRONMENTS = {
    "mlops": {
        "account": TOOLING,
        "environments": {"staging": {"account": STAGING}, "production": {"account": PRODUCTION}},
    }
}


def _root(account: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:root"]]}


ENVIRONMENT_PRINCIPALS = {"AWS": [_root(STAGING), _root(PRODUCTION)]}


@pytest.fixture(scope="module")
def assembly(assembly_with: Any) -> Any:
    return assembly_with("environments", ENVIRONMENTS)


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

    shared = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal") == ENVIRONMENT_PRINCIPALS]
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
                            "Action": "kms:Decrypt",
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
    for shared in ("ModelPackageGroupPolicy", "EnvironmentsReadModels", "EnvironmentsDecryptModels"):
        assert shared not in text
