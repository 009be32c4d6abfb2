"""Lambda cold starts: the import time of each handler module (``lambdas/<function>/handler.py``).

Each handler is imported in a fresh interpreter (the venv's Python), as Lambda's runtime does on a cold start,
with ``LAMBDA_TASK_ROOT`` set so that Powertools' Tracer is on and patches botocore at import as it does in
Lambda. The figure is the time of the ``import`` statement alone (the interpreter's own start-up excluded), the
median of several fresh processes (one alone varies by 30% on this shared machine). One more process per
handler runs with ``-X importtime`` to say where the time goes: the cumulative time of the largest top-level
packages, in that run.

The goal (issue 20): under 0.25 s for every handler that only orchestrates or records; the numerical libraries
only in handlers that compute with them (``tests/unit/handlers/test_import_graph.py`` guards the import graph).
Lambda's own environment differs (Python 3.14 on arm64, the layer's packages, boto3 from the runtime): the
figures here compare handlers with each other and with their goal, not with a measured Lambda init duration.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.harness import ROOT, Report, table

GOAL_SECONDS = 0.25
RUNS = 7
# Handlers that compute with a heavy library, and which; every other handler only orchestrates or records.
COMPUTES = {"feature_ingest": "pyarrow (writes each batch as Parquet)"}
HEAVY = ("scipy", "pandas", "numpy", "pyarrow", "sqlalchemy")
PACKAGES = ("boto3", "aws_xray_sdk", "aws_lambda_powertools", "pydantic", "pyarrow", "numpy", "scipy", "mlops_kit")

_TIMED_IMPORT = """
import importlib, json, sys, time
started, cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "heavy": [m for m in sys.argv[2].split(",") if m in sys.modules]}))
"""


def handlers() -> list[str]:
    return sorted(path.parent.name for path in (ROOT.parent / "lambdas").glob("*/handler.py"))


def _environment() -> dict[str, str]:
    return {
        "PYTHONPATH": str(ROOT.parent),
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_TASK_ROOT": str(ROOT.parent),  # as in Lambda: tracing on, so patching happens at import
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
    }


def timed_import(name: str) -> dict[str, Any]:
    """One fresh interpreter: seconds to import ``lambdas.<name>.handler`` and the HEAVY modules it loaded."""
    import json

    completed = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT, f"lambdas.{name}.handler", ",".join(HEAVY)],
        cwd=ROOT.parent, env=_environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"importing lambdas.{name}.handler failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def largest_imports(name: str) -> dict[str, float]:
    """Cumulative import seconds of each package of PACKAGES, from one ``-X importtime`` run: the largest
    cumulative time among its modules (the outermost import of the package's tree)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import lambdas.{name}.handler"],
        cwd=ROOT.parent, env=_environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    found: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        package = match.group(2).split(".")[0] if match else ""
        if match and package in PACKAGES:
            found[package] = max(found.get(package, 0.0), int(match.group(1)) / 1e6)
    return found


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def run(quick: bool = False) -> Report:
    report = Report(
        name="lambdas",
        title="Lambda cold starts: import time of each handler",
        command="python -m benchmarks lambdas" + (" --quick" if quick else ""),
    )
    runs = 2 if quick else RUNS
    load_before = _load()
    rows = []
    misses = []
    for name in handlers():
        samples = [timed_import(name) for _ in range(runs)]
        seconds = [s["seconds"] for s in samples]
        median = statistics.median(seconds)
        cpu = statistics.median(s["cpu"] for s in samples)
        parts = largest_imports(name)
        top = sorted(parts.items(), key=lambda kv: -kv[1])[:4]
        role = COMPUTES.get(name, "orchestrates / records")
        met = "-" if name in COMPUTES else ("yes" if median < GOAL_SECONDS else "**no**")
        if met == "**no**":
            misses.append(name)
        rows.append([
            name, role, f"{median:.3f}", f"{min(seconds):.3f}", f"{cpu:.3f}",
            ", ".join(f"{p} {s * 1000:.0f}" for p, s in top),
            ", ".join(samples[-1]["heavy"]) or "none", met,
        ])  # fmt: skip
    lines = report.lines
    lines.append(
        f"Each handler imported in {runs} fresh processes (tracing on, as in Lambda); machine load before the run "
        f"{load_before}, after {_load()}."
    )
    lines.append("")
    lines += table(
        ["handler", "role", f"import, median of {runs} (s)", "fastest (s)", "CPU user+sys, median (s)",
         "largest imports, one -X importtime run (ms, cumulative; nested packages count in both)",
         f"of {', '.join(HEAVY)} loaded", f"under {GOAL_SECONDS} s"],
        rows,
    )  # fmt: skip
    lines.append("")
    lines.append(
        "Goal: under 0.25 s for every handler that only orchestrates or records"
        + (f"; missed by {', '.join(misses)}." if misses else ": met by all.")
        + " boto3 comes from Lambda's runtime and is imported by every handler. X-Ray subsegments are sent by"
        " mlops_kit.tracing (no X-Ray SDK); events are validated by mlops_kit.eventbridge (no Powertools parser)."
        " On a loaded machine the wall time grows with the load; the CPU time much less."
    )
    return report
