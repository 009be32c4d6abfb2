"""How a Lambda handler reads its configuration: one JSON environment variable, parsed into one Pydantic model.

The CDK construct that deploys a function builds the same model from the validated platform config and writes
it with :meth:`HandlerSettings.environment` (through ``Stack.to_json_string``, so ARNs resolve at deploy time);
the handler reads it back with :func:`read_settings`. Fields the handler needs are required in the model, so a
deployment that forgets one fails on the first invocation naming the field, instead of falling back to a
default that may disagree with the platform config. Defaults belong to the platform config (``cdk/config.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound="HandlerSettings")


class SettingsError(RuntimeError):
    """The function's settings variable is missing or invalid; the message names the variable and the fields."""


class HandlerSettings(BaseModel):
    """Base of a function's settings model: frozen, unknown keys refused; ``VARIABLE`` names its variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    VARIABLE: ClassVar[str]

    def environment(self, serialize: Callable[[Any], str] | None = None) -> dict[str, str]:
        """``{VARIABLE: <JSON>}`` for a function's environment. ``serialize`` turns the JSON-ready dict into a
        string; CDK constructs pass ``stack.to_json_string`` so tokens (ARNs, names) resolve at deploy time."""
        data = self.model_dump(mode="json")
        text = serialize(data) if serialize is not None else self.model_dump_json()
        return {self.VARIABLE: text}


def read_settings(model: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Parse ``model.VARIABLE`` from the environment (``os.environ`` unless ``environ`` is given).

    Raises :class:`SettingsError` when the variable is unset or empty, is not JSON, or does not match the
    model (every bad field is named, with what was given).
    """
    environ = os.environ if environ is None else environ
    variable = model.VARIABLE
    raw = environ.get(variable, "")
    if not raw.strip():
        raise SettingsError(
            f"{variable} is not set: this function reads its settings from it; deploy it with its CDK construct"
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{variable} is invalid for {model.__name__}: {problems}") from None
