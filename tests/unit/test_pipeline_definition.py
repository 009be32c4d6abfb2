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


def test_image_uris_equal_the_sdks_in_every_region_of_its_table() -> None:
    from typing import get_args

    from cdk.config import SklearnVersion
    from mlops_kit.pipeline.definition import ImageScope, _sklearn_images, image_uri

    _offline_sdk_environment("us-east-1")
    from sagemaker.core import image_uris

    compared = 0
    scopes: tuple[tuple[ImageScope, str], ...] = (("training", "training"), ("inference", "inference"))
    for version in get_args(SklearnVersion):
        for scope, image_scope in scopes:
            for region in _sklearn_images()[image_scope]["versions"][version]["registries"]:
                expected = image_uris.retrieve("sklearn", region, version=version, image_scope=image_scope)
                assert image_uri(region, version, scope) == expected, (version, scope, region)
                compared += 1
    assert compared > 60  # every commercial region, China and GovCloud among them (retrieve takes 40 ms each)
    assert image_uri("eu-west-1", "1.9-0", "processing") == image_uri("eu-west-1", "1.9-0", "training")


def test_a_region_without_images_is_refused_naming_the_supported_ones() -> None:
    from mlops_kit.pipeline.definition import image_uri

    with pytest.raises(ValueError, match=r"Unsupported region: mars-east-1\. Supported region\(s\): .*us-east-1"):
        image_uri("mars-east-1", "1.9-0", "training")
    with pytest.raises(ValueError, match=r"Unsupported scikit-learn version: 0\.1-0"):
        image_uri("us-east-1", "0.1-0", "training")
