"""The real app, synthesized once, deploys into the emulator; redeploying is an update, not a failure."""

from __future__ import annotations

import pytest

from mlops_local.deploy import CloudAssembly, DeployError, LocalDeployer, StackArtifact
from mlops_local.emulator import Emulator


@pytest.fixture
def deployer(emulator: Emulator) -> LocalDeployer:
    return LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)


def test_every_stack_deploys_with_its_outputs(
    emulator: Emulator, deployer: LocalDeployer, cloud_assembly: CloudAssembly
) -> None:
    results = deployer.deploy(cloud_assembly)

    assert [r.status for r in results] == ["CREATE_COMPLETE"] * len(cloud_assembly.stacks)
    outputs = {k: v for r in results for k, v in r.outputs.items()}
    buckets = {b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]}
    assert outputs["DataBucketName"] in buckets
    assert outputs["ArtifactsBucketName"] in buckets
    assert deployer.asset_bucket in buckets  # the bootstrap bucket the assets were published to


def test_redeploying_updates_in_place(deployer: LocalDeployer, cloud_assembly: CloudAssembly) -> None:
    first = deployer.deploy(cloud_assembly)

    second = deployer.deploy(cloud_assembly)

    assert {r.stack_name for r in second} == {r.stack_name for r in first}
    assert all(r.status in ("UPDATE_COMPLETE", "CREATE_COMPLETE") for r in second)
    assert [r.outputs for r in second] == [r.outputs for r in first]


def test_a_template_with_an_unknown_resource_type_is_refused_before_anything_is_created(
    emulator: Emulator, deployer: LocalDeployer, tmp_path
) -> None:
    template = tmp_path / "t.json"
    template.write_text('{"Resources": {"X": {"Type": "AWS::Made::Up"}, "B": {"Type": "AWS::S3::Bucket"}}}')
    stack = StackArtifact("X", "made-up", template, None, ())

    with pytest.raises(DeployError, match=r"does not understand resource types \['AWS::Made::Up'\]"):
        deployer.deploy_stack(stack)

    assert emulator.client("cloudformation").list_stacks()["StackSummaries"] == []
