"""The simulated worker process: one asyncio loop on the simulation's clock, run by jobsim's kernel.

arq's ``Worker.main()`` is a coroutine that polls Redis every ``poll_delay`` (``utils.poll``,
``worker.py:365-375``), starts each due job as a task (``worker.py:436-476``) and waits for it with
``asyncio.wait_for(..., timeout)`` (``worker.py:595-599``). That very code runs here, unchanged, on
``WorkerLoop`` -- a ``jobsim.hooks.PumpedLoop`` whose clock is the simulation's. Where a real loop
would block in ``select`` until its next timer, this one stops and books a kernel timer at that
instant (``pump``); a job enqueued by the test pokes it at once. Redis answers in no time, so the
polls fall exactly every ``poll_delay`` from the worker's start, as on an idle real worker.

Idle polls are skipped, not simulated one by one (a day of 0.5 s polls is 172,800 loop turns):
while a worker runs no job, its poll timer is moved to the first instant *on its own poll grid*
(start + k * ``poll_delay``) at which a poll can find something -- one poll before its first queued
job is due, before a cron job falls inside the enqueue window (``worker.py:733-769``) or before the
health check is due (``worker.py:773-777``). A skipped poll would have found nothing and written
nothing but the health-check key, whose own instants are kept, so what the worker does and when
is unchanged; a job enqueued meanwhile moves the timer back to the grid point that takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import math
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND
from jobsim.hooks import PumpedLoop

if TYPE_CHECKING:
    from ._world import ArqWorld, Driven

CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("jobsim_arq_job", default=None)
"""The job (``Held``) whose ``run_job`` task is running: set by its wrapper, inherited by the tasks it makes."""


class WorkerLoop(PumpedLoop["ArqWorld"]):
    """The arq workers' process (``jobsim.hooks.PumpedLoop``): its timers ordered as a real worker's would fire,
    its idle polls skipped, and its shutdown that of ``Worker.close``."""

    wake_owner = "arq worker"
    current = CURRENT
    moves_wallclock = True  # the simulation's wall clock follows the process's while it runs

    def __init__(self, world: ArqWorld) -> None:
        self._polling = False
        self._seq = itertools.count()
        super().__init__(world)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:  # fmt: skip
        """``BaseEventLoop.call_at`` with a ``_Timer``: timers due at one instant fire polls first, then in the order
        they were set (asyncio's heap leaves ties to chance)."""
        self._check_closed()  # type: ignore[attr-defined]
        timer = _Timer(when, callback, args, self, context, (0 if self._polling else 1, next(self._seq)))
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        """``loop.run_in_executor`` (and ``asyncio.to_thread``, which calls it) runs ``func`` here and now, as a
        blocking call: its ``time.sleep`` moves the process's clock like one in the job itself.

        A real thread would finish in real time while the worker process waits for its next virtual timer: the
        job's ``await`` would never be woken before that timer, and a job awaiting only the thread would run into
        its ``job_timeout`` (300 s) instead of returning. Inline, the result is ready when the job awaits it, the
        same on every run (a thread pool's interleaving would not be)."""
        self._check_closed()  # type: ignore[attr-defined]
        future = self.create_future()
        try:
            result = func(*args)
        except (Exception, asyncio.CancelledError) as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def next_due_ns(self) -> int | None:
        """The next timer, idle polls skipped (none while closing: the shutdown runs the loop itself). A blocking
        call in job code (``time.sleep``, one run inline) holds the process until the simulation reaches its return
        (``PumpedLoop.blocked_until``): a blocked worker writes nothing to Redis until then, and what the job (and
        ``run_job`` after it) writes then -- its result, a retry's score -- is written at that instant, so a client
        polling meanwhile (the test's ``job.result()``) reads the job still in progress, as from a real worker."""
        if self.closing:
            return None
        if not self._ready:
            self._skip_idle_polls()
        return super().next_due_ns()

    # -- idle polls ------------------------------------------------------------------------------
    def _skip_idle_polls(self) -> None:
        moved = False
        now = self.world.now_ns()
        for driven in self.world.driven:
            handle = driven.poll_timer
            if handle is None or handle.cancelled() or not handle._scheduled or driven.step_ns <= 0:  # type: ignore[attr-defined]
                continue
            if driven.anchor is None or driven.anchor[0] is not handle:
                driven.anchor = (handle, self.timer_ns(handle))
            target = driven.anchor[1] if driven.running() else self.world.next_interest(driven)
            anchor = driven.anchor[1]
            # a poll skipped at this very instant counts as done (before whatever pokes now, as on a real worker)
            done = now + 1 if self.timer_ns(handle) > now else now
            low = max(target, done, anchor)
            at = anchor + math.ceil((low - anchor) / driven.step_ns) * driven.step_ns
            if at != self.timer_ns(handle):
                handle._when = (at - self._origin) / SECOND  # type: ignore[attr-defined]
                handle.key = (at - self._origin, handle.key[1])  # type: ignore[attr-defined]
                moved = True
        if moved:
            heapq.heapify(self._scheduled)

    def poll_for(self, driven: Driven) -> Callable[[float], AsyncGenerator[float, None]]:
        """``arq.utils.poll`` (``utils.py:101-109``) for one worker: the same arithmetic, its sleep's timer kept on
        ``driven.poll_timer`` so idle polls can be skipped."""
        loop = self

        async def poll(step: float = 0.5) -> AsyncGenerator[float, None]:
            start = loop.time()
            while True:
                before = loop.time()
                yield before - start
                after = loop.time()
                wait = max([0, step - after + before])
                if wait <= 0:
                    await asyncio.sleep(0)
                    continue
                future = loop.create_future()
                loop._polling = True
                try:
                    driven.poll_timer = handle = loop.call_later(wait, _wake, future)
                finally:
                    loop._polling = False
                try:
                    await future
                finally:
                    handle.cancel()
                    driven.poll_timer = None

        return poll

    # -- the end ---------------------------------------------------------------------------------
    def close_down(self, closing: Iterable[Any] = ()) -> None:
        """The simulation closes: each worker shuts down as on SIGTERM (``Worker.close``: its jobs cancelled,
        ``on_shutdown`` awaited, ``worker.py:852-878``), then whatever is left is cancelled; time jumps as they wait.
        ``closing`` holds the workers' ``close()`` coroutines."""
        super().close_down(closing)

    @contextlib.contextmanager
    def _closing_scope(self) -> Iterator[None]:
        self.world.sim.wallclock.activate()  # on_shutdown reads the clock the simulation ends at
        try:
            with self.process():
                yield
        finally:
            self.world.sim.wallclock.deactivate()

    def _begin_close(self, closing: Iterable[Any]) -> list[asyncio.Task[Any]]:
        """Each closer runs as a task of its own, in a fresh context (no job's, no worker's); once all are done the
        process exits, and every task still running goes with it.

        ``Worker.close`` cancels only the tasks in ``worker.tasks`` (``worker.py:852-878``). A job run again while
        its first run goes on -- it outlived its in-progress key, ``in_progress_timeout_s = job timeout + 10``,
        only 10 s with ``job_timeout=None`` (``worker.py:276-277``) -- replaced its first task there: ``Worker.run()``
        returns with that task still running, and the process ends. Waiting for it here would never end."""
        running = [t for t in asyncio.all_tasks(self) if not t.done()]
        tasks = [contextvars.Context().run(self.create_task, closer) for closer in closing]

        def exit_process(_: Any = None) -> None:
            if all(t.done() for t in tasks):
                for task in running:
                    task.cancel()

        for task in tasks:
            task.add_done_callback(exit_process)
        if not tasks:
            exit_process()
        return tasks

    def _leftovers(self, pending: list[asyncio.Task[Any]], tasks: list[asyncio.Task[Any]]) -> None:
        """Once every ``Worker.close`` is done, what is left is cancelled (before, it may be what they wait for)."""
        if all(t.done() for t in tasks):
            for task in pending:
                task.cancel()

    def _end_close(self, tasks: list[asyncio.Task[Any]]) -> None:
        """A closer that failed fails the close (``world.escaped``, raised by ``ArqWorld.close``)."""
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.world.escaped = self.world.escaped or task.exception()


class _Timer(asyncio.TimerHandle):
    """A timer ordered by its nanosecond, then polls before other timers, then by when it was set.

    In virtual time Redis answers in no time, so a job that starts at a poll and sleeps a whole number of
    poll periods ends at the very instant of a later poll. On a real worker it ends a little after it: the
    job started a few Redis round trips after its poll (``worker.py:451-488``), while the poll loop keeps to
    its grid (``utils.py:105-109``). Polls first keeps that order, so the job is seen at the next poll."""

    __slots__ = ("key",)

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...], loop: Any,
                 context: contextvars.Context | None, rank: tuple[int, int]) -> None:  # fmt: skip
        super().__init__(when, callback, args, loop, context)
        self.key = (round(when * SECOND), rank)

    def __lt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _Timer):
            return self.key < other.key
        return super().__lt__(other)

    def __le__(self, other: asyncio.TimerHandle) -> bool:
        return self == other or self < other


def _wake(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
