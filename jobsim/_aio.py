"""A virtual-time asyncio loop for ``async def`` job code.

``asyncio.sleep(x)`` in job code spends ``x`` of virtual time: when the loop would
block waiting for its next timer, the selector advances the execution clock by
exactly that timeout instead of sleeping.

Two traps avoided (``reference/virtual_time.md`` §0.2): loop time is measured from
the start of each execution, so it stays small and float64 never loses the 1e-9
clock resolution that asyncio compares against; and the resolution is raised to
1 µs anyway. A handler may be driven while a pytest-asyncio test's own loop is
running: the outer loop is set aside for the duration of the (synchronous) call.

Real I/O on such a loop (a request a test passes through to a real server) would lose the
race against the next virtual timer: the selector jumps to it without waiting for the
socket. While an exchange holds ``VirtualLoop.hold_real_io()``, the loop waits for its I/O in
real time instead, and virtual time stands still, as it does for a blocking call.
"""

from __future__ import annotations

import asyncio
import selectors
from asyncio import events
from collections.abc import Callable, Coroutine
from typing import Any

from ._time import SECOND
from .errors import JobsimError

REAL_IO_WAIT = 30.0
"""Seconds of real time job code may wait on real I/O with no virtual timer pending."""


class _VirtualSelector:
    def __init__(self, real: selectors.BaseSelector, advance: Callable[[int], None],
                 busy: Callable[[], bool]) -> None:  # fmt: skip
        self._real = real
        self._advance = advance
        self._busy = busy

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or self._busy():
            ready = self._real.select(REAL_IO_WAIT)
            if ready:
                return ready
            if timeout is not None:  # a real exchange in flight
                raise JobsimError(
                    f"a request passed through to the real network waited {REAL_IO_WAIT:g} s of real time "
                    "for its server; is it running, and listening where the route sends the request?"
                )
            raise JobsimError(
                f"async job code waited {REAL_IO_WAIT:.0f} s of real time for I/O with no virtual "
                "timer pending; jobsim cannot advance virtual time past a real network wait. "
                "Route HTTP through sim.http or await asyncio.sleep for virtual delays."
            )
        self._advance(max(1, round(timeout * SECOND)))
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is the simulation's execution clock."""

    def __init__(self, now: Callable[[], int], advance: Callable[[int], None]) -> None:
        super().__init__()
        self._jobsim_now = now
        self._origin = now()
        self._jobsim_advance = advance
        self._real_io = 0
        self._selector = _VirtualSelector(self._selector, self._advance,  # type: ignore[has-type,arg-type]
                                          lambda: self._real_io > 0)  # fmt: skip
        self._clock_resolution = 1e-6
        self.cut: BaseException | None = None
        """What stopped the loop's time mid-wait (a crash, a downtime): the tasks it cancels ended by it."""

    def _advance(self, ns: int) -> None:
        try:
            self._jobsim_advance(ns)
        except BaseException as stop:
            self.cut = stop
            raise

    def time(self) -> float:
        return (self._jobsim_now() - self._origin) / SECOND

    def hold_real_io(self) -> Callable[[], None]:
        """Until the returned function is called (once or more), the loop waits for real I/O in real time (up
        to ``REAL_IO_WAIT``) instead of jumping to its next timer: a pass-through request's server gets to
        answer, and virtual time stands still meanwhile. A hold outlives any one call, hence no ``with``."""
        self._real_io += 1
        held = [True]

        def release() -> None:
            if held:
                held.clear()
                self._real_io -= 1

        return release

    def drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to completion in virtual time and return its result."""
        self._origin = self._jobsim_now()
        self.cut = None
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            return self.run_until_complete(coro)
        finally:
            try:
                self._cancel_leftovers()
            finally:  # a leftover that raises on cancellation must not cost the caller its own running loop
                events._set_running_loop(outer)

    def _cancel_leftovers(self) -> None:
        """Tasks a handler spawned and did not await end with its request, as on a serverless call."""
        leftovers = sorted((t for t in asyncio.all_tasks(self) if not t.done()), key=_created)  # a set: in a
        # fixed order, so what they record when cancelled (an HTTP call cut short) is in the same order every run
        if not leftovers:
            return
        for task in leftovers:
            task.cancel()
        self.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def _created(task: asyncio.Task[Any]) -> tuple[int, str]:
    """Creation order: asyncio names tasks ``Task-<n>`` from one counter (named ones after, by name)."""
    name = task.get_name()
    number = name[5:] if name.startswith("Task-") else ""
    return (int(number), "") if number.isdigit() else (1 << 62, name)
