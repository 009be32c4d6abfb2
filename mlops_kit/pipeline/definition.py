"""The training pipeline's SageMaker Pipeline definition, built with the SageMaker Python SDK (v3), offline.

Built at synth time with no AWS call (a botocore hook refuses any request, so nothing slips through) and
deployed by CDK as an ``AWS::SageMaker::Pipeline``. Resource names that only exist at deploy time (the
role, the buckets, the code assets) are written as placeholders (:data:`PLACEHOLDERS`) that the CDK
construct swaps for CloudFormation tokens; the local emulator runs the deployed definition as is.

Steps::

    BuildTrainingSet -> ValidateData -> DataValid? --no--> DataInvalid (Fail, with the report)
                                             |yes
                          Preprocess -> Train -> Evaluate -> Gate? --no--> GateRefused (Fail, with the reasons)
                                                               |yes
                                                            Register (PendingManualApproval, Staging)

The labels are the data bucket's ``labels/`` folder unless ``LabelsUri`` names a SageMaker manifest of a DVC
project's objects (``LabelsDataType`` ``ManifestFile``; ``LabelsSource`` carries the project, revision and hash,
which the lineage records: :mod:`mlops_kit.datasets.dvc`). The training set is point-in-time with
``created_before_label`` (by default ``where_created``: values created after a label's time do not count where a
group has a created time). The Evaluate step finds the group's current Production version in the registry itself, so
a run started from the console or the SDK is compared too. The gate decides on the test split, held out by row
identity (no job before Evaluate reads it), and passes when the candidate reaches ``MinPrimaryMetric``, beats
Production by ``MinImprovement`` and the configured baseline (prior rate or logistic regression) by
``MinBaselineImprovement``, its lineage is complete, and training and evaluation ran the same library versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from mlops_kit.registry import REQUIRED_LINEAGE
from mlops_kit.registry.lineage import DOCUMENT_KEYS, DOCUMENT_NAME

STEP_BUILD = "BuildTrainingSet"
STEP_VALIDATE = "ValidateData"
STEP_DATA_VALID = "DataValid"
STEP_DATA_INVALID = "DataInvalid"
STEP_PREPROCESS = "Preprocess"
STEP_TRAIN = "Train"
STEP_EVALUATE = "Evaluate"
STEP_GATE = "Gate"
STEP_GATE_REFUSED = "GateRefused"
STEP_REGISTER = "Register"

# Deploy-time values, as strings that look real enough for the SDK's validation; CDK swaps them for tokens.
ROLE_PLACEHOLDER = "arn:aws:iam::111111111111:role/mlopskit-placeholder-pipeline-role"
DATA_BUCKET_PLACEHOLDER = "mlopskit-placeholder-data-bucket"
ARTIFACTS_BUCKET_PLACEHOLDER = "mlopskit-placeholder-artifacts-bucket"
LAUNCHER_FILE_PLACEHOLDER = "mlopskit-placeholder-launcher.py"
LAUNCHER_PLACEHOLDER = f"s3://mlopskit-placeholder-code-bucket/{LAUNCHER_FILE_PLACEHOLDER}"
BUNDLE_PLACEHOLDER = "s3://mlopskit-placeholder-code-bucket/mlopskit-placeholder-sourcedir.tar.gz"
MLFLOW_PLACEHOLDER = "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/mlopskit-placeholder"
# Substitution order matters: whole URIs before the launcher's bare file name (the processing entrypoint
# names the file as the container downloads it, so it must become the asset's real object key).
PLACEHOLDERS = (
    ROLE_PLACEHOLDER,
    LAUNCHER_PLACEHOLDER,
    BUNDLE_PLACEHOLDER,
    LAUNCHER_FILE_PLACEHOLDER,
    DATA_BUCKET_PLACEHOLDER,
    ARTIFACTS_BUCKET_PLACEHOLDER,
    MLFLOW_PLACEHOLDER,
)

OFFLINE_PREFIX = "features"  # the offline feature store's prefix (mlops_kit.features.store.OFFLINE_PREFIX)
LABELS_PREFIX = "labels"
RUNS_PREFIX = "pipelines"
MODELS_PREFIX = "models"


ImageScope = Literal["training", "processing", "inference"]


def image_uri(region: str, sklearn_version: str, scope: ImageScope) -> str:
    """The pinned SageMaker scikit-learn image of ``scope`` in ``region`` (no AWS call). Processing jobs run the
    training image (it has the scientific stack the job scripts need).

    Read as ``sagemaker.core.image_uris.retrieve("sklearn", ...)`` reads it: the account from the SDK's own offline
    table (``image_uri_config/sklearn.json``), the ECR host name from botocore's endpoint data, the tag
    ``<version>-<processor>-<python>`` with the only processor and Python the table lists. Why not call it: importing
    the SDK took 1.9 s, at every synth and every config check (the region validator). ``tests/unit/
    test_pipeline_definition.py`` checks the two agree in every region of the table, for every pinned version.
    """
    image_scope = "inference" if scope == "inference" else "training"
    versions = _sklearn_images()[image_scope]["versions"]
    if sklearn_version not in versions:
        raise ValueError(
            f"Unsupported scikit-learn version: {sklearn_version}. Supported version(s): {', '.join(versions)}."
        )
    config = versions[sklearn_version]
    registries = config["registries"]
    if region not in registries:
        raise ValueError(f"Unsupported region: {region}. Supported region(s): {', '.join(registries)}.")
    endpoint = _endpoints().construct_endpoint("ecr", region) or {}
    hostname = endpoint.get("hostname") or f"ecr.{region}.amazonaws.com"  # as the SDK does for il-central-1
    tag = "-".join([sklearn_version, _only(config["processors"], "processor"), _only(config["py_versions"], "Python")])
    return f"{registries[region]}.dkr.{hostname}/{config['repository']}:{tag}"


def _only(values: list[str], what: str) -> str:
    if len(values) != 1:
        raise ValueError(f"the SDK's scikit-learn image table lists {values} as {what}s; the kit expects exactly one")
    return values[0]


@cache
def _sklearn_images() -> dict[str, Any]:
    """The SageMaker SDK's offline table of scikit-learn images, read without importing the SDK."""
    import importlib.util

    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the SageMaker SDK (sagemaker) is not installed; it holds the table of pinned images")
    table = Path(next(iter(spec.submodule_search_locations))) / "core" / "image_uri_config" / "sklearn.json"
    loaded: dict[str, Any] = json.loads(table.read_text())
    return loaded


