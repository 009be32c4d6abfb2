"""How the emulator changes moto: named patch points, applied by family and reverted on stop.

moto gives an accurate model of most AWS APIs but, without Docker, does not *run* anything: Lambda echoes its
payload, CloudFormation-created state machines are invisible to the ASL interpreter, EventBridge cannot
deliver to Lambda or Step Functions, and Wait states sleep for real. Each :class:`PatchPoint` replaces one moto
attribute. ``signature`` records the attribute's signature in the supported moto release; the contract tests
in ``tests/emulator`` check both that signature and the behaviour, so a moto upgrade fails loudly at the exact
patch point that moved.

A *family* is one module that declares its patch points (``PATCH_POINTS``) next to their implementation
(``apply(patcher)``). This module is a leaf: it imports no family at import time, so families import it freely.
To add a patch point, declare it in its family's ``PATCH_POINTS``, replace it in that family's ``apply`` with
:meth:`Patcher.replace`, and the contract test picks it up (CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib
import inspect
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlops_local.compat import check_moto_version

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

# Applied in this order (later families may wrap what earlier ones installed).
FAMILIES: tuple[str, ...] = (
    "mlops_local.backends",
    "mlops_local.sdk_models",
    "mlops_local.timestamps",
    "mlops_local.signing",
    "mlops_local.requests",
    "mlops_local.constraints",
    "mlops_local.lambda_runtime",
    "mlops_local.stepfunctions",
    "mlops_local.events",
    "mlops_local.cloudformation",
    "mlops_local.cloudformation_delete",
    "mlops_local.s3",
    "mlops_local.dynamodb",
    "mlops_local.sagemaker.registry",
    "mlops_local.sagemaker.pipelines",
    "mlops_local.sagemaker.endpoints",
    "mlops_local.cloudwatch",
    "mlops_local.sagemaker.processing",
    "mlops_local.iam.enforcement",
    "mlops_local.apigateway",
    "mlops_local.kms",
)


@dataclass(frozen=True)
class PatchPoint:
    """One moto attribute the emulator replaces, and why."""

    name: str
    module: str
    attribute: str  # dotted path inside the module, e.g. "LambdaFunction._invoke_lambda"
    signature: str  # str(inspect.signature(original)) in the supported moto version
    why: str
    adds: bool = False  # the attribute is missing from moto and the emulator adds it

    def exists(self) -> bool:
        owner, leaf = self.owner_and_name()
        return leaf in owner.__dict__ if isinstance(owner, type) else hasattr(owner, leaf)

    def owner_and_name(self) -> tuple[Any, str]:
        owner: Any = importlib.import_module(self.module)
        *parents, leaf = self.attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        return owner, leaf

    def original(self) -> Any:
        if self.adds and not self.exists():
            return None
        owner, leaf = self.owner_and_name()
        value = owner.__dict__[leaf] if isinstance(owner, type) else getattr(owner, leaf)
        return value.__func__ if isinstance(value, classmethod | staticmethod) else value

    def current_signature(self) -> str:
        return str(inspect.signature(self.original()))


def families() -> list[ModuleType]:
    """Every family module, in the order they are applied."""
    return [importlib.import_module(name) for name in FAMILIES]


def all_patch_points() -> tuple[PatchPoint, ...]:
    """Every patch point of the emulator, for the contract tests and `mlops local doctor`."""
    return tuple(point for family in families() for point in family.PATCH_POINTS)


def patch_point(name: str) -> PatchPoint:
    for point in all_patch_points():
        if point.name == name:
            return point
    raise KeyError(name)


def points_by_name(points: tuple[PatchPoint, ...]) -> dict[str, PatchPoint]:
    return {p.name: p for p in points}


class Patcher:
    """Applies every family's patch points for one emulator and reverts them on stop."""

    _active_lock = threading.Lock()
    _active: Patcher | None = None

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def replace(self, point: PatchPoint, value: Any) -> None:
        """Set ``point``'s attribute to ``value``, remembering the original for :meth:`revert`."""
        self.set_attribute(*point.owner_and_name(), value)

    def set_attribute(self, owner: Any, leaf: str, value: Any) -> None:
        """Set any attribute for the emulator's lifetime (reverted by :meth:`revert`)."""
        had = leaf in owner.__dict__ if isinstance(owner, type) else hasattr(owner, leaf)
        previous = owner.__dict__.get(leaf) if isinstance(owner, type) else getattr(owner, leaf, None)
        self._saved.append((owner, leaf, previous, had))
        setattr(owner, leaf, value)

    def apply(self) -> None:
        check_moto_version()
        with Patcher._active_lock:
            if Patcher._active is not None:
                raise RuntimeError(
                    "another local emulator is already running in this process; stop it before starting one"
                )
            Patcher._active = self
        try:
            for family in families():
                family.apply(self)
        except Exception:
            self.revert()
            raise

    def revert(self) -> None:
        for owner, leaf, previous, had in reversed(self._saved):
            if had:
                setattr(owner, leaf, previous)
            else:
                delattr(owner, leaf)
        self._saved.clear()
        with Patcher._active_lock:
            if Patcher._active is self:
                Patcher._active = None
