"""Demo stages of the training pipeline: train and register; then, with a model in Production, a run with a
deliberately worse configuration (refused by the gate) and a better one (the next candidate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_kit.cli.console import step, table
from mlops_kit.pipeline.runs import RunResult, start_run, wait_for_run
from mlops_kit.registry import ModelRegistry
from mlops_local.demo.context import DemoContext

# Runs land here, as the local MLflow store (open it with `mlflow ui --backend-store-uri sqlite:///.mlops/mlflow.db`).
MLFLOW_DIR = Path.cwd() / ".mlops"


def _registry(context: DemoContext) -> ModelRegistry:
    return ModelRegistry(context.emulator.client("sagemaker"), context.output("ModelPackageGroupName"))


def run_pipeline(context: DemoContext, title: str, parameters: dict[str, Any] | None = None) -> RunResult:
    aws = context.emulator
    MLFLOW_DIR.mkdir(exist_ok=True)
    registry = _registry(context)
    values = {"MlflowTrackingUri": f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}", **(parameters or {})}
    with step(title):
        arn = start_run(aws.client("sagemaker"), context.output("PipelineName"), registry=registry, parameters=values)
        result = wait_for_run(aws.client("sagemaker"), aws.client("s3"), arn, registry=registry, poll_seconds=0.5)
    context.console.print(
        table(
            f"Pipeline execution {arn.rsplit('/', 1)[-1]}: {result.status} in {result.seconds:.0f} s",
            ["step", "status", "note"],
            [[s.name, s.status, (s.failure_reason or "")[:90]] for s in result.steps],
        )
    )
    if result.gate:
        inputs = result.gate["inputs"]
        production = "none" if inputs["production"] is None else f"{inputs['production']:.4f}"
        verdict = "[green]passed[/]" if result.gate["passed"] else f"[red]refused[/]: {result.gate['reason']}"
        context.console.print(
            f"gate on the {inputs['split']} split: {inputs['primary_metric']} {inputs['candidate']:.4f}, required "
            f"{inputs['min_primary_metric']:.2f}, Production {production} (+{inputs['min_improvement']}), "
            f"{inputs['baseline']} baseline {inputs['baseline_value']:.4f} (+{inputs['min_baseline_improvement']}) "
            f"-> {verdict}"
        )
        figures = (result.evaluation or {}).get("figures", {})
        splits = [split for split in ("validation", "test") if split in figures]
        metric = inputs["primary_metric"]
        models = sorted(figures.get("test", {}), key=lambda name: (name != "candidate", name))
        context.console.print(
            table(
                f"{metric} by split (validation: selection; test: the gate and final figures)",
                ["model", *splits],
                [[name, *(f"{figures[split][name][metric]:.4f}" for split in splits)] for name in models],
            )
        )
    return result


def _summary(result: RunResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "seconds": round(result.seconds, 1),
        "gate": result.gate,
        "metrics": {k: v for k, v in (result.evaluation or {}).get("metrics", {}).items() if not k.endswith("_text")},
        "registered_version": result.registered.version if result.registered else None,
        "failure_reason": result.failure_reason,
    }


def train(context: DemoContext) -> dict[str, Any]:
    """The first training run: the feature store's training set -> ... -> a registered version with lineage."""
    result = run_pipeline(
        context, "Training pipeline: training set -> validate -> preprocess -> train -> evaluate -> gate -> register"
    )
    if result.registered is None:
        raise RuntimeError(f"the first training run did not register a model: {result.failure_reason}")
    version = result.registered
    context.console.print(
        table(
            f"Registered version {version.version} ({version.stage}/{version.stage_status}, {version.approval_status})",
            ["lineage", "value"],
            [[k, str(v)[:100]] for k, v in sorted(version.lineage.items())],
        )
    )
    return {**_summary(result), "model_package_arn": version.arn}


def retrain(context: DemoContext) -> dict[str, Any]:
    """With a model in Production: a worse configuration is refused by the gate; a better one registers."""
    worse = run_pipeline(
        context,
        "Retraining with a deliberately worse configuration (2 shallow trees)",
        {"MaxIter": 2, "MaxDepth": 1, "LearningRate": 0.05},
    )
    if worse.registered is not None or worse.status != "Failed":
        raise RuntimeError("the gate registered a model that is worse than Production")
    better = run_pipeline(
        context,
        "Retraining with a tuned configuration (shallower trees, slower learning rate)",
        {"MaxIter": 300, "LearningRate": 0.05, "MaxDepth": 2},
    )
    return {
        "worse": _summary(worse),
        "better": _summary(better),
        "candidate_arn": better.registered.arn if better.registered else None,
    }
