"""The promotion scenarios' models: trained once per dataset, quality and seed, packaged as a training job does."""

from __future__ import annotations

import io
import json
import tarfile

import joblib

from mlops_local.demo.scenarios import fixture_data, train


def test_a_model_is_trained_once_per_dataset_quality_and_seed_and_packaged_as_a_training_job_does() -> None:
    data = fixture_data(rows=1500)

    first = train(data, seed=1)
    again = train(fixture_data(rows=1500), seed=1)  # the same rows, so the same dataset hash
    other_seed = train(data, seed=2)
    shuffled = train(data, quality="random", seed=1)

    assert again is first
    assert other_seed.archive != first.archive
    assert shuffled.roc_auc < first.roc_auc
    with tarfile.open(fileobj=io.BytesIO(first.archive)) as tar:
        assert sorted(tar.getnames()) == ["model.joblib", "model_meta.json"]
        meta = json.load(tar.extractfile("model_meta.json"))  # type: ignore[arg-type]
        model = joblib.load(tar.extractfile("model.joblib"))
    assert meta["seed"] == 1
    assert meta["features"] == list(model.feature_names_in_)
