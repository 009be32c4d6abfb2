"""Patch points cloudwatch-*: alarms evaluate their metrics every emulated minute, as CloudWatch does."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from mlops_local.cloudwatch import evaluate_expression
from mlops_local.emulator import Emulator
from tests.emulator.conftest import allow_events

DIMENSIONS = [{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "candidate"}]


def _put(emulator: Emulator, name: str, values: Sequence[float]) -> None:
    emulator.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[{"MetricName": name, "Dimensions": DIMENSIONS, "Value": v} for v in values],
    )


def _state(emulator: Emulator, name: str) -> str:
    return str(emulator.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def _put_alarm(emulator: Emulator, name: str, metric: str, **settings: Any) -> None:
    """A one-minute, greater-than alarm ``name`` on ``metric`` of :data:`DIMENSIONS`, with ``settings``."""
    emulator.client("cloudwatch").put_metric_alarm(
        AlarmName=name, Namespace="AWS/SageMaker", MetricName=metric, Dimensions=DIMENSIONS, Period=60,
        ComparisonOperator="GreaterThanThreshold", **settings,
    )  # fmt: skip


def _put_errors_alarm(emulator: Emulator, *, treat_missing_data: str) -> None:
    """Alarm "errors": any 5xx error in 2 of the last 3 minutes."""
    _put_alarm(
        emulator, "errors", "Invocation5XXErrors", Statistic="Sum", EvaluationPeriods=3, DatapointsToAlarm=2,
        Threshold=0, TreatMissingData=treat_missing_data,
    )  # fmt: skip


def test_a_percentile_alarm_fires_on_slow_responses_and_recovers(emulator: Emulator) -> None:
    _put_alarm(
        emulator, "p99", "ModelLatency", ExtendedStatistic="p99", EvaluationPeriods=2, DatapointsToAlarm=1,
        Threshold=500_000, TreatMissingData="notBreaching",
    )  # fmt: skip
    _put(emulator, "ModelLatency", [10_000] * 98 + [900_000] * 2)
    assert _state(emulator, "p99") == "INSUFFICIENT_DATA"  # not evaluated before the next minute

    emulator.advance(60)
    assert _state(emulator, "p99") == "ALARM"
    changed = emulator.client("cloudwatch").describe_alarms(AlarmNames=["p99"])["MetricAlarms"][0]
    assert changed["StateUpdatedTimestamp"].timestamp() % 60 == 0  # evaluated on the minute

    emulator.advance(60)
    assert _state(emulator, "p99") == "ALARM"  # the slow minute is still one of the last two periods
    emulator.advance(60)
    assert _state(emulator, "p99") == "OK"  # both periods aged out; missing data is not breaching


def test_an_alarm_is_evaluated_again_only_when_its_windows_or_its_state_changed(emulator: Emulator) -> None:
    cloudwatch = emulator.client("cloudwatch")
    _put_errors_alarm(emulator, treat_missing_data="notBreaching")
    _put(emulator, "Invocation5XXErrors", [1])
    emulator.advance(60)
    _put(emulator, "Invocation5XXErrors", [1])
    emulator.advance(60)
    assert _state(emulator, "errors") == "ALARM"

    # Each minute moves the windows over the two data points until both have aged out: evaluated every minute,
    before = emulator.alarms.evaluations
    emulator.advance(3 * 60)
    assert _state(emulator, "errors") == "OK"
    aged_out = emulator.alarms.evaluations
    assert aged_out - before == 3
    # then empty windows in an unchanged state: nothing to evaluate, however long,
    emulator.advance(5 * 60)
    assert emulator.alarms.evaluations == aged_out
    # until the state is set from outside (evaluated again at the next minute, as CloudWatch does),
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="testing")
    emulator.advance(60)
    assert (_state(emulator, "errors"), emulator.alarms.evaluations) == ("OK", aged_out + 1)
    # or new data falls inside a window,
    _put(emulator, "Invocation5XXErrors", [1])
    emulator.advance(60)
    assert emulator.alarms.evaluations == aged_out + 2
    emulator.advance(5 * 60)
    assert (_state(emulator, "errors"), emulator.alarms.evaluations) == ("OK", aged_out + 5)  # aged out again
    # or the alarm is replaced: a new alarm, even with the same name, state and (empty) windows.
    _put_errors_alarm(emulator, treat_missing_data="breaching")
    emulator.advance(60)
    assert (_state(emulator, "errors"), emulator.alarms.evaluations) == ("ALARM", aged_out + 6)


def test_an_error_rate_alarm_uses_metric_math(emulator: Emulator) -> None:

    def stat(metric: str) -> dict:
        return {
            "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": DIMENSIONS},
            "Period": 60,
            "Stat": "Sum",
        }

    emulator.client("cloudwatch").put_metric_alarm(
        AlarmName="errors",
        Metrics=[
            {"Id": "errors", "MetricStat": stat("Invocation5XXErrors"), "ReturnData": False},
            {"Id": "invocations", "MetricStat": stat("Invocations"), "ReturnData": False},
            {"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    _put(emulator, "Invocations", [1] * 100)
    _put(emulator, "Invocation5XXErrors", [1] * 3)
    emulator.advance(60)
    assert _state(emulator, "errors") == "OK"  # 3 %

    _put(emulator, "Invocations", [1] * 100)
    _put(emulator, "Invocation5XXErrors", [1] * 10)
    emulator.advance(60)
    assert _state(emulator, "errors") == "ALARM"  # 10 %


def test_a_state_change_is_an_event_and_an_sns_action(emulator: Emulator, make_function) -> None:
    function_arn = make_function("on-alarm")
    topic = emulator.client("sns").create_topic(Name="alarms")["TopicArn"]
    events = emulator.client("events")
    events.put_rule(
        Name="alarms",
        EventPattern=json.dumps({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}),
    )
    events.put_targets(Rule="alarms", Targets=[{"Id": "fn", "Arn": function_arn}])
    allow_events(emulator, function_arn, "alarms")
    emulator.client("cloudwatch").put_metric_alarm(
        AlarmName="psi-amount",
        Namespace="MlopsKit/Drift",
        MetricName="PSI",
        Dimensions=[{"Name": "Feature", "Value": "amount"}],
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        TreatMissingData="notBreaching",
    )
    emulator.client("cloudwatch").put_metric_data(
        Namespace="MlopsKit/Drift",
        MetricData=[{"MetricName": "PSI", "Dimensions": [{"Name": "Feature", "Value": "amount"}], "Value": 0.41}],
    )

    emulator.advance(60)

    assert [(c.alarm, c.current) for c in emulator.alarms.changes] == [("psi-amount", "ALARM")]
    event = json.loads(emulator.events.delivered[-1].result)["event"]
    assert event["detail"]["alarmName"] == "psi-amount"
    assert event["detail"]["state"]["value"] == "ALARM"


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("100 * a / b", {"a": 3.0, "b": 60.0}, 5.0),
        # "If the value of a data point causes a function to attempt to divide by zero, the data point is dropped."
        ("a / b", {"a": 1.0, "b": 0.0}, None),
        ("100 * (a / b - 1)", {"a": 1.0, "b": 0.0}, None),
        # "Missing values in a time series are treated as 0" (CloudWatch User Guide, metric math syntax)...
        ("a + b", {"a": None, "b": 1.0}, 1.0),
        ("100 * a / b", {"a": None, "b": 60.0}, 0.0),
        ("a / b", {"a": 1.0, "b": None}, None),  # ... so a missing divisor divides by zero
        # ... but where no series has a data point there is none to compute.
        ("100 * a / b", {"a": None, "b": None}, None),
    ],
)
def test_metric_math(expression: str, values: dict, expected: float | None) -> None:
    assert evaluate_expression(expression, values) == expected


def test_unsupported_metric_math_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not evaluate"):
        evaluate_expression("FILL(a, 0)", {"a": 1.0})
    with pytest.raises(ValueError, match="unknown id 'c'"):
        evaluate_expression("a / c", {"a": 1.0})


def test_get_metric_data_answers_percentiles(emulator: Emulator) -> None:
    _put(emulator, "ModelLatency", [float(v) for v in range(1, 101)])

    result = emulator.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "p99",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency", "Dimensions": DIMENSIONS},
                    "Period": 3600,
                    "Stat": "p99",
                },
            }
        ],
        StartTime=time.time() - 600,
        EndTime=time.time() + 600,
    )["MetricDataResults"][0]

    assert result["Values"] == [pytest.approx(99.01)]
