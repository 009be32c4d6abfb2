"""Running an experiment on the real-time endpoint: Production and the candidate side by side, then back.

The endpoint normally serves one production variant (the registry's Production version) in one of the two
slots ``blue``/``green`` (:mod:`mlops_kit.serving.naming`). Starting an experiment:

1. checks the registry (a Production version serves the endpoint; the candidate is a Staging version awaiting
   review, or an Archived former Production version) and the endpoint (InService, one variant, no shadow,
   serving the Production version);
2. takes the endpoint's promotion lock as ``abtest:<experiment>`` (:mod:`mlops_kit.promotion.store`), so no
   promotion can change the endpoint while the test runs; the status job renews it;
3. creates the candidate's model and an endpoint config with **two production variants**: the current one
   unchanged (the control) and the candidate in the other slot (the treatment), same instance type and count,
   weights equal to the share of users each arm receives, data capture as before; ``UpdateEndpoint`` and
   ``DescribeEndpoint`` until InService on that config (the endpoint keeps serving the old config meanwhile).
   Models, configs and the update go through :class:`~mlops_kit.serving.deploy.EndpointDeployer`, the one the
   promotion workflow uses: content-derived names, the model served like the current one (role, VPC, network
   isolation), instance counts retained;
4. only then marks the experiment running (:meth:`.ExperimentService.start`), so no user is routed to a
   variant that does not exist yet. A failure on the way puts the old config back and releases the lock.

Stopping records the decision, puts the original single-variant config back and, once it is InService,
applies the decision to the registry and releases the lock (the *handover*):

* ``ship_treatment``: a Staging candidate is approved in the registry, which starts its promotion (shadow,
  human approval, staged canary) through the registry trigger (and directly, when a promotion starter is
  given); an Archived candidate is restored through the rollback workflow. The promotion machinery stays the
  only way a version becomes Production.
* ``keep_control``: a Staging candidate is rejected with the decision's reason; an Archived one stays Archived.
* ``inconclusive``, ``abandoned`` (called off without a decision): the registry is left as it was.

Progress is kept in the experiment's *split* record, so an interrupted stop (or one stopped by the guardrail
in the scheduled job, which cannot wait for SageMaker) is completed by :meth:`ExperimentOperations.advance`,
which the status job calls on every run.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from mlops_kit.abtest.assignment import BUCKETS, Allocation, Variants
from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.errors import ConcurrentUpdateError, ExperimentError, IllegalTransitionError
from mlops_kit.abtest.models import DecisionOutcome, Experiment, ExperimentState
from mlops_kit.abtest.names import lock_holder
from mlops_kit.abtest.routing import utc_now
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import IllegalTransition, ModelRegistry, ModelVersion, Stage, StageStatus, missing_lineage
from mlops_kit.serving import naming
from mlops_kit.serving.deploy import BUSY, ConfigSpec, EndpointDeployer, ModelSpec, Variant
from mlops_kit.waiting import poll

if TYPE_CHECKING:  # the statistics load where a status is built (the status job's first report)
    from mlops_kit.abtest.report import StatusReport

_PER_MODEL_ENVIRONMENT = ("MLOPS_MODEL_VERSION", "MLOPS_MODEL_PACKAGE_ARN", "MLOPS_VARIANT")

SplitPhase = Literal["starting", "running", "restoring", "finished", "failed"]
PromotionStarter = Callable[[ModelVersion, str, str], str]
"""``(version, mode, requested_by) -> execution ARN``: starts the promotion workflow (``mode`` promote|rollback)."""


class EndpointSplitError(ExperimentError):
    """The endpoint or the registry is not in a state an experiment can start (or end) from."""


class ArmModel(BaseModel):
    """The model version behind one arm and where it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    arn: str
    stage: str
    model_name: str
    variant: str


