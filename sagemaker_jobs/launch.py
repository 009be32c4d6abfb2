"""Processing-job entry point: ``python3 launch.py <job> [args...]``.

A processing job receives one script, so this launcher unpacks the code bundle (delivered as the ``bundle``
input: the kit's library and job scripts, plus requirements.txt), installs the pinned requirements (the model's,
then ``sagemaker_jobs/requirements-tracking.txt``) when any installed version differs from its pin (or is
missing), and runs ``sagemaker_jobs.<job>.main(args)``: processing jobs then run the versions the training job
installs from the same file. It imports nothing from the kit before unpacking.
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


def pins(requirements: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file (names normalised as pip compares them).

    Raises ``SystemExit`` naming a line that is not an exact pin: a range would let jobs drift apart."""
    found = {}
    for raw in requirements.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        if not separator or not version.strip() or any(c in version for c in "<>=!~,; "):
            raise SystemExit(f"launch: requirements line {line!r} is not an exact pin (name==version)")
        found[_normalise(name)] = version.strip()
    return found


def _normalise(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", "-").replace(".", "-").split("-"))


def unmet(required: dict[str, str], installed: dict[str, str | None]) -> dict[str, tuple[str | None, str]]:
    """Pinned packages whose installed version (``None``: not installed) differs: name -> (installed, pinned)."""
    return {name: (installed.get(name), pin) for name, pin in required.items() if installed.get(name) != pin}


def _installed(names: list[str]) -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# The model's libraries (the bundle's root, as the training and serving containers install them), then what only
# processing jobs need (MLflow for evaluation's tracking; kept out of serving, see requirements-tracking.txt).
REQUIREMENTS = ("requirements.txt", "sagemaker_jobs/requirements-tracking.txt")


def _ensure_requirements(code: Path) -> None:
    for name in REQUIREMENTS:
        requirements = code / name
        required = pins(requirements.read_text())
        missing = unmet(required, _installed(list(required)))
        if missing:
            print(f"launch: installing the pinned versions of {sorted(missing)} (installed, pinned): {missing}")
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True)
            importlib.invalidate_caches()


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
