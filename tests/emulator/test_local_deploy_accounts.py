"""A multi-account app deploys locally as `cdk bootstrap` and `cdk deploy --all` deploy it on AWS: each stack into
the account and region its cloud-assembly manifest names, its assets into that environment's bootstrap bucket, its
exports in that account only; a stack synthesized without an environment goes to the deployer's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.deploy import CloudAssembly, DeployError, LocalDeployer
from mlops_local.emulator import Emulator
from tests.infrastructure.test_environments import ENVIRONMENTS, PRODUCTION, STAGING, TOOLING

ENVIRONMENT = "222222222222"


def _stack(
    directory: Path,
    artifact_id: str,
    environment: str,
    resources: dict[str, Any],
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stack artifact of the manifest, its template and an asset manifest with one file asset (the template, as
    the CDK's DefaultStackSynthesizer publishes it)."""
    template = {"Resources": resources, "Outputs": outputs or {}}
    (directory / f"{artifact_id}.template.json").write_text(json.dumps(template))
    account, region = environment.removeprefix("aws://").split("/")
    concrete = account != "unknown-account"
    bucket_account = account if concrete else "${AWS::AccountId}"
    destination = {
        "bucketName": f"cdk-hnb659fds-assets-{bucket_account}-{region if concrete else '${AWS::Region}'}",
        "objectKey": f"{artifact_id}.json",
    }
    if concrete:
        destination["assumeRoleArn"] = (
            f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-file-publishing-role-{account}-{region}"
        )
        destination["region"] = region
    assets = {
        "version": "55.0.0",
        "files": {
            artifact_id: {
                "source": {"path": f"{artifact_id}.template.json", "packaging": "file"},
                "destinations": {"current": destination},
            }
        },
        "dockerImages": {},
    }
    (directory / f"{artifact_id}.assets.json").write_text(json.dumps(assets))
    return {
        f"{artifact_id}.assets": {"type": "cdk:asset-manifest", "properties": {"file": f"{artifact_id}.assets.json"}},
        artifact_id: {
            "type": "aws:cloudformation:stack",
            "environment": environment,
            "properties": {"templateFile": f"{artifact_id}.template.json", "stackName": f"app-{artifact_id.lower()}"},
            "dependencies": [f"{artifact_id}.assets"],
        },
    }


BUCKET = {"Bucket": {"Type": "AWS::S3::Bucket"}}
EXPORTED = {"Name": {"Value": {"Ref": "Bucket"}, "Export": {"Name": "shared-name"}}}


@pytest.fixture
def assembly(tmp_path: Path, emulator: Emulator) -> CloudAssembly:
    """A tooling stack in the emulator's account, an environment stack in another, one without an environment;
    the first two export the same name (each account has its own exports)."""
    artifacts: dict[str, Any] = {}
    artifacts |= _stack(tmp_path, "Tooling", f"aws://{emulator.account}/us-east-1", BUCKET, EXPORTED)
    artifacts |= _stack(tmp_path, "Environment", f"aws://{ENVIRONMENT}/us-east-1", BUCKET, EXPORTED)
    artifacts |= _stack(
        tmp_path, "Anywhere", "aws://unknown-account/unknown-region", {"Topic": {"Type": "AWS::SNS::Topic"}}
    )
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return CloudAssembly.load(tmp_path)


def _stacks_in(emulator: Emulator, account: str) -> set[str]:
    summaries = emulator.client("cloudformation", account=account).list_stacks()["StackSummaries"]
    return {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}


def test_each_stack_goes_to_the_account_its_manifest_names(emulator: Emulator, assembly: CloudAssembly) -> None:
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)

    results = deployer.deploy(assembly)

    assert {(r.stack_name, r.account, r.region, r.status) for r in results} == {
        ("app-tooling", emulator.account, "us-east-1", "CREATE_COMPLETE"),
        ("app-environment", ENVIRONMENT, "us-east-1", "CREATE_COMPLETE"),
        ("app-anywhere", emulator.account, "us-east-1", "CREATE_COMPLETE"),
    }
    assert _stacks_in(emulator, emulator.account) == {"app-tooling", "app-anywhere"}
    assert _stacks_in(emulator, ENVIRONMENT) == {"app-environment"}
    environment_bucket = next(r.outputs["Name"] for r in results if r.account == ENVIRONMENT)
    names = {b["Name"] for b in emulator.client("s3", account=ENVIRONMENT).list_buckets()["Buckets"]}
    assert environment_bucket in names


def test_each_environment_is_bootstrapped_and_gets_its_stacks_assets(
    emulator: Emulator, assembly: CloudAssembly
) -> None:
    LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region).deploy(assembly)

    def assets(account: str) -> set[str]:
        bucket = LocalDeployer.asset_bucket_of(account, "us-east-1")
        listed = emulator.client("s3", account=account).list_objects_v2(Bucket=bucket)
        return {o["Key"] for o in listed.get("Contents", [])}

    assert assets(emulator.account) == {"Tooling.json", "Anywhere.json"}
    assert assets(ENVIRONMENT) == {"Environment.json"}
    version = emulator.client("ssm", account=ENVIRONMENT).get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
    assert version["Parameter"]["Value"] == "30"


def test_exports_stay_in_the_account_of_the_stack_that_exports_them(
    emulator: Emulator, assembly: CloudAssembly
) -> None:
    results = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region).deploy(assembly)

    def exports(account: str) -> dict[str, str]:
        listed = emulator.client("cloudformation", account=account).list_exports()["Exports"]
        return {e["Name"]: e["Value"] for e in listed}

    by_account = {r.account: r.outputs["Name"] for r in results if "Name" in r.outputs}
    assert exports(emulator.account) == {"shared-name": by_account[emulator.account]}
    assert exports(ENVIRONMENT) == {"shared-name": by_account[ENVIRONMENT]}


def test_destroy_deletes_each_stack_in_its_own_account(emulator: Emulator, assembly: CloudAssembly) -> None:
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    deployer.deploy(assembly)

    deleted = deployer.destroy(assembly, stacks=["app-environment"])

    assert deleted == ["app-environment"]
    assert _stacks_in(emulator, ENVIRONMENT) == set()
    assert _stacks_in(emulator, emulator.account) == {"app-tooling", "app-anywhere"}


def test_a_manifest_environment_that_names_no_account_is_refused(tmp_path: Path) -> None:
    artifacts = _stack(tmp_path, "Broken", "aws://prod/us-east-1", {})
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))

    with pytest.raises(DeployError, match=r"Broken: environment 'aws://prod/us-east-1' names no 12-digit account"):
        CloudAssembly.load(tmp_path)


def test_the_apps_environment_stacks_deploy_to_the_environment_accounts(emulator: Emulator, assembly_with: Any) -> None:
    app = assembly_with("environments", ENVIRONMENTS)
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    names = [s.stack_name for s in app.stacks if s.account in (STAGING, PRODUCTION)]

    results = deployer.deploy(app, stacks=names)

    assert {(r.stack_name, r.account) for r in results} == {
        ("mlops-kit-serving-staging", STAGING),
        ("mlops-kit-serving-production", PRODUCTION),
    }
    for result in results:  # each environment's model role is a role of that account
        role = result.outputs["ModelRoleArn"]
        assert role.split(":")[4] == result.account
        emulator.client("iam", account=result.account).get_role(RoleName=role.rsplit("/", 1)[-1])
    with pytest.raises(ClientError):  # nothing of theirs went to the tooling account
        emulator.client("iam", account=TOOLING).get_role(RoleName=results[0].outputs["ModelRoleArn"].rsplit("/", 1)[-1])
