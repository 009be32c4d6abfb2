"""Real-time endpoints that really serve, update and roll back in the emulator.

moto creates endpoints InService at once, drops shadow variants, has no UpdateEndpoint and answers every
InvokeEndpoint (even to a missing endpoint) with the literal string "body". Here, per endpoint:

* Create/Update take time on the emulator's virtual clock (Creating/Updating, then InService); UpdateEndpoint with
  a blue/green ``DeploymentConfig`` shifts traffic ALL_AT_ONCE, CANARY or LINEAR, bakes each step and rolls
  back (status RollingBack, then InService on the old configuration) when an ``AutoRollbackConfiguration``
  alarm is in ALARM, as SageMaker does. ``ShadowProductionVariants`` are kept and served.
* InvokeEndpoint runs the variant's model in-process: the model artifact (``model.tar.gz``) and the code
  bundle (``SAGEMAKER_SUBMIT_DIRECTORY``) are fetched from the emulator's S3, and the inference script's
  ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` are called as the scikit-learn container calls them.
  Traffic follows variant weights, or ``TargetVariant``; shadow variants get a copy of each request whose
  answer is captured but never returned.
* Each invocation publishes the per-variant metrics (Invocations, Invocation4XXErrors, Invocation5XXErrors,
  ModelLatency, OverheadLatency: nominal figures plus injected latency, never measured) that the rollback
  alarms watch, and, when data capture is on, writes the request and response to S3 in SageMaker's capture
  layout and JSON-lines format.
* :meth:`EndpointService.inject_fault` makes a variant (or one model) fail or slow down, and
  :meth:`EndpointService.fail_next_update` makes an endpoint's next update fail, for rehearsals.

SageMaker's rules that moto does not enforce are enforced here: names of models and endpoint configs are unique
(CreateModel, CreateEndpointConfig), an update may not remove an autoscaled variant or change its instance type,
blue/green traffic steps must fit the variant's instances, and a config with a shadow variant has exactly one
production and one shadow variant. An instance-based endpoint cannot be updated to a serverless config, and a
serverless endpoint takes no rolling deployment (the serverless config rules themselves are request rules:
:mod:`mlops_local.constraints`). A failed update ends as SageMaker ends one: InService on the *old* config with a
``FailureReason`` (or UpdateRollbackFailed / OutOfService / Failed when the rehearsal asks for it), and
``RetainAllVariantProperties`` keeps the instance counts (and weights, capture) of the variants that stay.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import random
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_local.clock import ClockStoppedError, Event, VirtualClock
from mlops_local.iam.identity import acting_as
from mlops_local.lambda_runtime import load_module_from, process_environment
from mlops_local.patching import PatchPoint
from mlops_local.sagemaker import fetch_object

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

LOG = logging.getLogger(__name__)

# Emulated durations (seconds on the emulator's clock).
CREATE_SECONDS = 180
UPDATE_SECONDS = 120
WEIGHTS_SECONDS = 20
ROLLBACK_SECONDS = 60
CAPTURE_FLUSH_RECORDS = 200
CAPTURE_FLUSH_SECONDS = 60  # SageMaker writes capture files every few minutes; the emulator every minute
BAKE_CHECK_SECONDS = 10  # how often a blue/green deployment looks at its rollback alarms
MODEL_LATENCY_MS = 5.0  # every request's ModelLatency (plus injected latency): modelled, see Endpoints._run
OVERHEAD_LATENCY_MS = 1.0  # every request's OverheadLatency

_R = "moto.sagemaker.responses"
_ACTION = "(self) -> moto.core.responses.ActionResult"


def _point(name: str, attribute: str, why: str, *, module: str = _R, signature: str = _ACTION) -> PatchPoint:
    return PatchPoint(name=name, module=module, attribute=attribute, signature=signature, why=why)


PATCH_POINTS: tuple[PatchPoint, ...] = (
    _point(
        "sagemaker-create-model",
        "SageMakerResponse.create_model",
        "moto overwrites a model of the same name; SageMaker refuses it (Cannot create already existing model)",
    ),
    _point(
        "sagemaker-create-endpoint-config",
        "SageMakerResponse.create_endpoint_config",
        "keep ShadowProductionVariants; refuse an existing name and shadow layouts SageMaker refuses",
    ),
    _point(
        "sagemaker-describe-endpoint-config", "SageMakerResponse.describe_endpoint_config", "return shadow variants"
    ),
    _point("sagemaker-create-endpoint", "SageMakerResponse.create_endpoint", "endpoints take time to create"),
    _point(
        "sagemaker-describe-endpoint", "SageMakerResponse.describe_endpoint", "status, weights, shadows, deployments"
    ),
    _point("sagemaker-delete-endpoint", "SageMakerResponse.delete_endpoint", "forget the served state"),
    _point(
        "sagemaker-update-weights", "SageMakerResponse.update_endpoint_weights_and_capacities", "weights split traffic"
    ),
    PatchPoint(
        name="sagemaker-update-endpoint",
        module=_R,
        attribute="SageMakerResponse.update_endpoint",
        signature="",
        why="moto lacks UpdateEndpoint (plain and blue/green)",
        adds=True,
    ),
    _point(
        "sagemaker-runtime-invoke",
        "SageMakerRuntimeResponse.invoke_endpoint",
        "run the model instead of returning a fixed string",
        module="moto.sagemakerruntime.responses",
        signature="(self) -> tuple[int, dict[str, typing.Any], str | bytes]",
    ),
)

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
# How a failed update may leave the endpoint (DescribeEndpoint's EndpointStatus): SageMaker's usual ending is
# InService on the old config with a FailureReason; the others are the states a rehearsal can ask for.
FAILED_UPDATE_ENDINGS = ("InService", "UpdateRollbackFailed", "OutOfService", "Failed")
NOT_SERVING = ("Creating", "Deleting", "Failed", "OutOfService")
AUTOSCALING_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# UpdateEndpoint's VariantPropertyType: what RetainAllVariantProperties keeps unless ExcludeRetainedVariantProperties
# names it.
RETAINABLE = frozenset({"DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"})


class EndpointError(Exception):
    """An API error: ``code`` is the error code the service returns (ValidationException, ...)."""

    def __init__(self, code: str, message: str, status: int = 400, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status
        self.fields = fields or {}  # the error shape's own members (ModelError: OriginalStatusCode, ...)


@dataclass
class Fault:
    error_rate: float = 0.0
    extra_latency_ms: float = 0.0
    status_code: int = 500
    min_share: float = 0.0  # live only while the variant holds at least this share of the endpoint's weight


@dataclass(frozen=True)
class UpdateFailure:
    """How the next update of an endpoint fails (:meth:`EndpointService.fail_next_update`)."""

    reason: str
    ends: str = "InService"


@dataclass
class Variant:
    name: str
    model_name: str
    weight: float
    instance_count: int
    instance_type: str

    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> Variant:
        return cls(
            name=spec["VariantName"],
            model_name=spec["ModelName"],
            weight=float(spec.get("InitialVariantWeight", 1.0)),
            instance_count=int(spec.get("InitialInstanceCount", 1)),
            instance_type=spec.get("InstanceType", "ml.m5.large"),
        )

    def describe(self, status: str) -> dict[str, Any]:
        return {
            "VariantName": self.name,
            "CurrentWeight": self.weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instance_count,
            "DesiredInstanceCount": self.instance_count,
            "VariantStatus": [{"Status": status, "StartTime": dt.datetime.now(dt.UTC)}]
            if status != "InService"
            else [],
        }


Scope = tuple[str, str]  # (account, region)


@dataclass
class EndpointState:
    name: str
    arn: str
    config_name: str
    variants: list[Variant]
    shadows: list[Variant]
    capture: dict[str, Any]
    status: str = "Creating"
    ready_at: float = 0.0
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    modified: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    failure_reason: str | None = None
    # A blue/green update in flight: the new fleet's variants and the share of traffic they get.
    new_fleet: list[Variant] | None = None
    new_fleet_share: float = 0.0
    pending_config: str | None = None
    deployment_config: dict[str, Any] | None = None
    last_deployment_config: dict[str, Any] | None = None
    deployment_stage: str = ""
    failing: UpdateFailure | None = None  # the update in flight fails (fail_next_update)
    retained: frozenset[str] = frozenset()  # the variant properties the update in flight retains
    account: str = ""  # the account and region the endpoint belongs to (its models, configs, metrics, alarms)
    region: str = ""

    @property
    def scope(self) -> Scope:
        return self.account, self.region


@dataclass
class LoadedModel:
    module: Any
    model: Any
    environment: dict[str, str]
    role: str | None = None  # the model's ExecutionRoleArn: its inference code runs as this role


class EndpointService:
    """The emulator's SageMaker hosting: endpoint state, invocation, capture, metrics, faults.

    Endpoints belong to an account and region (``scope``; default the emulator's): each account's endpoints, models
    and configs are its own, an endpoint's metrics go to its account's CloudWatch, its rollback alarms and scalable
    targets are read in its account, and its model (artifacts) and capture (writes) are fetched and written as its
    model's execution role, wherever the bucket is (another account's bucket and key policies then decide)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.endpoints: dict[tuple[str, str, str], EndpointState] = {}  # (account, region, name)
        self.shadow_configs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (account, region, config)
        self.faults: dict[str, Fault] = {}
        self.update_failures: dict[str, UpdateFailure] = {}  # endpoint name -> how its next update fails
        self._models: dict[tuple[str, ...], LoadedModel] = {}
        self._loading: dict[tuple[str, ...], threading.Lock] = {}
        self._capture: dict[
            tuple[str, str, str, str], list[dict[str, Any]]
        ] = {}  # (account, region, endpoint, variant)
        self._lock = threading.RLock()
        self._random = random.Random(7)
        self._stopping = False
        self._captured: Event | None = None  # set when a record lands in an empty capture buffer
        self._flusher: threading.Thread | None = None

    @property
    def clock(self) -> VirtualClock:
        return self.emulator.clock

    def start(self) -> None:
        """Start the capture flusher: buffered records reach S3 CAPTURE_FLUSH_SECONDS after the first of them."""
        if self._flusher is None:
            self._stopping = False
            self._captured = Event(self.clock)
            self._flusher = self.clock.spawn(self._flush_loop, name="emulator-capture")

    def stop(self) -> None:
        self._stopping = True
        if self._captured is not None:
            self._captured.set()
        if self._flusher is not None:
            self._flusher.join(5)
            self._flusher = None
        self.flush_capture()

    def _flush_loop(self) -> None:
        assert self._captured is not None
        try:
            while not self._stopping:
                self._captured.wait()  # idle, no timer, until something is captured
                if self._stopping:
                    return
                self.clock.sleep(CAPTURE_FLUSH_SECONDS)
                self._captured.clear()
                try:
                    self.flush_capture()
                except Exception as exc:  # S3 may be reset by a test teardown; the next flush retries
                    LOG.warning("capture flush failed: %s", exc)
        except ClockStoppedError:
            return

    # -- clock ---------------------------------------------------------------------------------------
    def _after(self, seconds: float) -> float:
        return self.clock.now() + seconds

    def _finish_after(self, endpoint: EndpointState, seconds: float) -> None:
        """The transition just started ends ``seconds`` from now, at that moment on the clock (a timer, so the
        clock knows something is due then)."""
        ready_at = endpoint.ready_at = self._after(seconds)

        def finish() -> None:
            self.clock.sleep(seconds)
            with self._lock:
                if endpoint.ready_at == ready_at:  # not superseded by a later transition
                    self._refresh(endpoint)

        self.clock.spawn(finish, name=f"endpoint-{endpoint.name}-transition")

    def _refresh(self, endpoint: EndpointState) -> None:
        """Finish a timed transition (Creating/Updating) whose time has come."""
        if (
            endpoint.status in ("Creating", "Updating")
            and endpoint.deployment_config is None
            and self.clock.now() >= endpoint.ready_at
        ):
            if endpoint.failing is not None:
                self._fail_update(endpoint)
                return
            if endpoint.pending_config:
                self._switch(endpoint, endpoint.pending_config, endpoint.retained)
            endpoint.status = "InService"
            endpoint.modified = dt.datetime.now(dt.UTC)

    @staticmethod
    def _fail_update(endpoint: EndpointState) -> None:
        """End the update in flight as SageMaker ends a failed one: the old config keeps serving (its variants
        were never switched), the status is the failure's ending (InService unless a rehearsal asked for
        another) and DescribeEndpoint carries the FailureReason."""
        failure = endpoint.failing
        assert failure is not None
        endpoint.failing = None
        endpoint.pending_config, endpoint.deployment_config, endpoint.new_fleet = None, None, None
        endpoint.new_fleet_share = 0.0
        endpoint.deployment_stage = ""
        endpoint.failure_reason = failure.reason
        endpoint.status = failure.ends
        endpoint.modified = dt.datetime.now(dt.UTC)

    # -- configs -------------------------------------------------------------------------------------
    def scope(self, scope: Scope | None = None) -> Scope:
        """``scope`` (account, region), or the emulator's own."""
        return scope or (self.emulator.account, self.emulator.region)

    def _backend(self, scope: Scope | None = None) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        account, region = self.scope(scope)
        return sagemaker_backends[account][region]

    def config(self, name: str, scope: Scope | None = None) -> dict[str, Any]:
        backend = self._backend(scope)
        if name not in backend.endpoint_configs:
            raise EndpointError("ValidationException", f'Could not find endpoint configuration "{name}".')
        described: dict[str, Any] = dict(backend.endpoint_configs[name].response_object)
        described["ShadowProductionVariants"] = self.shadow_configs.get(_config_key(backend, name), [])
        return described

    def _switch(self, endpoint: EndpointState, config_name: str, retained: frozenset[str] = frozenset()) -> None:
        """Serve ``config_name``, keeping the ``retained`` variant properties (RetainAllVariantProperties) of the
        variants that stay."""
        config = self.config(config_name, endpoint.scope)
        endpoint.config_name = config_name
        endpoint.variants = self._retaining(endpoint, config["ProductionVariants"], retained)
        endpoint.shadows = [Variant.from_config(v) for v in config["ShadowProductionVariants"]]
        if "DataCaptureConfig" not in retained or not endpoint.capture:
            endpoint.capture = config.get("DataCaptureConfig") or {}
        endpoint.pending_config = None

    @staticmethod
    def _retaining(endpoint: EndpointState, specs: list[dict[str, Any]], retained: frozenset[str]) -> list[Variant]:
        """The config's variants, with the instance count and weight the endpoint's same-named variant has now
        where ``retained`` says so (UpdateEndpoint: "the latest DesiredInstanceCount ... regardless of the new
        EndpointConfig's InitialInstanceCount")."""
        serving = {v.name: v for v in endpoint.variants}
        variants = []
        for spec in specs:
            variant, current = Variant.from_config(spec), serving.get(spec["VariantName"])
            if current is not None and "DesiredInstanceCount" in retained:
                variant.instance_count = current.instance_count
            if current is not None and "DesiredWeight" in retained:
                variant.weight = current.weight
            variants.append(variant)
        return variants

    def get(self, name: str, scope: Scope | None = None) -> EndpointState:
        account, region = self.scope(scope)
        endpoint = self.endpoints.get((account, region, name))
        if endpoint is None:
            arn = f"arn:aws:sagemaker:{region}:{account}:endpoint/{name.lower()}"
            raise EndpointError("ValidationException", f'Could not find endpoint "{arn}".')
        self._refresh(endpoint)
        return endpoint

    # -- control plane -------------------------------------------------------------------------------
    def create(self, name: str, config_name: str, arn: str, scope: Scope | None = None) -> None:
        account, region = self.scope(scope)
        with self._lock:
            if (account, region, name) in self.endpoints:
                raise EndpointError("ValidationException", f'Cannot create already existing endpoint "{arn}".')
            endpoint = EndpointState(
                name=name,
                arn=arn,
                config_name=config_name,
                variants=[],
                shadows=[],
                capture={},
                account=account,
                region=region,
            )
            self._switch(endpoint, config_name)
            self._finish_after(endpoint, CREATE_SECONDS)
            self.endpoints[(account, region, name)] = endpoint

    def describe(self, name: str, scope: Scope | None = None) -> dict[str, Any]:
        endpoint = self.get(name, scope)
        variant_status = {"Creating": "Creating", "Updating": "Updating", "RollingBack": "Updating"}.get(
            endpoint.status, "InService"
        )
        described: dict[str, Any] = {
            "EndpointName": endpoint.name,
            "EndpointArn": endpoint.arn,
            "EndpointConfigName": endpoint.config_name,
            "ProductionVariants": [v.describe(variant_status) for v in endpoint.variants],
            "EndpointStatus": endpoint.status,
            "CreationTime": endpoint.created,
            "LastModifiedTime": endpoint.modified,
        }
        if endpoint.shadows:
            described["ShadowProductionVariants"] = [v.describe(variant_status) for v in endpoint.shadows]
        if endpoint.capture:
            described["DataCaptureConfig"] = {
                "EnableCapture": bool(endpoint.capture.get("EnableCapture", True)),
                "CaptureStatus": "Started" if endpoint.capture.get("EnableCapture", True) else "Stopped",
                "CurrentSamplingPercentage": int(endpoint.capture.get("InitialSamplingPercentage", 100)),
                "DestinationS3Uri": endpoint.capture.get("DestinationS3Uri", ""),
                **({"KmsKeyId": endpoint.capture["KmsKeyId"]} if endpoint.capture.get("KmsKeyId") else {}),
            }
        if endpoint.failure_reason:
            described["FailureReason"] = endpoint.failure_reason
        if endpoint.last_deployment_config:
            described["LastDeploymentConfig"] = endpoint.last_deployment_config
        if endpoint.deployment_config is not None and endpoint.pending_config:
            described["PendingDeploymentSummary"] = {
                "EndpointConfigName": endpoint.pending_config,
                "ProductionVariants": [
                    {**v.describe("Updating"), "CurrentWeight": round(endpoint.new_fleet_share * 100, 3)}
                    for v in endpoint.new_fleet or []
                ],
                "StartTime": endpoint.modified,
            }
        return described

    def delete(self, name: str, scope: Scope | None = None) -> None:
        with self._lock:
            endpoint = self.get(name, scope)
            self.flush_capture()
            del self.endpoints[(endpoint.account, endpoint.region, name)]

    def update(
        self,
        name: str,
        config_name: str,
        deployment_config: dict[str, Any] | None,
        retained: frozenset[str] = frozenset(),
        scope: Scope | None = None,
    ) -> None:
        """UpdateEndpoint: refused (EndpointError) as SageMaker refuses it; otherwise the endpoint is Updating
        until the new config serves (keeping the ``retained`` variant properties), or until the update fails
        (:meth:`fail_next_update`)."""
        with self._lock:
            endpoint = self.get(name, scope)
            if endpoint.status in BUSY:
                raise EndpointError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.status}).',
                )
            if endpoint.status == "Failed":  # DescribeEndpoint: DeleteEndpoint is all a failed endpoint takes
                raise EndpointError(
                    "ValidationException", f'Cannot update failed endpoint "{endpoint.arn}"; delete it instead.'
                )
            new = self.config(config_name, endpoint.scope)
            check_serverless_update(self.config(endpoint.config_name, endpoint.scope), new, deployment_config)
            self._check_autoscaled_variants(endpoint, new)
            blue_green = bool(deployment_config and deployment_config.get("BlueGreenUpdatePolicy"))
            if blue_green:
                assert deployment_config is not None
                old_names = sorted(v.name for v in endpoint.variants)
                new_names = sorted(v["VariantName"] for v in new["ProductionVariants"])
                if old_names != new_names:
                    raise EndpointError(
                        "ValidationException",
                        f"A blue/green update with traffic routing must keep the variant names {old_names}; "
                        f"the new config has {new_names}.",
                    )
                fleet = self._retaining(endpoint, new["ProductionVariants"], retained)
                sizes = [{"VariantName": v.name, "InitialInstanceCount": v.instance_count} for v in fleet]
                check_blue_green_policy(deployment_config["BlueGreenUpdatePolicy"], sizes)
            endpoint.status = "Updating"
            endpoint.retained = retained
            endpoint.failure_reason = None
            endpoint.pending_config = config_name
            endpoint.failing = self.update_failures.pop(name, None)
            endpoint.modified = dt.datetime.now(dt.UTC)
            if not blue_green:
                endpoint.deployment_config = None
                self._finish_after(endpoint, UPDATE_SECONDS)
                return
            assert deployment_config is not None
            endpoint.deployment_config = deployment_config
            endpoint.new_fleet = self._retaining(endpoint, new["ProductionVariants"], retained)
            endpoint.new_fleet_share = 0.0
            self.clock.spawn(self._blue_green, endpoint, config_name, deployment_config, name=f"blue-green-{name}")

    def autoscaled_variants(self, name: str, scope: Scope | None = None) -> set[str]:
        """The variants of endpoint ``name`` registered with Application Auto Scaling in the endpoint's account
        (resource ``endpoint/<name>/variant/<variant>``, dimension ``sagemaker:variant:DesiredInstanceCount``)."""
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        account, region = self.scope(scope)
        backend = applicationautoscaling_backends[account][region]
        prefix = f"endpoint/{name}/variant/"
        return {
            rid.removeprefix(prefix) for rid in backend.targets.get(AUTOSCALING_DIMENSION, {}) if rid.startswith(prefix)
        }

    def _check_autoscaled_variants(self, endpoint: EndpointState, new: dict[str, Any]) -> None:
        """SageMaker's "Update endpoints that use auto scaling": an update that removes a variant registered as a
        scalable target, or changes its instance type, fails; changing its model is allowed."""
        autoscaled = self.autoscaled_variants(endpoint.name, endpoint.scope)
        if not autoscaled:
            return
        kept = {v["VariantName"]: v.get("InstanceType", "ml.m5.large") for v in new["ProductionVariants"]}
        removed = sorted(v.name for v in endpoint.variants if v.name in autoscaled and v.name not in kept)
        retyped = sorted(
            v.name
            for v in endpoint.variants
            if v.name in autoscaled and v.name in kept and kept[v.name] != v.instance_type
        )
        if removed or retyped:
            problems = []
            if removed:
                problems.append(f"removes {removed}")
            if retyped:
                problems.append(f"changes the instance type of {retyped}")
            raise EndpointError(
                "ValidationException",
                f'The update of endpoint "{endpoint.arn}" {" and ".join(problems)}, registered as scalable targets '
                f"with Application Auto Scaling ({AUTOSCALING_DIMENSION}). Delete their scaling policies and "
                "deregister them (DeregisterScalableTarget) before updating the endpoint.",
            )

    def _blue_green(self, endpoint: EndpointState, config_name: str, deployment: dict[str, Any]) -> None:
        policy = deployment["BlueGreenUpdatePolicy"]
        routing = policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE"})
        alarms = [a["AlarmName"] for a in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
        wait = float(routing.get("WaitIntervalInSeconds", 0))
        instances = max(1, sum(v.instance_count for v in endpoint.new_fleet or []))

        def share_of(size: dict[str, Any]) -> float:
            value = float(size["Value"])
            return min(1.0, value / 100 if size["Type"] == "CAPACITY_PERCENT" else value / instances)

        if routing["Type"] == "CANARY":
            steps = [share_of(routing["CanarySize"]), 1.0]
        elif routing["Type"] == "LINEAR":
            step = share_of(routing["LinearStepSize"])
            steps = [min(1.0, step * (i + 1)) for i in range(int(1 / step + 0.999))]
            steps[-1] = 1.0
        else:
            steps = [1.0]
        endpoint.deployment_stage = "Creating"
        self.clock.sleep(CREATE_SECONDS)  # the new (green) fleet is provisioned before any traffic moves
        if endpoint.failing is not None:  # the new fleet never came up: no traffic moved
            with self._lock:
                self._fail_update(endpoint)
                endpoint.last_deployment_config = deployment
            return
        try:
            for share in steps:
                endpoint.new_fleet_share = share
                endpoint.deployment_stage = f"Baking {round(share * 100)}%"
                self._bake(wait, alarms, endpoint.scope)
            endpoint.deployment_stage = "Terminating"
            self.clock.sleep(float(policy.get("TerminationWaitInSeconds", 0)))
        except _RollBack as rollback:
            endpoint.status = "RollingBack"
            endpoint.new_fleet_share = 0.0
            endpoint.deployment_stage = "RollingBack"
            self.clock.sleep(ROLLBACK_SECONDS)
            with self._lock:
                endpoint.new_fleet, endpoint.pending_config, endpoint.deployment_config = None, None, None
                endpoint.failure_reason = f"Rolled back: alarm {rollback.alarm} was in ALARM while baking"
                endpoint.last_deployment_config = deployment
                endpoint.status = "InService"
                endpoint.modified = dt.datetime.now(dt.UTC)
            return
        with self._lock:
            self._switch(endpoint, config_name, endpoint.retained)
            endpoint.new_fleet, endpoint.deployment_config = None, None
            endpoint.new_fleet_share = 0.0
            endpoint.last_deployment_config = deployment
            endpoint.status = "InService"
            endpoint.deployment_stage = ""
            endpoint.modified = dt.datetime.now(dt.UTC)

    def _bake(self, seconds: float, alarms: list[str], scope: Scope) -> None:
        """Bake for ``seconds``, watching the alarms (of the endpoint's account, ``scope``) every
        BAKE_CHECK_SECONDS (they change once a minute)."""
        deadline = self._after(seconds)
        while True:
            self._check_alarms(alarms, scope)
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return
            self.clock.sleep(min(BAKE_CHECK_SECONDS, remaining))

    def _check_alarms(self, alarms: list[str], scope: Scope) -> None:
        if not alarms:
            return
        from moto.cloudwatch.models import cloudwatch_backends

        account, region = scope
        backend = cloudwatch_backends[account][region]
        for name in alarms:
            alarm = backend.alarms.get(name)
            if alarm is not None and alarm.state_value == "ALARM":
                raise _RollBack(name)

    def update_weights(self, name: str, desired: list[dict[str, Any]], scope: Scope | None = None) -> None:
        with self._lock:
            endpoint = self.get(name, scope)
            if endpoint.status in BUSY:
                raise EndpointError("ValidationException", f'Cannot update in-progress endpoint "{endpoint.arn}".')
            names = {v.name for v in endpoint.variants}
            for change in desired:
                if change["VariantName"] not in names:
                    raise EndpointError(
                        "ValidationException",
                        f'The variant name(s) "{change["VariantName"]}" is/are not present within endpoint '
                        f'configuration "{endpoint.config_name}".',
                    )
            for variant in endpoint.variants:
                for change in desired:
                    if change["VariantName"] == variant.name:
                        variant.weight = float(change.get("DesiredWeight", variant.weight))
                        variant.instance_count = int(change.get("DesiredInstanceCount", variant.instance_count))
            endpoint.status = "Updating"
            self._finish_after(endpoint, WEIGHTS_SECONDS)
            endpoint.modified = dt.datetime.now(dt.UTC)

    # -- faults --------------------------------------------------------------------------------------
    def inject_fault(
        self,
        target: str,
        *,
        error_rate: float = 1.0,
        extra_latency_ms: float = 0.0,
        status_code: int = 500,
        min_share: float = 0.0,
    ) -> None:
        """Make a variant (by variant name) or a model (by model name) fail or slow down; ``clear_faults`` undoes.

        With ``min_share`` the fault is live only while the serving variant holds at least that share of the
        endpoint's production weight (shadows count as holding all of it: they see a copy of every request).
        A scenario can so break a candidate from a given canary step on, set up in advance: no observer has
        to catch the step in time.
        """
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        if not 0 <= min_share <= 1:
            raise ValueError(f"min_share must be in [0, 1], got {min_share}")
        self.faults[target] = Fault(
            error_rate=error_rate, extra_latency_ms=extra_latency_ms, status_code=status_code, min_share=min_share
        )

    def clear_faults(self) -> None:
        self.faults.clear()
        self.update_failures.clear()

    def fail_next_update(self, endpoint: str, reason: str, *, ends: str = "InService") -> None:
        """Make the next UpdateEndpoint of ``endpoint`` fail after it was accepted, as a fleet that never comes up
        fails: the endpoint is Updating for the usual time, then ends ``ends`` (InService, as SageMaker ends a
        failed update, or UpdateRollbackFailed, OutOfService, Failed) on its *old* config, with ``reason`` as
        its FailureReason. Raises ValueError for another ending or an empty reason."""
        if ends not in FAILED_UPDATE_ENDINGS:
            raise ValueError(f"ends must be one of {', '.join(FAILED_UPDATE_ENDINGS)}, got {ends!r}")
        if not reason.strip():
            raise ValueError("a failed update needs a FailureReason")
        self.update_failures[endpoint] = UpdateFailure(reason=reason, ends=ends)

    # -- data plane ----------------------------------------------------------------------------------
    def _choose(self, endpoint: EndpointState, target: str | None) -> Variant:
        if target:
            for variant in endpoint.variants:
                if variant.name == target:
                    return self._fleet(endpoint, variant)
            raise EndpointError(
                "ValidationError", f'Target variant "{target}" does not exist on endpoint "{endpoint.name}".'
            )
        total = sum(v.weight for v in endpoint.variants)
        if total <= 0:
            raise EndpointError("ValidationError", f'Endpoint "{endpoint.name}" has no variant with a positive weight.')
        pick = self._random.random() * total
        for variant in endpoint.variants:
            pick -= variant.weight
            if pick < 0:
                return self._fleet(endpoint, variant)
        return self._fleet(endpoint, endpoint.variants[-1])

    @staticmethod
    def _share(endpoint: EndpointState, name: str) -> float:
        """The share of the endpoint's production weight held by the variant called ``name``."""
        total = sum(v.weight for v in endpoint.variants)
        return sum(v.weight for v in endpoint.variants if v.name == name) / total if total > 0 else 1.0

    def _fleet(self, endpoint: EndpointState, variant: Variant) -> Variant:
        """During a blue/green shift, a share of the variant's traffic goes to the new fleet's same-named variant."""
        if endpoint.new_fleet and endpoint.new_fleet_share > 0 and self._random.random() < endpoint.new_fleet_share:
            for candidate in endpoint.new_fleet:
                if candidate.name == variant.name:
                    return candidate
        return variant

    def _model(self, model_name: str, scope: Scope) -> LoadedModel:
        backend = self._backend(scope)
        model = backend._models.get(model_name)
        if model is None:
            raise EndpointError("ValidationError", f'Could not find model "{model_name}".')
        container = model.primary_container or (model.containers or [{}])[0]
        environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        key = (*scope, model_name, container.get("ModelDataUrl", ""), json.dumps(environment, sort_keys=True))
        with self._lock:
            if key in self._models:
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        # Load outside the service lock: model_fn runs under the handlers' environment lock, and a Lambda
        # handler holding that lock may be calling UpdateEndpoint, which takes the service lock.
        with loading, acting_as(model.execution_role_arn, "SageMaker"):  # SageMaker fetches the model as its role
            with self._lock:
                if key in self._models:
                    return self._models[key]
            root = self.emulator.workdir / "models" / uuid.uuid4().hex[:12]
            model_dir, code_dir = root / "model", root / "code"
            self._extract(container["ModelDataUrl"], model_dir)
            program = environment.get("SAGEMAKER_PROGRAM", "inference.py")
            submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY")
            if submit:
                self._extract(submit, code_dir)
            else:
                code_dir = model_dir / "code"
            with process_environment(environment, self.emulator.endpoint_url):
                module = load_module_from(code_dir, program.removesuffix(".py"), key)
                loaded = module.model_fn(str(model_dir))
            with self._lock:
                self._models[key] = LoadedModel(module, loaded, environment, model.execution_role_arn)
                return self._models[key]

    def _extract(self, uri: str, into: Path) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        archive = into.parent / f"{into.name}.tar.gz"
        into.mkdir(parents=True, exist_ok=True)
        fetch_object(self.emulator.client("s3"), bucket, key, archive)  # as the model's role, across accounts too
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")

    def _run(
        self, variant: Variant, scope: Scope, body: bytes, content_type: str, accept: str, share: float = 1.0
    ) -> tuple[bytes, str, float]:
        """Run one request through a variant's model; returns (body, content type, model seconds).

        ``share`` is the variant's share of the endpoint's production weight (faults with a ``min_share``).
        Model latency is modelled, not measured: a nominal ``MODEL_LATENCY_MS`` plus any injected latency. What
        a request costs on this machine (wall or CPU time, which vary with load, caches and the garbage collector)
        predicts nothing about an ML instance, and a measured figure would make the shadow's latency check, and so
        a promotion's history, depend on the load of the machine that rehearses it.
        """
        fault = self.faults.get(variant.model_name) or self.faults.get(variant.name)
        if fault and share < fault.min_share:
            fault = None
        loaded = self._model(variant.model_name, scope)
        extra = (fault.extra_latency_ms / 1000) if fault else 0.0
        with process_environment(loaded.environment, self.emulator.endpoint_url), acting_as(loaded.role, "SageMaker"):
            if extra:
                time.sleep(extra)
            if fault and self._random.random() < fault.error_rate:
                raise _ModelFailure(fault.status_code, f"injected fault on {variant.name} ({variant.model_name})")
            try:
                data = loaded.module.input_fn(body, content_type)
                prediction = loaded.module.predict_fn(data, loaded.model)
                output = loaded.module.output_fn(prediction, accept)
            except Exception as exc:
                status = getattr(exc, "status_code", None)
                if isinstance(status, int) and 400 <= status < 600:  # the toolkit's error: its status and message
                    raise _ModelFailure(status, str(exc)) from exc
                raise _ModelFailure(500, f"{type(exc).__name__}: {exc}") from exc
            elapsed = MODEL_LATENCY_MS / 1000 + extra
        if isinstance(output, tuple):
            output, returned_type = output[0], output[1]
        else:
            returned_type = accept if accept and accept != "*/*" else "application/json"
        payload = output.encode() if isinstance(output, str) else bytes(output)
        return payload, returned_type, elapsed

    def invoke(
        self,
        name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str,
        target_variant: str | None,
        inference_id: str | None,
        scope: Scope | None = None,
    ) -> tuple[bytes, str, str]:
        """Serve one request; returns (body, content type, invoked production variant)."""
        account, region = self.scope(scope)
        if (account, region, name) not in self.endpoints:  # the runtime API says ValidationError here
            raise EndpointError("ValidationError", f"Endpoint {name} of account {account} not found.")
        endpoint = self.get(name, (account, region))
        if endpoint.status in NOT_SERVING:
            raise EndpointError("ValidationError", f"Endpoint {name} is not in service (status {endpoint.status}).")
        variant = self._choose(endpoint, target_variant)
        share = self._share(endpoint, variant.name) if self.faults else 1.0  # only faults look at it
        try:
            payload, returned_type, model_seconds = self._run(
                variant, endpoint.scope, body, content_type, accept, share
            )
        except _ModelFailure as failure:
            self._metrics(endpoint, variant.name, error=failure.status, model_seconds=None)
            self._capture_record(endpoint, variant.name, body, content_type, None, "", inference_id)
            # As SageMaker answers (botocore's ModelError shape): 424, "client error" for the container's 4xx and
            # "server error" for its 5xx, with the container's own status and body in OriginalStatusCode and
            # OriginalMessage (its log stream is in LogStreamArn).
            kind = "client" if 400 <= failure.status < 500 else "server"
            log_group = f"/aws/sagemaker/Endpoints/{endpoint.name}"
            raise EndpointError(
                "ModelError",
                f'Received {kind} error ({failure.status}) from primary with message "{failure.message}". See '
                f"the log group {log_group} in account {account} for more information.",
                424,
                {
                    "OriginalStatusCode": failure.status,
                    "OriginalMessage": failure.message,
                    "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:"
                    f"{log_group}:log-stream:{variant.name}/i-0",
                },
            ) from failure
        self._metrics(
            endpoint, variant.name, error=None, model_seconds=model_seconds, overhead_seconds=OVERHEAD_LATENCY_MS / 1000
        )
        self._capture_record(endpoint, variant.name, body, content_type, payload, returned_type, inference_id)
        for shadow in endpoint.shadows:
            try:
                shadow_payload, shadow_type, shadow_seconds = self._run(
                    shadow, endpoint.scope, body, content_type, accept
                )
                self._metrics(endpoint, shadow.name, error=None, model_seconds=shadow_seconds)
                self._capture_record(
                    endpoint, shadow.name, body, content_type, shadow_payload, shadow_type, inference_id
                )
            except _ModelFailure as failure:
                self._metrics(endpoint, shadow.name, error=failure.status, model_seconds=None)
                self._capture_record(endpoint, shadow.name, body, content_type, None, "", inference_id)
        return payload, returned_type, variant.name

    def _metrics(
        self,
        endpoint: EndpointState,
        variant: str,
        *,
        error: int | None,
        model_seconds: float | None,
        overhead_seconds: float = 0.0,
    ) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        dimensions = [{"Name": "EndpointName", "Value": endpoint.name}, {"Name": "VariantName", "Value": variant}]
        data = [
            {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 1.0, "Unit": "None"},
            {
                "MetricName": "Invocation4XXErrors",
                "Dimensions": dimensions,
                "Value": float(error is not None and 400 <= error < 500),
                "Unit": "None",
            },
            {
                "MetricName": "Invocation5XXErrors",
                "Dimensions": dimensions,
                "Value": float(error is not None and error >= 500),
                "Unit": "None",
            },
        ]
        if model_seconds is not None:
            data.append(
                {
                    "MetricName": "ModelLatency",
                    "Dimensions": dimensions,
                    "Value": model_seconds * 1e6,
                    "Unit": "Microseconds",
                }
            )
            data.append(
                {
                    "MetricName": "OverheadLatency",
                    "Dimensions": dimensions,
                    "Value": overhead_seconds * 1e6,
                    "Unit": "Microseconds",
                }
            )
        # SageMaker publishes an endpoint's metrics in the endpoint's account.
        cloudwatch_backends[endpoint.account][endpoint.region].put_metric_data("AWS/SageMaker", data)

    # -- data capture --------------------------------------------------------------------------------
    def _capture_record(
        self,
        endpoint: EndpointState,
        variant: str,
        body: bytes,
        content_type: str,
        output: bytes | None,
        output_type: str,
        inference_id: str | None,
    ) -> None:
        capture = endpoint.capture
        if not capture or not capture.get("EnableCapture", True) or not capture.get("DestinationS3Uri"):
            return
        if self._random.random() * 100 >= float(capture.get("InitialSamplingPercentage", 100)):
            return
        modes = {
            option.get("CaptureMode")
            for option in capture.get("CaptureOptions", [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}])
        }
        now = dt.datetime.now(dt.UTC)
        record: dict[str, Any] = {
            "captureData": {},
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            },
            "eventVersion": "0",
        }
        if inference_id:
            record["eventMetadata"]["inferenceId"] = inference_id
        if "Input" in modes:
            record["captureData"]["endpointInput"] = _capture_payload(body, content_type, "INPUT")
        if "Output" in modes and output is not None:
            record["captureData"]["endpointOutput"] = _capture_payload(output, output_type, "OUTPUT")
        with self._lock:
            key = (endpoint.account, endpoint.region, endpoint.name, variant)
            buffer = self._capture.setdefault(key, [])
            buffer.append(
                {"record": record, "at": now, "uri": capture["DestinationS3Uri"], "key": capture.get("KmsKeyId")}
            )
            if len(buffer) >= CAPTURE_FLUSH_RECORDS:
                self._flush(key)
        if self._captured is not None and not self._captured.is_set():
            self._captured.set()  # the flusher writes this record within CAPTURE_FLUSH_SECONDS

    def _flush(self, key: tuple[str, str, str, str]) -> None:
        """Write the records buffered for (account, region, endpoint, variant) as the variant's model's execution
        role, to whichever account's bucket the capture names (its bucket and key policies then decide)."""
        account, region, endpoint, variant = key
        buffered = self._capture.pop(key, [])
        by_hour: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for item in buffered:
            by_hour.setdefault((item["uri"], item["at"].strftime("%Y/%m/%d/%H"), item["key"] or ""), []).append(item)
        s3 = self.emulator.client("s3")
        role = self._model_role((account, region), endpoint, variant)  # SageMaker writes as the model's role
        for (uri, hour, kms_key), items in by_hour.items():
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            first = items[0]["at"]
            name = f"{first.strftime('%M-%S-%f')[:-3]}-{uuid.uuid4()}.jsonl"
            object_key = f"{prefix.strip('/')}/{endpoint}/{variant}/{hour}/{name}".lstrip("/")
            body = "\n".join(json.dumps(i["record"], separators=(",", ":")) for i in items) + "\n"
            # With the capture's KmsKeyId, S3 encrypts the records with that key ("SageMaker uses [it] to encrypt
            # the captured data at rest using Amazon S3 server-side encryption", DataCaptureConfig): the writer then
            # needs kms:GenerateDataKey on it; without one, the bucket's default encryption applies.
            encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
            with acting_as(role, "SageMaker"):
                s3.put_object(Bucket=bucket, Key=object_key, Body=body.encode(), **encryption)

    def _model_role(self, scope: Scope, endpoint: str, variant: str) -> str | None:
        """The execution role of the model behind ``variant`` (None once the endpoint is gone)."""
        state = self.endpoints.get((*scope, endpoint))
        fleet = [*state.variants, *state.shadows, *(state.new_fleet or [])] if state else []
        model_name = next((v.model_name for v in fleet if v.name == variant), None)
        model = self._backend(scope)._models.get(model_name) if model_name else None
        return model.execution_role_arn if model is not None else None

    def flush_capture(self) -> None:
        """Write every buffered capture record to S3 now (SageMaker writes batches every few minutes)."""
        with self._lock:
            for key in list(self._capture):
                self._flush(key)


