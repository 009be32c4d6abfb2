"""Build a training set from folders: what the pipeline's ``build_training_set`` processing job does.

In a SageMaker Processing job the offline store (``s3://<data bucket>/features/``) and the labels
(``s3://<data bucket>/labels/``) arrive as local folders; :func:`build_training_set` joins them point-in-time
with the use case's feature references and writes ``training_set.parquet`` and ``manifest.json`` to the output
folder -- the same code path as ``OfflineStore.get_historical_features`` anywhere else.

A use case module provides, besides the training contract (``LABEL``, ``MODEL_FEATURES``,
``build_model_frame``): ``REGISTRY`` (its feature groups), ``FEATURE_REFS`` and ``LABEL_TIME_COLUMN``
(``mlops_kit.features.fraud`` is the example).
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from mlops_kit.features.definitions import FeatureStoreError, InvalidRecordsError
from mlops_kit.features.manifest import TrainingSetManifest
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.sql import CreatedBeforeLabel
from mlops_kit.features.storage import LocalObjectStore

USE_CASE_ATTRIBUTES = ("REGISTRY", "FEATURE_REFS", "LABEL_TIME_COLUMN")


def load_use_case(path: str | ModuleType) -> ModuleType:
    """The use case module; :class:`FeatureStoreError` names the attributes it lacks."""
    module = importlib.import_module(path) if isinstance(path, str) else path
    missing = [name for name in USE_CASE_ATTRIBUTES if not hasattr(module, name)]
    if missing:
        raise FeatureStoreError(f"use case {module.__name__!r} lacks {missing} needed to build a training set")
    return module


def read_labels(folder: Path, time_column: str, start: str | None = None, end: str | None = None) -> Any:
    """Every ``*.parquet`` under ``folder`` (sorted by path), keeping rows with ``start <= time < end``.

    ``start``/``end`` are ISO 8601 times with an offset (or dates, read as UTC midnight); empty means open.
    Raises :class:`InvalidRecordsError` when there are no label files or the bounds are not ISO 8601.
    """
    import pandas as pd

    files = sorted(folder.rglob("*.parquet"))
    if not files:
        raise InvalidRecordsError(f"no label files (*.parquet) under {folder}")
    labels = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    times = labels[time_column] if time_column in labels.columns else None
    if times is None:
        raise InvalidRecordsError(f"labels have no time column {time_column!r}; columns: {list(labels.columns)}")
    keep = pd.Series(True, index=labels.index)
    if start:
        keep &= times >= _bound(start)
    if end:
        keep &= times < _bound(end)
    return labels[keep].reset_index(drop=True)


def _bound(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecordsError(f"label window bound {value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def build_training_set(
    offline: Path,
    labels: Path,
    output: Path,
    *,
    use_case: str | ModuleType,
    labels_from: str | None = None,
    labels_to: str | None = None,
    created_before_label: CreatedBeforeLabel = False,
) -> TrainingSetManifest:
    """Join the labels in ``labels`` with the offline store copied to ``offline``; write to ``output``.

    ``created_before_label``: see :meth:`OfflineStore.get_historical_features`.
    """
    module = load_use_case(use_case)
    frame = read_labels(labels, module.LABEL_TIME_COLUMN, labels_from, labels_to)
    store = OfflineStore(module.REGISTRY, LocalObjectStore(offline))
    training_set = store.get_historical_features(
        frame,
        module.FEATURE_REFS,
        label_time_column=module.LABEL_TIME_COLUMN,
        created_before_label=created_before_label,
    )
    training_set.write(LocalObjectStore(output))
    return training_set.manifest
