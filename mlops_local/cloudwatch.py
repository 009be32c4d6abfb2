"""CloudWatch alarms that evaluate, on the emulator's clock.

moto stores alarms and metric data but never evaluates one against the other. The evaluator here does what
CloudWatch does for the alarm types the kit uses: a metric with a statistic (Average, Sum, SampleCount,
Minimum, Maximum) or a percentile (``p99``), or metric math over such metrics (``100 * errors /
invocations``); ``EvaluationPeriods``, ``DatapointsToAlarm`` (M of N) and ``TreatMissingData``. Like CloudWatch,
it evaluates every alarm once a minute, on the minute, over the ``EvaluationPeriods`` periods that end then. A
state change is written to the alarm, emitted as the ``CloudWatch Alarm State Change`` event and published to the
alarm's SNS actions, as on AWS. It only ticks while an evaluation could change something (metric data recent
enough to fall in some alarm's evaluation range, or an alarm just created), so long idle waits cost nothing.
"""

from __future__ import annotations

import ast
import bisect
import datetime as dt
import json
import logging
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_local.clock import Event, VirtualClock
from mlops_local.patching import PatchPoint

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

LOG = logging.getLogger(__name__)
TICK_SECONDS = 60  # CloudWatch evaluates alarms every minute

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="cloudwatch-put-metric-data",
        module="moto.cloudwatch.models",
        attribute="CloudWatchBackend.put_metric_data",
        signature="(self, namespace: str, metric_data: list[dict[str, typing.Any]]) -> None",
        why="alarms never evaluate in moto; new data wakes the emulator's evaluator",
    ),
    PatchPoint(
        name="cloudwatch-put-metric-alarm",
        module="moto.cloudwatch.models",
        attribute="CloudWatchBackend.put_metric_alarm",
        signature=(
            "(self, name: str, namespace: str, metric_name: str, comparison_operator: str, evaluation_periods: "
            "int, period: int, threshold: float, statistic: str, description: str, dimensions: list[dict[str, "
            "str]], alarm_actions: list[str], metric_data_queries: list[moto.cloudwatch.models.MetricDataQuery] "
            "| None = None, datapoints_to_alarm: int | None = None, extended_statistic: str | None = None, "
            "ok_actions: list[str] | None = None, insufficient_data_actions: list[str] | None = None, unit: str | "
            "None = None, actions_enabled: bool = True, treat_missing_data: str | None = None, "
            "evaluate_low_sample_count_percentile: str | None = None, threshold_metric_id: str | None = None, "
            "rule: str | None = None, tags: list[dict[str, str]] | None = None) -> moto.cloudwatch.models.Alarm"
        ),
        why="a new alarm starts INSUFFICIENT_DATA (moto: OK) and is evaluated at the next minute",
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
    """Metric math with ids, numbers and + - * / (what the kit's alarms use), as CloudWatch evaluates it at one
    timestamp ("Metric math syntax and functions", CloudWatch User Guide: "Missing values in a time series are
    treated as 0. If the value of a data point causes a function to attempt to divide by zero, the data point is
    dropped."): an id without a value counts as 0 when another id has one; no value for any id, or a division by
    zero, is no data point (None), which the alarm's TreatMissingData then decides. Raises ValueError naming an
    unknown id or an operation the emulator does not evaluate."""
    tree = ast.parse(expression, mode="eval")
    functions = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    ids = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - functions
    unknown = sorted(ids - values.keys())
    if unknown:
        raise ValueError(f"metric math refers to unknown id {unknown[0]!r}")
    if ids and all(values[name] is None for name in ids):
        return None  # no series has a data point at this timestamp: there is none to compute

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            value = values[node.id]
            return 0.0 if value is None else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return float(_BINARY[type(node.op)](left, right))
        raise ValueError(f"metric math {expression!r} uses an operation the emulator does not evaluate")

    return walk(tree)


@dataclass
class StateChange:
    alarm: str
    previous: str
    current: str
    reason: str


# (account, region, namespace, metric name, dimensions): a series is its account's and region's.
SeriesKey = tuple[str, str, str, str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class _Seen:
    """What an alarm's last evaluation saw (see :meth:`AlarmEvaluator.evaluate_all`)."""

    alarm: Any  # the alarm object itself: a replaced alarm (PutMetricAlarm) is never taken for it
    state: str  # its state after the evaluation
    marks: tuple[int, ...]  # where its window boundaries fell in its series
    data_version: int  # the index's data version then
    quiet_until: float  # until when, without new data, its windows cannot change


class AlarmEvaluator:
    """Evaluates every alarm of every account and region, every minute while anything could change: an alarm
    watches its own account's metrics (an environment account's endpoint metrics and alarms are that account's) and
    announces its state changes on its own account's default bus and topics."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._lock = threading.RLock()  # an alarm action can lead back into an evaluation on the same thread
        self._wake: Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._active_until = float("-inf")  # virtual time until which evaluations could still change a state
        self.changes: list[StateChange] = []
        # Every datum with a value, by series, oldest first: (epoch seconds, value). Evaluating an alarm reads only
        # its window by bisection; scanning all of moto's data every minute of a days-long rehearsal did not scale.
        self._series_index: dict[SeriesKey, list[tuple[float, float]]] = {}
        self._last_seen: dict[str, _Seen] = {}  # per alarm ARN: what its last evaluation saw
        self._data_version = 0  # how many times data was added to the index
        self.evaluations = 0  # alarm evaluations made (an unchanged alarm is skipped; see evaluate_all)

    def index(self, data: list[Any], account: str = "", region: str = "") -> None:
        """Add data moto just stored (its MetricDatum objects) in ``account`` and ``region`` (default: the
        emulator's) to the series index."""
        account, region = account or self.emulator.account, region or self.emulator.region
        with self._lock:
            for datum in data:
                if not hasattr(datum, "value"):
                    continue  # StatisticValues aggregates: not used by the kit's alarms
                key = (
                    account,
                    region,
                    datum.namespace,
                    datum.name,
                    frozenset((d.name, d.value) for d in datum.dimensions),
                )
                stamp = datum.timestamp if datum.timestamp.tzinfo else datum.timestamp.replace(tzinfo=dt.UTC)
                bisect.insort(self._series_index.setdefault(key, []), (stamp.timestamp(), float(datum.value)))
                self._data_version += 1

    @property
    def clock(self) -> VirtualClock:
        return self.emulator.clock

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._wake = Event(self.clock)
            self._thread = self.clock.spawn(self._tick, name="emulator-alarms")

    def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def notify(self, *, data_at: float | None = None) -> None:
        """New data (or a new alarm): keep evaluating while it can still fall inside an evaluation range."""
        now = self.clock.now()
        horizon = self._horizon()
        start = now if data_at is None else min(now, data_at)
        self._active_until = max(self._active_until, start + horizon + TICK_SECONDS)
        if self._wake is not None:
            self._wake.set()

    def _horizon(self) -> float:
        """The longest evaluation range of any alarm (seconds): data older than that cannot matter."""
        longest = 600.0
        for alarm in self._alarms():
            longest = max(longest, float(_period(alarm)) * float(alarm.evaluation_periods or 1))
        return longest

    def _tick(self) -> None:
        from mlops_local.clock import ClockStoppedError

        assert self._wake is not None
        try:
            while not self._stopping:
                now = self.clock.now()
                if now > self._active_until:
                    self._wake.clear()
                    if now > self._active_until:  # nothing recent: sleep until data arrives, no timer
                        self._wake.wait()
                    continue
                self.clock.sleep(TICK_SECONDS - (now % TICK_SECONDS) or TICK_SECONDS)
                if self._stopping:
                    return
                try:
                    self.evaluate_all()
                except Exception as exc:  # keep ticking; a bad alarm must not stop the others
                    LOG.warning("alarm evaluation failed: %s", exc)
        except ClockStoppedError:
            return

    @staticmethod
    def _alarms() -> list[Any]:
        """Every alarm of every account and region that has CloudWatch state (no backend is created to look)."""
        from moto.cloudwatch.models import cloudwatch_backends

        found = []
        for per_account in list(dict.values(cloudwatch_backends)):
            for backend in list(dict.values(per_account)):
                found += list(backend.alarms.values())
        return found

    def evaluate_all(self) -> list[StateChange]:
        """Evaluate every metric alarm now, in every account; apply and announce state changes.

        An alarm whose windows hold exactly the data they held at its last evaluation, in the same state, is not
        evaluated again (the result would be the same), nor looked at until new data arrives or its windows slide
        over a data point: most minutes of a days-long rehearsal pass between requests.
        """
        with self._lock:
            changes = []
            end = self.clock.utcnow()
            now = end.timestamp()
            for alarm in self._alarms():
                if alarm.rule:  # composite alarms are not used by the kit
                    continue
                last = self._last_seen.get(alarm.alarm_arn)
                if last is not None and (last.alarm is not alarm or last.state != alarm.state_value):
                    last = None  # replaced (PutMetricAlarm) or its state set from outside: evaluated again
                if last is not None and last.data_version == self._data_version and now <= last.quiet_until:
                    continue
                marks, quiet_until = self._marks(alarm, end)
                if last is not None and last.marks == marks:
                    self._last_seen[alarm.alarm_arn] = _Seen(alarm, last.state, marks, self._data_version, quiet_until)
                    continue
                self.evaluations += 1
                state, reason, reason_data = self.evaluate(alarm)
                if state is not None and state != alarm.state_value:
                    change = StateChange(alarm.name, alarm.state_value, state, reason)
                    alarm.update_state(reason, json.dumps(reason_data), state)
                    self._announce(alarm, change)
                    changes.append(change)
                self._last_seen[alarm.alarm_arn] = _Seen(
                    alarm, alarm.state_value, marks, self._data_version, quiet_until
                )
            self.changes.extend(changes)
            return changes

    def _marks(self, alarm: Any, end: dt.datetime) -> tuple[tuple[int, ...], float]:
        """Where each boundary of ``alarm``'s windows ending at ``end`` falls in each series it reads, and until
        when (epoch seconds) no boundary passes a data point. The index only grows, by insertion in time order:
        equal marks are windows with equal contents, and until then, without new data, they stay equal."""
        period, now = _period(alarm), end.timestamp()
        marks: list[int] = []
        quiet_until = float("inf")
        for namespace, name, dimensions in _metrics(alarm):
            points = self._points(alarm, namespace, name, dimensions)
            for k in range(int(alarm.evaluation_periods) + 1):  # boundary k: now - k periods
                index = bisect.bisect_left(points, (now - k * period, float("-inf")))
                marks.append(index)
                if index < len(points):  # that point leaves (or, k = 0, enters) a window once the boundary passes it
                    quiet_until = min(quiet_until, points[index][0] + k * period)
        return tuple(marks), quiet_until

    def _windows(self, alarm: Any, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """The alarm's evaluation windows (Period x EvaluationPeriods, ending at ``end``), newest first."""
        length = dt.timedelta(seconds=_period(alarm))
        return [(end - (i + 1) * length, end - i * length) for i in range(int(alarm.evaluation_periods))]

    def _points(self, alarm: Any, namespace: str, name: str, dimensions: list[Any]) -> list[tuple[float, float]]:
        """A metric's series in ``alarm``'s own account and region: (epoch seconds, value), oldest first."""
        account, region = _where(alarm)
        dimension_set = frozenset((d.name, d.value) for d in dimensions)
        return self._series_index.get((account, region, namespace, name, dimension_set), [])

    def _series(
        self, alarm: Any, namespace: str, name: str, dimensions: list[Any], start: dt.datetime, end: dt.datetime
    ) -> list[float]:
        """The values of a metric of ``alarm``'s own account and region in [start, end)."""
        points = self._points(alarm, namespace, name, dimensions)
        low = bisect.bisect_left(points, (start.timestamp(), float("-inf")))
        high = bisect.bisect_left(points, (end.timestamp(), float("-inf")))
        return [value for _, value in points[low:high]]

    def _window_value(self, alarm: Any, start: dt.datetime, end: dt.datetime) -> float | None:
        if alarm.metric_data_queries:
            results: dict[str, float | None] = {}
            returned = None
            for query in alarm.metric_data_queries:
                if query.metric_stat is not None:
                    stat = query.metric_stat
                    metric = stat.metric
                    results[query.id] = _statistic(
                        self._series(alarm, metric.namespace, metric.metric_name, metric.dimensions, start, end),
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
        series = self._series(alarm, alarm.namespace, alarm.metric_name, alarm.dimensions, start, end)
        return _statistic(series, statistic)

    def evaluate(self, alarm: Any) -> tuple[str | None, str, dict[str, Any]]:
        """The alarm's state now: (state or None to keep the current one, reason, reason data)."""
        # Evaluated each minute over the window Period x EvaluationPeriods that ends now (on the minute).
        windows = [self._window_value(alarm, start, stop) for start, stop in self._windows(alarm, self.clock.utcnow())]
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
        account, region = _where(alarm)
        events_backends[account][region].put_events(
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
                    sns_backends[account][region].publish(
                        message=json.dumps(message), arn=arn, subject=f"ALARM: {alarm.name}"[:100]
                    )
                except Exception as exc:
                    LOG.warning("alarm action %s failed: %s", arn, exc)


def apply(patcher: Any) -> None:
    points = {p.name: p for p in PATCH_POINTS}
    original_put_data = points["cloudwatch-put-metric-data"].original()
    original_put_alarm = points["cloudwatch-put-metric-alarm"].original()
    original_statistic = points["cloudwatch-percentiles"].original()
    evaluator = patcher.emulator.alarms

    put_lock = threading.Lock()  # the data one put appended is exactly what follows its length before

    def put_metric_data(backend: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        with put_lock:
            before = len(backend.metric_data)
            original_put_data(backend, namespace, metric_data)
            evaluator.index(backend.metric_data[before:], backend.account_id, backend.region_name)
        stamps = [_epoch(d.get("Timestamp")) for d in metric_data]
        evaluator.notify(data_at=min((s for s in stamps if s is not None), default=None))

    def put_metric_alarm(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        previous = backend.alarms.get(name)
        alarm = original_put_alarm(backend, name, *args, **kwargs)
        if previous is None:
            # PutMetricAlarm: "the alarm state is immediately set to INSUFFICIENT_DATA" (moto says OK); an update
            # keeps the state it had.
            alarm.state_value = "INSUFFICIENT_DATA"
        else:
            alarm.state_value = previous.state_value
        evaluator.notify()
        return alarm

    def statistic_for_type(statistics: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
            return _statistic(list(statistics.metric_single_values_list), stat)
        return original_statistic(statistics, stat)

    patcher.replace(points["cloudwatch-put-metric-data"], put_metric_data)
    patcher.replace(points["cloudwatch-put-metric-alarm"], put_metric_alarm)
    patcher.replace(points["cloudwatch-percentiles"], statistic_for_type)


def _period(alarm: Any) -> int:
    """An alarm's period in seconds (a metric math alarm's: its first metric's)."""
    return int(
        alarm.period
        or (
            alarm.metric_data_queries[0].metric_stat.period
            if alarm.metric_data_queries and alarm.metric_data_queries[0].metric_stat
            else 60
        )
    )


def _metrics(alarm: Any) -> list[tuple[str, str, list[Any]]]:
    """The (namespace, name, dimensions) of every metric ``alarm`` reads."""
    if alarm.metric_data_queries:
        return [
            (q.metric_stat.metric.namespace, q.metric_stat.metric.metric_name, q.metric_stat.metric.dimensions)
            for q in alarm.metric_data_queries
            if q.metric_stat is not None
        ]
    return [(alarm.namespace, alarm.metric_name, alarm.dimensions)]


def _where(alarm: Any) -> tuple[str, str]:
    """The account and region of an alarm (its ARN's)."""
    parts = str(alarm.alarm_arn).split(":")
    return parts[4], parts[3]


def _epoch(value: Any) -> float | None:
    """A datum's timestamp as epoch seconds (None: moto stamps it now)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
