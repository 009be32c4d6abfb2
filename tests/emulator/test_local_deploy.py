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


def test_an_asset_already_in_its_bucket_is_not_uploaded_again(
    emulator: Emulator, deployer: LocalDeployer, cloud_assembly: CloudAssembly
) -> None:
    # Given the data stack's assets published once, one of them shared with the serving stack (a layer)
    data, serving = cloud_assembly.stack("Data"), cloud_assembly.stack("Serving")
    deployer.bootstrap()
    first = deployer.publish_assets(cloud_assembly, data)
    s3 = emulator.client("s3")
    keys = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=deployer.asset_bucket)["Contents"]}

    # When they are published again, and the serving stack's after them
    again = deployer.publish_assets(cloud_assembly, data)
    shared = deployer.publish_assets(cloud_assembly, serving)

    # Then nothing was uploaded again (as cdk-assets finds them), and the serving stack's own assets were
    serving_keys = {o["Key"] for o in s3.list_objects_v2(Bucket=deployer.asset_bucket)["Contents"]} - set(keys)
    assert first == len(keys) > 0
    assert again == 0
    assert 0 < shared == len(serving_keys)
    assert {
        o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=deployer.asset_bucket)["Contents"] if o["Key"] in keys
    } == keys


def test_a_template_with_an_unknown_resource_type_is_refused_before_anything_is_created(
    emulator: Emulator, deployer: LocalDeployer, tmp_path
) -> None:
    template = tmp_path / "t.json"
    template.write_text('{"Resources": {"X": {"Type": "AWS::Made::Up"}, "B": {"Type": "AWS::S3::Bucket"}}}')
    stack = StackArtifact("X", "made-up", template, None, ())

    with pytest.raises(DeployError, match=r"does not understand resource types \['AWS::Made::Up'\]"):
        deployer.deploy_stack(stack)

    assert emulator.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_assets_are_uploaded_with_an_unsigned_payload_and_arrive_whole(emulator: Emulator) -> None:
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    s3 = deployer._client("s3")
    s3.create_bucket(Bucket="asset-bucket")
    sent: dict[str, object] = {}
    s3.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.update(sha=request.headers["X-Amz-Content-SHA256"])
    )
    body = bytes(range(256)) * 4096  # 1 MB: not hashed for the signature

    s3.put_object(Bucket="asset-bucket", Key="asset.zip", Body=body)

    assert sent["sha"] == b"UNSIGNED-PAYLOAD"
    assert s3.get_object(Bucket="asset-bucket", Key="asset.zip")["Body"].read() == body
