"""The errors of the experiment lifecycle. Bad values (a rate outside (0, 1), a zero MDE) are ``ValueError``."""

from __future__ import annotations


class ExperimentError(Exception):
    """Base class: an experiment operation that cannot be done in the experiment's current state."""


class ExperimentNotFoundError(ExperimentError, LookupError):
    """No experiment has that name (raised by the repository)."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        hint = f"; known experiments: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"unknown experiment {name!r}{hint}")
        self.name = name


class ExperimentExistsError(ExperimentError):
    """An experiment with that name is already stored; plans are never silently overwritten."""


class IllegalTransitionError(ExperimentError):
    """The lifecycle forbids this move (start twice, stop before start, ramp down, edit a started plan...)."""


class UnexposedUserError(ExperimentError):
    """An outcome names a user who was not exposed to the experiment at or before the outcome's time."""


class ConcurrentUpdateError(ExperimentError):
    """The stored experiment changed since it was read (its version moved on); re-read and retry."""
