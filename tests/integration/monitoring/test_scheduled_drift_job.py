"""The scheduled drift job on the emulator: schedule -> start Lambda -> processing job -> reports, metrics, alarms
-> retraining; and what happens when something is missing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mlops_kit.monitoring import naming
from tests.integration.monitoring.conftest import Platform

REPORT_FILES = {
    "statistics.json",
    "constraints.json",
    "constraint_violations.json",
    "drift_report.json",
    "report.html",
    "run.json",
}


def fire(platform: Platform) -> dict[str, Any]:
    record = platform.emulator.fire_schedule(naming.schedule_name(platform.endpoint), "default")
    result: dict[str, Any] = json.loads(record.result)
    if record.errored:
        raise AssertionError(f"the start function failed: {result}")
    return result


def wait_for_job(platform: Platform, name: str) -> dict[str, Any]:
    sagemaker = platform.emulator.client("sagemaker")

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sagemaker.describe_processing_job(ProcessingJobName=name)
        return described if described["ProcessingJobStatus"] not in ("InProgress", "Stopping") else None

    described: dict[str, Any] = platform.emulator.wait_until(ended, description=f"drift job {name}")
    platform.emulator.settle()  # the publish function runs on the job's state change
    return described


def alarm_states(platform: Platform) -> dict[str, str]:
    platform.emulator.advance(60)  # alarms evaluate on the minute; their state changes reach the retrain function
    alarms = platform.emulator.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{platform.endpoint}-drift-")
    prefix = f"{platform.endpoint}-drift-"
    return {a["AlarmName"].removeprefix(prefix): a["StateValue"] for a in alarms["MetricAlarms"]}


def psi_metrics(platform: Platform) -> dict[str, float]:
    cloudwatch = platform.emulator.client("cloudwatch")
    values = {}
    for metric in cloudwatch.list_metrics(Namespace=naming.METRIC_NAMESPACE, MetricName=naming.PSI_METRIC)["Metrics"]:
        feature = next(d["Value"] for d in metric["Dimensions"] if d["Name"] == "Feature")
        stats = cloudwatch.get_metric_statistics(
            Namespace=naming.METRIC_NAMESPACE,
            MetricName=naming.PSI_METRIC,
            Dimensions=metric["Dimensions"],
            StartTime=time.time() - 3600,
            EndTime=time.time() + 60,
            Period=3600,
            Statistics=["Maximum"],
        )["Datapoints"]
        values[feature] = max(d["Maximum"] for d in stats)
    return values


def retrain_decisions(platform: Platform) -> list[dict[str, Any]]:
    return [
        json.loads(record.result)
        for record in platform.emulator.events.delivered
        if "DriftRetrain" in record.target_arn and not record.errored
    ]


@pytest.mark.usefixtures("features")
def test_drifted_traffic_is_reported_alarmed_and_starts_one_retraining_run(platform, production, traffic) -> None:
    production()
    traffic(100)
    traffic(400, drift=1.0, seed=6)
    traffic(40, variant="shadow")  # copies of requests: never counted
    traffic(30, version="2")  # a candidate's canary rows: left out

    started = fire(platform)
    described = wait_for_job(platform, started["job_name"])

    assert started["started"] is True, started
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    s3 = platform.emulator.client("s3")
    prefix = f"{naming.reports_prefix(platform.endpoint)}/{started['job_name']}/"
    listed = s3.list_objects_v2(Bucket=platform.artifacts, Prefix=prefix)["Contents"]
    assert {item["Key"].removeprefix(prefix) for item in listed} == REPORT_FILES
    report = json.loads(s3.get_object(Bucket=platform.artifacts, Key=prefix + "drift_report.json")["Body"].read())
    run = json.loads(s3.get_object(Bucket=platform.artifacts, Key=prefix + "run.json")["Body"].read())
    assert report["current_rows"] == 500
    assert run["capture"]["other_model_versions"] == {"2": 30}
    assert run["capture"]["online_features_rebuilt"] == 500
    severities = {f["name"]: f["severity"] for f in [*report["features"], report["prediction"]]}
    assert severities["amount"] == "act", report["features"][:3]
    assert severities["amount"] == severities["log_amount"] == severities["prediction"] == "act"
    assert severities["age"] != "act"  # not drifted: the same customers
    violations = json.loads(
        s3.get_object(Bucket=platform.artifacts, Key=prefix + "constraint_violations.json")["Body"].read()
    )["violations"]
    assert {"feature_name": "amount", "constraint_check_type": "baseline_drift_check"} in [
        {k: v[k] for k in ("feature_name", "constraint_check_type")} for v in violations
    ]

    psi = psi_metrics(platform)
    assert psi["amount"] == pytest.approx(next(f["psi"] for f in report["features"] if f["name"] == "amount"))
    assert set(psi) == {f["name"] for f in report["features"]} | {"prediction"}
    states = alarm_states(platform)
    assert states["amount"] == states["prediction"] == "ALARM"
    assert states["age"] == "OK"

    decisions = retrain_decisions(platform)
    assert sum(d["started"] for d in decisions) == 1, decisions
    assert len(decisions) == sum(1 for s in states.values() if s == "ALARM")
    suppressed = [d["reason"] for d in decisions if not d["started"]]
    assert all(r.startswith(("cooldown", "a training run is in flight")) for r in suppressed)
    execution = next(d["execution_arn"] for d in decisions if d["started"])
    executions = platform.emulator.client("sagemaker").list_pipeline_executions(
        PipelineName=platform.outputs["PipelineName"]
    )["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [execution]
    assert executions[0]["PipelineExecutionDisplayName"].startswith("retrain-")
    assert "drift" in executions[0]["PipelineExecutionDisplayName"]


@pytest.mark.usefixtures("features")
def test_stable_traffic_keeps_the_alarms_ok_and_starts_nothing(platform, production, traffic) -> None:
    production()
    traffic(400)

    started = fire(platform)
    described = wait_for_job(platform, started["job_name"])

    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    states = alarm_states(platform)
    assert set(states.values()) == {"OK"}, states
    assert retrain_decisions(platform) == []


def test_without_a_production_version_nothing_starts(platform) -> None:
    started = fire(platform)

    assert started["started"] is False
    assert started["reason"].startswith("no Production model version")
    assert platform.emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []


def test_without_capture_in_the_window_nothing_starts(platform, production) -> None:
    production()

    started = fire(platform)

    assert started["started"] is False
    assert started["reason"].startswith("no capture files in the window")
    assert started["model_version"] == 1


def test_a_production_version_without_a_baseline_is_an_error_naming_it(platform, production, traffic) -> None:
    production(baseline=False)
    traffic(10)

    record = platform.emulator.fire_schedule(naming.schedule_name(platform.endpoint), "default")

    assert record.errored
    error = json.loads(record.result)
    assert error["errorType"] == "DriftConfigurationError"
    assert "has no drift.baseline_uri" in error["errorMessage"]


def test_a_baseline_that_does_not_exist_is_an_error_naming_its_uri(platform, production, traffic) -> None:
    missing = f"s3://{platform.artifacts}/pipelines/gone/Evaluate/evaluation/baseline.json"
    production(baseline_uri=missing)
    traffic(10)

    record = platform.emulator.fire_schedule(naming.schedule_name(platform.endpoint), "default")

    assert record.errored
    assert missing in json.loads(record.result)["errorMessage"]


@pytest.mark.usefixtures("features")
def test_a_failing_job_is_published_as_a_failure_with_its_reason(platform, production, traffic) -> None:
    production()
    traffic(20)
    s3 = platform.emulator.client("s3")
    key = "pipelines/seeded/Evaluate/evaluation/baseline.json"
    s3.put_object(Bucket=platform.artifacts, Key=key, Body=b'{"kind": "something else"}')  # corrupted afterwards

    started = fire(platform)
    described = wait_for_job(platform, started["job_name"])

    assert described["ProcessingJobStatus"] == "Failed"
    assert "is not a baseline" in described["FailureReason"]
    publishes = [json.loads(r.result) for r in platform.emulator.events.delivered if "DriftPublish" in r.target_arn]
    assert [(p["status"], "is not a baseline" in p["failure_reason"]) for p in publishes] == [("Failed", True)]
    failed = platform.emulator.client("cloudwatch").list_metrics(
        Namespace=naming.METRIC_NAMESPACE, MetricName=naming.FAILED_METRIC
    )["Metrics"]
    assert len(failed) == 1


def wait_for_pipeline(platform: Platform) -> list[dict[str, Any]]:
    """The training pipeline's executions once none is in flight."""
    sagemaker = platform.emulator.client("sagemaker")

    def none_in_flight() -> list[dict[str, Any]] | None:
        executions: list[dict[str, Any]] = sagemaker.list_pipeline_executions(
            PipelineName=platform.outputs["PipelineName"]
        )["PipelineExecutionSummaries"]
        done = all(e["PipelineExecutionStatus"] not in ("Executing", "Stopping") for e in executions)
        return executions if done else None

    executions: list[dict[str, Any]] = platform.emulator.wait_until(none_in_flight, description="the training runs")
    return executions


