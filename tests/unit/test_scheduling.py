"""make test's xdist scheduler: longest work first, a busy worker's next unit the cheapest, shared-fixture files
whole (tests/scheduling.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.scheduling import LongestFirstScheduling, expected_seconds, keeps_file_whole

DEMO = "tests/e2e/test_cli.py::test_demo_runs_and_reports_json"
GUARDRAILS = "tests/integration/promotion/test_scenarios.py::test_sagemaker_guardrails_roll_back_a_failing_fleet"
REJECTED = "tests/integration/promotion/test_scenarios.py::test_a_rejected_approval_keeps_production"
PIPELINE = "tests/integration/test_training_pipeline.py::test_the_pipeline_registers_a_version"  # module fixture
HELP = "tests/e2e/test_cli.py::test_every_command_has_help[demo]"
UNIT = [f"tests/unit/test_config.py::test_{i}" for i in range(6)]
COLLECTION = [HELP, DEMO, *UNIT, REJECTED, GUARDRAILS, PIPELINE]


class _Node:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[str] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.extend(COLLECTION[i] for i in indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler() -> tuple[LongestFirstScheduling, _Node, _Node]:
    config: Any = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=True))
    scheduler = LongestFirstScheduling(config)
    first, second = _Node("gw0"), _Node("gw1")
    for node in (first, second):
        scheduler.add_node(node)
        scheduler.add_node_collection(node, COLLECTION)
    scheduler.schedule()
    return scheduler, first, second


def test_files_stay_whole_only_when_their_tests_share_a_fixture() -> None:
    assert keeps_file_whole("tests/integration/test_training_pipeline.py")  # a module-scoped platform
    assert keeps_file_whole("tests/infrastructure/test_environments.py")
    assert not keeps_file_whole("tests/integration/promotion/test_scenarios.py")  # each test its own emulator
    assert not keeps_file_whole("tests/e2e/test_cli.py")


def test_a_test_costs_its_own_entry_else_its_files_else_the_default() -> None:
    assert expected_seconds(DEMO) > expected_seconds(GUARDRAILS) > expected_seconds(REJECTED)
    assert expected_seconds(REJECTED) == expected_seconds("tests/integration/promotion/test_scenarios.py")
    assert expected_seconds(UNIT[0]) < 1


def test_the_longest_units_start_first_and_a_busy_worker_gets_the_cheapest_next() -> None:
    _, first, second = _scheduler()

    # The demo and the training pipeline start at once, one per worker; a worker runs a test only once it knows
    # the next, so each also gets a next unit: the cheapest, not the next long one queued behind a long test.
    assert first.sent[0] == DEMO
    assert second.sent[0] == PIPELINE
    assert set(first.sent[1:] + second.sent[1:]) <= {HELP, *UNIT}


def test_every_test_is_handed_out_exactly_once() -> None:
    scheduler, first, second = _scheduler()
    while scheduler.workqueue:
        for node in (first, second):
            for nodeid in [n for n in node.sent if n in COLLECTION]:
                scheduler.mark_test_complete(node, COLLECTION.index(nodeid))

    assert sorted(first.sent + second.sent) == sorted(COLLECTION)
    assert not set(first.sent) & set(second.sent)


def test_a_run_without_xdist_has_the_worker_id_the_session_fixtures_need() -> None:
    import subprocess
    import sys

    from tests.scheduling import ROOT

    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "tests/unit/test_eventbridge.py"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stdout[-2000:]
    assert " passed" in ran.stdout.splitlines()[-1]
