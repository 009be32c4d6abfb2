"""Demo stage: the feature store on the emulator -- ingest the fraud data, read it online, build a training set.

Leaves in the summary what later stages use: the labels' and the training set's S3 URIs, the manifest (the
dataset version), the feature group versions and the data window. The training stage can also build its own
training set from the labels with ``OfflineStore.get_historical_features``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from typing import Any

from mlops_kit.cli.console import step, table
from mlops_kit.features import fraud
from mlops_kit.features.offline import write_training_set
from mlops_kit.features.online import OnlineStore
from mlops_kit.features.store import deployed, deployed_names
from mlops_local.demo.context import DemoContext

N_CUSTOMERS = 2_000
N_TRANSACTIONS = 20_000
SEED = 42
DAYS = 90


def data_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The demo's feature history: the ``DAYS`` days up to the start of today (UTC). Online reads check TTLs
    against the real clock, as on AWS, so the history must end now for the endpoint to find fresh features;
    whole days keep every time-of-day feature (and so every metric) the same from one day to the next."""
    now = now or dt.datetime.now(dt.UTC)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return end - dt.timedelta(days=DAYS), end


def run(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    outputs = {k: v for s in context.stacks for k, v in s.outputs.items()}
    names = deployed_names(outputs)
    start, end = data_window()
    with step(f"Generating {N_CUSTOMERS} customers and {N_TRANSACTIONS} labelled transactions (seed {SEED})"):
        data = fraud.generate(N_CUSTOMERS, N_TRANSACTIONS, seed=SEED, start=start, days=DAYS)
    store = deployed(fraud.REGISTRY, aws.session(), names, endpoint_url=aws.endpoint_url, clock=lambda: end)

    ingested: dict[str, Any] = {}
    rows = []
    for group, frame in data.feature_rows().items():
        with step(f"Ingesting {len(frame)} {group} rows into S3 (Parquet) and DynamoDB"):
            started = time.monotonic()
            report = store.ingest(group, frame)
        summary = report.summary()
        ingested[group] = {**summary, "seconds": round(time.monotonic() - started, 2)}
        counts = ("offline_rows", "offline_files", "online_written", "online_stale")
        rows.append([group, fraud.REGISTRY.group(group).version, *(str(summary[c]) for c in counts)])
    context.console.print(
        table("Ingested", ["group", "version", "offline rows", "files", "online written", "online stale"], rows)
    )

    # The streaming path: one message through SQS -> the ingest Lambda -> both stores.
    fresh = {"customer_id": "C0000001", "event_timestamp": end.isoformat(), "txn_count_7d": 99,
             "avg_amount_7d": 42.0, "max_amount_7d": 420.0}  # fmt: skip
    with step("Streaming one record through SQS and the ingest Lambda"):
        aws.client("sqs").send_message(
            QueueUrl=outputs["FeatureIngestQueueUrl"],
            MessageBody=json.dumps({"group": "customer_activity", "records": [fresh]}),
        )

    online = OnlineStore.from_client(
        fraud.REGISTRY, aws.client("dynamodb"), names.table_name, clock=lambda: end + dt.timedelta(seconds=1)
    )
    customers = sorted(data.transactions["customer_id"].unique())
    reads = {}
    for count in (1, 100):
        result = online.get([{"customer_id": c} for c in customers[:count]], fraud.FEATURE_REFS)
        reads[f"{count}x{len(fraud.FEATURE_GROUPS)}"] = {
            "requests": result.requests,
            "keys": result.keys,
            "ms": round(result.seconds * 1000, 2),
            "decode_us_per_entity": round(result.decode_seconds * 1e6 / count, 1),
        }
    shown = ["C0000001", *customers[2:5], "C9999999"]  # the streamed record, three others, an unknown customer
    sample = online.get([{"customer_id": c} for c in shown], fraud.FEATURE_REFS)
    context.console.print(
        table(
            f"Online features as of {end:%Y-%m-%d} (1 entity: {reads['1x2']['requests']} request, "
            f"100 entities: {reads['100x2']['requests']} requests, {reads['100x2']['ms']} ms)",
            ["customer", *sample.columns, "status"],
            [
                [c, *["—" if r[k] is None else str(r[k]) for k in sample.columns], ",".join(s.values())]
                for c, r, s in zip(shown, sample.rows, sample.status, strict=True)
            ],
        )
    )

    assert store.offline is not None
    with step(f"Point-in-time join of {len(data.transactions)} labels over the offline store in S3"):
        training = store.offline.get_historical_features(data.transactions, fraud.FEATURE_REFS)
    manifest = training.manifest
    version = manifest.dataset_version
    s3 = aws.client("s3")
    labels_key = "labels/fraud/transactions.parquet"
    buffer = io.BytesIO()
    data.transactions.to_parquet(buffer, index=False)
    s3.put_object(Bucket=names.bucket, Key=labels_key, Body=buffer.getvalue())
    training_uri = f"s3://{names.artifacts_bucket}/training-sets/{version}"
    with step(f"Writing the training set to {training_uri}"):
        uris = write_training_set(training, training_uri, s3_client=s3)
    context.console.print(
        table(
            "Training set manifest (the dataset version training records)",
            ["", ""],
            [
                ["dataset version", version],
                ["rows / label rows", f"{manifest.rows} / {manifest.label_rows}"],
                ["label rows with values", json.dumps(manifest.matched)],
                ["fraud rate", f"{data.transactions[fraud.LABEL].mean():.2%}"],
                ["feature groups", json.dumps(manifest.feature_groups)],
                ["label hash", manifest.label_hash[:16]],
                ["join time", f"{training.seconds:.2f} s"],
            ],
        )
    )
    return {
        "feature_groups": fraud.REGISTRY.versions(),
        "data_window": {"start": start.isoformat(), "end": end.isoformat()},
        "ingested": ingested,
        "online_reads": reads,
        "labels_uri": f"s3://{names.bucket}/{labels_key}",
        "training_set_uri": training_uri,
        "training_set": uris,
        "manifest": manifest.to_dict(),
    }
