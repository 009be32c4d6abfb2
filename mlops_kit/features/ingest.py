"""Streaming ingestion logic (the ``feature_ingest`` Lambda's domain): validated events into both stores.

An event is ``{"group": "<feature group>", "records": [{column: value, ...}, ...]}``, as an SQS message body
or the detail of an EventBridge event. Re-delivery is harmless: the offline store gains identical rows
(ties resolve to one of equal values) and the online store counts the replay as stale.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlops_kit.features.definitions import FeatureGroup, FeatureRegistry, FeatureStoreError

MAX_RECORDS = 10_000


class FeatureRecords(BaseModel):
    """One batch of records of one feature group (validated again, column by column, by the stores)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1, max_length=63)
    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)


class IngestSettings(BaseModel):
    """The function's environment, validated: a missing or empty variable is a clear error at cold start."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    FEATURE_TABLE_NAME: str = Field(min_length=1)
    OFFLINE_BUCKET: str = Field(min_length=1)
    OFFLINE_PREFIX: str = "features"
    FEATURE_REGISTRY: str = Field(min_length=3, pattern=r"^[\w.]+:\w+$")
    FEATURE_GROUP_VERSIONS: str = ""

    @field_validator("FEATURE_GROUP_VERSIONS")
    @classmethod
    def _versions(cls, value: str) -> str:
        for pair in filter(None, value.split(",")):
            if "=" not in pair:
                raise ValueError(f"expected name=version pairs, got {pair!r}")
        return value

    def versions(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in filter(None, self.FEATURE_GROUP_VERSIONS.split(",")))


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
