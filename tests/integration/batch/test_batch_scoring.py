"""`mlops batch` on the whole app deployed into the emulator: the start function, its processing job, and the
predictions it writes, which agree with what the endpoint answers for the same rows and features."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import S3ObjectStore
from mlops_kit.serving.client import EndpointClient
from mlops_local.demo.scenarios import SEED
from mlops_local.deploy import CloudAssembly
from tests.support import platform_with_production

runner = CliRunner()
ROWS = 300


@pytest.fixture(scope="module")
def served(cloud_assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> Any:
    started = time.monotonic()
    with platform_with_production(cloud_assembly, tmp_path_factory.mktemp("batch")) as (context, _):
        # The scenario's history (the data version 1 was trained on) in the deployed offline store.
        data = fraud.generate(500, 6000, seed=SEED, start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), days=60)
        s3 = context.emulator.client("s3")
        store = OfflineStore(fraud.REGISTRY, S3ObjectStore(s3, context.output("DataBucketName"), "features"))
        for group, frame in data.feature_rows().items():
            store.write(group, frame)
        yield context, data
    print(f"\nbatch integration module: {time.monotonic() - started:.1f} s wall (deploy, promote, tests)")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 400)
    monkeypatch.setattr(console.err_console, "_width", 600)


def test_mlops_batch_scores_a_file_with_the_production_model_as_the_endpoint_would(served, tmp_path: Path) -> None:
    context, data = served
    rows = data.transactions.tail(ROWS).drop(columns=[fraud.LABEL]).sample(frac=1.0, random_state=1)
    path = tmp_path / "transactions.csv"
    rows.to_csv(path, index=False)

    ran = runner.invoke(app, ["batch", "--file", str(path)])

    assert ran.exit_code == 0, ran.output
    assert "model version 1" in ran.output
    assert f"scored {ROWS} rows" in ran.output
    s3 = context.emulator.client("s3")
    bucket = context.output("DataBucketName")
    job = ran.output.split("batch job ", 1)[1].split(":", 1)[0]
    base = f"batch/output/{job}"
    predictions = pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=f"{base}/predictions.csv")["Body"].read()))
    lineage = json.loads(s3.get_object(Bucket=bucket, Key=f"{base}/lineage.json")["Body"].read())
    assert predictions["transaction_id"].tolist() == rows["transaction_id"].tolist()
    assert set(predictions["model_version"]) == {1}
    production = context.emulator.client("sagemaker").list_model_packages(
        ModelPackageGroupName=context.output("ModelPackageGroupName")
    )["ModelPackageSummaryList"][0]["ModelPackageArn"]
    assert lineage["model"]["package_arn"] == production
    assert lineage["model"]["model_data_url"].endswith("model.tar.gz")
    assert lineage["input"]["uri"].startswith(f"s3://{bucket}/batch/input/cli-")
    assert lineage["input"]["rows"] == ROWS
    assert len(lineage["input"]["manifest_hash"]) == 64
    assert lineage["feature_snapshot"]["matched_rows"]["customer_profile"] == ROWS

    # The endpoint, asked about the same rows with the features as of each row's time, answers the same scores.
    store = OfflineStore(fraud.REGISTRY, S3ObjectStore(s3, bucket, "features"))
    sample = rows.head(10)
    joined = store.get_historical_features(sample[["customer_id", "event_timestamp"]], fraud.FEATURE_REFS)
    client = EndpointClient(context.output("EndpointName"), context.emulator.client("sagemaker-runtime"))
    answers = [
        client.predict(
            {
                "customer_id": row["customer_id"],
                "transaction": {
                    "amount": float(row["amount"]),
                    "merchant_category": row["merchant_category"],
                    "event_timestamp": row["event_timestamp"].isoformat(),
                },
                "features": features,
            }
        ).body["score"]
        for row, features in zip(
            sample.to_dict(orient="records"),
            joined.table.select(joined.feature_columns).to_pylist(),
            strict=True,
        )
    ]
    assert predictions.head(10)["score"].tolist() == pytest.approx(answers, abs=1e-6)


def test_an_input_outside_the_batch_prefix_is_refused_before_any_job_starts(served) -> None:
    context, _ = served
    before = context.emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]
    bucket = context.output("DataBucketName")

    ran = runner.invoke(app, ["batch", "--input", f"s3://{bucket}/features/"])

    assert ran.exit_code == 1
    assert f"no batch job started: input s3://{bucket}/features/ is outside s3://{bucket}/batch/input/" in ran.output
    assert context.emulator.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == before


def test_a_job_on_bad_rows_fails_with_the_reason(served, tmp_path: Path) -> None:
    _context, data = served
    path = tmp_path / "no_ids.jsonl"
    data.transactions.head(5).drop(columns=["transaction_id"]).to_json(
        path, orient="records", lines=True, date_format="iso"
    )

    ran = runner.invoke(app, ["batch", "--file", str(path)])

    assert ran.exit_code == 1
    assert "failed" in ran.output
    assert "lacks column(s) 'transaction_id' (id)" in ran.output


def test_the_demo_stage_scores_the_last_day_with_the_production_model(served) -> None:
    from mlops_local.demo import batch

    context, data = served
    buffer = io.BytesIO()
    data.transactions.to_parquet(buffer, index=False)
    context.emulator.client("s3").put_object(
        Bucket=context.output("DataBucketName"), Key=batch.LABELS_KEY, Body=buffer.getvalue()
    )

    summary = batch.run(context)

    last = data.transactions["event_timestamp"]
    assert summary["rows"] == int((last >= last.max() - pd.Timedelta(days=1)).sum())
    assert summary["model_version"] == "1"
    assert summary["output_uri"].endswith(summary["job"])
