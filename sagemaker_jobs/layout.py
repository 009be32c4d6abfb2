"""The SageMaker container layout, relocatable for local runs (``MLOPS_OPT_ML``, default ``/opt/ml``)."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any


def opt_ml(*parts: str) -> Path:
    """``/opt/ml/<parts>`` in a container; under ``$MLOPS_OPT_ML`` when the emulator runs the job."""
    return Path(os.environ.get("MLOPS_OPT_ML", "/opt/ml")).joinpath(*parts)


def processing_input(name: str) -> Path:
    return opt_ml("processing", "input", name)


def processing_output(name: str) -> Path:
    path = opt_ml("processing", "output", name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=str))
    return path


def extract_model(directory: Path, into: Path) -> Path:
    """Unpack the ``model.tar.gz`` found in ``directory`` (a training job's output) into ``into``."""
    archives = sorted(directory.rglob("*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"no model.tar.gz under {directory}")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archives[0]) as archive:
        archive.extractall(into, filter="data")
    return into


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, recorded in its lineage."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "joblib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions
