"""The emulator's virtual clock on its own: jumps cost no wall time, work in flight holds time still, and what a
caller sees after an advance does not depend on which thread the OS ran first."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mlops_local.clock import EmulatorIdleError, Event, VirtualClock

START = 1_800_000_000.0  # on the minute: the instant where ties between timers happen
REAL_SLEEP = time.sleep  # the clock replaces time.sleep while it runs


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    running = VirtualClock(START).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_day_of_virtual_time_costs_no_wall_time(clock: VirtualClock) -> None:
    began = time.monotonic()
    clock.advance(86_400)
    assert clock.now() == START + 86_400
    assert time.time() == START + 86_400  # the process's wall clock reads the virtual instant
    assert time.monotonic() - began < 5


def test_time_stands_still_while_a_worker_computes(clock: VirtualClock) -> None:
    seen: list[float] = []

    def worker() -> None:
        REAL_SLEEP(0.2)  # real work: the clock must not move under it
        seen.append(clock.now())
        clock.sleep(30)
        seen.append(clock.now())

    clock.spawn(worker)
    clock.advance(10)
    assert seen == [START]
    clock.advance(20)
    assert seen == [START, START + 30]


def test_an_advance_to_the_instant_a_worker_is_due_sees_its_work_whichever_timer_was_set_first(
    clock: VirtualClock,
) -> None:
    # The alarm evaluator's shape: a worker woken by an event works a while (really), then sleeps to the next
    # minute and acts there. The caller advances by a minute at once, so its timer is set before the worker's, at
    # the same instant. Before observers' timers went last, the caller woke first and saw nothing done: the quality
    # test's alarm read OK instead of ALARM once in 60 runs (when its schedule fired exactly on a minute).
    wake = Event(clock)
    done: list[float] = []

    def evaluator() -> None:
        wake.wait()
        REAL_SLEEP(0.2)
        clock.sleep(60 - clock.now() % 60 or 60)
        done.append(clock.now())

    clock.spawn(evaluator)
    clock.settle()
    wake.set()
    clock.advance(60)
    assert done == [START + 60]
    assert clock.now() == START + 60


def test_a_wait_that_nothing_can_end_fails_at_once(clock: VirtualClock) -> None:
    with pytest.raises(EmulatorIdleError, match="the flag"):
        clock.wait_until(lambda: False, description="the flag")


def test_a_wait_with_a_timeout_sees_the_work_due_at_its_deadline(clock: VirtualClock) -> None:
    flag: list[bool] = []

    def late() -> None:
        REAL_SLEEP(0.2)
        clock.sleep(120)
        flag.append(True)

    clock.spawn(late)
    assert clock.wait_until(lambda: flag, timeout=120) == [True]
    assert clock.now() == START + 120
