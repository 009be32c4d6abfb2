"""The scheduled status job (``lambdas/abtest_status``): every running experiment's status, guardrail stops,
ending splits, and the CloudWatch metrics the dashboard plots (names in :mod:`.names`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mlops_kit.abtest.endpoint import ExperimentOperations
from mlops_kit.abtest.names import (
    METRIC_DIFFERENCE,
    METRIC_EXPOSURES,
    METRIC_GUARDRAILS_BREACHED,
    METRIC_P_VALUE,
    METRIC_PROGRESS,
    METRICS_NAMESPACE,
)

if TYPE_CHECKING:  # the statistics load where a status is built (the status job's first report)
    from mlops_kit.abtest.report import StatusReport

LOG = logging.getLogger(__name__)


def metric_data(report: StatusReport) -> list[dict[str, Any]]:
    """The CloudWatch datapoints of one status: exposures per arm, the estimate, the p-value, progress, guardrails.

    Timestamped with the status time; the estimate is left out while an arm has no analysed user.
    """
    experiment = [{"Name": "Experiment", "Value": report.experiment}]

    def datum(name: str, value: float, unit: str, dimensions: list[dict[str, str]] = experiment) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dimensions, "Timestamp": report.at, "Value": value, "Unit": unit}

    data = [
        datum(METRIC_EXPOSURES, report.exposures_control, "Count", [*experiment, {"Name": "Arm", "Value": "control"}]),
        datum(
            METRIC_EXPOSURES, report.exposures_treatment, "Count", [*experiment, {"Name": "Arm", "Value": "treatment"}]
        ),
        datum(METRIC_P_VALUE, report.primary.p_value, "None"),
        datum(METRIC_PROGRESS, round(100.0 * report.progress, 3), "Percent"),
        datum(METRIC_GUARDRAILS_BREACHED, sum(g.breached for g in report.guardrails), "Count"),
    ]
    if report.primary.difference is not None:
        data.append(datum(METRIC_DIFFERENCE, report.primary.difference, "None"))
    return data


def summary(report: StatusReport) -> dict[str, Any]:
    """What the job logs and returns per experiment."""
    return {
        "state": report.state.value,
        "recommendation": report.recommendation,
        "exposures": {"control": report.exposures_control, "treatment": report.exposures_treatment},
        "difference": report.primary.difference,
        "p_value": report.primary.p_value,
        "breached": [g.metric for g in report.guardrails if g.breached],
        "message": report.message,
    }


def run_status_job(operations: ExperimentOperations, cloudwatch: Any) -> dict[str, dict[str, Any]]:
    """Check every experiment the job looks after (:meth:`.ExperimentOperations.active`) and publish metrics.

    One experiment's failure (a concurrent stop, a busy endpoint) is logged and reported in its entry without
    stopping the others; the next run retries it.
    """
    results: dict[str, dict[str, Any]] = {}
    for name in operations.active():
        try:
            report = operations.check(name)
            entry: dict[str, Any] = {}
            if report is not None:
                cloudwatch.put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=metric_data(report))
                entry = summary(report)
            split = operations.split(name)
            if split is not None:
                entry["split"] = split.phase
                if split.handover:
                    entry["handover"] = split.handover
            results[name] = entry
        except Exception as exc:
            LOG.exception("status check of experiment %s failed", name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results
