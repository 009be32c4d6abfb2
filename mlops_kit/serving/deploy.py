"""One endpoint deployer for the promotion workflow and A/B tests: models, endpoint configs, updates, progress.

What it owns, so neither caller has to get it right twice:

* **Names** within SageMaker's rules (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``): a readable prefix (the endpoint
  name, cut to :data:`PREFIX_LENGTH`) and label, then a digest of the whole request. Two requests that differ
  never share a name, however long the endpoint name; the same request always gets the same name.
* **Idempotency by describing what exists**: a model or endpoint config is created only when no resource of
  that name exists (ListModels / ListEndpointConfigs, exact name); since the name is a digest of the request,
  an existing one is the same request made before (a retried step). No error text is matched.
* **Updates that keep serving capacity**: ``RetainAllVariantProperties`` keeps the instance count of variants
  that stay (a scaled-out Production variant does not drop to its initial count when the shadow or the canary
  is added); weights and data capture still come from the new config.
* **Autoscaling around updates**: AWS refuses an UpdateEndpoint that removes a variant registered with
  Application Auto Scaling, or changes its instance type ("Update endpoints that use auto scaling"); such
  variants are deregistered first. :meth:`EndpointDeployer.autoscale` registers the serving variant again.
* **Reading progress honestly**: a failed update ends ``InService`` with a ``FailureReason`` on the *old*
  config, so an update is done only when the endpoint is InService on the config that was asked for
  (:meth:`EndpointDeployer.progress`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_NAME = 63
DIGEST_LENGTH = 12
# The readable part of a name starts with the endpoint name cut to this length, so every model and config of an
# endpoint shares a prefix IAM policies can scope to (``model/<prefix>-*``); see :func:`resource_prefix`.
PREFIX_LENGTH = 36
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
# Terminal states: the endpoint will not reach the requested config without another request.
BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService")
AUTOSCALING_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Only the instance count is retained across updates; weights and data capture come from the new config.
NOT_RETAINED = [{"VariantPropertyType": "DesiredWeight"}, {"VariantPropertyType": "DataCaptureConfig"}]


class DeploymentError(RuntimeError):
    """The endpoint cannot take the request (busy with another update, or a name clashes with other content)."""


def resource_prefix(endpoint_name: str) -> str:
    """The start every model and endpoint config name of ``endpoint_name`` shares (IAM scopes grants to it)."""
    return endpoint_name[:PREFIX_LENGTH].rstrip("-")


def resource_pattern(endpoint_name: str) -> str:
    """The IAM resource-name pattern (lower case, as SageMaker ARNs are) that covers every model and endpoint
    config of ``endpoint_name``. When the endpoint name is longer than :data:`PREFIX_LENGTH`, names carry only
    its first characters, and the pattern is that prefix."""
    prefix = resource_prefix(endpoint_name).lower()
    return f"{prefix}-*" if prefix == endpoint_name.lower() else f"{prefix}*"


def digest(identity: Any) -> str:
    """A short, stable digest of a JSON-serializable request."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def unique_name(endpoint_name: str, label: str, identity: Any) -> str:
    """``<endpoint prefix>-<label>-<digest of identity>``, at most 63 characters and matching SageMaker's pattern.

    ``label`` keeps names readable (``v3-green``, ``canary``); it is cut when the name would be too long, never
    the digest. Raises ValueError when ``label`` has characters SageMaker names do not allow.
    """
    if not re.fullmatch(r"[a-zA-Z0-9-]*", label):
        raise ValueError(f"name label {label!r} may contain only letters, digits and hyphens")
    prefix = resource_prefix(endpoint_name)
    room = MAX_NAME - len(prefix) - DIGEST_LENGTH - 2
    readable = f"{prefix}-{label[:room].strip('-')}" if room > 0 and label.strip("-") else prefix
    name = f"{readable.rstrip('-')}-{digest(identity)}"
    if not NAME_PATTERN.fullmatch(name):  # a prefix SageMaker would refuse (an endpoint name is validated)
        raise ValueError(f"cannot build a SageMaker name from endpoint {endpoint_name!r} and label {label!r}")
    return name


