"""The platform configuration: read once from the ``mlops`` key of the ``cdk.json`` context, validated.

Every section and key has a safe default, so an empty ``"mlops": {}`` deploys a working platform. A bad value
fails synth with a message that names the key, what was given and what is allowed; an unknown key (a typo)
fails the same way and lists the keys that exist at that level. ``README.md`` has the reference table.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cdk.schedules import schedule_problem
from mlops_kit.monitoring import naming as drift_naming
from mlops_kit.monitoring.settings import DEFAULT_MIN_BASELINE_ROWS, DEFAULT_MIN_WINDOW_ROWS
from mlops_kit.pipeline.definition import ImageScope, PipelineSpec, image_uri
from mlops_kit.promotion.settings import (
    SERVERLESS_EXCLUSIONS_DOC,
    BusinessAlarmSettings,
    GuardrailsSettings,
    RolloutSettings,
    ServerlessSettings,
    ShadowSettings,
)

if TYPE_CHECKING:  # aws_cdk starts Node (jsii): loaded only by the accessors that return CDK values
    from aws_cdk import RemovalPolicy
    from aws_cdk.aws_logs import RetentionDays

CONTEXT_KEY = "mlops"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _not_bool(value: Any) -> Any:
    # Strict mode still lets True match Literal[1] (True == 1 in Python): refuse it before the Literal check.
    if isinstance(value, bool):
        raise ValueError("expected one of the allowed numbers, not true/false")
    return value


LogRetentionDays = Annotated[
    Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
    BeforeValidator(_not_bool),
]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
SklearnVersion = Literal["1.9-0"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The largest seed numpy's legacy RandomState (and so scikit-learn's random_state) accepts is 2**32 - 1.
MAX_SEED = 2**32 - 1
_PROJECT_NAME = re.compile(r"[a-z][a-z0-9-]{1,23}[a-z0-9]")
# S3 refuses bucket names starting with these; CloudFormation names the kit's buckets after the stack
# ("<project>-data-..."), so the project name must not start with them either (S3 "Bucket naming rules").
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
# Names the kit derives from the endpoint name, with the longest each service allows: the endpoint itself
# (SageMaker, 63) and the drift schedule "<endpoint>-drift" (EventBridge Scheduler, 64). Models and endpoint
# configs use a shortened prefix of the endpoint name, so they fit whatever its length.
ENDPOINT_NAME_LIMITS = (
    ("the SageMaker endpoint", lambda name: name, 63),
    ("the drift schedule", drift_naming.schedule_name, 64),
)
MAX_ENDPOINT_NAME = min(limit - len(derive("")) for _, derive, limit in ENDPOINT_NAME_LIMITS)


def _check_schedule(value: str) -> str:
    problem = schedule_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Schedule = Annotated[str, AfterValidator(_check_schedule)]


class ConfigError(ValueError):
    """The ``mlops`` context in cdk.json is invalid; the message lists every problem, one per line."""


class _Section(BaseModel):
    # Strict: cdk.json is JSON, so a number is written as a number and a flag as true/false; "2" for 2 or 1 for
    # true is a mistake to report, not to guess. Floats must be finite (1e999 parses as infinity).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Hyperparameters(_Section):
    max_iter: int = Field(300, ge=1, le=10000)
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_depth: int = Field(6, ge=1, le=64)


class TrainingConfig(_Section):
    use_case: str = Field("mlops_kit.features.fraud", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    instance_type: InstanceType = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=20)
    processing_instance_type: InstanceType = "ml.t3.medium"
    processing_instance_count: int = Field(1, ge=1, le=20)
    sklearn_version: SklearnVersion = "1.9-0"
    hyperparameters: Hyperparameters = Hyperparameters()
    primary_metric: Literal["roc_auc", "average_precision", "f1", "accuracy"] = "roc_auc"
    min_primary_metric: Fraction = 0.75
    min_improvement: Fraction = 0.0
    # The simple model the candidate must beat on the test split, by min_baseline_improvement of the primary metric.
    baseline: Literal["prior_rate", "logistic_regression"] = "prior_rate"
    min_baseline_improvement: Fraction = 0.05
    # Which feature values count as known at a label's time (see sagemaker_jobs/build_training_set.py).
    created_before_label: Literal["where_created", "always", "never"] = "where_created"
    seed: int = Field(42, ge=0, le=MAX_SEED)
    # S3 URLs of DVC remotes the pipeline may read labels from (`mlops pipeline run --dvc-...`): each grants the
    # pipeline role s3:GetObject on <url>/files/md5/*. Unset: none (a run on DVC labels is denied reading them).
    dvc_remotes: list[Annotated[str, Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^*?]*)?$")]] = []

    @field_validator("use_case")
    @classmethod
    def _importable(cls, value: str) -> str:
        from mlops_kit.pipeline.usecase import UseCaseError, load_use_case

        try:
            load_use_case(value)
        except UseCaseError as exc:
            raise ValueError(f"{exc}; give an importable module path such as mlops_kit.features.fraud") from None
        return value

    @model_validator(mode="after")
    def _baseline_can_be_beaten(self) -> TrainingConfig:
        # The prior rate scores every row below 0.5, so its accuracy is 1 - positive rate (0.97 at 3% fraud): a gate
        # on accuracy against it, plus a margin, refuses useful models.
        if self.baseline == "prior_rate" and self.primary_metric == "accuracy" and self.min_baseline_improvement > 0:
            raise ValueError(
                "primary_metric 'accuracy' with baseline 'prior_rate' and min_baseline_improvement "
                f"{self.min_baseline_improvement}: the prior rate's accuracy is 1 - the positive rate, which a useful "
                "model rarely beats by a margin on imbalanced labels; use roc_auc or average_precision, baseline "
                "logistic_regression, or min_baseline_improvement 0"
            )
        return self


MemorySizeInMB = Annotated[Literal[1024, 2048, 3072, 4096, 5120, 6144], BeforeValidator(_not_bool)]
# The serving keys that describe instances; a serverless endpoint has none (README "Serverless serving").
INSTANCE_SERVING_KEYS = (
    "instance_type",
    "initial_instance_count",
    "max_instance_count",
    "target_invocations_per_instance",
    "data_capture_sampling_percent",
)


class ServerlessConfig(_Section):
    """``serving.serverless``: serve the endpoint with SageMaker Serverless Inference instead of instances
    (CreateEndpointConfig ``ProductionVariantServerlessConfig``)."""

    memory_size_in_mb: MemorySizeInMB = 2048
    max_concurrency: int = Field(5, ge=1, le=200)
    # Unset: on demand (cold starts after idle periods). Set: that many invocations kept warm, billed while
    # provisioned.
    provisioned_concurrency: int | None = Field(None, ge=1, le=200)

    @model_validator(mode="after")
    def _provisioned_fits(self) -> ServerlessConfig:
        if self.provisioned_concurrency is not None and self.provisioned_concurrency > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) must be at most max_concurrency "
                f"({self.max_concurrency}), as SageMaker requires"
            )
        return self

    def settings(self) -> ServerlessSettings:
        return ServerlessSettings(
            memory_size_in_mb=self.memory_size_in_mb,
            max_concurrency=self.max_concurrency,
            provisioned_concurrency=self.provisioned_concurrency,
        )


class ServingConfig(_Section):
    endpoint_name: str | None = Field(None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

    @field_validator("endpoint_name")
    @classmethod
    def _fits(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for what, derive, limit in ENDPOINT_NAME_LIMITS:
            if len(derive(value)) > limit:
                raise ValueError(
                    f"too long ({len(value)} characters): {what} {derive(value)!r} would exceed {limit} characters; "
                    f"use at most {MAX_ENDPOINT_NAME} characters"
                )
        return value

    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: int = Field(1, ge=1, le=20)
    max_instance_count: int = Field(4, ge=1, le=100)
    target_invocations_per_instance: int = Field(1000, ge=1)
    data_capture_sampling_percent: int = Field(100, ge=0, le=100)
    # Unset (null): instances, as above. Set: a serverless endpoint (README "Serverless serving").
    serverless: ServerlessConfig | None = None

    @model_validator(mode="after")
    def _no_instances_when_serverless(self) -> ServingConfig:
        given = [key for key in INSTANCE_SERVING_KEYS if key in self.model_fields_set]
        if self.serverless is not None and given:
            raise ValueError(
                f"serving.serverless has no instances and no data capture, so {', '.join(given)} would be ignored: "
                "remove them, or remove serving.serverless to serve on instances"
            )
        return self

    @model_validator(mode="after")
    def _capacity(self) -> ServingConfig:
        if self.max_instance_count < self.initial_instance_count:
            raise ValueError(
                f"max_instance_count ({self.max_instance_count}) must be at least "
                f"initial_instance_count ({self.initial_instance_count})"
            )
        return self


class GuardrailsConfig(_Section):
    traffic_routing: Literal["CANARY", "LINEAR"] = "CANARY"
    canary_percent: int = Field(10, ge=1, le=50)
    linear_step_percent: int = Field(20, ge=10, le=50)
    wait_interval_seconds: int = Field(600, ge=0, le=3600)
    termination_wait_seconds: int = Field(300, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(3600, ge=600, le=28800)

    def settings(self) -> GuardrailsSettings:
        return GuardrailsSettings(
            routing=self.traffic_routing,
            canary_percent=self.canary_percent,
            linear_step_percent=self.linear_step_percent,
            wait_seconds=self.wait_interval_seconds,
            termination_wait_seconds=self.termination_wait_seconds,
            max_execution_seconds=self.maximum_execution_timeout_seconds,
        )


class ShadowLimits(_Section):
    max_error_rate: Fraction = 0.01
    max_p99_latency_ratio: float = Field(1.5, gt=0)
    min_agreement: float = Field(0.6, ge=-1, le=1)  # correlation of candidate and production log-odds
    min_pairs: int = Field(20, ge=1)  # requests answered by both variants, at least

    def settings(self) -> ShadowSettings:
        return ShadowSettings(
            max_error_rate=self.max_error_rate,
            max_p99_latency_ratio=self.max_p99_latency_ratio,
            min_agreement=self.min_agreement,
            min_pairs=self.min_pairs,
        )


RolloutMode = Literal["staged", "guardrails", "all_at_once"]
# Why a serverless endpoint cannot take the other modes (SageMaker Serverless Inference "Feature exclusions").
_SERVERLESS_REFUSES_MODE = {
    "staged": "its shadow variant and canary need a second variant and data capture, which serverless endpoints do "
    f"not support ({SERVERLESS_EXCLUSIONS_DOC})",
    "guardrails": "SageMaker sizes canary and linear steps in instances and does not document them for serverless "
    "endpoints (rolling deployments exclude them: "
    "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html)",
}


class RolloutConfig(_Section):
    # all_at_once: for serving.serverless only (README "Serverless serving").
    mode: RolloutMode = "staged"
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100])
    bake_minutes: int = Field(10, ge=0, le=1440)
    shadow_bake_minutes: int = Field(30, ge=0, le=1440)
    approval_timeout_hours: float = Field(24, gt=0, le=24 * 365)
    poll_seconds: int = Field(30, ge=5, le=300)
    endpoint_update_timeout_minutes: int = Field(60, ge=10, le=1440)
    # Unset: derived from the rest (mlops_kit.promotion.settings.RolloutSettings.workflow_timeout / lock_ttl).
    workflow_timeout_hours: float | None = Field(None, gt=0, le=24 * 365)
    lock_expiry_hours: float | None = Field(None, gt=0)
    shadow: ShadowLimits = ShadowLimits()
    guardrails: GuardrailsConfig = GuardrailsConfig()

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[int]) -> list[int]:
        if not steps or steps[-1] != 100:
            raise ValueError(f"steps must end at 100 (all traffic), got {steps}")
        if any(not 0 < s <= 100 for s in steps) or any(a >= b for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing percentages in 1..100, got {steps}")
        return steps

    def settings(self) -> RolloutSettings:
        """The workflow's view of this section (seconds, derived timeouts written out); raises ValueError when the
        approval wait and the rollout do not fit the workflow timeout or the lock, or polling could overflow the
        execution history."""
        try:
            settings = RolloutSettings(
                mode=self.mode,
                steps=self.steps,
                bake_seconds=self.bake_minutes * 60,
                shadow_bake_seconds=self.shadow_bake_minutes * 60,
                approval_timeout_seconds=math.ceil(self.approval_timeout_hours * 3600),
                poll_seconds=self.poll_seconds,
                update_timeout_seconds=self.endpoint_update_timeout_minutes * 60,
                workflow_timeout_seconds=_seconds(self.workflow_timeout_hours),
                lock_seconds=_seconds(self.lock_expiry_hours),
                shadow=self.shadow.settings(),
                guardrails=self.guardrails.settings(),
            )
        except ValidationError as exc:
            reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ValueError(
                f"{reasons} (keys: approval_timeout_hours, workflow_timeout_hours, lock_expiry_hours, poll_seconds, "
                "endpoint_update_timeout_minutes, bake_minutes, shadow_bake_minutes, guardrails.*)"
            ) from None
        return settings.resolved()

    @model_validator(mode="after")
    def _fits(self) -> RolloutConfig:
        self.settings()
        return self


def _seconds(hours: float | None) -> int | None:
    return None if hours is None else math.ceil(hours * 3600)


# CloudWatch: namespace and metric name 1-255 ASCII characters without control characters; a namespace may not
# start with ":" (API pattern [^:].*) nor "AWS/" (reserved for AWS services). PutMetricData / Metric API reference.
_METRIC_TEXT = re.compile(r"[\x20-\x7e]{1,255}")


class BusinessMetricAlarm(_Section):
    """The canary's business-metric rollback alarm: the candidate variant's metric against the Production
    variant's over the same period. The application publishes it with dimensions ``EndpointName`` and
    ``VariantName``; during a canary a period without it counts as a breach."""

    namespace: str = "MlopsKit/Business"
    metric_name: str = "ConversionRate"
    # A drop of the candidate's figure, relative to Production's, of more than this rolls the canary back.
    max_drop_percent: float = Field(10.0, gt=0, lt=100)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum"] = "Average"

    @model_validator(mode="before")
    @classmethod
    def _no_absolute_threshold(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"threshold", "comparison"} & data.keys()):
            raise ValueError(
                "threshold and comparison are gone: the alarm is relative to Production now; remove them and set "
                "max_drop_percent (a drop of the candidate's figure below Production's, in percent, e.g. 10)"
            )
        return data

    @field_validator("namespace", "metric_name")
    @classmethod
    def _cloudwatch_text(cls, value: str) -> str:
        if not _METRIC_TEXT.fullmatch(value):
            raise ValueError("must be 1-255 printable ASCII characters (CloudWatch namespace and metric name rules)")
        return value

    @field_validator("namespace")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith(":") or value.startswith("AWS/"):
            raise ValueError("a namespace may not start with ':' or 'AWS/' (reserved for AWS services)")
        return value


class AlarmsConfig(_Section):
    error_rate_percent: float = Field(1.0, gt=0, le=100)
    p99_latency_ms: float = Field(500, gt=0)
    period_seconds: Annotated[Literal[10, 30, 60, 300], BeforeValidator(_not_bool)] = 60
    evaluation_periods: int = Field(3, ge=1, le=100)
    datapoints_to_alarm: int = Field(2, ge=1, le=100)
    # Unset (null): no business-metric rollback alarm. Opt in only when the application publishes the metric per
    # variant: a canary without it breaches and rolls back.
    business_metric: BusinessMetricAlarm | None = None

    def business_alarm_settings(self) -> BusinessAlarmSettings | None:
        """What the promotion steps need to put the canary's business alarm (None: no such alarm)."""
        business = self.business_metric
        if business is None:
            return None
        return BusinessAlarmSettings(
            namespace=business.namespace,
            metric_name=business.metric_name,
            statistic=business.statistic,
            max_drop_percent=business.max_drop_percent,
            period_seconds=self.period_seconds,
            evaluation_periods=self.evaluation_periods,
            datapoints_to_alarm=self.datapoints_to_alarm,
        )

    @model_validator(mode="after")
    def _datapoints(self) -> AlarmsConfig:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError(
                f"datapoints_to_alarm ({self.datapoints_to_alarm}) cannot exceed "
                f"evaluation_periods ({self.evaluation_periods})"
            )
        return self


