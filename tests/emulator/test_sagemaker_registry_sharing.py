"""Model package group resource policies (PutModelPackageGroupPolicy, GetModelPackageGroupPolicy,
DeleteModelPackageGroupPolicy, CloudFormation's ModelPackageGroupPolicy) and the registry calls an environment account
makes on the tooling account's shared group, by ARN: DescribeModelPackageGroup, ListModelPackages, DescribeModelPackage
and UpdateModelPackage, each allowed only when the group's policy and the caller's own policy both allow it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as

ENVIRONMENT = "222222222222"
GROUP = "models"
SHARED_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
    "sagemaker:UpdateModelPackage",
]
SPEC = {
    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def _policy(account: str, region: str = "us-east-1", actions: list[str] = SHARED_ACTIONS) -> str:
    """What the SageMaker developer guide's cross-account discoverability example grants, plus UpdateModelPackage."""
    statement = {
        "Sid": "EnvironmentsUseVersions",
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{ENVIRONMENT}:root"]},
        "Action": actions,
        "Resource": [
            f"arn:aws:sagemaker:{region}:{account}:model-package-group/{GROUP}",
            f"arn:aws:sagemaker:{region}:{account}:model-package/{GROUP}/*",
        ],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def registry(emulator: Emulator) -> dict[str, str]:
    """The tooling account's group with one version pending approval."""
    sagemaker = emulator.client("sagemaker")
    group = sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    version = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=SPEC, ModelApprovalStatus="PendingManualApproval"
    )["ModelPackageArn"]
    return {"group": group, "version": version}


def _environment_role(emulator: Emulator, *, allowed: bool = True) -> str:
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = str(iam.create_role(RoleName="promoter", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    if allowed:
        grants = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": SHARED_ACTIONS, "Resource": "*"}],
        }
        iam.put_role_policy(RoleName="promoter", PolicyName="registry", PolicyDocument=json.dumps(grants))
    return arn


def _error(call: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return dict(raised.value.response["Error"])


def test_a_groups_policy_is_put_read_and_deleted(emulator: Emulator, registry: dict[str, str]) -> None:
    sagemaker = emulator.client("sagemaker")
    policy = _policy(emulator.account)

    put = sagemaker.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=policy)
    read = sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP)
    sagemaker.delete_model_package_group_policy(ModelPackageGroupName=GROUP)

    assert put["ModelPackageGroupArn"] == registry["group"]
    assert json.loads(read["ResourcePolicy"]) == json.loads(policy)
    missing = _error(lambda: sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP))
    assert missing["Code"] == "ValidationException"
    assert "has no resource policy" in missing["Message"]


def test_a_policy_for_a_missing_group_or_not_a_policy_is_refused(emulator: Emulator, registry: dict[str, str]) -> None:
    sagemaker = emulator.client("sagemaker")

    no_group = _error(
        lambda: sagemaker.put_model_package_group_policy(ModelPackageGroupName="nope", ResourcePolicy="{}")
    )
    not_a_policy = _error(
        lambda: sagemaker.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy='{"a": 1}')
    )

    assert "model-package-group/nope does not exist" in no_group["Message"]
    assert "ResourcePolicy must be a JSON policy document with a Statement" in not_a_policy["Message"]


def test_an_environment_role_uses_a_shared_group_by_its_arn(emulator: Emulator, registry: dict[str, str]) -> None:
    emulator.client("sagemaker").put_model_package_group_policy(
        ModelPackageGroupName=GROUP, ResourcePolicy=_policy(emulator.account)
    )
    role = _environment_role(emulator)

    with acting_as(role, "promotion"):
        sagemaker = emulator.client("sagemaker")
        group = sagemaker.describe_model_package_group(ModelPackageGroupName=registry["group"])
        listed = sagemaker.list_model_packages(ModelPackageGroupName=registry["group"])["ModelPackageSummaryList"]
        sagemaker.update_model_package(
            ModelPackageArn=registry["version"],
            ModelLifeCycle={"Stage": "staging", "StageStatus": "Deployed"},
            CustomerMetadataProperties={"staging": "serving"},
        )
        version = sagemaker.describe_model_package(ModelPackageName=registry["version"])

    assert group["ModelPackageGroupArn"] == registry["group"]
    assert [v["ModelPackageArn"] for v in listed] == [registry["version"]]
    assert version["ModelLifeCycle"]["Stage"] == "staging"
    assert (
        version["LastModifiedBy"]["IamIdentity"]["Arn"] == f"arn:aws:sts::{ENVIRONMENT}:assumed-role/promoter/promotion"
    )
    # The version stays the tooling account's, updated there; the environment account has no registry of its own.
    tooling = emulator.client("sagemaker").describe_model_package(ModelPackageName=registry["version"])
    assert tooling["CustomerMetadataProperties"] == {"staging": "serving"}
    assert (
        emulator.client("sagemaker", account=ENVIRONMENT).list_model_package_groups()["ModelPackageGroupSummaryList"]
        == []
    )


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("describe_group", "sagemaker:DescribeModelPackageGroup"),
        ("list", "sagemaker:ListModelPackages"),
        ("describe", "sagemaker:DescribeModelPackage"),
        ("update", "sagemaker:UpdateModelPackage"),
    ],
)
@pytest.mark.parametrize(("shared", "allowed", "missing"), [(False, True, "resource"), (True, False, "identity")])
def test_each_shared_call_needs_both_the_groups_policy_and_the_callers(
    emulator: Emulator, registry: dict[str, str], operation: str, action: str, shared: bool, allowed: bool, missing: str
) -> None:
    if shared:
        emulator.client("sagemaker").put_model_package_group_policy(
            ModelPackageGroupName=GROUP, ResourcePolicy=_policy(emulator.account)
        )
    role = _environment_role(emulator, allowed=allowed)
    calls = {
        "describe_group": lambda s: s.describe_model_package_group(ModelPackageGroupName=registry["group"]),
        "list": lambda s: s.list_model_packages(ModelPackageGroupName=registry["group"]),
        "describe": lambda s: s.describe_model_package(ModelPackageName=registry["version"]),
        "update": lambda s: s.update_model_package(ModelPackageArn=registry["version"], ModelApprovalStatus="Approved"),
    }

    with acting_as(role):
        error = _error(lambda: calls[operation](emulator.client("sagemaker")))

    assert error["Code"] == "AccessDeniedException"
    assert f"because no {missing}-based policy allows the {action} action" in error["Message"]


