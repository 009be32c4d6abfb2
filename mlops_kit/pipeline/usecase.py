"""The contract between the pipeline's job scripts and a use case (the demo's is ``mlops_kit.features.fraud``).

To train your own model, write a module with these attributes and pass its import path as the pipeline's
use case (``training.use_case`` is the module path; the job scripts import it by name):

* ``LABEL``: the label column of the training set (binary, 0/1).
* ``MODEL_FEATURES``: the model's input columns, in order, after the transformations.
* ``build_model_frame(training_set) -> DataFrame``: the one transformation code path, from the
  point-in-time training set to ``MODEL_FEATURES`` + ``LABEL`` (serving calls the same transformations).
* optional ``EXPECTATIONS``: data-validation expectations, see :class:`Expectations`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

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
