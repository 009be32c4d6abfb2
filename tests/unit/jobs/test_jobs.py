"""The job scripts' pure functions: validation, split, metrics, gate, lineage contract."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlops_kit.pipeline.usecase import Expectations, UseCaseError, load_use_case
from mlops_kit.registry import REQUIRED_LINEAGE
from sagemaker_jobs import evaluate, preprocess, train, validate


def toy_frame(n: int = 1000, seed: int = 0, rate: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(3 * x1 - 2 + np.log(rate / (1 - rate)))))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label})


def test_validation_passes_good_data_and_lists_every_violation() -> None:
    good = validate.validate(toy_frame(), "label", Expectations(min_rows=100))
    frame = toy_frame(50)
    frame.loc[:30, "x2"] = np.nan
    frame["label"] = 0

    bad = validate.validate(frame, "label", Expectations(min_rows=100, ranges={"x1": (-1, 1)}, max_null_fraction=0.2))

    assert good["passed"]
    assert good["violations"] == []
    assert not bad["passed"]
    checks = {v["check"] for v in bad["violations"]}
    assert checks == {"min_rows", "label_rate", "null_fraction", "range"}
    assert "min_rows(*): expected 100, got 50" in bad["summary"]
    json.dumps(bad, allow_nan=False)  # the report is strict JSON


def test_validation_reports_a_missing_label_instead_of_crashing() -> None:
    report = validate.validate(toy_frame().drop(columns="label"), "label", Expectations(min_rows=1))

    assert report["violations"][0] == {
        "check": "missing_column",
        "column": "label",
        "expected": "present",
        "observed": "absent",
    }


def test_split_is_deterministic_disjoint_and_holds_test_out_by_identity_not_seed() -> None:
    frame = toy_frame(2000)

    first = preprocess.split(frame, "label", seed=7)
    second = preprocess.split(frame, "label", seed=7)
    other = preprocess.split(frame, "label", seed=8)

    assert all(first[k].index.equals(second[k].index) for k in preprocess.SPLITS)
    # Reseeding (or retuning) reshuffles train and validation, never the gate's test rows.
    assert first["test"].index.equals(other["test"].index)
    assert not first["validation"].index.equals(other["validation"].index)
    indices = [set(part.index) for part in first.values()]
    assert sum(map(len, indices)) == len(frame)
    assert not (indices[0] & indices[1])
    assert not (indices[0] & indices[2])
    assert not (indices[1] & indices[2])
    assert 0.12 < len(first["test"]) / len(frame) < 0.18
    rates = [part["label"].mean() for part in (first["train"], first["validation"])]
    assert max(rates) - min(rates) < 0.02


def test_a_test_row_stays_in_test_when_the_training_set_grows() -> None:
    identity = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(3000)]})
    frame = toy_frame(3000)

    smaller = preprocess.split(frame.iloc[:2000], "label", seed=1, identity=identity.iloc[:2000])
    larger = preprocess.split(frame, "label", seed=1, identity=identity)

    assert set(smaller["test"].index) == set(larger["test"].index) & set(range(2000))
    with pytest.raises(ValueError, match="identity has 10 rows for a frame of 3000"):
        preprocess.split(frame, "label", seed=1, identity=identity.iloc[:10])


def test_identity_columns_leave_out_features_and_the_label() -> None:
    training_set = pd.DataFrame(columns=["transaction_id", "event_timestamp", "age", "txn_count_7d", "is_fraud"])
    manifest = {"feature_refs": ["customer_profile:age", "customer_activity:txn_count_7d"]}

    assert preprocess.identity_columns(training_set, manifest, "is_fraud") == ["transaction_id", "event_timestamp"]


def test_metrics_match_sklearn_and_degrade_gracefully_with_one_class() -> None:
    frame = toy_frame(500)
    scores = 1 / (1 + np.exp(-frame["x1"].to_numpy()))

    metrics = evaluate.classification_metrics(frame["label"].to_numpy(), scores)
    single = evaluate.classification_metrics(np.zeros(10, dtype=int), np.linspace(0, 1, 10))

    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(frame["label"], scores))
    assert single["roc_auc"] == 0.5
    assert all(math.isfinite(v) for v in single.values())


@pytest.mark.parametrize(
    ("candidate", "production", "missing", "passed", "reason"),
    [
        (0.90, None, [], True, "passed"),
        (0.70, None, [], False, "roc_auc 0.7000 is below the required 0.7500"),
        (0.90, 0.91, [], False, "roc_auc 0.9000 does not beat Production (0.9100) by 0.0050"),
        (0.92, 0.91, [], True, "passed"),
        (0.90, None, ["lineage.seed"], False, "lineage is incomplete: ['lineage.seed']"),
    ],
)
def test_gate_requires_the_bar_beating_production_and_lineage(candidate, production, missing, passed, reason) -> None:
    decision = evaluate.gate_decision(
        {"roc_auc": candidate},
        {"roc_auc": production} if production is not None else None,
        primary="roc_auc",
        min_primary=0.75,
        min_improvement=0.005,
        missing=missing,
    )

    assert decision["passed"] is passed
    assert decision["reason"] == reason
    assert decision["inputs"]["production"] == production
    assert decision["inputs"]["split"] == "test"


@pytest.mark.parametrize(("baseline", "passed"), [(0.80, True), (0.86, False)])
def test_gate_requires_beating_the_baseline_by_the_margin(baseline: float, passed: bool) -> None:
    decision = evaluate.gate_decision(
        {"roc_auc": 0.90},
        None,
        primary="roc_auc",
        min_primary=0.75,
        min_improvement=0.0,
        missing=[],
        baseline=("logistic_regression", {"roc_auc": baseline}),
        min_baseline_improvement=0.05,
    )

    assert decision["passed"] is passed
    assert decision["inputs"]["baseline_value"] == baseline
    if not passed:
        assert decision["reason"] == (
            "roc_auc 0.9000 does not beat the logistic regression baseline (0.8600) by 0.0500: a simpler model does "
            "as well"
        )


def test_gate_refuses_a_model_evaluated_with_other_library_versions_than_it_was_trained_with() -> None:
    trained = {"python": "3.12.3", "scikit-learn": "1.9.1", "numpy": "2.4.6"}
    mismatch = evaluate.version_mismatch(trained, {**trained, "python": "3.12.9", "scikit-learn": "1.8.0"})

    decision = evaluate.gate_decision(
        {"roc_auc": 0.9}, None, primary="roc_auc", min_primary=0.5, min_improvement=0.0, missing=[],
        version_mismatch=mismatch,
    )  # fmt: skip

    assert mismatch == {"scikit-learn": ("1.9.1", "1.8.0")}  # a patch release of Python is the same runtime
    assert not decision["passed"]
    assert "scikit-learn 1.9.1 (training) vs 1.8.0 (evaluation)" in decision["reason"]


def test_baselines_are_the_training_prior_rate_and_a_logistic_regression() -> None:
    frame = toy_frame(3000)
    frame.loc[::7, "x2"] = np.nan  # the logistic regression imputes
    parts = preprocess.split(frame, "label", seed=0)

    baselines = evaluate.fit_baselines(parts["train"], ["x1", "x2"], "label", seed=0)
    prior = baselines["prior_rate"](parts["test"])
    logistic = baselines["logistic_regression"](parts["test"])

    np.testing.assert_allclose(prior, parts["train"]["label"].mean())
    y = parts["test"]["label"].to_numpy()
    assert evaluate.classification_metrics(y, prior)["roc_auc"] == 0.5
    assert evaluate.classification_metrics(y, logistic)["roc_auc"] > 0.8


class _Registry:
    """list_model_packages / describe_model_package of a group whose version 2 is in Production."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def list_model_packages(self, **_: object) -> dict[str, object]:
        if self.fail:
            raise PermissionError("AccessDenied: not authorized to perform sagemaker:ListModelPackages")
        return {"ModelPackageSummaryList": [{"ModelPackageArn": f"arn:pkg/g/{n}"} for n in (1, 2)]}

    def describe_model_package(self, ModelPackageName: str) -> dict[str, object]:
        number = int(ModelPackageName.rsplit("/", 1)[1])
        return {
            "ModelPackageArn": ModelPackageName,
            "ModelPackageGroupName": "g",
            "ModelPackageVersion": number,
            "ModelApprovalStatus": "Approved",
            "ModelLifeCycle": {"Stage": "Production" if number == 2 else "Archived", "StageStatus": "Deployed"},
            "InferenceSpecification": {
                "Containers": [{"Image": "i", "ModelDataUrl": f"s3://b/models/{number}.tar.gz"}]
            },
            "CustomerMetadataProperties": {},
        }


