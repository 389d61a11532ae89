"""The ``AsyncIOScheduler`` side of a simulation: APScheduler's asyncio code on jobsim's loop.

A real ``AsyncIOScheduler`` does everything on its event loop (APScheduler 3.11.3,
``schedulers/asyncio.py``): ``start()`` takes the running loop unless one was given with
``event_loop=`` (lines 34-38, 52-54); ``wakeup()`` and ``shutdown()`` are queued on it with
``call_soon_threadsafe`` (9-15, 40-50, 66-70); after each ``_process_jobs`` it waits with
``call_later(wait_seconds, self.wakeup)`` (56-64); its default executor is ``AsyncIOExecutor``
(72-75), which runs an ``async def`` job as a task of ``run_coroutine_job`` and a plain function
with ``run_in_executor(None, run_job, ...)``, and frees the instance and dispatches the events from
the future's done callback (``executors/asyncio.py:31-52``).

Here all of that runs as it is, on ``_loop.SchedulerLoop`` -- given to the scheduler as its
``_eventloop`` while the simulation runs and taken back after -- with three changes:

* ``_start_timer`` waits for the exact instant ``_process_jobs`` means (``APSWorld._next_wakeup``:
  its float ``wait_seconds`` is off by up to a quarter of a microsecond) and keeps ``run_until_idle``
  waiting for a one-time job (``APSWorld._keep_alive``); ``_stop_timer`` drops that again;
* ``run_coroutine_job`` (the name ``executors/asyncio.py`` calls) runs APScheduler's own
  ``run_coroutine_job`` one run time at a time (as ``APSWorld._thread_runs`` does ``run_job``), so each
  run time is a jobsim run that starts, misfires (``executors/base.py:161-179``) and ends at its instant;
* ``run_in_executor(None, ...)`` runs on the simulated default executor (``_loop``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._events import Event
from jobsim._kernel import NORMAL
from jobsim._records import Run
from jobsim._steps import Execution
from jobsim._time import MS

from ._executor import SimulatedAsyncIOExecutor
from ._loop import CURRENT_RUN, LOOP, LoopExecution, SchedulerLoop, default_workers

if TYPE_CHECKING:
    from ._world import APSWorld, Driven


class AsyncSide:
    """``APSWorld.aio``: the loop the simulation's ``AsyncIOScheduler`` schedulers run on, and their patches."""

    def __init__(self, world: APSWorld) -> None:
        from apscheduler.executors import asyncio as aps_asyncio

        self.world = world
        self.sim = world.sim
        given = next((d.saved_loop for d in world.driven if d.is_async and d.saved_loop is not None), None)
        fn = jobsim.Function(id=LOOP, handler=_not_a_job, app=world.app, options={"apscheduler": True})
        self.sim._own_worker.add(LOOP)  # no jobsim crash or downtime reaches it (Adapted.own_worker)
        start = self.sim.start_ns
        own = Run(fn, LOOP, [Event("apscheduler/loop", {}, id=LOOP, ts=start // MS)], start)
        own.status = "running"
        self.loop = SchedulerLoop(self, default_workers(given), own)
        self._real = aps_asyncio.run_coroutine_job
        aps_asyncio.run_coroutine_job = _run_coroutine_job  # process-wide, one simulation at a time (_patches)

    def patch(self, driven: Driven, clocked: Callable[[Driven, str, Callable[..., Any]], Callable[..., Any]]) -> None:
        """Instance attributes, as ``APSWorld._patch`` puts on every scheduler (removed by ``uninstall``)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler, loop = driven.scheduler, self.loop
        own = scheduler.__dict__

        def start(paused: bool = False) -> None:
            scheduler._eventloop = loop  # start() takes the running loop only when it has none (asyncio.py:34-38)
            AsyncIOScheduler.start(scheduler, paused)

        own["start"] = clocked(driven, "start", start)
        own["shutdown"] = clocked(driven, "shutdown", lambda wait=True: AsyncIOScheduler.shutdown(scheduler, wait))
        own["_start_timer"] = lambda wait_seconds: self._start_timer(driven, wait_seconds)

        def wakeup() -> None:  # ``call_soon_threadsafe(self._wakeup)`` (asyncio.py:40-50): the loop's next turn
            AsyncIOScheduler.wakeup(scheduler)
            self.world.note_turn(driven, loop.tick_timer)

        own["wakeup"] = wakeup
        own["_stop_timer"] = lambda: self._stop_timer(driven)
        own["_create_default_executor"] = lambda: SimulatedAsyncIOExecutor(self.world, "default", None)

    def _start_timer(self, driven: Driven, wait_seconds: float | None) -> None:
        """``_start_timer`` (``schedulers/asyncio.py:56-59``): ``call_later(wait_seconds, self.wakeup)``, at the
        instant ``_process_jobs`` meant; its callback runs in a context of its own, owned by no job."""
        scheduler = driven.scheduler
        scheduler._stop_timer()
        if wait_seconds is not None:
            at = self.world._next_wakeup(driven, wait_seconds)
            scheduler._timeout = self.loop.call_at(self.loop.when(at), scheduler.wakeup, context=contextvars.Context())
        self.world._keep_alive(driven)

    def _stop_timer(self, driven: Driven) -> None:
        """``_stop_timer`` (``schedulers/asyncio.py:61-64``), and the one-time job's keep-alive timer with it."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        AsyncIOScheduler._stop_timer(driven.scheduler)
        if driven.keepalive is not None:
            self.sim.kernel.cancel(driven.keepalive)
            driven.keepalive = None

    # -- coroutine jobs -------------------------------------------------------------------------
    async def run_coroutine_job(self, job: Any, jobstore_alias: str, run_times: list[Any],
                                logger_name: str) -> list[Any]:  # fmt: skip
        """APScheduler's ``run_coroutine_job`` (``executors/base.py:161-197``) for each run time in turn: the
        misfire check and ``await job.func(...)`` are its code; each run time is a jobsim run that starts at the
        loop's instant and ends when the coroutine returns. The task carries the run (``CURRENT_RUN``), so
        the loop names it for the time its code spends."""
        world, sim, loop = self.world, self.sim, self.loop
        events: list[Any] = []
        for run_time in run_times:
            fn = world.functions[job.id]
            start = sim.now_ns()
            run = world._new_run(fn, job, run_time, start)
            faulted = world.faulted(job, fn)
            CURRENT_RUN.set(run)  # in the task's own context: its later steps, and the tasks it makes, carry it
            x = sim.engine.x
            if isinstance(x, LoopExecution):
                x.run_ = run  # this step too (the loop looked up the run before the step set it)
            loop.jobs_running.add(run)
            try:
                out = await self._real(faulted or job, jobstore_alias, [run_time], logger_name)
            finally:
                loop.run_ended(run)
                CURRENT_RUN.set(None)
                loop.resumes.pop(run, None)
                loop.jobs_running.discard(run)
            if world.closing:  # cut short by the end of the simulation: it did not end, nor fail
                return events
            end = sim.now_ns()
            try:
                status, error = world.outcome(run, job, run_time, out[0], start, end, faulted)
            except BaseException as escaped:  # a jobsim error in job code: it stops the driving call
                loop.fatal = loop.fatal or escaped
                return events
            world.end_run(run, status, error, end)
            events.extend(out)
        return events

    # -- the loop's default executor --------------------------------------------------------------
    def call_in_thread(self, loop: SchedulerLoop, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """``loop.run_in_executor(None, func, *args)``: a thread of the simulated default pool runs ``func``.

        ``AsyncIOExecutor``'s ``run_in_executor(None, run_job, job, ...)`` (``executors/asyncio.py:46-49``)
        is a job run like a ``ThreadPoolExecutor``'s (``APSWorld.submit``): its runs are recorded and its
        events are the future's result. Any other function (``asyncio.to_thread`` in job code) runs on its
        own virtual clock, named after the job that called it; the future completes at its virtual end.
        A thread that has started cannot be cancelled (``concurrent.futures``): cancelling the future only
        drops the result."""
        from apscheduler.executors.base import run_job

        future = loop.create_future()
        if func is run_job and len(args) == 4 and self.world.owns(args[0]):
            job, _alias, run_times, logger = args
            self.world.submit(loop.pool, job, run_times, logger, lambda events: _settle(future, events, None))
        else:
            run = CURRENT_RUN.get()
            name = getattr(func, "__qualname__", None) or type(func).__name__
            self.world.take_thread(loop.pool, lambda: self._call(func, args, future, run),
                                   f"{name} (run_in_executor)")  # fmt: skip
        return future

    def _call(self, func: Callable[..., Any], args: tuple[Any, ...], future: Any, run: Run | None) -> None:
        from ._runs import escapes

        sim, engine = self.sim, self.sim.engine
        now = sim.kernel.now
        sim.wallclock.move(now)
        x = Execution(engine, run if run is not None and not run.done else self.loop.own_run, 0, now)
        engine.x = x
        value, error = None, None
        try:
            value = func(*args)
        except BaseException as exc:
            if escapes(exc):
                raise  # jobsim's own errors stop the test
            error = exc
        finally:
            engine.x = None
        engine.move_clock(x.now)
        sim.kernel.schedule(x.now, self._called, future, value, error, owner=LOOP + " (its default executor)",
                            priority=NORMAL)  # fmt: skip

    def _called(self, future: Any, value: Any, error: BaseException | None) -> None:
        self.sim.wallclock.move(self.sim.kernel.now)
        _settle(future, value, error)
        self.world.release_thread(self.loop.pool)

    def close(self) -> None:
        """Cancel what still runs on the loop, close it, and give ``executors/asyncio.py`` its own function back."""
        from apscheduler.executors import asyncio as aps_asyncio

        # run_coroutine_job logs the CancelledError of a job cut short as "raised an exception"
        # (executors/base.py:182-195): the simulation ended, the job did not fail, so its executor is quiet
        quiet = [logging.getLogger(f"apscheduler.executors.{alias}") for driven in self.world.driven
                 if driven.is_async for alias in driven.scheduler._executors]  # fmt: skip
        was = [logger.disabled for logger in quiet]
        for logger in quiet:
            logger.disabled = True
        try:
            self.loop.drain()
        finally:
            aps_asyncio.run_coroutine_job = self._real
            for logger, disabled in zip(quiet, was, strict=True):
                logger.disabled = disabled


async def _run_coroutine_job(job: Any, jobstore_alias: str, run_times: list[Any], logger_name: str) -> list[Any]:
    """What ``executors/asyncio.py`` calls as ``run_coroutine_job`` while a simulation drives an ``AsyncIOScheduler``:
    for its jobs, ``AsyncSide.run_coroutine_job``; for another scheduler's, APScheduler's own."""
    from apscheduler.executors.base import run_coroutine_job

    from . import _patches

    world = _patches.active()
    if world is not None and world.aio is not None and world.owns(job):
        return await world.aio.run_coroutine_job(job, jobstore_alias, run_times, logger_name)  # type: ignore[no-any-return]
    return await run_coroutine_job(job, jobstore_alias, run_times, logger_name)  # type: ignore[no-any-return]


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """A simulated thread's work is done: its future gets the result (unless it was cancelled meanwhile)."""
    if future.cancelled() or future.get_loop().is_closed():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _not_a_job(ctx: Any) -> None:
    from jobsim.errors import JobsimError

    raise JobsimError("the APScheduler event loop is not a job: it runs the jobs of an AsyncIOScheduler")
