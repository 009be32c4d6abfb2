"""The feature store: definitions, DynamoDB online store, S3 Parquet offline store, point-in-time training sets.

No AWS SDK is imported here: the stores take boto3 clients (or fakes) through small adapters. Names are
imported on first use, so ``from mlops_kit.features.online import OnlineStore`` (reads) needs neither pyarrow
nor pandas, and the ingestion path needs no numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "EntityKey": "definitions",
    "Feature": "definitions",
    "FeatureGroup": "definitions",
    "FeatureRef": "definitions",
    "FeatureRegistry": "definitions",
    "FeatureStoreError": "definitions",
    "InvalidRecordsError": "definitions",
    "UnknownFeatureError": "definitions",
    "ValueType": "definitions",
    "TrainingSetManifest": "manifest",
    "content_hash": "manifest",
    "OfflineStore": "offline",
    "TrainingSet": "offline",
    "read_training_set": "offline",
    "write_training_set": "offline",
    "DynamoDBTable": "online",
    "OnlineFeatures": "online",
    "OnlineReadError": "online",
    "OnlineStore": "online",
    "WriteReport": "online",
    "LocalObjectStore": "storage",
    "S3ObjectStore": "storage",
    "object_store": "storage",
    "FeatureStore": "store",
    "IngestError": "store",
    "IngestReport": "store",
    "RefusedRecord": "store",
    "deployed": "store",
}
__all__ = [
    "DynamoDBTable",
    "EntityKey",
    "Feature",
    "FeatureGroup",
    "FeatureRef",
    "FeatureRegistry",
    "FeatureStore",
    "FeatureStoreError",
    "IngestError",
    "IngestReport",
    "InvalidRecordsError",
    "LocalObjectStore",
    "OfflineStore",
    "OnlineFeatures",
    "OnlineReadError",
    "OnlineStore",
    "RefusedRecord",
    "S3ObjectStore",
    "TrainingSet",
    "TrainingSetManifest",
    "UnknownFeatureError",
    "ValueType",
    "WriteReport",
    "content_hash",
    "deployed",
    "object_store",
    "read_training_set",
    "write_training_set",
]

if TYPE_CHECKING:
    from mlops_kit.features.definitions import (
        EntityKey,
        Feature,
        FeatureGroup,
        FeatureRef,
        FeatureRegistry,
        FeatureStoreError,
        InvalidRecordsError,
        UnknownFeatureError,
        ValueType,
    )
    from mlops_kit.features.manifest import TrainingSetManifest, content_hash
    from mlops_kit.features.offline import OfflineStore, TrainingSet, read_training_set, write_training_set
    from mlops_kit.features.online import DynamoDBTable, OnlineFeatures, OnlineReadError, OnlineStore, WriteReport
    from mlops_kit.features.storage import LocalObjectStore, S3ObjectStore, object_store
    from mlops_kit.features.store import FeatureStore, IngestError, IngestReport, RefusedRecord, deployed


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlops_kit.features.{module}"), name)
