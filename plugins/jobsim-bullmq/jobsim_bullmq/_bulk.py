"""Queue-wide admin scripts on the store: ``clean``, ``obliterate``, ``retryJobs``/``promoteJobs``,
``job.changePriority`` and ``getCountsPerPriority``.

Each function is the script bullmq-python 3.4.4 runs for that call (``commands/*.lua`` in its wheel, the line
cited), on the in-memory queue (``_store``). The arguments come from bullmq's own ``Scripts.*Args`` helpers where
it has them (``_patches``), so defaults (``count or 1000``, ``timestamp or now``, ``now - grace``) are bullmq's.

Three of bullmq's choices a user may not expect, reproduced as they are:

* ``retryJobs``/``promoteJobs`` (``moveJobsToWait-8.lua``, "Does not support jobs with priorities") push every job
  to the wait list, a prioritized one too, and ``count`` is the size of each batch, not a total: the Python loop
  (``queue.py:304-326``) calls the script until a batch comes back short, so every job matching is moved.
* ``clean`` compares a job's ``finishedOn``/``processedOn``/``timestamp`` with ``now - grace`` as Lua compares two
  strings (``cleanJobsInSet-3.lua:243, 318``: both are strings there), i.e. byte by byte; with the 13-digit
  millisecond timestamps of any date from 2001 to 2286 that is the numeric order.
* Removing a flow's last pending child hard (``clean``, ``obliterate``, ``drain``: ``removeParentDependencyKey``
  with ``hard``) deletes a parent in the same queue that was waiting for it; a parent in another queue goes to
  the tail of its wait list, with no event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument

from . import _dedup
from ._events import Stream
from ._store import PRIORITY, ordered

if TYPE_CHECKING:
    from ._store import JobHash, QueueState, Store

CLEAN_TYPES = ("completed", "failed", "wait", "paused", "active", "delayed", "prioritized", "waiting-children")
"""The sets ``queue.clean`` can name: ``cleanJobsInSet-3.lua:334-353`` treats ``active``, ``wait``/``paused``,
``delayed`` and ``prioritized`` apart and every other key as a finished set scored by time."""

MAX_PRIORITY = 2**21
"""bullmq's ``Job`` refuses a priority above 2,097,152 (Node's ``PRIORITY_LIMIT``): ``priority * 2^32`` beyond it
passes 2^53, where Redis's double scores can no longer keep jobs of one priority in order."""


# -- removing a job for good (cleanJobsInSet-3.lua:148-219, the same functions in obliterate-2.lua and drain-5.lua) --
def remove_hard(store: Store, q: QueueState, job_id: str, why: str) -> None:
    """``removeJob(jobId, hard=true, baseKey, true)`` (``cleanJobsInSet-3.lua:211-219``): the job leaves its parent's
    dependencies, its deduplication id goes if it still holds it, its keys are deleted. The caller takes it out of
    its list or set; no event is emitted."""
    rec = q.jobs.get(job_id)
    if rec is None:
        return
    _leave_parent_hard(store, q, rec)
    dedup_id = rec.fields.get("deid")
    if dedup_id is not None and _dedup.get(q, dedup_id, store.now()) == job_id:  # :71-83
        del q.dedup[dedup_id]
        q.dedup_next.pop(dedup_id, None)
    _delete_keys(store, q, rec, why)


def _delete_keys(store: Store, q: QueueState, rec: JobHash, why: str) -> None:
    """``removeJobKeys`` (``cleanJobsInSet-3.lua:87-90``): the hash, logs, dependencies, processed... are deleted."""
    if q.jobs.get(rec.id) is rec:
        del q.jobs[rec.id]
        store.world.on_removed(q, rec, why=why)


def released_parent(store: Store, q: QueueState, rec: JobHash) -> tuple[QueueState, JobHash] | None:
    """What ``removeParentDependencyKey`` does first, hard or not (``cleanJobsInSet-3.lua:176-190``): the job
    leaves its parent's dependencies; the parent (its queue and hash) if that was its last pending child and it was
    waiting for its children (now taken out of ``waiting-children``), else None (no parent, ``EXISTS`` failed)."""
    parent_key = rec.fields.get("parentKey")
    found = store.job_by_key(parent_key) if parent_key else None
    if found is None:  # EXISTS missedParentKey (:179-180)
        return None
    pq, prec = found
    key = q.key(rec.id)
    if key not in prec.dependencies:
        return None
    prec.dependencies.discard(key)
    if prec.dependencies or prec.id not in pq.waiting_children:
        return None
    del pq.waiting_children[prec.id]
    return found


