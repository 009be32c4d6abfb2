"""What every benchmark shares: isolated runs with peak memory, peer virtualenvs, and RESULTS.md sections.

Peers (Feast, Evidently, ...) pin dependencies that clash with the kit's (Evidently 0.7 does not import with
pandas 3), so each gets its own virtualenv under ``benchmarks/.venvs/<peer>``, created on first use. Each
measured workload runs in a fresh subprocess, so its peak memory (``VmHWM``) is its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "RESULTS.md"
VENVS = ROOT / ".venvs"
DATA = ROOT / ".data"

# Run inside the measured subprocess: time the call, report peak RSS of that process. On Linux the peak is
# VmHWM, the high-water mark of the process's own memory: ``ru_maxrss`` also keeps the parent's high-water
# mark from the moment of exec (subprocess starts children with vfork), so a benchmark parent that had built
# 10M rows of data made every later child report 1.3 GB.
_RUNNER = """
import json, resource, sys, time, importlib
module, function, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
target = getattr(importlib.import_module(module), function)
started = time.perf_counter()
result = target(**args)
seconds = time.perf_counter() - started
try:
    with open("/proc/self/status") as status:
        peak_mb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("__BENCH__" + json.dumps({"seconds": seconds, "peak_mb": peak_mb, "result": result}, default=str))
"""


@dataclass
class Measurement:
    seconds: float
    peak_mb: float
    result: Any = None


def run_isolated(python: Path | str, module: str, function: str, cwd: Path = ROOT.parent, **kwargs: Any) -> Measurement:
    """Call ``module.function(**kwargs)`` in a fresh ``python`` process; time it and read its peak memory.

    The timed span is the call only (imports and argument parsing excluded); peak memory covers the whole
    process, imports included, as a user would see it.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    completed = subprocess.run(
        [str(python), "-c", _RUNNER, module, function, json.dumps(kwargs)],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"{module}.{function} failed in {python}:\n{completed.stderr[-4000:]}")
    line = next(line for line in completed.stdout.splitlines() if line.startswith("__BENCH__"))
    payload = json.loads(line.removeprefix("__BENCH__"))
    return Measurement(payload["seconds"], payload["peak_mb"], payload["result"])


def peer_python(name: str, requirements: list[str]) -> Path:
    """The interpreter of ``benchmarks/.venvs/<name>`` with ``requirements`` installed (created once)."""
    home = VENVS / name
    python = home / "bin" / "python"
    marker = home / ".requirements.json"
    if not python.exists() or not marker.exists() or json.loads(marker.read_text()) != requirements:
        venv.create(home, with_pip=True, clear=True)
        uv = Path(sys.executable).parent / "uv"
        installer = (
            [str(uv), "pip", "install", "--quiet", "--python", str(python)]
            if uv.exists()
            else [str(python), "-m", "pip", "install", "--quiet"]
        )
        subprocess.run([*installer, *requirements], check=True)
        marker.write_text(json.dumps(requirements))
    return python


def machine() -> str:
    cpus = os.cpu_count()
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{platform.machine()}, {cpus} cores{memory}, Python {platform.python_version()}"


@dataclass
class Report:
    """One benchmark's section of RESULTS.md."""

    name: str
    title: str
    command: str
    lines: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        today = dt.date.today().isoformat()
        body = "\n".join(self.lines)
        return (
            f"<!-- bench:{self.name} -->\n## {self.title}\n\n"
            f"Measured {today} on {machine()} with `{self.command}`.\n\n{body}\n<!-- /bench:{self.name} -->"
        )


def write_section(report: Report) -> None:
    """Replace (or append) the report's section in RESULTS.md, leaving the other benchmarks' sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nProduced by `make bench`.\n"
    pattern = re.compile(rf"<!-- bench:{report.name} -->.*?<!-- /bench:{report.name} -->", re.S)
    section = report.markdown()
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines
