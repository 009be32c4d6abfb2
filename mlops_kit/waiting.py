"""How the kit waits for AWS: one polling function, so every wait reads the same and can be replaced whole.

On AWS (and from any process talking to the local emulator server) :func:`poll` checks, sleeps ``every`` seconds
and checks again until the check gives an answer or ``timeout`` seconds have passed. The embedded emulator installs
its own waiter (:func:`use_waiter`): it checks each time the emulated system has settled and lets emulated time
run in between, so a wait of hours costs no wall time and sees the same states on any machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Waiter(Protocol):
    def __call__(self, check: Callable[[], Any], *, every: float, timeout: float, what: str) -> Any: ...


def _wall_clock(check: Callable[[], Any], *, every: float, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: no answer after {timeout:.0f} s")
        time.sleep(every)


_waiter: Waiter = _wall_clock


def poll(check: Callable[[], T | None], *, every: float, timeout: float, what: str) -> T:
    """``check()``'s first answer other than None, asked every ``every`` seconds for up to ``timeout`` seconds.

    ``check`` may raise to end the wait early (a failed job, an endpoint that settled elsewhere). Raises
    ``TimeoutError`` naming ``what`` when the time is up.
    """
    answer: T = _waiter(check, every=every, timeout=timeout, what=what)
    return answer


def use_waiter(waiter: Waiter | None) -> None:
    """Replace how :func:`poll` waits (the local emulator's clock); ``None`` restores the wall clock."""
    global _waiter  # noqa: PLW0603  (one process-wide way of waiting)
    _waiter = waiter or _wall_clock


def pause(seconds: float, *, what: str) -> None:
    """Let ``seconds`` pass before a retry, the way :func:`poll` waits: on the wall clock on AWS, on the emulator's
    clock in the embedded emulator (at no wall-time cost). Returns at once for ``seconds <= 0``."""
    if seconds <= 0:
        return
    asked: list[bool] = []

    def elapsed() -> bool | None:
        if asked:  # the second look comes ``seconds`` after the first
            return True
        asked.append(True)
        return None

    # The time-out is generous: the waiter looks again after ``every`` and only gives up after ``timeout``.
    poll(elapsed, every=seconds, timeout=2 * seconds + 1, what=what)