def _leave_parent_hard(store: Store, q: QueueState, rec: JobHash) -> None:
    """``removeParentDependencyKey(jobKey, hard=true, nil, baseKey)`` (``cleanJobsInSet-3.lua:176-207``).

    The job leaves its parent's dependencies; when it was the last one and the parent was waiting for its
    children, a parent in the same queue is deleted too (its own parent released the same way, recursively),
    together with the ``de:`` key named by *this* job's ``deid`` (``:194-196``: the script reads the child's
    attributes there); a parent in another queue goes to the tail of its wait list (``_moveParentToWait``,
    ``RPUSH``) with no event (``:198``, ``emitEvent`` nil)."""
    found = released_parent(store, q, rec)
    if found is None:
        return
    pq, prec = found
    if pq is q:
        _leave_parent_hard(store, q, prec)
        _delete_keys(store, q, prec, why="its last pending child was removed")
        dedup_id = rec.fields.get("deid")
        if dedup_id is not None:
            q.dedup.pop(dedup_id, None)
    else:
        store.push_wait(pq, prec.id, lifo=True)
        store.world.on_queued(pq, prec, "waiting", None)


# -- queue.clean ----------------------------------------------------------------------------------------------------
def check_clean(kind: Any, grace: Any, limit: Any) -> None:
    """What ``queue.clean(grace, limit, type)`` accepts; bullmq-python passes ``type`` to Redis as a key name, so
    ``"waiting"`` (not mapped to ``wait`` in 3.4.4) would clean nothing and report ``cleaned`` 0."""
    if kind not in CLEAN_TYPES:
        hint = " (bullmq-python 3.4.4 does not map 'waiting' to 'wait': it would clean nothing)" if kind == "waiting" \
            else ""  # fmt: skip
        raise InvalidArgument.build("queue.clean(type)", kind, f"one of {', '.join(map(repr, CLEAN_TYPES))}{hint}")
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise InvalidArgument.build("queue.clean(grace)", grace, "an int of milliseconds >= 0 (jobs newer than "
                                    "now - grace are kept)")  # fmt: skip
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument.build("queue.clean(limit)", limit, "an int >= 0 (0: no limit)")


def clean(store: Store, q: QueueState, kind: str, timestamp: int, limit: int) -> list[str]:
    """``cleanJobsInSet-3.lua:333-355``: the ids removed, oldest examined first; a ``cleaned`` event with their
    count (even 0)."""
    if kind == "active":
        deleted = _clean_list(store, q, q.active, timestamp, limit, waiting=False)
    elif kind in ("wait", "paused"):  # the paused list is gone in bullmq 5+: pause keeps jobs in wait
        deleted = _clean_list(store, q, q.wait, timestamp, limit, waiting=True) if kind == "wait" else []
    elif kind == "delayed":
        deleted = _clean_set(store, q, q.delayed, None, timestamp, limit, ("processedOn", "timestamp"))
    elif kind == "prioritized":
        deleted = _clean_set(store, q, q.prioritized, None, timestamp, limit, ("timestamp",))
    else:
        zset = {"completed": q.completed, "failed": q.failed, "waiting-children": q.waiting_children}[kind]
        deleted = _clean_set(store, q, zset, timestamp, timestamp, limit, None)
    store.xadd(q, "cleaned", count=len(deleted))  # :354
    return deleted


def _job_ts(rec: JobHash, attributes: tuple[str, ...]) -> str | None:
    """``getTimestamp`` (``cleanJobsInSet-3.lua:35-47``): the first of ``attributes`` the hash has, as its string."""
    for name in attributes:
        value = rec.fields.get(name)
        if value is not None and value is not False:
            return value if isinstance(value, str) else str(value)
    return None


def _scheduler_job(q: QueueState, rec: JobHash) -> bool:
    """``isJobSchedulerJob`` (``cleanJobsInSet-3.lua:52-62``): the current job of a job scheduler."""
    scheduler = rec.fields.get("rjk")
    millis = q.repeat.get(scheduler) if scheduler is not None else None
    return millis is not None and rec.id == f"repeat:{scheduler}:{millis}"


