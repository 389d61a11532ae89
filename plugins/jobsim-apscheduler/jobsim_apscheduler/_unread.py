"""APScheduler's counterpart of a queue no worker reads: a job whose ``executor=`` alias no executor of its scheduler
has. At its first due time ``_process_jobs`` logs an error and removes it from its job store, never run
(``schedulers/base.py:1178-1188``): ``sim.apscheduler.unconsumed`` keeps one record per job so removed, and the
simulation warns when it closes (``jobsim.UnreadQueueWarning``). A mixin of ``APSWorld``."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from jobsim._time import to_datetime
from jobsim.hooks import Unread

if TYPE_CHECKING:
    from jobsim import Simulation


class NoExecutor:
    if TYPE_CHECKING:
        sim: Simulation
        unconsumed: list[Unread]

    def removed_unrun(self, scheduler: Any, alias: str) -> str | None:
        """``_process_jobs`` found no executor ``alias`` for the due job it is at, and removes that job: the earliest
        due job on that alias (it takes due jobs in their order). With no job due on the alias, the lookup was not
        ``_process_jobs``'s (``remove_executor("nope")`` looks up too, and raises ``KeyError`` to its caller): no job
        was removed. Returns the removed job's id, or None."""
        now = to_datetime(self.sim.now_ns())
        due = sorted((job for job in scheduler.get_jobs() if job.executor == alias and job.next_run_time is not None
                      and job.next_run_time <= now), key=lambda job: job.next_run_time)  # fmt: skip
        if not due:
            return None
        known = sorted(scheduler._executors)
        close = difflib.get_close_matches(alias, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.unconsumed.append(Unread(
            backend="apscheduler", queue=alias, name=due[0].id, read=known, unit="job", kind="job",
            id=due[0].id, listing="sim.apscheduler.unconsumed", place="executor", verb="were due",
            why=(f"which the scheduler does not have (its executors: {', '.join(map(repr, known))}{hint}), so "
                 "APScheduler logged an error and removed them from the job store, never run"),
            fix=(f"Give the job an executor the scheduler has (add_job(..., executor={(known or ['default'])[0]!r})), "
                 f"or add one named {alias!r} (scheduler.add_executor(ThreadPoolExecutor(), alias={alias!r}))"),
        ))  # fmt: skip
        return str(due[0].id)
