"""CloudWatch alarms that evaluate, on the emulator's compressed clock.

moto stores alarms and metric data but never evaluates one against the other. The evaluator here does what
CloudWatch does for the alarm types the kit uses: a metric with a statistic (Average, Sum, SampleCount,
Minimum, Maximum) or a percentile (``p99``), or metric math over such metrics (``100 * errors /
invocations``); ``EvaluationPeriods``, ``DatapointsToAlarm`` (M of N) and ``TreatMissingData``. A period of
P seconds spans ``P * time_scale`` real seconds (at least :data:`MIN_PERIOD_SECONDS`), so a model that
really errors trips its alarm within a few emulated periods. A state change is written to the alarm, emitted
as the ``CloudWatch Alarm State Change`` event and published to the alarm's SNS actions, as on AWS.

Alarms are evaluated by a ticker thread and again on every DescribeAlarms call.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import logging
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_local.patching import PatchPoint

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

LOG = logging.getLogger(__name__)
MIN_PERIOD_SECONDS = 0.25

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="cloudwatch-describe-alarms",
        module="moto.cloudwatch.responses",
        attribute="CloudWatchResponse.describe_alarms",
        signature="(self) -> moto.core.responses.ActionResult",
        why="alarms never evaluate in moto; evaluate them before answering DescribeAlarms",
    ),
    PatchPoint(
        name="cloudwatch-percentiles",
        module="moto.cloudwatch.models",
        attribute="Statistics.get_statistics_for_type",
        signature="(self, stat: str) -> typing.SupportsFloat | None",
        why="GetMetricData ignores percentile statistics (p99 latency); compute them from the datapoints",
    ),
)

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _statistic(values: list[float], statistic: str) -> float | None:
    if not values:
        return None
    if statistic.startswith("p"):
        return float(np.percentile(values, float(statistic[1:])))
    return {
        "Average": lambda v: float(np.mean(v)),
        "Sum": lambda v: float(np.sum(v)),
        "SampleCount": lambda v: float(len(v)),
        "Minimum": lambda v: float(np.min(v)),
        "Maximum": lambda v: float(np.max(v)),
    }[statistic](values)


def evaluate_expression(expression: str, values: dict[str, float | None]) -> float | None:
    """Metric math with ids, numbers and + - * / (what the kit's alarms use); None if any input is missing."""

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"metric math refers to unknown id {node.id!r}")
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return float(_BINARY[type(node.op)](left, right))
        raise ValueError(f"metric math {expression!r} uses an operation the emulator does not evaluate")

    return walk(ast.parse(expression, mode="eval"))


@dataclass
class StateChange:
    alarm: str
    previous: str
    current: str
    reason: str


