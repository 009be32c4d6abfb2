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
            {"account": TOOLING, "environments": {"staging": {"account": STAGING, "endpoint": "x"}}},
            "mlops.environments.staging.endpoint: unknown key",
        ),
    ],
)
def test_environments_that_cannot_be_deployed_are_refused_naming_what_to_change(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)

    assert expected in str(raised.value)


def test_an_environment_overrides_the_serving_instances_and_approvers_and_takes_the_rest_from_the_platform() -> None:
    config = load_config(
        {
            "account": TOOLING,
            "serving": {"instance_type": "ml.m5.large", "max_instance_count": 6},
            "approvals": {"approvers": ["arn:aws:iam::111111111111:role/Ops"]},
            "environments": {
                "staging": {"account": STAGING, "approvers": ["arn:aws:iam::111111111111:role/Qa"]},
                "production": {"account": PRODUCTION, "instance_type": "ml.c5.xlarge", "initial_instance_count": 2},
            },
        }
    )

    assert config.environment_endpoint_name("staging") == "mlops-kit-endpoint-staging"
    assert config.environment_serving("staging").instance_type == "ml.m5.large"
    production = config.environment_serving("production")
    assert (production.instance_type, production.initial_instance_count, production.max_instance_count) == (
        "ml.c5.xlarge", 2, 6,
    )  # fmt: skip
    assert config.environment_approvers("staging") == ["arn:aws:iam::111111111111:role/Qa"]
    assert config.environment_approvers("production") == ["arn:aws:iam::111111111111:role/Ops"]
    assert config.environment_neighbours("staging") == (None, "production")
    assert config.environment_neighbours("production") == ("staging", None)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"approvers": ["bob"]}, "environments.staging.approvers: not IAM role or user ARNs: ['bob']"),
        (
            {"initial_instance_count": 5},
            "environments.staging: max_instance_count (4) must be at least initial_instance_count (5)",
        ),
    ],
)
def test_bad_environment_overrides_are_refused_naming_the_environment(
    environment: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config({"account": TOOLING, "environments": {"staging": {"account": STAGING, **environment}}})


def test_instance_overrides_are_refused_for_a_serverless_platform() -> None:
    serverless = {"memory_size_in_mb": 2048, "max_concurrency": 5}
    with pytest.raises(ConfigError, match=r"environments\.staging sets instance_type, but serving\.serverless"):
        load_config(
            {
                "account": TOOLING,
                "serving": {"serverless": serverless},
                "rollout": {"mode": "all_at_once"},
                "environments": {"staging": {"account": STAGING, "instance_type": "ml.c5.xlarge"}},
            }
        )


def test_an_environment_whose_endpoint_name_would_be_too_long_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"environments\.production: the SageMaker endpoint"):
        load_config(
            {
                "account": TOOLING,
                "serving": {"endpoint_name": "e" * 55},
                "environments": {"production": {"account": PRODUCTION}},
            }
        )


# -- a serverless environment (environments.<name>.serverless) ---------------------------------------------------
SERVERLESS = {"memory_size_in_mb": 3072, "max_concurrency": 4}


def _environments(staging: dict[str, object], **platform: object) -> dict[str, object]:
    return {
        "account": TOOLING,
        "environments": {"staging": {"account": STAGING, **staging}, "production": {"account": PRODUCTION}},
        **platform,
    }


def test_a_serverless_staging_in_front_of_an_instance_backed_production_takes_the_all_at_once_path() -> None:
    # Guardrails need two instances (a canary of one is at most half the variant's).
    config = load_config(
        _environments({"serverless": SERVERLESS}, rollout={"mode": "guardrails"}, serving={"initial_instance_count": 2})
    )

    staging, production = config.environment_serving("staging"), config.environment_serving("production")
    assert staging.serverless is not None
    assert (staging.serverless.memory_size_in_mb, staging.serverless.max_concurrency) == (3072, 4)
    assert production.serverless is None
    assert config.environment_rollout_mode("staging") == "all_at_once"
    assert config.environment_rollout("staging").mode == "all_at_once"
    assert config.environment_rollout_mode("production") == config.rollout.mode == "guardrails"
    assert config.environment_rollout("production").approval_timeout_seconds == 24 * 3600  # the rest is shared


def test_an_environment_may_name_its_own_rollout_mode_and_a_serverless_platform_serves_every_environment() -> None:
    config = load_config(_environments({"rollout_mode": "guardrails", "initial_instance_count": 2}))
    assert config.environment_rollout_mode("staging") == "guardrails"
    assert config.environment_rollout_mode("production") == "staged"

    serverless = load_config(
        _environments({"serverless": SERVERLESS}, serving={"serverless": {}}, rollout={"mode": "all_at_once"})
    )
    assert serverless.environment_serving("staging").serverless.max_concurrency == 4  # type: ignore[union-attr]
    assert serverless.environment_serving("production").serverless.max_concurrency == 5  # type: ignore[union-attr]
    assert serverless.environment_rollout_mode("production") == "all_at_once"


@pytest.mark.parametrize(
    ("staging", "platform", "expected"),
    [
        (
            {"serverless": SERVERLESS, "instance_type": "ml.c5.xlarge", "initial_instance_count": 2},
            {},
            "environments.staging.serverless has no instances, so environments.staging instance_type, "
            "initial_instance_count would be ignored: remove them, or remove environments.staging.serverless",
        ),
        (
            {"serverless": SERVERLESS, "rollout_mode": "staged"},
            {},
            "environments.staging.serverless with environments.staging.rollout_mode 'staged': its shadow variant and "
            "canary need a second variant and data capture",
        ),
        (
            {"serverless": SERVERLESS, "rollout_mode": "guardrails"},
            {},
            "environments.staging.serverless with environments.staging.rollout_mode 'guardrails': SageMaker sizes "
            "canary and linear steps in instances",
        ),
        (
            {"rollout_mode": "staged"},
            {"serving": {"serverless": {}}, "rollout": {"mode": "all_at_once"}},
            "serving.serverless with environments.staging.rollout_mode 'staged'",
        ),
        (
            {"rollout_mode": "all_at_once"},
            {},
            "environments.staging.rollout_mode 'all_at_once' skips the shadow comparison and the canary, which "
            "instance-based endpoints have: it is for serverless environments only; set "
            "environments.staging.serverless",
        ),
        (
            {"serverless": SERVERLESS},
            {"alarms": {"business_metric": {"metric_name": "Conversions"}}},
            "environments.staging.serverless with alarms.business_metric: the alarm compares the candidate variant "
            "with the Production variant, and a serverless endpoint has one production variant",
        ),
        (
            {"rollout_mode": "guardrails", "initial_instance_count": 2},
            {"alarms": {"business_metric": {"metric_name": "Conversions"}}},
            "alarms.business_metric with environments.staging.rollout_mode 'guardrails'",
        ),
        (
            {"rollout_mode": "guardrails"},
            {},
            "environments.staging.rollout_mode 'guardrails' with the environment's initial_instance_count: a CANARY "
            "step of 10% of 1 instance(s)",
        ),
        (
            {"serverless": {"memory_size_in_mb": 1000}},
            {},
            "mlops.environments.staging.serverless.memory_size_in_mb: Input should be 1024, 2048",
        ),
        ({"rollout_mode": "blue_green"}, {}, "mlops.environments.staging.rollout_mode: Input should be 'staged'"),
    ],
)
def test_what_a_serverless_environment_does_not_support_is_refused_naming_the_key(
    staging: dict[str, object], platform: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_environments(staging, **platform))

    assert expected in str(raised.value)
