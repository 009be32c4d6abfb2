"""Start the drift job for the Production model (the ``drift_start`` Lambda, which ``mlops drift run`` invokes);
``mlops drift report --hours`` plans the same window and runs the comparison itself.

The window is the ``window_hours`` before the scheduled time, but never reaches back before the Production
version took all traffic (its latest completed deployment in the promotion state table): earlier traffic was
scored by another model, whose predictions say nothing about this one's baseline. Defined results, not
errors: no Production version (nothing is served), an empty window, no capture files in it, a job already
started for that window (a retried invocation). Errors: a Production version without a drift baseline, or a
baseline that does not exist (:class:`DriftConfigurationError`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlops_kit.monitoring import naming
from mlops_kit.monitoring.capture import list_capture, split_uri, utc
from mlops_kit.monitoring.settings import DriftSettings
from mlops_kit.registry import ModelRegistry, ModelVersion

BASELINE_PROPERTY = "drift.baseline_uri"
_SERVING_OUTCOMES = ("promoted", "rolled_back_to_archived")


class DriftConfigurationError(RuntimeError):
    """The Production version cannot be monitored as deployed (no baseline, or an unreadable one)."""


@dataclass(frozen=True)
class StartAws:
    """The clients starting a run needs (boto3's, or the emulator's)."""

    sagemaker: Any
    s3: Any
    dynamodb: Any


@dataclass(frozen=True)
class StartResult:
    """What a start request did: whether a job started, why (not), and for which window and version."""

    started: bool
    reason: str
    job_name: str | None = None
    model_version: int | None = None
    baseline_uri: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    capture_files: int = 0
    capture_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deployed_since(dynamodb: Any, table: str, endpoint: str, version: int) -> dt.datetime | None:
    """When ``version`` last finished taking all of ``endpoint``'s traffic, from the promotion workflow's
    deployment records (None when no record says so, e.g. a deployment made outside the workflow)."""
    from mlops_kit.promotion.store import PromotionStore

    for record in PromotionStore(dynamodb, table).deployments(endpoint, limit=50):
        if record.get("outcome") in _SERVING_OUTCOMES and record.get("serving_version") == version:
            finished = record.get("finished_at")
            if isinstance(finished, str):
                moment = dt.datetime.fromisoformat(finished.replace("Z", "+00:00"))
                return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def drift_window(
    end: dt.datetime, hours: int, not_before: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime] | None:
    """``[end - hours, end)`` cut at ``not_before``; None when nothing of it is left."""
    end = utc(end)
    start = end - dt.timedelta(hours=hours)
    if not_before is not None:
        start = max(start, utc(not_before))
    return (start, end) if start < end else None


def baseline_of(version: ModelVersion, s3: Any) -> str:
    """The version's drift baseline URI, checked to exist; raises DriftConfigurationError otherwise."""
    uri = version.properties.get(BASELINE_PROPERTY, "").strip()
    if not uri:
        raise DriftConfigurationError(
            f"Production version {version.version} ({version.arn}) has no {BASELINE_PROPERTY}; versions registered "
            "by the training pipeline record it (its evaluate step computes the baseline)"
        )
    try:
        bucket, key = split_uri(uri)
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise DriftConfigurationError(
            f"the drift baseline of Production version {version.version} ({uri}) cannot be read: {exc}"
        ) from None
    return uri


