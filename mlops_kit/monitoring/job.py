"""One drift run: capture of a window -> rebuilt model inputs -> report against the baseline -> files.

The scheduled SageMaker Processing job (``sagemaker_jobs/drift.py``) calls :func:`run_drift` and
:func:`write_outputs`; ``mlops drift report --hours`` calls :func:`run_drift` too, so a person sees exactly what
the schedule computes.

Baselines (``drift.baseline``): ``training`` compares with the baseline registered with the model version
(held-out data and the model's scores on it). ``last_year`` and ``rolling`` compute a baseline from captured
traffic of the same window one year earlier, or of the ``rolling_days`` before the window
(:mod:`mlops_kit.drift.seasonality`), against alert fatigue on seasonal traffic; when that window holds no
traffic (the first year, a new endpoint), the run falls back to the training baseline and says so.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from mlops_kit.drift.baseline import Baseline, BaselineError
from mlops_kit.drift.report import EVENT_ID_COLUMN, TIMESTAMP_COLUMN, DriftReport, drift_report
from mlops_kit.drift.stats import Thresholds
from mlops_kit.monitoring.capture import list_capture, read_lines, split_uri, utc
from mlops_kit.monitoring.naming import PREDICTION
from mlops_kit.monitoring.served import MODEL_VERSION_COLUMN, VARIANT_COLUMN, ServedData, collect

BaselineMode = Literal["training", "last_year", "rolling"]
IGNORED_COLUMNS = (TIMESTAMP_COLUMN, EVENT_ID_COLUMN, MODEL_VERSION_COLUMN, VARIANT_COLUMN)
RUN_FILE = "run.json"
HTML_FILE = "report.html"


class DriftInputError(ValueError):
    """The run cannot start: the baseline is missing or unreadable, or an argument is wrong (named)."""


@dataclass(frozen=True)
class DriftInputs:
    """Everything one run needs; the schedule's Lambda and the CLI fill it in.

    ``capture_uri`` is the endpoint's capture destination (``s3://<artifacts>/capture``; its files are under
    ``<endpoint>/<variant>/yyyy/mm/dd/hh/``);
    ``offline_uri`` the offline feature store (``s3://<data>/features``), needed to rebuild online features;
    ``model_version``, when set, keeps only rows that version served.
    """

    endpoint: str
    capture_uri: str
    baseline_uri: str
    start: dt.datetime
    end: dt.datetime
    use_case: str = "mlops_kit.features.fraud"
    model_version: str | None = None
    offline_uri: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    baseline_mode: BaselineMode = "training"
    rolling_days: int = 28

    def __post_init__(self) -> None:
        try:
            start, end = utc(self.start), utc(self.end)
        except ValueError as exc:
            raise DriftInputError(str(exc)) from None
        if start >= end:
            raise DriftInputError(f"window start {start.isoformat()} must be before its end {end.isoformat()}")
        if self.baseline_mode not in ("training", "last_year", "rolling"):
            raise DriftInputError(f"baseline mode must be training, last_year or rolling (got {self.baseline_mode!r})")
        if self.rolling_days < 1:
            raise DriftInputError(f"rolling_days must be at least 1 (got {self.rolling_days})")
        for name in ("capture_uri", "baseline_uri", *(["offline_uri"] if self.offline_uri else [])):
            try:
                split_uri(getattr(self, name))
            except ValueError as exc:
                raise DriftInputError(f"{name}: {exc}") from None

    def describe(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "capture_uri": self.capture_uri,
            "baseline_uri": self.baseline_uri,
            "window": {"start": utc(self.start).isoformat(), "end": utc(self.end).isoformat()},
            "use_case": self.use_case,
            "model_version": self.model_version,
            "offline_uri": self.offline_uri,
            "thresholds": self.thresholds.to_dict(),
            "baseline_mode": self.baseline_mode,
            "rolling_days": self.rolling_days,
        }


@dataclass
class DriftRun:
    """A finished run: the report, the baseline it used, and how the current data was gathered."""

    inputs: DriftInputs
    report: DriftReport
    baseline: Baseline
    baseline_source: str
    served: ServedData
    capture_files: int
    capture_bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def current(self) -> pd.DataFrame:
        return self.served.frame

    def summary(self) -> dict[str, Any]:
        """``run.json``: the inputs, what was read and left out, and the headline results."""
        psi = {f.name: f.psi for f in self.report.all_columns}
        return {
            "inputs": self.inputs.describe(),
            "baseline_source": self.baseline_source,
            "capture": {"files": self.capture_files, "bytes": self.capture_bytes, **self.served.summary()},
            "current_rows": self.report.current_rows,
            "severity": self.report.severity.value,
            "drifted": list(self.report.drifted),
            "psi": psi,
            "violations": len(self.report.violations),
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def load_baseline(s3: Any, uri: str) -> Baseline:
    """The baseline JSON at ``uri``; raises DriftInputError naming the URI when it is absent or invalid."""
    bucket, key = split_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise DriftInputError(f"the drift baseline {uri} cannot be read ({code})") from None
    try:
        return Baseline.from_json(body)
    except BaselineError as exc:
        raise DriftInputError(f"the drift baseline {uri} is not a baseline: {exc}") from None


def _offline_store(s3: Any, use_case: Any, uri: str | None) -> Any:
    if uri is None:
        return None
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import S3ObjectStore

    bucket, prefix = split_uri(uri)
    return OfflineStore(use_case.REGISTRY, S3ObjectStore(s3, bucket, prefix))


def served_window(
    inputs: DriftInputs,
    s3: Any,
    use_case: Any,
    start: dt.datetime,
    end: dt.datetime,
    *,
    model_version: str | None,
) -> tuple[ServedData, int, int]:
    """Rebuilt model inputs of ``[start, end)``, with the number and total size of the capture files read."""
    listing = list_capture(s3, inputs.capture_uri, inputs.endpoint, start, end)
    lines = ((item.variant, line) for item, line in read_lines(s3, listing))
    data = collect(
        lines,
        use_case=use_case,
        start=utc(start),
        end=utc(end),
        model_version=model_version,
        offline=_offline_store(s3, use_case, inputs.offline_uri),
    )
    return data, listing.count, listing.total_bytes


def _seasonal_baseline(
    inputs: DriftInputs, s3: Any, use_case: Any, training: Baseline
) -> tuple[Baseline, str, list[str]]:
    from mlops_kit.drift.seasonality import EmptyWindowError, WindowKind, baseline_from_window, baseline_window

    kind: WindowKind = "same_period_last_year" if inputs.baseline_mode == "last_year" else "rolling"
    window = baseline_window(
        kind, start=inputs.start, end=inputs.end, rolling_length=dt.timedelta(days=inputs.rolling_days)
    )
    start, end = window.start.to_pydatetime(), window.end.to_pydatetime()
    # A seasonal baseline is what was served then, whichever model version served it.
    served, _, _ = served_window(inputs, s3, use_case, start, end, model_version=None)
    source = f"{inputs.baseline_mode} ({start.isoformat()} to {end.isoformat()})"
    try:
        baseline = baseline_from_window(
            served.frame,
            window,
            features=list(use_case.MODEL_FEATURES),
            prediction=PREDICTION,
            sample_size=training.sample_size,
            seed=training.seed,
            metadata={"source": f"captured traffic, {source}"},
        )
    except EmptyWindowError:
        note = f"no captured traffic in the {source} window: compared with the training baseline instead"
        return training, "training (fallback)", [note]
    return baseline, source, []


def run_drift(inputs: DriftInputs, s3: Any) -> DriftRun:
    """Run the drift comparison for ``inputs`` with the boto3 S3 client ``s3``.

    An empty window is a defined result (a report with no current rows and severity ``no_data``), not an
    error. Raises DriftInputError when the baseline cannot be read, and whatever the use case's import raises.
    """
    from mlops_kit.pipeline.usecase import load_use_case

    started = time.monotonic()
    use_case = load_use_case(inputs.use_case)
    training = load_baseline(s3, inputs.baseline_uri)
    served, files, size = served_window(
        inputs, s3, use_case, inputs.start, inputs.end, model_version=inputs.model_version
    )
    notes: list[str] = []
    baseline, source = training, "training"
    if inputs.baseline_mode != "training":
        baseline, source, notes = _seasonal_baseline(inputs, s3, use_case, training)
    if files == 0:
        notes.append("no capture files in the window")
    elif len(served.frame) == 0:
        notes.append("capture files were read but no scored request of the monitored model is in the window")
    if served.other_versions:
        left_out = ", ".join(f"version {v}: {n}" for v, n in sorted(served.other_versions.items()))
        notes.append(f"rows served by other model versions were left out ({left_out})")
    report = drift_report(baseline, served.frame, thresholds=inputs.thresholds, ignore_columns=IGNORED_COLUMNS)
    return DriftRun(
        inputs=inputs,
        report=report,
        baseline=baseline,
        baseline_source=source,
        served=served,
        capture_files=files,
        capture_bytes=size,
        seconds=time.monotonic() - started,
        notes=notes,
    )


def write_outputs(run: DriftRun, directory: str | Path) -> dict[str, Path]:
    """Write the run's files into ``directory``: ``statistics.json``, ``constraints.json``,
    ``constraint_violations.json`` (Model Monitor's formats), ``drift_report.json`` (the kit's), ``report.html``
    (for people) and ``run.json`` (inputs and what was read). Returns the paths by file name."""
    from mlops_kit.drift.html_report import write_html
    from mlops_kit.drift.monitor_format import dump_json, write_run_files

    target = Path(directory)
    written = write_run_files(target, run.report, run.baseline, current=run.current)
    window = run.inputs.describe()["window"]
    title = f"Drift report: {run.inputs.endpoint}, {window['start']} to {window['end']}"
    written[HTML_FILE] = write_html(run.report, target / HTML_FILE, title=title)
    written[RUN_FILE] = target / RUN_FILE
    written[RUN_FILE].write_text(dump_json(run.summary()))
    return written


def parse_time(value: str, name: str) -> dt.datetime:
    """An ISO 8601 time with a zone (``Z`` accepted); raises DriftInputError naming ``name`` otherwise."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DriftInputError(f"{name} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise DriftInputError(f"{name} {value!r} has no time zone (use e.g. 2026-01-01T00:00:00Z)")
    return moment.astimezone(dt.UTC)


def report_from_json(text: str | bytes) -> DriftReport:
    """A stored ``drift_report.json`` as a :class:`DriftReport` (to render or summarise it again)."""
    return DriftReport.from_dict(json.loads(text))
