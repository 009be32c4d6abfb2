"""The feature store: definitions, DynamoDB online store, S3 Parquet offline store, point-in-time training sets.

No AWS SDK is imported here: the stores take boto3 clients (or fakes) through small adapters.
"""

from mlops_kit.features.definitions import (
    EntityKey,
    Feature,
    FeatureGroup,
    FeatureRef,
    FeatureRegistry,
    FeatureStoreError,
    UnknownFeatureError,
    ValueType,
)
from mlops_kit.features.manifest import TrainingSetManifest, content_hash
from mlops_kit.features.offline import OfflineStore, TrainingSet, read_training_set, write_training_set
from mlops_kit.features.online import DynamoDBTable, OnlineFeatures, OnlineReadError, OnlineStore, WriteReport
from mlops_kit.features.records import InvalidRecordsError
from mlops_kit.features.storage import LocalObjectStore, S3ObjectStore, object_store
from mlops_kit.features.store import FeatureStore, IngestError, IngestReport

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
    "S3ObjectStore",
    "TrainingSet",
    "TrainingSetManifest",
    "UnknownFeatureError",
    "ValueType",
    "WriteReport",
    "content_hash",
    "object_store",
    "read_training_set",
    "write_training_set",
]
