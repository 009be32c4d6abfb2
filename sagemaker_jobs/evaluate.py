"""Evaluate the candidate (and the current Production model) on the held-out test split; decide the gate.

Writes to the ``evaluation`` output: ``evaluation.json`` (metrics, the Production model's metrics on the
same rows, the gate's inputs and decision, the lineage as the registry's metadata holds it), ``lineage.json``
(the complete lineage document, which that metadata references by URI and SHA-256), ``baseline.json`` (the drift
baseline: the held-out features and the candidate's scores on them), ``model_quality.json``
(Model Monitor's binary-classification format, referenced by the model package's ModelMetrics), and ROC,
precision-recall and calibration plots as PNG. The run is logged to MLflow when a tracking URI is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from mlops_kit.registry import REQUIRED_LINEAGE, missing_lineage
from mlops_kit.registry.lineage import DOCUMENT_NAME, LineageReference, document_bytes, metadata_properties, sha256
from sagemaker_jobs.layout import extract_model, processing_input, processing_output, write_json

NONE = "none"


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Headline metrics of a binary classifier's scores; AUCs are 0.5 when only one class is present."""
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) > 1
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)) if both else 0.5,
        "average_precision": float(average_precision_score(y_true, scores)) if both else float(np.mean(y_true)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "log_loss": float(log_loss(y_true, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, scores)),
        "positives": float(np.sum(y_true)),
        "rows": float(len(y_true)),
    }


def gate_decision(
    metrics: dict[str, float],
    production: dict[str, float] | None,
    *,
    primary: str,
    min_primary: float,
    min_improvement: float,
    missing: list[str],
) -> dict[str, Any]:
    """The go/no-go: absolute bar, beat Production by the margin, complete lineage. Reasons name each miss."""
    candidate = metrics[primary]
    reasons = []
    if candidate < min_primary:
        reasons.append(f"{primary} {candidate:.4f} is below the required {min_primary:.4f}")
    production_value = production[primary] if production else None
    if production_value is not None and candidate < production_value + min_improvement:
        reasons.append(
            f"{primary} {candidate:.4f} does not beat Production ({production_value:.4f}) by {min_improvement:.4f}"
        )
    if missing:
        reasons.append(f"lineage is incomplete: {missing}")
    return {
        "passed": not reasons,
        "reason": "; ".join(reasons) if reasons else "passed",
        "inputs": {
            "primary_metric": primary,
            "candidate": candidate,
            "production": production_value,
            "min_primary_metric": min_primary,
            "min_improvement": min_improvement,
        },
    }