@cache
def _endpoints() -> Any:
    """botocore's endpoint resolver (its bundled data), as the SDK builds it."""
    from botocore import loaders, regions

    return regions.EndpointResolver(loaders.create_loader().load_data("endpoints"))


def ecr_repository(uri: str) -> tuple[str, str]:
    """``(account, repository name)`` of an ECR image URI (``<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>``),
    for pull grants on exactly that repository."""
    registry, _, path = uri.partition("/")
    if not path or ".dkr.ecr." not in registry:
        raise ValueError(f"not an ECR image URI: {uri!r}")
    return registry.split(".", 1)[0], path.split("@", 1)[0].split(":", 1)[0]


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the definition depends on; built from the validated platform config
    (``cdk.config.PlatformConfig.pipeline_spec``), which holds the defaults."""

    pipeline_name: str
    region: str
    model_package_group: str
    use_case: str
    sklearn_version: str
    processing_instance_type: str
    processing_instance_count: int
    training_instance_type: str
    training_instance_count: int
    primary_metric: str
    min_primary_metric: float
    min_improvement: float
    seed: int
    code_commit: str
    hyperparameters: dict[str, float | int]
    baseline: Literal["prior_rate", "logistic_regression"] = "prior_rate"
    min_baseline_improvement: float = 0.05
    created_before_label: Literal["always", "where_created", "never"] = "where_created"
    mlflow_tracking_uri: str = "none"  # the pipeline parameter's default: runs log to the local store or nowhere

    def images(self) -> dict[str, str]:
        """Pinned container images (processing, training, inference) for the region; no AWS call."""
        scopes: tuple[ImageScope, ...] = ("training", "inference", "processing")
        return {scope: image_uri(self.region, self.sklearn_version, scope) for scope in scopes}


def _offline_sdk_environment(region: str) -> None:
    # The SDK reads these at import and otherwise calls IAM and the instance metadata service.
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"


def _offline_session(region: str) -> Any:
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    def refuse(request: Any, **_: Any) -> None:
        raise RuntimeError(f"the pipeline definition must be built offline, but the SDK called {request.url}")

    class OfflinePipelineSession(PipelineSession):
        def default_bucket(self) -> str:
            return ARTIFACTS_BUCKET_PLACEHOLDER

    boto_session = boto3.Session(region_name=region, aws_access_key_id="offline", aws_secret_access_key="offline")  # noqa: S106
    boto_session.events.register("before-send", refuse)
    # An explicit config keeps a developer's ~/.config/sagemaker/config.yaml out of the definition.
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    return OfflinePipelineSession(
        boto_session=boto_session, default_bucket=ARTIFACTS_BUCKET_PLACEHOLDER, sagemaker_config=config
    )


CACHE = Path.home() / ".cache" / "mlops-kit" / "pipeline-definitions"

# Where the SDK validates its config (see config_validated_once); tests/unit/test_pipeline_definition.py checks it.
SDK_CONFIG_VALIDATOR = ("sagemaker.core.config.config_manager", "SageMakerConfig", "validate_sagemaker_config")


@contextlib.contextmanager
def config_validated_once() -> Iterator[None]:
    """Within the block, the SageMaker SDK validates each distinct config against its JSON schema once.

    Why: the SDK validates the session's config on every config lookup (``get_sagemaker_config_value``), and
    ``jsonschema.validate`` first checks the SDK's large schema against the JSON Schema metaschema. Building the
    pipeline definition looked up the config 82 times: 6.3-6.6 s per build, most of a synth. The config is the same
    dict each time (:func:`_offline_session`'s), so validating it once checks exactly as much. The SDK's
    validator is put back when the block ends.
    """
    import importlib

    module_name, class_name, attribute = SDK_CONFIG_VALIDATOR
    owner = getattr(importlib.import_module(module_name), class_name)
    original = owner.__dict__[attribute]  # the staticmethod object itself, to put back as it was
    validate = original.__func__
    validated: set[str] = set()

    def once(sagemaker_config: dict[str, Any] | None = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=repr)
        if key not in validated:
            validate(sagemaker_config)  # raises on an invalid config, as the SDK would
            validated.add(key)

    setattr(owner, attribute, staticmethod(once))
    try:
        yield
    finally:
        setattr(owner, attribute, original)


def build_definition(spec: PipelineSpec, *, cache: Path | None = CACHE) -> str:
    """The pipeline definition JSON for ``spec`` (placeholders in place of deploy-time names).

    Building takes the SDK several seconds, so results are cached on disk by a key of the spec, this
    module's source and the SDK version; ``cache=None`` always builds.
    """
    key = _cache_key(spec)
    cached = cache / f"{key}.json" if cache else None
    if cached is not None and cached.exists():
        return cached.read_text()
    previous = logging.getLogger("sagemaker").level
    logging.getLogger("sagemaker").setLevel(logging.ERROR)  # it logs every field it pops or defaults
    try:
        _offline_sdk_environment(spec.region)
        with config_validated_once():
            definition = _build(spec)
    finally:
        logging.getLogger("sagemaker").setLevel(previous)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(definition)
        tmp.replace(cached)
    return definition


def _cache_key(spec: PipelineSpec) -> str:
    from importlib import metadata

    material = json.dumps(asdict(spec), sort_keys=True) + Path(__file__).read_text() + metadata.version("sagemaker")
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Parameters:
    """The pipeline's parameters (what StartPipelineExecution may override), with the spec's values as defaults."""

    labels_from: Any
    labels_to: Any
    labels_uri: Any
    labels_data_type: Any
    labels_source: Any
    processing_type: Any
    training_type: Any
    min_metric: Any
    min_improvement: Any
    baseline: Any
    min_baseline_improvement: Any
    code_commit: Any
    seed: Any
    tracking_uri: Any
    hyper: dict[str, Any]

    @classmethod
    def of(cls, spec: PipelineSpec) -> _Parameters:
        from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString

        hyper = spec.hyperparameters
        return cls(
            labels_from=ParameterString(name="LabelsFrom", default_value=""),
            labels_to=ParameterString(name="LabelsTo", default_value=""),
            # Where the labels are: the data bucket's labels/ folder, or (``mlops pipeline run --dvc-...``) a
            # SageMaker manifest of a DVC project's exact objects, with the project's revision and hash.
            labels_uri=ParameterString(
                name="LabelsUri", default_value=f"s3://{DATA_BUCKET_PLACEHOLDER}/{LABELS_PREFIX}/"
            ),
            labels_data_type=ParameterString(name="LabelsDataType", default_value="S3Prefix"),
            labels_source=ParameterString(name="LabelsSource", default_value=""),
            processing_type=ParameterString(name="ProcessingInstanceType", default_value=spec.processing_instance_type),
            training_type=ParameterString(name="TrainingInstanceType", default_value=spec.training_instance_type),
            min_metric=ParameterFloat(name="MinPrimaryMetric", default_value=spec.min_primary_metric),
            min_improvement=ParameterFloat(name="MinImprovement", default_value=spec.min_improvement),
            baseline=ParameterString(name="Baseline", default_value=spec.baseline),
            min_baseline_improvement=ParameterFloat(
                name="MinBaselineImprovement", default_value=spec.min_baseline_improvement
            ),
            code_commit=ParameterString(name="CodeCommit", default_value=spec.code_commit),
            seed=ParameterInteger(name="Seed", default_value=spec.seed),
            tracking_uri=ParameterString(name="MlflowTrackingUri", default_value=spec.mlflow_tracking_uri),
            hyper={
                "max_iter": ParameterInteger(name="MaxIter", default_value=int(hyper["max_iter"])),
                "learning_rate": ParameterFloat(name="LearningRate", default_value=float(hyper["learning_rate"])),
                "max_depth": ParameterInteger(name="MaxDepth", default_value=int(hyper["max_depth"])),
            },
        )

    def all(self) -> list[Any]:
        """Every parameter, in the order the pipeline definition lists them."""
        return [
            self.labels_from, self.labels_to, self.labels_uri, self.labels_data_type, self.labels_source,
            self.processing_type, self.training_type, self.min_metric,
            self.min_improvement, self.baseline, self.min_baseline_improvement, self.code_commit, self.seed,
            self.tracking_uri, *self.hyper.values(),
        ]  # fmt: skip


def _build(spec: PipelineSpec) -> str:
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        MetadataProperties,
        MetricsSource,
        ModelLifeCycle,
        ModelMetrics,
        ModelQuality,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.workflow.conditions import ConditionEquals, ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig
    from sagemaker.train.model_trainer import ModelTrainer

    session = _offline_session(spec.region)
    images = spec.images()

    params = _Parameters.of(spec)

    def run_uri(*parts: Any) -> Any:
        return Join(
            on="/",
            values=[
                f"s3://{ARTIFACTS_BUCKET_PLACEHOLDER}/{RUNS_PREFIX}",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                *parts,
            ],
        )

    def processing_input(name: str, source: Any, kind: Any = "S3Prefix") -> ProcessingInput:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(
                s3_uri=source, local_path=f"/opt/ml/processing/input/{name}", s3_data_type=kind, s3_input_mode="File"
            ),
        )

    def processing_output(step: str, name: str) -> ProcessingOutput:
        # <run>/<step>/<output>: S3Prefix inputs match by prefix, so "train" must not sit beside "training_set".
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=run_uri(step, name), local_path=f"/opt/ml/processing/output/{name}", s3_upload_mode="EndOfJob"
            ),
        )

    def processing_step(
        name: str,
        job: str,
        inputs: list[ProcessingInput],
        outputs: list[str],
        arguments: list[Any],
        property_files: list[Any] | None = None,
    ) -> Any:
        processor = ScriptProcessor(
            role=ROLE_PLACEHOLDER,
            image_uri=images["processing"],
            command=["python3"],
            instance_count=spec.processing_instance_count,
            instance_type=params.processing_type,
            base_job_name=f"{spec.pipeline_name}-{job.replace('_', '-')}"[:30],
            sagemaker_session=session,
        )
        step_args = processor.run(
            code=LAUNCHER_PLACEHOLDER,
            inputs=[processing_input("bundle", BUNDLE_PLACEHOLDER, "S3Prefix"), *inputs],
            outputs=[processing_output(name, o) for o in outputs],
            arguments=[job, "--use-case", spec.use_case, *arguments],
        )
        return ProcessingStep(name=name, step_args=step_args, property_files=property_files or [])

    def output_of(step: Any, name: str) -> Any:
        return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    build = processing_step(
        STEP_BUILD,
        "build_training_set",
        inputs=[
            processing_input("offline", f"s3://{DATA_BUCKET_PLACEHOLDER}/{OFFLINE_PREFIX}/"),
            processing_input("labels", params.labels_uri, params.labels_data_type),
        ],
        outputs=["training_set"],
        arguments=[
            "--labels-uri",
            params.labels_uri,
            "--labels-source",
            params.labels_source,
            "--labels-from",
            params.labels_from,
            "--labels-to",
            params.labels_to,
            "--created-before-label",
            spec.created_before_label,
        ],
    )
    validation_report = PropertyFile(name="Validation", output_name="validation", path="validation.json")
    validate = processing_step(
        STEP_VALIDATE,
        "validate",
        inputs=[processing_input("training_set", output_of(build, "training_set"))],
        outputs=["validation"],
        arguments=[],
        property_files=[validation_report],
    )
    preprocess = processing_step(
        STEP_PREPROCESS,
        "preprocess",
        inputs=[processing_input("training_set", output_of(build, "training_set"))],
        outputs=["train", "validation", "test"],
        arguments=["--seed", params.seed.to_string()],
    )
    trainer = ModelTrainer(
        training_image=images["training"],
        role=ROLE_PLACEHOLDER,
        sagemaker_session=session,
        compute=Compute(instance_type=params.training_type, instance_count=spec.training_instance_count),
        hyperparameters={
            # sklearn container script mode: the entry point inside the code bundle.
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": BUNDLE_PLACEHOLDER,
            "use-case": spec.use_case,
            # CreateTrainingJob's HyperParameters is a map of strings: integer and float pipeline parameters go in
            # as text (Std:Join), never as the bare numbers a {"Get": ...} would put there.
            "seed": params.seed.to_string(),
            **{name.replace("_", "-"): value.to_string() for name, value in params.hyper.items()},
        },
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{ARTIFACTS_BUCKET_PLACEHOLDER}/{MODELS_PREFIX}"),
        base_job_name=f"{spec.pipeline_name}-train"[:30],
    )
    train = TrainingStep(
        name=STEP_TRAIN,
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source=output_of(preprocess, "train")),
                InputData(channel_name="validation", data_source=output_of(preprocess, "validation")),
            ]
        ),
    )
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = processing_step(
        STEP_EVALUATE,
        "evaluate",
        inputs=[
            processing_input("model", train.properties.ModelArtifacts.S3ModelArtifacts, "S3Prefix"),
            processing_input("train", output_of(preprocess, "train")),
            processing_input("validation", output_of(preprocess, "validation")),
            processing_input("test", output_of(preprocess, "test")),
            processing_input("training_set", output_of(build, "training_set")),
        ],
        outputs=["evaluation"],
        arguments=[
            "--primary-metric", spec.primary_metric,
            "--min-primary-metric", params.min_metric.to_string(),
            "--min-improvement", params.min_improvement.to_string(),
            "--model-package-group", spec.model_package_group,
            "--baseline", params.baseline,
            "--min-baseline-improvement", params.min_baseline_improvement.to_string(),
            "--dataset-manifest-uri", Join(on="/", values=[output_of(build, "training_set"), "manifest.json"]),
            "--baseline-uri", run_uri(STEP_EVALUATE, "evaluation", "baseline.json"),
            "--code-commit", params.code_commit,
            "--pipeline-execution", ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "--training-image", images["training"],
            "--inference-image", images["inference"],
            "--seed", params.seed.to_string(),
            "--tracking-uri", params.tracking_uri,
            "--report-uri", run_uri(STEP_EVALUATE, "evaluation", "evaluation.json"),
            "--lineage-uri", run_uri(STEP_EVALUATE, "evaluation", DOCUMENT_NAME),
        ],
        property_files=[evaluation],
    )  # fmt: skip

    def evaluated(path: str) -> Any:
        return JsonGet(step_name=STEP_EVALUATE, property_file=evaluation, json_path=path)

    # Short values SageMaker accepts, and the full lineage document's URI and SHA-256 (mlops_kit.registry.lineage).
    lineage_properties = {key: evaluated(key) for key in (*REQUIRED_LINEAGE, *DOCUMENT_KEYS)}
    registration = ModelBuilder(
        image_uri=images["inference"],
        s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
        role_arn=ROLE_PLACEHOLDER,
        sagemaker_session=session,
        env_vars={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": BUNDLE_PLACEHOLDER,
            "MLOPS_USE_CASE": spec.use_case,
        },
    ).register(
        model_package_group_name=spec.model_package_group,
        content_types=["application/json"],
        response_types=["application/json"],
        inference_instances=["ml.t2.medium", "ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge"],
        transform_instances=["ml.m5.large", "ml.m5.xlarge"],
        approval_status="PendingManualApproval",
        model_metrics=ModelMetrics(
            model_quality=ModelQuality(
                statistics=MetricsSource(
                    content_type="application/json", s3_uri=run_uri(STEP_EVALUATE, "evaluation", "model_quality.json")
                )
            )
        ),
        customer_metadata_properties={
            **lineage_properties,
            f"metrics.{spec.primary_metric}": evaluated(f"metrics.{spec.primary_metric}_text"),
            "evaluation.report_uri": evaluated("report_uri"),
            "drift.baseline_uri": evaluated("baseline_uri"),
        },
        metadata_properties=MetadataProperties(
            commit_id=params.code_commit, generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN
        ),
        model_life_cycle=ModelLifeCycle(
            stage="Staging", stage_status="PendingApproval", stage_description="registered by the training pipeline"
        ),
    )
    register = ModelStep(name=STEP_REGISTER, step_args=registration)
    gate_refused = FailStep(
        name=STEP_GATE_REFUSED,
        error_message=Join(on=" ", values=["gate refused the candidate:", evaluated("gate.reason")]),
    )
    gate = ConditionStep(
        name=STEP_GATE,
        conditions=[
            ConditionEquals(left=evaluated("gate.passed"), right=True),
            ConditionGreaterThanOrEqualTo(left=evaluated(f"metrics.{spec.primary_metric}"), right=params.min_metric),
            ConditionEquals(left=evaluated("lineage_complete"), right=True),
        ],
        if_steps=[register],
        else_steps=[gate_refused],
    )
    data_invalid = FailStep(
        name=STEP_DATA_INVALID,
        error_message=Join(
            on=" ",
            values=[
                "data validation failed:",
                JsonGet(step_name=STEP_VALIDATE, property_file=validation_report, json_path="summary"),
                "report:",
                Join(on="/", values=[output_of(validate, "validation"), "validation.json"]),
            ],
        ),
    )
    data_valid = ConditionStep(
        name=STEP_DATA_VALID,
        conditions=[
            ConditionEquals(
                left=JsonGet(step_name=STEP_VALIDATE, property_file=validation_report, json_path="passed"), right=True
            )
        ],
        if_steps=[preprocess, train, evaluate, gate],
        else_steps=[data_invalid],
    )
    pipeline = Pipeline(
        name=spec.pipeline_name,
        parameters=params.all(),
        steps=[build, validate, data_valid],
        sagemaker_session=session,
        # Runs are tracked in MLflow (evaluate step); no SageMaker Experiments entities, whose creation by the
        # pipeline service needs Experiments permissions AWS does not document for the pipeline role.
        pipeline_experiment_config=None,
    )
    definition = json.loads(pipeline.definition())
    return json.dumps(definition, sort_keys=True)
