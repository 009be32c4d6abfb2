"""Feature ingestion: SQS messages (partial batch failures reported) or EventBridge events -> both stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.features.ingest import FeatureRecords, IngestSettings, load_registry
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.online import OnlineStore
from mlops_kit.features.storage import S3ObjectStore
from mlops_kit.features.store import FeatureStore, IngestReport
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger, metrics = observability.logger, observability.metrics

processor = BatchProcessor(event_type=EventType.SQS)
MAX_LOGGED_REFUSALS = 20  # per batch; the metric counts them all


class FeatureRecordsEvent(EventBridgeEvent):
    """One batch of records put on the bus (source ``mlops.features``, detail-type ``Feature Records``)."""

    detail: FeatureRecords


@cache
def settings() -> IngestSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(IngestSettings)


@cache
def store() -> FeatureStore:
    """Both stores, with the groups of ``settings().registry``; raises FeatureStoreError when a group's version in
    the code differs from the deployed one."""
    config = settings()
    registry = load_registry(config.registry, config.group_versions)
    client_config = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=32)
    s3 = boto3.client("s3", config=client_config)
    dynamodb = boto3.client("dynamodb", config=client_config)
    return FeatureStore(
        registry,
        offline=OfflineStore(registry, S3ObjectStore(s3, config.offline_bucket, config.offline_prefix)),
        online=OnlineStore.from_client(registry, dynamodb, config.table_name),
        max_future_skew=dt.timedelta(seconds=config.max_future_skew_seconds),
    )


def ingest(batch: FeatureRecords, delivery: str, delivered_at: dt.datetime | None) -> IngestReport:
    """Write one batch; ``delivery`` (the message or event id) and its time name the offline files, so a
    redelivery adds no rows. Refused records are logged one by one and counted (``FeatureRecordsRefused``)."""
    report = store().ingest(batch.group, batch.records, batch_id=delivery, ingested_at=delivered_at)
    summary = report.summary()
    for refused in report.refused[:MAX_LOGGED_REFUSALS]:
        logger.warning("feature record refused", extra={"group": batch.group, "delivery": delivery, **asdict(refused)})
    logger.info("feature records ingested", extra=summary)
    metrics.add_metric(name="FeatureRecordsWritten", unit=MetricUnit.Count, value=summary["online_written"])
    metrics.add_metric(name="FeatureRecordsStale", unit=MetricUnit.Count, value=summary["online_stale"])
    metrics.add_metric(name="FeatureRecordsRefused", unit=MetricUnit.Count, value=summary["refused"])
    return report


def record_handler(record: SQSRecord) -> dict[str, Any]:
    # SQS stamps every message with SentTimestamp (epoch ms); without it (a hand-made event) the delivery is
    # only identified by its id, and the ingestion time is now.
    sent_ms = record.attributes.get("SentTimestamp")
    sent = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(sent_ms)) if sent_ms else None
    return ingest(FeatureRecords.model_validate_json(record.body), record.message_id, sent).summary()


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings()
    if "Records" in event:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)  # {"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}
    # Lambda retries an asynchronous invocation with the same event: its id and time identify the delivery.
    envelope = FeatureRecordsEvent.model_validate(event)
    return ingest(envelope.detail, envelope.id, envelope.time).summary()