class _RollBack(Exception):  # noqa: N818  (control flow inside the deployment thread)
    def __init__(self, alarm: str) -> None:
        super().__init__(alarm)
        self.alarm = alarm


class _ModelFailure(Exception):  # noqa: N818
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def check_blue_green_policy(policy: dict[str, Any], variants: list[dict[str, Any]]) -> None:
    """Refuse (EndpointError) a BlueGreenUpdatePolicy SageMaker refuses for the new config's ``variants``.

    TrafficRoutingConfig: the canary is at most 50% of the variant's instances, a linear step 10-50% of them
    (CAPACITY_PERCENT values are percentages of the instances; a step is at least one instance), and CANARY needs
    a CanarySize, LINEAR a LinearStepSize. BlueGreenUpdatePolicy: MaximumExecutionTimeoutInSeconds is larger than
    TerminationWaitInSeconds plus WaitIntervalInSeconds.
    """
    routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE"}
    kind = routing.get("Type", "ALL_AT_ONCE")
    waiting = int(policy.get("TerminationWaitInSeconds", 0)) + int(routing.get("WaitIntervalInSeconds", 0))
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and int(timeout) <= waiting:
        raise EndpointError(
            "ValidationException",
            f"MaximumExecutionTimeoutInSeconds ({timeout}) must be larger than TerminationWaitInSeconds plus "
            f"WaitIntervalInSeconds ({waiting}).",
        )
    if kind == "ALL_AT_ONCE":
        return
    field_name, low, high = ("CanarySize", 0.0, 0.5) if kind == "CANARY" else ("LinearStepSize", 0.1, 0.5)
    size = routing.get(field_name)
    if not size:
        raise EndpointError("ValidationException", f"TrafficRoutingConfiguration of Type {kind} needs a {field_name}.")
    value = float(size["Value"])
    for variant in variants:
        instances = int(variant.get("InitialInstanceCount", 1))
        if size["Type"] == "CAPACITY_PERCENT":
            batch = max(1, math.ceil(instances * value / 100))
            fits = low * 100 <= value <= high * 100 and batch <= instances * high
        else:
            batch = int(value)
            fits = instances * low <= batch <= instances * high
        if not fits:
            share = "at most 50%" if kind == "CANARY" else "10-50%"
            raise EndpointError(
                "ValidationException",
                f"{field_name} {size['Type']} {size['Value']:g} is {batch} of the {instances} instance(s) of variant "
                f'"{variant["VariantName"]}"; it must be {share} of the variant\'s instance count.',
            )


