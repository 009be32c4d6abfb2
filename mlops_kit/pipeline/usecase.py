"""The contract between the pipeline's job scripts and a use case (the demo's is ``mlops_kit.features.fraud``).

To train your own model, write a module with these attributes and pass its import path as the pipeline's
use case (``training.use_case`` is the module path; the job scripts import it by name):

* ``LABEL``: the label column of the training set (binary, 0/1).
* ``MODEL_FEATURES``: the model's input columns, in order, after the transformations.
* ``build_model_frame(training_set) -> DataFrame``: the one transformation code path, from the
  point-in-time training set to ``MODEL_FEATURES`` + ``LABEL`` (serving calls the same transformations).
* optional ``EXPECTATIONS``: data-validation expectations, see :class:`Expectations`.

The data stack deploys the feature store of the same use case (:func:`feature_groups_of`):

* ``FEATURE_GROUPS``: the feature groups it reads (one Glue table each; the ingestion function writes them).
* optional ``FEATURE_REGISTRY``: where the ingestion function imports those groups from, as
  ``module:attribute``; unset, ``<use case>:FEATURE_GROUPS``. Point it at a module with no dependency beyond
  the definitions (the function's layer carries pyarrow only), as the fraud use case does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from mlops_kit.features.definitions import FeatureGroup

_REQUIRED = ("LABEL", "MODEL_FEATURES", "build_model_frame")


@dataclass(frozen=True)
class Expectations:
    """What a training set must satisfy before training (violations fail the run with a report)."""

    min_rows: int = 200
    label_rate: tuple[float, float] = (0.0005, 0.5)
    max_null_fraction: float = 0.5
    null_fraction: dict[str, float] = field(default_factory=dict)  # per column, overrides the default
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # inclusive bounds per column
    required_columns: tuple[str, ...] = ()


class UseCaseError(ValueError):
    """The use-case module cannot be imported or lacks part of the contract."""


def load_use_case(path: str) -> ModuleType:
    """Import the use-case module and check the contract; the error names what is missing."""
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise UseCaseError(f"use case {path!r} cannot be imported: {exc}") from exc
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        raise UseCaseError(f"use case {path!r} lacks {missing}; see mlops_kit/pipeline/usecase.py for the contract")
    return module


def expectations_of(module: Any) -> Expectations:
    found = getattr(module, "EXPECTATIONS", None)
    if found is None:
        return Expectations(required_columns=(module.LABEL,))
    if isinstance(found, Expectations):
        return found
    return Expectations(**found)


@dataclass(frozen=True)
class UseCaseFeatures:
    """The feature groups a use case reads, and where the ingestion function imports them from."""

    groups: tuple[FeatureGroup, ...]
    registry: str  # module:attribute

    def versions(self) -> dict[str, str]:
        return {group.name: group.version for group in self.groups}


def feature_groups_of(module: ModuleType) -> UseCaseFeatures:
    """The use case's ``FEATURE_GROUPS`` and ``FEATURE_REGISTRY`` (see the module doc).

    Raises :class:`UseCaseError` when the use case declares no groups, or when its registry does not import
    exactly those groups (the ingestion function would refuse to write what the data stack deployed).
    """
    from mlops_kit.features.ingest import load_registry

    path = module.__name__
    groups = tuple(getattr(module, "FEATURE_GROUPS", ()))
    if not groups or not all(isinstance(group, FeatureGroup) for group in groups):
        raise UseCaseError(
            f"use case {path!r} declares no FEATURE_GROUPS (a sequence of FeatureGroup); the data stack deploys "
            "the feature store from them"
        )
    registry = getattr(module, "FEATURE_REGISTRY", f"{path}:FEATURE_GROUPS")
    features = UseCaseFeatures(groups, registry)
    try:
        imported = load_registry(registry).versions()
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise UseCaseError(f"use case {path!r}: FEATURE_REGISTRY {registry!r} cannot be imported: {exc}") from exc
    if imported != dict(sorted(features.versions().items())):
        raise UseCaseError(
            f"use case {path!r}: FEATURE_REGISTRY {registry!r} holds {imported}, but FEATURE_GROUPS are "
            f"{features.versions()}; both must name the same groups"
        )
    return features
