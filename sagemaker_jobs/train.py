"""Train the default model: scikit-learn's HistGradientBoostingClassifier on the use case's features.

Script mode: SageMaker passes hyper-parameters as ``--name value`` and the data and model folders through
``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_VALIDATION`` and ``SM_MODEL_DIR``. Writes ``model.joblib`` and
``model_meta.json`` (features, hyper-parameters, seed, library versions, learning curves) to the model dir.
To train your own model, replace :func:`fit` (or this file) and keep the two outputs; see README.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss, roc_auc_score

from mlops_kit.pipeline.usecase import load_use_case
from sagemaker_jobs.layout import library_versions, opt_ml, write_json


def fit(
    train: pd.DataFrame, validation: pd.DataFrame, features: list[str], label: str, hyper: dict[str, Any], seed: int
) -> tuple[Any, dict[str, list[float]]]:
    """Fit the classifier; return it with per-iteration learning curves (log-loss, ROC AUC)."""
    model = HistGradientBoostingClassifier(
        max_iter=int(hyper["max_iter"]),
        learning_rate=float(hyper["learning_rate"]),
        max_depth=int(hyper["max_depth"]),
        early_stopping=False,
        random_state=seed,
    )
    model.fit(train[features], train[label].astype(int))
    curves: dict[str, list[float]] = {"train_log_loss": [], "validation_log_loss": [], "validation_roc_auc": []}
    y_train, y_validation = train[label].astype(int), validation[label].astype(int)
    stride = max(1, model.n_iter_ // 50)  # at most ~50 points per curve
    staged_train = model.staged_predict_proba(train[features])
    staged_validation = model.staged_predict_proba(validation[features])
    for iteration, (p_train, p_validation) in enumerate(zip(staged_train, staged_validation, strict=True)):
        if iteration % stride and iteration != model.n_iter_ - 1:
            continue
        curves["train_log_loss"].append(float(log_loss(y_train, p_train[:, 1], labels=[0, 1])))
        curves["validation_log_loss"].append(float(log_loss(y_validation, p_validation[:, 1], labels=[0, 1])))
        auc = roc_auc_score(y_validation, p_validation[:, 1]) if y_validation.nunique() > 1 else float("nan")
        curves["validation_roc_auc"].append(float(np.nan_to_num(auc, nan=0.5)))
    return model, curves


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.08)
    parser.add_argument("--max-depth", type=int, default=6)
    parser.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAIN", opt_ml("input", "data", "train")))
    )
    parser.add_argument(
        "--validation",
        type=Path,
        default=Path(os.environ.get("SM_CHANNEL_VALIDATION", opt_ml("input", "data", "validation"))),
    )
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", opt_ml("model"))))
    args, _unknown = parser.parse_known_args(argv)  # SageMaker may pass extra framework arguments
    use_case = load_use_case(args.use_case)
    train = pd.read_parquet(args.train)
    validation = pd.read_parquet(args.validation)
    features = list(use_case.MODEL_FEATURES)
    hyper = {"max_iter": args.max_iter, "learning_rate": args.learning_rate, "max_depth": args.max_depth}
    model, curves = fit(train, validation, features, use_case.LABEL, hyper, args.seed)
    args.model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model_dir / "model.joblib")
    meta = {
        "use_case": args.use_case,
        "features": features,
        "label": use_case.LABEL,
        "hyperparameters": hyper,
        "seed": args.seed,
        "library_versions": library_versions(),
        "curves": curves,
        "rows": {"train": len(train), "validation": len(validation)},
    }
    write_json(args.model_dir / "model_meta.json", meta)
    final_auc = curves["validation_roc_auc"][-1]
    print(f"train: {len(train)} rows, {model.n_iter_} iterations, validation ROC AUC {final_auc:.4f}")
    return meta


if __name__ == "__main__":
    main()
