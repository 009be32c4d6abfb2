"""One way for handlers to read their settings: one JSON variable, one model, errors that name the field."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from mlops_kit.environment import HandlerSettings, SettingsError, read_settings


class Example(HandlerSettings):
    VARIABLE: ClassVar[str] = "MLOPS_EXAMPLE_SETTINGS"

    table: str
    retries: int


def test_settings_written_for_a_function_read_back_the_same() -> None:
    settings = Example(table="t", retries=3)

    assert read_settings(Example, settings.environment()) == settings


def test_the_construct_can_serialize_through_its_own_function() -> None:
    environment = Example(table="t", retries=3).environment(lambda data: json.dumps(data, sort_keys=True))

    assert environment == {"MLOPS_EXAMPLE_SETTINGS": '{"retries": 3, "table": "t"}'}


def test_a_missing_variable_says_which_and_how_it_is_set() -> None:
    with pytest.raises(SettingsError, match=r"MLOPS_EXAMPLE_SETTINGS is not set.*CDK construct"):
        read_settings(Example, {})


def test_a_missing_or_unknown_field_is_named() -> None:
    with pytest.raises(SettingsError) as raised:
        read_settings(Example, {"MLOPS_EXAMPLE_SETTINGS": '{"table": "t", "retry": 3}'})

    assert "retries: Field required" in str(raised.value)
    assert "retry: Extra inputs are not permitted" in str(raised.value)