def processing_job_request(
    settings: DriftSettings,
    *,
    job_name: str,
    version: int,
    baseline_uri: str,
    start: dt.datetime,
    end: dt.datetime,
) -> dict[str, Any]:
    """The CreateProcessingJob request of one drift run (the same launcher and code bundle as the pipeline)."""
    arguments = [
        "drift",
        "--use-case", settings.use_case,
        "--endpoint", settings.endpoint_name,
        "--capture-uri", settings.capture_uri,
        "--baseline-uri", baseline_uri,
        "--start", utc(start).isoformat(),
        "--end", utc(end).isoformat(),
        "--model-version", str(version),
        "--offline-uri", settings.offline_uri,
        "--psi-investigate", str(settings.psi_investigate),
        "--psi-act", str(settings.psi_act),
        "--min-window-rows", str(settings.min_window_rows),
        "--min-baseline-rows", str(settings.min_baseline_rows),
        "--baseline-mode", settings.baseline_mode,
        "--rolling-days", str(settings.rolling_days),
    ]  # fmt: skip
    return settings.job.request(
        job_name,
        arguments,
        inputs={},
        outputs={naming.REPORT_OUTPUT: naming.report_uri(settings.artifacts_bucket, settings.endpoint_name, job_name)},
        environment={naming.ENDPOINT_ENVIRONMENT: settings.endpoint_name, "MLOPS_DRIFT_MODEL_VERSION": str(version)},
        tags={"mlops:drift-endpoint": settings.endpoint_name},
    )


@dataclass(frozen=True)
class RunPlan:
    """What a run of the window ending at a given time would read (before anything starts).

    ``result`` is the :class:`StartResult` so far (not started; its ``reason`` says why no run can happen, or
    is ``"ready"``); ``start`` and ``end`` bound the window when there is one.
    """

    result: StartResult
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def ready(self) -> bool:
        """A Production version, its baseline, a window and capture files in it: a run can start."""
        return self.result.reason == "ready"


def plan_run(
    aws: StartAws,
    settings: DriftSettings,
    *,
    now: dt.datetime,
    window_hours: int | None = None,
    baseline_uri: str | None = None,
) -> RunPlan:
    """The Production version, its baseline (``baseline_uri`` instead, when given), the window ending at ``now``
    and its capture files; see the module doc for what is a result and what is an error."""
    registry = ModelRegistry(aws.sagemaker, settings.model_package_group)
    production = registry.production()
    if production is None:
        return RunPlan(
            StartResult(False, f"no Production model version in {settings.model_package_group}: nothing is served yet")
        )
    baseline = baseline_uri or baseline_of(production, aws.s3)
    hours = window_hours or settings.window_hours
    since = deployed_since(aws.dynamodb, settings.state_table, settings.endpoint_name, production.version)
    window = drift_window(now, hours, since)
    result = StartResult(False, "", model_version=production.version, baseline_uri=baseline)
    if window is None:
        return RunPlan(
            replace(result, reason=f"version {production.version} took all traffic after the window ended ({since})")
        )
    start, end = window
    listing = list_capture(aws.s3, settings.capture_uri, settings.endpoint_name, start, end)
    result = replace(
        result,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        capture_files=listing.count,
        capture_bytes=listing.total_bytes,
        reason="ready",
    )
    if listing.count == 0:
        result = replace(result, reason="no capture files in the window: nothing was served or captured")
    return RunPlan(result, start, end)


def start_drift_job(
    aws: StartAws, settings: DriftSettings, *, now: dt.datetime, window_hours: int | None = None
) -> StartResult:
    """Start the drift job of the window ending at ``now`` (the scheduled time); see the module doc."""
    plan = plan_run(aws, settings, now=now, window_hours=window_hours)
    if not plan.ready or plan.start is None or plan.end is None or plan.result.model_version is None:
        return plan.result
    result, start, end = plan.result, plan.start, plan.end
    name = naming.job_name(settings.endpoint_name, end)
    request = processing_job_request(
        settings,
        job_name=name,
        version=plan.result.model_version,
        baseline_uri=str(result.baseline_uri),
        start=start,
        end=end,
    )
    try:
        aws.sagemaker.create_processing_job(**request)
    except aws.sagemaker.exceptions.ClientError as exc:
        message = str(exc)
        if "must be unique" in message or "ResourceInUse" in message:
            return replace(result, job_name=name, reason=f"job {name} was already started for this window")
        raise
    return replace(result, started=True, reason="started", job_name=name)
