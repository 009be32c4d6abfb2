"""Processing-job entry point: ``python3 launch.py <job> [args...]``.

A processing job receives one script, so this launcher unpacks the code bundle (delivered as the ``bundle``
input: the kit's library and job scripts, plus requirements.txt), installs the requirements the container
lacks, and runs ``sagemaker_jobs.<job>.main(args)``. It imports nothing from the kit before unpacking.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def _bundle_dir() -> Path:
    return Path(os.environ.get("MLOPS_OPT_ML", "/opt/ml")) / "processing" / "input" / "bundle"


def _unpack(bundle_dir: Path) -> Path:
    archives = sorted(bundle_dir.glob("*.gz"))  # CDK file assets keep only the last extension
    if not archives:
        raise SystemExit(f"launch: no code bundle (*.gz) in {bundle_dir}")
    target = Path(tempfile.mkdtemp(prefix="mlops-bundle-"))
    with tarfile.open(archives[0]) as archive:
        archive.extractall(target, filter="data")
    return target


def _ensure_requirements(code: Path) -> None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        requirements = code / "requirements.txt"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: launch.py <job> [args...]  (job: a module of sagemaker_jobs)")
    job, *job_args = args
    code = _unpack(_bundle_dir())
    sys.path.insert(0, str(code))
    _ensure_requirements(code)
    module = importlib.import_module(f"sagemaker_jobs.{job}")
    module.main(job_args)


if __name__ == "__main__":
    main()
