"""Patch points sagemaker-*-model-package: lifecycle stages kept, partial updates, state-change events."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam.identity import acting_as
from tests.emulator.conftest import allow_events, make_role

INFERENCE = {
    "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/sklearn:1", "ModelDataUrl": "s3://b/model.tar.gz"}],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}


@pytest.fixture
def package_arn(emulator: Emulator) -> str:
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="fraud")
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName="fraud",
            InferenceSpecification=INFERENCE,
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"dataset_hash": "abc", "seed": "42"},
            ModelLifeCycle={"Stage": "Staging", "StageStatus": "PendingApproval"},
        )["ModelPackageArn"]
    )


def test_lifecycle_stage_is_kept_and_described(emulator: Emulator, package_arn: str) -> None:
    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=package_arn)

    assert described["ModelLifeCycle"] == {"Stage": "Staging", "StageStatus": "PendingApproval"}


def test_approving_keeps_metadata_and_lifecycle(emulator: Emulator, package_arn: str) -> None:
    sagemaker = emulator.client("sagemaker")

    sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")

    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"] == {"dataset_hash": "abc", "seed": "42"}
    assert described["ModelLifeCycle"]["Stage"] == "Staging"


def test_metadata_updates_merge_and_remove(emulator: Emulator, package_arn: str) -> None:
    sagemaker = emulator.client("sagemaker")

    sagemaker.update_model_package(
        ModelPackageArn=package_arn,
        CustomerMetadataProperties={"approved_by": "ana"},
        CustomerMetadataPropertiesToRemove=["seed"],
        ModelLifeCycle={"Stage": "Production", "StageStatus": "Approved", "StageDescription": "promoted"},
    )

    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert described["CustomerMetadataProperties"] == {"dataset_hash": "abc", "approved_by": "ana"}
    assert described["ModelLifeCycle"]["Stage"] == "Production"


def test_approval_emits_the_state_change_event_to_matching_rules(
    emulator: Emulator, package_arn: str, make_function
) -> None:
    function_arn = make_function("on-approval")
    events = emulator.client("events")
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["fraud"], "ModelApprovalStatus": ["Approved"]},
    }
    events.put_rule(Name="approved", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="approved", Targets=[{"Id": "fn", "Arn": function_arn}])
    allow_events(emulator, function_arn, "approved")

    emulator.client("sagemaker").update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
    emulator.settle()

    (delivery,) = emulator.events.delivered
    detail = json.loads(delivery.result)["event"]["detail"]
    assert detail["ModelPackageArn"] == package_arn
    assert detail["ModelApprovalStatus"] == "Approved"
    assert detail["CustomerMetadataProperties"]["dataset_hash"] == "abc"


def test_a_deleted_version_is_gone_and_the_others_stay(emulator: Emulator, package_arn: str) -> None:
    sagemaker = emulator.client("sagemaker")
    second = sagemaker.create_model_package(ModelPackageGroupName="fraud", InferenceSpecification=INFERENCE)

    sagemaker.delete_model_package(ModelPackageName=package_arn)

    listed = sagemaker.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [second["ModelPackageArn"]]
    with pytest.raises(sagemaker.exceptions.ClientError, match="not found"):
        sagemaker.describe_model_package(ModelPackageName=package_arn)


def test_the_caller_aws_verified_is_recorded_and_sent_with_the_event(
    emulator: Emulator, package_arn: str, make_function
) -> None:
    function_arn = make_function("on-answer")
    events = emulator.client("events")
    pattern = {"source": ["aws.sagemaker"], "detail": {"ModelLifeCycle": {"StageStatus": ["Approved"]}}}
    events.put_rule(Name="answered", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="answered", Targets=[{"Id": "fn", "Arn": function_arn}])
    allow_events(emulator, function_arn, "answered")
    role = make_role(emulator, "Approver", "lambda.amazonaws.com", "sagemaker:UpdateModelPackage", resource="*")
    sagemaker = emulator.client("sagemaker")
    administrator = emulator.client("sts").get_caller_identity()["Arn"]

    with acting_as(role, "alice"):
        sagemaker.update_model_package(
            ModelPackageArn=package_arn, ModelLifeCycle={"Stage": "Staging", "StageStatus": "Approved"}
        )
    emulator.settle()

    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    (delivery,) = emulator.events.delivered
    detail = json.loads(delivery.result)["event"]["detail"]
    alice = "arn:aws:sts::123456789012:assumed-role/Approver/alice"
    assert described["LastModifiedBy"]["IamIdentity"]["Arn"] == alice
    assert described["LastModifiedBy"]["IamIdentity"]["PrincipalId"].endswith(":alice")
    assert described["CreatedBy"]["IamIdentity"]["Arn"] == administrator  # the fixture registered it
    assert detail["LastModifiedBy"]["IamIdentity"]["Arn"] == alice


def test_listing_a_groups_versions_is_authorized_on_the_versions_not_the_group(
    emulator: Emulator, package_arn: str
) -> None:
    # As AWS's cross-account example grants it: ListModelPackages on model-package/<group>/* (SageMaker Developer
    # Guide, "Deploy a Model Version from a Different Account"); the reference's resource type is model-package.
    prefix = f"arn:aws:sagemaker:{emulator.region}:{emulator.account}"
    on_versions = make_role(
        emulator,
        "versions",
        "lambda.amazonaws.com",
        "sagemaker:ListModelPackages",
        resource=f"{prefix}:model-package/fraud/*",
    )
    on_group = make_role(
        emulator,
        "group",
        "lambda.amazonaws.com",
        "sagemaker:ListModelPackages",
        resource=f"{prefix}:model-package-group/fraud",
    )
    sagemaker = emulator.client("sagemaker")

    with acting_as(on_versions):
        listed = sagemaker.list_model_packages(ModelPackageGroupName="fraud")["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [package_arn]
    with acting_as(on_group), pytest.raises(ClientError) as refused:
        sagemaker.list_model_packages(ModelPackageGroupName="fraud")
    assert f"{prefix}:model-package/fraud/*" in refused.value.response["Error"]["Message"]
