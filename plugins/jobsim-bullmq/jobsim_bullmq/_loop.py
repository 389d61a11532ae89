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
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from jobsim.hooks import PumpedLoop

if TYPE_CHECKING:
    from ._world import BullMQWorld

CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("jobsim_bullmq_job", default=None)
"""The job (``Held``) whose processor task is running: set by the processor wrapper, inherited by its child tasks."""


class WorkerLoop(PumpedLoop["BullMQWorld"]):
    """The bullmq workers' process (``jobsim.hooks.PumpedLoop``): it knows which timers are a job's, and a killed
    worker's tasks stay frozen."""

    wake_owner = "bullmq worker"
    current = CURRENT

    def __init__(self, world: BullMQWorld) -> None:
        self._owned: dict[asyncio.TimerHandle, Any] = {}
        self.creators: weakref.WeakKeyDictionary[asyncio.Task[Any], Any] = weakref.WeakKeyDictionary()
        self.frozen: dict[asyncio.Task[Any], list[tuple[Any, tuple[Any, ...], Any]]] = {}  # killed tasks
        super().__init__(world)

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
        for handle in list(self._ready):
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

    def next_due_ns(self) -> int | None:
        """The next timer, or with ``fast_forward`` the first wake-up of idle workers that shows (``idle_until``).

        A processor that blocks the loop (``time.sleep``, a sync client) holds it until the simulation reaches the
        call's return (``PumpedLoop.blocked_until``): a real worker blocked in ``time.sleep(100)`` sends nothing to
        Redis for 100 s, its lock expires meanwhile, its renewal and stalled-check timers fire late, and what its
        job writes after the call (``moveToFinished``) reaches Redis when the call returned. The code after the call
        runs in the same turn, but every Redis command waits for that instant (``jobsim.hooks.gate_while_blocked``),
        so a test reading the queue meanwhile sees the job still active, ``run_until_idle`` waits for it
        (``BullMQWorld.busy``), and each write, event and trace record is stamped when it happens."""
        due = super().next_due_ns()
        if due is not None and not self._ready and self.world.fast_forward:
            due = self.world.idle_until(due)
        return due

    def close_down(self, closing: Iterable[Any] = ()) -> None:
        """The simulation closes: cancel the workers' tasks and let their clean-up run, time jumping as it waits.
        ``closing`` holds the workers' ``run()`` tasks (their exceptions are retrieved)."""
        super().close_down(closing)

    def _begin_close(self, closing: Iterable[Any]) -> list[asyncio.Task[Any]]:
        """Killed workers' tasks get their steps back first, to be cancelled with the others."""
        self.thaw()
        return super()._begin_close(closing)
