"""The promotion workflow's settings: one typed model, built by the CDK construct, parsed by the steps Lambda.

``cdk/constructs/promotion_workflow.py`` builds :class:`PromotionSettings` from the validated platform config
and writes it to the steps function's environment; ``lambdas/promotion/handler.py`` reads the same model back
(:func:`mlops_kit.environment.read_settings`). Every field is required: defaults live in the platform config
(``cdk/config.py``), so a key the construct forgot fails the first invocation instead of silently taking a
value that disagrees with ``cdk.json``.

The rollout's time budget is computed here, once, for both sides: every polling loop of the state machine is
bounded (:meth:`RolloutSettings.max_polls`), the longest path through the workflow follows from those bounds,
and the state machine's ``TimeoutSeconds`` and the promotion lock's lifetime are sized from it
(:meth:`RolloutSettings.workflow_timeout`, :meth:`RolloutSettings.lock_ttl`). The cross-checks refuse a
configuration whose approval wait or rollout cannot fit, or whose polling could reach Step Functions' limit of
25,000 events per execution history.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_kit.environment import HandlerSettings
from mlops_kit.promotion.shadow import ShadowLimits

# Step Functions quota: an execution's history holds at most 25,000 events; past it the execution fails.
HISTORY_EVENT_LIMIT = 25_000
# One polling round: Wait (entered, exited), the check Lambda task (entered, scheduled, started, succeeded,
# exited) and the Choice (entered, exited).
EVENTS_PER_POLL = 9
# Everything outside the polling loops on the longest path: about 20 Task states at 5 events and as many
# Choice/Wait/Pass states at 2, plus a retried Lambda call here and there (3 more events each). Per rollout
# step: ShiftTraffic, Bake, CheckAlarms, AlarmFired? (about 14 events).
FIXED_EVENTS = 200
EVENTS_PER_STEP = 14
# Lambda steps, retries and Step Functions' own scheduling on the longest path, on top of the bounded waits.
OVERHEAD_SECONDS = 3600
# A Standard workflow execution runs for at most one year.
MAX_WORKFLOW_SECONDS = 365 * 86400


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# SageMaker Serverless Inference: what serverless endpoints do not support ("Feature exclusions").
SERVERLESS_EXCLUSIONS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"


class ServerlessSettings(_Model):
    """A serverless endpoint's ``ProductionVariantServerlessConfig`` (CreateEndpointConfig): memory in 1 GB steps
    from 1024 to 6144 MB, at most ``max_concurrency`` concurrent invocations, optionally ``provisioned_concurrency``
    kept warm (at most ``max_concurrency``)."""

    memory_size_in_mb: int = Field(ge=1024, le=6144, multiple_of=1024)
    max_concurrency: int = Field(ge=1, le=200)
    provisioned_concurrency: int | None = Field(None, ge=1, le=200)  # None: on demand (CDK drops nulls)

    @model_validator(mode="after")
    def _provisioned_fits(self) -> ServerlessSettings:
        if self.provisioned_concurrency is not None and self.provisioned_concurrency > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) must be at most max_concurrency "
                f"({self.max_concurrency})"
            )
        return self

    def request(self) -> dict[str, int]:
        """The ``ServerlessConfig`` of a production variant."""
        config = {"MemorySizeInMB": self.memory_size_in_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency is not None:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return config


class EndpointSettings(_Model):
    """The endpoint the workflow deploys to, and how every candidate is served there: on instances
    (``instance_type`` and the counts), or serverless when ``serverless`` is set (then no data capture, no
    autoscaling, and the ``all_at_once`` rollout)."""

    name: str = Field(min_length=1, max_length=63)
    instance_type: str
    initial_instance_count: int = Field(ge=1)
    max_instance_count: int = Field(ge=1)
    target_invocations_per_instance: int = Field(ge=1)
    model_role_arn: str
    capture_uri: str
    capture_kms_key_id: str | None = None  # a default only because CDK's to_json_string drops nulls
    capture_sampling_percent: int = Field(ge=0, le=100)
    serving_environment: dict[str, str]
    serverless: ServerlessSettings | None = None  # None: instance-based (a default: CDK drops nulls)


class ShadowSettings(_Model):
    """When the shadow comparison passes (see :mod:`mlops_kit.promotion.shadow`)."""

    max_error_rate: float = Field(ge=0, le=1)
    max_p99_latency_ratio: float = Field(gt=0)
    min_agreement: float = Field(ge=-1, le=1)
    min_pairs: int = Field(ge=1)

    def limits(self) -> ShadowLimits:
        return ShadowLimits(
            max_error_rate=self.max_error_rate,
            max_p99_latency_ratio=self.max_p99_latency_ratio,
            min_agreement=self.min_agreement,
            min_pairs=self.min_pairs,
        )


class GuardrailsSettings(_Model):
    """SageMaker blue/green traffic routing (``rollout.mode = guardrails``)."""

    routing: Literal["CANARY", "LINEAR"]
    canary_percent: int = Field(ge=1, le=50)
    linear_step_percent: int = Field(ge=10, le=50)
    wait_seconds: int = Field(ge=0, le=3600)
    termination_wait_seconds: int = Field(ge=0, le=3600)
    max_execution_seconds: int = Field(ge=600, le=28800)

    def check_instances(self, instances: int) -> None:
        """Raise ValueError when a traffic step cannot fit ``instances``: SageMaker's TrafficRoutingConfig wants
        the canary at most 50% and a linear step 10-50% of the variant's instances, and a step is at least one
        instance, so a single-instance variant cannot be shifted in steps."""
        percent = self.canary_percent if self.routing == "CANARY" else self.linear_step_percent
        batch = max(1, math.ceil(instances * percent / 100))
        if batch * 2 > instances:
            raise ValueError(
                f"a {self.routing} step of {percent}% of {instances} instance(s) is {batch} instance(s), more than "
                "the 50% of the variant's instances SageMaker allows; serve at least 2 instances (or use staged mode)"
            )


PollKind = Literal["update", "guardrails", "restore"]


class RolloutSettings(_Model):
    """The path and the clock of a promotion. ``workflow_timeout_seconds`` and ``lock_seconds`` may be null: then
    they are derived (:meth:`workflow_timeout`, :meth:`lock_ttl`)."""

    # all_at_once: the candidate replaces production in one update, then bakes under the rollback alarms; the
    # only path a serverless endpoint supports (no shadow, no second production variant).
    mode: Literal["staged", "guardrails", "all_at_once"]
    steps: list[int] = Field(min_length=1)
    bake_seconds: int = Field(ge=0)
    shadow_bake_seconds: int = Field(ge=0)
    approval_timeout_seconds: int = Field(gt=0)
    poll_seconds: int = Field(ge=1)
    update_timeout_seconds: int = Field(ge=60)
    # None: derived. Nullable fields default to None because CDK's to_json_string drops nulls.
    workflow_timeout_seconds: int | None = None
    lock_seconds: int | None = None
    shadow: ShadowSettings
    guardrails: GuardrailsSettings

    # -- bounds ------------------------------------------------------------------------------------------
    def max_polls(self, kind: PollKind) -> int:
        """How many DescribeEndpoint rounds a polling loop may take before it gives up.

        ``update`` and ``restore``: one endpoint update (``update_timeout_seconds``). ``guardrails``: SageMaker's
        own limit on the blue/green deployment plus its termination wait, then a possible rollback.
        """
        if kind == "guardrails":
            seconds = (
                self.guardrails.max_execution_seconds + self.guardrails.termination_wait_seconds
            ) + self.update_timeout_seconds
        else:
            seconds = self.update_timeout_seconds
        return max(1, math.ceil(seconds / self.poll_seconds))

    def _loops(self) -> tuple[list[int], list[int]]:
        """The polling loops of the longest path of each mode (before and after approval), as max poll counts.
        A failure at the last update adds the restore: waiting until the endpoint is not busy, then restoring."""
        update, restore = self.max_polls("update"), self.max_polls("restore")
        if self.mode == "all_at_once":  # no shadow; one update (DeployDirect) after the approval
            return [], [update, restore, restore]
        before = [update]  # StartShadow (a first deployment or a rollback has only DeployDirect: shorter)
        if self.mode == "guardrails":
            after = [self.max_polls("guardrails")]
        else:
            after = [update, *([update] * len(self.steps)), update]  # PrepareCanary, each shift, CompleteRollout
        return before, [*after, restore, restore]

    def longest_rollout_seconds(self) -> int:
        """The longest the workflow can run besides the approval wait: every polling loop at its bound, the
        bakes, and :data:`OVERHEAD_SECONDS` for the Lambda steps and retries."""
        before, after = self._loops()
        polling = sum(before + after) * self.poll_seconds
        if self.mode == "all_at_once":
            bakes = self.bake_seconds  # one bake after the update, no shadow
        else:
            bakes = self.shadow_bake_seconds + (self.bake_seconds * len(self.steps) if self.mode == "staged" else 0)
        return polling + bakes + OVERHEAD_SECONDS

    def history_events_bound(self) -> int:
        """An upper bound of the events the longest execution writes to its history."""
        before, after = self._loops()
        steps = {"staged": len(self.steps), "all_at_once": 1}.get(self.mode, 0)
        return FIXED_EVENTS + EVENTS_PER_STEP * steps + EVENTS_PER_POLL * sum(before + after)

    def workflow_timeout(self) -> int:
        """The state machine's ``TimeoutSeconds``: as configured, or the approval timeout plus the longest
        rollout, rounded up to the hour."""
        if self.workflow_timeout_seconds is not None:
            return self.workflow_timeout_seconds
        needed = self.approval_timeout_seconds + self.longest_rollout_seconds()
        return math.ceil(needed / 3600) * 3600

    def lock_ttl(self) -> int:
        """How long the endpoint's promotion lock is taken for: as configured, or the workflow timeout (an
        execution cannot outlive it, so its lock never expires under it; one that timed out frees it then)."""
        return self.lock_seconds if self.lock_seconds is not None else self.workflow_timeout()

    def resolved(self) -> RolloutSettings:
        """The same settings with the derived workflow timeout and lock lifetime written out."""
        return self.model_copy(
            update={"workflow_timeout_seconds": self.workflow_timeout(), "lock_seconds": self.lock_ttl()}
        )

    @model_validator(mode="after")
    def _fits(self) -> RolloutSettings:
        longest = self.longest_rollout_seconds()
        timeout = self.workflow_timeout()
        if timeout > MAX_WORKFLOW_SECONDS:
            raise ValueError(f"the workflow timeout ({_hours(timeout)}) exceeds a Standard workflow's one year")
        if self.approval_timeout_seconds >= timeout:
            raise ValueError(
                f"the approval timeout ({_hours(self.approval_timeout_seconds)}) must be shorter than the workflow "
                f"timeout ({_hours(timeout)})"
            )
        if self.approval_timeout_seconds + longest > timeout:
            raise ValueError(
                f"the approval timeout ({_hours(self.approval_timeout_seconds)}) plus the longest rollout "
                f"({_hours(longest)}: every endpoint update at its timeout, the bakes and the restore) does not fit "
                f"in the workflow timeout ({_hours(timeout)}); raise the workflow timeout or leave it unset"
            )
        if self.lock_ttl() < timeout:
            raise ValueError(
                f"the promotion lock ({_hours(self.lock_ttl())}) must last at least as long as the workflow "
                f"timeout ({_hours(timeout)}), or another promotion could take the endpoint mid-promotion; "
                "raise it or leave it unset"
            )
        events = self.history_events_bound()
        if events > HISTORY_EVENT_LIMIT:
            raise ValueError(
                f"the longest promotion could write {events} history events, over Step Functions' limit of "
                f"{HISTORY_EVENT_LIMIT}; poll less often or shorten the endpoint update timeout"
            )
        return self


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


class BusinessAlarmSettings(_Model):
    """The canary's business-metric rollback alarm (:mod:`mlops_kit.promotion.business_alarm`): the candidate
    variant's ``statistic`` of ``namespace``/``metric_name`` (dimensions ``EndpointName`` and ``VariantName``)
    against the Production variant's over the same period; a drop of more than ``max_drop_percent`` breaches."""

    namespace: str = Field(min_length=1)
    metric_name: str = Field(min_length=1)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum"]
    # Below 100: the relative change of a non-negative metric is never under -100%.
    max_drop_percent: float = Field(gt=0, lt=100)
    period_seconds: int = Field(gt=0)
    evaluation_periods: int = Field(ge=1)
    datapoints_to_alarm: int = Field(ge=1)

    def evaluation_seconds(self) -> int:
        return self.period_seconds * self.evaluation_periods


