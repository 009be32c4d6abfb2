"""A Lambda function's cold start is mostly its imports: the handlers that only orchestrate or record load no
numerical library, and no handler loads one it does not compute with. Structural, not timed: a fresh interpreter
(as Lambda's) imports the handlers one after another and lists what each one brought in.
``python -m benchmarks lambdas`` measures the time."""

from __future__ import annotations

import json
import subprocess
import sys
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


def imported_by_each(handlers: list[str], watched: tuple[str, ...] = HEAVY) -> dict[str, list[str]]:
    """The ``watched`` modules each handler brought in, importing them in this order in one fresh interpreter."""
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, ",".join(watched), *handlers],
        cwd=ROOT, capture_output=True, text=True, check=False,
        # As in Lambda: tracing on, so the X-Ray SDK patches at import what Powertools asks it to.
        env={"PYTHONPATH": str(ROOT), "PATH": "", "LAMBDA_TASK_ROOT": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    loaded: dict[str, list[str]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return loaded


def test_the_handlers_are_all_found() -> None:
    assert {"promotion", "feature_ingest", "abtest_outcome", "abtest_status", "drift_start"} <= set(HANDLERS)


def test_no_handler_imports_a_numerical_library_it_does_not_compute_with() -> None:
    # The orchestrating handlers first: a heavy module shows up against the first handler that brings it in.
    order = [h for h in HANDLERS if h not in COMPUTES_WITH] + [h for h in HANDLERS if h in COMPUTES_WITH]

    loaded = imported_by_each(order)

    unexpected = {h: sorted(set(mods) - COMPUTES_WITH.get(h, set())) for h, mods in loaded.items()}
    assert {h: mods for h, mods in unexpected.items() if mods} == {}


def test_no_handler_imports_the_x_ray_sdk_or_powertools_parser() -> None:
    loaded = imported_by_each(HANDLERS, NEVER)

    unexpected = {h: sorted(set(mods) - NEEDS_ANYWAY.get(h, set())) for h, mods in loaded.items()}
    assert {h: mods for h, mods in unexpected.items() if mods} == {}
