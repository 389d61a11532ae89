"""The Redis side of BullMQ, in memory: what bullmq 3.4.4's Lua scripts do to a queue's keys.

bullmq-python keeps every job in Redis and moves it between lists and sorted sets
with the Lua scripts it ships (``bullmq/commands/*.lua``, the same scripts as the
Node library's). While a simulation runs, ``RedisBackend``'s methods come here
instead (``_patches``), and each one does what its script does, in Python, on the
queue's state below. The arguments are built by bullmq's own ``Scripts.*Args``
helpers where it has them (``moveToFinishedArgs``, ``moveToDelayedArgs``,
``retryJobArgs``, ``addJobArgs``), so serialisation (``json.dumps(...,
allow_nan=False)``, msgpack), ``keepJobs`` and the error texts (``finishedErrors``)
are bullmq's.

Paths below are relative to ``bullmq/`` in bullmq 3.4.4's wheel; ``file.lua:N``
is a line of the bundled script.

What a list or set is here: ``wait`` and ``active`` are Redis lists whose left end
is the head (``LPUSH`` = ``appendleft``, ``RPUSH`` = ``append``; the worker takes
from the right, ``RPOPLPUSH``), so plain jobs run first in, first out and ``lifo``
jobs (``RPUSH``) next. Sorted sets are dicts of member -> score, read in (score,
member) order as Redis does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgpack

from . import _dedup
from ._events import field_text
from ._flows import Flows
from ._schedulers import Schedulers
from ._schedulers import every_next as every_next
from ._schedulers import lua_number as lua_number
from ._state import PRIORITY as PRIORITY
from ._state import SCORE as SCORE
from ._state import JobHash as JobHash
from ._state import QueueState as QueueState
from ._state import ordered as ordered

if TYPE_CHECKING:
    from ._world import BullMQWorld


class Store(Flows, Schedulers):
    """Every queue of one simulation, by qualified name (``bull:emails``)."""

    def __init__(self, world: BullMQWorld) -> None:
        self.world = world
        self.queues: dict[str, QueueState] = {}
        self.blocked: dict[Any, tuple[QueueState, Any, Any]] = {}  # BZPOPMIN calls: future -> queue, timer, task

    def queue(self, backend: Any) -> QueueState:
        qualified = backend.qualifiedName
        state = self.queues.get(qualified)
        if state is None:
            state = self.queues[qualified] = QueueState(qualified, backend.name)
        return state

    def now(self) -> int:
        return self.world.now_ms()

    def queue_named(self, qualified: str, name: str) -> QueueState:
        state = self.queues.get(qualified)
        if state is None:
            state = self.queues[qualified] = QueueState(qualified, name)
        return state

    def xadd(self, q: QueueState, event: str, **fields: Any) -> str:
        """``XADD <queue>:events * event <event> <field> <value>...`` (``_events``)."""
        entry = {"event": event}
        for name, value in fields.items():
            entry[name] = field_text(value)
        return self.world.listeners.xadd(q, entry)

    # -- markers and blocked workers --------------------------------------------------------------
    def base_marker(self, q: QueueState, paused_or_maxed: bool) -> None:
        """``addBaseMarkerIfNeeded`` (``moveToActive-11.lua:105-109``): ``ZADD marker 0 "0"``."""
        if not paused_or_maxed:
            q.marker["0"] = 0
            self.serve(q)

    def delay_marker(self, q: QueueState) -> None:
        """``addDelayMarkerIfNeeded`` (``addDelayedJob-6.lua:70-77``): marker ``"1"`` scored at the next delayed job."""
        if q.delayed:
            q.marker["1"] = min(q.delayed.values()) / SCORE
            self.serve(q)

    def serve(self, q: QueueState) -> None:
        """Redis hands a ``ZADD`` on the marker to the clients blocked in ``BZPOPMIN``, longest-waiting first."""
        while q.waiters and q.marker:
            future = q.waiters.popleft()
            if future.done():
                continue
            future.set_result(self.pop_marker(q))
            self.world.poke()

    def pop_marker(self, q: QueueState) -> list[Any]:
        member = ordered(q.marker)[0]
        score = q.marker.pop(member)
        return [f"{q.qualified}:marker", member, score]

    async def wait_for_job(self, backend: Any, block_timeout: float) -> Any:
        """``BZPOPMIN marker block_timeout`` (``backends/redis_backend.py:421-422``): a marker at once if there is
        one, else the first one added within ``block_timeout`` seconds of virtual time, else None (timed out)."""
        import asyncio

        q = self.queue(backend)
        if q.marker:
            return self.pop_marker(q)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        q.waiters.append(future)
        timer = loop.call_later(block_timeout, _time_out, future) if block_timeout else None
        self.blocked[future] = (q, timer, asyncio.current_task())
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()
            if future in q.waiters:
                q.waiters.remove(future)
            self.blocked.pop(future, None)

    # -- the worker's side ------------------------------------------------------------------------
    def promote_delayed(self, q: QueueState, now: int) -> None:
        """``promoteDelayedJobs`` (``moveToActive-11.lua:171-193``): every delayed job due by ``now`` goes to
        wait (``LPUSH``, whatever ``lifo`` says) or prioritized, in score order, at most 1000 at once."""
        due = [m for m in ordered(q.delayed) if q.delayed[m] <= (now + 1) * SCORE - 1][:1000]
        for job_id in due:
            del q.delayed[job_id]
            rec = q.jobs[job_id]
            if rec.int("priority") == 0:
                q.wait.appendleft(job_id)
            else:
                q.pc += 1
                q.prioritized[job_id] = rec.int("priority") * PRIORITY + q.pc % PRIORITY
            self.xadd(q, "waiting", jobId=job_id, prev="delayed")  # moveToActive-11.lua:196-197
            rec.fields["delay"] = 0
            self.world.on_promoted(q, rec)
        if due:
            self.base_marker(q, q.paused_or_maxed())

    def limiter_ttl(self, q: QueueState, max_jobs: int | None, now: int) -> int:
        """``getRateLimitTTL`` (``moveToActive-11.lua:66-78``)."""
        count, expiry = self._limiter(q, now)
        if max_jobs and max_jobs <= count and expiry is not None:
            return max(expiry - now, 0)
        return 0

    def _limiter(self, q: QueueState, now: int) -> tuple[int, int | None]:
        count, expiry = q.limiter
        if expiry is not None and expiry <= now:
            q.limiter = (0, None)
            return 0, None
        return count, expiry

    def move_to_active(self, backend: Any, token: str, opts: dict[str, Any]) -> list[Any]:
        """``moveToActive-11.lua:194-236``, with the job returned as ``raw2NextJobData`` makes it."""
        q = self.queue(backend)
        now = self.now()
        self.promote_delayed(q, now)
        limiter = opts.get("limiter") or {}
        max_jobs = q.meta.get("max") or limiter.get("max")
        max_jobs = int(max_jobs) if max_jobs is not None else None
        ttl = self.limiter_ttl(q, max_jobs, now)
        if ttl > 0:
            return [None, None, ttl, None]
        if q.paused_or_maxed():
            return [None, None, 0, None]
        if q.wait:
            job_id: str | None = q.wait.pop()
        elif q.prioritized:
            job_id = ordered(q.prioritized)[0]
            del q.prioritized[job_id]
        else:
            job_id = None
            q.pc = 0  # DEL pc (moveJobFromPrioritizedToActive)
        if job_id is None:
            nxt = min(q.delayed.values()) / SCORE if q.delayed else None
            return [None, None, 0, nxt]
        q.active.appendleft(job_id)
        rec = q.jobs[job_id]
        duration = limiter.get("duration") or q.meta.get("duration")
        if max_jobs and "defa" not in rec.fields:  # prepareJobForProcessing (moveToActive-11.lua:113-126)
            count, expiry = self._limiter(q, now)
            q.limiter = (count + 1, now + int(abs(float(duration or 0))) if count == 0 else expiry)
        if token != "0":
            rec.lock, rec.lock_until = token, now + int(opts.get("lockDuration") or 0)
        self.xadd(q, "active", jobId=job_id, prev="waiting")  # moveToActive-11.lua:138
        rec.fields["processedOn"] = now
        rec.fields["ats"] = rec.int("ats") + 1
        q.marker["0"] = 0  # addBaseMarkerIfNeeded(markerKey, false)
        self.serve(q)
        self.world.on_active(q, rec, token)
        return [rec.raw(), job_id, 0, 0]

    def remove_lock(self, q: QueueState, rec: JobHash, token: str) -> int:
        """``removeLock`` (``moveToFinished-14.lua:674-703``): 0, or -6 (another token), -2 (no lock)."""
        if token == "0":
            return 0
        lock = self.lock_of(rec)
        if lock == token:
            rec.lock = None
            q.stalled.discard(rec.id)
            return 0
        return -6 if lock is not None else -2

    def lock_of(self, rec: JobHash) -> str | None:
        """The lock's token while its ``PX`` has not run out."""
        if rec.lock is not None and rec.lock_until <= self.now():
            rec.lock = None
        return rec.lock

    def move_to_finished(self, backend: Any, job: Any, keys_args: tuple[list[Any], list[Any]]) -> list[Any]:
        """``moveToFinished-14.lua:903-1035`` (``fetchNext`` is never asked by the Python worker)."""
        _keys, args = keys_args
        job_id, timestamp, prop, value, target = args[0], int(args[1]), args[2], args[3], args[4]
        opts = msgpack.unpackb(args[7], raw=False)
        q = self.queue(backend)
        rec = q.jobs.get(job_id)
        if rec is None:
            return self._error(backend, -1, job_id, "moveToFinished")
        if target == "completed" and rec.dependencies:
            return self._error(backend, -4, job_id, "moveToFinished")
        if target == "completed" and rec.unsuccessful:
            return self._error(backend, -9, job_id, "moveToFinished")
        code = self.remove_lock(q, rec, opts["token"])
        if code < 0:
            self.world.on_unfinished(q, rec, target, code)
            return self._error(backend, code, job_id, "moveToFinished")
        if len(args) > 8:
            self._update_fields(rec, args[8])
        if job_id not in q.active:
            return self._error(backend, -3, job_id, "moveToFinished")
        q.active.remove(job_id)
        _dedup.on_finalized(self, q, rec.fields.get("deid"), job_id, timestamp)  # moveToFinished-14.lua:947-953
        self._to_parent(rec, target, value, timestamp)
        rec.fields["atm"] = rec.int("atm") + 1
        keep = opts["keepJobs"]
        count, age, limit = keep.get("count"), keep.get("age"), keep.get("limit") or 1000
        finished = q.completed if target == "completed" else q.failed
        if count != 0:
            finished[job_id] = timestamp
            rec.fields[prop] = value
            rec.fields["finishedOn"] = timestamp
            if target == "failed":
                rec.fields.pop("defa", None)
            if age is not None:
                for old in [m for m in reversed(ordered(finished)) if finished[m] <= timestamp - age * 1000][:limit]:
                    self._remove(q, finished, old)
            if count is not None and count > 0:
                for old in list(reversed(ordered(finished)))[count:]:
                    self._remove(q, finished, old)
        else:
            q.jobs.pop(job_id, None)  # removeJobKeys: the run ends as it finished, then is recorded removed
        self.xadd(q, target, **{"jobId": job_id, prop: value, "prev": "active"})  # moveToFinished-14.lua:1001
        if target == "failed" and rec.int("atm") >= int(opts.get("attempts") or 0):  # :1002-1007
            self.xadd(q, "retries-exhausted", jobId=job_id, attemptsMade=rec.int("atm"))
        self.world.on_finished(q, rec, target, value, timestamp, gone=count == 0)
        if count == 0:
            self.world.on_removed(q, rec)
        if not q.wait and not q.active and not q.prioritized:
            self.xadd(q, "drained")  # :1022-1031
            self.world.on_drained(q)
        return [None, None, None, None]

    def _remove(self, q: QueueState, zset: dict[str, int] | None, job_id: str) -> None:
        """``removeJob``/``removeJobKeys``: the job's keys are deleted (``removeOnComplete``/``removeOnFail``)."""
        if zset is not None:
            zset.pop(job_id, None)
        rec = q.jobs.pop(job_id, None)
        if rec is not None:
            self.world.on_removed(q, rec)

    def move_to_delayed(self, backend: Any, keys_args: tuple[list[Any], list[Any]]) -> None:
        """``moveToDelayed-11.lua:353-389``: a retry after a backoff (``Job.moveToFailed``), or
        ``job.moveToDelayed(timestamp, token)`` with ``skipAttempt`` (no attempt counted)."""
        _keys, args = keys_args
        timestamp, job_id, token, delay, skip = int(args[1]), args[2], args[3], int(args[4]), args[5] == "1"
        q = self.queue(backend)
        rec = q.jobs.get(job_id)
        if rec is None:
            self._error(backend, -1, job_id, "moveToDelayed")
            return
        code = self.remove_lock(q, rec, token)
        if code < 0:
            self._error(backend, code, job_id, "moveToDelayed")
            return
        self._update_fields(rec, args[6])
        if job_id not in q.active:
            self._error(backend, -3, job_id, "moveToDelayed")
            return
        q.active.remove(job_id)
        if not skip:
            rec.fields["atm"] = rec.int("atm") + 1
        rec.fields["delay"] = delay
        self.add_delayed(q, job_id, timestamp, delay)
        self.xadd(q, "delayed", jobId=job_id, delay=timestamp + delay if delay > 0 else timestamp)  # :371-372
        self.world.on_delayed(q, rec, timestamp + delay if delay > 0 else timestamp, skip=skip)

    def retry_job(self, backend: Any, keys_args: tuple[list[Any], list[Any]]) -> None:
        """``retryJob-11.lua:157-184``: a retry without a backoff delay goes straight back to wait
        (``LPUSH``, the back of the line, or ``RPUSH`` with ``lifo``) or to prioritized."""
        _keys, args = keys_args
        now, push, job_id, token = int(args[1]), args[2], args[3], args[4]
        q = self.queue(backend)
        self.promote_delayed(q, now)
        rec = q.jobs.get(job_id)
        if rec is None:
            self._error(backend, -1, job_id, "retryJob")
            return
        code = self.remove_lock(q, rec, token)
        if code < 0:
            self._error(backend, code, job_id, "retryJob")
            return
        if len(args) > 5:
            self._update_fields(rec, args[5])
        if job_id not in q.active:
            self._error(backend, -3, job_id, "retryJob")
            return
        q.active.remove(job_id)
        if rec.int("priority") == 0:
            self.push_wait(q, job_id, lifo=push == "RPUSH")
        else:
            self.add_prioritized(q, job_id, rec.int("priority"))
        rec.fields["atm"] = rec.int("atm") + 1
        self.xadd(q, "waiting", jobId=job_id, prev="active")  # retryJob-11.lua:179-180
        self.world.on_retried(q, rec, now)

    def _update_fields(self, rec: JobHash, packed: Any) -> None:
        """``updateJobFields``: the ``failedReason``/``stacktrace`` a failed attempt writes."""
        if packed:
            flat = msgpack.unpackb(packed, raw=False)
            rec.fields.update(zip(flat[::2], flat[1::2], strict=True))

    def _error(self, backend: Any, code: int, job_id: str, command: str) -> list[Any]:
        raise backend.scripts.finishedErrors({"code": code, "jobId": job_id, "command": command, "state": "active"})

    def extend_locks(self, backend: Any, job_ids: list[str], tokens: list[str], duration: int) -> list[str]:
        """``extendLocks-1.lua``: renew each lock held with its token; the others come back as failed."""
        q = self.queue(backend)
        failed = []
        for job_id, token in zip(job_ids, tokens, strict=True):
            rec = q.jobs.get(job_id)
            if rec is not None and self.lock_of(rec) == token:
                rec.lock_until = self.now() + int(duration)
                q.stalled.discard(job_id)
            else:
                failed.append(job_id)
        return failed

    def move_stalled(self, backend: Any, max_stalled: int, interval: int) -> list[str]:
        """``moveStalledJobsToWait-9.lua:117-180``: active jobs marked on the last check whose lock is gone go back to
        the head of wait (``RPUSH``); past ``maxStalledCount`` stalls a non-scheduler job gets the deferred failure
        ``"job stalled more than allowable limit"``; then every active job is marked for the next check."""
        q = self.queue(backend)
        now = self.now()
        if q.stalled_check_until > now:
            return []
        q.stalled_check_until = now + int(interval)
        stalled = []
        for job_id in sorted(q.stalled):
            rec = q.jobs.get(job_id)
            if rec is None or self.lock_of(rec) is not None or job_id not in q.active:
                continue
            q.active.remove(job_id)
            rec.fields["stc"] = rec.int("stc") + 1
            scheduler = rec.fields.get("rjk")
            repeating = scheduler is not None and (scheduler in q.schedulers or scheduler in q.repeat)
            if rec.int("stc") > int(max_stalled) and not repeating:
                rec.fields["defa"] = "job stalled more than allowable limit"
            q.wait.append(job_id)
            self.base_marker(q, q.paused_or_maxed())
            self.xadd(q, "waiting", jobId=job_id, prev="active")  # moveJobToWait (:74-79)
            self.xadd(q, "stalled", jobId=job_id)  # :166
            stalled.append(job_id)
            self.world.on_stalled(q, rec)
        q.stalled = set(q.active)
        return stalled

    # -- job data ---------------------------------------------------------------------------------
    def job(self, backend: Any, job_id: str) -> JobHash | None:
        return self.queue(backend).jobs.get(job_id)

    def job_by_key(self, key: str) -> tuple[QueueState, JobHash] | None:
        qualified, _, job_id = key.rpartition(":")
        q = self.queues.get(qualified)
        rec = q.jobs.get(job_id) if q is not None else None
        return None if rec is None or q is None else (q, rec)

    def _key_of(self, rec: JobHash) -> str:
        for q in self.queues.values():
            if q.jobs.get(rec.id) is rec:
                return q.key(rec.id)
        raise KeyError(rec.id)

    def update_json(self, backend: Any, job_id: str, field: str, value: Any, command: str) -> JobHash:
        """``updateProgress-3.lua`` / ``updateData-1.lua``: the JSON of ``value`` into the job's hash (-1 if gone)."""
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        rec = self.job(backend, job_id)
        if rec is None:
            self._error(backend, -1, job_id, command)
            raise AssertionError("unreachable")
        rec.fields[field] = text
        return rec

    def state(self, backend: Any, job_id: str) -> str:
        """``getStateV2-8.lua``: the first of completed, failed, delayed, active, wait, waiting-children,
        prioritized that holds the job, else ``"unknown"``."""
        q = self.queue(backend)
        for name, where in (("completed", q.completed), ("failed", q.failed), ("delayed", q.delayed),
                            ("active", q.active), ("waiting", q.wait), ("waiting-children", q.waiting_children),
                            ("prioritized", q.prioritized)):  # fmt: skip
            if job_id in where:
                return name
        return "unknown"

    def counts(self, backend: Any, types: Iterable[str]) -> list[int]:
        """``getCounts-1.lua``: the length of each list or set named (``waiting`` is ``wait``)."""
        q = self.queue(backend)
        sizes: dict[str, Callable[[], int]] = {
            "wait": lambda: len(q.wait), "waiting": lambda: len(q.wait), "active": lambda: len(q.active),
            "delayed": lambda: len(q.delayed), "prioritized": lambda: len(q.prioritized),
            "completed": lambda: len(q.completed), "failed": lambda: len(q.failed),
            "waiting-children": lambda: len(q.waiting_children), "paused": lambda: 0,
        }  # fmt: skip
        return [sizes[t]() if t in sizes else 0 for t in types]


    # -- pause ----------------------------------------------------------------------------------------
    def pause(self, backend: Any, paused: bool) -> None:
        """``pause-7.lua``: a paused queue gives no job to ``moveToActive``; resuming adds a marker."""
        q = self.queue(backend)
        if paused:
            q.meta["paused"] = 1
            q.marker.clear()
        else:
            q.meta.pop("paused", None)
            if q.wait or q.prioritized:
                self.base_marker(q, q.paused_or_maxed())
            self.delay_marker(q)
        self.xadd(q, "paused" if paused else "resumed")  # pause-7.lua:80-82 (Scripts.pause passes no ARGV[2])
        self.world.on_paused(q, paused)



def _time_out(future: Any) -> None:
    if not future.done():
        future.set_result(None)
