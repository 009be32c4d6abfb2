"""Lambda layers are bundled from the machine's layer cache: hard links where they can be, copies elsewhere."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import pytest

from cdk.constructs import python_function
from cdk.constructs.python_function import _PackagesLayerBundle, layer_hash


def _cached_layer(cache: Path, bundle: _PackagesLayerBundle) -> Path:
    variant = hashlib.sha256(repr((bundle._prune, bundle._platforms)).encode()).hexdigest()[:8]
    entry = cache / f"{bundle._cache_name}-{layer_hash(bundle._requirements)}-{variant}"
    (entry / "python" / "pkg").mkdir(parents=True)
    (entry / "python" / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (entry / "python" / "top.py").write_text("import pkg\n")
    (entry / ".complete").touch()
    return entry


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _PackagesLayerBundle:
    """The bundle of a layer with one requirement, its cache in ``tmp_path / "cache"``."""
    requirements = tmp_path / "layer" / "requirements.txt"
    requirements.parent.mkdir()
    requirements.write_text("pkg==1\n")
    monkeypatch.setattr(python_function, "LAYER_CACHE", tmp_path / "cache")
    return _PackagesLayerBundle(requirements, "layer", ())


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "copies where links fail"])
def test_a_cached_layer_is_bundled_with_every_file(
    bundle: _PackagesLayerBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    entry = _cached_layer(tmp_path / "cache", bundle)
    if not links:

        def cannot_link(source: str, target: str) -> None:
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", cannot_link)
    out = tmp_path / "out"
    out.mkdir()

    assert bundle.try_bundle(str(out)) is True

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["python/pkg/__init__.py", "python/top.py"]
    assert (out / "python" / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    same_file = (out / "python" / "top.py").stat().st_ino == (entry / "python" / "top.py").stat().st_ino
    assert same_file is links


def test_two_synths_at_once_build_a_missing_layer_once(
    bundle: _PackagesLayerBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installs: list[str] = []
    second_installs = threading.Event()
    second: list[threading.Thread] = []

    def pip(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        target = Path(command[command.index("--target") + 1])
        installs.append(str(target))
        if len(installs) > 1:
            second_installs.set()
        else:  # the second synth starts while the first installs; without the lock it installs too, at once
            second.append(threading.Thread(target=bundle.try_bundle, args=(str(tmp_path / "out2"),)))
            second[0].start()
            second_installs.wait(timeout=1)
        (target / "pkg").mkdir(parents=True)
        (target / "pkg" / "__init__.py").write_text("VALUE = 1\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip)
    (tmp_path / "out1").mkdir()
    (tmp_path / "out2").mkdir()

    assert bundle.try_bundle(str(tmp_path / "out1")) is True
    second[0].join()

    assert len(installs) == 1
    for out in ("out1", "out2"):
        assert (tmp_path / out / "python" / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
