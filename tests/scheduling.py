"""How ``make test`` hands the suite to its two xdist workers: the longest work first, files kept whole only where
they must be.

xdist's ``loadfile`` keeps every file on one worker and starts the files with the most tests first, so the few
long end-to-end files (one test each, minutes long) started last and ran alone at the end while the other worker
sat idle; the nine promotion scenarios, each on its own emulator, ran one after another on one worker. This
scheduler (used for ``--dist loadfile``):

- keeps a file whole only when it or a conftest above it declares a module-, class- or package-scoped fixture
  (its tests share that fixture's state, built once per worker); any other file's tests are independent units;
- starts the units in order of their expected cost (:data:`EXPECTED_SECONDS`, measured; any other test counts
  :data:`DEFAULT_SECONDS`), longest first;
- gives a worker that is busy for a while (a long test pending) the cheapest unit as its next one: xdist runs a
  test only once its worker knows the test after it, so the next unit is assigned early, and a long one queued
  behind a long test would wait while the other worker runs out of work.

A test missing from the table only runs later than it could: nothing here decides whether or how a test runs.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadFileScheduling

ROOT = Path(__file__).resolve().parent.parent

# Seconds of one worker (call and setup) for the tests that take more than a few; a file's key counts for each of
# its tests. Only the order matters: these are the last quiet fresh-clone CI run's (`make test` at d863cb8, pytest
# 462 s on 2 cores). Re-measure with `pytest -n 2 --durations=40`.
EXPECTED_SECONDS: dict[str, float] = {
    "tests/e2e/test_cli.py::test_demo_runs_and_reports_json": 153,  # 36 s of it waiting for the session synth
    "tests/aws/test_smoke.py::test_smoke_deploys_trains_promotes_invokes_rolls_back_and_tears_down[local]": 89,
    "tests/integration/test_training_pipeline.py": 26,
    "tests/integration/abtest/test_demo_stage.py": 26,
    "tests/integration/promotion/test_teardown.py": 20,
    "tests/emulator/test_synth_server.py::"
    "test_the_app_synthesized_after_another_config_in_one_process_equals_its_own_synth": 18,
    "tests/integration/promotion/test_scenarios.py::test_an_unanswered_approval_times_out_as_a_rejection": 17,
    "tests/integration/promotion/test_scenarios.py::test_sagemaker_guardrails_roll_back_a_failing_fleet": 16,
    "tests/integration/promotion/test_scenarios.py": 10,
    # Files whose module fixture is the cost (a synth or a run, then checks on its result), on their first test: a
    # file's key would count the fixture once per test (16 times for the environments' templates, started first).
    "tests/infrastructure/test_environments.py::test_each_stack_is_deployed_to_its_account": 12,  # two synths
    "tests/integration/promotion/test_environment_scenario.py::"
    "test_each_version_is_promoted_to_staging_then_production": 40,
    "tests/integration/promotion/test_environments.py::"
    "test_a_version_goes_to_a_serverless_staging_at_once_then_to_production_with_shadow_and_canary": 25,
    "tests/integration/datasets/test_dvc_pipeline.py::"
    "test_a_run_on_dvc_labels_records_the_dvc_commit_and_hash_and_exports_back_to_dvc": 33,
}
DEFAULT_SECONDS = 0.5
# A worker whose pending tests are expected to take longer than this gets the cheapest unit next.
BUSY_SECONDS = 10.0

_SHARED_FIXTURE = re.compile(r"""@pytest\.fixture\([^)]*scope\s*=\s*["'](module|class|package)["']""")


def expected_seconds(nodeid: str) -> float:
    """The expected cost of one test: its own entry, else its file's, else :data:`DEFAULT_SECONDS`."""
    return EXPECTED_SECONDS.get(nodeid, EXPECTED_SECONDS.get(nodeid.split("::", 1)[0], DEFAULT_SECONDS))


@cache
def _declares_shared_fixture(path: Path) -> bool:
    return path.is_file() and bool(_SHARED_FIXTURE.search(path.read_text(encoding="utf-8", errors="replace")))


def keeps_file_whole(test_file: str) -> bool:
    """Whether the tests of ``test_file`` (relative to the repository) must run on one worker: it, or a
    ``conftest.py`` in its folder or above, declares a module-, class- or package-scoped fixture."""
    path = ROOT / test_file
    if _declares_shared_fixture(path):
        return True
    return any(_declares_shared_fixture(folder / "conftest.py") for folder in path.parents if ROOT in folder.parents)


class LongestFirstScheduling(LoadFileScheduling):
    """``loadfile`` with independent tests split apart, units ordered longest first (see the module docstring)."""

    def _split_scope(self, nodeid: str) -> str:
        test_file = nodeid.split("::", 1)[0]
        return test_file if keeps_file_whole(test_file) else nodeid

    def _sort_queue(self) -> None:
        if getattr(self, "_sorted", False):
            return
        self._sorted = True
        queue: OrderedDict[str, dict[str, bool]] = self.workqueue
        units = sorted(queue.items(), key=lambda unit: -sum(map(expected_seconds, unit[1])))
        queue.clear()
        queue.update(units)

    def _assign_work_unit(self, node: Any) -> None:
        self._sort_queue()
        pending = sum(
            expected_seconds(nodeid)
            for unit in self.assigned_work.get(node, {}).values()
            for nodeid, completed in unit.items()
            if not completed
        )
        queue: OrderedDict[str, dict[str, bool]] = self.workqueue
        if pending > BUSY_SECONDS and len(queue) > 1:
            queue.move_to_end(next(reversed(queue)), last=False)  # the cheapest, next
        super()._assign_work_unit(node)