def _serverless(config: dict[str, Any]) -> bool:
    return any(v.get("ServerlessConfig") for v in config.get("ProductionVariants", []))


def check_serverless_update(
    current: dict[str, Any], new: dict[str, Any], deployment_config: dict[str, Any] | None
) -> None:
    """UpdateEndpoint rules of Serverless Inference: an instance-based endpoint cannot become serverless ("If you
    try to update your real-time endpoint to serverless, you receive a ValidationError", serverless-endpoints.html,
    Feature exclusions; the other way is allowed), and rolling deployments exclude serverless endpoints
    (deployment-guardrails-exclusions.html)."""
    if _serverless(new) and not _serverless(current):
        raise EndpointError(
            "ValidationException",
            f"Cannot update endpoint configuration {current.get('EndpointConfigName')} (instance-based) to "
            f"{new.get('EndpointConfigName')} (serverless): an instance-based endpoint cannot be converted to a "
            "serverless endpoint.",
        )
    if _serverless(new) and deployment_config and deployment_config.get("RollingUpdatePolicy"):
        raise EndpointError("ValidationException", "A RollingUpdatePolicy is not supported for serverless endpoints.")


def check_shadow_layout(production: list[dict[str, Any]], shadows: list[dict[str, Any]]) -> None:
    """CreateEndpointConfig with ShadowProductionVariants: exactly one production and one shadow variant."""
    if not shadows:
        return
    if len(shadows) != 1 or len(production) != 1:
        raise EndpointError(
            "ValidationException",
            "An endpoint config with ShadowProductionVariants must have exactly one ProductionVariant and one "
            f"ShadowProductionVariant; got {len(production)} and {len(shadows)}.",
        )


