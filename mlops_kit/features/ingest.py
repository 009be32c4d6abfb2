"""Streaming ingestion logic (the ``feature_ingest`` Lambda's domain): validated events into both stores.

An event is ``{"group": "<feature group>", "records": [{column: value, ...}, ...]}``, as an SQS message body
or the detail of an EventBridge event. Re-delivery is harmless: the offline files are named after the
delivery (message or event id and its time), so a redelivered batch finds them written and adds no rows, and
the online store counts the replay as stale. A batch with an invalid record is refused whole before anything
is written; records dated too far in the future are refused one by one and reported.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_kit.environment import HandlerSettings
from mlops_kit.features.definitions import FeatureGroup, FeatureRegistry, FeatureStoreError

MAX_RECORDS = 10_000


class FeatureRecords(BaseModel):
    """One batch of records of one feature group (validated again, column by column, by the stores)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1, max_length=63)
    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)


class IngestSettings(HandlerSettings):
    """``lambdas/feature_ingest``: the stores it writes and the feature groups it writes them with.

    Built by ``cdk/constructs/feature_store.py`` (``FeatureIngestion``); ``registry`` is where the function
    imports the groups from (``module:attribute``) and ``group_versions`` the version of each group the stack
    deployed (its Glue table), which :func:`load_registry` checks against the code.
    """

    VARIABLE: ClassVar[str] = "MLOPS_FEATURE_INGEST_SETTINGS"

    table_name: str = Field(min_length=1)
    offline_bucket: str = Field(min_length=1)
    offline_prefix: str = Field(min_length=1)
    registry: str = Field(pattern=r"^[A-Za-z_][\w.]*:\w+$")
    group_versions: dict[str, str] = Field(min_length=1)
    # Records with an event time more than this after now are refused (see FeatureStore); the default is
    # the store's own until the stack sets it from the platform config.
    max_future_skew_seconds: int = Field(300, ge=0, le=7 * 86_400)


def load_registry(spec: str, expected_versions: dict[str, str] | None = None) -> FeatureRegistry:
    """Import ``module:attribute`` (a sequence of feature groups) and check each deployed version matches.

    A mismatch means the function's code and the deployed catalog disagree (a definition changed without a
    deploy): refuse to write rather than store values under the wrong schema.
    """
    module_name, _, attribute = spec.partition(":")
    groups: list[FeatureGroup] = list(getattr(importlib.import_module(module_name), attribute))
    registry = FeatureRegistry(groups)
    for name, version in (expected_versions or {}).items():
        actual = registry.group(name).version
        if actual != version:
            raise FeatureStoreError(
                f"feature group {name!r} is version {actual} in code but {version} was deployed; redeploy"
            )
    return registry