@dataclass(frozen=True)
class ModelSpec:
    """What a model serves and how: its container, execution role and network settings."""

    image: str
    model_data_url: str
    environment: dict[str, str]
    role_arn: str
    vpc_config: dict[str, Any] | None = None
    network_isolation: bool = False

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "ExecutionRoleArn": self.role_arn,
            "PrimaryContainer": {
                "Image": self.image,
                "ModelDataUrl": self.model_data_url,
                "Environment": dict(self.environment),
            },
        }
        if self.vpc_config:
            request["VpcConfig"] = self.vpc_config
        if self.network_isolation:
            request["EnableNetworkIsolation"] = True
        return request

    @classmethod
    def like(cls, described: dict[str, Any], **changes: Any) -> ModelSpec:
        """The spec of a described model (DescribeModel), with ``changes``: a new model served the same way (same
        role, VPC and network isolation)."""
        container = described["PrimaryContainer"]
        spec = cls(
            image=container["Image"],
            model_data_url=container.get("ModelDataUrl", ""),
            environment=dict(container.get("Environment") or {}),
            role_arn=described["ExecutionRoleArn"],
            vpc_config=described.get("VpcConfig") or None,
            network_isolation=bool(described.get("EnableNetworkIsolation")),
        )
        return cls(**{**spec.__dict__, **changes})


@dataclass(frozen=True)
class Variant:
    """One production (or shadow) variant of an endpoint config: on ``instance_count`` instances of
    ``instance_type``, or serverless when ``serverless`` is set (a ``ProductionVariantServerlessConfig``:
    ``MemorySizeInMB``, ``MaxConcurrency``, optionally ``ProvisionedConcurrency``; then the instance fields are
    not sent, as SageMaker serves the variant without instances)."""

    name: str
    model: str
    instance_type: str
    instance_count: int
    weight: float = 1.0
    serverless: dict[str, int] | None = None

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"VariantName": self.name, "ModelName": self.model}
        if self.serverless is not None:
            request["ServerlessConfig"] = dict(self.serverless)
        else:
            request["InstanceType"] = self.instance_type
            request["InitialInstanceCount"] = self.instance_count
        request["InitialVariantWeight"] = float(self.weight)
        return request

    @classmethod
    def from_config(cls, entry: dict[str, Any], **changes: Any) -> Variant:
        """A variant of a described endpoint config, with ``changes``."""
        serverless = entry.get("ServerlessConfig")
        variant = cls(
            name=entry["VariantName"],
            model=entry["ModelName"],
            instance_type=entry.get("InstanceType", ""),
            instance_count=int(entry.get("InitialInstanceCount", 1)),
            weight=float(entry.get("InitialVariantWeight", 1.0)),
            serverless=dict(serverless) if serverless else None,
        )
        return cls(**{**variant.__dict__, **changes})


@dataclass(frozen=True)
class ConfigSpec:
    """An endpoint config: production variants, at most one shadow variant (then exactly one production variant,
    as SageMaker requires), data capture and the storage key. A serverless variant stands alone: raises
    ValueError for what serverless endpoints do not support (see :meth:`_check_serverless`)."""

    variants: tuple[Variant, ...]
    shadow: Variant | None = None
    data_capture: dict[str, Any] | None = None
    kms_key_id: str | None = None

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("an endpoint config needs at least one production variant")
        names = [v.name for v in self.variants] + ([self.shadow.name] if self.shadow else [])
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique in an endpoint config, got {names}")
        if self.shadow is not None and len(self.variants) != 1:
            raise ValueError("an endpoint config with a shadow variant must have exactly one production variant")
        if any(v.serverless is not None for v in (*self.variants, *([self.shadow] if self.shadow else []))):
            self._check_serverless()

    def _check_serverless(self) -> None:
        """SageMaker's Serverless Inference "Feature exclusions" (multiple production variants, data capture, KMS
        keys) and the shadow-test exclusions (serverless endpoints): refused here, before any AWS call."""
        unsupported = [
            what
            for what, present in (
                ("multiple production variants", len(self.variants) > 1),
                ("a shadow variant", self.shadow is not None),
                ("data capture", bool(self.data_capture)),
                ("a KMS key", bool(self.kms_key_id)),
            )
            if present
        ]
        if unsupported:
            raise ValueError(
                f"a serverless endpoint config cannot have {', '.join(unsupported)} (SageMaker Serverless Inference "
                "feature exclusions: https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html)"
            )

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"ProductionVariants": [v.request() for v in self.variants]}
        if self.shadow is not None:
            request["ShadowProductionVariants"] = [self.shadow.request()]
        if self.data_capture:
            request["DataCaptureConfig"] = self.data_capture
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        return request