def test_evaluate_finds_production_in_the_registry_and_fails_when_it_cannot_read_it() -> None:
    found = evaluate.find_production(_Registry(), "g")

    assert found == {"model_package_arn": "arn:pkg/g/2", "version": 2, "model_data_url": "s3://b/models/2.tar.gz"}
    with pytest.raises(RuntimeError, match="cannot read the Production version of model package group 'g'"):
        evaluate.find_production(_Registry(fail=True), "g")


def test_model_quality_document_has_model_monitor_shape() -> None:
    frame = toy_frame(300)
    scores = 1 / (1 + np.exp(-frame["x1"].to_numpy()))

    document = evaluate.model_quality_document(frame["label"].to_numpy(), scores)

    metrics = document["binary_classification_metrics"]
    assert {"auc", "f1", "precision", "recall", "accuracy", "confusion_matrix"} <= set(metrics)
    assert metrics["auc"]["standard_deviation"] == "NaN"
    json.dumps(document, allow_nan=False)


def test_training_is_reproducible_from_the_seed() -> None:
    frame = toy_frame(1500)
    parts = preprocess.split(frame, "label", seed=1)
    hyper = {"max_iter": 30, "learning_rate": 0.1, "max_depth": 3}

    first, curves = train.fit(parts["train"], parts["validation"], ["x1", "x2"], "label", hyper, seed=3)
    second, _ = train.fit(parts["train"], parts["validation"], ["x1", "x2"], "label", hyper, seed=3)

    np.testing.assert_array_equal(
        first.predict_proba(parts["test"][["x1", "x2"]]), second.predict_proba(parts["test"][["x1", "x2"]])
    )
    assert len(curves["validation_log_loss"]) == len(curves["train_log_loss"]) > 1


