"""The one endpoint deployer: names within SageMaker's rules, creation by describing what exists, updates that
keep capacity and respect autoscaling, progress read from the requested config."""

from __future__ import annotations

import pytest

from mlops_kit.serving.deploy import (
    NAME_PATTERN,
    ConfigSpec,
    DeploymentError,
    EndpointDeployer,
    ModelSpec,
    Variant,
    resource_prefix,
    unique_name,
)
from tests.unit.promotion.fakes import FakeAutoscaling, FakeSageMaker

ENDPOINT = "fraud-endpoint"


def spec(version: int = 1, **changes: object) -> ModelSpec:
    base = ModelSpec(
        image="sklearn:1.9-0",
        model_data_url=f"s3://artifacts/models/v{version}/model.tar.gz",
        environment={"MLOPS_MODEL_VERSION": str(version)},
        role_arn="arn:aws:iam::123456789012:role/model",
    )
    return ModelSpec(**{**base.__dict__, **changes})


def deployer(endpoint: str = ENDPOINT) -> EndpointDeployer:
    autoscaling = FakeAutoscaling()
    return EndpointDeployer(FakeSageMaker(autoscaling), autoscaling, endpoint)


def serving(d: EndpointDeployer, *variants: Variant) -> str:
    config = d.config("seed", ConfigSpec(tuple(variants)))
    d.create(config)
    d.sagemaker.settle(d.endpoint_name)
    return config


# -- names ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["e", ENDPOINT, "a" * 63, "a-" * 31 + "b"])
def test_names_fit_sagemakers_pattern_and_share_the_endpoints_prefix(endpoint: str) -> None:
    name = unique_name(endpoint, "v12345-green", {"any": "request"})

    assert NAME_PATTERN.fullmatch(name)
    assert len(name) <= 63
    assert name.startswith(resource_prefix(endpoint) + "-")


def test_requests_that_differ_get_different_names_however_long_the_endpoint() -> None:
    endpoint = "a" * 63
    names = {unique_name(endpoint, "canary-config-for-promotion", {"execution": i}) for i in range(1000)}

    assert len(names) == 1000


def test_the_same_request_gets_the_same_name() -> None:
    assert unique_name(ENDPOINT, "final", {"a": 1, "b": 2}) == unique_name(ENDPOINT, "final", {"b": 2, "a": 1})


def test_a_label_with_characters_sagemaker_refuses_is_an_error() -> None:
    with pytest.raises(ValueError, match="letters, digits and hyphens"):
        unique_name(ENDPOINT, "v1_green", {})


# -- models and configs ---------------------------------------------------------------------------------------------
def test_a_model_is_created_once_and_found_again_by_describing_what_exists() -> None:
    d = deployer()

    first = d.model("v1-blue", spec())
    second = d.model("v1-blue", spec())

    assert first == second
    assert len(d.sagemaker.requests("CreateModel")) == 1


def test_a_model_keeps_the_network_settings_of_the_model_it_is_modelled_on() -> None:
    d = deployer()
    vpc = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    serving_model = d.model("v1-blue", spec(vpc_config=vpc, network_isolation=True))

    name = d.model("v2-green", ModelSpec.like(d.sagemaker.describe_model(ModelName=serving_model),
                                              model_data_url="s3://artifacts/models/v2/model.tar.gz"))  # fmt: skip

    created = d.sagemaker.models[name]
    assert created["VpcConfig"] == vpc
    assert created["EnableNetworkIsolation"] is True


def test_a_shadow_config_has_exactly_one_production_variant() -> None:
    a, b = Variant("blue", "m1", "ml.m5.large", 1), Variant("green", "m2", "ml.m5.large", 1)

    with pytest.raises(ValueError, match="exactly one production variant"):
        ConfigSpec((a, b), shadow=Variant("shadow", "m3", "ml.m5.large", 1))


SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


def test_a_serverless_variant_sends_its_serverless_config_instead_of_instances() -> None:
    variant = Variant("blue", "m1", "ml.m5.large", 1, serverless=SERVERLESS)

    request = ConfigSpec((variant,)).request()["ProductionVariants"][0]

    assert request == {"VariantName": "blue", "ModelName": "m1", "ServerlessConfig": SERVERLESS,
                       "InitialVariantWeight": 1.0}  # fmt: skip
    assert Variant.from_config(request) == Variant("blue", "m1", "", 1, serverless=SERVERLESS)


