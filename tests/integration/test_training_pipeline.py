"""The training pipeline as deployed, run by the emulator end to end: feature store -> registered version,
reproducibility from the same data, code and seed, and a run started directly (StartPipelineExecution, as the
console or the SDK starts it) comparing with the Production version it finds itself; the gate refusing a worse model
than Production and the baseline."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import joblib
import pandas as pd
import pytest

from mlops_kit.features import fraud
from mlops_kit.pipeline.runs import start_run, wait_for_run
from mlops_kit.registry import REQUIRED_LINEAGE, LineageDocuments, ModelRegistry
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import Emulator
from tests.support import deploy_with_features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform(cloud_assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Emulator(workdir=tmp_path_factory.mktemp("pipeline")) as aws:
        outputs, data = deploy_with_features(aws, cloud_assembly)
        buffer = io.BytesIO()
        data.transactions.to_parquet(buffer, index=False)
        aws.client("s3").put_object(
            Bucket=outputs["DataBucketName"], Key="labels/fraud/transactions.parquet", Body=buffer.getvalue()
        )
        yield aws, outputs


def _run(platform: Any, **parameters: Any) -> Any:
    aws, outputs = platform
    sagemaker = aws.client("sagemaker")
    registry = ModelRegistry(sagemaker, outputs["ModelPackageGroupName"])
    arn = start_run(sagemaker, outputs["PipelineName"], registry=registry, parameters=parameters)
    return wait_for_run(sagemaker, aws.client("s3"), arn, registry=registry, poll_seconds=30, timeout_seconds=86400)


def _start_directly(platform: Any, **parameters: Any) -> Any:
    """A run started as the console or the SDK starts it: StartPipelineExecution, nothing about Production."""
    aws, outputs = platform
    sagemaker = aws.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(
        PipelineName=outputs["PipelineName"],
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in parameters.items()],
    )["PipelineExecutionArn"]
    registry = ModelRegistry(sagemaker, outputs["ModelPackageGroupName"])
    return wait_for_run(sagemaker, aws.client("s3"), arn, registry=registry, poll_seconds=30, timeout_seconds=86400)


def _model_scores(platform: Any, model_data_url: str, frame: pd.DataFrame) -> Any:
    aws, _ = platform
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        model = joblib.load(archive.extractfile("model.joblib"))
    return model.predict_proba(frame[list(fraud.MODEL_FEATURES)])[:, 1]


def test_the_pipeline_registers_a_reproducible_version_with_complete_lineage_and_refuses_a_worse_one(
    platform: Any,
) -> None:
    first = _run(platform)

    assert first.status == "Succeeded", first.failure_reason
    assert [s.name for s in first.steps if s.status == "Succeeded"][-1] in ("Register", "Gate")
    version = first.registered
    assert version is not None
    assert (version.stage, version.stage_status, version.approval_status) == (
        "Staging",
        "PendingApproval",
        "PendingManualApproval",
    )
    assert {f"lineage.{k}" for k in version.lineage} >= set(REQUIRED_LINEAGE)
    assert version.lineage["seed"] == "42"
    # The registry holds short values SageMaker accepts; the document the Evaluate step wrote holds every value.
    assert version.lineage["hyperparameters"] == "learning_rate=0.08 max_depth=6 max_iter=300"
    reference = version.lineage_document
    assert reference is not None
    assert reference.uri.endswith("/Evaluate/evaluation/lineage.json")
    aws, outputs = platform
    documents = LineageDocuments(aws.client("s3"))
    full = ModelRegistry(aws.client("sagemaker"), outputs["ModelPackageGroupName"], documents=documents).full_lineage(
        version.arn
    )
    assert set(full["feature_group_versions"]) == {"customer_profile", "customer_activity"}
    assert full["hyperparameters"] == {"learning_rate": 0.08, "max_depth": 6, "max_iter": 300}
    assert "scikit-learn" in full["library_versions"]
    assert first.gate["passed"] is True
    assert first.evaluation["baseline_uri"].endswith("/Evaluate/evaluation/baseline.json")

    evaluation = first.evaluation
    assert evaluation["production"] is None  # nothing served yet
    assert evaluation["metrics_split"] == first.gate["inputs"]["split"] == "test"
    assert set(evaluation["figures"]) == {"validation", "test"}
    assert set(evaluation["figures"]["test"]) == {"candidate", "baseline.prior_rate", "baseline.logistic_regression"}
    assert evaluation["figures"]["test"]["baseline.prior_rate"]["roc_auc"] == 0.5
    assert evaluation["splits"]["test"]["rows"] == evaluation["metrics"]["rows"]
    assert evaluation["library_versions"]["training"] == evaluation["library_versions"]["evaluation"]
    assert full["library_versions"]["scikit-learn"] == "1.9.1"  # the pin, as the training job imported it

    # With version 1 in Production, a run started directly (no parameter at all: the console's or the SDK's way)
    # finds Production itself and is compared with it. Same training set, code and seed: the same metrics and the
    # same predictions, so it ties with Production and passes with the default MinImprovement of 0.
    registry = ModelRegistry(aws.client("sagemaker"), outputs["ModelPackageGroupName"])
    registry.approve(version.arn, approver="test")
    registry.promote(version.arn)
    second = _start_directly(platform)

    assert second.evaluation["production"]["model_package_arn"] == version.arn
    assert second.gate["inputs"]["production"] == pytest.approx(first.evaluation["metrics"]["roc_auc"])
    assert second.evaluation["lineage"]["dataset_manifest_hash"] == first.evaluation["lineage"]["dataset_manifest_hash"]
    assert second.evaluation["metrics"] == first.evaluation["metrics"]
    sample = pd.DataFrame([[0.5] * len(fraud.MODEL_FEATURES)], columns=list(fraud.MODEL_FEATURES))
    assert second.registered is not None
    assert (
        _model_scores(platform, version.model_data_url, sample)
        == _model_scores(platform, second.registered.model_data_url, sample)
    ).all()

    # A deliberately worse configuration, also started directly, is refused: worse than Production and than a
    # logistic regression on the same split.
    worse = _start_directly(platform, MaxIter=2, MaxDepth=1, Baseline="logistic_regression")

    assert worse.status == "Failed"
    assert worse.registered is None
    assert "does not beat Production" in worse.failure_reason
    assert "does not beat the logistic regression baseline" in worse.failure_reason
    assert worse.gate["inputs"]["production"] == pytest.approx(first.evaluation["metrics"]["roc_auc"])
    assert json.dumps(worse.evaluation, allow_nan=False)  # the report is strict JSON