class Split(BaseModel):
    """The endpoint side of a started experiment (see the module docstring); stored as the ``split`` record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: str
    endpoint_name: str
    original_config: str
    split_config: str
    control: ArmModel
    treatment: ArmModel
    weights: dict[str, float]
    lock_holder: str
    phase: SplitPhase
    started_at: AwareDatetime
    outcome: DecisionOutcome | None = None
    decided_by: str | None = None
    reason: str | None = None
    finished_at: AwareDatetime | None = None
    handover: str | None = None
    note: str | None = None
    revision: int = 0

    def body(self) -> str:
        return self.model_dump_json(exclude={"revision"})


def read_split(repository: DynamoDBRepository, name: str) -> Split | None:
    """The experiment's split record, or ``None`` when it was never started on an endpoint."""
    stored = repository.get_record("split", name)
    if stored is None:
        return None
    body, revision = stored
    return Split.model_validate({**json.loads(body), "revision": revision})


@dataclass
class Serving:
    """The AWS side of one endpoint: its SageMaker and Application Auto Scaling clients, the model registry and
    the promotion lock table. Models, configs and updates go through the one deployer the promotion workflow
    uses (:mod:`mlops_kit.serving.deploy`)."""

    sagemaker: Any
    autoscaling: Any
    registry: ModelRegistry
    locks: PromotionStore
    endpoint_name: str

    @property
    def deployer(self) -> EndpointDeployer:
        return EndpointDeployer(self.sagemaker, self.autoscaling, self.endpoint_name)


def lock_seconds(experiment: Experiment) -> float:
    """How long the lock is taken (and renewed) for: twice the minimum runtime (whole weeks), so a lock the status
    job stopped renewing still outlasts the earliest decision."""
    return 2.0 * 7.0 * experiment.plan.runtime.weeks * 86400.0


def variant_weights(allocation: Allocation, variants: Variants) -> dict[str, float]:
    """Endpoint weights equal to the share of *all* users each variant serves (outside users go to control), so
    requests without a user id are split the way routed traffic is."""
    treatment = allocation.treatment_bp / BUCKETS
    return {variants.control: round(1.0 - treatment, 6), variants.treatment: round(treatment, 6)}


def _treatment_slot(control: str) -> str:
    try:
        return naming.other_slot(control)
    except ValueError:  # an endpoint created outside the kit, with its own variant name
        return next(slot for slot in naming.SLOTS if slot != control)


