"""Which moto the emulator was written for, and the check that refuses any other.

Every patch point of the emulator (:mod:`mlops_local.patching`) reaches into moto internals that change
between releases without notice. Running on a different moto would fail in confusing ways deep inside a
state machine, so the emulator refuses to start instead, and says what to do.
"""

from __future__ import annotations

from importlib import metadata

SUPPORTED_MOTO_VERSION = "5.2.5"


class UnsupportedMotoVersionError(RuntimeError):
    """The installed moto is not the version the emulator's patch points were written and tested for."""


def installed_moto_version() -> str:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError as exc:
        raise UnsupportedMotoVersionError(
            "moto is not installed. The local emulator needs the dev extra: run `make install` "
            f"(or `pip install 'moto[all,server]=={SUPPORTED_MOTO_VERSION}'`)."
        ) from exc


def check_moto_version(version: str | None = None) -> None:
    """Raise :class:`UnsupportedMotoVersionError` unless moto is exactly the supported version."""
    found = version if version is not None else installed_moto_version()
    if found != SUPPORTED_MOTO_VERSION:
        raise UnsupportedMotoVersionError(
            f"the local emulator was written for moto {SUPPORTED_MOTO_VERSION} but moto {found} is installed. "
            "Its patch points reach into moto internals that change between releases. Reinstall the locked "
            "version with `make install`, or, to upgrade moto, update requirements.lock and run "
            "`pytest tests/emulator` (the patch-point contract tests) before changing "
            "SUPPORTED_MOTO_VERSION in mlops_kit/local/compat.py."
        )