class DriftConfig(_Section):
    psi_investigate: float = Field(0.1, gt=0)
    psi_act: float = Field(0.2, gt=0)
    schedule: Schedule = "rate(1 hour)"
    window_hours: int = Field(24, ge=1, le=24 * 31)
    baseline: Literal["training", "last_year", "rolling"] = "training"
    rolling_window_days: int = Field(28, ge=1, le=366)
    retrain_on_drift: bool = True
    retrain_cooldown_hours: float = Field(24, ge=0)
    job_volume_gb: int = Field(30, ge=1, le=16384)
    job_max_runtime_minutes: int = Field(60, ge=1, le=12960)  # CreateProcessingJob allows up to 9 days
    # Below these row counts a feature's result is insufficient_data, never an alarm (README "Configuration").
    min_window_rows: int = Field(DEFAULT_MIN_WINDOW_ROWS, ge=1)
    min_baseline_rows: int = Field(DEFAULT_MIN_BASELINE_ROWS, ge=1)

    @model_validator(mode="after")
    def _thresholds(self) -> DriftConfig:
        if self.psi_investigate >= self.psi_act:
            raise ValueError(f"psi_investigate ({self.psi_investigate}) must be below psi_act ({self.psi_act})")
        return self


_COLUMN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
_DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class QualityConfig(_Section):
    """Ground truth (README "Model quality (ground truth)"): label files under ``labels_prefix`` of the data bucket,
    joined with captured predictions; a drop of the primary metric alarms and (with drift's retraining) retrains."""

    # Not "labels": the feature store's Athena queries stage their label tables there.
    labels_prefix: str = "ground-truth"
    # A chargeback feed knows the transaction, not the request: join on the business key by default.
    key: Literal["inference_id", "business_key"] = "business_key"
    key_column: str = Field("transaction_id", pattern=_COLUMN)
    label_column: str = Field("label", pattern=_COLUMN)
    # Where the business key sits in each request row (dotted), for key = business_key.
    business_key_path: str = Field("transaction.transaction_id", pattern=_DOTTED)
    schedule: Schedule = "rate(1 day)"
    window_hours: int = Field(24, ge=1, le=24 * 31)
    label_delay_hours: int = Field(72, ge=0, le=24 * 90)
    min_samples: int = Field(200, ge=1)
    max_drop: float = Field(0.05, gt=0, le=1)
    # Retrain when the drop alarm fires, through drift's retrain function and cooldown; unset: as
    # drift.retrain_on_drift.
    retrain_on_drop: bool | None = None

    @field_validator("labels_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*", value):
            raise ValueError(
                "must be an S3 key prefix in the data bucket such as labels or ground-truth/fraud: no leading or "
                "trailing slash, no empty segment, only letters, digits and !_.*'()-"
            )
        return value