class ExperimentOperations:
    """Start, stop, check and advance experiments on ``serving``'s endpoint (the CLI and the status job use this).

    ``start_promotion``, when given, starts the promotion workflow for a shipped treatment directly (else the
    registry approval's event does, on AWS). ``poll_seconds`` is the pause between DescribeEndpoint polls.
    """

    def __init__(
        self,
        repository: DynamoDBRepository,
        serving: Serving,
        *,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = 15.0,
        start_promotion: PromotionStarter | None = None,
    ) -> None:
        self.repository = repository
        self.serving = serving
        self.service = ExperimentService(repository, clock=clock)
        self._clock = clock
        self._poll = poll_seconds
        self._start_promotion = start_promotion

    # -- split records ---------------------------------------------------------------------------------
    def split(self, name: str) -> Split | None:
        """The experiment's split record, or ``None`` when it was never started on an endpoint."""
        return read_split(self.repository, name)

    def _save(self, split: Split, **changes: Any) -> Split:
        updated = split.model_copy(update={**changes, "revision": split.revision + 1})
        self.repository.put_record("split", split.experiment, updated.body(), revision=updated.revision)
        return updated

    # -- SageMaker -------------------------------------------------------------------------------------
    def _endpoint(self) -> dict[str, Any] | None:
        return self.serving.deployer.describe()

    def _serving_version(self, endpoint: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The single production variant's config entry, the endpoint config and the variant's model."""
        sagemaker = self.serving.sagemaker
        name = self.serving.endpoint_name
        if endpoint["EndpointStatus"] != "InService":
            raise EndpointSplitError(f"endpoint {name} is {endpoint['EndpointStatus']}; wait until it is InService")
        if endpoint.get("ShadowProductionVariants"):
            raise EndpointSplitError(f"endpoint {name} has a shadow variant: a promotion is in progress")
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        variants = config["ProductionVariants"]
        if len(variants) != 1:
            names = [v["VariantName"] for v in variants]
            raise EndpointSplitError(
                f"endpoint {name} serves {len(variants)} production variants {names}; an experiment starts from "
                "the single Production variant (finish the rollout or experiment in progress first)"
            )
        model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
        return variants[0], config, model

    def _treatment_model(
        self, template: dict[str, Any], production: ModelVersion, candidate: ModelVersion, variant: str
    ) -> ModelSpec:
        """The candidate's model, served like the current one (:meth:`ModelSpec.like`: same role, VPC, network
        isolation and platform serving environment)."""
        sagemaker = self.serving.sagemaker
        container = sagemaker.describe_model_package(ModelPackageName=candidate.arn)["InferenceSpecification"][
            "Containers"
        ][0]
        production_container = sagemaker.describe_model_package(ModelPackageName=production.arn)[
            "InferenceSpecification"
        ]["Containers"][0]
        current = template["PrimaryContainer"].get("Environment") or {}
        own = set(production_container.get("Environment") or {}) | set(_PER_MODEL_ENVIRONMENT)
        environment = {
            **{k: v for k, v in current.items() if k not in own},  # the platform's serving environment
            **(container.get("Environment") or {}),
            "MLOPS_MODEL_VERSION": str(candidate.version),
            "MLOPS_MODEL_PACKAGE_ARN": candidate.arn,
            "MLOPS_VARIANT": variant,
        }
        return ModelSpec.like(
            template, image=container["Image"], model_data_url=container["ModelDataUrl"], environment=environment
        )

    @staticmethod
    def _split_spec(
        config: dict[str, Any], control: dict[str, Any], model: str, variants: Variants, weights: dict[str, float]
    ) -> ConfigSpec:
        """The control variant as it serves, the treatment beside it (same instances), data capture as before."""
        return ConfigSpec(
            (
                Variant.from_config(control, weight=weights[variants.control]),
                Variant.from_config(control, name=variants.treatment, model=model, weight=weights[variants.treatment]),
            ),
            data_capture=config.get("DataCaptureConfig") or None,
            kms_key_id=config.get("KmsKeyId") or None,
        )

    def _wait_for(self, config: str, timeout: float) -> None:
        """Poll until the endpoint is InService on ``config``; raises EndpointSplitError when it settles elsewhere
        (a failed update ends InService on the old config) or breaks, TimeoutError after ``timeout``."""

        def switched() -> bool | None:
            progress = self.serving.deployer.progress(config)
            if progress.state == "failed":
                raise EndpointSplitError(
                    f"endpoint {self.serving.endpoint_name} did not switch to {config}: it is {progress.status} on "
                    f"{progress.config} ({progress.reason})"
                )
            return True if progress.state == "done" else None

        poll(switched, every=self._poll, timeout=timeout, what=f"endpoint {self.serving.endpoint_name} on {config}")

    # -- registry --------------------------------------------------------------------------------------
    def _candidate(self, ref: str | int, production: ModelVersion) -> ModelVersion:
        candidate = self.serving.registry.get(ref)
        if candidate.arn == production.arn:
            raise EndpointSplitError(f"version {candidate.version} is Production already; choose another candidate")
        staging = candidate.stage == Stage.STAGING and candidate.stage_status == StageStatus.PENDING_APPROVAL
        if not (staging or candidate.stage == Stage.ARCHIVED):
            raise EndpointSplitError(
                f"version {candidate.version} is {candidate.stage}/{candidate.stage_status}; an experiment tests a "
                "version awaiting review (Staging/PendingApproval) or a former Production version (Archived) "
                "against Production"
            )
        missing = missing_lineage(candidate.properties)
        if missing:
            raise EndpointSplitError(f"version {candidate.version} has incomplete lineage: {missing}")
        return candidate

    # -- start -----------------------------------------------------------------------------------------
    def start(
        self,
        name: str,
        *,
        candidate: str | int,
        allocation: Allocation | None = None,
        salt: str | None = None,
        timeout: float = 3600.0,
    ) -> tuple[Experiment, Split]:
        """Put Production and ``candidate`` side by side on the endpoint and start routing users.

        ``allocation`` and ``salt`` default as in :meth:`.ExperimentService.start`. Raises
        ``ExperimentNotFoundError``, ``IllegalTransitionError`` (not planned), ``EndpointSplitError`` (endpoint
        or registry not ready), ``PromotionLocked`` (a promotion holds the endpoint), ``ValueError`` (an
        allocation leaving an arm empty), and what SageMaker raises; the endpoint is left as it was.
        """
        experiment = self.repository.get_experiment(name)
        if experiment.state != ExperimentState.PLANNED:
            raise IllegalTransitionError(
                f"cannot start experiment {name!r}: it is already {experiment.state.value}; an experiment starts once"
            )
        plan = experiment.plan
        allocation = allocation or Allocation.from_shares(plan.treatment_share, plan.coverage)
        salt = salt or secrets.token_hex(8)
        registry = self.serving.registry
        production = registry.production()
        if production is None:
            raise EndpointSplitError(f"group {registry.group} has no Production version to test against")
        arm_b = self._candidate(candidate, production)
        endpoint = self._endpoint()
        endpoint_name = self.serving.endpoint_name
        if endpoint is None:
            raise EndpointSplitError(f"endpoint {endpoint_name} does not exist; deploy a Production version first")
        control_entry, config, control_model = self._serving_version(endpoint)
        served = (control_model["PrimaryContainer"].get("Environment") or {}).get("MLOPS_MODEL_PACKAGE_ARN")
        if served != production.arn:
            raise EndpointSplitError(
                f"endpoint {endpoint_name} serves {served or 'a model without a registry version'}, not the "
                f"Production version {production.version}; the registry and the endpoint disagree"
            )
        variants = Variants(
            control=control_entry["VariantName"], treatment=_treatment_slot(control_entry["VariantName"])
        )
        now = self._clock()
        # The pure transition first: a bad allocation or a started experiment fails before anything changes.
        experiment.start(at=now, endpoint_name=endpoint_name, variants=variants, salt=salt, allocation=allocation)
        weights = variant_weights(allocation, variants)
        deployer = self.serving.deployer
        model_label = f"v{arm_b.version}-{variants.treatment}-ab"
        model_spec = self._treatment_model(control_model, production, arm_b, variants.treatment)
        model_name = deployer.model_name(model_label, model_spec)
        split_spec = self._split_spec(config, control_entry, model_name, variants, weights)
        split_config = deployer.config_name("ab", split_spec)
        holder = lock_holder(name)
        previous = self.split(name)
        if previous is not None and previous.phase in ("starting", "running", "restoring"):
            raise IllegalTransitionError(
                f"experiment {name!r} already has an endpoint split in phase {previous.phase!r}"
            )
        self.serving.locks.acquire_lock(endpoint_name, holder, ttl_seconds=lock_seconds(experiment))
        split = Split(
            experiment=name,
            endpoint_name=endpoint_name,
            original_config=endpoint["EndpointConfigName"],
            split_config=split_config,
            control=ArmModel(
                version=production.version, arn=production.arn, stage=production.stage,
                model_name=control_entry["ModelName"], variant=variants.control,
            ),
            treatment=ArmModel(
                version=arm_b.version, arn=arm_b.arn, stage=arm_b.stage, model_name=model_name,
                variant=variants.treatment,
            ),
            weights=weights,
            lock_holder=holder,
            phase="starting",
            started_at=now,
            revision=previous.revision if previous else 0,
        )  # fmt: skip
        try:
            split = self._save(split)
            deployer.model(model_label, model_spec)
            deployer.config("ab", split_spec)
            deployer.update(split_config)
            self._wait_for(split_config, timeout)
            started = self.service.start(
                name, endpoint_name=endpoint_name, variants=variants, allocation=allocation, salt=salt, at=now
            )
        except BaseException as exc:
            self._undo_start(split, f"{type(exc).__name__}: {exc}")
            raise
        return started, self._save(split, phase="running")

    def _undo_start(self, split: Split, why: str) -> None:
        """Best effort after a failed start: the original config back, the lock released, the split failed."""
        try:
            endpoint = self._endpoint() or {}
            if endpoint.get("EndpointConfigName") == split.split_config and endpoint.get("EndpointStatus") not in BUSY:
                self.serving.deployer.update(split.original_config)
            elif endpoint.get("EndpointStatus") in BUSY:
                why += "; the endpoint was still updating: check it serves the original config"
        finally:
            self.serving.locks.release_lock(split.endpoint_name, split.lock_holder)
            current = self.split(split.experiment)
            if current is not None:
                self._save(current, phase="failed", finished_at=self._clock(), note=why[:1000])

    # -- stop ------------------------------------------------------------------------------------------
    def stop(
        self,
        name: str,
        *,
        outcome: DecisionOutcome,
        reason: str,
        decided_by: str,
        wait: bool = True,
        timeout: float = 3600.0,
    ) -> tuple[Experiment, Split | None]:
        """Record the decision, then end the split (and wait for the handover unless ``wait`` is false).

        Raises ``ExperimentNotFoundError``, ``IllegalTransitionError`` (not running), ``ValueError`` (empty reason,
        unknown outcome), ``EndpointSplitError`` (a shipped Archived candidate that is no longer the rollback
        target), ``TimeoutError`` (the endpoint is still updating: the status job finishes the handover).
        """
        split = self.split(name)
        if split is not None and outcome == "ship_treatment":
            self._check_shippable(split)
        stopped = self.service.stop(name, outcome=outcome, reason=reason, decided_by=decided_by, at=self._clock())
        if split is None:
            return stopped, None
        split = self._begin_restore(split, stopped)
        if wait:
            split = self.wait_until_finished(name, timeout=timeout)
        return stopped, split

    def _check_shippable(self, split: Split) -> None:
        if split.treatment.stage == Stage.ARCHIVED:
            target = self.serving.registry.rollback_target()
            if target is None or target.arn != split.treatment.arn:
                raise EndpointSplitError(
                    f"version {split.treatment.version} is Archived but no longer the rollback target, so the "
                    "rollback workflow cannot restore it; register it again to promote it"
                )

    def _begin_restore(self, split: Split, stopped: Experiment) -> Split:
        decision = stopped.decision
        assert decision is not None  # a stopped experiment has its decision
        if split.phase != "running":
            return split
        split = self._save(
            split,
            phase="restoring",
            outcome=decision.outcome,
            decided_by=decision.decided_by,
            reason=decision.reason,
        )
        return self.advance(split.experiment)

    def wait_until_finished(self, name: str, *, timeout: float = 3600.0) -> Split:
        """Advance the split until it is finished. Raises ``TimeoutError`` with what is left to do."""
        last: list[Split] = []

        def finished() -> Split | None:
            try:
                split = self.advance(name)
            except ConcurrentUpdateError:  # the status job advanced it meanwhile: read it again
                split = self.split(name) or self.advance(name)
            last[:] = [split]
            return split if split.phase != "restoring" else None

        try:
            return poll(finished, every=self._poll, timeout=timeout, what=f"experiment {name} to finish")
        except TimeoutError as exc:
            split = last[0]
            raise TimeoutError(
                f"endpoint {split.endpoint_name} is still returning to {split.original_config} after "
                f"{timeout:.0f} s; the scheduled status job completes the handover"
            ) from exc

    def advance(self, name: str) -> Split:
        """Make progress on ending the split; idempotent (the status job calls it on every run).

        Raises ``EndpointSplitError`` when the experiment has no split.
        """
        split = self.split(name)
        if split is None:
            raise EndpointSplitError(f"experiment {name!r} was never started on an endpoint")
        if split.phase != "restoring":
            return split
        endpoint = self._endpoint()
        if endpoint is not None and endpoint["EndpointStatus"] in BUSY:
            return split
        current = endpoint["EndpointConfigName"] if endpoint else None
        if current == split.split_config:
            self.serving.deployer.update(split.original_config)
            return split
        note = None
        if current != split.original_config:
            note = f"the endpoint was changed outside the experiment (config {current}); it was left as it is"
        # Release first: a shipped treatment's promotion must be able to take the lock.
        self.serving.locks.release_lock(split.endpoint_name, split.lock_holder)
        handover = self._hand_over(split)
        return self._save(split, phase="finished", finished_at=self._clock(), handover=handover, note=note)

    def _hand_over(self, split: Split) -> str:
        """Apply the decision to the registry (see the module docstring); returns what was done."""
        try:
            return self._apply_decision(split)
        except IllegalTransition as exc:  # someone moved the version meanwhile; the split still ends
            return f"the registry was left as it is: {exc}"

    def _apply_decision(self, split: Split) -> str:
        registry, treatment = self.serving.registry, split.treatment
        who = split.decided_by or "abtest"
        why = f"A/B test {split.experiment}: {split.outcome} ({split.reason})"
        current = registry.get(treatment.arn)
        if split.outcome in ("inconclusive", "abandoned"):
            return f"registry unchanged: version {treatment.version} stays {current.stage}/{current.stage_status}"
        if split.outcome == "keep_control":
            if current.stage == Stage.STAGING:
                registry.reject(current.arn, reason=why)
                return f"version {treatment.version} rejected in the registry"
            return f"version {treatment.version} stays {current.stage}"
        if current.stage == Stage.STAGING:
            if current.stage_status == StageStatus.PENDING_APPROVAL:
                current = registry.approve(current.arn, approver=who, comment=why)
            done = f"version {treatment.version} approved in the registry: the promotion workflow takes it over"
            if self._start_promotion is not None:
                done += f" (execution {self._start_promotion(current, 'promote', f'abtest:{split.experiment}')})"
            return done
        if self._start_promotion is None:
            return f"version {treatment.version} won: restore it with `mlops rollback` (the rollback workflow)"
        execution = self._start_promotion(current, "rollback", f"abtest:{split.experiment}")
        return f"version {treatment.version} is being restored by the rollback workflow (execution {execution})"

    # -- the scheduled check ---------------------------------------------------------------------------
    def check(self, name: str) -> StatusReport | None:
        """One run of the status job for ``name``: renew the lock, stop on a breached guardrail, take the status
        (stored as the ``status`` record), and advance an ending split. Returns the status while running."""
        experiment = self.repository.get_experiment(name)
        report: StatusReport | None = None
        if experiment.state == ExperimentState.RUNNING:
            split = self.split(name)
            if split is not None and split.phase == "running":
                self.serving.locks.acquire_lock(
                    split.endpoint_name, split.lock_holder, ttl_seconds=lock_seconds(experiment)
                )
            stopped = self.service.stop_if_harmful(name, at=self._clock())
            report = self.service.status(name, at=self._clock())
            self.repository.put_record("status", name, report.model_dump_json())
            if stopped is not None and split is not None:
                self._begin_restore(split, stopped)
        split = self.split(name)
        if split is not None and split.phase == "restoring":
            self.advance(name)
        return report

    def active(self) -> list[str]:
        """Experiments the status job looks after: running ones, and stopped ones whose split is still ending."""
        names = []
        for experiment in self.repository.list_experiments():
            if experiment.state == ExperimentState.RUNNING:
                names.append(experiment.name)
            elif experiment.state == ExperimentState.STOPPED:
                split = self.split(experiment.name)
                if split is not None and split.phase == "restoring":
                    names.append(experiment.name)
        return names
