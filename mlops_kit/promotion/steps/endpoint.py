"""What the deploying steps share: the candidate's model, variants and configs (through the one deployer,
:mod:`mlops_kit.serving.deploy`), and the record of the change the workflow then waits for."""

from __future__ import annotations

import hashlib
from typing import Any

from mlops_kit.promotion.context import Promotion
from mlops_kit.promotion.settings import PollKind
from mlops_kit.serving.deploy import ConfigSpec, ModelSpec, Variant

# Environment every deployed model gets from the workflow (the inference script reports them).
SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"  # the inference code bundle the container downloads
PER_MODEL_ENVIRONMENT = ("MLOPS_MODEL_VERSION", "MLOPS_MODEL_PACKAGE_ARN", "MLOPS_VARIANT")


def candidate_model(promotion: Promotion, state: dict[str, Any], slot: str) -> str:
    """The candidate's model for ``slot``: its registry container, the platform's serving environment and the
    model role. The name is a digest of all that, so a retry (or a later step) finds the same model."""
    endpoint = promotion.settings.endpoint
    candidate = state["candidate"]
    described = promotion.registry_sagemaker.describe_model_package(ModelPackageName=candidate["arn"])
    container = described["InferenceSpecification"]["Containers"][0]
    registered = dict(container.get("Environment") or {})
    if registered.get(SUBMIT_DIRECTORY):
        registered[SUBMIT_DIRECTORY] = shared_code(promotion, registered[SUBMIT_DIRECTORY])
    spec = ModelSpec(
        image=container["Image"],
        model_data_url=container["ModelDataUrl"],
        environment={
            **registered,
            **endpoint.serving_environment,
            "MLOPS_MODEL_VERSION": str(candidate["version"]),
            "MLOPS_MODEL_PACKAGE_ARN": candidate["arn"],
            "MLOPS_VARIANT": slot,
        },
        role_arn=endpoint.model_role_arn,
    )
    model = promotion.deployer.model(f"v{candidate['version']}-{slot}", spec)
    state["plan"]["candidate_model"] = model
    return model


def shared_code(promotion: Promotion, uri: str) -> str:
    """Where the environment's model role reads the code bundle ``uri`` from: with environments, a copy under the
    artifacts bucket's shared prefix (``EnvironmentSettings.shared_code_uri``), named by the digest of ``uri`` (a
    retry, or another version with the same bundle, writes the same object); ``uri`` itself with one account, or
    when it is already under that prefix.

    Raises botocore's ClientError when the steps may not read ``uri`` (AccessDenied; NoSuchKey when it is gone)
    or write the copy; ValueError when ``uri`` is not an S3 URI."""
    environment = promotion.settings.target_environment
    if environment is None or environment.shared_code_uri is None or uri.startswith(environment.shared_code_uri):
        return uri
    if not uri.startswith("s3://") or "/" not in uri.removeprefix("s3://"):
        raise ValueError(f"{SUBMIT_DIRECTORY} of the candidate is {uri!r}, not an s3://bucket/key of a code bundle")
    bucket, _, key = environment.shared_code_uri.removeprefix("s3://").partition("/")
    target = f"{key}{hashlib.sha256(uri.encode()).hexdigest()[:32]}/sourcedir.tar.gz"
    source_bucket, _, source_key = uri.removeprefix("s3://").partition("/")
    # Copied on every call, never looked up first: a HeadObject of a missing key without s3:ListBucket is a 403,
    # and the same bytes under the same name make a rewrite harmless. Get and put rather than CopyObject: the
    # bundle is small, and each call is authorized as one plain read and one plain write.
    body = promotion.aws.s3.get_object(Bucket=source_bucket, Key=source_key)["Body"].read()
    promotion.aws.s3.put_object(Bucket=bucket, Key=target, Body=body)
    return f"s3://{bucket}/{target}"


def variant(promotion: Promotion, slot: str, model: str, weight: float) -> Variant:
    """``slot`` serving ``model``: on the platform's instances, or serverless (``serving.serverless``)."""
    endpoint = promotion.settings.endpoint
    serverless = endpoint.serverless.request() if endpoint.serverless else None
    return Variant(slot, model, endpoint.instance_type, endpoint.initial_instance_count, weight, serverless)


def config(promotion: Promotion, purpose: str, variants: list[Variant], shadow: Variant | None = None) -> str:
    """An endpoint config with the platform's data capture (created once; named by its content). A serverless
    endpoint gets none: serverless endpoints do not support data capture (Serverless Inference "Feature
    exclusions")."""
    endpoint = promotion.settings.endpoint
    if endpoint.serverless is not None:
        return promotion.deployer.config(purpose, ConfigSpec(tuple(variants), shadow))
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": endpoint.capture_sampling_percent,
        "DestinationS3Uri": endpoint.capture_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    if endpoint.capture_kms_key_id:
        capture["KmsKeyId"] = endpoint.capture_kms_key_id
    return promotion.deployer.config(purpose, ConfigSpec(tuple(variants), shadow, capture))


def current_model(promotion: Promotion, state: dict[str, Any]) -> str:
    """The model the serving slot runs in the config the promotion started from."""
    plan = state["plan"]
    described = promotion.aws.sagemaker.describe_endpoint_config(EndpointConfigName=plan["original_config"])
    for entry in described["ProductionVariants"]:
        if entry["VariantName"] == plan["current_slot"]:
            return str(entry["ModelName"])
    return str(described["ProductionVariants"][0]["ModelName"])


def await_change(
    promotion: Promotion,
    state: dict[str, Any],
    config: str,
    *,
    kind: PollKind = "update",
    weights: dict[str, float] | None = None,
    milestone: str | None = None,
) -> None:
    """Record the change the next polling loop waits for (``plan.awaiting``, read by ``check_endpoint``), with
    its bound: at most ``max_polls`` rounds of ``poll_seconds``. ``milestone``: marked (:func:`mark`) when the
    check sees the change done."""
    state["plan"]["awaiting"] = {
        "config": config,
        "weights": weights,
        "kind": kind,
        "polls": 0,
        "max_polls": promotion.settings.rollout.max_polls(kind),
        "milestone": milestone,
    }


def mark(promotion: Promotion, state: dict[str, Any], milestone: str) -> None:
    """Note when ``milestone`` happened on the promotion's clock (``plan.times``; the cost record reads them:
    :mod:`mlops_kit.promotion.cost`). A retried step keeps the first time."""
    state["plan"].setdefault("times", {}).setdefault(milestone, promotion.clock())