def model_quality_document(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Model Monitor's model-quality statistics for binary classification (referenced by ModelMetrics)."""
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    metrics = classification_metrics(y_true, scores, threshold)
    fpr, tpr, _ = roc_curve(y_true, scores) if len(np.unique(y_true)) > 1 else ([0.0, 1.0], [0.0, 1.0], None)
    precision, recall, _ = precision_recall_curve(y_true, scores)
    step = max(1, len(fpr) // 100)

    def value(v: float) -> dict[str, Any]:
        return {"value": v, "standard_deviation": "NaN"}

    return {
        "version": 0.0,
        "dataset": {"item_count": len(y_true), "evaluation_time": dt.datetime.now(dt.UTC).isoformat()},
        "binary_classification_metrics": {
            "confusion_matrix": {"0": {"0": int(tn), "1": int(fp)}, "1": {"0": int(fn), "1": int(tp)}},
            "recall": value(metrics["recall"]),
            "precision": value(metrics["precision"]),
            "accuracy": value(metrics["accuracy"]),
            "f1": value(metrics["f1"]),
            "auc": value(metrics["roc_auc"]),
            "au_prc": value(metrics["average_precision"]),
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": [float(x) for x in fpr[::step]],
                "true_positive_rates": [float(x) for x in tpr[::step]],
            },
            "precision_recall_curve": {
                "precisions": [float(x) for x in precision[:: max(1, len(precision) // 100)]],
                "recalls": [float(x) for x in recall[:: max(1, len(recall) // 100)]],
            },
        },
    }


def plots(y_true: np.ndarray, scores: np.ndarray, production: np.ndarray | None, out: Path) -> list[Path]:
    """ROC, precision-recall and calibration curves (candidate vs Production) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    series = [("candidate", scores)] + ([("production", production)] if production is not None else [])
    for name, draw in (
        ("roc", lambda s: roc_curve(y_true, s)[:2]),
        ("precision_recall", lambda s: precision_recall_curve(y_true, s)[1::-1]),
        ("calibration", lambda s: calibration_curve(y_true, s, n_bins=10, strategy="quantile")[::-1]),
    ):
        figure, axis = plt.subplots(figsize=(5, 4), dpi=100)
        for label, values in series:
            x, y = draw(values)
            axis.plot(x, y, label=label)
        axis.set_title(name.replace("_", " "))
        axis.legend()
        path = out / f"{name}.png"
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def drift_baseline(features: pd.DataFrame, scores: np.ndarray, *, seed: int) -> Any:
    """The drift baseline registered with the model: held-out features (never trained on, so like
    production traffic) and the candidate's scores on them as the prediction distribution."""
    from mlops_kit.drift.baseline import compute_baseline

    frame = features.copy()
    frame["prediction"] = scores
    return compute_baseline(frame, prediction="prediction", seed=seed, metadata={"source": "held-out test split"})


def load_model(directory: Path) -> tuple[Any, dict[str, Any]]:
    """The estimator and its metadata from a training job's model.tar.gz in ``directory``."""
    unpacked = extract_model(directory, Path(tempfile.mkdtemp(prefix="model-")))
    return joblib.load(unpacked / "model.joblib"), json.loads((unpacked / "model_meta.json").read_text())


def download_model(uri: str) -> Path:
    """Fetch a model.tar.gz from S3 (the current Production model) into a temporary folder."""
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    target = Path(tempfile.mkdtemp(prefix="production-")) / "model.tar.gz"
    boto3.client("s3").download_file(bucket, key, str(target))
    return target.parent


def lineage(meta: dict[str, Any], manifest: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The lineage recorded with the model version, every value as it is (maps stay maps): the lineage document."""
    return {
        "dataset_manifest_hash": str(manifest.get("dataset_hash", "")),
        "dataset_manifest_uri": args.dataset_manifest_uri,
        "feature_group_versions": dict(manifest.get("feature_groups", {})),
        "code_commit": args.code_commit,
        "pipeline_execution": args.pipeline_execution,
        "training_image": args.training_image,
        "inference_image": args.inference_image,
        "library_versions": dict(meta.get("library_versions", {})),
        "hyperparameters": dict(meta.get("hyperparameters", {})),
        "seed": str(meta.get("seed", "")),
    }


def record_lineage(recorded: dict[str, Any], out: Path, uri: str) -> dict[str, str]:
    """Write the lineage document to ``out`` (it reaches S3 at ``uri``) and return the registry's metadata for
    it, keys without the ``lineage.`` prefix: a summary per key, the document's URI and SHA-256."""
    data = document_bytes(recorded)
    path = out / DOCUMENT_NAME
    path.write_bytes(data)
    reference = LineageReference(uri or path.resolve().as_uri(), sha256(data))
    return {key.removeprefix("lineage."): value for key, value in metadata_properties(recorded, reference).items()}


def log_to_mlflow(uri: str, report: dict[str, Any], meta: dict[str, Any], artifacts: list[Path]) -> str:
    """One MLflow run per pipeline execution: parameters, metrics and curves, artifacts, environment."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    execution = report["lineage"]["pipeline_execution"]
    pipeline = execution.split(":pipeline/")[-1].split("/")[0] if ":pipeline/" in execution else "training"
    if mlflow.get_experiment_by_name(pipeline) is None:
        # A local database store keeps artifacts beside it (the job's working folder is temporary);
        # a tracking server (SageMaker managed MLflow) uses its own artifact store.
        location = None
        if uri.startswith("sqlite:///"):
            location = Path(uri.removeprefix("sqlite:///")).parent.joinpath("artifacts").resolve().as_uri()
        mlflow.create_experiment(pipeline, artifact_location=location)
    mlflow.set_experiment(pipeline)
    with mlflow.start_run(run_name=execution.rsplit("/", 1)[-1]) as run:
        mlflow.log_params({**meta["hyperparameters"], "seed": meta["seed"], "use_case": meta["use_case"]})
        mlflow.log_params({f"lineage.{k}": v[:500] for k, v in report["lineage"].items()})
        mlflow.log_metrics({f"test_{k}": v for k, v in report["metrics"].items() if isinstance(v, float)})
        for name, values in meta.get("curves", {}).items():
            for step, value in enumerate(values):
                mlflow.log_metric(name, value, step=step)
        if report["production_metrics"]:
            mlflow.log_metrics({f"production_{k}": v for k, v in report["production_metrics"].items()})
        mlflow.set_tags(
            {f"env.{k}": v for k, v in meta.get("library_versions", {}).items()}
            | {"gate": report["gate"]["reason"][:250]}
        )
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
        return str(run.info.run_id)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--primary-metric", default="roc_auc")
    parser.add_argument("--min-primary-metric", type=float, required=True)
    parser.add_argument("--min-improvement", type=float, default=0.0)
    parser.add_argument("--production-model", default=NONE, help="S3 URI of the Production model.tar.gz, or none")
    parser.add_argument("--dataset-manifest-uri", default="")
    parser.add_argument("--baseline-uri", default="")
    parser.add_argument("--report-uri", default="")
    parser.add_argument("--lineage-uri", default="", help="where lineage.json lands in S3 (default: the local file)")
    parser.add_argument("--code-commit", default="")
    parser.add_argument("--pipeline-execution", default="")
    parser.add_argument("--training-image", default="")
    parser.add_argument("--inference-image", default="")
    parser.add_argument("--seed", type=int, default=None, help="recorded for reference; the model's own seed wins")
    parser.add_argument("--tracking-uri", default=NONE)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--test", type=Path, default=None)
    parser.add_argument("--training-set", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)

    model, meta = load_model(args.model or processing_input("model"))
    test = pd.read_parquet(args.test or processing_input("test"))
    features, label = meta["features"], meta["label"]
    y_true = test[label].astype(int).to_numpy()
    scores = model.predict_proba(test[features])[:, 1]
    metrics = classification_metrics(y_true, scores)
    production_metrics, production_scores = None, None
    if args.production_model not in (NONE, ""):
        production_model, production_meta = load_model(download_model(args.production_model))
        production_scores = production_model.predict_proba(test[production_meta["features"]])[:, 1]
        production_metrics = classification_metrics(y_true, production_scores)
    manifest_path = (args.training_set or processing_input("training_set")) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    recorded = lineage(meta, manifest, args)
    missing = missing_lineage({f"lineage.{k}": v for k, v in recorded.items()})
    gate = gate_decision(
        metrics,
        production_metrics,
        primary=args.primary_metric,
        min_primary=args.min_primary_metric,
        min_improvement=args.min_improvement,
        missing=missing,
    )
    out = args.output or processing_output("evaluation")
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "metrics": metrics,
        "production_metrics": production_metrics,
        "gate": gate,
        "lineage": record_lineage(recorded, out, args.lineage_uri),
        "lineage_complete": not missing,
        "report_uri": args.report_uri,
        "baseline_uri": args.baseline_uri,
        "curves": meta.get("curves", {}),
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    report["metrics"] |= {f"{k}_text": f"{v:.6f}" for k, v in metrics.items()}
    assert set(REQUIRED_LINEAGE) == {f"lineage.{k}" for k in recorded}
    write_json(out / "model_quality.json", model_quality_document(y_true, scores))
    (out / "baseline.json").write_text(drift_baseline(test[features], scores, seed=int(meta.get("seed", 0))).to_json())
    images = plots(y_true, scores, production_scores, out)
    if args.tracking_uri not in (NONE, ""):
        artifacts = [*images, out / "model_quality.json", out / DOCUMENT_NAME]
        report["mlflow_run_id"] = log_to_mlflow(args.tracking_uri, report, meta, artifacts)
    write_json(out / "evaluation.json", report)
    print(f"evaluate: {args.primary_metric}={metrics[args.primary_metric]:.4f}; gate: {gate['reason']}")
    return report


if __name__ == "__main__":
    main()
