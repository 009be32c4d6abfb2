"""The code bundle every SageMaker job of the kit runs: one deterministic ``sourcedir.tar.gz``.

Contents: ``sagemaker_jobs/`` and the container-relevant part of ``mlops_kit/`` (not the emulator, CLI or
demo), ``requirements.txt``, and script-mode entry points at the root (``train.py``; ``inference.py`` once
the serving script exists) that import the job modules. Processing jobs get the bundle as an input and start
through ``sagemaker_jobs/launch.py``. Entries are sorted and timestamps fixed, so the archive (and the CDK
asset hash) only changes when the code does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "sagemaker_jobs" / "launch.py"
_EXCLUDED = {"local", "cli", "demo", "__pycache__"}
_ENTRY_POINTS = {
    "train.py": ("train", 'from sagemaker_jobs.train import main\n\nif __name__ == "__main__":\n    main()\n'),
    "inference.py": (
        "inference",
        "from sagemaker_jobs.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n",
    ),
}


def _members() -> list[tuple[str, bytes]]:
    members: list[tuple[str, bytes]] = []
    for package in ("mlops_kit", "sagemaker_jobs"):
        for path in sorted((ROOT / package).rglob("*")):
            relative = path.relative_to(ROOT)
            top = relative.parts[1] if len(relative.parts) > 1 else ""
            if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
                continue
            if package == "mlops_kit" and top in _EXCLUDED:
                continue
            members.append((relative.as_posix(), path.read_bytes()))
    members.append(("requirements.txt", (ROOT / "sagemaker_jobs" / "requirements.txt").read_bytes()))
    for name, (module, source) in _ENTRY_POINTS.items():
        if (ROOT / "sagemaker_jobs" / f"{module}.py").exists():
            members.append((name, source.encode()))
    return sorted(members)


def build_bundle(destination: Path) -> Path:
    """Write ``sourcedir.tar.gz`` into ``destination`` (a folder); return its path."""
    destination.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in _members():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    target = destination / "sourcedir.tar.gz"
    with gzip.GzipFile(target, "wb", mtime=0) as compressed:
        compressed.write(raw.getvalue())
    return target


def bundle_hash() -> str:
    """Content hash of what the bundle would contain (for caches and asset names)."""
    digest = hashlib.sha256()
    for name, data in _members():
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()
