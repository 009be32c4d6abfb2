"""moto's serializer reads stored ISO 8601 timestamps with fromisoformat: the same instants as botocore's reading."""

from __future__ import annotations

import datetime as dt

import botocore.utils
import moto.core.serialize
import pytest

from mlops_local.emulator import Emulator
from mlops_local.timestamps import fast_aware_datetime
from tests.emulator.conftest import make_role

VALUES = [
    "2026-12-07T10:00:00Z",
    "2026-12-07T10:00:00.123456Z",
    "2026-12-07T10:00:00.123+00:00",
    "2026-12-07T11:30:00+01:30",
    "2026-12-07T10:00:00",  # no offset: UTC, as botocore reads it
    "2026-12-07 10:00:00.5",
    "2026-12-07",
    "1765101600",  # an epoch number as text: botocore's own reading
    "1765101600.25",
    "Mon, 07 Dec 2026 10:00:00 GMT",  # not ISO 8601: botocore's own reading
    dt.datetime(2026, 12, 7, 10, 0),
    dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    1765101600,
]


@pytest.mark.parametrize("value", VALUES, ids=str)
def test_a_timestamp_is_the_instant_botocore_reads_in_utc(value: object) -> None:
    expected = botocore.utils.parse_to_aware_datetime(value)

    parsed = fast_aware_datetime(botocore.utils.parse_to_aware_datetime)(value)

    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)
    assert parsed.isoformat() == expected.isoformat()


def test_what_neither_reads_fails_as_botocore_fails() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        fast_aware_datetime(botocore.utils.parse_to_aware_datetime)("not a time")


def test_while_the_emulator_runs_responses_carry_the_stored_timestamps(emulator: Emulator) -> None:
    assert moto.core.serialize.parse_to_aware_datetime is not botocore.utils.parse_to_aware_datetime
    make_role(emulator, "sfn", "states.amazonaws.com", "states:StartExecution")
    sfn = emulator.client("stepfunctions")
    definition = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn")
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])

    described = emulator.wait_for_execution(execution["executionArn"])
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]

    assert described["startDate"] == execution["startDate"]
    assert described["startDate"].timestamp() == pytest.approx(emulator.clock.now(), abs=1)
    assert [e["timestamp"] for e in history] == sorted(e["timestamp"] for e in history)
    assert history[0]["timestamp"] == pytest.approx(described["startDate"], abs=dt.timedelta(seconds=1))
