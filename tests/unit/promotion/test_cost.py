"""The instance-hours a promotion used, from its milestones, and the estimate priced from ``cost.instance_prices``."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config
from mlops_kit.cli.promotion import cost_columns
from mlops_kit.promotion.cost import estimate, instance_hours, serverless_estimate

T0 = 1_767_225_600.0
HOUR = 3600.0


def test_a_canary_promotion_pays_the_shadow_until_the_comparison_and_both_variants_during_the_rollout() -> None:
    # Given a 10-hour promotion on 2 instances per variant: shadow for 1 h (removed before the approval wait),
    # the candidate alongside production for 3 h
    times = {
        "started": T0,
        "shadow_requested": T0 + 0.5 * HOUR,
        "shadow_removed": T0 + 1.5 * HOUR,
        "candidate_requested": T0 + 6 * HOUR,
        "previous_removed": T0 + 9 * HOUR,
    }

    hours = instance_hours(times, finished=T0 + 10 * HOUR, instance_count=2, endpoint_existed=True)

    assert hours == {"production": 20.0, "shadow": 2.0, "candidate": 6.0, "total": 28.0}


def test_a_first_deployment_has_only_the_candidate() -> None:
    times = {"started": T0, "candidate_requested": T0 + 60, "previous_removed": T0 + 660}

    hours = instance_hours(times, finished=T0 + 0.5 * HOUR, instance_count=1, endpoint_existed=False)

    assert hours == {"production": 0.0, "shadow": 0.0, "candidate": round((0.5 * HOUR - 60) / HOUR, 4), "total": 0.4833}


def test_an_aborted_promotion_pays_the_shadow_until_the_restore() -> None:
    times = {"started": T0, "shadow_requested": T0, "restored": T0 + 2 * HOUR}

    hours = instance_hours(times, finished=T0 + 3 * HOUR, instance_count=1, endpoint_existed=True)

    assert (hours["shadow"], hours["production"], hours["total"]) == (2.0, 3.0, 5.0)


def test_a_variant_still_up_when_the_record_is_written_counts_until_then() -> None:
    hours = instance_hours({"started": T0, "shadow_requested": T0}, finished=T0 + HOUR, instance_count=1,
                           endpoint_existed=True)  # fmt: skip

    assert hours["shadow"] == 1.0


@pytest.mark.parametrize(
    ("times", "count", "message"),
    [
        ({}, 1, "no 'started'"),
        ({"started": T0}, 0, "at least 1"),
        ({"started": float("nan")}, 1, "finite"),
    ],
)
def test_bad_times_are_refused_naming_what_is_wrong(times: dict[str, float], count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        instance_hours(times, finished=T0, instance_count=count, endpoint_existed=True)


def test_the_estimate_is_hours_times_the_configured_price() -> None:
    hours = {"production": 20.0, "shadow": 2.0, "candidate": 6.0, "total": 28.0}

    priced = estimate(hours, "ml.m5.large", {"ml.m5.large": 0.115})

    assert priced["estimate"] == pytest.approx(3.22)
    assert priced["price_per_hour"] == 0.115
    assert cost_columns(priced) == ("28.00 (shadow 2.00, candidate 6.00)", "3.22")


def test_an_unpriced_instance_type_says_which_price_is_missing() -> None:
    priced = estimate({"total": 1.0, "shadow": 0.0, "candidate": 0.0}, "ml.g5.xlarge", {"ml.m5.large": 0.115})

    assert priced["estimate"] is None
    assert priced["unpriced"] == "no price for ml.g5.xlarge in cost.instance_prices"
    assert cost_columns(priced)[1] == "unpriced (ml.g5.xlarge)"
    assert cost_columns(None) == ("-", "-")


def test_the_price_table_is_empty_by_default_and_validated() -> None:
    assert load_config({}).cost.instance_prices == {}
    assert load_config({"cost": {"instance_prices": {"ml.m5.large": 0.115}}}).cost.instance_prices == {
        "ml.m5.large": 0.115
    }
    refused = (({"m5.large": 0.1}, "m5.large"), ({"ml.m5.large": 0}, "above 0"), ({"ml.m5.large": "1"}, "prices"))
    for bad, named in refused:
        with pytest.raises(ConfigError, match=named):
            load_config({"cost": {"instance_prices": bad}})


def test_a_serverless_record_has_no_instance_hours_and_says_what_it_counts() -> None:
    times = {"started": 0.0, "candidate_requested": 600.0, "previous_removed": 900.0}
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2}

    provisioned = serverless_estimate(times, finished=3600.0, endpoint_existed=True, serverless=serverless)
    on_demand = serverless_estimate(
        times, finished=3600.0, endpoint_existed=True, serverless={"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    )

    # Production the whole hour and the candidate from 600 s to 900 s hold 2 provisioned invocations of 2 GB.
    assert provisioned["provisioned_gb_hours"] == pytest.approx((1.0 + 300 / 3600) * 2 * 2, abs=1e-3)
    assert provisioned["instance_hours"] is None
    assert provisioned["estimate"] is None
    assert cost_columns(provisioned) == ("serverless", "provisioned 4.33 GB-h, unpriced")
    assert cost_columns(on_demand) == ("serverless", "unmetered")
