"""Evaluate the candidate, the current Production model and two simple baselines; decide the gate.

The Production model is found in the registry by this step (``--model-package-group``): however a run was
started (the CLI, the console, the SDK, a schedule), the candidate is compared with what serves. Every figure
names the split it comes from: ``validation`` (the split model selection and tuning see) and ``test`` (held out
by row identity, read by no job before this one): the gate decides on ``test``. The baselines are the prior rate
(the training positive rate as a constant score) and a logistic regression fitted on the train split; the
candidate must beat the configured one by ``--min-baseline-improvement``. The gate also refuses a candidate
evaluated with other library versions than it was trained with.

Writes to the ``evaluation`` output: ``evaluation.json`` (figures per split and model, the gate's inputs and
decision, the split roles, the lineage as the registry's metadata holds it), ``lineage.json``
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
import time
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
from sagemaker_jobs.layout import (
    LIBRARIES,
    extract_model,
    library_versions,
    processing_input,
    processing_output,
    write_json,
)
from sagemaker_jobs.preprocess import ROLES

NONE = "none"
GATE_SPLIT = "test"
SELECTION_SPLIT = "validation"
BASELINES = ("prior_rate", "logistic_regression")


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
    baseline: tuple[str, dict[str, float]] | None = None,
    min_baseline_improvement: float = 0.0,
    version_mismatch: dict[str, tuple[str, str]] | None = None,
    split: str = GATE_SPLIT,
) -> dict[str, Any]:
    """The go/no-go on ``split``: absolute bar, beat Production by ``min_improvement``, beat ``baseline``
    (name, metrics) by ``min_baseline_improvement``, complete lineage, and training and evaluation on the same
    library versions (``version_mismatch``: library -> (trained with, evaluated with)). Reasons name each miss."""
    candidate = metrics[primary]
    reasons = []
    if candidate < min_primary:
        reasons.append(f"{primary} {candidate:.4f} is below the required {min_primary:.4f}")
    production_value = production[primary] if production else None
    if production_value is not None and candidate < production_value + min_improvement:
        reasons.append(
            f"{primary} {candidate:.4f} does not beat Production ({production_value:.4f}) by {min_improvement:.4f}"
        )
    baseline_value = baseline[1][primary] if baseline else None
    if baseline is not None and baseline_value is not None and candidate < baseline_value + min_baseline_improvement:
        reasons.append(
            f"{primary} {candidate:.4f} does not beat the {baseline[0].replace('_', ' ')} baseline "
            f"({baseline_value:.4f}) by {min_baseline_improvement:.4f}: a simpler model does as well"
        )
    if missing:
        reasons.append(f"lineage is incomplete: {missing}")
    if version_mismatch:
        differences = ", ".join(f"{k} {a} (training) vs {b} (evaluation)" for k, (a, b) in version_mismatch.items())
        reasons.append(f"training and evaluation ran different library versions: {differences}; pin both jobs")
    return {
        "passed": not reasons,
        "reason": "; ".join(reasons) if reasons else "passed",
        "inputs": {
            "split": split,
            "primary_metric": primary,
            "candidate": candidate,
            "production": production_value,
            "min_primary_metric": min_primary,
            "min_improvement": min_improvement,
            "baseline": baseline[0] if baseline else None,
            "baseline_value": baseline_value,
            "min_baseline_improvement": min_baseline_improvement,
        },
    }


def fit_baselines(train: pd.DataFrame, features: list[str], label: str, *, seed: int) -> dict[str, Any]:
    """The simple models the candidate must beat, fitted on the train split: ``prior_rate`` (the training
    positive rate as every row's score) and ``logistic_regression`` (median-imputed with missing-value
    indicators, standardised). Each is a function from a feature frame to scores."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train[label].astype(int).to_numpy()
    rate = float(np.mean(y)) if len(y) else 0.0
    fitted: dict[str, Any] = {"prior_rate": lambda frame: np.full(len(frame), rate)}
    if len(np.unique(y)) > 1:
        model = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=2000, random_state=seed),
        )
        model.fit(train[features].astype(float), y)
        fitted["logistic_regression"] = lambda frame: model.predict_proba(frame[features].astype(float))[:, 1]
    else:  # one class: a logistic regression cannot be fitted and is no better than the prior rate
        fitted["logistic_regression"] = fitted["prior_rate"]
    return fitted