class AlarmEvaluator:
    """Evaluates every alarm of the emulator's account and region (ticker + on demand)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # an alarm action can call DescribeAlarms on the same thread
        self.changes: list[StateChange] = []

    @property
    def period_scale(self) -> float:
        return self.emulator.time_scale.factor

    def real_period(self, period: int) -> float:
        return max(MIN_PERIOD_SECONDS, float(period) * self.period_scale)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._tick, name="emulator-alarms", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _tick(self) -> None:
        while not self._stop.wait(max(MIN_PERIOD_SECONDS, 10 * self.period_scale)):
            try:
                self.evaluate_all()
            except Exception as exc:  # keep ticking; a bad alarm must not stop the others
                LOG.warning("alarm evaluation failed: %s", exc)

    def _backend(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.emulator.account][self.emulator.region]

    def evaluate_all(self) -> list[StateChange]:
        """Evaluate every metric alarm now; apply and announce state changes."""
        with self._lock:
            backend = self._backend()
            data = list(backend.get_all_metrics())
            changes = []
            for alarm in list(backend.alarms.values()):
                if alarm.rule:  # composite alarms are not used by the kit
                    continue
                state, reason, reason_data = self.evaluate(alarm, data)
                if state is not None and state != alarm.state_value:
                    change = StateChange(alarm.name, alarm.state_value, state, reason)
                    alarm.update_state(reason, json.dumps(reason_data), state)
                    self._announce(alarm, change)
                    changes.append(change)
            self.changes.extend(changes)
            return changes

    def _series(
        self, data: list[Any], namespace: str, name: str, dimensions: list[Any], start: dt.datetime, end: dt.datetime
    ) -> list[float]:
        wanted = {(d.name, d.value) for d in dimensions}
        values = []
        for datum in data:
            if datum.namespace != namespace or datum.name != name or not hasattr(datum, "value"):
                continue
            if {(d.name, d.value) for d in datum.dimensions} != wanted:
                continue
            stamp = datum.timestamp if datum.timestamp.tzinfo else datum.timestamp.replace(tzinfo=dt.UTC)
            if start <= stamp < end:
                values.append(float(datum.value))
        return values

    def _window_value(self, alarm: Any, data: list[Any], start: dt.datetime, end: dt.datetime) -> float | None:
        if alarm.metric_data_queries:
            results: dict[str, float | None] = {}
            returned = None
            for query in alarm.metric_data_queries:
                if query.metric_stat is not None:
                    stat = query.metric_stat
                    metric = stat.metric
                    results[query.id] = _statistic(
                        self._series(data, metric.namespace, metric.metric_name, metric.dimensions, start, end),
                        stat.stat,
                    )
            for query in alarm.metric_data_queries:
                if query.expression:
                    results[query.id] = evaluate_expression(query.expression, results)
            for query in alarm.metric_data_queries:
                if str(query.return_data).lower() in ("true", "1", "none") or query.return_data is True:
                    returned = results.get(query.id)
            return returned
        statistic = alarm.extended_statistic or alarm.statistic
        return _statistic(
            self._series(data, alarm.namespace, alarm.metric_name, alarm.dimensions, start, end), statistic
        )

    def evaluate(self, alarm: Any, data: list[Any]) -> tuple[str | None, str, dict[str, Any]]:
        """The alarm's state now: (state or None to keep the current one, reason, reason data)."""
        period = alarm.period or (
            alarm.metric_data_queries[0].metric_stat.period
            if alarm.metric_data_queries and alarm.metric_data_queries[0].metric_stat
            else 60
        )
        real = dt.timedelta(seconds=self.real_period(int(period)))
        now = dt.datetime.now(dt.UTC)
        windows = [
            self._window_value(alarm, data, now - (i + 1) * real, now - i * real)
            for i in range(int(alarm.evaluation_periods))
        ]
        compare = _COMPARISONS[alarm.comparison_operator]
        needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
        treat = alarm.treat_missing_data or "missing"
        present = [v for v in windows if v is not None]
        breaching = sum(1 for v in present if compare(v, float(alarm.threshold)))
        if treat == "breaching":
            breaching += len(windows) - len(present)
        data_reason = {"recentDatapoints": [round(v, 6) for v in present], "threshold": alarm.threshold}
        if breaching >= needed:
            return (
                "ALARM",
                f"Threshold Crossed: {breaching} of the last {len(windows)} datapoints breached {alarm.threshold}",
                data_reason,
            )
        if not present:
            if treat == "missing":
                return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints in the evaluation range", data_reason
            if treat == "ignore":
                return None, "", data_reason
        return "OK", f"Threshold not crossed: {breaching} of the last {len(windows)} datapoints breached", data_reason

    def _announce(self, alarm: Any, change: StateChange) -> None:
        from moto.events.models import events_backends

        now = dt.datetime.now(dt.UTC).isoformat()
        detail = {
            "alarmName": alarm.name,
            "state": {"value": change.current, "reason": change.reason, "timestamp": now},
            "previousState": {"value": change.previous},
            "configuration": {"description": alarm.description or "", "metrics": []},
        }
        events_backends[self.emulator.account][self.emulator.region].put_events(
            [
                {
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Detail": json.dumps(detail),
                    "Resources": [alarm.alarm_arn],
                }
            ]
        )
        if not alarm.actions_enabled:
            return
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }
        from moto.sns.models import sns_backends

        for arn in actions.get(change.current) or []:
            if ":sns:" in arn:
                message = {
                    "AlarmName": alarm.name,
                    "NewStateValue": change.current,
                    "OldStateValue": change.previous,
                    "NewStateReason": change.reason,
                    "StateChangeTime": now,
                }
                try:
                    sns_backends[self.emulator.account][self.emulator.region].publish(
                        message=json.dumps(message), arn=arn, subject=f"ALARM: {alarm.name}"[:100]
                    )
                except Exception as exc:
                    LOG.warning("alarm action %s failed: %s", arn, exc)


def apply(patcher: Any) -> None:
    describe_point, percentile_point = PATCH_POINTS
    original_describe = describe_point.original()
    original_statistic = percentile_point.original()
    evaluator = patcher.emulator.alarms

    def describe_alarms(response: Any) -> Any:
        evaluator.evaluate_all()
        return original_describe(response)

    def statistic_for_type(statistics: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
            return _statistic(list(statistics.metric_single_values_list), stat)
        return original_statistic(statistics, stat)

    patcher.replace(describe_point, describe_alarms)
    patcher.replace(percentile_point, statistic_for_type)
