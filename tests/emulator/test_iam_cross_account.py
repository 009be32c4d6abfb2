"""Several accounts on the emulator: a role of one account reads another account's S3 objects (and the KMS key
they are encrypted with) only when both its own identity policy and the resource's policy allow it, as on AWS
("Cross-account policy evaluation logic", IAM User Guide). This is how an environment account reads the model
artifacts of the tooling account."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as

ENVIRONMENT = "222222222222"
BUCKET = "tooling-artifacts"
MODEL = "models/job-1/output/model.tar.gz"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def tooling(emulator: Emulator) -> dict[str, str]:
    """The tooling account (the emulator's own): a KMS key, and a bucket encrypting with it that holds a model."""
    key_arn = emulator.client("kms").create_key(Description="platform key")["KeyMetadata"]["Arn"]
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]
        },
    )
    s3.put_object(Bucket=BUCKET, Key=MODEL, Body=b"model bytes")
    s3.put_object(Bucket=BUCKET, Key="data/secret.csv", Body=b"not shared")
    return {"key": key_arn}


def _environment_role(emulator: Emulator, name: str, key_arn: str, *, allowed: bool) -> str:
    """A role of the environment account, made by that account's administrator; ``allowed``: its identity policy
    lets it read the tooling account's models and decrypt them through S3."""
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = _policy(
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
    if allowed:
        document = _policy(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/models/*"},
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
            },
        )
        iam.put_role_policy(RoleName=name, PolicyName="read-models", PolicyDocument=document)
    return arn


def _share(emulator: Emulator, key_arn: str, *, bucket: bool = True, key: bool = True) -> None:
    """The tooling account's grants to the environment account (what PlatformStorage.share_models_with deploys)."""
    root = f"arn:aws:iam::{ENVIRONMENT}:root"
    if bucket:
        emulator.client("s3").put_bucket_policy(
            Bucket=BUCKET,
            Policy=_policy(
                {
                    "Sid": "EnvironmentsReadModels",
                    "Effect": "Allow",
                    "Principal": {"AWS": [root]},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/models/*",
                }
            ),
        )
    if key:
        kms = emulator.client("kms")
        owner = f"arn:aws:iam::{emulator.account}:root"
        kms.put_key_policy(
            KeyId=key_arn,
            PolicyName="default",
            Policy=_policy(
                {"Effect": "Allow", "Principal": {"AWS": owner}, "Action": "kms:*", "Resource": "*"},
                {
                    "Sid": "EnvironmentsDecryptModels",
                    "Effect": "Allow",
                    "Principal": {"AWS": [root]},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                },
            ),
        )


def _read(emulator: Emulator, role: str, key: str = MODEL) -> bytes:
    with acting_as(role):
        return bytes(emulator.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _denial(emulator: Emulator, role: str, key: str = MODEL) -> str:
    with pytest.raises(ClientError) as raised:
        _read(emulator, role, key)
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    return str(raised.value.response["Error"]["Message"])


def test_a_role_of_another_account_reads_a_model_when_both_accounts_allow_it(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, "serving", tooling["key"], allowed=True)
    _share(emulator, tooling["key"])

    assert _read(emulator, role) == b"model bytes"


def test_without_the_bucket_policy_the_identity_policy_alone_is_not_enough(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, "serving", tooling["key"], allowed=True)
    _share(emulator, tooling["key"], bucket=False)

    message = _denial(emulator, role)

    assert f"{ENVIRONMENT}:assumed-role/serving/" in message
    assert "because no resource-based policy allows the s3:GetObject action" in message


def test_without_the_key_policy_grant_the_encrypted_model_cannot_be_read(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, "serving", tooling["key"], allowed=True)
    _share(emulator, tooling["key"], key=False)

    message = _denial(emulator, role)

    assert f"kms:Decrypt on resource: {tooling['key']}" in message
    assert "because no resource-based policy allows the kms:Decrypt action" in message


def test_without_the_roles_own_policy_the_resource_grants_alone_are_not_enough(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, "other", tooling["key"], allowed=False)
    _share(emulator, tooling["key"])

    assert "because no identity-based policy allows the s3:GetObject action" in _denial(emulator, role)


def test_what_the_grants_do_not_name_stays_private(emulator: Emulator, tooling: dict[str, str]) -> None:
    role = _environment_role(emulator, "serving", tooling["key"], allowed=True)
    _share(emulator, tooling["key"])

    assert "s3:GetObject" in _denial(emulator, role, "data/secret.csv")


def test_each_account_has_its_own_resources(emulator: Emulator) -> None:
    emulator.client("iam", account=ENVIRONMENT).create_role(RoleName="only-there", AssumeRolePolicyDocument="{}")

    names = [r["RoleName"] for r in emulator.client("iam", account=ENVIRONMENT).list_roles()["Roles"]]
    assert "only-there" in names
    assert "only-there" not in [r["RoleName"] for r in emulator.client("iam").list_roles()["Roles"]]
    with pytest.raises(ValueError, match="account must be 12 digits"):
        emulator.client("iam", account="prod")


def _registry(emulator: Emulator, group: str, *, shared: bool) -> str:
    """A model package group deployed by CloudFormation in the tooling account (``shared``: with the resource policy
    ModelRegistry.share_with gives it) holding one version; the version's ARN."""
    properties: dict[str, Any] = {"ModelPackageGroupName": group}
    if shared:
        properties["ModelPackageGroupPolicy"] = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EnvironmentsReadVersions",
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{ENVIRONMENT}:root"]},
                    "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                    "Resource": [
                        f"arn:aws:sagemaker:us-east-1:{emulator.account}:model-package-group/{group}",
                        f"arn:aws:sagemaker:us-east-1:{emulator.account}:model-package/{group}/*",
                    ],
                }
            ],
        }
    template = {"Resources": {"Group": {"Type": "AWS::SageMaker::ModelPackageGroup", "Properties": properties}}}
    emulator.client("cloudformation").create_stack(StackName=f"{group}-stack", TemplateBody=json.dumps(template))
    version = emulator.client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )
    return str(version["ModelPackageArn"])


def _describer(emulator: Emulator, name: str, *, allowed: bool) -> str:
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = _policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
    if allowed:
        document = _policy({"Effect": "Allow", "Action": "sagemaker:DescribeModelPackage", "Resource": "*"})
        iam.put_role_policy(RoleName=name, PolicyName="describe", PolicyDocument=document)
    return arn


def test_a_shared_registry_version_is_described_from_the_environment_account(emulator: Emulator) -> None:
    version = _registry(emulator, "shared-models", shared=True)
    role = _describer(emulator, "promoter", allowed=True)

    with acting_as(role):
        described = emulator.client("sagemaker").describe_model_package(ModelPackageName=version)

    assert described["ModelPackageArn"] == version
    assert described["ModelApprovalStatus"] == "Approved"


@pytest.mark.parametrize(
    ("shared", "allowed", "missing"),
    [(False, True, "resource-based policy"), (True, False, "identity-based policy")],
)
def test_a_registry_version_stays_private_unless_both_accounts_allow_it(
    emulator: Emulator, shared: bool, allowed: bool, missing: str
) -> None:
    version = _registry(emulator, "models", shared=shared)
    role = _describer(emulator, "promoter", allowed=allowed)

    with acting_as(role), pytest.raises(ClientError) as raised:
        emulator.client("sagemaker").describe_model_package(ModelPackageName=version)

    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"because no {missing} allows the sagemaker:DescribeModelPackage action" in str(raised.value)