def _clean_list(store: Store, q: QueueState, items: Any, timestamp: int, limit: int, *, waiting: bool) -> list[str]:
    """``cleanList`` (``cleanJobsInSet-3.lua:220-255``): with a limit only the last ``limit`` entries (the right end,
    the oldest) are read (``:22-25``), left to right; an active job holding its lock, and a job scheduler's
    current job, are kept."""
    jobs = list(items)[-limit:] if limit > 0 else list(items)
    deleted: list[str] = []
    for job_id in jobs:
        if limit > 0 and len(deleted) >= limit:
            break
        rec = q.jobs.get(job_id)
        if rec is not None and not waiting and store.lock_of(rec) is not None:
            continue
        if rec is not None and _scheduler_job(q, rec):
            continue
        ts = _job_ts(rec, ("finishedOn", "processedOn", "timestamp")) if rec is not None else None
        if ts is None or ts <= str(timestamp):  # Lua compares the two strings (:243)
            deleted.append(job_id)
            remove_hard(store, q, job_id, why="queue.clean()")
    for job_id in deleted:  # LSET to the deletion marker, then LREM (:246, 253)
        items.remove(job_id)
    return deleted


def _clean_set(store: Store, q: QueueState, zset: dict[str, int], range_end: int | None, timestamp: int, limit: int,
               attributes: tuple[str, ...] | None) -> list[str]:  # fmt: skip
    """``cleanSet`` (``cleanJobsInSet-3.lua:283-332``): ``ZRANGEBYSCORE set 0 rangeEnd LIMIT 0 limit``; a finished set
    (``attributes`` None) loses every job so read (its score is ``finishedOn``), the others those whose timestamp
    is old enough, a job scheduler's current job excepted."""
    jobs = [m for m in ordered(zset) if zset[m] >= 0 and (range_end is None or zset[m] <= range_end)]
    jobs = jobs[:limit] if limit > 0 else jobs
    deleted: list[str] = []
    for job_id in jobs:
        if limit > 0 and len(deleted) >= limit:
            break
        rec = q.jobs.get(job_id)
        if attributes is not None and rec is not None and _scheduler_job(q, rec):
            continue
        if attributes is not None:
            ts = _job_ts(rec, attributes) if rec is not None else None
            if ts is not None and not ts <= str(timestamp):  # Lua compares the two strings (:318)
                continue
        deleted.append(job_id)
        remove_hard(store, q, job_id, why="queue.clean()")
    for job_id in deleted:
        zset.pop(job_id, None)
    return deleted


# -- queue.obliterate ----------------------------------------------------------------------------------------------
def obliterate(store: Store, q: QueueState, count: int, force: bool) -> int:
    """``obliterate-2.lua:255-336``, one call of the Python loop (``queue.py:277-293``, ``count`` 1000): -1 when the
    queue is not paused, -2 when a job is active and not ``force``; else up to ``count`` jobs removed hard -- active
    (their locks deleted), delayed, job schedulers, completed, wait, prioritized, failed, in that order -- and 1 while
    more may remain. When the count was not used up, the queue's own keys go (``:319-333``): the event stream, the
    id counter, the priority counter, the marker, the stalled set and ``meta`` (paused, global concurrency and rate
    limit): the queue is no longer paused. ``waiting-children`` is not touched."""
    if not q.meta.get("paused"):
        return -1
    active = list(q.active)[:count]
    if active and not force:
        return -2
    for job_id in active:  # removeLockKeys (:250-254)
        rec = q.jobs.get(job_id)
        if rec is not None:
            rec.lock = None
    left = _remove_all(store, q, active, count)
    for _ in active:  # LTRIM active #activeJobs -1
        q.active.popleft()
    if left <= 0:
        return 1
    left = _remove_zset(store, q, q.delayed, left)
    if left <= 0:
        return 1
    schedulers = ordered(q.repeat)[:left]  # :278-289
    for scheduler_id in schedulers:
        del q.repeat[scheduler_id]
        q.schedulers.pop(scheduler_id, None)
    left -= len(schedulers)
    if left <= 0:
        return 1
    left = _remove_zset(store, q, q.completed, left)
    if left <= 0:
        return 1
    wait = list(q.wait)[:left]  # removeListJobs: LRANGE 0 max-1, then LTRIM (:202-213)
    left = _remove_all(store, q, wait, left)
    for _ in wait:
        q.wait.popleft()
    if left <= 0:
        return 1
    for zset in (q.prioritized, q.failed):  # the legacy paused list (:303-308) is always empty here
        left = _remove_zset(store, q, zset, left)
        if left <= 0:
            return 1
    q.stream, q.counter, q.pc = Stream(), 0, 0
    q.marker.clear()
    q.meta.clear()
    q.stalled.clear()
    q.stalled_check_until = 0
    store.world.on_obliterated(q)
    return 0