@pytest.mark.usefixtures("features")
def test_drift_again_within_the_cooldown_starts_no_second_retraining_run(platform, production, traffic) -> None:
    production()
    traffic(100)
    traffic(400, drift=1.0, seed=6)
    first = fire(platform)
    wait_for_job(platform, first["job_name"])
    states = alarm_states(platform)
    started = [d for d in retrain_decisions(platform) if d["started"]]
    assert len(started) == 1, retrain_decisions(platform)
    assert wait_for_pipeline(platform)[0]["PipelineExecutionArn"] == started[0]["execution_arn"]  # no longer in flight
    # The alarms recover (an operator resets them here); the next run finds the drift again.
    cloudwatch = platform.emulator.client("cloudwatch")
    alarmed = sorted(name for name, state in states.items() if state == "ALARM")
    for name in alarmed:
        cloudwatch.set_alarm_state(
            AlarmName=naming.drift_alarm(platform.endpoint, name), StateValue="OK", StateReason="reset by the test"
        )
    before = len(platform.emulator.events.delivered)
    traffic(300, drift=1.0, seed=7)

    second = fire(platform)
    wait_for_job(platform, second["job_name"])

    assert second["started"] is True
    assert second["job_name"] != first["job_name"]
    assert {n for n, s in alarm_states(platform).items() if s == "ALARM"} >= {"amount", "prediction"}
    decisions = [
        json.loads(r.result)
        for r in platform.emulator.events.delivered[before:]
        if "DriftRetrain" in r.target_arn and not r.errored
    ]
    assert decisions, "the alarms going to ALARM again reached the retrain function"
    assert not any(d["started"] for d in decisions), decisions
    assert all(d["reason"].startswith("cooldown: retraining started") for d in decisions), decisions
    assert all(started[0]["execution_arn"] in d["reason"] for d in decisions)
    executions = platform.emulator.client("sagemaker").list_pipeline_executions(
        PipelineName=platform.outputs["PipelineName"]
    )["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [started[0]["execution_arn"]]
