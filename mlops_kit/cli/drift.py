"""`mlops drift run|report`: start the drift job now, and turn a drift run into an HTML report and a summary.

Both commands find the deployed monitoring stack through its outputs (``Platform.connect``), with the AWS
credentials and region of the environment; ``AWS_ENDPOINT_URL`` points them at the local emulator
(`mlops local serve`). ``mlops drift report --current`` compares a file with a baseline and needs no stack.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, table

if TYPE_CHECKING:
    from mlops_kit.cli.platform import Platform
    from mlops_kit.drift.baseline import Baseline
    from mlops_kit.drift.report import DriftReport
    from mlops_kit.monitoring.settings import DriftSettings

app = typer.Typer(
    help="Drift monitoring: run the scheduled drift job now, report a run as HTML and a terminal summary.",
    no_args_is_help=True,
)

ProjectOption = Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")]
HoursOption = Annotated[
    int | None,
    typer.Option(min=1, max=24 * 366, help="Window: the last N hours (default: the schedule's drift.window_hours)."),
]
_SEVERITY_STYLE = {
    "act": "bold red",
    "investigate": "yellow",
    "stable": "green",
    "insufficient_data": "dim",
    "no_data": "dim",
}
# What to do when the start function (or the planning of a report) finds nothing to run, by its reason.
_HINTS = {
    "no Production model version": "promote a model first (the training pipeline, then `mlops approve`)",
    "no capture files in the window": "send traffic (`mlops invoke`), let the endpoint write its capture (a few "
    "minutes on AWS), or widen the window with --hours",
    "version ": "widen the window with --hours",
}


def _hint(reason: str) -> str:
    return next((f"{reason}; {hint}" for prefix, hint in _HINTS.items() if reason.startswith(prefix)), reason)


# -- reports in the terminal and as HTML ---------------------------------------------------------------------
def select_features(report: DriftReport, names: list[str] | None) -> DriftReport:
    """``report`` with only the named features (``prediction`` names the model's score); all when ``names`` is
    empty. Fails (exit 1) naming an unknown feature and listing the known ones."""
    import dataclasses

    if not names:
        return report
    known = [f.name for f in report.all_columns]
    unknown = [n for n in names if n not in known]
    if unknown:
        fail(f"unknown feature {unknown[0]!r}: the report has {', '.join(known)}")
    wanted = set(names)
    return dataclasses.replace(
        report,
        features=tuple(f for f in report.features if f.name in wanted),
        prediction=report.prediction if report.prediction is not None and report.prediction.name in wanted else None,
        violations=tuple(v for v in report.violations if v.feature_name in wanted),
    )


def print_summary(report: DriftReport, title: str) -> None:
    """The terminal summary: one row per feature and the prediction, most severe first."""
    from mlops_kit.drift.html_report import SUMMARY_HEADER, by_severity, summary_row

    rows = []
    for feature in by_severity(report):
        row = list(summary_row(feature))
        style = _SEVERITY_STYLE[row[2]]
        row[2] = f"[{style}]{row[2]}[/]"
        rows.append(row)
    console.print(table(title, list(SUMMARY_HEADER), rows))
    limits = report.thresholds
    bands = (
        f"PSI bands: stable < {limits.investigate}, investigate up to {limits.act}, act above; insufficient_data "
        f"below {limits.min_window_rows:,} window or {limits.min_baseline_rows:,} baseline rows"
    )
    drifted = ", ".join(report.drifted) or "none"
    style = _SEVERITY_STYLE[report.severity.value]
    console.print(
        f"{report.current_rows:,} rows against a baseline of {report.reference_rows:,}; severity "
        f"[{style}]{report.severity.value}[/]; in the act band: {drifted}. [dim]{bands}.[/]"
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")


def write_report(report: DriftReport, output: Path, title: str) -> None:
    from mlops_kit.drift.html_report import write_html

    try:
        path = write_html(report, output, title=title)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}; choose another --output")
    console.print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, self-contained HTML)")


# -- inputs --------------------------------------------------------------------------------------------------
def _load_baseline(spec: str) -> Baseline:
    """A baseline from a local file or an ``s3://`` URI; fails naming it when it is missing or not a baseline."""
    from mlops_kit.drift.baseline import Baseline, BaselineError

    if spec.startswith("s3://"):
        import boto3

        from mlops_kit.monitoring.job import DriftInputError, load_baseline

        try:
            return load_baseline(boto3.client("s3"), spec)
        except DriftInputError as exc:
            fail(f"{exc}; pass the baseline.json the training pipeline wrote (its evaluate step's output)")
    path = Path(spec)
    if not path.is_file():
        fail(
            f"baseline {spec} does not exist; pass the baseline.json the training pipeline wrote (a local copy or "
            "its s3:// URI)"
        )
    try:
        return Baseline.from_json(path.read_bytes())
    except BaselineError as exc:
        fail(f"{spec} is not a drift baseline: {exc}")


def _read_current(path: Path) -> Any:
    from mlops_kit.cli.features import read_frame

    frame = read_frame(path)
    if len(frame) == 0:
        fail(f"{path} has no rows: nothing to compare with the baseline")
    return frame


def _deployed_settings(platform: Platform) -> DriftSettings:
    """The drift settings the schedule runs with (the start function's environment, as deployed)."""
    from mlops_kit.environment import SettingsError, read_settings
    from mlops_kit.monitoring.settings import DriftSettings

    function = platform.output("DriftStartFunctionName")
    configuration = platform.client("lambda").get_function_configuration(FunctionName=function)
    try:
        return read_settings(DriftSettings, configuration.get("Environment", {}).get("Variables", {}))
    except SettingsError as exc:
        fail(f"the drift start function {function}: {exc}; redeploy the monitoring stack")


def _latest_job(s3: Any, reports_uri: str) -> str | None:
    """The newest drift job with a report under ``reports_uri`` (by the window end in its name)."""
    from mlops_kit.monitoring.capture import split_uri
    from mlops_kit.monitoring.naming import job_window_end

    bucket, prefix = split_uri(reports_uri)
    jobs = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/", Delimiter="/"):
        jobs += [p["Prefix"][len(prefix) + 1 :].strip("/") for p in page.get("CommonPrefixes", [])]
    dated = [(end, job) for job in jobs if (end := job_window_end(job)) is not None]
    return max(dated)[1] if dated else None


def _stored_report(platform: Platform, job: str | None) -> tuple[DriftReport, str]:
    from mlops_kit.monitoring.capture import split_uri
    from mlops_kit.monitoring.job import report_from_json

    s3 = platform.client("s3")
    reports = platform.output("DriftReportsUri")
    endpoint = platform.output("EndpointName")
    if job is None:
        job = _latest_job(s3, reports)
        if job is None:
            fail(
                f"no drift runs of endpoint {endpoint} yet (nothing under {reports}/); start one with `mlops drift run`"
            )
    bucket, prefix = split_uri(reports)
    key = f"{prefix}/{job}/drift_report.json"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        latest = _latest_job(s3, reports)
        newest = f"the newest run is {latest}" if latest else "there are no runs yet (`mlops drift run` starts one)"
        fail(f"no drift report of job {job} at s3://{bucket}/{key}; {newest}")
    try:
        return report_from_json(body), f"Drift report: {endpoint}, job {job}"
    except ValueError as exc:
        fail(f"s3://{bucket}/{key} is not a drift report: {exc}")


def _window_report(platform: Platform, hours: int | None, baseline: str | None) -> tuple[DriftReport, str]:
    """Run the drift comparison of the last ``hours`` here, with the settings, baseline and window the schedule
    would use (:func:`mlops_kit.monitoring.job.run_drift`, as the job does)."""
    from mlops_kit.drift.stats import Thresholds
    from mlops_kit.monitoring.job import DriftInputError, DriftInputs, run_drift
    from mlops_kit.monitoring.start import DriftConfigurationError, StartAws, plan_run

    settings = _deployed_settings(platform)
    aws = StartAws(
        sagemaker=platform.client("sagemaker"), s3=platform.client("s3"), dynamodb=platform.client("dynamodb")
    )
    try:
        plan = plan_run(aws, settings, now=dt.datetime.now(dt.UTC), window_hours=hours, baseline_uri=baseline)
    except DriftConfigurationError as exc:
        fail(f"{exc}; or pass --baseline with the s3:// URI of a baseline.json")
    if not plan.ready or plan.start is None or plan.end is None:
        fail(f"{_hint(plan.result.reason)} (endpoint {settings.endpoint_name})")
    inputs = DriftInputs(
        endpoint=settings.endpoint_name,
        capture_uri=settings.capture_uri,
        baseline_uri=str(plan.result.baseline_uri),
        start=plan.start,
        end=plan.end,
        use_case=settings.use_case,
        model_version=str(plan.result.model_version),
        offline_uri=settings.offline_uri,
        thresholds=Thresholds(
            investigate=settings.psi_investigate,
            act=settings.psi_act,
            min_window_rows=settings.min_window_rows,
            min_baseline_rows=settings.min_baseline_rows,
        ),
        baseline_mode=settings.baseline_mode,
        rolling_days=settings.rolling_days,
    )
    with console.status(f"comparing {plan.result.capture_files} capture files with the baseline"):
        try:
            run = run_drift(inputs, aws.s3)
        except DriftInputError as exc:
            fix = "check the --baseline URI" if baseline else "pass --baseline with the s3:// URI of a baseline.json"
            fail(f"{exc}; {fix}")
    if run.report.current_rows == 0:
        why = "; ".join(run.notes) or "no rows"
        fail(
            f"the capture of {plan.start:%Y-%m-%d %H:%M} to {plan.end:%H:%M} UTC holds no request scored by "
            f"Production version {plan.result.model_version} ({why}); send traffic or widen the window with --hours"
        )
    window = f"{plan.start.isoformat(timespec='seconds')} to {plan.end.isoformat(timespec='seconds')}"
    title = f"Drift report: {settings.endpoint_name}, {window}"
    return run.report, title


# -- commands ------------------------------------------------------------------------------------------------
@app.command()
def report(
    job: Annotated[
        str | None, typer.Option(help="A stored run by its processing job name (default: the newest).")
    ] = None,
    hours: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=24 * 366,
            help="Compute the report now over the last N hours of capture, as the scheduled job would, instead of "
            "reading a stored run.",
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option(
            help="Compare this file (.csv, .parquet, .jsonl: model inputs and a 'prediction' column) with "
            "--baseline; no deployed stack needed."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Baseline JSON: a local file or s3:// URI with --current; an s3:// URI instead of the Production "
            "version's with --hours."
        ),
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", "-f", help="Only this feature (repeatable; 'prediction' too).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML report.")] = Path(
        "drift-report.html"
    ),
    project: ProjectOption = None,
) -> None:
    """Write a drift run's self-contained HTML report and print its summary, most severe features first.

    Which run: the endpoint's newest stored run (or --job), one computed now (--hours), or a local file (--current).
    """
    from mlops_kit.cli.platform import Platform

    if sum(x is not None for x in (job, hours, current)) > 1:
        fail("choose one of --job (a stored run), --hours (compute now) or --current (a local file)")
    if current is not None:
        from mlops_kit.drift.report import drift_report

        if baseline is None:
            fail("--current needs --baseline: the baseline.json to compare it with")
        frame = _read_current(current)
        loaded = _load_baseline(baseline)
        result = drift_report(loaded, frame)
        title = f"Drift report: {current.name} against {Path(baseline).name}"
    elif hours is not None:
        if baseline is not None and not baseline.startswith("s3://"):
            fail(f"--baseline with --hours must be an s3:// URI (the job reads it from S3), got {baseline}")
        result, title = _window_report(Platform.connect(project), hours, baseline)
    else:
        if baseline is not None:
            fail("--baseline applies to --hours or --current; a stored run keeps the baseline it was compared with")
        result, title = _stored_report(Platform.connect(project), job)
    result = select_features(result, feature)
    print_summary(result, title)
    write_report(result, output, title)


