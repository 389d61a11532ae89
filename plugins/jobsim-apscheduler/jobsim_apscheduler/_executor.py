"""The executors that stand in for APScheduler's ``ThreadPoolExecutor`` and ``AsyncIOExecutor`` during a simulation.

It is a real ``apscheduler.executors.base.BaseExecutor``: ``submit_job`` is APScheduler's own,
so ``max_instances`` is counted exactly as on a scheduler -- at submission, a job waiting for a
free pool thread included -- and ``MaxInstancesReachedError`` reaches ``_process_jobs``
(``executors/base.py:58-75``). Only ``_do_submit_job`` differs: instead of
``concurrent.futures.ThreadPoolExecutor.submit(run_job, ...)`` (``executors/pool.py:15-30``)
the call goes to the world, which runs APScheduler's own ``run_job`` on the virtual clock with
``max_workers`` simulated threads.

``SimulatedAsyncIOExecutor`` *is* APScheduler's ``AsyncIOExecutor``: its ``_do_submit_job`` creates a
task of ``run_coroutine_job`` on the scheduler's loop, or calls ``loop.run_in_executor(None, run_job,
...)`` for a plain function (``executors/asyncio.py:31-52``) -- the loop being jobsim's
(``_loop.SchedulerLoop``). It only adds the jobsim side (its alias, the user's executor it replaces)
and keeps quiet about jobs the end of the simulation cut short.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import BaseExecutor

if TYPE_CHECKING:
    from ._world import APSWorld


class SimulatedPoolExecutor(BaseExecutor):  # type: ignore[misc]
    """``ThreadPoolExecutor(max_workers)`` in virtual time: ``max_workers`` jobs at once, the rest wait FIFO."""

    def __init__(self, world: APSWorld, alias: str, max_workers: int, replaces: Any) -> None:
        super().__init__()
        self.world = world
        self.alias = alias
        self.max_workers = max_workers
        self.replaces = replaces  # the user's executor, put back when the simulation closes
        self.busy = 0
        self.waiting: deque[Callable[[], None]] = deque()  # work waiting for a free thread, started FIFO

    def submit_job(self, job: Any, run_times: list[Any]) -> None:
        """APScheduler's own ``submit_job``; a ``MaxInstancesReachedError`` is recorded as skipped runs, then
        raised on to ``_process_jobs``, which logs it and dispatches ``EVENT_JOB_MAX_INSTANCES``."""
        from apscheduler.executors.base import MaxInstancesReachedError

        try:
            super().submit_job(job, run_times)
        except MaxInstancesReachedError:
            self.world.skipped(job, run_times)
            raise

    def _do_submit_job(self, job: Any, run_times: list[Any]) -> None:
        self.world.submit(self, job, run_times, self._logger.name, lambda events: self.done(job.id, events))

    def shutdown(self, wait: bool = True) -> None:
        """A thread pool's ``shutdown`` lets running jobs finish (``executors/pool.py:32-33``): so do these."""

    def done(self, job_id: str, events: list[Any]) -> None:
        """The pool's done callback: ``_run_job_success`` frees the instance and dispatches the
        job's events to listeners (``executors/base.py:81-93``, ``pool.py:16-25``)."""
        self._run_job_success(job_id, events)

    def __repr__(self) -> str:
        return f"<jobsim SimulatedPoolExecutor {self.alias!r} max_workers={self.max_workers} busy={self.busy}>"


class SimulatedAsyncIOExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """APScheduler's ``AsyncIOExecutor`` on jobsim's loop (see the module docstring)."""

    def __init__(self, world: APSWorld, alias: str, replaces: Any) -> None:
        super().__init__()
        self.world = world
        self.alias = alias
        self.replaces = replaces  # the user's executor, put back when the simulation closes

    def submit_job(self, job: Any, run_times: list[Any]) -> None:
        """As ``SimulatedPoolExecutor.submit_job``: a ``MaxInstancesReachedError`` is recorded as skipped runs."""
        from apscheduler.executors.base import MaxInstancesReachedError

        try:
            super().submit_job(job, run_times)
        except MaxInstancesReachedError:
            self.world.skipped(job, run_times)
            raise

    def _run_job_error(self, job_id: str, exc: BaseException, traceback: Any = None) -> None:
        """A job's future cancelled when the simulation closed (``shutdown`` cancels them, ``asyncio.py:23-29``)
        is not logged as an error: the simulation ended, the job did not fail."""
        if self.world.closing:
            with self._lock:
                self._instances[job_id] -= 1
            return
        super()._run_job_error(job_id, exc, traceback)

    def __repr__(self) -> str:
        return f"<jobsim SimulatedAsyncIOExecutor {self.alias!r} on the simulation's event loop>"


class RefusedExecutor(BaseExecutor):  # type: ignore[misc]
    """In place of an executor jobsim cannot simulate (a ``ProcessPoolExecutor`` beside the thread pool, as in
    APScheduler's user guide) for the simulation: nothing starts, no job is added on it (``_check_executor``), and
    a job moved onto it later (``modify_job(executor=...)``) stops the simulation with the refusal after the
    scheduler's turn -- ``_process_jobs`` would only log the error of its ``submit_job`` (``base.py:1212-1217``)."""

    def __init__(self, world: APSWorld, alias: str, refusal: Exception) -> None:
        super().__init__()
        self.world = world
        self.alias = alias
        self.refusal = refusal

    def _do_submit_job(self, job: Any, run_times: list[Any]) -> None:
        from jobsim.errors import UnsupportedFeature

        refusal = self.refusal
        self.world.refusal = UnsupportedFeature(f"APScheduler job {job.id!r} runs on {refusal}",
                                                system=getattr(refusal, "system", ""),
                                                feature=getattr(refusal, "feature", ""))  # fmt: skip
        raise self.world.refusal

    def shutdown(self, wait: bool = True) -> None:
        pass
