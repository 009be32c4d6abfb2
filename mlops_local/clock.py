"""The emulator's one clock: virtual time that advances only when the work in flight has settled.

Everything in the emulator that waits (Step Functions Wait states, retries, task-token and state-machine
timeouts, endpoint deployments, alarm evaluation periods, capture flushes, traffic generators, the tests
themselves) waits on this clock, and everything that reads the time (``time.time()``, ``datetime.now()``, in
moto, in the handlers, in the kit) reads it too: while the clock runs, ``time-machine`` holds the process's
wall clock at the virtual instant.

It is a discrete-event loop. Work is counted: a thread doing emulator work is *busy*; a thread blocked on
the clock (``sleep``, :class:`Event`, :meth:`Thread.join`, :meth:`VirtualClock.wait_until`) is not. Handing
work to another thread (starting a :class:`Thread`, setting an :class:`Event` someone waits on, firing a
timer) passes a busy unit over *before* the giver lets go of its own, so the count never touches zero in
between. When it does reach zero the system has settled: the clock first lets every :meth:`wait_until` look
at the settled state, then jumps to the earliest timer and wakes whoever waits for it. Timers due at the same
instant fire one at a time, in the order they were set, except that the caller's own (``advance``, a
``wait_until``'s deadline) go last: what a test sees after advancing to an instant includes everything due at it,
whichever thread the OS ran first. A scenario therefore runs through the same sequence of states whether the
machine is idle or loaded, and an hour of bake time costs no wall time at all.

``pace`` (real seconds per virtual second) slows the jumps for people watching a server: with ``pace > 0``
the clock waits ``(due - now) * pace`` of real time, settled, before each jump, and time also flows in real
time while work runs (``tick``).

Rules for code that runs on the clock:

* start threads with :meth:`VirtualClock.spawn` (or :class:`Thread`), not ``threading.Thread``, when the
  thread does emulator work; wait with the clock's primitives, not ``threading.Event`` or real sleeps;
* ``time.sleep`` in a busy thread is a virtual sleep (the clock replaces it while it runs); in any other
  thread it sleeps for real;
* a lock held across a clock wait must not be needed by busy work meanwhile (the clock cannot advance
  while that work is blocked, and the holder waits for the clock).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

_REAL_SLEEP: Final = time.sleep
_REAL_MONOTONIC: Final = time.monotonic


class TimeScale:
    """Compresses emulated waiting: ``seconds * factor`` of real time is spent per emulated second."""

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("time scale factor must be positive")
        self.factor = factor

    def scale(self, seconds: float) -> float:
        return max(0.0, float(seconds) * self.factor)


class EmulatorIdleError(RuntimeError):
    """A wait can never end: nothing is running and nothing is scheduled that could change the state."""


class ClockStoppedError(RuntimeError):
    """The clock stopped while a thread waited on it (the emulator is shutting down)."""


@dataclass(eq=False)
class _Waiter:
    holds_token: bool = False  # the thread was busy: whoever wakes it gives it a busy unit back
    woken: bool = False
    reason: str = ""  # "set", "timeout", "settled", "quiescent", "stopped"
    settle: bool = False  # a wait_until waiter (woken at settled states, unless it polls)
    poll: bool = False  # a wait_until waiter that looks only every so often (woken by its timer)
    seen_version: int = -1
    due: float | None = None


@dataclass(order=True)
class _Timer:
    due: float
    # An observer's timer (the caller's advance, a wait_until's deadline or poll) fires after every other timer due
    # at the same instant, whichever was set first: which thread sets its timer first is the OS scheduler's choice,
    # and an advance to the very instant a worker was due at must see that worker's work done.
    observer: bool
    seq: int
    waiter: _Waiter = field(compare=False)


class VirtualClock:
    """One virtual clock per emulator; see the module docstring for the rules."""

    def __init__(self, start: dt.datetime | float | None = None, *, pace: float = 0.0) -> None:
        if pace < 0:
            raise ValueError(f"pace must be >= 0 real seconds per virtual second, got {pace}")
        if start is None:
            start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._now = start.timestamp() if isinstance(start, dt.datetime) else float(start)
        self.pace = pace
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._version = 0
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._settle_waiters: list[_Waiter] = []
        self._local = threading.local()
        self._driver: threading.Thread | None = None
        self._running = False
        self._traveller: Any = None
        self._coordinates: Any = None
        self._paced_since: float | None = None
        self._patched_sleep = self._sleep_patch  # one bound method, so stop() can tell it is still installed
        self.jumps = 0  # how many times time moved (for tests and reports)
        self.failure: BaseException | None = None  # what stopped the driver, if it broke

    # -- reading -------------------------------------------------------------------------------------------
    def now(self) -> float:
        """Virtual seconds since the epoch."""
        if self._traveller is not None:
            return time.time()
        return self._now

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def busy(self) -> bool:
        """Whether the calling thread counts as busy."""
        return getattr(self._local, "depth", 0) > 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, *, busy_caller: bool = True) -> VirtualClock:
        """Hold the process's wall clock at the virtual time and start the driver. With ``busy_caller`` the calling
        thread counts as busy until :meth:`stop` (tests and the demo drive the emulator from it: time never moves
        while they compute, only while they wait on the clock)."""
        import time_machine

        self._traveller = time_machine.travel(self._now, tick=self.pace > 0)
        self._coordinates = self._traveller.start()
        self._running = True
        time.sleep = self._patched_sleep  # type: ignore[assignment]
        if busy_caller:
            self._enter()
        self._driver = threading.Thread(target=self._drive, name="emulator-clock", daemon=True)
        self._driver.start()
        return self

    def stop(self) -> None:
        """Wake every waiter with :class:`ClockStoppedError` and give the wall clock back."""
        with self._cond:
            self._running = False
            for timer in self._timers:
                self._wake(timer.waiter, "stopped")
            for waiter in self._settle_waiters:
                self._wake(waiter, "stopped")
            self._timers.clear()
            self._settle_waiters.clear()
            self._cond.notify_all()
        if self._driver is not None:
            self._driver.join(5)
            self._driver = None
        if getattr(self._local, "depth", 0) > 0:
            self._local.depth = 0
        if time.sleep is self._patched_sleep:
            time.sleep = _REAL_SLEEP
        if self._traveller is not None:
            self._now = time.time()
            self._traveller.stop()
            self._traveller = None
            self._coordinates = None

    @property
    def running(self) -> bool:
        return self._running

    # -- being busy ------------------------------------------------------------------------------------------
    def _enter(self) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._cond:
                self._busy += 1
                self._version += 1
        self._local.depth = depth + 1

    def _exit(self) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth <= 0:
            raise RuntimeError("clock activity exited more often than entered")
        self._local.depth = depth - 1
        if depth == 1:
            with self._cond:
                self._release_unit()

    @contextlib.contextmanager
    def activity(self) -> Iterator[None]:
        """The calling thread counts as busy inside the block (re-entrant)."""
        self._enter()
        try:
            yield
        finally:
            self._exit()

    def spawn(self, target: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Thread:
        """Start a daemon thread that does emulator work (busy from start() to its end)."""
        thread = Thread(target=target, args=args, kwargs=kwargs, name=name, daemon=True, clock=self)
        thread.start()
        return thread

    def hold(self) -> Token:
        """Count one unit of work handed to another thread (a queued item) until the receiver adopts or releases
        it: the count cannot touch zero between the giver going idle and the receiver starting."""
        with self._cond:
            self._busy += 1
            self._version += 1
        return Token(self)

    @contextlib.contextmanager
    def adopted(self, token: Token) -> Iterator[None]:
        """Do the work ``token`` stands for in this thread: the token's unit becomes the thread's own (so the thread
        can wait on the clock inside the block without holding time still)."""
        if getattr(self._local, "depth", 0) > 0:  # already busy: the thread's own unit covers the work
            token.release()
            yield
            return
        token.adopt()
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._release_unit()

    # -- waiting (call with the condition held) ----------------------------------------------------------------
    def _release_unit(self) -> None:
        """One busy unit ends; when none is left, the driver may move time (call with the condition held)."""
        self._busy -= 1
        if self._busy == 0:
            self._cond.notify_all()

    def _lend_unit(self, waiter: _Waiter) -> None:
        """A busy thread that blocks gives its unit up while it waits (whoever wakes it gives one back)."""
        waiter.holds_token = getattr(self._local, "depth", 0) > 0
        if waiter.holds_token:
            self._release_unit()

    def _block(self, waiter: _Waiter) -> str:
        self._lend_unit(waiter)
        while not waiter.woken:
            self._cond.wait()
        return waiter.reason

    def _wake(self, waiter: _Waiter, reason: str) -> None:
        if waiter.woken:
            return
        waiter.woken = True
        waiter.reason = reason
        if waiter.holds_token and reason != "stopped":
            self._busy += 1
        self._cond.notify_all()

    def _schedule(self, waiter: _Waiter, due: float, *, observer: bool = False) -> None:
        waiter.due = due
        heapq.heappush(self._timers, _Timer(due, observer, next(self._seq), waiter))
        self._cond.notify_all()

    def sleep(self, seconds: float, *, observer: bool = False) -> None:
        """Let ``seconds`` of virtual time pass for the calling thread (``observer``: see :class:`_Timer`)."""
        if seconds <= 0 or not self._running:
            return
        with self._cond:
            waiter = _Waiter()
            self._schedule(waiter, self.now() + float(seconds), observer=observer)
            reason = self._block(waiter)
        if reason == "stopped":
            raise ClockStoppedError("the emulator stopped during a sleep")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, running everything due meanwhile, up to and including the end
        instant, then settle (tests and the demo)."""
        self.sleep(seconds, observer=True)
        self.settle()

    def _sleep_patch(self, seconds: float) -> None:
        if self._running and getattr(self._local, "depth", 0) > 0:
            self.sleep(seconds)
        else:
            _REAL_SLEEP(seconds)

    def settle(self, real_timeout: float = 900.0) -> None:
        """Return once everything runnable has run, without letting time pass."""
        if not self._running:
            return
        with self.activity(), self._cond:
            # Stale from the start: woken at the very next settled state (or when nothing is scheduled at all).
            waiter = _Waiter(settle=True, seen_version=-1)
            self._settle_waiters.append(waiter)
            self._cond.notify_all()
            reason = self._block_settle(waiter, _REAL_MONOTONIC() + real_timeout)
        if reason == "real-timeout":
            raise TimeoutError(f"the emulator did not settle within {real_timeout:g} s of real time")
        if reason == "stopped":
            raise ClockStoppedError("the emulator stopped while settling") from self.failure

    def wait_until(
        self,
        predicate: Callable[[], Any],
        *,
        timeout: float | None = None,
        every: float | None = None,
        description: str = "",
        real_timeout: float = 900.0,
    ) -> Any:
        """Return ``predicate()``'s first truthy value, checked now and at every settled state after (or, with
        ``every``, every ``every`` virtual seconds, as a poller on AWS would: for costly checks).

        ``timeout`` is in virtual seconds (TimeoutError after it); :class:`EmulatorIdleError` when the
        emulator is idle with nothing scheduled and the predicate is still false (it could never become true);
        ``real_timeout`` guards against work that never settles (a hung job), in wall seconds.
        """
        with self.activity():  # the caller is busy while it looks, so nothing moves under the predicate
            return self._wait_until(predicate, timeout, every, description, real_timeout)

    def _wait_until(
        self,
        predicate: Callable[[], Any],
        timeout: float | None,
        every: float | None,
        description: str,
        real_timeout: float,
    ) -> Any:
        what = description or getattr(predicate, "__name__", "a condition")
        deadline = None if timeout is None else self.now() + float(timeout)
        started = _REAL_MONOTONIC()
        while True:
            with self._cond:
                seen = self._version
            value = predicate()
            if value:
                return value
            if not self._running:
                raise ClockStoppedError(f"the emulator stopped while waiting for {what}")
            with self._cond:
                waiter = _Waiter(settle=True, poll=every is not None, seen_version=seen)
                self._settle_waiters.append(waiter)
                due = deadline
                if every is not None:
                    due = self.now() + every if due is None else min(due, self.now() + every)
                if due is not None:
                    self._schedule(waiter, max(due, self.now()), observer=True)
                self._cond.notify_all()
                reason = self._block_settle(waiter, started + real_timeout)
            if reason == "settled" or (reason == "timeout" and every is not None and self._before(deadline)):
                continue
            value = predicate()
            if value:
                return value
            if reason == "timeout":
                raise TimeoutError(f"{what}: not true after {timeout:g} s of emulated time")
            if reason == "quiescent":
                raise EmulatorIdleError(
                    f"{what}: still not true, and the emulator is idle with nothing scheduled that could change it"
                )
            if reason == "real-timeout":
                raise TimeoutError(f"{what}: the emulator did not settle within {real_timeout:g} s of real time")
            raise ClockStoppedError(f"the emulator stopped while waiting for {what}") from self.failure

    def _before(self, deadline: float | None) -> bool:
        return deadline is None or self.now() < deadline

    def _block_settle(self, waiter: _Waiter, real_deadline: float) -> str:
        self._lend_unit(waiter)
        while not waiter.woken:
            remaining = real_deadline - _REAL_MONOTONIC()
            if remaining <= 0:
                self._settle_waiters.remove(waiter)
                waiter.woken, waiter.reason = True, "real-timeout"
                if waiter.holds_token:
                    self._busy += 1
                break
            self._cond.wait(min(remaining, 5.0))
        if waiter in self._settle_waiters:
            self._settle_waiters.remove(waiter)
        return waiter.reason

    # -- the driver -------------------------------------------------------------------------------------------
    def _next_timer(self) -> _Timer | None:
        while self._timers and self._timers[0].waiter.woken:
            heapq.heappop(self._timers)
        return self._timers[0] if self._timers else None

    def _drive(self) -> None:
        try:
            self._drive_loop()
        except BaseException as exc:  # a broken driver must not leave every waiter hanging
            with self._cond:
                self.failure = exc
                self._running = False
                for timer in self._timers:
                    self._wake(timer.waiter, "stopped")
                for waiter in self._settle_waiters:
                    self._wake(waiter, "stopped")
            raise

    def _drive_loop(self) -> None:
        with self._cond:
            while self._running:
                if self._busy > 0:
                    self._paced_since = None
                    self._cond.wait()
                    continue
                stale = [
                    w for w in self._settle_waiters if not w.woken and not w.poll and w.seen_version < self._version
                ]
                if stale:
                    for waiter in stale:
                        self._wake(waiter, "settled")
                    continue
                timer = self._next_timer()
                if timer is None or not any(not t.waiter.woken and not t.waiter.settle for t in self._timers):
                    # Nothing scheduled could change anything: waiters would wait (or time out) for ever.
                    for waiter in list(self._settle_waiters):
                        self._wake(waiter, "quiescent")
                    self._cond.wait()
                    continue
                if self.pace > 0 and not self._paced(timer.due):
                    continue
                self._fire(timer)

    def _paced(self, due: float) -> bool:
        """With a pace, wait (settled) the real time the jump stands for; False to re-check the state first."""
        if self._paced_since is None:
            self._paced_since = _REAL_MONOTONIC()
        remaining = self._paced_since + max(0.0, due - self.now()) * self.pace - _REAL_MONOTONIC()
        if remaining > 0:
            self._cond.wait(remaining)
            return False
        self._paced_since = None
        return True

    def _fire(self, timer: _Timer) -> None:
        """Move time to ``timer`` and wake its waiter, and only that one: timers due at the same instant fire one
        by one in the order they were set (observers' last), each after the previous one's work has settled, so
        simultaneous events never race."""
        heapq.heappop(self._timers)
        if timer.due > self.now():
            self._now = timer.due
            if self._coordinates is not None:
                self._coordinates.move_to(timer.due)
            self.jumps += 1
        self._version += 1
        if timer.waiter.settle and timer.waiter in self._settle_waiters:
            self._settle_waiters.remove(timer.waiter)
        self._wake(timer.waiter, "timeout")


