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


# The libraries a model depends on: distribution name -> the module whose ``__version__`` is read.
LIBRARIES = {
    "scikit-learn": "sklearn",
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "scipy": "scipy",
    "joblib": "joblib",
}


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, as this process imports them (``__version__`` of the
    module loaded, not what a package index says is installed: a shadowing copy on ``sys.path`` is what runs);
    ``absent`` when a library cannot be imported. Recorded in the model's lineage."""
    import importlib
    import platform

    versions = {"python": platform.python_version()}
    for package, module in LIBRARIES.items():
        try:
            versions[package] = str(importlib.import_module(module).__version__)
        except ImportError:
            versions[package] = "absent"
    return versions
