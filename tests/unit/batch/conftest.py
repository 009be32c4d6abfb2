"""A trained model directory (``model.joblib`` + ``model_meta.json``), an offline store with its history in a local
folder, and rows to score: what the batch job reads, built once per test run."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd
import pytest

from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import LocalObjectStore

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass
class World:
    model_dir: Path
    offline_uri: str
    data: fraud.FraudData

    def rows(self, n: int = 200) -> pd.DataFrame:
        """Transactions to score (the label column dropped: batch inputs have none)."""
        return self.data.transactions.head(n).drop(columns=[fraud.LABEL]).reset_index(drop=True)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from sagemaker_jobs.preprocess import split
    from sagemaker_jobs.train import fit

    root = tmp_path_factory.mktemp("batch-world")
    data = fraud.generate(200, 2000, seed=7, start=START, days=40)
    store = OfflineStore(fraud.REGISTRY, LocalObjectStore(str(root / "features")))
    for group, frame in data.feature_rows().items():
        store.write(group, frame)
    training = fraud.build_model_frame(store.get_historical_features(data.transactions, fraud.FEATURE_REFS).frame)
    parts = split(training, fraud.LABEL, 1)
    hyper = {"max_iter": 30, "learning_rate": 0.1, "max_depth": 3}
    model, _ = fit(parts["train"], parts["validation"], list(fraud.MODEL_FEATURES), fraud.LABEL, hyper, 1)
    model_dir = root / "model"
    model_dir.mkdir()
    joblib.dump(model, model_dir / "model.joblib")
    meta = {"use_case": "mlops_kit.features.fraud", "features": list(fraud.MODEL_FEATURES), "label": fraud.LABEL}
    (model_dir / "model_meta.json").write_text(json.dumps(meta))
    return World(model_dir=model_dir, offline_uri=str(root / "features"), data=data)