def _remove_all(store: Store, q: QueueState, job_ids: list[str], left: int) -> int:
    """``removeJobs`` (``obliterate-2.lua:180-185``): what is left of the count."""
    for job_id in job_ids:
        remove_hard(store, q, job_id, why="queue.obliterate()")
    return left - len(job_ids)


def _remove_zset(store: Store, q: QueueState, zset: dict[str, int], left: int) -> int:
    """``removeZSetJobs`` (``obliterate-2.lua:237-249``): ``ZRANGE 0 max-1``, each removed, then ``ZREM``."""
    jobs = ordered(zset)[:left]
    left = _remove_all(store, q, jobs, left)
    for job_id in jobs:
        zset.pop(job_id, None)
    return left


# -- queue.retryJobs / queue.promoteJobs ---------------------------------------------------------------------------
def check_retry_jobs(state: Any, count: Any, timestamp: Any) -> None:
    """What ``queue.retryJobs({'state', 'count', 'timestamp'})`` accepts."""
    if state not in (None, "failed", "completed"):
        raise InvalidArgument.build("queue.retryJobs({'state'})", state, "'failed' (the default) or 'completed' "
                                    "(delayed jobs: queue.promoteJobs())")  # fmt: skip
    check_count("queue.retryJobs({'count'})", count)
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, (int, float))
                                  or timestamp < 0):  # fmt: skip
        raise InvalidArgument.build("queue.retryJobs({'timestamp'})", timestamp, "milliseconds since the epoch: "
                                    "the jobs finished at or before it are retried (default: now)")  # fmt: skip


def check_count(where: str, count: Any) -> None:
    """``count`` is each batch's size (``count or 1000``); a negative one would make a real Redis return every job
    with ``LIMIT 0 -n`` and the Python loop call the script for ever."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise InvalidArgument.build(where, count, "an int >= 1, the size of each batch (None or 0: bullmq's 1000)")


def move_jobs_to_wait(store: Store, q: QueueState, state: str, count: int, timestamp: float) -> int:
    """``moveJobsToWait-8.lua:94-125``: up to ``count`` jobs of ``state`` scored at most ``timestamp`` (a finished
    job's ``finishedOn``; a delayed one's due time, every one for ``promoteJobs``), lowest score first, go to the
    wait list (``LPUSH``, so they run in that order; a prioritized job too), a finished one losing ``finishedOn``,
    ``processedOn`` and its return value or failure reason (not ``attemptsMade``) and going back to its parent's
    dependencies; a ``waiting`` event each (``prev`` the state), then one marker. 1 when the batch was full."""
    zset = {"failed": q.failed, "completed": q.completed, "delayed": q.delayed}[state]
    paused_or_maxed = q.paused_or_maxed()
    jobs = [m for m in ordered(zset) if 0 <= zset[m] <= timestamp][:count]
    if jobs:
        if state in ("failed", "completed"):
            for job_id in jobs:
                rec = q.jobs.get(job_id)
                if rec is None:
                    continue
                for name in ("finishedOn", "processedOn", "failedReason" if state == "failed" else "returnvalue"):
                    rec.fields.pop(name, None)
                back_to_parent(store, q, rec, state)
        for job_id in jobs:
            store.xadd(q, "waiting", jobId=job_id, prev=state)  # :112-116
        for job_id in jobs:  # ZREM + LPUSH (:117-120)
            del zset[job_id]
            q.wait.appendleft(job_id)
            rec = q.jobs.get(job_id)
            if rec is not None:
                how = "queue.promoteJobs" if state == "delayed" else "queue.retryJobs"
                store.world.on_moved_to_wait(q, rec, state, how)
        store.base_marker(q, paused_or_maxed)  # :121
    return 1 if count - len(jobs) <= 0 else 0


def back_to_parent(store: Store, q: QueueState, rec: JobHash, prev: str) -> None:
    """``moveChildBackToParentDependencies`` (``moveJobsToWait-8.lua:79-93``, ``reprocessJob-9.lua:90-104``): a
    retried child of a flow is pending again for its parent (which does not go back to ``waiting-children``)."""
    found = store.job_by_key(rec.fields.get("parentKey") or "")
    if found is None:
        return
    prec, key = found[1], q.key(rec.id)
    if prev == "failed":
        if prec.unsuccessful.pop(key, None) is not None or prec.failed_children.pop(key, None) is not None:
            prec.dependencies.add(key)
    elif prec.processed.pop(key, None) is not None:
        prec.dependencies.add(key)


# -- job.changePriority, queue.getCountsPerPriority ----------------------------------------------------------------
def check_priority(where: str, priority: Any) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise InvalidArgument.build(where, priority, f"an int from 0 (no priority) to {MAX_PRIORITY}; lower runs "
                                    "first")  # fmt: skip


def change_priority(store: Store, q: QueueState, job_id: str, priority: int, lifo: bool) -> int:
    """``changePriority-7.lua:96-117``: -1 when the job is gone. A waiting or prioritized job is re-added with the
    new priority: 0 to the wait list (``LPUSH``, ``RPUSH`` with ``lifo``: next), else to prioritized behind the
    jobs of that priority (a new ``pc``), or with ``lifo`` ahead of them (score ``priority * 2^32``, no counter,
    no marker: ``pushBackJobWithPriority``, ``:76-81``). A job in any other state only gets the new priority for
    later. No event."""
    rec = q.jobs.get(job_id)
    if rec is None:
        return -1
    paused_or_maxed = q.paused_or_maxed()
    moved = False
    if q.prioritized.pop(job_id, None) is not None:
        moved = True
    elif job_id in q.wait:
        q.wait.reverse()  # LREM wait -1 jobId: the first occurrence from the tail
        q.wait.remove(job_id)
        q.wait.reverse()
        moved = True
    if moved:
        if priority == 0:
            q.wait.append(job_id) if lifo else q.wait.appendleft(job_id)
            store.base_marker(q, paused_or_maxed)
        elif lifo:
            q.prioritized[job_id] = priority * PRIORITY
        else:
            q.pc += 1
            q.prioritized[job_id] = priority * PRIORITY + q.pc % PRIORITY
            store.base_marker(q, paused_or_maxed)
    rec.fields["priority"] = priority
    store.world.on_priority(q, rec, priority, lifo, moved)
    return 0


def counts_per_priority(q: QueueState, priorities: list[int]) -> list[int]:
    """``getCountsPerPriority-2.lua:12-21``: priority 0 counts the whole wait list (``LLEN``), any other the
    prioritized jobs scored within ``[p * 2^32, (p + 1) * 2^32 - 1]``."""
    out = []
    for priority in priorities:
        if priority == 0:
            out.append(len(q.wait))
        else:
            low, high = priority * PRIORITY, (priority + 1) * PRIORITY - 1
            out.append(sum(1 for score in q.prioritized.values() if low <= score <= high))
    return out


# -- queue.trimEvents -----------------------------------------------------------------------------------------------
def trim_events(q: QueueState, max_length: Any) -> int:
    """``queue.trimEvents(maxLength)``: ``XTRIM <events> MAXLEN ~ maxLength`` (``redis_backend.py:409-412``), the
    number of entries deleted. Approximate trimming deletes whole radix-tree nodes of the stream only while at least
    ``maxLength`` entries remain, and where a node ends depends on the listpack bytes of each entry (measured on
    Redis 7.0: 300 ``completed`` entries made 10 nodes, ``MAXLEN ~ 120`` deleted 93). So the two exact cases are
    simulated: ``0`` deletes every entry, a length at or above the stream's deletes none; the others are refused."""
    from jobsim.errors import UnsupportedFeature

    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
        raise InvalidArgument.build("queue.trimEvents(maxLength)", max_length, "an int >= 0")
    length = len(q.stream.entries)
    if max_length >= length:
        return 0
    if max_length > 0:
        raise UnsupportedFeature(
            f"queue.trimEvents({max_length}) of queue {q.name!r} (a stream of {length} entries) is not simulated: "
            "Redis trims '~' by whole stream nodes, whose size depends on each entry's bytes. Simulated: trimEvents(0) "
            f"(deletes every entry) and trimEvents(n) with n >= {length} (deletes none)",
            system="BullMQ", feature="trimEvents",
        )  # fmt: skip
    q.stream.entries.clear()  # the stream key stays, with its last id: new entries keep counting from it
    return length