class Token:
    """One unit of work counted by :meth:`VirtualClock.hold`; released once (idempotent)."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._done = False

    def adopt(self) -> None:
        if self._done:
            raise RuntimeError("a clock token was adopted after it was released")
        self._done = True  # the unit now belongs to the adopting thread

    def release(self) -> None:
        if self._done:
            return
        self._done = True
        with self._clock._cond:
            self._clock._release_unit()


class Event:
    """``threading.Event`` on the clock: waiting is idle, ``set()`` hands each waiter a busy unit."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self._clock = clock or current()
        self._flag = False
        self._waiters: list[_Waiter] = []

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set  # noqa: N815  (threading.Event's old name, which moto's code may use)

    def set(self) -> None:
        clock = self._clock
        with clock._cond:
            self._flag = True
            for waiter in self._waiters:
                clock._wake(waiter, "set")
            self._waiters.clear()
            clock._version += 1

    def clear(self) -> None:
        with self._clock._cond:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock._cond:
            if self._flag:
                return True
            if not clock._running:
                return False
            waiter = _Waiter()
            self._waiters.append(waiter)
            if timeout is not None:
                clock._schedule(waiter, clock.now() + max(0.0, float(timeout)))
            reason = clock._block(waiter)
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return reason == "set" or self._flag