ProgressState = Literal["done", "in_progress", "failed"]


@dataclass(frozen=True)
class Progress:
    """Where a requested change of the endpoint stands, with the endpoint's status and config as described."""

    state: ProgressState
    status: str
    config: str | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "status": self.status, "config": self.config, "reason": self.reason}


@dataclass
class UpdateRequest:
    """What :meth:`EndpointDeployer.update` asked for: the config, and the variants it took out of autoscaling."""

    config: str
    deregistered: list[str] = field(default_factory=list)


class EndpointDeployer:
    """Models, endpoint configs and updates of endpoint ``endpoint_name`` (SageMaker and Application Auto Scaling
    clients: boto3, the emulator's, or fakes)."""

    def __init__(self, sagemaker: Any, autoscaling: Any, endpoint_name: str) -> None:
        if not NAME_PATTERN.fullmatch(endpoint_name):
            raise ValueError(f"{endpoint_name!r} is not a valid SageMaker endpoint name")
        self.sagemaker = sagemaker
        self.autoscaling = autoscaling
        self.endpoint_name = endpoint_name

    # -- reading -------------------------------------------------------------------------------------------
    def _listed(self, operation: str, key: str, field_name: str, name: str) -> bool:
        """Whether a resource called exactly ``name`` exists (List* with NameContains, every page)."""
        request: dict[str, Any] = {"NameContains": name, "MaxResults": 100}
        while True:
            page = getattr(self.sagemaker, operation)(**request)
            if any(item[field_name] == name for item in page.get(key, [])):
                return True
            if not page.get("NextToken"):
                return False
            request["NextToken"] = page["NextToken"]

    def describe(self) -> dict[str, Any] | None:
        """The endpoint's description, or None when it does not exist."""
        if not self._listed("list_endpoints", "Endpoints", "EndpointName", self.endpoint_name):
            return None
        return dict(self.sagemaker.describe_endpoint(EndpointName=self.endpoint_name))

    def serving_config(self) -> dict[str, Any]:
        """The config the endpoint runs now (DescribeEndpointConfig of its current config)."""
        endpoint = self.describe()
        if endpoint is None:
            raise DeploymentError(f"endpoint {self.endpoint_name} does not exist")
        return dict(self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"]))

    # -- models and configs ----------------------------------------------------------------------------------
    def model_name(self, label: str, spec: ModelSpec) -> str:
        """The name :meth:`model` gives ``spec`` (nothing is created)."""
        return unique_name(self.endpoint_name, label, spec.request())

    def config_name(self, label: str, spec: ConfigSpec) -> str:
        """The name :meth:`config` gives ``spec`` (nothing is created)."""
        return unique_name(self.endpoint_name, label, spec.request())

    def model(self, label: str, spec: ModelSpec) -> str:
        """Create the model ``spec`` describes unless it exists; returns its name."""
        name = self.model_name(label, spec)
        if not self._listed("list_models", "Models", "ModelName", name):
            self.sagemaker.create_model(ModelName=name, **spec.request())
        return name

    def config(self, label: str, spec: ConfigSpec) -> str:
        """Create the endpoint config ``spec`` describes unless it exists; returns its name."""
        name = self.config_name(label, spec)
        if not self._listed("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", name):
            self.sagemaker.create_endpoint_config(EndpointConfigName=name, **spec.request())
        return name

    # -- changing the endpoint -------------------------------------------------------------------------------
    def create(self, config: str) -> None:
        """Create the endpoint on ``config`` (nothing when it exists already: a retried step)."""
        if self.describe() is None:
            self.sagemaker.create_endpoint(EndpointName=self.endpoint_name, EndpointConfigName=config)

    def update(self, config: str, *, deployment: dict[str, Any] | None = None) -> UpdateRequest:
        """Move the endpoint to ``config`` (``deployment``: a blue/green ``DeploymentConfig``).

        Variants the new config removes, or serves on another instance type, are taken out of autoscaling first.
        Instance counts of the variants that stay are retained. Idempotent: an endpoint already on ``config``,
        or already updating to it, is left alone. Raises DeploymentError when the endpoint is missing or busy
        with another change.
        """
        endpoint = self.describe()
        if endpoint is None:
            raise DeploymentError(f"endpoint {self.endpoint_name} does not exist; create it first")
        pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if endpoint["EndpointStatus"] in BUSY:
            if pending == config:
                return UpdateRequest(config)
            raise DeploymentError(
                f"endpoint {self.endpoint_name} is {endpoint['EndpointStatus']}; another change is in progress"
            )
        if endpoint["EndpointConfigName"] == config and endpoint["EndpointStatus"] == "InService":
            return UpdateRequest(config)
        deregistered = self._release_autoscaling(endpoint["EndpointConfigName"], config)
        request: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "EndpointConfigName": config,
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": NOT_RETAINED,
        }
        if deployment:
            request["DeploymentConfig"] = deployment
        self.sagemaker.update_endpoint(**request)
        return UpdateRequest(config, deregistered)

    def update_weights(self, weights: dict[str, float]) -> None:
        """Shift traffic between the production variants (UpdateEndpointWeightsAndCapacities)."""
        self.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=self.endpoint_name,
            DesiredWeightsAndCapacities=[{"VariantName": n, "DesiredWeight": float(w)} for n, w in weights.items()],
        )

    def delete(self) -> None:
        self.sagemaker.delete_endpoint(EndpointName=self.endpoint_name)

    # -- cleaning up -----------------------------------------------------------------------------------------
    def _names(self, operation: str, key: str, field_name: str) -> list[str]:
        """Every name a List* call finds containing this endpoint's resource prefix (every page)."""
        request: dict[str, Any] = {"NameContains": resource_prefix(self.endpoint_name), "MaxResults": 100}
        names: list[str] = []
        while True:
            page = getattr(self.sagemaker, operation)(**request)
            names.extend(str(item[field_name]) for item in page.get(key, []))
            if not page.get("NextToken"):
                return names
            request["NextToken"] = page["NextToken"]

    def model_names(self) -> list[str]:
        """Models whose names contain the endpoint's prefix (:mod:`mlops_kit.serving.cleanup` says whose)."""
        return self._names("list_models", "Models", "ModelName")

    def configs_with_models(self) -> dict[str, list[str]]:
        """Endpoint configs whose names contain the endpoint's prefix, each with the models its production and
        shadow variants use."""
        configs: dict[str, list[str]] = {}
        for name in self._names("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName"):
            described = self.sagemaker.describe_endpoint_config(EndpointConfigName=name)
            variants = [*described.get("ProductionVariants", []), *(described.get("ShadowProductionVariants") or [])]
            configs[name] = [str(v["ModelName"]) for v in variants]
        return configs

    def delete_configs_and_models(self, configs: tuple[str, ...], models: tuple[str, ...]) -> None:
        """Delete ``configs`` then ``models``; names already gone are skipped (a retried cleanup).

        Never pass a config the endpoint uses: DeleteEndpointConfig does not refuse it, but the endpoint then
        loses sight of its instance type (DeleteEndpointConfig API reference)."""
        existing_configs = set(self._names("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName"))
        for name in configs:
            if name in existing_configs:
                self.sagemaker.delete_endpoint_config(EndpointConfigName=name)
        existing_models = set(self.model_names())
        for name in models:
            if name in existing_models:
                self.sagemaker.delete_model(ModelName=name)

    def progress(self, config: str, *, weights: dict[str, float] | None = None) -> Progress:
        """Where the change to ``config`` (and ``weights``, after a shift) stands.

        ``done``: InService on ``config`` with those weights. ``failed``: the endpoint is gone, Failed,
        UpdateRollbackFailed or OutOfService, or back InService on another config (how SageMaker ends a failed
        or rolled-back update, with a ``FailureReason``) or with other weights. ``in_progress`` otherwise.
        """
        endpoint = self.describe()
        if endpoint is None:
            return Progress("failed", "Missing", None, f"endpoint {self.endpoint_name} does not exist")
        status, current = str(endpoint["EndpointStatus"]), str(endpoint["EndpointConfigName"])
        reason = str(endpoint.get("FailureReason") or "")
        if status in BROKEN:
            return Progress("failed", status, current, reason or f"the endpoint is {status}")
        if status in BUSY:
            return Progress("in_progress", status, current)
        if current != config:
            why = reason or "no reason given"
            return Progress("failed", status, current, f"the endpoint stayed on {current}, not {config}: {why}")
        if weights and not _weights_match(endpoint, weights):
            served = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
            return Progress("failed", status, current, f"weights are {served}, not {weights}: {reason or 'no reason'}")
        return Progress("done", status, current)

    # -- autoscaling -----------------------------------------------------------------------------------------
    def _resource(self, variant: str) -> str:
        return f"endpoint/{self.endpoint_name}/variant/{variant}"

    def autoscaled_variants(self) -> list[str]:
        """Every variant of this endpoint registered with Application Auto Scaling (also after the endpoint is
        gone: a target outlives the variant it scaled)."""
        prefix = f"endpoint/{self.endpoint_name}/variant/"
        request: dict[str, Any] = {"ServiceNamespace": "sagemaker", "ScalableDimension": AUTOSCALING_DIMENSION}
        variants: list[str] = []
        while True:
            page = self.autoscaling.describe_scalable_targets(**request)
            for target in page.get("ScalableTargets", []):
                if str(target["ResourceId"]).startswith(prefix):
                    variants.append(str(target["ResourceId"]).removeprefix(prefix))
            if not page.get("NextToken"):
                return variants
            request["NextToken"] = page["NextToken"]

    def autoscaled(self, variant: str) -> bool:
        described = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[self._resource(variant)], ScalableDimension=AUTOSCALING_DIMENSION
        )
        return bool(described.get("ScalableTargets"))

    def _release_autoscaling(self, current: str, new: str) -> list[str]:
        """Deregister the variants of ``current`` that ``new`` removes or moves to another instance type."""
        old = {v["VariantName"]: v for v in self.sagemaker.describe_endpoint_config(EndpointConfigName=current)[
            "ProductionVariants"]}  # fmt: skip
        kept = {v["VariantName"]: v for v in self.sagemaker.describe_endpoint_config(EndpointConfigName=new)[
            "ProductionVariants"]}  # fmt: skip
        changed = [
            name for name, entry in old.items()
            if name not in kept or kept[name].get("InstanceType") != entry.get("InstanceType")
        ]  # fmt: skip
        released = []
        for name in changed:
            if self.autoscaled(name):
                self.stop_autoscaling(name)
                released.append(name)
        return released

    def stop_autoscaling(self, variant: str) -> None:
        """Delete the variant's scaling policies and deregister it (no-op when it is not registered)."""
        resource = self._resource(variant)
        policies = self.autoscaling.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=AUTOSCALING_DIMENSION
        ).get("ScalingPolicies", [])
        for policy in policies:
            self.autoscaling.delete_scaling_policy(
                PolicyName=policy["PolicyName"], ServiceNamespace="sagemaker", ResourceId=resource,
                ScalableDimension=AUTOSCALING_DIMENSION,
            )  # fmt: skip
        if self.autoscaled(variant):
            self.autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=AUTOSCALING_DIMENSION
            )

    def autoscale(self, variant: str, *, minimum: int, maximum: int, invocations_per_instance: int) -> None:
        """Register ``variant`` with Application Auto Scaling and track invocations per instance (both calls are
        upserts, so a retry is harmless)."""
        resource = self._resource(variant)
        self.autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=AUTOSCALING_DIMENSION,
            MinCapacity=minimum, MaxCapacity=maximum,
        )  # fmt: skip
        self.autoscaling.put_scaling_policy(
            PolicyName=f"{self.endpoint_name}-{variant}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=AUTOSCALING_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(invocations_per_instance),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )


def _weights_match(endpoint: dict[str, Any], weights: dict[str, float]) -> bool:
    """Whether the endpoint's current weights are proportional to ``weights`` (SageMaker keeps them as given)."""
    current = {v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in endpoint.get("ProductionVariants", [])}
    total, wanted = sum(current.values()), sum(weights.values())
    if set(current) != set(weights) or total <= 0 or wanted <= 0:
        return False
    return all(abs(current[n] / total - w / wanted) < 1e-6 for n, w in weights.items())
