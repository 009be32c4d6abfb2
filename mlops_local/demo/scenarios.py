"""Promotion scenarios: each runs one path of the promotion workflow end to end on the emulator.

``mlops demo --scenario NAME --json`` deploys the app (with the scenario's config overrides), registers the
model versions the scenario needs, drives the real state machine through the registry trigger and the steps
Lambda, and prints a JSON summary: the execution's status and the states it passed, the model version serving
100% at the end, every version's stage and approval, and the promotion lock.

Scenario models are trained with the pipeline's own job functions (``sagemaker_jobs.preprocess.split`` and
``sagemaker_jobs.train.fit``) on a point-in-time training set of the fraud data, packaged as the training job
packages them, and registered through :class:`~mlops_kit.registry.ModelRegistry` with complete lineage -- a
full pipeline run per version would only make the scenarios slower, not more real (the pipeline has its own
tests). Requests carry the online features, so no feature ingestion is needed.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import start_promotion
from mlops_kit.registry import REQUIRED_LINEAGE, LineageDocuments, ModelRegistry
from mlops_kit.serving.client import EndpointClient, ModelRequestError
from mlops_local.demo import environments as staged
from mlops_local.demo.context import DemoContext
from mlops_local.demo.serving import full_traffic, promote
from mlops_local.demo.teardown import destroy_everything
from mlops_local.deploy import LocalDeployer
from mlops_local.emulator import DEFAULT_ACCOUNT

SEED = 5


@dataclass
class Scenario:
    description: str
    run: Callable[[DemoContext], dict[str, Any]]
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class FixtureData:
    """A small point-in-time training set and request payloads built from it."""

    model_frame: Any
    payloads: list[dict[str, Any]]
    manifest: dict[str, Any]


def fixture_data(rows: int = 6000) -> FixtureData:
    from mlops_kit.features import fraud
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import LocalObjectStore

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    data = fraud.generate(500, rows, seed=SEED, start=start, days=60)
    with tempfile.TemporaryDirectory(prefix="scenario-offline-") as folder:
        store = OfflineStore(fraud.REGISTRY, LocalObjectStore(folder))
        for group, frame in data.feature_rows().items():
            store.write(group, frame)
        training_set = store.get_historical_features(data.transactions, fraud.FEATURE_REFS)
    frame = training_set.frame
    payloads = []
    for row in frame.head(400).to_dict(orient="records"):
        payloads.append(
            {
                "customer_id": row["customer_id"],
                "transaction": {
                    "amount": float(row["amount"]),
                    "merchant_category": row["merchant_category"],
                    "event_timestamp": row["event_timestamp"].isoformat(),
                },
                "features": {name: _plain(row.get(name)) for name in fraud.ONLINE_FEATURES},
            }
        )
    return FixtureData(fraud.build_model_frame(frame), payloads, training_set.manifest.to_dict())


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _bundle_uri(context: DemoContext) -> str:
    """The deployed code bundle (the training pipeline's ``bundle`` input) that serving runs."""
    definition = json.loads(
        context.emulator.client("sagemaker").describe_pipeline(PipelineName=context.output("PipelineName"))[
            "PipelineDefinition"
        ]
    )
    for step in definition["Steps"]:
        for processing_input in step.get("Arguments", {}).get("ProcessingInputs", []):
            if processing_input["InputName"] == "bundle":
                return str(processing_input["S3Input"]["S3Uri"])
    raise RuntimeError("the deployed training pipeline has no code bundle input")


HYPERPARAMETERS = {"max_iter": 120, "learning_rate": 0.08, "max_depth": 3}


@dataclass(frozen=True)
class TrainedModel:
    archive: bytes  # model.tar.gz as a training job writes it: model.joblib and model_meta.json
    roc_auc: float  # on the split's test part


# (dataset hash, quality, seed) -> the model trained on it: training is a function of those (the split and the
# estimator take the seed), so each is trained once per process, and every scenario or test after the first that
# registers it reuses the archive (training was a tenth of a promotion scenario's time).
_trained: dict[tuple[str, str, int], TrainedModel] = {}
_trained_lock = threading.Lock()


def train(data: FixtureData, *, quality: str = "good", seed: int = 1) -> TrainedModel:
    """Train with the pipeline's functions and package as a training job does.

    ``quality="random"`` trains on shuffled labels: a model whose decisions disagree with a real one.
    """
    key = (str(data.manifest["dataset_hash"]), quality, seed)
    with _trained_lock:
        if key not in _trained:
            _trained[key] = _train(data, quality=quality, seed=seed)
        return _trained[key]


def _train(data: FixtureData, *, quality: str, seed: int) -> TrainedModel:
    import joblib

    from mlops_kit.features import fraud
    from sagemaker_jobs.evaluate import classification_metrics
    from sagemaker_jobs.layout import library_versions
    from sagemaker_jobs.preprocess import split
    from sagemaker_jobs.train import fit

    frame = data.model_frame.copy()
    if quality == "random":
        frame[fraud.LABEL] = np.random.default_rng(seed).permutation(frame[fraud.LABEL].to_numpy())
    parts = split(frame, fraud.LABEL, seed)
    hyper = dict(HYPERPARAMETERS)
    model, curves = fit(parts["train"], parts["validation"], list(fraud.MODEL_FEATURES), fraud.LABEL, hyper, seed)
    meta = {
        "use_case": "mlops_kit.features.fraud",
        "features": list(fraud.MODEL_FEATURES),
        "label": fraud.LABEL,
        "hyperparameters": hyper,
        "seed": seed,
        "library_versions": library_versions(),
        "curves": curves,
    }
    archive = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=archive, mode="w:gz") as tar:
        joblib.dump(model, Path(tmp) / "model.joblib")
        (Path(tmp) / "model_meta.json").write_text(json.dumps(meta))
        tar.add(Path(tmp) / "model.joblib", arcname="model.joblib")
        tar.add(Path(tmp) / "model_meta.json", arcname="model_meta.json")
    scores = model.predict_proba(parts["test"][list(fraud.MODEL_FEATURES)])[:, 1]
    auc = classification_metrics(parts["test"][fraud.LABEL].to_numpy(), scores)["roc_auc"]
    return TrainedModel(archive.getvalue(), float(auc))


