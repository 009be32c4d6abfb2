"""The environments section: absent, one account trains and serves; present, each environment has its own account."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config

TOOLING, STAGING, PRODUCTION = "111111111111", "222222222222", "333333333333"


def test_no_environments_is_the_single_account_setup() -> None:
    config = load_config({})

    assert config.environments == {}
    assert config.environment_accounts == []


def test_environments_keep_their_promotion_order_and_default_to_the_platform_region() -> None:
    config = load_config(
        {
            "account": TOOLING,
            "region": "eu-west-1",
            "environments": {"staging": {"account": STAGING}, "production": {"account": PRODUCTION}},
        }
    )

    assert list(config.environments) == ["staging", "production"]
    assert config.environment_accounts == [STAGING, PRODUCTION]
    assert config.environments["production"].region is None


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"environments": {"staging": {"account": STAGING}}},
            "environments need account (the tooling account",
        ),
        (
            {"account": TOOLING, "environments": {"staging": {"account": TOOLING}}},
            "environments.staging.account is the tooling account 111111111111",
        ),
        (
            {"account": TOOLING, "environments": {"staging": {"account": STAGING}, "prod": {"account": STAGING}}},
            "environments.prod and environments.staging share account 222222222222",
        ),
        (
            {"account": TOOLING, "environments": {"staging": {"account": STAGING, "region": "eu-west-1"}}},
            "environments.staging.region 'eu-west-1' differs from region 'us-east-1'",
        ),
        (
            {"account": TOOLING, "environments": {"Prod-1": {"account": STAGING}}},
            "environment names ['Prod-1'] must be 1-16 lowercase letters and digits",
        ),
        ({"account": TOOLING, "environments": {"staging": {}}}, "mlops.environments.staging.account: Field required"),
        (
            {"account": TOOLING, "environments": {"staging": {"account": "2222"}}},
            "mlops.environments.staging.account: String should match pattern",
        ),
        (
            {"account": TOOLING, "environments": {"staging": {"account": STAGING, "approvers": []}}},
            "mlops.environments.staging.approvers: unknown key",
        ),
    ],
)
def test_environments_that_cannot_be_deployed_are_refused_naming_what_to_change(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)

    assert expected in str(raised.value)
