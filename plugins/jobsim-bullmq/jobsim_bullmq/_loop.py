"""The simulated workers' process: one asyncio loop whose clock is the simulation's, run by the kernel.

bullmq-python's ``Worker.run()`` is a loop of coroutines: it blocks in ``BZPOPMIN``
for a job, runs up to ``concurrency`` processors as tasks, renews locks on a timer
and checks for stalled jobs on another. Here that very code runs, unchanged, on
``WorkerLoop``: ``loop.time()`` is the virtual clock, and where a real loop would
block in ``select`` until its next timer, this one stops and asks the kernel to run
it again at that instant (``pump``). Whatever wakes a blocked worker earlier -- a job
added by the test or by another function -- pokes it at the instant it happens. So
concurrent processors interleave at their ``await`` points exactly as on one real
worker process, with Redis answering in no time.

All the simulated workers share this one loop, as workers built in one process do:
a processor that blocks the loop with ``time.sleep`` holds up every one of them (and
their lock renewals) for that long, as it would in production.

Timers created by a job's processor (``asyncio.sleep`` in it, in tasks it spawns) are
the job's own: while a job has one pending, the simulation is busy with it, and
``run_until_idle`` waits; the worker's own timers (its 5 s ``drainDelay`` poll, lock
renewals, the stalled-job check) keep nothing busy, as cron ticks do not.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import weakref
from asyncio import events
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim._aio import VirtualLoop
from jobsim._kernel import BACKGROUND
from jobsim._time import SECOND

if TYPE_CHECKING:
    from ._world import BullMQWorld

CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("jobsim_bullmq_job", default=None)
"""The job (``Held``) whose processor task is running: set by the processor wrapper, inherited by its child tasks."""

CLOSING_JUMPS = 10_000
"""While the simulation closes, how many timers the workers' clean-up may still wait for (then it is abandoned)."""


