"""`mlops promote` starts what a registry approval starts: the platform's promotion, or with environments the first
environment's (the serving stack's outputs say which)."""

from __future__ import annotations

import pytest

from mlops_kit.cli.promotion import promotion_start

MACHINES = "arn:aws:states:us-east-1:111111111111:stateMachine:"


def test_without_environments_the_platforms_promotion_starts() -> None:
    outputs = {"PromotionStateMachineArn": MACHINES + "Promotion"}

    assert promotion_start(outputs) == ("PromotionStateMachineArn", None)


def test_with_environments_the_first_environments_promotion_starts() -> None:
    outputs = {
        "PromotionStateMachineArn": MACHINES + "Promotion",
        "PromotionStagingStateMachineArn": MACHINES + "mlops-kit-promotion-staging",
        "PromotionProductionStateMachineArn": MACHINES + "mlops-kit-promotion-production",
        "PromotionEnvironments": "staging,production",
    }

    assert promotion_start(outputs) == ("PromotionStagingStateMachineArn", "staging")
    # The order is the config's, not the names'
    assert promotion_start({**outputs, "PromotionEnvironments": "production,staging"}) == (
        "PromotionProductionStateMachineArn",
        "production",
    )


def test_environments_without_the_first_ones_state_machine_are_refused_naming_what_to_do() -> None:
    outputs = {"PromotionStateMachineArn": MACHINES + "Promotion", "PromotionEnvironments": "staging,production"}

    with pytest.raises(ValueError, match=r"no output PromotionStagingStateMachineArn; deploy the serving stack again"):
        promotion_start(outputs)