class EnvironmentSettings(_Model):
    """The environment a promotion workflow serves in, when versions go through several accounts
    (``environments.<name>``): ``deployment_role_arn`` is the role in that account the steps assume for the
    endpoint's SageMaker, CloudWatch and Application Auto Scaling calls; ``previous`` the environment a version
    must have been promoted to first (None for the first); ``next_state_machine_arn`` the promotion workflow a
    successful promotion here starts (None for the last). ``shared_code_uri`` is the ``s3://bucket/prefix/`` of the
    tooling account's artifacts bucket, shared with the environment accounts, where the steps copy a candidate's
    inference code bundle (a CDK asset in the tooling account's bootstrap bucket, which the environment's model
    role cannot read); unset, models keep the bundle their registry version names."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,15}$")
    account: str = Field(pattern=r"^\d{12}$")
    deployment_role_arn: str = Field(min_length=1)
    shared_code_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+/.+/$")
    previous: str | None = None  # defaults only because CDK's to_json_string drops nulls
    next: str | None = None
    next_state_machine_arn: str | None = None

    @model_validator(mode="after")
    def _next_has_machine(self) -> EnvironmentSettings:
        if (self.next is None) != (self.next_state_machine_arn is None):
            raise ValueError("next and next_state_machine_arn go together: the next environment and its workflow")
        return self


class PromotionSettings(HandlerSettings):
    """Everything the promotion steps need about the platform (the steps function's ``MLOPS_PROMOTION_SETTINGS``)."""

    VARIABLE: ClassVar[str] = "MLOPS_PROMOTION_SETTINGS"

    endpoint: EndpointSettings
    model_package_group: str = Field(min_length=1)
    table_name: str = Field(min_length=1)
    topic_arn: str = Field(min_length=1)
    # None (the default): no business-metric rollback alarm. Nullable, so it defaults to None (see RolloutSettings).
    business_alarm: BusinessAlarmSettings | None = None
    rollout: RolloutSettings
    # Price per instance-hour by instance type (cdk.json ``cost.instance_prices``): the deployment record's
    # estimate (:mod:`mlops_kit.promotion.cost`).
    instance_prices: dict[str, float]
    # None (one account): the steps' clients are the function's own. Nullable, so it defaults to None.
    target_environment: EnvironmentSettings | None = None

    @model_validator(mode="after")
    def _serverless_fits(self) -> PromotionSettings:
        # A serverless endpoint has one production variant, no shadow and no data capture: only the all_at_once
        # path fits it, and that path skips the shadow comparison an instance-based endpoint gets.
        serverless = self.endpoint.serverless is not None
        if serverless != (self.rollout.mode == "all_at_once"):
            raise ValueError(
                f"rollout mode {self.rollout.mode!r} with a {'serverless' if serverless else 'instance-based'} "
                "endpoint: serverless endpoints take rollout.mode all_at_once (no shadow or second production "
                f"variant, {SERVERLESS_EXCLUSIONS_DOC}), and all_at_once is for serverless endpoints only"
            )
        if serverless and self.business_alarm is not None:
            raise ValueError(
                "the business-metric alarm compares the candidate variant with the Production variant, which a "
                "serverless endpoint (one production variant) never has; set alarms.business_metric to null"
            )
        return self

    @model_validator(mode="after")
    def _guardrails_fit(self) -> PromotionSettings:
        if self.rollout.mode == "guardrails":
            self.rollout.guardrails.check_instances(self.endpoint.initial_instance_count)
        business = self.business_alarm
        if business is not None and self.rollout.mode == "guardrails":
            # A blue/green deployment keeps the variant name for the new fleet, so the candidate's business metric
            # cannot be told apart from Production's.
            raise ValueError(
                "the business-metric alarm compares the candidate variant with the Production variant, which only "
                "the staged rollout has; set alarms.business_metric to null or rollout.mode to staged"
            )
        if business is not None and self.rollout.bake_seconds < business.evaluation_seconds():
            # A shorter bake would judge the candidate on periods before it had traffic: missing, so breaching.
            raise ValueError(
                f"rollout.bake_minutes ({self.rollout.bake_seconds / 60:g}) must cover the business-metric alarm's "
                f"evaluation range (alarms.period_seconds x alarms.evaluation_periods = "
                f"{business.evaluation_seconds()} s); raise the bake or shorten the alarm"
            )
        return self


class TriggerSettings(HandlerSettings):
    """What the registry trigger needs (the trigger function's ``MLOPS_PROMOTION_TRIGGER_SETTINGS``)."""

    VARIABLE: ClassVar[str] = "MLOPS_PROMOTION_TRIGGER_SETTINGS"

    state_machine_arn: str = Field(min_length=1)
    model_package_group: str = Field(min_length=1)


class ApprovalSettings(HandlerSettings):
    """What the approval service needs (the approval function's ``MLOPS_APPROVAL_SETTINGS``): where approvals
    are, where to notify, and who may answer (:class:`mlops_kit.promotion.approvals.ApprovalPolicy`)."""

    VARIABLE: ClassVar[str] = "MLOPS_APPROVAL_SETTINGS"

    model_package_group: str = Field(min_length=1)
    table_name: str = Field(min_length=1)
    topic_arn: str = Field(min_length=1)
    approvers: tuple[str, ...]
    allow_self_approval: bool
    # With environments: who may answer a promotion to each (``environments.<name>.approvers``); an environment
    # without an entry takes ``approvers``.
    environment_approvers: dict[str, tuple[str, ...]] = Field(default_factory=dict)