def version_mismatch(training: dict[str, str], evaluation: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The model's libraries (and Python's minor version) whose versions differ between the two jobs."""
    differences = {
        name: (training.get(name, "unrecorded"), evaluation.get(name, "unrecorded"))
        for name in LIBRARIES
        if training.get(name, "unrecorded") != evaluation.get(name, "unrecorded")
    }
    minor = [".".join(v.get("python", "?").split(".")[:2]) for v in (training, evaluation)]
    if minor[0] != minor[1]:
        differences["python"] = (minor[0], minor[1])
    return differences


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


def find_production(sagemaker: Any, group: str) -> dict[str, Any] | None:
    """The group's Production version as the registry holds it now (``None`` when nothing serves yet).

    Raises when the registry cannot be read (missing permission, unknown group): a run that cannot see
    Production must not register a model that may be worse than it.
    """
    from mlops_kit.registry import ModelRegistry

    try:
        version = ModelRegistry(sagemaker, group).production()
    except Exception as exc:
        raise RuntimeError(
            f"cannot read the Production version of model package group {group!r}: {exc}. The pipeline's role "
            "needs sagemaker:ListModelPackages and sagemaker:DescribeModelPackage on the group and its versions"
        ) from exc
    if version is None:
        return None
    return {"model_package_arn": version.arn, "version": version.version, "model_data_url": version.model_data_url}


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
    from mlflow.entities import Metric

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
        # The training curves in one batch (MLflow splits it at its per-request limit) instead of a call, and a
        # store transaction, per point: some 600 points per run.
        now = int(time.time() * 1000)
        curves = [
            Metric(name, float(value), now, step)
            for name, values in meta.get("curves", {}).items()
            for step, value in enumerate(values)
        ]
        mlflow.MlflowClient().log_batch(run.info.run_id, metrics=curves)
        for split, models in report.get("figures", {}).items():
            for name, figures in models.items():
                if name != "candidate" or split != "test":  # test_* above
                    mlflow.log_metrics({f"{split}_{name.replace('.', '_')}_{k}": v for k, v in figures.items()})
        mlflow.set_tags(
            {f"env.{k}": v for k, v in meta.get("library_versions", {}).items()}
            | {"gate": report["gate"]["reason"][:250]}
        )
        for artifact in artifacts:
            mlflow.log_artifact(str(artifact))
        return str(run.info.run_id)


def _score_all(
    candidate: Any,
    features: list[str],
    baselines: dict[str, Any],
    production: tuple[Any, list[str]] | None,
    frame: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Each model's scores on ``frame``: the candidate, each baseline, and Production when there is one."""
    scores = {"candidate": candidate.predict_proba(frame[features])[:, 1]}
    scores |= {f"baseline.{name}": score(frame) for name, score in baselines.items()}
    if production is not None:
        model, production_features = production
        scores["production"] = model.predict_proba(frame[production_features])[:, 1]
    return scores


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--primary-metric", default="roc_auc")
    parser.add_argument("--min-primary-metric", type=float, required=True)
    parser.add_argument("--min-improvement", type=float, default=0.0)
    parser.add_argument("--baseline", choices=BASELINES, default="logistic_regression")
    parser.add_argument("--min-baseline-improvement", type=float, default=0.0)
    parser.add_argument(
        "--model-package-group", default="", help="the registry group whose Production version the candidate must beat"
    )
    parser.add_argument(
        "--production-model",
        default=NONE,
        help="S3 URI of a Production model.tar.gz, for runs without a registry (not with --model-package-group)",
    )
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
    parser.add_argument("--train", type=Path, default=None)
    parser.add_argument("--validation", type=Path, default=None)
    parser.add_argument("--test", type=Path, default=None)
    parser.add_argument("--training-set", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    return parser


def _production(args: argparse.Namespace) -> tuple[dict[str, Any] | None, tuple[Any, list[str]] | None]:
    """Where the Production model comes from (the registry, or ``--production-model``), and the model itself."""
    source: dict[str, Any] | None = None
    if args.model_package_group:
        import boto3

        source = find_production(boto3.client("sagemaker"), args.model_package_group)
    elif args.production_model not in (NONE, ""):
        source = {"model_data_url": args.production_model}
    if source is None:
        return None, None
    model, meta = load_model(download_model(source["model_data_url"]))
    return source, (model, meta["features"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.model_package_group and args.production_model not in (NONE, ""):
        parser.error("give --model-package-group (Production is read from the registry) or --production-model")

    model, meta = load_model(args.model or processing_input("model"))
    features, label = meta["features"], meta["label"]
    frames = {
        name: pd.read_parquet(given or processing_input(name))
        for name, given in (("train", args.train), ("validation", args.validation), ("test", args.test))
    }
    production_source, production = _production(args)
    baselines = fit_baselines(frames["train"], features, label, seed=int(meta.get("seed", 0)))
    figures: dict[str, dict[str, dict[str, float]]] = {}
    scores_by_split: dict[str, dict[str, np.ndarray]] = {}
    for split in (SELECTION_SPLIT, GATE_SPLIT):
        y = frames[split][label].astype(int).to_numpy()
        scores_by_split[split] = _score_all(model, features, baselines, production, frames[split])
        figures[split] = {name: classification_metrics(y, values) for name, values in scores_by_split[split].items()}
    test = frames[GATE_SPLIT]
    y_true = test[label].astype(int).to_numpy()
    scores = scores_by_split[GATE_SPLIT]["candidate"]
    metrics = figures[GATE_SPLIT]["candidate"]
    production_metrics = figures[GATE_SPLIT].get("production")
    production_scores = scores_by_split[GATE_SPLIT].get("production")
    manifest_path = (args.training_set or processing_input("training_set")) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    recorded = lineage(meta, manifest, args)
    # Where the labels came from (the data bucket's labels/, or a DVC project's commit, path and hash): beside the
    # manifest's own hash, so a version names both the kit's dataset version and the DVC one.
    source_path = manifest_path.with_name("labels_source.json")
    if source_path.exists():
        recorded["labels_source"] = json.loads(source_path.read_text())
    missing = missing_lineage({f"lineage.{k}": v for k, v in recorded.items()})
    evaluation_versions = library_versions()
    mismatch = version_mismatch(dict(meta.get("library_versions", {})), evaluation_versions)
    gate = gate_decision(
        metrics,
        production_metrics,
        primary=args.primary_metric,
        min_primary=args.min_primary_metric,
        min_improvement=args.min_improvement,
        missing=missing,
        baseline=(args.baseline, figures[GATE_SPLIT][f"baseline.{args.baseline}"]),
        min_baseline_improvement=args.min_baseline_improvement,
        version_mismatch=mismatch,
    )
    out = args.output or processing_output("evaluation")
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "metrics": metrics,
        "metrics_split": GATE_SPLIT,
        "production_metrics": production_metrics,
        "production": production_source,
        "baseline_metrics": {name: figures[GATE_SPLIT][f"baseline.{name}"] for name in BASELINES},
        "figures": figures,
        "splits": {
            name: {"rows": len(frame), "positives": int(frame[label].astype(int).sum()), "role": ROLES[name]}
            for name, frame in frames.items()
        },
        "gate": gate,
        "library_versions": {"training": meta.get("library_versions", {}), "evaluation": evaluation_versions},
        "lineage": record_lineage(recorded, out, args.lineage_uri),
        "lineage_complete": not missing,
        "report_uri": args.report_uri,
        "baseline_uri": args.baseline_uri,
        "curves": meta.get("curves", {}),
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    report["metrics"] = metrics | {f"{k}_text": f"{v:.6f}" for k, v in metrics.items()}
    assert set(REQUIRED_LINEAGE) <= {f"lineage.{k}" for k in recorded}
    write_json(out / "model_quality.json", model_quality_document(y_true, scores))
    (out / "baseline.json").write_text(drift_baseline(test[features], scores, seed=int(meta.get("seed", 0))).to_json())
    images = plots(y_true, scores, production_scores, out)
    if args.tracking_uri not in (NONE, ""):
        artifacts = [*images, out / "model_quality.json", out / DOCUMENT_NAME]
        report["mlflow_run_id"] = log_to_mlflow(args.tracking_uri, report, meta, artifacts)
    write_json(out / "evaluation.json", report)
    print(f"evaluate: {args.primary_metric}={metrics[args.primary_metric]:.4f} on {GATE_SPLIT}; gate: {gate['reason']}")
    return report


if __name__ == "__main__":
    main()
