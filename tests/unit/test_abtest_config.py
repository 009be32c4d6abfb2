"""The ``mlops.abtest`` config section: safe defaults, a bad schedule named."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config


def test_the_status_job_is_hourly_and_the_http_router_optional_by_default() -> None:
    config = load_config({})

    assert config.abtest.status_schedule == "rate(1 hour)"
    assert config.abtest.http_router is False
    assert load_config({"abtest": {"http_router": True, "status_schedule": "cron(0 * * * ? *)"}}).abtest.http_router


def test_a_bad_schedule_or_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"mlops\.abtest\.status_schedule: must be a rate\(value unit\) or cron"):
        load_config({"abtest": {"status_schedule": "hourly"}})
    with pytest.raises(ConfigError, match=r"mlops\.abtest\.router: unknown key; allowed keys here: http_router"):
        load_config({"abtest": {"router": True}})