def _capture_payload(data: bytes, content_type: str, mode: str) -> dict[str, Any]:
    try:
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": data.decode("utf-8"),
            "encoding": "JSON" if "json" in content_type else "CSV",
        }
    except UnicodeDecodeError:
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": base64.b64encode(data).decode(),
            "encoding": "BASE64",
        }


def _scope(response: Any) -> Scope:
    """The account and region a request is served in (a role's requests: its own account's)."""
    return str(response.current_account), str(response.region)


def _config_key(backend: Any, name: str) -> tuple[str, str, str]:
    return str(backend.account_id), str(backend.region_name), name


def _validation_errors(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run a SageMaker response handler, answering the emulator's EndpointError as SageMaker's ValidationException."""
    from moto.sagemaker.exceptions import ValidationError

    def handle(response: Any) -> Any:
        try:
            return handler(response)
        except EndpointError as exc:
            raise ValidationError(message=str(exc)) from exc

    return handle


def _config_handlers(service: EndpointService, originals: dict[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """Models and endpoint configs: unique names, shadow variants kept and described."""
    from moto.sagemaker.exceptions import ValidationError

    def arn(response: Any, kind: str, name: str) -> str:  # SageMaker ARNs carry names in lower case
        return f"arn:aws:sagemaker:{response.region}:{response.current_account}:{kind}/{name.lower()}"

    def create_model(response: Any) -> Any:
        name = response._get_param("ModelName")
        if name in response.sagemaker_backend._models:
            raise ValidationError(message=f'Cannot create already existing model "{arn(response, "model", name)}".')
        return originals["sagemaker-create-model"](response)

    def create_endpoint_config(response: Any) -> Any:
        name = response._get_param("EndpointConfigName")
        shadows = response._get_param("ShadowProductionVariants") or []
        production = response._get_param("ProductionVariants") or []
        backend = response.sagemaker_backend
        if name in backend.endpoint_configs:
            raise ValidationError(
                message=(
                    f'Cannot create already existing endpoint configuration "{arn(response, "endpoint-config", name)}".'
                )
            )
        check_shadow_layout(production, shadows)
        for shadow in shadows:
            if shadow["ModelName"] not in backend._models:
                raise ValidationError(message=f'Could not find model "{arn(response, "model", shadow["ModelName"])}".')
        result = originals["sagemaker-create-endpoint-config"](response)
        service.shadow_configs[_config_key(backend, name)] = shadows
        return result

    def describe_endpoint_config(response: Any) -> Any:
        result = originals["sagemaker-describe-endpoint-config"](response)
        result.result["ShadowProductionVariants"] = service.shadow_configs.get(
            _config_key(response.sagemaker_backend, response._get_param("EndpointConfigName")), []
        )
        return result

    return {
        "sagemaker-create-model": create_model,
        "sagemaker-create-endpoint-config": create_endpoint_config,
        "sagemaker-describe-endpoint-config": describe_endpoint_config,
    }


def _endpoint_handlers(service: EndpointService, originals: dict[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """Endpoints: created, described, updated and deleted through the emulator's EndpointService."""
    from moto.core.responses import ActionResult, EmptyResult

    def create_endpoint(response: Any) -> Any:
        name, config = response._get_param("EndpointName"), response._get_param("EndpointConfigName")
        result = originals["sagemaker-create-endpoint"](response)
        service.create(name, config, result.result["EndpointArn"], _scope(response))
        return result

    def describe_endpoint(response: Any) -> Any:
        return ActionResult(service.describe(response._get_param("EndpointName"), _scope(response)))

    def delete_endpoint(response: Any) -> Any:
        service.delete(response._get_param("EndpointName"), _scope(response))
        response.sagemaker_backend.endpoints.pop(response._get_param("EndpointName"), None)
        return EmptyResult()

    def update_weights(response: Any) -> Any:
        name = response._get_param("EndpointName")
        service.update_weights(name, response._get_param("DesiredWeightsAndCapacities"), _scope(response))
        return ActionResult({"EndpointArn": service.get(name, _scope(response)).arn})

    def update_endpoint(response: Any) -> Any:
        name = response._get_param("EndpointName")
        retained: frozenset[str] = frozenset()
        if response._get_param("RetainAllVariantProperties"):
            excluded = response._get_param("ExcludeRetainedVariantProperties") or []
            retained = RETAINABLE - {p["VariantPropertyType"] for p in excluded}
        service.update(
            name,
            response._get_param("EndpointConfigName"),
            response._get_param("DeploymentConfig"),
            retained,
            _scope(response),
        )
        return ActionResult({"EndpointArn": service.get(name, _scope(response)).arn})

    return {
        "sagemaker-create-endpoint": create_endpoint,
        "sagemaker-describe-endpoint": describe_endpoint,
        "sagemaker-delete-endpoint": delete_endpoint,
        "sagemaker-update-weights": update_weights,
        "sagemaker-update-endpoint": update_endpoint,
    }


def _invoke_handler(service: EndpointService) -> Callable[[Any], Any]:
    def invoke_endpoint(response: Any) -> Any:
        headers = {k.lower(): v for k, v in response.headers.items()}
        name = response.path.split("/")[2] if "/endpoints/" in response.path else response._get_param("EndpointName")
        body = response.body if isinstance(response.body, bytes) else (response.body or "").encode()
        try:
            payload, returned_type, variant = service.invoke(
                name,
                body,
                content_type=headers.get("content-type", "application/json"),
                accept=headers.get("accept", "application/json"),
                target_variant=headers.get("x-amzn-sagemaker-target-variant"),
                inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                scope=_scope(response),
            )
        except EndpointError as exc:
            # The runtime API answers with the error's own status; moto takes it from a "status" header.
            error_headers = {
                "x-amzn-ErrorType": exc.code,
                "Content-Type": "application/json",
                "status": str(exc.status),
            }
            return exc.status, error_headers, json.dumps({"message": str(exc), "Message": str(exc), **exc.fields})
        return 200, {"Content-Type": returned_type, "x-Amzn-Invoked-Production-Variant": variant}, payload

    return invoke_endpoint


def apply(patcher: Any) -> None:
    service: EndpointService = patcher.emulator.sagemaker
    points = {p.name: p for p in PATCH_POINTS}
    originals = {name: point.original() for name, point in points.items()}
    handlers = {**_config_handlers(service, originals), **_endpoint_handlers(service, originals)}
    for name, handler in handlers.items():
        patcher.replace(points[name], _validation_errors(handler))
    patcher.replace(points["sagemaker-runtime-invoke"], _invoke_handler(service))
