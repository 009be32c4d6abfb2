"""The canary's business-metric rollback alarm: the candidate variant against the Production variant.

An absolute, endpoint-wide threshold cannot tell a bad candidate from a bad day: a Monday dip trips it for both
models, and a candidate with 5% of the traffic moves an endpoint-wide average by a twentieth of its own drop. The
alarm compares the two variants over the same period instead, with CloudWatch metric math::

    change = 100 * (candidate / production - 1)      breaching when change < -max_drop_percent

It exists only while a staged rollout runs: ``PrepareCanary`` puts it (PutMetricAlarm creates or replaces, so a
retried step is harmless), ``CompleteRollout`` and ``Abort`` delete it. Missing data breaches: during a canary
both variants serve, so a period without the candidate's (or Production's) business metric means the application
stopped reporting it, and a candidate must not pass on silence. Outside a canary one of the two variants does not
exist, which is why the alarm is not left in place between promotions.

PutMetricAlarm with ``Metrics``: at most 10 ``MetricStat`` and 10 ``Expression`` queries, exactly one with
``ReturnData`` true, the expression returns a single time series, and ``Namespace``/``MetricName``/``Period``/
``Statistic`` may not be given beside ``Metrics`` (the period sits in each ``MetricStat``).
"""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.settings import BusinessAlarmSettings
from mlops_kit.serving import naming

EXPRESSION = "100 * (candidate / production - 1)"


def definition(
    settings: BusinessAlarmSettings, *, endpoint: str, candidate_slot: str, production_slot: str
) -> dict[str, Any]:
    """The PutMetricAlarm request for a canary of ``candidate_slot`` against ``production_slot`` of ``endpoint``.

    Raises ValueError when the two slots are the same (there would be nothing to compare).
    """
    if candidate_slot == production_slot:
        raise ValueError(f"the candidate and Production variants must differ, both are {candidate_slot!r}")

    def metric(query_id: str, slot: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": settings.namespace,
                    "MetricName": settings.metric_name,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint},
                        {"Name": "VariantName", "Value": slot},
                    ],
                },
                # One period for both, so every datapoint compares the same stretch of time.
                "Period": settings.period_seconds,
                "Stat": settings.statistic,
            },
            "ReturnData": False,
        }

    return {
        "AlarmName": naming.business_alarm(endpoint, candidate_slot),
        "AlarmDescription": (
            f"{settings.namespace}/{settings.metric_name} ({settings.statistic}) of variant {candidate_slot} more "
            f"than {settings.max_drop_percent:g}% below Production ({production_slot}); exists during a canary only"
        ),
        "Metrics": [
            metric("candidate", candidate_slot),
            metric("production", production_slot),
            {
                "Id": "change",
                "Expression": EXPRESSION,
                "Label": f"{candidate_slot} vs {production_slot} (% change)",
                "ReturnData": True,
            },
        ],
        "Threshold": -settings.max_drop_percent,
        "ComparisonOperator": "LessThanThreshold",
        "EvaluationPeriods": settings.evaluation_periods,
        "DatapointsToAlarm": settings.datapoints_to_alarm,
        # During a canary both variants serve: no datapoint means the metric stopped arriving (see module doc).
        "TreatMissingData": "breaching",
    }