def test_lineage_recorded_by_evaluate_covers_the_registry_contract() -> None:
    args = argparse.Namespace(
        dataset_manifest_uri="x", code_commit="x", pipeline_execution="x", training_image="x", inference_image="x"
    )

    recorded = evaluate.lineage(
        {"library_versions": {}, "hyperparameters": {}, "seed": 1},
        {"dataset_hash": "h", "feature_groups": {"g": "v1"}},
        args,
    )

    assert {f"lineage.{k}" for k in recorded} == set(REQUIRED_LINEAGE)


def test_a_use_case_without_the_contract_is_a_clear_error() -> None:
    with pytest.raises(UseCaseError, match=r"lacks \['LABEL', 'MODEL_FEATURES', 'build_model_frame'\]"):
        load_use_case("json")
    with pytest.raises(UseCaseError, match="cannot be imported"):
        load_use_case("no.such.module")


def test_the_evaluation_logs_every_point_of_the_training_curves_to_mlflow_with_its_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    curves = {"train_log_loss": [0.6, 0.5, 0.45], "validation_roc_auc": [0.7 + i / 1000 for i in range(1200)]}
    report = {
        "lineage": {"pipeline_execution": "arn:aws:sagemaker:us-east-1:1:pipeline/fraud/execution/abc"},
        "metrics": {"roc_auc": 0.8},
        "figures": {},
        "gate": {"reason": "better than Production"},
    }
    meta = {"hyperparameters": {"max_iter": 3}, "seed": 1, "use_case": "fraud", "curves": curves}
    # A file store: what the job logs is the same on every store, and a new SQLite store's migrations take 5-15 s.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()

    run_id = evaluate.log_to_mlflow(uri, report, meta, [])

    client = mlflow.MlflowClient(uri)
    for name, values in curves.items():  # more points than one MLflow batch takes (1,000)
        history = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == list(enumerate(values))
    assert client.get_run(run_id).data.metrics["test_roc_auc"] == 0.8