def register_model(context: DemoContext, data: FixtureData, *, name: str, quality: str = "good", seed: int = 1) -> str:
    """Train (:func:`train`), upload the archive and register it with full lineage; return the version's ARN."""
    from sagemaker_jobs.layout import library_versions

    trained = train(data, quality=quality, seed=seed)
    versions = library_versions()
    bucket = context.output("ArtifactsBucketName")
    key = f"models/scenario-{name}/output/model.tar.gz"
    context.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=trained.archive)
    lineage = {
        "dataset_manifest_hash": data.manifest["dataset_hash"],
        "dataset_manifest_uri": "local://scenario-training-set/manifest.json",
        "feature_group_versions": dict(data.manifest["feature_groups"]),
        "code_commit": "scenario",
        "pipeline_execution": f"scenario:{name}",
        "training_image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
        "inference_image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
        "library_versions": versions,
        "hyperparameters": dict(HYPERPARAMETERS),
        "seed": str(seed),
    }
    assert {f"lineage.{k}" for k in lineage} == set(REQUIRED_LINEAGE)
    documents = LineageDocuments(context.emulator.client("s3"), bucket)
    registry = ModelRegistry(
        context.emulator.client("sagemaker"), context.output("ModelPackageGroupName"), documents=documents
    )
    version = registry.register(
        model_data_url=f"s3://{bucket}/{key}",
        image=str(lineage["inference_image"]),
        environment={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": _bundle_uri(context),
            "MLOPS_USE_CASE": "mlops_kit.features.fraud",
        },
        lineage=lineage,
        metrics={"roc_auc": trained.roc_auc},
    )
    return version.arn


# -- end state -----------------------------------------------------------------------------------------
def end_state(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    sagemaker = aws.client("sagemaker")
    served = full_traffic(sagemaker, context.output("EndpointName"))
    serving = (
        None
        if served is None
        else {"version": int(served[1]["MLOPS_MODEL_VERSION"]), "variant": served[0], "percent": 100}
    )
    registry = ModelRegistry(sagemaker, context.output("ModelPackageGroupName"))
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    holder = store.lock_holder(context.output("EndpointName"))
    return {
        "serving": serving,
        "registry": [
            {"version": v.version, "stage": v.stage, "status": v.stage_status, "approval": v.approval_status}
            for v in registry.versions()
        ],
        "lock": {"held": holder is not None, "holder": holder},
    }


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result.get(k) for k in ("execution", "status", "error", "cause", "states", "seconds")}