class AbTestConfig(_Section):
    status_schedule: Schedule = "rate(1 hour)"
    http_router: bool = False


class NotificationsConfig(_Section):
    approver_emails: list[str] = Field(default_factory=list)

    @field_validator("approver_emails")
    @classmethod
    def _emails(cls, emails: list[str]) -> list[str]:
        bad = [e for e in emails if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return emails


_APPROVER = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|\*):(role|user)/[\w+=,.@/*-]+$")


class ApprovalsConfig(_Section):
    """Who may answer a promotion: ``approvers`` are IAM role or user ARNs (``*`` wildcards allowed); sessions of
    the platform's approver role always may. Empty: anyone allowed to assume the approver role. The identity that
    registered a version or requested its promotion may not approve it unless ``allow_self_approval``."""

    approvers: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False

    @field_validator("approvers")
    @classmethod
    def _principals(cls, approvers: list[str]) -> list[str]:
        bad = [a for a in approvers if not _APPROVER.match(a)]
        if bad:
            raise ValueError(
                f"not IAM role or user ARNs: {bad}; write arn:aws:iam::<account>:role/<name> or ...:user/<name>"
            )
        return approvers


_BATCH_KEY = re.compile(r"[A-Za-z0-9!_.*'()/=-]+")


class BatchConfig(_Section):
    """Batch scoring (README "Batch scoring"): the job and its start function are always deployed (``mlops batch``);
    ``schedule`` adds a schedule scoring ``schedule_input`` (under ``s3://<data bucket>/batch/input/``) with the
    Production version."""

    schedule: Schedule | None = None
    schedule_input: str | None = Field(None, min_length=1, max_length=512)
    id_column: str = Field("transaction_id", min_length=1, max_length=128)
    time_column: str | None = Field(None, min_length=1, max_length=128)  # unset: the use case's LABEL_TIME_COLUMN
    created_before_row: bool = False
    job_volume_gb: int = Field(30, ge=1, le=16384)
    job_max_runtime_minutes: int = Field(60, ge=1, le=12960)  # CreateProcessingJob allows up to 9 days

    @field_validator("schedule_input")
    @classmethod
    def _relative_key(cls, value: str | None) -> str | None:
        if value is not None and (not _BATCH_KEY.fullmatch(value) or value.startswith("/") or ".." in value.split("/")):
            raise ValueError(
                'must be a key or folder relative to s3://<data bucket>/batch/input/, such as "daily/" or '
                '"2026/transactions.parquet" (letters, digits and !_.*\'()/=-, no leading / and no ..)'
            )
        return value

    @model_validator(mode="after")
    def _scheduled_input(self) -> BatchConfig:
        if self.schedule is not None and self.schedule_input is None:
            raise ValueError(
                "schedule needs schedule_input: the file or folder under s3://<data bucket>/batch/input/ each run "
                'scores (e.g. "daily/")'
            )
        if self.time_column is not None and self.time_column == self.id_column:
            raise ValueError(f"time_column and id_column are both {self.id_column!r}: name two different columns")
        return self


# The IAM identity a page addressee stands for: a role session (how a person signs in), an IAM user or role, or
# ``approver-role/<session>``: that session of the platform's approver role (its ARN is known only once deployed).
APPROVER_ROLE_SESSION = "approver-role/"
_IDENTITY = re.compile(
    r"^(approver-role/[\w+=,.@-]{2,64}"
    r"|arn:aws[a-z-]*:sts::\d{12}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]{2,64}"
    r"|arn:aws[a-z-]*:iam::\d{12}:(user|role)/[\w+=,.@/-]+)$"
)
# SNS accepts 200 filter policies per topic by default (Amazon SNS "Filter policy constraints"): one per addressee.
MAX_PAGE_ADDRESSEES = 200


class ApprovalPageConfig(_Section):
    """The browser approval page (API Gateway + Lambda): off by default. Its links are signed for each of
    ``notifications.approver_emails`` and expire after ``link_ttl_seconds`` (never after the approval timeout).

    ``identities`` maps every addressee to the IAM identity they stand for (an ``arn:aws:sts::...:assumed-role/
    ROLE/SESSION`` session, an IAM user or role ARN, or ``approver-role/SESSION`` for a session of the platform's
    approver role): a page answer is judged as an answer in the registry by that identity would be (it must be an
    approver; it may not be who registered or requested the version unless ``approvals.allow_self_approval``)."""

    enabled: bool = False
    link_ttl_seconds: int = Field(86400, ge=300, le=7 * 86400)
    identities: dict[str, str] = Field(default_factory=dict)

    @field_validator("identities")
    @classmethod
    def _identities(cls, identities: dict[str, str]) -> dict[str, str]:
        bad = {email: identity for email, identity in identities.items() if not _IDENTITY.match(identity)}
        if bad:
            raise ValueError(
                f"not IAM identities: {bad}; write arn:aws:sts::<account>:assumed-role/<role>/<session>, "
                "arn:aws:iam::<account>:user/<name> (or role/<name>), or approver-role/<session>"
            )
        return identities


# CDK's logs.RetentionDays member for each allowed number of days.
_RETENTION_MEMBERS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


class RetentionConfig(_Section):
    log_days: LogRetentionDays = 30
    capture_days: int = Field(90, ge=1)
    report_days: int = Field(365, ge=1)

    @property
    def log_retention_member(self) -> str:
        """The name of the ``aws_logs.RetentionDays`` member for ``log_days``."""
        return _RETENTION_MEMBERS[self.log_days]


class MlflowConfig(_Section):
    managed: bool = False
    tracking_server_size: Literal["Small", "Medium", "Large"] = "Small"


class CostConfig(_Section):
    """Prices for the deployment records' cost estimates (``mlops promotions history``).

    ``instance_prices``: price per instance-hour by SageMaker instance type, in the currency you bill in. The kit
    ships none: prices differ by region, change, and discounts (Savings Plans) apply, so they are yours to set from
    the SageMaker pricing page for your region. Records of an unpriced instance type carry the instance-hours and
    say which price is missing.
    """

    instance_prices: dict[InstanceType, float] = Field(default_factory=dict)

    @field_validator("instance_prices")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 < v <= 1000}
        if bad:
            raise ValueError(
                f'prices must be per instance-hour, above 0 and at most 1000, got {bad}; e.g. {{"ml.m5.large": 0.115}}'
            )
        return value


# An environment's name is part of its serving stack's name and CloudFormation export names: lowercase, short.
_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")


class EnvironmentConfig(_Section):
    """An environment a model version is promoted to (``staging``, ``production``) in an account of its own: its
    serving stack is deployed there, and the tooling account shares the registry's versions, the model artifacts
    and the platform key with it.

    ``region`` left unset is the platform's ``region``; another region is refused (SageMaker reads a model's
    artifacts from a bucket in the model's own region, and the artifacts bucket and key are the tooling region's).
    """

    account: str = Field(pattern=r"^\d{12}$")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    # The environment's endpoint (``<serving endpoint name>-<environment>``): each unset value is ``serving``'s.
    instance_type: InstanceType | None = None
    initial_instance_count: int | None = Field(None, ge=1, le=20)
    max_instance_count: int | None = Field(None, ge=1, le=100)
    # Set: this environment's endpoint is serverless (the keys of ``serving.serverless``), e.g. a serverless staging
    # in front of an instance-backed production; unset: ``serving.serverless`` (instances unless that is set).
    serverless: ServerlessConfig | None = None
    # This environment's promotion path (``rollout.mode``'s values; the rest of ``rollout`` is shared); unset:
    # 'all_at_once' when the environment is serverless, else ``rollout.mode``.
    rollout_mode: RolloutMode | None = None
    # Who may answer a promotion to this environment (IAM role or user ARNs, as ``approvals.approvers``); unset:
    # ``approvals.approvers``.
    approvers: list[str] | None = None

    @field_validator("approvers")
    @classmethod
    def _principals(cls, approvers: list[str] | None) -> list[str] | None:
        return None if approvers is None else ApprovalsConfig._principals(approvers)


class PlatformConfig(_Section):
    # 3-25 characters, starting with a letter and ending with a letter or digit: stack, bucket, SageMaker and
    # Glue names are built from it.
    project_name: str = "mlops-kit"
    account: str | None = Field(None, pattern=r"^\d{12}$")
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    removal_policy: Literal["retain", "destroy"] = "retain"
    training: TrainingConfig = TrainingConfig()
    serving: ServingConfig = ServingConfig()
    rollout: RolloutConfig = RolloutConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    drift: DriftConfig = DriftConfig()
    quality: QualityConfig | None = None  # off unless the section is present
    batch: BatchConfig = BatchConfig()
    abtest: AbTestConfig = AbTestConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    approval_page: ApprovalPageConfig = ApprovalPageConfig()
    retention: RetentionConfig = RetentionConfig()
    mlflow: MlflowConfig = MlflowConfig()
    cost: CostConfig = CostConfig()
    # Empty: one account (``account``) trains and serves. Else the promotion order, first to last.
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)

    @field_validator("project_name")
    @classmethod
    def _bucket_safe(cls, value: str) -> str:
        if not _PROJECT_NAME.fullmatch(value):
            raise ValueError(
                "must be 3-25 lowercase letters, digits and hyphens, starting with a letter and ending with a letter "
                "or digit"
            )
        reserved = [p for p in RESERVED_BUCKET_PREFIXES if value.startswith(p)]
        if reserved:
            raise ValueError(
                f"S3 refuses bucket names starting with {reserved[0]!r}, and the kit's buckets are named after the "
                "project: choose another name"
            )
        return value

    @field_validator("region")
    @classmethod
    def _has_images(cls, value: str) -> str:
        # The pinned scikit-learn images are looked up in the SageMaker SDK's offline table at synth.
        try:
            for version in get_args(SklearnVersion):
                image_uri(value, version, "training")
        except ValueError as exc:
            supported = str(exc).partition("Supported region(s): ")[2].rstrip(".")
            raise ValueError(
                f"the SageMaker SDK has no scikit-learn image for this region; supported: {supported or 'see the SDK'}"
            ) from None
        return value

    @model_validator(mode="after")
    def _capture_covers_baseline(self) -> PlatformConfig:
        # last_year and rolling baselines are read from past capture: it must still exist when the job reads it.
        drift = self.drift
        window_days = math.ceil(drift.window_hours / 24)
        oldest = {"last_year": 366, "rolling": drift.rolling_window_days}.get(drift.baseline)
        needed = None if oldest is None else oldest + window_days
        if needed is not None and self.retention.capture_days < needed:
            raise ValueError(
                f"retention.capture_days ({self.retention.capture_days}) must be at least {needed}: drift.baseline "
                f"{drift.baseline!r} reads capture that old (raise capture_days or use drift.baseline 'training')"
            )
        return self

    @model_validator(mode="after")
    def _quality_fits(self) -> PlatformConfig:
        quality = self.quality
        if quality is None:
            return self
        if quality.retrain_on_drop is True and not self.drift.retrain_on_drift:
            raise ValueError(
                "quality.retrain_on_drop reuses drift's retraining (its cooldown and function): set "
                "drift.retrain_on_drift to true, or leave quality.retrain_on_drop unset or false"
            )
        # Capture older than retention.capture_days is gone before its labels can be joined with it.
        needed = math.ceil((quality.label_delay_hours + quality.window_hours) / 24)
        if self.retention.capture_days < needed:
            raise ValueError(
                f"retention.capture_days ({self.retention.capture_days}) must be at least {needed}: quality windows "
                f"end quality.label_delay_hours ({quality.label_delay_hours}) back and last quality.window_hours "
                f"({quality.window_hours}); raise capture_days or shorten the delay"
            )
        return self

    @model_validator(mode="after")
    def _business_alarm_fits(self) -> PlatformConfig:
        business = self.alarms.business_alarm_settings()
        if business is None:
            return self
        if self.rollout.mode == "guardrails":
            # A blue/green deployment keeps the variant name for the new fleet: no Production variant to compare.
            raise ValueError(
                "alarms.business_metric compares the candidate variant with the Production variant, which only "
                "rollout.mode 'staged' has; set alarms.business_metric to null or rollout.mode to 'staged'"
            )
        if self.rollout.bake_minutes * 60 < business.evaluation_seconds():
            # A shorter bake judges the candidate on periods before it had traffic: missing, so breaching.
            raise ValueError(
                f"rollout.bake_minutes ({self.rollout.bake_minutes}) must cover the business-metric alarm's "
                f"evaluation range, alarms.period_seconds x alarms.evaluation_periods ({business.evaluation_seconds()}"
                " s): raise bake_minutes or shorten the alarm"
            )
        return self

    @model_validator(mode="after")
    def _serverless_fits(self) -> PlatformConfig:
        # SageMaker Serverless Inference "Feature exclusions": no data capture, no multiple production variants;
        # shadow tests exclude serverless endpoints. What the kit builds on those is refused here, at synth.
        serverless, mode = self.serving.serverless is not None, self.rollout.mode
        if not serverless:
            if mode == "all_at_once":
                raise ValueError(
                    "rollout.mode 'all_at_once' skips the shadow comparison and the canary, which instance-based "
                    "endpoints have: it is for serving.serverless only; use 'staged' or 'guardrails'"
                )
            return self
        if mode != "all_at_once":
            why = _SERVERLESS_REFUSES_MODE[mode]
            raise ValueError(f"serving.serverless with rollout.mode {mode!r}: {why}; set rollout.mode to 'all_at_once'")
        if self.quality is not None:
            raise ValueError(
                "serving.serverless with a quality section: model quality joins labels with captured predictions, "
                f"and serverless endpoints have no data capture ({SERVERLESS_EXCLUSIONS_DOC}); remove quality"
            )
        if self.alarms.business_metric is not None:
            raise ValueError(
                "serving.serverless with alarms.business_metric: the alarm compares the candidate variant with the "
                "Production variant, and a serverless endpoint has one production variant; set it to null"
            )
        return self

    @model_validator(mode="after")
    def _guardrails_fit(self) -> PlatformConfig:
        if self.rollout.mode == "guardrails":
            try:
                self.rollout.guardrails.settings().check_instances(self.serving.initial_instance_count)
            except ValueError as exc:
                raise ValueError(f"rollout.guardrails with serving.initial_instance_count: {exc}") from None
        return self

    @model_validator(mode="after")
    def _approval_page_addressees(self) -> PlatformConfig:
        page, emails = self.approval_page, self.notifications.approver_emails
        if not page.enabled:
            return self
        if not emails:
            raise ValueError(
                "approval_page.enabled needs notifications.approver_emails: the page's links are signed for them"
            )
        if len(emails) > MAX_PAGE_ADDRESSEES:
            raise ValueError(
                f"approval_page.enabled allows at most {MAX_PAGE_ADDRESSEES} notifications.approver_emails (one SNS "
                f"filter policy each; SNS allows {MAX_PAGE_ADDRESSEES} per topic by default), got {len(emails)}"
            )
        missing = [email for email in emails if email not in page.identities]
        unknown = [email for email in page.identities if email not in emails]
        if missing or unknown:
            raise ValueError(
                "approval_page.identities must name the IAM identity of every notifications.approver_emails address "
                f"and nothing else: missing {missing}, not an addressee {unknown}"
            )
        from mlops_kit.promotion.approvals import ApprovalPolicy, Approver

        # Sessions of the approver role always may answer; any other identity must be one of approvals.approvers,
        # or of an environment's approvers (the page judges each approval by its environment's).
        policies = [
            ApprovalPolicy(tuple(approvers), allow_self_approval=True)
            for approvers in [self.approvals.approvers, *(self.environment_approvers(n) for n in self.environments)]
        ]
        not_approvers = {
            email: identity
            for email, identity in page.identities.items()
            if not identity.startswith(APPROVER_ROLE_SESSION)
            and all(
                not policy.approvers or policy.refusal(Approver(identity), registered_by="", requested_by="")
                for policy in policies
            )
        }
        if not_approvers:
            raise ValueError(
                f"approval_page.identities names identities that may not approve: {not_approvers}; name them in "
                "approvals.approvers (or an environment's approvers), or map the addressee to approver-role/<session> "
                "(a session of the approver role)"
            )
        return self

    @model_validator(mode="after")
    def _environments_fit(self) -> PlatformConfig:
        if not self.environments:
            return self
        problems = []
        bad_names = [name for name in self.environments if not _ENVIRONMENT_NAME.match(name)]
        if bad_names:
            problems.append(
                f"environment names {bad_names} must be 1-16 lowercase letters and digits starting with a letter "
                "(they name the environment's serving stack), e.g. staging, production"
            )
        if self.account is None:
            problems.append(
                "environments need account (the tooling account, where data, training and the registry are "
                "deployed): each stack is deployed to an explicit account"
            )
        accounts: dict[str, str] = {}
        for name, environment in self.environments.items():
            if environment.account == self.account:
                problems.append(
                    f"environments.{name}.account is the tooling account {self.account}: serving there is the "
                    "single-account setup (leave environments out), or give the environment its own account"
                )
            if environment.account in accounts:
                problems.append(
                    f"environments.{name} and environments.{accounts[environment.account]} share account "
                    f"{environment.account}: their serving stacks and endpoints would collide; one account each"
                )
            accounts.setdefault(environment.account, name)
            if environment.region not in (None, self.region):
                problems.append(
                    f"environments.{name}.region {environment.region!r} differs from region {self.region!r}: "
                    "SageMaker reads model artifacts from a bucket in the model's region; leave it unset"
                )
            problems.extend(self._environment_serving_problems(name))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _environment_serving_problems(self, name: str) -> list[str]:
        """What is wrong with environment ``name``'s endpoint settings (its overrides over ``serving``)."""
        problems = []
        environment = self.environments[name]
        overrides = [key for key in INSTANCE_SERVING_KEYS if getattr(environment, key, None) is not None]
        if environment.serverless is not None and overrides:
            problems.append(
                f"environments.{name}.serverless has no instances, so environments.{name} "
                f"{', '.join(overrides)} would be ignored: remove them, or remove environments.{name}.serverless to "
                "serve that environment on instances"
            )
        elif self.serving.serverless is not None and overrides:
            problems.append(
                f"environments.{name} sets {', '.join(overrides)}, but serving.serverless serves every "
                "environment without instances: remove them"
            )
        problems.extend(self._environment_rollout_problems(name))
        serving = self.environment_serving(name)
        if serving.max_instance_count < serving.initial_instance_count:
            problems.append(
                f"environments.{name}: max_instance_count ({serving.max_instance_count}) must be at least "
                f"initial_instance_count ({serving.initial_instance_count})"
            )
        endpoint = self.environment_endpoint_name(name)
        for what, derive, limit in ENDPOINT_NAME_LIMITS:
            if len(derive(endpoint)) > limit:
                problems.append(
                    f"environments.{name}: {what} {derive(endpoint)!r} would exceed {limit} characters; "
                    "shorten serving.endpoint_name (or the project name) or the environment's name"
                )
        return problems

    def _environment_rollout_problems(self, name: str) -> list[str]:
        """What the environment's promotion path refuses: what the platform's ``_serverless_fits``,
        ``_business_alarm_fits`` and ``_guardrails_fit`` refuse, for environment ``name``'s endpoint and mode."""
        serving, mode = self.environment_serving(name), self.environment_rollout_mode(name)
        serverless = serving.serverless is not None
        key = f"environments.{name}.rollout_mode"
        where = f"environments.{name}.serverless" if self.environments[name].serverless else "serving.serverless"
        if serverless and mode != "all_at_once":
            why = _SERVERLESS_REFUSES_MODE[mode]
            return [f"{where} with {key} {mode!r}: {why}; set {key} to 'all_at_once' or leave it unset"]
        if not serverless and mode == "all_at_once":
            return [
                f"{key} 'all_at_once' skips the shadow comparison and the canary, which instance-based endpoints "
                f"have: it is for serverless environments only; set environments.{name}.serverless, or set {key} to "
                "'staged' or 'guardrails' (or leave it unset: rollout.mode)"
            ]
        problems = []
        business = self.alarms.business_alarm_settings()
        if serverless and business is not None and self.serving.serverless is None:
            problems.append(
                f"{where} with alarms.business_metric: the alarm compares the candidate variant with the Production "
                f"variant, and a serverless endpoint has one production variant; set alarms.business_metric to null, "
                f"or remove {where} to serve that environment on instances"
            )
        if mode == "guardrails" and business is not None and self.rollout.mode != "guardrails":
            problems.append(
                f"alarms.business_metric with {key} 'guardrails': the alarm compares the candidate variant with the "
                "Production variant, which only the 'staged' rollout has; set alarms.business_metric to null or "
                f"{key} to 'staged'"
            )
        if mode == "guardrails":
            try:
                self.rollout.guardrails.settings().check_instances(serving.initial_instance_count)
            except ValueError as exc:
                problems.append(f"{key} 'guardrails' with the environment's initial_instance_count: {exc}")
        try:
            self.environment_rollout(name)
        except ValueError as exc:
            problems.append(f"{key} {mode!r}: {exc}")
        return problems

    # -- derived names and values: stacks and constructs take them from here, nothing derives them twice -------
    @property
    def endpoint_name(self) -> str:
        return self.serving.endpoint_name or f"{self.project_name}-endpoint"

    def stack_name(self, unit: str) -> str:
        return f"{self.project_name}-{unit}"

    def environment_endpoint_name(self, environment: str) -> str:
        """The endpoint environment ``environment`` serves (in its own account)."""
        return f"{self.endpoint_name}-{environment}"

    def environment_serving(self, environment: str) -> ServingConfig:
        """``serving`` with environment ``environment``'s overrides (instance type and counts, or serverless)."""
        given = self.environments[environment]
        overrides = {
            key: getattr(given, key)
            for key in ("instance_type", "initial_instance_count", "max_instance_count", "serverless")
            if getattr(given, key) is not None
        }
        return self.serving.model_copy(update=overrides)

    def environment_captures(self, environment: str) -> bool:
        """Whether environment ``environment``'s endpoint has data capture: a serverless one has none (SageMaker
        Serverless Inference "Feature exclusions"), so it gets no capture grants on either side."""
        return self.environment_serving(environment).serverless is None

    def environment_rollout_mode(self, environment: str) -> RolloutMode:
        """Environment ``environment``'s promotion path: its ``rollout_mode``; unset, 'all_at_once' when it serves
        serverless (the only path a serverless endpoint takes), else ``rollout.mode``."""
        given = self.environments[environment].rollout_mode
        if given is not None:
            return given
        return "all_at_once" if self.environment_serving(environment).serverless is not None else self.rollout.mode

    def environment_rollout(self, environment: str) -> RolloutSettings:
        """``rollout`` as environment ``environment``'s workflow takes it (its mode, the rest shared); raises
        ValueError as :meth:`RolloutConfig.settings` does."""
        mode = self.environment_rollout_mode(environment)
        return self.rollout.model_copy(update={"mode": mode}).settings()

    def environment_approvers(self, environment: str) -> list[str]:
        approvers = self.environments[environment].approvers
        return list(self.approvals.approvers) if approvers is None else approvers

    def environment_neighbours(self, environment: str) -> tuple[str | None, str | None]:
        """The environments before and after ``environment`` in promotion order (None at either end)."""
        names = list(self.environments)
        index = names.index(environment)
        return (names[index - 1] if index else None, names[index + 1] if index + 1 < len(names) else None)

    def deployment_role_name(self, environment: str) -> str:
        """The role in ``environment``'s account the promotion steps assume for its endpoint (named: the tooling
        account's policy names it before it exists)."""
        return f"{self.project_name}-deploy-{environment}"

    def environment_model_role_name(self, environment: str) -> str:
        """The role SageMaker serves with in ``environment``'s account (named: the tooling account's promotion
        passes it to SageMaker there, and its bucket and key policies name it in a condition)."""
        return f"{self.project_name}-models-{environment}"

    def promotion_role_name(self, environment: str) -> str:
        """The tooling account's role of ``environment``'s promotion steps (named: the deployment role there
        trusts exactly it)."""
        return f"{self.project_name}-promotion-{environment}"

    def promotion_state_machine_name(self, environment: str) -> str:
        return f"{self.project_name}-promotion-{environment}"

    @property
    def environment_accounts(self) -> list[str]:
        """The environments' accounts, in promotion order: the registry's versions, the model artifacts and the
        platform key are shared with them (none when one account trains and serves)."""
        return [environment.account for environment in self.environments.values()]

    @property
    def model_package_group(self) -> str:
        """The model registry's group: every trained version of the platform's model."""
        return f"{self.project_name}-models"

    @property
    def pipeline_name(self) -> str:
        """The SageMaker training pipeline."""
        return f"{self.project_name}-training"

    @property
    def feature_database_name(self) -> str:
        """The offline feature store's Glue database (Glue names allow no hyphens)."""
        return f"{self.project_name.replace('-', '_')}_features"

    @property
    def feature_workgroup_name(self) -> str:
        """The Athena workgroup of the offline feature store."""
        return f"{self.project_name}-features"

    @property
    def mlflow_tracking_server_name(self) -> str:
        """The SageMaker managed MLflow tracking server (``mlflow.managed``)."""
        return f"{self.project_name}-mlflow"

    @property
    def dashboard_name(self) -> str:
        return f"{self.project_name}-platform"

    @property
    def cdk_removal_policy(self) -> RemovalPolicy:
        """What happens to buckets, tables, keys and log groups when their stack is deleted (``removal_policy``)."""
        from aws_cdk import RemovalPolicy

        return RemovalPolicy.DESTROY if self.removal_policy == "destroy" else RemovalPolicy.RETAIN

    @property
    def log_retention(self) -> RetentionDays:
        """CloudWatch Logs retention of every log group the kit creates (``retention.log_days``)."""
        from aws_cdk import aws_logs as logs

        retention: RetentionDays = getattr(logs.RetentionDays, self.retention.log_retention_member)
        return retention

    def image_uri(self, scope: ImageScope) -> str:
        """The pinned scikit-learn image of ``scope`` (training, processing, inference) in ``region``."""
        return image_uri(self.region, self.training.sklearn_version, scope)

    def pipeline_spec(self, *, code_commit: str) -> PipelineSpec:
        """The training pipeline's definition inputs; ``code_commit`` is recorded in every version's lineage."""
        training = self.training
        return PipelineSpec(
            pipeline_name=self.pipeline_name,
            region=self.region,
            model_package_group=self.model_package_group,
            use_case=training.use_case,
            sklearn_version=training.sklearn_version,
            processing_instance_type=training.processing_instance_type,
            processing_instance_count=training.processing_instance_count,
            training_instance_type=training.instance_type,
            training_instance_count=training.instance_count,
            primary_metric=training.primary_metric,
            min_primary_metric=training.min_primary_metric,
            min_improvement=training.min_improvement,
            baseline=training.baseline,
            min_baseline_improvement=training.min_baseline_improvement,
            created_before_label=training.created_before_label,
            seed=training.seed,
            code_commit=code_commit,
            hyperparameters=training.hyperparameters.model_dump(),
        )


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the section at ``loc`` (walking nested models), for unknown-key messages."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            break
        annotation = field.annotation
        candidates = [annotation, *get_args(annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            break
        current = nested[0]
    return sorted(current.model_fields)


def _format_error(error: Any) -> str:
    loc = tuple(error["loc"])
    path = ".".join([CONTEXT_KEY, *(str(p) for p in loc)])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(PlatformConfig, loc[:-1])
        return f"{path}: unknown key; allowed keys here: {', '.join(allowed)}"
    given = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("model_type", "dict_type"):
        return f"{path}: expected a JSON object (section), got {given!r}"
    hint = _TYPE_HINTS.get(error["type"])
    if hint:
        return f"{path}: {message}: write {hint} (got {given!r})"
    if error["type"] == "finite_number":
        return f"{path}: must be a finite number (got {given!r})"
    return f"{path}: {message} (got {given!r})"


# Strict types: what to write instead, for the errors a loosely typed value gives.
_TYPE_HINTS = {
    "int_type": 'a JSON integer such as 2, not "2", 2.0 or true',
    "float_type": 'a JSON number such as 0.5, not "0.5" or true',
    "bool_type": 'true or false, not "yes", "true" or 1',
    "string_type": "a JSON string in double quotes",
    "list_type": "a JSON list such as [5, 25, 100]",
}


def load_config(context: dict[str, Any] | str | None) -> PlatformConfig:
    """Validate the ``mlops`` context; raise :class:`ConfigError` naming every bad key."""
    if context is None:
        context = {}
    if isinstance(context, str):
        # `cdk synth -c mlops='{"training": {"seed": 7}}'` passes the section as a string: decode it as JSON,
        # so its values keep their JSON types (nothing is coerced later).
        try:
            context = json.loads(context)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY}: the context value is not JSON ({exc}); pass a JSON object") from None
    if not isinstance(context, dict):
        raise ConfigError(f"{CONTEXT_KEY}: expected a JSON object in cdk.json context, got {context!r}")
    try:
        return PlatformConfig.model_validate(context)
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        raise ConfigError("invalid platform configuration in cdk.json:\n  " + "\n  ".join(lines)) from None