@pytest.mark.parametrize(
    ("changes", "unsupported"),
    [
        ({"variants": 2}, "multiple production variants"),
        ({"shadow": True}, "a shadow variant"),
        ({"data_capture": {"EnableCapture": True}}, "data capture"),
        ({"kms_key_id": "alias/k"}, "a KMS key"),
    ],
)
def test_a_serverless_config_refuses_what_serverless_endpoints_do_not_support(
    changes: dict[str, object], unsupported: str
) -> None:
    a = Variant("blue", "m1", "", 1, serverless=SERVERLESS)
    variants = (a, Variant("green", "m2", "", 1, serverless=SERVERLESS)) if changes.pop("variants", 1) == 2 else (a,)
    shadow = Variant("shadow", "m3", "", 1, serverless=SERVERLESS) if changes.pop("shadow", False) else None

    with pytest.raises(ValueError, match=f"a serverless endpoint config cannot have {unsupported}"):
        ConfigSpec(variants, shadow, **changes)  # type: ignore[arg-type]


# -- updates --------------------------------------------------------------------------------------------------------
def test_an_update_retains_instance_counts_but_not_weights_or_capture() -> None:
    d = deployer()
    blue = Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1)
    serving(d, blue)
    config = d.config("canary", ConfigSpec((blue, Variant("green", d.model("v2", spec(2)), "ml.m5.large", 1, 0.0))))

    d.update(config)

    request = d.sagemaker.requests("UpdateEndpoint")[-1]
    assert request["RetainAllVariantProperties"] is True
    assert {p["VariantPropertyType"] for p in request["ExcludeRetainedVariantProperties"]} == {
        "DesiredWeight", "DataCaptureConfig",
    }  # fmt: skip


def test_an_update_that_removes_an_autoscaled_variant_deregisters_it_first() -> None:
    d = deployer()
    blue = Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1)
    serving(d, blue)
    d.autoscale("blue", minimum=1, maximum=4, invocations_per_instance=1000)
    config = d.config("final", ConfigSpec((Variant("green", d.model("v2", spec(2)), "ml.m5.large", 1),)))

    request = d.update(config)

    assert request.deregistered == ["blue"]
    assert d.autoscaling.policies == {}
    assert not d.autoscaled("blue")


def test_an_update_that_changes_an_autoscaled_variants_instance_type_deregisters_it() -> None:
    d = deployer()
    model = d.model("v1", spec(1))
    serving(d, Variant("blue", model, "ml.m5.large", 1))
    d.autoscale("blue", minimum=1, maximum=4, invocations_per_instance=1000)

    request = d.update(d.config("bigger", ConfigSpec((Variant("blue", model, "ml.c5.xlarge", 1),))))

    assert request.deregistered == ["blue"]


def test_an_update_that_keeps_the_autoscaled_variant_leaves_autoscaling_alone() -> None:
    d = deployer()
    serving(d, Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1))
    d.autoscale("blue", minimum=1, maximum=4, invocations_per_instance=1000)

    request = d.update(d.config("guarded", ConfigSpec((Variant("blue", d.model("v2", spec(2)), "ml.m5.large", 1),))))

    assert request.deregistered == []
    assert d.autoscaled("blue")


def test_an_update_while_another_is_in_progress_is_refused() -> None:
    d = deployer()
    serving(d, Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1))
    d.update(d.config("one", ConfigSpec((Variant("blue", d.model("v2", spec(2)), "ml.m5.large", 1),))))

    with pytest.raises(DeploymentError, match="another change is in progress"):
        d.update(d.config("two", ConfigSpec((Variant("blue", d.model("v3", spec(3)), "ml.m5.large", 1),))))


def test_an_update_to_the_config_the_endpoint_serves_is_not_repeated() -> None:
    d = deployer()
    config = serving(d, Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1))

    d.update(config)

    assert d.sagemaker.requests("UpdateEndpoint") == []


# -- progress -------------------------------------------------------------------------------------------------------
def test_progress_is_done_only_in_service_on_the_requested_config() -> None:
    d = deployer()
    serving(d, Variant("blue", d.model("v1", spec(1)), "ml.m5.large", 1))
    config = d.config("next", ConfigSpec((Variant("blue", d.model("v2", spec(2)), "ml.m5.large", 1),)))
    d.update(config)
    assert d.progress(config).state == "in_progress"

    d.sagemaker.fail_next_update("ResourceLimitExceeded")
    d.sagemaker.settle(ENDPOINT)

    progress = d.progress(config)
    assert progress.state == "failed"
    assert progress.status == "InService"
    assert "ResourceLimitExceeded" in progress.reason


def test_progress_of_a_missing_endpoint_is_a_failure() -> None:
    assert deployer().progress("any").state == "failed"
