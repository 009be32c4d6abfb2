"""The optional ``batch`` config section: defaults, and each mistake named with what to write instead."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config


def test_the_section_is_optional_and_schedules_nothing_by_default() -> None:
    batch = load_config({}).batch

    assert batch.schedule is None
    assert batch.id_column == "transaction_id"
    assert batch.time_column is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"schedule": "cron(0 2 * * ? *)"}, "mlops.batch: schedule needs schedule_input: the file or folder under"),
        ({"schedule": "daily", "schedule_input": "d/"}, "mlops.batch.schedule: must be a rate(value unit) or cron"),
        ({"schedule_input": "/abs/"}, "mlops.batch.schedule_input: must be a key or folder relative to"),
        ({"schedule_input": "a/../b"}, "no leading / and no .."),
        ({"id_column": ""}, "mlops.batch.id_column: String should have at least 1 character"),
        ({"time_column": "transaction_id"}, "time_column and id_column are both 'transaction_id'"),
        ({"job_volume_gb": "30"}, "mlops.batch.job_volume_gb: Input should be a valid integer: write a JSON integer"),
        ({"created_before_row": 1}, "mlops.batch.created_before_row: Input should be a valid boolean: write true"),
        ({"shedule": "rate(1 day)"}, "mlops.batch.shedule: unknown key; allowed keys here: created_before_row"),
    ],
)
def test_a_bad_batch_section_is_refused_naming_the_key(section: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"batch": section})

    assert message in str(raised.value)