class Thread(threading.Thread):
    """``threading.Thread`` on the clock: busy from ``start()`` to the end of ``run()``; ``join`` is idle."""

    def __init__(self, *args: Any, clock: VirtualClock | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock or current()
        self._finished = Event(self._clock)

    def start(self) -> None:
        clock = self._clock
        with clock._cond:
            clock._busy += 1  # the new thread's unit, taken before it exists: no gap
            clock._version += 1
        try:
            super().start()
        except BaseException:
            with clock._cond:
                clock._busy -= 1
                clock._cond.notify_all()
            raise

    def run(self) -> None:
        clock = self._clock
        clock._local.depth = 1  # adopt the unit start() took
        try:
            super().run()
        except ClockStoppedError:
            pass  # the emulator stopped under this thread's wait: the expected end of its work
        finally:
            self._finished.set()  # joiners become busy first
            clock._local.depth = 0
            with clock._cond:
                clock._release_unit()

    def join(self, timeout: float | None = None) -> None:
        if self._finished.wait(timeout):
            super().join(5)


# -- the running clock ----------------------------------------------------------------------------------------
_CURRENT: VirtualClock | None = None


def install(clock: VirtualClock) -> None:
    """Make ``clock`` the process's emulator clock (the patch families find it here); one at a time."""
    global _CURRENT  # noqa: PLW0603  (one emulator per process)
    if _CURRENT is not None and _CURRENT is not clock:
        raise RuntimeError("another local emulator is already running in this process; stop it before starting one")
    _CURRENT = clock


def uninstall(clock: VirtualClock) -> None:
    global _CURRENT  # noqa: PLW0603
    if _CURRENT is clock:
        _CURRENT = None


def current() -> VirtualClock:
    if _CURRENT is None:
        raise RuntimeError("no emulator clock is running in this process")
    return _CURRENT


class ThreadingShim:
    """Stands in for the ``threading`` module inside moto modules: its threads and events run on the clock."""

    Thread = Thread
    Event = Event

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class TimeShim:
    """Stands in for the ``time`` module inside moto modules: ``sleep`` is a clock sleep."""

    @staticmethod
    def sleep(seconds: float) -> None:
        clock = _CURRENT
        if clock is not None and clock.running and clock.busy():
            clock.sleep(seconds)
        else:
            _REAL_SLEEP(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
