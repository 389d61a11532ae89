"""The executor that stands in for APScheduler's ``ThreadPoolExecutor`` during a simulation.

It is a real ``apscheduler.executors.base.BaseExecutor``: ``submit_job`` is APScheduler's own,
so ``max_instances`` is counted exactly as on a scheduler -- at submission, a job waiting for a
free pool thread included -- and ``MaxInstancesReachedError`` reaches ``_process_jobs``
(``executors/base.py:58-75``). Only ``_do_submit_job`` differs: instead of
``concurrent.futures.ThreadPoolExecutor.submit(run_job, ...)`` (``executors/pool.py:15-30``)
the call goes to the world, which runs APScheduler's own ``run_job`` on the virtual clock with
``max_workers`` simulated threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        self.waiting: list[tuple[Any, list[Any]]] = []

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
        self.world.submitted(self, job, run_times)

    def shutdown(self, wait: bool = True) -> None:
        """A thread pool's ``shutdown`` lets running jobs finish (``executors/pool.py:32-33``): so do these."""

    def done(self, job_id: str, events: list[Any]) -> None:
        """The pool's done callback: ``_run_job_success`` frees the instance and dispatches the
        job's events to listeners (``executors/base.py:81-93``, ``pool.py:16-25``)."""
        self._run_job_success(job_id, events)

    def __repr__(self) -> str:
        return f"<jobsim SimulatedPoolExecutor {self.alias!r} max_workers={self.max_workers} busy={self.busy}>"
