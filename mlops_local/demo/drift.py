"""Demo stage: drift monitoring on the deployed stack -- normal traffic, then drifted traffic; the scheduled drift
job, its PSI table, the drift alarms and the retraining run they start (and the guard that stops a second one).

The story: the feature pipeline refreshes the customers' 7-day activity, the endpoint serves normal traffic and
the drift schedule fires. Then behaviour shifts -- customers transact more often and spend more
(``fraud.generate(drift=1)``: ``txn_count_7d`` up in the feature store, ``amount`` up in the requests) -- and the
schedule fires again. Each run covers the schedule's window (``drift.window_hours``, from when the Production
version took all traffic), so the second holds both kinds of traffic. Alarms going to ALARM reach the retrain
function: the first starts the training pipeline, the others find it in flight (or in its cooldown).
Everything runs through the deployed schedule, Lambda functions, processing job, metrics and alarms; the tables
show what they returned. Requests served earlier in the demo are in the first run's window too: if they were
served without some feature (an online value past its TTL), the first run reports that as drift of its
missing-value bin, and its alarms start the retraining run instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import pandas as pd

from mlops_kit.cli.console import step, table
from mlops_kit.features import fraud
from mlops_kit.features.store import deployed, deployed_names
from mlops_kit.monitoring import naming
from mlops_local.demo import traffic
from mlops_local.demo.context import DemoContext
from mlops_local.demo.features import N_CUSTOMERS, SEED
from mlops_local.demo.serving import client

NORMAL_REQUESTS = 200
DRIFTED_REQUESTS = 600
HISTORY_DAYS = 90
_COLOUR = {"act": "red", "investigate": "yellow", "stable": "green", "no_data": "dim"}


def _latest_activity(end: dt.datetime, drift: float) -> pd.DataFrame:
    """Each customer's newest 7-day activity snapshot of a ``HISTORY_DAYS`` history ending at ``end``.

    The same seed as the feature store's customers: the same people, the same habits (unless ``drift``).
    """
    start = end - dt.timedelta(days=HISTORY_DAYS)
    data = fraud.generate(N_CUSTOMERS, 1, seed=SEED, start=start, days=HISTORY_DAYS, drift=drift)
    activity = data.activity
    return activity.loc[activity.groupby("customer_id")["event_timestamp"].idxmax()].reset_index(drop=True)


def _requests(n: int, end: dt.datetime, drift: float) -> list[dict[str, Any]]:
    start = end - dt.timedelta(days=HISTORY_DAYS)
    data = fraud.generate(N_CUSTOMERS, n, seed=SEED, start=start, days=HISTORY_DAYS, drift=drift)
    return [
        {
            "customer_id": row.customer_id,
            "transaction": {
                "amount": float(row.amount),
                "merchant_category": str(row.merchant_category),
                "event_timestamp": row.event_timestamp.isoformat(),
            },
        }
        for row in data.transactions.itertuples()
    ]


def _refresh_features(context: DemoContext, snapshot: pd.DataFrame) -> int:
    aws = context.emulator
    names = deployed_names({k: v for s in context.stacks for k, v in s.outputs.items()})
    store = deployed(fraud.REGISTRY, aws.session(), names, endpoint_url=aws.endpoint_url)
    report = store.ingest(fraud.CUSTOMER_ACTIVITY.name, snapshot)
    return int(report.summary()["online_written"])


def _columns(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in [*report["features"], *([report["prediction"]] if report["prediction"] else [])]}


def _run_job(context: DemoContext, label: str) -> dict[str, Any]:
    """Fire the schedule, wait for the job and its metrics; the stored report and the timings."""
    aws = context.emulator
    started = time.monotonic()
    aws.sagemaker.flush_capture()  # SageMaker writes capture every few minutes; the emulator now
    record = aws.fire_schedule(context.output("DriftScheduleName"), context.output("DriftScheduleGroup"))
    result = json.loads(record.result)
    if record.errored or not result.get("started"):
        raise RuntimeError(f"the drift job did not start: {result}")
    name = result["job_name"]
    sagemaker = aws.client("sagemaker")

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sagemaker.describe_processing_job(ProcessingJobName=name)
        return described if described["ProcessingJobStatus"] not in ("InProgress", "Stopping") else None

    described = aws.wait_until(ended, description=f"drift job {name}")
    if described["ProcessingJobStatus"] != "Completed":
        raise RuntimeError(f"the drift job {name} {described['ProcessingJobStatus']}: {described.get('FailureReason')}")
    job_seconds = (described["ProcessingEndTime"] - described["ProcessingStartTime"]).total_seconds()
    aws.settle()  # the publish function runs on the job's state change
    output = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    s3 = aws.client("s3")
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/drift_report.json")["Body"].read())
    run = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/run.json")["Body"].read())
    context.console.print(
        f"  {label}: job {name} [dim](Production version {result['model_version']}, window "
        f"{result['window_start'][11:19]}–{result['window_end'][11:19]} UTC, {result['capture_files']} capture "
        f"files)[/] -> {report['current_rows']} rows, severity [{_COLOUR[report['severity']]}]{report['severity']}[/] "
        f"[dim](job {job_seconds:.1f} s, schedule to metrics {time.monotonic() - started:.1f} s)[/]"
    )
    return {
        "job": name,
        "report_uri": f"{output}/",
        "report": report,
        "run": run,
        "job_seconds": round(job_seconds, 2),
        "seconds": round(time.monotonic() - started, 2),
    }


def _psi_table(context: DemoContext, first: dict[str, Any], second: dict[str, Any]) -> None:
    before, after = _columns(first["report"]), _columns(second["report"])

    def cell(column: dict[str, Any] | None) -> str:
        if column is None:
            return "-"
        psi = "-" if column["psi"] is None else f"{column['psi']:.3f}"
        missing = (
            f" [dim]{column['current']['missing_fraction']:.0%} missing[/]"
            if column["current"]["missing_fraction"] >= 0.01
            else ""
        )
        return f"[{_COLOUR[column['severity']]}]{psi} {column['severity']}[/]{missing}"

    order = sorted(after, key=lambda n: (-(after[n]["psi"] or 0.0), n))
    shifted = set(fraud.DRIFTED_FEATURES)
    context.console.print(
        table(
            f"PSI per model input and the prediction (stable < {first['report']['thresholds']['investigate']}, "
            f"act > {first['report']['thresholds']['act']})",
            ["column", "first run", "after the shift", "note"],
            [
                [
                    name,
                    cell(before.get(name)),
                    cell(after[name]),
                    "shifted" if name in shifted else ("the model's score" if name == naming.PREDICTION else ""),
                ]
                for name in order
            ],
        )
    )
    # Values missing at serving time are a distribution change too (PSI has a missing-value bin): say so.
    missing = {
        name: column["current"]["missing_fraction"]
        for name, column in before.items()
        if column["current"]["missing_fraction"] - column["reference"]["missing_fraction"] > 0.05
    }
    if missing:
        context.console.print(
            f"[dim]note: {', '.join(sorted(missing))} had no value in up to {max(missing.values()):.0%} of the first "
            "run's rows (requests served without it): the missing-value bin counts in PSI[/]"
        )


def _alarms(context: DemoContext) -> dict[str, str]:
    prefix = naming.drift_alarm(context.output("EndpointName"), "")
    listed = context.emulator.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    return {a["AlarmName"].removeprefix(prefix): a["StateValue"] for a in listed}


def _retrain_decisions(context: DemoContext, since: int) -> list[dict[str, Any]]:
    """What the retrain function decided for each alarm state change delivered after delivery number ``since``."""
    return [
        json.loads(record.result)
        for record in context.emulator.events.delivered[since:]
        if "DriftRetrain" in record.target_arn and not record.errored
    ]


def _alarm_step(
    context: DemoContext, label: str, before: dict[str, str], since: int, timeout: float = 3600
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Alarm states after a run, and the retrain function's decisions for the alarms that went to ALARM with it
    (waited for: the alarms evaluate on the emulator's clock, their state changes travel through EventBridge)."""
    aws = context.emulator
    endpoint = context.output("EndpointName")
    seen: dict[str, Any] = {}

    def decided_all() -> bool:
        states = _alarms(context)
        decisions = _retrain_decisions(context, since)
        raised = {n for n, s in states.items() if s == "ALARM" and before.get(n) != "ALARM"}
        seen.update(states=states, decisions=decisions, raised=raised)
        decided = {d["alarm"].removeprefix(naming.drift_alarm(endpoint, "")) for d in decisions}
        return raised <= decided

    # Alarms evaluate on the minute, their state changes travel through EventBridge to the retrain function.
    aws.advance(60)
    aws.wait_until(decided_all, timeout=timeout, description="the retrain function's decisions on the alarms")
    states, decisions, raised = seen["states"], seen["decisions"], seen["raised"]
    by_alarm = {d["alarm"]: d for d in decisions}

    def outcome(name: str) -> str:
        decision = by_alarm.get(naming.drift_alarm(endpoint, name))
        if decision is None:
            return "[dim]already in ALARM: no state change, nothing delivered[/]" if name not in raised else "-"
        if decision["started"]:
            return f"[green]started[/] {decision['execution_arn'].rsplit('/', 1)[-1]}"
        return re.sub(r"arn:aws:sagemaker:\S+/execution/([a-z0-9]+)", r"\1", str(decision["reason"]))[:120]

    rows = [
        [naming.drift_alarm(endpoint, name), f"[red]{before.get(name, 'INSUFFICIENT_DATA')} -> ALARM[/]"
         if name in raised else "[red]ALARM[/]", outcome(name)]
        for name in sorted(n for n, s in states.items() if s == "ALARM")
    ]  # fmt: skip
    quiet = sum(s != "ALARM" for s in states.values())
    if rows:
        context.console.print(
            table(f"{label}: drift alarms in ALARM ({quiet} OK) -> retraining", ["alarm", "state", "retrain"], rows)
        )
    else:
        context.console.print(f"{label}: all {quiet} drift alarms OK; nothing to retrain")
    return states, decisions