# -- scenarios ---------------------------------------------------------------------------------------------
def _first(context: DemoContext, data: FixtureData) -> str:
    arn = register_model(context, data, name="v1", seed=1)
    result = promote(context, arn, background=False, traffic_payloads=data.payloads)
    if result["status"] != "SUCCEEDED":
        raise RuntimeError(f"setting up the Production model failed: {result['cause']}")
    return arn


def first_deploy(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    arn = register_model(context, data, name="v1", seed=1)
    return {"execution": _summary(promote(context, arn, background=False, traffic_payloads=data.payloads))}


def happy(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)
    return {"execution": _summary(promote(context, candidate, traffic_payloads=data.payloads))}


def shadow_regression(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", quality="random", seed=2)
    return {"execution": _summary(promote(context, candidate, traffic_payloads=data.payloads))}


def approval_rejected(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)
    result = promote(
        context, candidate, decision="reject", comment="p99 headroom too small", traffic_payloads=data.payloads
    )
    return {"execution": _summary(result)}


def approval_timeout(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)
    return {"execution": _summary(promote(context, candidate, decision="none", traffic_payloads=data.payloads))}


def _break_models_of(context: DemoContext, package_arn: str, min_share: float = 0.0) -> int:
    """Make every model the workflow created for ``package_arn`` fail each request (from ``min_share`` of the
    endpoint's traffic on); returns the package's version. Models are named ``<endpoint>-v<version>-...``."""
    sagemaker = context.emulator.client("sagemaker")
    version = ModelRegistry(sagemaker, context.output("ModelPackageGroupName")).get(package_arn).version
    for model in sagemaker.list_models()["Models"]:
        if f"-v{version}-" in model["ModelName"]:
            context.emulator.sagemaker.inject_fault(model["ModelName"], error_rate=1.0, min_share=min_share)
    return version


def canary_alarm(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)

    def fail_from_the_middle_step(state: str) -> None:
        # While the workflow waits for its reviewer (the shadow made the candidate's model), set the candidate to
        # fail every request once it holds 25% of the traffic: the fault goes live with the shift to 25%, for
        # that whole step (shift, wait, bake), however late this observer sees the steps.
        if state != "WaitForHumanApproval":
            return
        version = _break_models_of(context, candidate, min_share=0.25)
        context.console.print(f"  fault set: version {version} fails every request from 25% of the traffic on")

    result = promote(context, candidate, traffic_payloads=data.payloads, during_state=fail_from_the_middle_step)
    context.emulator.sagemaker.clear_faults()
    return {"execution": _summary(result)}


def _promote_a_candidate_failing_from(context: DemoContext, state: str) -> dict[str, Any]:
    """Promote v2 over a first Production whose every model fails each request from the moment the workflow enters
    ``state``; returns the promotion's result, with the faults cleared."""
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)

    def break_the_candidate(entered: str) -> None:
        if entered == state:
            _break_models_of(context, candidate)

    result = promote(context, candidate, traffic_payloads=data.payloads, during_state=break_the_candidate)
    context.emulator.sagemaker.clear_faults()
    return result


def guardrails_rollback(context: DemoContext) -> dict[str, Any]:
    return {"execution": _summary(_promote_a_candidate_failing_from(context, "GuardrailsWait"))}


def concurrent_promotion(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    first = register_model(context, data, name="v2", seed=2)
    second = register_model(context, data, name="v3", seed=3)
    registry = ModelRegistry(context.emulator.client("sagemaker"), context.output("ModelPackageGroupName"))
    outcome: dict[str, Any] = {}

    def start_second(state: str) -> None:
        if state == "WaitForHumanApproval" and "second" not in outcome:
            from mlops_kit.promotion.approvals import follow
            from mlops_kit.promotion.trigger import execution_name

            # Another team approves v3 in the registry while v2's promotion waits for its reviewer.
            version = registry.approve(second, approver="second-team@example.com", comment="ship it")
            context.emulator.settle()
            machine = context.output("PromotionStateMachineArn")
            arn = (
                machine.replace(":stateMachine:", ":execution:")
                + ":"
                + execution_name("promote", second, version.version)
            )
            described = follow(context.emulator.client("stepfunctions"), arn, timeout_seconds=86400)
            outcome["second"] = {
                "execution": arn,
                "status": described["status"],
                "error": described.get("error"),
                "cause": described.get("cause"),
            }
            context.console.print(
                f"  second promotion (v{version.version}): {described['status']}: {described.get('error')}"
            )

    result = promote(context, first, traffic_payloads=data.payloads, during_state=start_second)
    return {"execution": _summary(result), "second_execution": outcome.get("second")}


def rollback(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)
    promote(context, candidate, traffic_payloads=data.payloads)
    from mlops_kit.promotion.approvals import follow

    registry = ModelRegistry(context.emulator.client("sagemaker"), context.output("ModelPackageGroupName"))
    target = registry.rollback_target()
    current = registry.production()
    if target is None or current is None:
        raise RuntimeError("the rollback scenario needs a Production and an Archived version")
    arn, _ = start_promotion(
        context.emulator.client("stepfunctions"),
        context.output("PromotionStateMachineArn"),
        package_arn=target.arn,
        version=target.version,
        mode="rollback",
        requested_by="on-call",
        attempt=current.arn,
    )
    started = time.monotonic()
    states: list[str] = []
    described = follow(context.emulator.client("stepfunctions"), arn, on_state=states.append, timeout_seconds=86400)
    return {
        "execution": {
            "execution": arn,
            "status": described["status"],
            "error": described.get("error"),
            "cause": described.get("cause"),
            "states": states,
            "seconds": round(time.monotonic() - started, 1),
        }
    }


# A serverless endpoint (README "Serverless serving"): the all_at_once rollout is the only one it takes.
SERVERLESS_OVERRIDES: dict[str, Any] = {
    "serving": {"serverless": {"memory_size_in_mb": 2048, "max_concurrency": 5, "provisioned_concurrency": 1}},
    "rollout": {"mode": "all_at_once"},
    "quality": None,  # model quality joins labels with captured predictions: serverless endpoints capture nothing
}


def _serverless_outcome(context: DemoContext, result: dict[str, Any]) -> dict[str, Any]:
    """The execution, the serving config's ServerlessConfig and the promotion's deployment record."""
    sagemaker = context.emulator.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=context.output("EndpointName"))
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    store = PromotionStore(context.emulator.client("dynamodb"), context.output("PromotionTableName"))
    record = store.deployments(context.output("EndpointName"), limit=1)[0]
    return {
        "execution": _summary(result),
        "serving_config": {
            "variants": [v.get("ServerlessConfig") for v in config["ProductionVariants"]],
            "data_capture": config.get("DataCaptureConfig") or None,
        },
        "record": {"mode": record.get("mode"), "outcome": record.get("outcome"), "cost": record.get("cost")},
    }


def serverless(context: DemoContext) -> dict[str, Any]:
    data = fixture_data()
    _first(context, data)
    candidate = register_model(context, data, name="v2", seed=2)
    return _serverless_outcome(context, promote(context, candidate, traffic_payloads=data.payloads))


def serverless_alarm(context: DemoContext) -> dict[str, Any]:
    # DeployDirect made the candidate's model: it fails every request from the update on.
    return _serverless_outcome(context, _promote_a_candidate_failing_from(context, "DeployWait"))


def environments(context: DemoContext) -> dict[str, Any]:
    """Version 1 goes staging then production (first deployments, each in its own account); version 2 follows:
    in each environment a shadow against version 1, the reviewer's approval and the canary, under live traffic.
    Then `cdk destroy` of every stack in every account, and what is left in each (nothing billing)."""
    data = fixture_data()
    accounts = {"staging": staged.STAGING, "production": staged.PRODUCTION}
    first = register_model(context, data, name="v1", seed=1)
    promotions = {"v1": staged.promote_through(context, first, accounts, data.payloads)}
    candidate = register_model(context, data, name="v2", seed=2)
    promotions["v2"] = staged.promote_through(context, candidate, accounts, data.payloads)
    sample = data.payloads[0]
    served: dict[str, Any] = {}
    for name, account in accounts.items():
        client = staged.endpoint_client(context, name, account)
        serving = staged.serving_in(context, name, account)
        served[name] = {
            "serving": serving,
            "sample": client.predict(sample).body if serving else None,
            # Without features the environment's model looks the customer up in the tooling account's online
            # store (README "Environments"), which this scenario does not fill: the inference script's 404.
            "without_features": _refusal(client, {k: v for k, v in sample.items() if k != "features"})
            if serving
            else None,
        }
    if context.before_teardown is not None:
        context.before_teardown(context)
    endpoints = [context.output("EndpointName")] + [staged.endpoint_name(context, name) for name in accounts]
    teardown = destroy_everything(context, {"tooling": context.emulator.account, **accounts}, endpoints)
    return {
        # Without wall seconds or execution ARNs: the end state a person checks, the same run after run.
        "promotions": {
            version: {
                name: {k: result.get(k) for k in ("status", "error", "cause", "states", "answered", "traffic")}
                for name, result in by_environment.items()
            }
            for version, by_environment in promotions.items()
        },
        "environments": served,
        "teardown": teardown,
    }


def _refusal(client: EndpointClient, payload: dict[str, Any]) -> str | None:
    """The model's error for ``payload``, or None when it answers."""
    try:
        client.predict(payload)
    except ModelRequestError as error:
        return str(error)
    return None


SCENARIOS: dict[str, Scenario] = {
    "first-deploy": Scenario("no endpoint yet: create it with the candidate, which becomes Production", first_deploy),
    "happy": Scenario("shadow passes, approved, 5% -> 25% -> 50% -> 100%, candidate becomes Production", happy),
    "shadow-regression": Scenario(
        "the candidate disagrees with production in shadow: never gets real traffic", shadow_regression
    ),
    "approval-rejected": Scenario("a reviewer rejects the candidate", approval_rejected),
    "approval-timeout": Scenario(
        "nobody answers within the approval timeout (counts as a rejection)",
        approval_timeout,
        {"rollout": {"approval_timeout_hours": 0.05}},
    ),
    "canary-alarm": Scenario(
        "the candidate starts failing at 25%: the error-rate alarm rolls all traffic back", canary_alarm
    ),
    "guardrails-rollback": Scenario(
        "SageMaker blue/green canary; the new fleet fails and SageMaker rolls back",
        guardrails_rollback,
        # A canary of one instance must be at most half the variant's instances: guardrails need two.
        {"rollout": {"mode": "guardrails"}, "serving": {"initial_instance_count": 2}},
    ),
    "concurrent-promotion": Scenario(
        "a second promotion of the same endpoint fails fast while the first runs", concurrent_promotion
    ),
    "rollback": Scenario("after a promotion, `mlops rollback` restores the archived version", rollback),
    "serverless": Scenario(
        "a serverless endpoint: approved, the candidate replaces production at once, bakes under the alarms",
        serverless,
        SERVERLESS_OVERRIDES,
    ),
    "serverless-alarm": Scenario(
        "a serverless endpoint: the candidate fails after the update, the alarm puts the previous model back",
        serverless_alarm,
        SERVERLESS_OVERRIDES,
    ),
    "environments": Scenario(
        "staging then production, each in its own account: v1 first, then v2 with shadow, approval and canary; "
        "then cdk destroy of every account, nothing billing left",
        environments,
        # The tooling account is the emulator's own: the scenario's clients act there.
        staged.overrides(DEFAULT_ACCOUNT),
    ),
}


def run_scenario(name: str, context: DemoContext) -> dict[str, Any]:
    """Deploy, run the scenario, and return its summary with the end state."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}")
    aws = context.emulator
    started = time.monotonic()
    context.stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(context.assembly)
    outcome = SCENARIOS[name].run(context)
    return {"scenario": name, **outcome, **end_state(context), "seconds": round(time.monotonic() - started, 1)}
