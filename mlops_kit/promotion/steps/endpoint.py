"""Models, endpoint configs and endpoint reads shared by the steps that deploy."""

from __future__ import annotations

from typing import Any

from mlops_kit.promotion.context import Promotion


def _short(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1][-8:].replace("-", "")[-8:] or "manual"


def describe(promotion: Promotion) -> dict[str, Any] | None:
    """The endpoint's description, or None when it does not exist."""
    sagemaker = promotion.aws.sagemaker
    try:
        return dict(sagemaker.describe_endpoint(EndpointName=promotion.endpoint_name))
    except sagemaker.exceptions.ClientError as exc:
        if "Could not find endpoint" in str(exc):
            return None
        raise


def create_model(promotion: Promotion, state: dict[str, Any], arn: str, version: int, slot: str) -> str:
    endpoint = promotion.settings.endpoint
    sagemaker = promotion.aws.sagemaker
    name = f"{endpoint.name}-v{version}-{slot}-{_short(state['execution'])}"[:63]
    container = dict(sagemaker.describe_model_package(ModelPackageName=arn)["InferenceSpecification"]["Containers"][0])
    environment = {
        **container.get("Environment", {}),
        **endpoint.serving_environment,
        "MLOPS_MODEL_VERSION": str(version),
        "MLOPS_MODEL_PACKAGE_ARN": arn,
        "MLOPS_VARIANT": slot,
    }
    try:
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=endpoint.model_role_arn,
            PrimaryContainer={
                "Image": container["Image"],
                "ModelDataUrl": container["ModelDataUrl"],
                "Environment": environment,
            },
        )
    except sagemaker.exceptions.ClientError as exc:
        if "already exist" not in str(exc).lower():
            raise
    return name


def candidate_model(promotion: Promotion, state: dict[str, Any], slot: str) -> str:
    """The candidate's model for ``slot`` (created once per execution; recorded in the plan)."""
    plan = state["plan"]
    model = plan.get("candidate_model") or create_model(
        promotion, state, state["candidate"]["arn"], state["candidate"]["version"], slot
    )
    plan["candidate_model"] = model
    return str(model)


def variant(promotion: Promotion, slot: str, model: str, weight: float) -> dict[str, Any]:
    endpoint = promotion.settings.endpoint
    return {
        "VariantName": slot,
        "ModelName": model,
        "InitialInstanceCount": endpoint.initial_instance_count,
        "InstanceType": endpoint.instance_type,
        "InitialVariantWeight": weight,
    }


def create_config(
    promotion: Promotion,
    state: dict[str, Any],
    purpose: str,
    variants: list[dict[str, Any]],
    shadow: dict[str, Any] | None = None,
) -> str:
    endpoint = promotion.settings.endpoint
    sagemaker = promotion.aws.sagemaker
    name = f"{endpoint.name}-{purpose}-{_short(state['execution'])}"[:63]
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": endpoint.capture_sampling_percent,
        "DestinationS3Uri": endpoint.capture_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    if endpoint.capture_kms_key_id:
        capture["KmsKeyId"] = endpoint.capture_kms_key_id
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": variants, "DataCaptureConfig": capture}
    if shadow:
        request["ShadowProductionVariants"] = [shadow]
    try:
        sagemaker.create_endpoint_config(**request)
    except sagemaker.exceptions.ClientError as exc:
        if "already exist" not in str(exc).lower():
            raise
    return name


def current_model(promotion: Promotion, state: dict[str, Any]) -> str:
    """The model the serving slot runs in the endpoint config the promotion started from."""
    plan = state["plan"]
    config = promotion.aws.sagemaker.describe_endpoint_config(EndpointConfigName=plan["original_config"])
    for entry in config["ProductionVariants"]:
        if entry["VariantName"] == plan["current_slot"]:
            return str(entry["ModelName"])
    return str(config["ProductionVariants"][0]["ModelName"])


def update(promotion: Promotion, config: str, **extra: Any) -> None:
    promotion.aws.sagemaker.update_endpoint(EndpointName=promotion.endpoint_name, EndpointConfigName=config, **extra)
