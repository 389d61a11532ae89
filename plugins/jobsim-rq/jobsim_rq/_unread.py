"""Jobs on queues no simulated worker reads (``sim.rq.unconsumed``), and what jobsim-rq answers ``jobsim_unread``
with when the simulation closes: such a queue keeps its jobs ``queued``, and its ``enqueue_at``/``enqueue_in``
jobs ``scheduled`` (no worker, so no scheduler), as RQ does with no worker on it. A mixin of ``RQWorld``.

A job counts when a worker reading its queue would have run it. Its ``ttl`` (``job.cleanup(ttl)`` as it is queued
or scheduled: the key expires ``ttl`` s later) then matters only if it runs out before the job is due: a queued job
is due at once, and a worker would have taken it before its key expired, so one whose key expired while it waited
unread counts (it was lost for want of a worker); a scheduled job whose key expired before its instant does not
(the scheduler drops a job it cannot fetch, ``rq/scheduler.py``), nor does a job deleted or canceled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim.hooks import Unread

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._pool import Line, Pool
    from ._world import Held


class Unconsumed:
    if TYPE_CHECKING:
        sim: Simulation
        jobs: dict[str, Held]
        dependents: dict[str, list[Held]]
        waiting: dict[str, Line]
        unread: dict[str, Line]
        pool: Pool

        def gone(self, held: Held) -> bool: ...

    @property
    def unconsumed(self) -> list[Any]:
        """The RQ ``Job`` objects due on queues no simulated worker reads: queued there, or scheduled there for
        an instant already past (no worker, so no scheduler moves them), in the order they were queued."""
        now = self.sim.now_ns()
        queued = [self.jobs[job_id] for line in self.unread.values() for job_id in line.ids(now)]
        scheduled = [h for h in self.jobs.values() if h.queue.name not in self.waiting and h.due is not None
                     and h.due <= now and h.job._status == JobStatus.SCHEDULED]  # fmt: skip
        return [h.job for h in queued if self._would_run(h, None)] + [
            h.job for h in scheduled if self._would_run(h, h.due)]

    def _would_run(self, held: Held, due: int | None) -> bool:
        """A worker reading the queue would have run the job: its key is there, or it expired by its ``ttl`` after
        the job was due (a queued job is due as it is queued, when its ``ttl`` starts: ``due`` None). A worker and
        the scheduler skip a job whose key is gone (``Job.fetch`` raises ``NoSuchJobError``); the key expiring at
        the very instant the job is due is still found, as ``_expire_in`` says."""
        if not self.gone(held):
            return True
        gone_at = held.gone_at if held.gone_at is not None else 0
        expired = held.gone_why.startswith("ttl=") and held.gone_why != "ttl=0"  # ttl=0: deleted as it was queued
        return expired and (due is None or gone_at >= due)

    def unread_work(self) -> list[Unread]:
        read = list(dict.fromkeys(q for worker in self.pool.workers for q in worker.listen))
        return [Unread(backend="rq", queue=job.origin, name=job.func_name, read=read, unit="job", kind="function",
                       listing="sim.rq.unconsumed", worker=_worker(read, job.origin), id=job.id,
                       dependents=self._blocked(job.id, self._due(job)), dependents_how="depends_on: deferred")
                for job in self.unconsumed]  # fmt: skip

    def _due(self, job: Any) -> int | None:
        held = self.jobs[job.id]
        return held.due if job._status == JobStatus.SCHEDULED else None

    def _blocked(self, job_id: str, due: int | None) -> list[tuple[str, str]]:
        """The jobs deferred on ``job_id`` (``depends_on``), and on those, still waiting: RQ queues a dependent only
        once its dependencies finished (``enqueue_dependents``), so none of them runs while the job waits unread.
        The expiry rule holds for them too: one whose ``ttl`` ran out as it waited counts if its key was still there
        when ``job_id`` was due (``due``; None: queued, due already), as a worker reading that queue would have run
        ``job_id`` and released it then."""
        out: list[tuple[str, str]] = []
        seen, todo = {job_id}, [job_id]
        while todo:
            for held in self.dependents.get(todo.pop(), ()):
                job = held.job
                if job.id in seen or not self._would_run(held, due) or job._status != JobStatus.DEFERRED:
                    continue
                seen.add(job.id)
                out.append((job.id, job.func_name))
                todo.append(job.id)
        return out


def _worker(read: list[str], queue: str) -> str:
    return f"jobsim_rq.Worker({[*read, queue]!r}), as `rq worker {' '.join([*read, queue])}` would"