def test_deleting_the_policy_stops_the_sharing(emulator: Emulator, registry: dict[str, str]) -> None:
    sagemaker = emulator.client("sagemaker")
    sagemaker.put_model_package_group_policy(ModelPackageGroupName=GROUP, ResourcePolicy=_policy(emulator.account))
    role = _environment_role(emulator)
    sagemaker.delete_model_package_group_policy(ModelPackageGroupName=GROUP)

    with acting_as(role):
        error = _error(
            lambda: emulator.client("sagemaker").describe_model_package(ModelPackageName=registry["version"])
        )

    assert "because no resource-based policy allows" in error["Message"]


def test_a_group_is_described_by_its_arn_in_its_own_account(emulator: Emulator, registry: dict[str, str]) -> None:
    described = emulator.client("sagemaker").describe_model_package_group(ModelPackageGroupName=registry["group"])

    assert described["ModelPackageGroupName"] == GROUP


def test_a_stack_update_changes_the_groups_policy_in_place(emulator: Emulator) -> None:
    cfn, sagemaker = emulator.client("cloudformation"), emulator.client("sagemaker")

    def template(policy: str | None) -> str:
        properties: dict[str, Any] = {"ModelPackageGroupName": GROUP}
        if policy:
            properties["ModelPackageGroupPolicy"] = json.loads(policy)
        return json.dumps(
            {"Resources": {"Group": {"Type": "AWS::SageMaker::ModelPackageGroup", "Properties": properties}}}
        )

    cfn.create_stack(StackName="registry", TemplateBody=template(None))
    created = sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)["CreationTime"]
    version = sagemaker.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=SPEC)[
        "ModelPackageArn"
    ]

    cfn.update_stack(StackName="registry", TemplateBody=template(_policy(emulator.account)))
    shared = sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP)["ResourcePolicy"]
    cfn.update_stack(StackName="registry", TemplateBody=template(None))

    assert json.loads(shared) == json.loads(_policy(emulator.account))
    assert (
        "has no resource policy"
        in _error(lambda: sagemaker.get_model_package_group_policy(ModelPackageGroupName=GROUP))["Message"]
    )
    assert sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)["CreationTime"] == created
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert [v["ModelPackageArn"] for v in listed] == [version]


def test_a_version_registered_from_another_account_is_the_groups_accounts(
    emulator: Emulator, registry: dict[str, str]
) -> None:
    register = {
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{ENVIRONMENT}:root"]},
        "Action": "sagemaker:CreateModelPackage",
        "Resource": f"arn:aws:sagemaker:us-east-1:{emulator.account}:model-package/{GROUP}/*",
    }
    emulator.client("sagemaker").put_model_package_group_policy(
        ModelPackageGroupName=GROUP, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [register]})
    )
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = str(iam.create_role(RoleName="trainer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    grants = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sagemaker:CreateModelPackage", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="trainer", PolicyName="register", PolicyDocument=json.dumps(grants))

    with acting_as(role, "training"):
        arn = emulator.client("sagemaker").create_model_package(
            ModelPackageGroupName=registry["group"], InferenceSpecification=SPEC
        )["ModelPackageArn"]

    assert arn == f"arn:aws:sagemaker:us-east-1:{emulator.account}:model-package/{GROUP}/2"
    version = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert version["CreatedBy"]["IamIdentity"]["Arn"] == f"arn:aws:sts::{ENVIRONMENT}:assumed-role/trainer/training"