def scheduler_input(text: str, *, schedule_arn: str, now: dt.datetime) -> dict[str, Any]:
    """A schedule target's input with Scheduler's context attributes filled in as for a run at ``now``.

    The scheduled time has whole seconds; it is rounded up, so the window ends after every request made so far.
    """
    now = now.astimezone(dt.UTC)
    scheduled = now.replace(microsecond=0) + (dt.timedelta(seconds=1) if now.microsecond else dt.timedelta(0))
    for attribute, value in (
        ("scheduled-time", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("execution-id", str(uuid.uuid4())),
        ("attempt-number", "0"),
        ("schedule-arn", schedule_arn),
    ):
        text = text.replace(f"<aws.scheduler.{attribute}>", value)
    payload: dict[str, Any] = json.loads(text) if text else {}
    return payload


def _invoke_start(platform: Platform, hours: int | None) -> dict[str, Any]:
    """Invoke the start function as the schedule does (its target and input), or for the last ``hours``."""
    if hours is None:
        schedule = platform.client("scheduler").get_schedule(
            Name=platform.output("DriftScheduleName"), GroupName=platform.output("DriftScheduleGroup")
        )
        function = schedule["Target"]["Arn"]
        payload = scheduler_input(
            schedule["Target"].get("Input", ""), schedule_arn=schedule["Arn"], now=dt.datetime.now(dt.UTC)
        )
    else:
        function, payload = platform.output("DriftStartFunctionName"), {"source": "cli", "window_hours": hours}
    body, failed = platform.invoke(function, payload)
    if failed:
        message = body.get("errorMessage", "no message")
        fail(f"the drift start function failed: {body.get('errorType', 'Error')}: {message}")
    return body


@app.command()
def run(
    hours: HoursOption = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job and print its summary.")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the job.")] = 3600,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the run's HTML report here.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Run the drift job now: the schedule's start function, its processing job, then PSI metrics and alarms.

    Without --hours the start function gets what the schedule sends (the window ends now).

    Works on AWS and on the local emulator (`mlops local serve`, with AWS_ENDPOINT_URL set).
    """
    from mlops_kit.cli.platform import Platform
    from mlops_kit.monitoring.capture import split_uri
    from mlops_kit.monitoring.job import report_from_json
    from mlops_kit.monitoring.publish import report_location

    platform = Platform.connect(project)
    result = _invoke_start(platform, hours)
    name = result.get("job_name")
    if not result.get("started") and not (name and "already started" in result.get("reason", "")):
        fail(f"no drift job started: {_hint(result.get('reason', 'no reason given'))}")
    console.print(
        f"drift job [bold]{name}[/]: Production version {result['model_version']}, window "
        f"{result['window_start']} to {result['window_end']}, {result['capture_files']} capture files "
        f"({result['capture_bytes'] / 1024:.0f} KiB)"
    )
    if not wait:
        return
    described = platform.wait_for_processing_job(
        str(name), kind="drift job", follow="follow it with `mlops drift report`", every=0.5, timeout=timeout
    )
    if described["ProcessingJobStatus"] != "Completed":
        fail(f"drift job {name} {described['ProcessingJobStatus'].lower()}: {described.get('FailureReason', '')}")
    location = report_location(described)
    bucket, key = split_uri(location)
    drift = report_from_json(platform.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    title = f"Drift report: {platform.output('EndpointName')}, job {name}"
    print_summary(drift, title)
    console.print(
        f"report files: {location.rsplit('/', 1)[0]}/ (report.html, Model Monitor's statistics and violations); "
        "the publish function puts PSI per feature into CloudWatch, where the drift alarms watch it"
    )
    if output is not None:
        write_report(drift, output, title)
