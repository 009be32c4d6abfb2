"""Each patch point's target still has the shape the emulator was written for (fails loudly on a moto upgrade)."""

from __future__ import annotations

import pytest

from mlops_local.compat import (
    SUPPORTED_MOTO_VERSION,
    UnsupportedMotoVersionError,
    check_moto_version,
    installed_moto_version,
)
from mlops_local.emulator import Emulator
from mlops_local.patching import all_patch_points


@pytest.mark.parametrize("point", all_patch_points(), ids=lambda p: p.name)
def test_patch_point_target_exists_with_the_recorded_signature(point) -> None:
    if point.adds:
        assert not point.exists(), f"moto now has {point.module}.{point.attribute}: drop the emulator's '{point.name}'"
        return
    target = point.original()

    assert target is not None
    if point.signature:
        assert point.current_signature() == point.signature, (
            f"{point.module}.{point.attribute} changed in this moto; re-check the patch '{point.name}' ({point.why})"
        )


def test_the_installed_moto_is_the_supported_one() -> None:
    assert installed_moto_version() == SUPPORTED_MOTO_VERSION


def test_startup_refuses_another_moto_version_with_a_clear_message() -> None:
    with pytest.raises(UnsupportedMotoVersionError) as raised:
        check_moto_version("5.3.0")

    assert "written for moto 5.2.5 but moto 5.3.0 is installed" in str(raised.value)
    assert "make install" in str(raised.value)


def test_patches_are_reverted_when_the_emulator_stops(tmp_path) -> None:
    originals = {p.name: p.original() for p in all_patch_points()}

    with Emulator(workdir=tmp_path):
        patched = {p.name: p.original() for p in all_patch_points()}

    assert all(patched[name] is not originals[name] for name in originals)
    assert {p.name: p.original() for p in all_patch_points()} == originals


def test_only_one_emulator_runs_per_process(emulator: Emulator, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        Emulator(workdir=tmp_path / "second").start()
