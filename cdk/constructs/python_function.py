"""Python Lambda functions built without Docker: handler + the domain library, dependencies in one layer."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.nag import acknowledge
from mlops_kit.environment import HandlerSettings

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
# The one runtime every function uses (cdk-nag L1 asks for the newest), on Graviton.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
_PIP_PLATFORM = "manylinux2014_aarch64"
_PIP_PYTHON = "3.14"
# Parts of mlops_kit that never run in Lambda (the CLI) stay out of the deployment package.
_EXCLUDED_PACKAGES = ("cli", "__pycache__")
LAYER_CACHE = Path.home() / ".cache" / "mlops-kit" / "lambda-layer"


@jsii.implements(ILocalBundling)
class _HandlerBundle:
    """Copies ``lambdas/<name>/*.py`` to the package root and the Lambda-relevant part of ``mlops_kit``."""

    def __init__(self, function_dir: Path) -> None:
        self._function_dir = function_dir

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        out = Path(output_dir)
        for source in self._function_dir.glob("*.py"):
            shutil.copy2(source, out / source.name)
        shutil.copytree(
            ROOT / "mlops_kit",
            out / "mlops_kit",
            ignore=lambda directory, names: [
                n
                for n in names
                if (n in _EXCLUDED_PACKAGES and Path(directory) == ROOT / "mlops_kit") or n == "__pycache__"
            ],
        )
        return True


def layer_hash(requirements: Path) -> str:
    return hashlib.sha256(f"{_PIP_PLATFORM}|{_PIP_PYTHON}|".encode() + requirements.read_bytes()).hexdigest()


class DependencyLayer(Construct):
    """The layer with ``lambdas/requirements.txt`` (Powertools, Pydantic, X-Ray SDK), shared by a stack's functions."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        requirements = LAMBDAS / "requirements.txt"
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(LAMBDAS),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=layer_hash(requirements),
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
                    local=_PackagesLayerBundle(requirements, "dependencies", (), platforms=(_PIP_PLATFORM,)),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="aws-lambda-powertools, pydantic, aws-xray-sdk (lambdas/requirements.txt)",
        )

    @classmethod
    def of(cls, scope: Construct) -> lambda_.ILayerVersion:
        """The stack's single dependency layer, created on first use."""
        stack = Stack.of(scope)
        existing = stack.node.try_find_child("LambdaDependencies")
        return (existing if isinstance(existing, DependencyLayer) else cls(stack, "LambdaDependencies")).layer


class PythonFunction(Construct):
    """A Lambda function from ``lambdas/<name>/handler.py`` with safe defaults.

    Defaults that are not optional: the one runtime and architecture, X-Ray tracing, a dedicated role whose
    only built-in permission is writing its own log group, an explicit log group with ``log_retention`` (no
    log-retention custom resource), Powertools configured by environment (``service`` names the capability in
    logs and metrics; :mod:`mlops_kit.observability` reads it). ``settings`` is the handler's settings model,
    serialized at synth into its variable (deploy-time names resolve in place) for
    :func:`mlops_kit.environment.read_settings`; unset, the function gets none. ``environment`` adds other
    variables; ``timeout`` defaults to 30 s and ``memory_size`` to 256 MB; ``role_name`` unset lets
    CloudFormation name the role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        settings: HandlerSettings | None = None,
        environment: dict[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 256,
        service: str = "mlops-kit",
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function_dir = LAMBDAS / name
        if not (function_dir / "handler.py").is_file():
            raise ValueError(f"PythonFunction {construct_id}: {function_dir}/handler.py does not exist")
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal_policy)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,  # unset: named by CloudFormation; set where another account's policy names it
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name} Lambda function",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(function_dir),
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(image=RUNTIME.bundling_image, local=_HandlerBundle(function_dir)),
            ),
            layers=[DependencyLayer.of(self)],
            role=self.role,
            description=description,
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "MlopsKit",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(settings.environment(Stack.of(self).to_json_string) if settings is not None else {}),
                **(environment or {}),
            },
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (AWS requires *).",
        )

    def add_environment(self, key: str, value: str) -> None:
        self.function.add_environment(key, value)


@jsii.implements(ILocalBundling)
class _PackagesLayerBundle:
    """``pip install --target python/ -r requirements`` for the Lambda platform (by default manylinux 2014 or 2_28
    wheels), pruning ``prune`` glob patterns under the installed packages; cached per requirements hash on this
    machine."""

    def __init__(
        self,
        requirements: Path,
        cache_name: str,
        prune: tuple[str, ...],
        platforms: tuple[str, ...] = (_PIP_PLATFORM, "manylinux_2_28_aarch64"),
    ) -> None:
        self._requirements = requirements
        self._cache_name = cache_name
        self._prune = prune
        self._platforms = platforms

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        variant = hashlib.sha256(repr((self._prune, self._platforms)).encode()).hexdigest()[:8]
        cached = LAYER_CACHE / f"{self._cache_name}-{layer_hash(self._requirements)}-{variant}"
        if not (cached / ".complete").exists():
            # Two synths at once (the test workers', or two terminals') would both install into the one staging
            # folder, each removing what the other wrote: one builds, the other waits and finds it complete.
            LAYER_CACHE.mkdir(parents=True, exist_ok=True)
            with open(cached.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (cached / ".complete").exists():
                    self._build(cached)
        # Hard links where the cache and the output share a file system: a layer is 20-170 MB and every synth
        # bundles each layer afresh (a copy was a tenth of a synth's time); the files are only ever read.
        shutil.copytree(cached / "python", Path(output_dir) / "python", dirs_exist_ok=True, copy_function=_link_or_copy)
        return True

    def _build(self, cached: Path) -> None:
        staging = cached.with_suffix(".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        completed = subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--only-binary=:all:", "--implementation", "cp", "--python-version", _PIP_PYTHON,
                *(option for platform in self._platforms for option in ("--platform", platform)),
                "--target", str(staging / "python"), "-r", str(self._requirements),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            raise RuntimeError(f"building the {self._cache_name} Lambda layer failed:\n{completed.stderr[-3000:]}")
        for pattern in self._prune:
            for path in sorted((staging / "python").glob(pattern), reverse=True):
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        shutil.rmtree(cached, ignore_errors=True)
        staging.rename(cached)
        (cached / ".complete").touch()


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)


class PackageLayer(Construct):
    """A Lambda layer with the packages of one ``requirements.txt`` (e.g. ``lambdas/<name>/requirements.txt``),
    built for the one runtime and architecture without Docker. ``prune`` lists glob patterns (relative to the
    layer's ``python/`` folder, e.g. ``"scipy/**/tests"``) removed to stay inside Lambda's 250 MB; unset, nothing
    is removed."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        requirements: Path,
        description: str,
        prune: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if not requirements.is_file():
            raise ValueError(f"PackageLayer {construct_id}: {requirements} does not exist")
        name = requirements.parent.name
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(requirements.parent),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=f"{name}-{layer_hash(requirements)}-{hashlib.sha256(repr(prune).encode()).hexdigest()[:8]}",
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
                    local=_PackagesLayerBundle(requirements, name, prune),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )
