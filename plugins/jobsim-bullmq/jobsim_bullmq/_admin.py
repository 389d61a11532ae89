"""``job.promote()``, ``job.retry()``, ``job.remove()`` and ``queue.drain()``: their Lua scripts on the store.

* ``promote-9.lua:73-96``: a delayed job goes to wait (``LPUSH``) or prioritized at once,
  ``waiting`` event (``prev: delayed``); -3 when it is not delayed.
* ``reprocessJob-9.lua:105-136`` (``job.retry(state, opts)``): a completed or failed job goes
  back to wait (``LPUSH``, ``RPUSH`` with ``lifo``) or prioritized, its ``finishedOn``,
  ``processedOn`` and return value or failure reason deleted (``attemptsMade`` and
  ``attemptsStarted`` too with ``resetAttemptsMade``/``resetAttemptsStarted``), ``waiting``
  event with ``prev`` the old state; -1 when the job is gone, -3 when not in that state. A
  flow's child is pending for its parent again (``moveChildBackToParentDependencies``, ``_bulk.back_to_parent``).
* ``removeJob-2.lua:296-338`` (``job.remove({"removeChildren": True})``): 0 (nothing removed,
  bullmq-python raises) when the job or, removing children, a pending child holds a lock;
  -8 for a job scheduler's current job (bullmq-python does not raise); else the job (and its
  children, recursively) leaves whatever state it is in, a child leaves its parent's
  dependencies (the parent, with none left, goes to the tail of wait: ``_moveParentToWait``),
  its deduplication key goes if it holds it, and a ``removed`` event names the old state.
* ``drain-5.lua:246-261`` (``queue.drain(delayed=False)``): the jobs waiting and prioritized
  (and delayed, with ``delayed=True``) are removed hard (``_bulk.remove_hard``: a flow's child
  leaves its parent, deleting a parent of the same queue it was the last dependency of), except
  a job scheduler's current job, with their deduplication keys; no events. The script trims the
  wait list by ``LTRIM wait n -1`` (n the jobs deleted from it): with a scheduler's job waiting
  ahead of them that drops the wrong ids, so that case is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobsim.errors import UnsupportedFeature

from . import _bulk, _dedup
from ._store import ordered

if TYPE_CHECKING:
    from ._store import JobHash, QueueState, Store


def promote(store: Store, q: QueueState, job_id: str) -> int:
    if job_id not in q.delayed:
        return -3
    del q.delayed[job_id]
    rec = q.jobs[job_id]
    if rec.int("priority") == 0:
        store.push_wait(q, job_id, lifo=False)
    else:
        store.add_prioritized(q, job_id, rec.int("priority"))
    store.xadd(q, "waiting", jobId=job_id, prev="delayed")
    rec.fields["delay"] = 0
    store.world.on_promoted(q, rec)
    store.world.poke()
    return 0


def reprocess(store: Store, q: QueueState, job_id: str, push: str, state: str, reset_made: bool,
              reset_started: bool) -> int:  # fmt: skip
    rec = q.jobs.get(job_id)
    if rec is None:
        return -1
    where = {"completed": q.completed, "failed": q.failed}.get(state)
    if where is None or job_id not in where:
        return -3
    del where[job_id]
    for name in ("finishedOn", "processedOn", "failedReason" if state == "failed" else "returnvalue"):
        rec.fields.pop(name, None)
    if reset_made:
        rec.fields.pop("atm", None)
    if reset_started:
        rec.fields.pop("ats", None)
    if rec.int("priority") == 0:
        store.push_wait(q, job_id, lifo=push == "RPUSH")
    else:
        store.add_prioritized(q, job_id, rec.int("priority"))
    _bulk.back_to_parent(store, q, rec, state)  # reprocessJob-9.lua:125
    store.xadd(q, "waiting", jobId=job_id, prev=state)
    store.world.on_reprocessed(q, rec, state)
    return 1


def _locked(store: Store, q: QueueState, rec: JobHash, children: bool) -> bool:
    """``isLocked`` (``removeJob-2.lua``): the job's lock, or with ``children`` a pending child's, recursively."""
    if store.lock_of(rec) is not None:
        return True
    if children:
        for key in sorted(rec.dependencies):  # SMEMBERS: any order gives the same answer; sorted for one trace
            found = store.job_by_key(key)
            if found is not None and _locked(store, found[0], found[1], children):
                return True
    return False


def remove(store: Store, q: QueueState, job_id: str, children: bool) -> int:
    rec = q.jobs.get(job_id)
    scheduler = rec.fields.get("rjk") if rec is not None else None
    current = q.repeat.get(scheduler) if scheduler is not None else None
    if current is not None and job_id == f"repeat:{scheduler}:{current}":
        return -8  # isJobSchedulerJob
    if rec is not None and _locked(store, q, rec, children):
        return 0
    _remove_with_children(store, q, job_id, children)
    return 1


def _remove_with_children(store: Store, q: QueueState, job_id: str, children: bool) -> None:
    """``removeJobWithChildren`` (``removeJob-2.lua:296-320``), children depth first: ``processed`` and ``failed``
    (hashes: insertion order), ``unsuccessful`` (``ZRANGE``: by score, then key), then the pending ones
    (``SMEMBERS``, whose order Redis leaves unspecified: taken here by key, so one seed gives one trace -- a Python
    ``set`` of strings would follow ``PYTHONHASHSEED``)."""
    rec = q.jobs.get(job_id)
    if rec is None:
        _state_of(store, q, job_id)
        return
    _leave_parent(store, q, rec)
    if children:
        unsuccessful = sorted(rec.unsuccessful, key=lambda k: (rec.unsuccessful[k], k))
        for key in [*rec.processed, *rec.failed_children, *unsuccessful, *sorted(rec.dependencies)]:
            found = store.job_by_key(key)
            if found is not None:
                _remove_with_children(store, found[0], found[1].id, children)
    prev = _state_of(store, q, job_id)
    dedup_id = rec.fields.get("deid")
    if dedup_id is not None and _dedup.get(q, dedup_id, store.now()) == job_id:  # OnRemoval (:536-548)
        del q.dedup[dedup_id]
        q.dedup_next.pop(dedup_id, None)
    del q.jobs[job_id]
    store.xadd(q, "removed", jobId=job_id, prev=prev)
    store.world.on_removed(q, rec, why=f"job.remove(), was {prev}")


def _leave_parent(store: Store, q: QueueState, rec: JobHash) -> None:
    """``removeParentDependencyKey`` without ``hard``: the parent with no dependency left goes to wait."""
    found = _bulk.released_parent(store, q, rec)
    if found is not None:
        pq, prec = found
        store.push_wait(pq, prec.id, lifo=True)  # _moveParentToWait: RPUSH, whatever its priority or delay
        store.xadd(pq, "waiting", jobId=prec.id, prev="waiting-children")
        store.world.on_queued(pq, prec, "waiting", None)


def _state_of(store: Store, q: QueueState, job_id: str) -> str:
    """``removeJobFromAnyState``: the first set or list holding the job loses it; its name, or ``unknown``."""
    for name, zset in (("completed", q.completed), ("waiting-children", q.waiting_children), ("delayed", q.delayed),
                       ("failed", q.failed), ("prioritized", q.prioritized)):  # fmt: skip
        if job_id in zset:
            del zset[job_id]
            return name
    for name, items in (("wait", q.wait), ("active", q.active)):
        if job_id in items:
            items.remove(job_id)
            return name
    return "unknown"


def drain(store: Store, q: QueueState, delayed: bool) -> None:
    """``drain-5.lua:246-261``: every job of wait, then (with ``delayed``) delayed, then prioritized, removed hard
    (``_bulk.remove_hard``: a flow's child releases or deletes its parent), a job scheduler's current job kept."""
    keep = {f"repeat:{sid}:{millis}" for sid, millis in q.repeat.items()}
    from_wait = [j for j in q.wait if j not in keep]
    if list(q.wait)[: len(from_wait)] != from_wait:
        raise UnsupportedFeature(
            f"queue.drain() of queue {q.name!r} while a job scheduler's job waits ahead of other jobs is not simulated:"
            " "
            "bullmq 3.4.4's drain-5.lua trims the wait list by count (LTRIM wait n -1), which then drops that job and "
            "leaves a deleted job's id in the list", system="BullMQ", feature="drain with a waiting scheduler job",
        )  # fmt: skip
    for job_id in from_wait:  # removeListJobs: removeJobs, then LTRIM wait #jobs -1 (the head loses as many)
        _bulk.remove_hard(store, q, job_id, why="queue.drain()")
    for _ in from_wait:
        q.wait.popleft()
    for zset in [q.delayed, q.prioritized] if delayed else [q.prioritized]:
        doomed = [j for j in ordered(zset) if j not in keep]
        for job_id in doomed:
            _bulk.remove_hard(store, q, job_id, why="queue.drain()")
        for job_id in doomed:
            zset.pop(job_id, None)
