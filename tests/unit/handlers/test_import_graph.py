"""A Lambda function's cold start is mostly its imports: the handlers that only orchestrate or record load no
numerical library, and no handler loads one it does not compute with. Structural, not timed: a fresh interpreter
(as Lambda's) imports the handlers one after another and lists what each one brought in.
``python -m benchmarks lambdas`` measures the time."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = sorted(path.parent.name for path in (ROOT / "lambdas").glob("*/handler.py"))
HEAVY = ("scipy", "pandas", "numpy", "pyarrow", "sklearn", "matplotlib", "sqlalchemy", "mlflow", "sagemaker")
# What no handler needs: X-Ray subsegments are sent by mlops_kit.tracing (the X-Ray SDK's import was about 30 ms
# of each cold start), EventBridge events are validated by mlops_kit.eventbridge (Powertools' parser builds a
# TypeAdapter per model on the first event, and its envelopes module about 70 models at import).
NEVER = ("aws_xray_sdk", "wrapt", "aws_lambda_powertools.utilities.parser")
# Except: Powertools' batch utility (feature ingestion's SQS records) imports the parser's record models itself.
NEEDS_ANYWAY = {"feature_ingest": {"aws_lambda_powertools.utilities.parser"}}
# The handlers that compute with one: feature ingestion writes Parquet with pyarrow (which loads numpy when it
# is installed; the function's layer has none). Every other handler, and any new one, loads none of HEAVY.
COMPUTES_WITH = {"feature_ingest": {"pyarrow", "numpy"}}

_IMPORT_EACH = """
import importlib, json, sys
heavy, loaded = sys.argv[1].split(","), {}
for name in sys.argv[2:]:
    importlib.import_module(f"lambdas.{name}.handler")
    loaded[name] = sorted(m for m in heavy if m in sys.modules and m not in set().union(*loaded.values()))
print(json.dumps(loaded))
"""


@cache
def imported_by_each() -> dict[str, list[str]]:
    """The HEAVY and NEVER modules each handler brought in, importing them in one fresh interpreter (once per
    session), the orchestrating handlers first: a module shows up against the first handler that brings it in."""
    order = [h for h in HANDLERS if h not in COMPUTES_WITH] + [h for h in HANDLERS if h in COMPUTES_WITH]
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, ",".join(HEAVY + NEVER), *order],
        cwd=ROOT, capture_output=True, text=True, check=False,
        # As in Lambda: tracing on, so Powertools' Tracer patches botocore at import.
        env={"PYTHONPATH": str(ROOT), "PATH": "", "LAMBDA_TASK_ROOT": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    loaded: dict[str, list[str]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return loaded


def test_the_handlers_are_all_found() -> None:
    assert {"promotion", "feature_ingest", "abtest_outcome", "abtest_status", "drift_start"} <= set(HANDLERS)


def test_no_handler_imports_a_numerical_library_it_does_not_compute_with() -> None:
    loaded = {h: [m for m in mods if m in HEAVY] for h, mods in imported_by_each().items()}

    unexpected = {h: sorted(set(mods) - COMPUTES_WITH.get(h, set())) for h, mods in loaded.items()}
    assert {h: mods for h, mods in unexpected.items() if mods} == {}


def test_no_handler_imports_the_x_ray_sdk_or_powertools_parser() -> None:
    loaded = {h: [m for m in mods if m in NEVER] for h, mods in imported_by_each().items()}

    unexpected = {h: sorted(set(mods) - NEEDS_ANYWAY.get(h, set())) for h, mods in loaded.items()}
    assert {h: mods for h, mods in unexpected.items() if mods} == {}
