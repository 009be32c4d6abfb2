"""The canary's business-metric alarm: per variant, relative to Production, missing data breaching; put when the
canary starts and deleted when it ends."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlops_kit.promotion import business_alarm
from mlops_kit.promotion.settings import BusinessAlarmSettings
from mlops_local.cloudwatch import evaluate_expression
from tests.unit.promotion.conftest import ENDPOINT, World, settings
from tests.unit.promotion.test_steps import in_canary, in_shadow

BUSINESS = {"business_metric": {"max_drop_percent": 10}}


def _settings(**changes: Any) -> BusinessAlarmSettings:
    values: dict[str, Any] = {
        "namespace": "Shop/Business",
        "metric_name": "ConversionRate",
        "statistic": "Average",
        "max_drop_percent": 10.0,
        "period_seconds": 60,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
    }
    return BusinessAlarmSettings(**{**values, **changes})


def _definition() -> dict[str, Any]:
    return business_alarm.definition(_settings(), endpoint="fraud", candidate_slot="green", production_slot="blue")


def test_the_alarm_compares_the_candidate_variant_with_the_production_variant() -> None:
    definition = _definition()

    metrics = {q["Id"]: q for q in definition["Metrics"]}
    dimensions = {
        query_id: {d["Name"]: d["Value"] for d in metrics[query_id]["MetricStat"]["Metric"]["Dimensions"]}
        for query_id in ("candidate", "production")
    }
    assert dimensions == {
        "candidate": {"EndpointName": "fraud", "VariantName": "green"},
        "production": {"EndpointName": "fraud", "VariantName": "blue"},
    }
    assert metrics["change"]["Expression"] == "100 * (candidate / production - 1)"
    assert definition["AlarmName"] == "fraud-green-business-drop"
    assert definition["Threshold"] == -10.0
    assert definition["ComparisonOperator"] == "LessThanThreshold"
    assert (definition["EvaluationPeriods"], definition["DatapointsToAlarm"]) == (3, 2)


def test_missing_data_breaches_during_the_canary() -> None:
    assert _definition()["TreatMissingData"] == "breaching"


def test_the_request_keeps_putmetricalarm_s_metric_math_rules() -> None:
    definition = _definition()

    # With Metrics: no top-level metric fields; at most 10 MetricStat and 10 Expression queries, one returned.
    assert not {"Namespace", "MetricName", "Dimensions", "Period", "Statistic", "ExtendedStatistic"} & definition.keys()
    stats = [q for q in definition["Metrics"] if "MetricStat" in q]
    expressions = [q for q in definition["Metrics"] if "Expression" in q]
    assert len(stats) <= 10
    assert len(expressions) <= 10
    assert [q["Id"] for q in definition["Metrics"] if q["ReturnData"]] == ["change"]
    assert {q["MetricStat"]["Period"] for q in stats} == {60}
    assert {q["MetricStat"]["Stat"] for q in stats} == {"Average"}


@pytest.mark.parametrize(
    ("candidate", "production", "breaches"),
    [
        (0.0170, 0.0200, True),
        (0.0185, 0.0200, False),
        (0.0250, 0.0200, False),
        # CloudWatch's metric math treats a missing value as 0 where the other series has one: a candidate with
        # no conversions while Production has some is a 100% drop; without Production there is no data point.
        (None, 0.0200, True),
        (0.0200, None, None),
    ],
)
def test_the_expression_is_the_relative_change_the_threshold_reads(
    candidate: float | None, production: float | None, breaches: bool | None
) -> None:
    definition = _definition()
    (expression,) = [q["Expression"] for q in definition["Metrics"] if "Expression" in q]

    change = evaluate_expression(expression, {"candidate": candidate, "production": production})

    if breaches is None:
        assert change is None  # missing: the alarm's TreatMissingData decides (breaching)
    else:
        assert change is not None
        assert (change < definition["Threshold"]) is breaches


def test_the_same_slot_on_both_sides_is_refused() -> None:
    with pytest.raises(ValueError, match="candidate and Production variants must differ"):
        business_alarm.definition(_settings(), endpoint="fraud", candidate_slot="blue", production_slot="blue")


@pytest.mark.parametrize("drop", [0, 100, -5])
def test_a_drop_outside_0_to_100_percent_is_refused(drop: float) -> None:
    with pytest.raises(ValidationError, match="max_drop_percent"):
        _settings(max_drop_percent=drop)


# -- the steps -------------------------------------------------------------------------------------------------------
def test_prepare_canary_puts_the_alarm_for_the_candidate_slot_against_the_serving_one() -> None:
    world = World(settings(alarms=BUSINESS))

    in_canary(world)

    definition = world.cloudwatch.definitions[f"{ENDPOINT}-green-business-drop"]
    variants = [q["MetricStat"]["Metric"]["Dimensions"][1]["Value"] for q in definition["Metrics"][:2]]
    assert variants == ["green", "blue"]
    assert definition["Threshold"] == -10.0


def test_a_business_drop_in_alarm_fails_the_rollout() -> None:
    world = World(settings(alarms=BUSINESS))
    state = world.run("shift_traffic", in_canary(world))
    world.cloudwatch.alarms[f"{ENDPOINT}-green-business-drop"] = "ALARM"

    state = world.run("check_alarms", state)

    assert state["failure"]["Error"] == "RollbackAlarm"
    assert f"{ENDPOINT}-green-business-drop in ALARM at 5% candidate traffic" in state["failure"]["Cause"]


def test_the_alarm_is_deleted_when_the_rollout_completes() -> None:
    world = World(settings(alarms=BUSINESS))
    state = in_canary(world)
    for _ in state["plan"]["steps"]:
        state = world.run("shift_traffic", state)
        world.sagemaker.settle(ENDPOINT)

    world.run("complete_rollout", state)

    assert world.cloudwatch.definitions == {}


def test_the_alarm_is_deleted_when_the_canary_is_aborted() -> None:
    world = World(settings(alarms=BUSINESS))
    state = world.run("shift_traffic", in_canary(world))
    state["failure"] = {"Error": "RollbackAlarm", "Cause": "business drop"}

    world.run("abort_finish", state)

    assert world.cloudwatch.definitions == {}


def test_without_a_business_metric_no_alarm_is_put_or_checked() -> None:
    world = World(settings())
    state = world.run("shift_traffic", in_canary(world))

    state = world.run("check_alarms", state)

    assert world.cloudwatch.definitions == {}
    assert not any("business" in name for name in state["alarms"]["checked"])


def test_the_shadow_phase_puts_no_alarm() -> None:
    world = World(settings(alarms=BUSINESS))

    in_shadow(world)

    assert world.cloudwatch.definitions == {}
