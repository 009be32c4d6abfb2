"""The canary's business-metric alarm on the emulator: the alarm the promotion step puts evaluates the candidate
against Production every virtual minute, and ``CheckAlarms`` rolls the canary back on it."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_kit.promotion.context import Clients, Promotion
from mlops_kit.promotion.steps.canary import check_alarms, delete_business_alarm, put_business_alarm
from mlops_local.emulator import Emulator
from tests.unit.promotion.conftest import ENDPOINT, settings

NAMESPACE, METRIC = "MlopsKit/Business", "ConversionRate"
ALARM = f"{ENDPOINT}-green-business-drop"


@pytest.fixture
def promotion(emulator: Emulator) -> Promotion:
    """Staged rollout, business alarm at a 10% drop over 3 periods of 60 s (2 of 3 to alarm)."""
    clients = Clients(
        **{name: emulator.client(name) for name in ("sagemaker", "dynamodb", "sns", "cloudwatch", "s3")},
        autoscaling=emulator.client("application-autoscaling"),
    )
    return Promotion(settings(alarms={"business_metric": {"max_drop_percent": 10}}), clients, clock=emulator.clock.now)


def _minutes(emulator: Emulator, minutes: int, **rates: float) -> None:
    """Each virtual minute, the application reports the conversion rate of the variants in ``rates``."""
    for _ in range(minutes):
        emulator.client("cloudwatch").put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": slot}],
                    "Value": rate,
                }
                for slot, rate in rates.items()
            ],
        )
        emulator.advance(60)


def _check(promotion: Promotion) -> dict[str, Any]:
    return check_alarms(promotion, {"plan": {"candidate_slot": "green"}, "rollout": {"percent": 25}})


def _state(emulator: Emulator) -> str:
    return str(emulator.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"])


def test_a_candidate_converting_a_quarter_less_than_production_rolls_the_canary_back(
    emulator: Emulator, promotion: Promotion
) -> None:
    put_business_alarm(promotion, "green", "blue")

    _minutes(emulator, 4, blue=0.020, green=0.015)

    assert _state(emulator) == "ALARM"
    state = _check(promotion)
    assert state["failure"]["Error"] == "RollbackAlarm"
    assert f"{ALARM} in ALARM at 25% candidate traffic" in state["failure"]["Cause"]


def test_a_candidate_within_the_allowed_drop_goes_on(emulator: Emulator, promotion: Promotion) -> None:
    put_business_alarm(promotion, "green", "blue")

    # 5% below Production, and an endpoint-wide 0.019 that an absolute "below 0.02" alarm would have flagged.
    _minutes(emulator, 4, blue=0.020, green=0.019)

    assert _state(emulator) == "OK"
    assert "failure" not in _check(promotion)


def test_a_candidate_that_stops_reporting_the_metric_is_rolled_back(emulator: Emulator, promotion: Promotion) -> None:
    put_business_alarm(promotion, "green", "blue")

    _minutes(emulator, 2, blue=0.020)  # Production reports; the candidate's variant says nothing

    assert _state(emulator) == "ALARM"
    assert _check(promotion)["failure"]["Error"] == "RollbackAlarm"


def test_the_alarm_is_gone_after_the_canary(emulator: Emulator, promotion: Promotion) -> None:
    put_business_alarm(promotion, "green", "blue")

    delete_business_alarm(promotion, "green")
    delete_business_alarm(promotion, "green")  # a retried step: already gone is fine

    assert emulator.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"] == []
