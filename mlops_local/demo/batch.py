"""Demo stage: batch scoring -- the Production model over the last day of the demo's transactions, as ``mlops batch``
runs it (the start function, then the processing job), with the features as of each transaction's time."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pandas as pd

from mlops_kit.cli.console import step, table
from mlops_kit.features import fraud
from mlops_local.demo.context import DemoContext, DemoStageError

LABELS_KEY = "labels/fraud/transactions.parquet"  # written by the features stage
INPUT_KEY = "batch/input/demo/last-day.parquet"


def run(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    began = time.monotonic()
    s3 = aws.client("s3")
    bucket = context.output("DataBucketName")
    labels = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=LABELS_KEY)["Body"].read()))
    last_day = labels[labels["event_timestamp"] >= labels["event_timestamp"].max() - pd.Timedelta(days=1)]
    buffer = io.BytesIO()
    last_day.drop(columns=[fraud.LABEL]).to_parquet(buffer, index=False)
    s3.put_object(Bucket=bucket, Key=INPUT_KEY, Body=buffer.getvalue())
    uri = f"s3://{bucket}/{INPUT_KEY}"

    with step(f"mlops batch --input {uri} ({len(last_day)} transactions, the Production model)"):
        response = aws.client("lambda").invoke(
            FunctionName=context.output("BatchStartFunctionName"),
            Payload=json.dumps({"source": "cli", "input_uri": uri}).encode(),
        )
        started = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise DemoStageError(f"the batch job did not start: {started.get('errorMessage')}")
        name = started["job_name"]
        sagemaker = aws.client("sagemaker")

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sagemaker.describe_processing_job(ProcessingJobName=name)
            return described if described["ProcessingJobStatus"] not in ("InProgress", "Stopping") else None

        described = aws.wait_until(ended, description=f"batch job {name}")
    if described["ProcessingJobStatus"] != "Completed":
        raise DemoStageError(f"batch job {name} {described['ProcessingJobStatus']}: {described.get('FailureReason')}")
    prefix = started["output_uri"].split("/", 3)[3]
    lineage = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/lineage.json")["Body"].read())
    predictions = pd.read_parquet(
        io.BytesIO(s3.get_object(Bucket=bucket, Key=f"{prefix}/predictions.parquet")["Body"].read())
    )
    scored = predictions.merge(last_day[["transaction_id", fraud.LABEL]], on="transaction_id", validate="one_to_one")
    flagged = scored[scored["label"] == 1]
    caught, fraud_rows = int(flagged[fraud.LABEL].sum()), int(scored[fraud.LABEL].sum())
    snapshot = lineage["feature_snapshot"]
    context.console.print(
        table(
            f"Batch job {name}",
            ["", ""],
            [
                [
                    "model",
                    f"version {lineage['model']['version']} ({lineage['model']['package_arn'].rsplit(':', 1)[1]})",
                ],
                ["input", f"{lineage['input']['rows']} rows, manifest {lineage['input']['manifest_hash'][:16]}"],
                [
                    "features as of",
                    f"each row's event_timestamp ({snapshot['as_of_min'][:19]} .. {snapshot['as_of_max'][:19]})",
                ],
                ["matched", ", ".join(f"{g} {n}" for g, n in snapshot["matched_rows"].items())],
                [
                    "flagged",
                    f"{len(flagged)} ({caught} of them fraud; {fraud_rows} fraud in all)",
                ],
                ["output", f"{started['output_uri']}/{lineage['output']['file']} + lineage.json"],
            ],
        )
    )
    return {
        "job": name,
        "model_version": lineage["model"]["version"],
        "rows": lineage["output"]["rows"],
        "flagged": len(flagged),
        "input_manifest_hash": lineage["input"]["manifest_hash"],
        "output_uri": started["output_uri"],
        "seconds": round(time.monotonic() - began, 1),
    }