class _KernelSelector:
    """Where the loop would block for ``timeout`` seconds, it parks instead (the kernel wakes it then)."""

    def __init__(self, inner: Any, park: Callable[[int | None], None]) -> None:
        self._inner = inner
        self._park = park

    def select(self, timeout: float | None = None) -> list[Any]:
        ready: list[Any] = self._inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        self._park(None if timeout is None else max(1, math.ceil(timeout * SECOND)))
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class WorkerLoop(VirtualLoop):
    """An event loop on the simulation's clock that runs only when the kernel pumps it."""

    def __init__(self, world: BullMQWorld) -> None:
        self.world = world
        self._skew = 0  # ns added to the clock while closing (time no longer matters then)
        self.closing = False
        self._wake: Any = None
        self._wake_due: int | None = None
        self.pumping = False
        self._owned: dict[asyncio.TimerHandle, Any] = {}
        self.creators: weakref.WeakKeyDictionary[asyncio.Task[Any], Any] = weakref.WeakKeyDictionary()
        self.frozen: dict[asyncio.Task[Any], list[tuple[Any, tuple[Any, ...], Any]]] = {}  # killed tasks
        super().__init__(world.now_ns, self._spend)
        self._selector = _KernelSelector(self._selector, self._park)  # type: ignore[assignment]

    def time(self) -> float:
        return (self.world.now_ns() + self._skew - self._origin) / SECOND

    def _spend(self, ns: int) -> None:  # pragma: no cover - replaced by _park: the inner selector never blocks
        raise AssertionError(ns)

    def _park(self, ns: int | None) -> None:
        if self.closing:
            self._skew += ns or 0
            return
        self.stop()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:  # fmt: skip
        handle = super().call_at(when, callback, *args, context=context)
        held = CURRENT.get()
        if held is not None:
            self._owned[handle] = held
        return handle

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        """Each task remembers the task that created it, so a killed worker's tasks are all found (``_crash``)."""
        task = super().create_task(coro, **kwargs)
        self.creators[task] = asyncio.current_task(self) if self.is_running() else None
        return task

    def call_soon(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                  context: contextvars.Context | None = None) -> asyncio.Handle:  # fmt: skip
        """A step of a killed worker's task is kept, not run: the process is gone (until the simulation closes)."""
        if self.frozen:
            owner = getattr(callback, "__self__", None)
            if isinstance(owner, asyncio.Task) and owner in self.frozen:
                self.frozen[owner].append((callback, args, context))
                handle = asyncio.Handle(callback, args, self, context)
                handle.cancel()
                return handle
        return super().call_soon(callback, *args, context=context)

    def freeze(self, tasks: set[asyncio.Task[Any]]) -> None:
        """Kill ``tasks``: none of them takes another step; their steps already queued are kept aside."""
        for task in tasks:
            self.frozen.setdefault(task, [])
        for handle in list(self._ready):  # type: ignore[attr-defined]
            owner = getattr(handle._callback, "__self__", None)
            if not handle.cancelled() and isinstance(owner, asyncio.Task) and owner in self.frozen:
                self.frozen[owner].append((handle._callback, handle._args, handle._context))
                handle.cancel()

    def thaw(self) -> None:
        """The simulation closes: killed tasks get their steps back, to be cancelled with the others."""
        frozen, self.frozen = self.frozen, {}
        for steps in frozen.values():
            for callback, args, context in steps:
                super().call_soon(callback, *args, context=context)

    def disown(self, held: Any) -> None:
        """A killed job's timers are cancelled: they keep nothing busy (the tasks they would wake are frozen)."""
        for handle, owner in list(self._owned.items()):
            if owner is held:
                handle.cancel()
                del self._owned[handle]

    def job_timers(self) -> bool:
        """True while a job's processor has a timer pending (it is busy in virtual time)."""
        for handle in list(self._owned):
            if handle.cancelled() or not handle._scheduled:  # type: ignore[attr-defined]
                del self._owned[handle]
        return bool(self._owned)

    def next_timer_ns(self) -> int | None:
        scheduled = self._scheduled  # type: ignore[attr-defined]
        live = [h.when() for h in scheduled if not h.cancelled()]
        if not live:
            return None
        return int(self._origin + round(min(live) * SECOND))

    # -- driven by the kernel -------------------------------------------------------------------
    def pump(self) -> None:
        """Run everything due now, until every task waits for a later instant; then book that instant."""
        if self.pumping or self.is_closed():
            return
        self.pumping = True
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            with self.world.process():
                self.run_forever()
        finally:
            events._set_running_loop(outer)
            self.pumping = False
        self.book()
        escaped, self.world.escaped = self.world.escaped, None
        if escaped is not None:
            raise escaped

    def book(self) -> None:
        """Ask the kernel to pump at the next timer (or now, if callbacks are ready)."""
        if self.is_closed():
            return
        due = self.world.now_ns() if self._ready else self.next_timer_ns()  # type: ignore[attr-defined]
        if due is not None and not self._ready and self.world.fast_forward:  # type: ignore[attr-defined]
            due = self.world.idle_until(due)
        if due is None:
            return
        busy = self.world.busy()
        wake = self._wake
        if wake is not None and not wake.cancelled and self._wake_due == due and busy == (not wake.recurring):
            return  # booked already
        if self._wake is not None:
            self.world.sim.kernel.cancel(self._wake)
        self._wake_due = due
        self._wake = self.world.sim.kernel.schedule(due, self.pump, owner="bullmq worker", recurring=not busy,
                                                    priority=BACKGROUND if not busy else 1)  # fmt: skip

    def poke(self) -> None:
        """Something outside the loop woke one of its futures: pump at once (after what runs now)."""
        if self.pumping or self.is_closed():
            return
        self.book()

    def close_down(self, tasks: list[asyncio.Task[Any]]) -> None:
        """The simulation closes: cancel the workers' tasks and let their clean-up run, time jumping as it waits."""
        self.closing = True
        self.thaw()
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            pending = [t for t in asyncio.all_tasks(self) if not t.done()]
            for task in pending:
                task.cancel()
            jumps = 0
            while pending and jumps < CLOSING_JUMPS:
                self._stopping = False
                self.run_until_complete(asyncio.wait(pending, timeout=None))
                pending = [t for t in asyncio.all_tasks(self) if not t.done()]
                for task in pending:
                    task.cancel()
                jumps += 1
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: nothing is logged as "never retrieved"
        finally:
            events._set_running_loop(outer)
            if self._wake is not None:
                self.world.sim.kernel.cancel(self._wake)
            self.close()
