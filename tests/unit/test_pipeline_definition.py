"""The pipeline definition's one hold on the SageMaker SDK's internals: its config is validated once per build
(``config_validated_once``). These tests fail loudly when an SDK upgrade moves or renames what it replaces."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from mlops_kit.pipeline.definition import SDK_CONFIG_VALIDATOR, _offline_sdk_environment, config_validated_once

CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
TELEMETRY = "SageMaker.PythonSDK.Modules.TelemetryOptOut"


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK module holding the validator, with every JSON-schema validation it makes counted."""
    _offline_sdk_environment("us-east-1")
    module = importlib.import_module(SDK_CONFIG_VALIDATOR[0])
    calls: list[Any] = []
    real = module.jsonschema.validate

    def counted(instance: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(instance)
        real(instance, schema, *args, **kwargs)

    monkeypatch.setattr(module.jsonschema, "validate", counted)
    return SimpleNamespace(owner=getattr(module, SDK_CONFIG_VALIDATOR[1]), calls=calls)


def test_the_validator_is_a_static_method_the_config_lookup_goes_through(sdk: Any) -> None:
    from sagemaker.core.common_utils import get_sagemaker_config_value

    assert isinstance(sdk.owner.__dict__[SDK_CONFIG_VALIDATOR[2]], staticmethod)
    assert get_sagemaker_config_value(None, TELEMETRY, sagemaker_config=CONFIG) is True
    assert get_sagemaker_config_value(None, TELEMETRY, sagemaker_config=CONFIG) is True
    assert len(sdk.calls) == 2  # without the block: every lookup validates the whole config again


def test_within_the_block_each_config_is_validated_once_and_the_sdk_validator_comes_back(sdk: Any) -> None:
    from sagemaker.core.common_utils import get_sagemaker_config_value

    before = sdk.owner.__dict__[SDK_CONFIG_VALIDATOR[2]]
    other = {**CONFIG, "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": False}}}}
    with config_validated_once():
        for _ in range(5):
            assert get_sagemaker_config_value(None, TELEMETRY, sagemaker_config=CONFIG) is True
        assert get_sagemaker_config_value(None, TELEMETRY, sagemaker_config=other) is False
    assert sdk.calls == [CONFIG, other]
    assert sdk.owner.__dict__[SDK_CONFIG_VALIDATOR[2]] is before


def test_an_invalid_config_is_still_refused_within_the_block(sdk: Any) -> None:
    from sagemaker.core.common_utils import get_sagemaker_config_value

    bad = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": "yes"}}}}
    with config_validated_once(), pytest.raises(jsonschema.ValidationError):
        get_sagemaker_config_value(None, TELEMETRY, sagemaker_config=bad)
