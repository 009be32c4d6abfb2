"""The scheduled status job's side that the dashboard sees: the CloudWatch datapoints of a status, and one failing
experiment not hiding the others' metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mlops_kit.abtest.names import (
    METRIC_DIFFERENCE,
    METRIC_EXPOSURES,
    METRIC_GUARDRAILS_BREACHED,
    METRIC_P_VALUE,
    METRIC_PROGRESS,
    METRICS_NAMESPACE,
)
from mlops_kit.abtest.report import StatusReport
from mlops_kit.abtest.repository import InMemoryRepository
from mlops_kit.abtest.scheduled import metric_data, run_status_job
from mlops_kit.abtest.service import ExperimentService
from tests.unit.abtest.test_service import NAME, T0, VARIANTS, Clock, harmful, make_plan, simulate

EXPERIMENT = (("Experiment", NAME),)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def running(clock: Clock) -> ExperimentService:
    service = ExperimentService(InMemoryRepository(), clock=clock)
    service.plan(make_plan())
    clock.now = T0 + timedelta(hours=1)
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    return service


def by_name(data: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]]:
    return {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])): d for d in data}


def test_right_after_the_start_every_metric_but_the_estimate_is_published(running: ExperimentService) -> None:
    report = running.status(NAME)

    data = by_name(metric_data(report))

    assert set(data) == {
        (METRIC_EXPOSURES, (*EXPERIMENT, ("Arm", "control"))),
        (METRIC_EXPOSURES, (*EXPERIMENT, ("Arm", "treatment"))),
        (METRIC_P_VALUE, EXPERIMENT),
        (METRIC_PROGRESS, EXPERIMENT),
        (METRIC_GUARDRAILS_BREACHED, EXPERIMENT),
    }  # no Difference while an arm has no analysed user: the dashboard shows a gap, not a zero
    assert {d["Value"] for d in data.values()} == {0, 1.0}  # nobody yet, p-value 1
    assert all(d["Timestamp"] == report.at for d in data.values())


def test_the_datapoints_are_the_status_numbers(running: ExperimentService, clock: Clock) -> None:
    simulate(running, clock, users=range(600), start=clock.now, hours=72, behaviour=harmful)
    clock.now += timedelta(days=2)
    report = running.status(NAME)

    data = by_name(metric_data(report))

    assert data[(METRIC_EXPOSURES, (*EXPERIMENT, ("Arm", "control")))]["Value"] == report.exposures_control
    assert data[(METRIC_EXPOSURES, (*EXPERIMENT, ("Arm", "treatment")))]["Value"] == report.exposures_treatment
    assert report.exposures_control + report.exposures_treatment == 600
    assert data[(METRIC_DIFFERENCE, EXPERIMENT)]["Value"] == report.primary.difference
    assert data[(METRIC_P_VALUE, EXPERIMENT)]["Value"] == report.primary.p_value
    assert data[(METRIC_PROGRESS, EXPERIMENT)]["Value"] == pytest.approx(100 * report.progress, abs=1e-3)  # rounded
    breached = [g.metric for g in report.guardrails if g.breached]
    assert breached == ["error_rate"]  # the harmful treatment fails 15% more requests
    assert data[(METRIC_GUARDRAILS_BREACHED, EXPERIMENT)]["Value"] == 1
    assert {d["Unit"] for d in data.values()} == {"Count", "None", "Percent"}


class FakeOperations:
    """The three calls the job makes; ``broken`` experiments fail their check (a busy endpoint, say)."""

    def __init__(self, reports: dict[str, StatusReport], broken: set[str]) -> None:
        self.reports, self.broken = reports, broken

    def active(self) -> list[str]:
        return sorted({*self.reports, *self.broken})

    def check(self, name: str) -> StatusReport:
        if name in self.broken:
            raise TimeoutError(f"endpoint busy while checking {name}")
        return self.reports[name]

    def split(self, name: str) -> None:
        return None


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_one_failing_experiment_does_not_stop_the_others_metrics(running: ExperimentService) -> None:
    report = running.status(NAME)
    cloudwatch = FakeCloudWatch()

    results = run_status_job(FakeOperations({NAME: report}, {"a-broken-one"}), cloudwatch)  # type: ignore[arg-type]

    assert results["a-broken-one"] == {"error": "TimeoutError: endpoint busy while checking a-broken-one"}
    assert results[NAME]["recommendation"] == "continue"
    assert cloudwatch.calls == [{"Namespace": METRICS_NAMESPACE, "MetricData": metric_data(report)}]
