"""Jobs on queues no simulated worker reads (``sim.bullmq.unconsumed``), and what jobsim-bullmq answers
``jobsim_unread`` with when the simulation closes: such a queue keeps its jobs waiting (or delayed: no worker
promotes them), as in Redis with no worker on it. A queue read by a worker that crashed counts as read (the
crash is the test's own doing); a paused queue's jobs and those delayed past now are the test's business.
A mixin of ``BullMQWorld``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.hooks import Unread

from ._state import SCORE, ordered

if TYPE_CHECKING:
    from ._store import Store


class Unconsumed:
    if TYPE_CHECKING:
        store: Store
        all_workers: list[Any]

        def now_ms(self) -> int: ...

    @property
    def unconsumed(self) -> list[Unread]:
        """The jobs due on queues no simulated worker reads, queue by queue: ``queue``, ``name`` and ``id`` each."""
        read = sorted({w.qualifiedName for w in self.all_workers})
        now, out = self.now_ms(), []
        for q in self.store.queues.values():
            if q.qualified in read or q.meta.get("paused"):
                continue
            due = [job_id for job_id in ordered(q.delayed) if q.delayed[job_id] // SCORE <= now]
            for job_id in [*reversed(q.wait), *ordered(q.prioritized), *due]:  # the wait list is taken from its tail
                rec = q.jobs.get(job_id)
                name = str(rec.fields.get("name", "")) if rec is not None else ""
                out.append(Unread(backend="bullmq", queue=_shown(q.qualified), name=name, read=list(map(_shown, read)),
                                  unit="job", kind="job name", listing="sim.bullmq.unconsumed", id=job_id,
                                  worker=f"a Worker({q.name!r}, processor) passed to the Simulation",
                                  dependents=self._parents(q.key(job_id)),
                                  dependents_how="flow parents, in waiting-children"))  # fmt: skip
        return out

    def _parents(self, child_key: str) -> list[tuple[str, str]]:
        """The flow parents waiting on the job ``child_key`` (its ``parentKey``, in ``waiting-children`` with the
        child among its dependencies), and their parents in turn: a parent moves to wait only once its children
        ended (``moveToFinished``), so none of them runs while the child waits unread. Each as (key, name)."""
        out: list[tuple[str, str]] = []
        while True:
            found = self.store.job_by_key(child_key)
            parent_key = found[1].fields.get("parentKey") if found is not None else None
            parent = self.store.job_by_key(str(parent_key)) if parent_key else None
            if parent is None:
                return out
            pq, prec = parent
            if prec.id not in pq.waiting_children or child_key not in prec.dependencies:
                return out
            child_key = pq.key(prec.id)
            out.append((child_key, str(prec.fields.get("name", ""))))

    def unread_work(self) -> list[Unread]:
        return self.unconsumed


def _shown(qualified: str) -> str:
    """A queue as the test names it: ``emails`` under the default ``bull`` prefix, else ``prefix:emails``."""
    return qualified.removeprefix("bull:")
