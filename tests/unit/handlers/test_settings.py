"""Every handler reads its settings on its first call, through its model: a deployment that forgot the variable
or a field fails that call with an error naming what is missing, before any event is handled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_kit.environment import SettingsError
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler
from tests.unit.handlers.examples import SETTINGS

# The first call of each handler; the settings are read before its event is looked at (the promotion steps
# validate their step envelope first).
FIRST_EVENT: dict[str, dict[str, Any]] = {"promotion": {"action": "Validate", "state": {}}}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_importing_a_handler_reads_no_settings(load_handler: LoadHandler, name: str) -> None:
    module = load_handler(name, None)  # no settings variable at all

    assert callable(module.handler)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_missing_settings_variable_fails_the_first_call_naming_it(
    load_handler: LoadHandler, context: FakeLambdaContext, name: str
) -> None:
    variable = type(SETTINGS[name]).VARIABLE
    module = load_handler(name, None)

    with pytest.raises(SettingsError, match=f"{variable} is not set"):
        module.handler(FIRST_EVENT.get(name, {}), context)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_settings_field_the_deployment_forgot_fails_the_first_call_naming_it(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    settings = SETTINGS[name]
    document = json.loads(settings.model_dump_json())
    forgotten = next(iter(document))
    del document[forgotten]
    module = load_handler(name, None)
    monkeypatch.setenv(type(settings).VARIABLE, json.dumps(document))

    with pytest.raises(SettingsError, match=rf"{type(settings).VARIABLE} is invalid .*{forgotten}: Field required"):
        module.handler(FIRST_EVENT.get(name, {}), context)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_malformed_settings_value_fails_the_first_call_naming_the_field(
    load_handler: LoadHandler, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    settings = SETTINGS[name]
    document = json.loads(settings.model_dump_json())
    field = next(iter(document))
    document[field] = [] if not isinstance(document[field], list) else "not a list"
    module = load_handler(name, None)
    monkeypatch.setenv(type(settings).VARIABLE, json.dumps(document))

    with pytest.raises(SettingsError, match=rf"{type(settings).VARIABLE} is invalid .*{field}"):
        module.handler(FIRST_EVENT.get(name, {}), context)