def run(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    began = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    with step("The feature pipeline refreshes every customer's 7-day activity (online and offline stores)"):
        refreshed = _refresh_features(context, _latest_activity(now - dt.timedelta(hours=2), 0.0))
    endpoint = client(context)
    with step(f"Serving {NORMAL_REQUESTS} requests of normal traffic"):
        # Half an hour of traffic, as the endpoint would see it.
        normal_stats = traffic.send(endpoint, _requests(NORMAL_REQUESTS, now, 0.0), clock=aws.clock, every=9)
    since = len(aws.events.delivered)
    first = _run_job(context, "drift schedule fires")
    first_states, first_decisions = _alarm_step(context, "First run", {}, since)

    with step(
        f"Behaviour shifts: customers transact more often (txn_count_7d, feature store) and spend more (amount); "
        f"{DRIFTED_REQUESTS} requests"
    ):
        _refresh_features(context, _latest_activity(now - dt.timedelta(hours=1), 1.0))
        drifted_stats = traffic.send(endpoint, _requests(DRIFTED_REQUESTS, now, 1.0), clock=aws.clock, every=3)
    since = len(aws.events.delivered)
    second = _run_job(context, "drift schedule fires again")
    _psi_table(context, first, second)
    states, decisions = _alarm_step(context, "After the shift", first_states, since)

    every = [*first_decisions, *decisions]
    started = [d for d in every if d["started"]]
    suppressed = [d for d in every if not d["started"]]
    execution: dict[str, Any] = {}
    if started:
        described = aws.client("sagemaker").describe_pipeline_execution(
            PipelineExecutionArn=started[0]["execution_arn"]
        )
        execution = {
            "arn": started[0]["execution_arn"],
            "display_name": described.get("PipelineExecutionDisplayName"),
            "status": described["PipelineExecutionStatus"],
        }
        context.console.print(
            f"retraining run [bold]{execution['display_name']}[/] ({execution['arn'].rsplit('/', 1)[-1]}) is "
            f"{execution['status']}; {len(suppressed)} other alarm(s) started nothing (in flight or cooldown)"
        )
    context.console.print(
        f"[dim]HTML report of the second run: {second['report_uri']}report.html; against `mlops local serve`, "
        "`mlops drift report` writes it locally[/]"
    )
    return {
        "features_refreshed": refreshed,
        "traffic": {
            "normal": {"sent": normal_stats.sent, "errors": normal_stats.errors},
            "drifted": {"sent": drifted_stats.sent, "errors": drifted_stats.errors},
        },
        "first_run": _run_summary(first, first_states),
        "after_shift": _run_summary(second, states),
        "alarms_in_alarm": sorted(n for n, s in states.items() if s == "ALARM"),
        "retraining": {
            "started": execution,
            "decisions": [{k: d.get(k) for k in ("alarm", "started", "reason")} for d in every],
        },
        "seconds": round(time.monotonic() - began, 1),
    }


def _run_summary(run: dict[str, Any], states: dict[str, str]) -> dict[str, Any]:
    report = run["report"]
    return {
        "job": run["job"],
        "report_uri": run["report_uri"],
        "rows": report["current_rows"],
        "severity": report["severity"],
        "drifted": report["drifted"],
        "psi": {name: column["psi"] for name, column in _columns(report).items()},
        "job_seconds": run["job_seconds"],
        "schedule_to_metrics_seconds": run["seconds"],
        "alarms": dict(sorted(states.items())),
    }
