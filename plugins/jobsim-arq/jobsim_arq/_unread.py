"""Jobs on queues no simulated worker reads (``sim.arq.unconsumed``), and what jobsim-arq answers ``jobsim_unread``
with when the simulation closes: a job enqueued with a ``_queue_name`` no worker's ``queue_name`` is stays in that
queue's sorted set, as in Redis with no worker on it. Only jobs due by now count (a ``_defer_by``/``_defer_until``
still ahead is the test's business), and not one the test aborted (``job.abort()`` puts it in ``arq:abort``: a worker
taking it would end it "aborted before start", ``worker.py: run_job``, never running it), nor one whose job key
expired before it was due (``_expires``: the key is set with ``PSETEX`` as it is enqueued, and a worker taking the
job then finds no key and ends it "job expired", ``worker.py: run_job``, never running it). One whose key expired
after it was due, while it waited unread, counts: a worker reading the queue would have run it. A mixin of
``ArqWorld``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.hooks import Unread

if TYPE_CHECKING:
    from ._jobs import Held
    from ._redis import Store


class Unconsumed:
    if TYPE_CHECKING:
        store: Store
        jobs: dict[str, Held]

        @property
        def workers(self) -> list[Any]: ...

        def timestamp_ms_floor(self) -> int: ...

    @property
    def unconsumed(self) -> list[Unread]:
        """The jobs due on queues no simulated worker reads, queue by queue, in the order a worker would take
        them: ``queue``, ``name`` (the function) and ``id`` each."""
        from arq.constants import abort_jobs_ss, job_key_prefix

        read = sorted({w.queue_name for w in self.workers})
        now, out = self.timestamp_ms_floor(), []
        for queue in dict.fromkeys(held.queue for held in self.jobs.values()):
            if queue in read:
                continue
            for member in self.store.c_ZRANGEBYSCORE(queue, "-inf", now):
                if self.store.c_ZSCORE(abort_jobs_ss, member) is not None:
                    continue  # aborted: cancelled work, not lost work
                job_id = member.decode()
                expiry = self.store.expiry_ms((job_key_prefix + job_id).encode())
                due = self.store.c_ZSCORE(queue, member)  # a member it just listed: its score is there
                if expiry is not None and due is not None and expiry < int(due):
                    continue  # its key expired before it was due (or is gone): no worker would have run it
                held = self.jobs.get(job_id)
                name = held.run.function.id if held is not None else "?"
                worker = f"a WorkerSettings with queue_name={queue!r} passed to the Simulation"
                out.append(Unread(backend="arq", queue=queue, name=name, read=read, unit="job", kind="function",
                                  listing="sim.arq.unconsumed", worker=worker, id=job_id))  # fmt: skip
        return out

    def unread_work(self) -> list[Unread]:
        return self.unconsumed
