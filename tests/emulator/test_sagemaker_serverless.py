"""Serverless endpoints in the emulator: what SageMaker documents for ``ServerlessConfig`` and refuses around it
(mlops_local/constraints.py for CreateEndpointConfig, mlops_local/sagemaker/endpoints.py for UpdateEndpoint)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from tests.emulator.test_sagemaker_endpoints import hosting, invoke, wait_in_service  # noqa: F401  (fixture)

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


def _serverless(name: str, model: str, **config: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "ServerlessConfig": {**SERVERLESS, **config}}


def _instances(name: str, model: str) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}


def _refusal(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return str(caught.value.response["Error"]["Message"])


def test_a_serverless_endpoint_serves_its_model_without_capture(emulator: Emulator, hosting) -> None:  # noqa: F811
    model, _ = hosting
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint_config(
        EndpointConfigName="sl", ProductionVariants=[_serverless("blue", model("m1", 2.0), ProvisionedConcurrency=2)]
    )

    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="sl")
    wait_in_service(emulator, "ep")

    described = sagemaker.describe_endpoint_config(EndpointConfigName="sl")["ProductionVariants"][0]
    assert described["ServerlessConfig"] == {**SERVERLESS, "ProvisionedConcurrency": 2}
    assert invoke(emulator, "ep", {"x": 3}) == ({"y": 6.0, "model": "m1"}, "blue")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"MemorySizeInMB": 1500}, "MemorySizeInMB must be 1024, 2048, 3072, 4096, 5120 or 6144"),
        ({"ProvisionedConcurrency": 6}, "ProvisionedConcurrency (6) must be less than or equal to MaxConcurrency (5)"),
    ],
)
def test_serverless_config_values_the_model_does_not_carry_are_refused(
    emulator: Emulator,
    hosting,  # noqa: F811
    config: dict[str, Any],
    expected: str,
) -> None:
    model, _ = hosting
    variant = _serverless("blue", model("m1", 1.0), **config)

    sagemaker = emulator.client("sagemaker")

    message = _refusal(lambda: sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant]))

    assert expected in message


def test_the_models_range_still_applies_to_memory(emulator: Emulator, hosting) -> None:  # noqa: F811
    model, _ = hosting
    variant = _serverless("blue", model("m1", 1.0), MemorySizeInMB=8192)

    sagemaker = emulator.client("sagemaker")

    message = _refusal(lambda: sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant]))

    assert "Member must have value less than or equal to 6144" in message


def test_what_serverless_endpoints_do_not_support_is_refused(emulator: Emulator, hosting) -> None:  # noqa: F811
    model, _ = hosting
    m1, m2 = model("m1", 1.0), model("m2", 2.0)
    sagemaker = emulator.client("sagemaker")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://models-bucket/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    refused = {
        "multiple production variants": {"ProductionVariants": [_serverless("a", m1), _serverless("b", m2)]},
        "ShadowProductionVariants": {
            "ProductionVariants": [_serverless("a", m1)],
            "ShadowProductionVariants": [_serverless("shadow", m2)],
        },
        "DataCaptureConfig": {"ProductionVariants": [_serverless("a", m1)], "DataCaptureConfig": capture},
        "KmsKeyId": {"ProductionVariants": [_serverless("a", m1)], "KmsKeyId": "alias/some-key"},
    }
    for index, (what, request) in enumerate(refused.items()):
        message = _refusal(lambda r=request, i=index: sagemaker.create_endpoint_config(EndpointConfigName=f"c{i}", **r))
        assert f"Serverless endpoint configurations do not support {what}" in message
    both = {**_serverless("a", m1), "InstanceType": "ml.m5.large"}
    assert "instead of instances" in _refusal(
        lambda: sagemaker.create_endpoint_config(EndpointConfigName="both", ProductionVariants=[both])
    )
    assert not sagemaker.list_endpoint_configs()["EndpointConfigs"]


def test_an_instance_based_endpoint_cannot_become_serverless_the_other_way_works(
    emulator: Emulator,
    hosting,  # noqa: F811
) -> None:
    model, _ = hosting
    m1 = model("m1", 1.0)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint_config(EndpointConfigName="inst", ProductionVariants=[_instances("blue", m1)])
    sagemaker.create_endpoint_config(EndpointConfigName="sl", ProductionVariants=[_serverless("blue", m1)])
    sagemaker.create_endpoint(EndpointName="on-instances", EndpointConfigName="inst")
    sagemaker.create_endpoint(EndpointName="serverless", EndpointConfigName="sl")
    wait_in_service(emulator, "on-instances")
    wait_in_service(emulator, "serverless")

    message = _refusal(lambda: sagemaker.update_endpoint(EndpointName="on-instances", EndpointConfigName="sl"))
    sagemaker.update_endpoint(EndpointName="serverless", EndpointConfigName="inst")

    assert "cannot be converted to a serverless endpoint" in message
    assert sagemaker.describe_endpoint(EndpointName="on-instances")["EndpointConfigName"] == "inst"
    assert wait_in_service(emulator, "serverless")["EndpointConfigName"] == "inst"


def test_a_serverless_endpoint_takes_no_rolling_deployment(emulator: Emulator, hosting) -> None:  # noqa: F811
    model, _ = hosting
    m1, m2 = model("m1", 1.0), model("m2", 2.0)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_endpoint_config(EndpointConfigName="one", ProductionVariants=[_serverless("blue", m1)])
    sagemaker.create_endpoint_config(EndpointConfigName="two", ProductionVariants=[_serverless("blue", m2)])
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="one")
    wait_in_service(emulator, "ep")
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 60,
        }
    }

    message = _refusal(
        lambda: sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="two", DeploymentConfig=rolling)
    )
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="two")

    assert "RollingUpdatePolicy is not supported for serverless endpoints" in message
    assert wait_in_service(emulator, "ep")["EndpointConfigName"] == "two"
    assert invoke(emulator, "ep", {"x": 1})[0] == {"y": 2.0, "model": "m2"}
