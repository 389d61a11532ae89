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

import dataclasses
import json
import math
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgpack

from jobsim.errors import InvalidArgument, UnsupportedFeature

from . import _dedup
from ._events import Stream, field_text

if TYPE_CHECKING:
    from ._world import BullMQWorld

SCORE = 0x1000
"""Delayed scores are ``timestamp * 0x1000 + n`` (``addDelayedJob-6.lua:84-103``: up to 4096 jobs per ms keep FIFO)."""
PRIORITY = 0x100000000
"""Prioritized scores are ``priority * 2^32 + counter`` (``getPriorityScore``, ``moveToActive-11.lua:161-164``)."""


@dataclasses.dataclass(eq=False)
class JobHash:
    """The job's Redis hash (``bull:<queue>:<id>``) and the keys hanging off it."""

    id: str
    fields: dict[str, Any]
    opts: dict[str, Any]
    lock: str | None = None
    lock_until: int = 0  # ms
    logs: list[str] = dataclasses.field(default_factory=list)
    dependencies: set[str] = dataclasses.field(default_factory=set)  # child job keys still pending
    processed: dict[str, str] = dataclasses.field(default_factory=dict)  # child job key -> its JSON return value
    unsuccessful: dict[str, int] = dataclasses.field(default_factory=dict)
    failed_children: dict[str, str] = dataclasses.field(default_factory=dict)

    def raw(self) -> dict[str, str]:
        """``HGETALL`` with ``decode_responses=True``: every field a string (what ``Job.fromJSON`` reads)."""
        out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.fields.items() if v is not None}
        out["opts"] = json.dumps(self.opts, separators=(",", ":"))
        return out

    def int(self, name: str) -> int:
        return int(self.fields.get(name) or 0)


@dataclasses.dataclass(eq=False)
class QueueState:
    """One queue's keys (``bull:<name>:*``)."""

    qualified: str  # "bull:emails"
    name: str
    jobs: dict[str, JobHash] = dataclasses.field(default_factory=dict)
    wait: deque[str] = dataclasses.field(default_factory=deque)
    active: deque[str] = dataclasses.field(default_factory=deque)
    prioritized: dict[str, int] = dataclasses.field(default_factory=dict)
    delayed: dict[str, int] = dataclasses.field(default_factory=dict)
    completed: dict[str, int] = dataclasses.field(default_factory=dict)
    failed: dict[str, int] = dataclasses.field(default_factory=dict)
    waiting_children: dict[str, int] = dataclasses.field(default_factory=dict)
    marker: dict[str, float] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    limiter: tuple[int, int | None] = (0, None)  # count, expiry (ms) or None for none
    stalled: set[str] = dataclasses.field(default_factory=set)
    stalled_check_until: int = 0
    repeat: dict[str, int] = dataclasses.field(default_factory=dict)  # scheduler id -> next millis
    schedulers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    counter: int = 0  # the ``id`` key
    pc: int = 0  # the ``pc`` priority counter
    waiters: deque[Any] = dataclasses.field(default_factory=deque)  # BZPOPMIN clients blocked on ``marker``
    dedup: dict[str, tuple[str, int | None]] = dataclasses.field(default_factory=dict)  # de:<id> -> holder, PX (ms)
    dedup_next: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # dn:<id> (keepLastIfActive)
    stream: Stream = dataclasses.field(default_factory=Stream)  # the ``events`` stream

    def key(self, job_id: str) -> str:
        return f"{self.qualified}:{job_id}"

    def paused_or_maxed(self) -> bool:
        """``isQueuePausedOrMaxed`` (``addJobScheduler-11.lua:158-169``): paused, or at the global concurrency."""
        if self.meta.get("paused"):
            return True
        limit = self.meta.get("concurrency")
        return limit is not None and len(self.active) >= int(limit)


def ordered(zset: dict[str, Any]) -> list[str]:
    """A sorted set's members by (score, member), as ``ZRANGE`` returns them."""
    return [member for member, _ in sorted(zset.items(), key=lambda item: (item[1], item[0]))]


class Store:
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

    # -- adding jobs ------------------------------------------------------------------------------
    def add_job(self, backend: Any, job: Any) -> str | int:
        """``Scripts.addJob`` (``scripts.py:95-111``): a delay picks ``addDelayedJob``, else a priority
        ``addPrioritizedJob``, else ``addStandardJob``; each stores the job (``addStandardJob-9.lua:519-559``)."""
        packed_args, data, packed_opts = backend.scripts.addJobArgs(job)  # bullmq's own encoding and its errors
        args = msgpack.unpackb(packed_args, raw=False)
        opts = msgpack.unpackb(packed_opts, raw=False)
        q = self.queue(backend)
        self._check_options(q, job, opts)
        parent_key, parent = args[4], args[6]
        if parent_key is not None and self.job_by_key(parent_key) is None:
            raise backend.scripts.finishedErrors({"code": -5, "parentKey": parent_key, "command": "addJob"})
        q.counter += 1  # INCR id, for custom ids too (addStandardJob-9.lua:523)
        job_id = self._custom_id(q, job, args[1]) or str(q.counter)
        if job_id in q.jobs:  # handleDuplicatedJob: nothing is added, the existing id comes back
            self.world.on_duplicated(q, job_id)
            self.xadd(q, "duplicated", jobId=job_id)  # addStandardJob-9.lua:485-486
            return job_id  # `jobId .. ""` (:487): a string, an int id's too
        parent_data = json.dumps(parent, separators=(",", ":")) if parent_key is not None else None
        if (opts.get("de") or {}).get("id"):  # deduplicateJob (addStandardJob-9.lua:539-544)
            holder = _dedup.Deduplication(self, q, job_id, args[2], data, opts, (parent_key, parent_data, args[5]),
                                          args[7]).run()  # fmt: skip
            if holder is not None:
                return holder
        rec = self._store(q, job_id, args[2], data, opts, int(args[3]), args[7])
        if parent_key is not None:
            rec.fields["parentKey"] = parent_key
            rec.fields["parent"] = parent_data
        self.world.on_added(q, rec, job)
        self._enqueue(q, rec, int(args[3]))
        if parent_key is not None and args[5] is not None:
            found = self.job_by_key(parent_key)
            assert found is not None
            found[1].dependencies.add(q.key(job_id))
        if isinstance(args[1], int):
            return args[1]  # `return jobId` (:559): Redis replies a Lua number as an int
        return job_id

    @staticmethod
    def _custom_id(q: QueueState, job: Any, raw: Any) -> str:
        """``opts["jobId"]`` as the scripts key the job: ``prefix .. jobId`` makes an int (msgpack sends it as a Lua
        number) the string ``"42"``, so ``jobId: 42`` and ``jobId: "42"`` are one job. What the Lua cannot make a key
        of, or makes another number's key of (``%.14g``: an int of 15 digits or more), is refused."""
        if isinstance(raw, str):
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 10**14:
            return str(raw)
        raise InvalidArgument.build(f"job {job.name!r} on BullMQ queue {q.name!r}: opts['jobId']", raw,
                                    "a str (or an int of at most 14 digits, which bullmq's Lua keys as its "
                                    "decimal string; a larger one it writes as '1.2345678901234e+14')")  # fmt: skip

    def _store(self, q: QueueState, job_id: str, name: str, data: str, opts: dict[str, Any], timestamp: int,
               repeat_key: str | None) -> JobHash:  # fmt: skip
        """``storeJob`` (``addStandardJob-9.lua:492-518``)."""
        fields: dict[str, Any] = {"name": name, "data": data, "timestamp": timestamp,
                                  "delay": int(opts.get("delay") or 0), "priority": int(opts.get("priority") or 0)}
        if repeat_key:
            fields["rjk"] = repeat_key
        if (opts.get("de") or {}).get("id"):
            fields["deid"] = str(opts["de"]["id"])  # :509-512
        rec = q.jobs[job_id] = JobHash(job_id, fields, opts)
        self.xadd(q, "added", jobId=job_id, name=name)  # :516
        return rec

    def _enqueue(self, q: QueueState, rec: JobHash, timestamp: int) -> None:
        """``storeAndEnqueueJob`` (``addJobScheduler-11.lua:200-221``): delayed, prioritized, or wait (LIFO/FIFO)."""
        delay, priority = rec.int("delay"), rec.int("priority")
        if delay > 0:
            self.add_delayed(q, rec.id, timestamp, delay)
            self.xadd(q, "delayed", jobId=rec.id, delay=timestamp + delay)  # addDelayedJob (:762-770)
            self.world.on_queued(q, rec, "delayed", timestamp + delay)
            return
        if priority > 0:
            self.add_prioritized(q, rec.id, priority)
        else:
            self.push_wait(q, rec.id, lifo=bool(rec.opts.get("lifo")))
        self.xadd(q, "waiting", jobId=rec.id)  # addStandardJob-9.lua:553-554, addPrioritizedJob-9.lua:547-548
        self.world.on_queued(q, rec, "waiting", None)

    def add_delayed(self, q: QueueState, job_id: str, timestamp: int, delay: int) -> None:
        """``addDelayedJob`` + ``getDelayedScore`` (``addDelayedJob-6.lua:84-110``)."""
        due = timestamp + delay if delay > 0 else timestamp
        low, high = due * SCORE, (due + 1) * SCORE - 1
        taken = [s for s in q.delayed.values() if low <= s <= high]
        q.delayed[job_id] = low if not taken else min(max(taken) + 1, high)
        self.delay_marker(q)

    def add_prioritized(self, q: QueueState, job_id: str, priority: int) -> None:
        """``addJobWithPriority`` (``moveToActive-11.lua:165-170``)."""
        q.pc += 1
        q.prioritized[job_id] = priority * PRIORITY + q.pc % PRIORITY
        self.base_marker(q, q.paused_or_maxed())

    def push_wait(self, q: QueueState, job_id: str, *, lifo: bool) -> None:
        """``addJobInTargetList`` with ``LPUSH`` (FIFO) or ``RPUSH`` (``lifo``) (``moveToActive-11.lua:152-156``)."""
        if lifo:
            q.wait.append(job_id)
        else:
            q.wait.appendleft(job_id)
        self.base_marker(q, q.paused_or_maxed())

    @staticmethod
    def _check_placement(q: QueueState, job: Any) -> None:
        """``delay``, ``priority`` and ``timestamp`` bullmq-python sends unchecked (``Scripts.addJob`` picks the script
        by truthiness): a negative ``delay`` goes through the delayed set (``addDelayedJob``, due at the timestamp), a
        negative ``priority`` is scored ahead of every prioritized job (``addJobWithPriority``), one above 2^21 past
        a double's 53 bits (``priority * 2^32 + counter``: FIFO within it lost), a ``timestamp`` that is not a number
        is stored as is. Refused, naming the option."""
        where = f"job {job.name!r} on BullMQ queue {q.name!r}: opts"
        for option, accepted in (("delay", "milliseconds >= 0"), ("priority", "0 (none) or 1 (highest) .. 2,097,152")):
            value = job.opts.get(option)
            if value is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidArgument.build(f"{where}[{option!r}]", value, accepted) from None
            highest = 2_097_152 if option == "priority" else sys.float_info.max  # finite: an infinite delay too
            if isinstance(value, bool) or not 0 <= number <= highest:
                raise InvalidArgument.build(f"{where}[{option!r}]", value, accepted)
        stamp = job.timestamp
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
            raise InvalidArgument.build(f"{where}['timestamp']", stamp, "epoch milliseconds (an int); leave it out "
                                        "for now")  # fmt: skip

    def _check_options(self, q: QueueState, job: Any, opts: dict[str, Any]) -> None:
        """What bullmq's Lua would fail on with a Lua error (``opts.de.id`` of a non-table, ``ttl > 0`` of a
        string), and what would make ``Job.moveToFailed`` raise in the worker when the job fails (``_check_retry``):
        refused with the option named instead."""
        self._check_retry(q, job)
        self._check_placement(q, job)
        de = opts.get("de")
        if de is None:
            return
        where = f"job {job.name!r} on BullMQ queue {q.name!r}: opts['deduplication']"
        if not isinstance(de, dict):
            raise InvalidArgument.build(where, de, "a dict {'id': str, 'ttl': ms, 'extend': bool, 'replace': bool, "
                                        "'keepLastIfActive': bool}")  # fmt: skip
        ttl = de.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))):
            raise InvalidArgument.build(f"{where}['ttl']", ttl, "milliseconds (a number); no 'ttl': until the job "
                                        "completes or fails")  # fmt: skip
        if de.get("id") is not None and not isinstance(de["id"], (str, int)):
            raise InvalidArgument.build(f"{where}['id']", de["id"], "a string")

    def _check_retry(self, q: QueueState, job: Any) -> None:
        """``attempts`` and ``backoff`` are read only when the job fails, by ``Job.moveToFailed`` (``job.py:204-266``,
        ``backoffs.py``) in the worker: an ``attempts`` it cannot compare (``'3'``), a ``backoff`` it cannot look up
        (``2000.0``: only an ``int`` is normalized) or compute (``exponential`` without a numeric ``delay``), or a
        ``type`` that is neither built in nor served by the worker's ``settings.backoffStrategy`` raises there; the
        worker only emits ``error`` (no listener: nothing shows), and the job stays active until the stalled check
        takes it back. Refused at the add, naming the option. ``repeat`` is refused too: bullmq-python's ``add``
        ignores it (the job runs once) -- a job scheduler is what repeats."""
        opts = job.opts
        where = f"job {job.name!r} on BullMQ queue {q.name!r}: opts"
        if "repeat" in opts:
            raise InvalidArgument.build(f"{where}['repeat']", opts["repeat"], "no 'repeat': bullmq-python 3.4's "
                                        "queue.add ignores it (the job runs once, nothing repeats); make a job "
                                        "scheduler instead: await queue.upsertJobScheduler(scheduler_id, {'every': ms} "
                                        "or {'pattern': cron, 'tz': zone}, name, data, opts)")  # fmt: skip
        attempts = opts.get("attempts")
        if isinstance(attempts, bool) or not isinstance(attempts, (int, float)) or not math.isfinite(attempts):
            # inf: attemptsMade + 1 < inf always holds, retried at once forever (a hang); NaN cannot be stored
            raise InvalidArgument.build(f"{where}['attempts']", attempts, "a number of attempts (an int; 0 or 1: "
                                        "no retry) -- bullmq compares attemptsMade + 1 < attempts when the job "
                                        "fails")  # fmt: skip
        backoff = opts.get("backoff")
        accepted = ("an int of milliseconds (fixed) or {'type': 'fixed' | 'exponential', 'delay': ms}, or a "
                    "custom {'type': name} with settings={'backoffStrategy': fn} in the worker's options")  # fmt: skip
        if not backoff:
            return
        if not isinstance(backoff, dict):  # Backoffs.normalize passes anything but an int through unchanged
            raise InvalidArgument.build(f"{where}['backoff']", backoff, accepted)
        kind, delay = backoff.get("type"), backoff.get("delay")
        if kind in ("fixed", "exponential"):
            if (delay is not None or kind == "exponential") and (
                    isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay)):
                raise InvalidArgument.build(f"{where}['backoff']['delay']", delay, "milliseconds (a finite number)")
            return
        workers = [w for w in self.world.all_workers if w.qualifiedName == q.qualified]
        if workers and not any((w.opts.get("settings") or {}).get("backoffStrategy") for w in workers):
            raise InvalidArgument.build(f"{where}['backoff']['type']", kind, f"'fixed' or 'exponential'; a custom "
                                        f"type needs settings={{'backoffStrategy': fn}} in the options of the worker "
                                        f"of queue {q.name!r} (bullmq: 'Unknown backoff strategy {kind}')")  # fmt: skip

    def remove_deduplicated(self, q: QueueState, job_id: str) -> None:
        """``removeDelayedJob`` (``addStandardJob-9.lua:245-256``): a delayed holder replaced (``replace``)."""
        del q.delayed[job_id]
        rec = q.jobs.pop(job_id)
        self.world.on_replaced(q, rec)

    def store_and_enqueue_next(self, q: QueueState, job_id: str, nxt: dict[str, Any], timestamp: int) -> None:
        """``requeueDeduplicatedJob`` (``moveToFinished-14.lua:823-868``): the kept duplicate is stored and queued as
        ``storeAndEnqueueJob`` does, at the finishing job's timestamp."""
        opts = nxt["opts"]
        rec = self._store(q, job_id, nxt["name"], nxt["data"], opts, timestamp, nxt.get("rjk"))
        if nxt.get("pk"):
            rec.fields["parentKey"], rec.fields["parent"] = nxt["pk"], nxt["pd"]
        self.world.on_added(q, rec, None, requeued=True)
        self._enqueue(q, rec, timestamp)
        if nxt.get("pdk") and nxt.get("pk"):
            found = self.job_by_key(nxt["pk"])
            if found is not None:
                found[1].dependencies.add(q.key(job_id))

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

    def _to_parent(self, rec: JobHash, target: str, value: str, timestamp: int) -> None:
        """A child's end reaches its parent (``moveToFinished-14.lua:971-985``): a completed child's return value
        goes to the parent's ``processed`` and, with no dependency left, the parent moves to wait; a failed one
        counts only with ``failParentOnFailure``/``ignoreDependencyOnFailure``/``removeDependencyOnFailure``/
        ``continueParentOnFailure`` (``moveChildFromDependenciesIfNeeded``, ``:459-492``)."""
        parent_key = rec.fields.get("parentKey")
        parent = self.job_by_key(parent_key) if parent_key else None
        if parent is None:
            return
        pq, prec = parent
        child_key = self._key_of(rec)
        if target == "completed":
            if child_key in prec.dependencies:
                prec.dependencies.discard(child_key)
                prec.processed[child_key] = value
                if not prec.dependencies:
                    self._parent_to_wait(pq, prec, timestamp)
            return
        flags = json.loads(rec.fields.get("parent") or "{}")
        if child_key not in prec.dependencies:
            return
        if flags.get("fpof"):
            prec.dependencies.discard(child_key)
            prec.unsuccessful[child_key] = timestamp
            prec.fields["defa"] = f"child {child_key} failed"
            if prec.id in pq.waiting_children:
                self._parent_to_wait(pq, prec, timestamp)
        elif flags.get("cpof"):
            prec.dependencies.discard(child_key)
            prec.failed_children[child_key] = value
            self._parent_to_wait(pq, prec, timestamp)
        elif flags.get("idof") or flags.get("rdof"):
            prec.dependencies.discard(child_key)
            if flags.get("idof"):
                prec.failed_children[child_key] = value
            if not prec.dependencies:
                self._parent_to_wait(pq, prec, timestamp)

    def _parent_to_wait(self, pq: QueueState, prec: JobHash, timestamp: int) -> None:
        """``moveParentToWait`` (``moveToFinished-14.lua:392-421``): from waiting-children to delayed (its own
        delay, from now), prioritized, or the tail of wait (``RPUSH``: it runs next)."""
        if prec.id not in pq.waiting_children:
            return
        del pq.waiting_children[prec.id]
        delay = prec.int("delay")
        if delay > 0:
            pq.delayed[prec.id] = (timestamp + delay) * SCORE
            self.xadd(pq, "delayed", jobId=prec.id, delay=timestamp + delay)  # :416-417
            self.delay_marker(pq)
            self.world.on_queued(pq, prec, "delayed", timestamp + delay)
            return
        if prec.int("priority"):
            self.add_prioritized(pq, prec.id, prec.int("priority"))
        else:
            self.push_wait(pq, prec.id, lifo=True)
        self.xadd(pq, "waiting", jobId=prec.id, prev="waiting-children")  # :429-430
        self.world.on_queued(pq, prec, "waiting", None)

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


    # -- flows, pause --------------------------------------------------------------------------------
    def add_parent_job(self, backend: Any, job: Any) -> str:
        """``addParentJob-6.lua``: a flow's parent is stored in ``waiting-children`` until its children finish."""
        packed_args, data, packed_opts = backend.scripts.addJobArgs(job)
        args = msgpack.unpackb(packed_args, raw=False)
        opts = msgpack.unpackb(packed_opts, raw=False)
        q = self.queue(backend)
        self._check_options(q, job, opts)
        q.counter += 1
        job_id = self._custom_id(q, job, args[1]) or str(q.counter)
        if job_id in q.jobs:
            self.world.on_duplicated(q, job_id)
            self.xadd(q, "duplicated", jobId=job_id)
            return job_id
        parent_data = json.dumps(args[6], separators=(",", ":")) if args[4] is not None else None
        if (opts.get("de") or {}).get("id"):  # addParentJob-6.lua:455-463: no replace for a flow's parent
            holder = _dedup.Deduplication(self, q, job_id, args[2], data, opts, (args[4], parent_data, args[5]),
                                          args[7]).run(replace_allowed=False)  # fmt: skip
            if holder is not None:
                return holder
        rec = self._store(q, job_id, args[2], data, opts, int(args[3]), args[7])
        if args[4] is not None:
            rec.fields["parentKey"] = args[4]
            rec.fields["parent"] = parent_data
            grand = self.job_by_key(args[4])
            if grand is not None:
                grand[1].dependencies.add(q.key(job_id))
        q.waiting_children[job_id] = int(args[3])
        self.xadd(q, "waiting-children", jobId=job_id)  # addParentJob-6.lua:469-470
        self.world.on_added(q, rec, job)
        self.world.on_queued(q, rec, "waiting-children", None)
        return job_id

    def move_to_waiting_children(self, backend: Any, job_id: str, token: str, opts: dict[str, Any]) -> bool:
        """``moveToWaitingChildren-7.lua``: an active job with pending children waits for them (True); one with
        none stays active (False)."""
        if opts and opts.get("child"):
            raise UnsupportedFeature("job.moveToWaitingChildren(token, {'child': ...}) is not simulated by "
                                     "jobsim-bullmq; call it without a child", system="BullMQ",
                                     feature="moveToWaitingChildren child")  # fmt: skip
        q = self.queue(backend)
        rec = q.jobs.get(job_id)
        if rec is None:
            self._error(backend, -1, job_id, "moveToWaitingChildren")
            raise AssertionError("unreachable")
        if not rec.dependencies:
            return False
        code = self.remove_lock(q, rec, token)
        if code < 0:
            self._error(backend, code, job_id, "moveToWaitingChildren")
        if job_id not in q.active:
            self._error(backend, -3, job_id, "moveToWaitingChildren")
        q.active.remove(job_id)
        q.waiting_children[job_id] = self.now()
        self.xadd(q, "waiting-children", jobId=job_id, prev="active")  # moveToWaitingChildren-7.lua:75
        self.world.on_waiting_children(q, rec)
        return True

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

    # -- job schedulers -----------------------------------------------------------------------------
    def add_job_scheduler(self, backend: Any, scheduler_id: str, next_millis: int, template_data: str,
                          template_opts: dict[str, Any], scheduler_opts: dict[str, Any], job_opts: dict[str, Any],
                          now: int) -> list[Any]:  # fmt: skip
        """``addJobScheduler-11.lua:474-595``: (re)define the scheduler, replace its pending job (if it is still
        delayed, prioritized or waiting), and add the job for ``next_millis`` (``every``: computed here from the
        previous one). Returns ``[job id, delay]``; -10 when a ``pattern`` job of that id exists already."""
        q = self.queue(backend)
        name = scheduler_opts.get("name")
        if not isinstance(name, str):  # Redis would refuse the table in HSET (a Lua error); name the argument instead
            raise InvalidArgument.build(f"queue.upsertJobScheduler({scheduler_id!r}, repeat_opts, job_name)", name,
                                        "the jobs' name, a string: bullmq-python takes (job_scheduler_id, "
                                        "repeat_opts, job_name, job_data, opts), not Node's template {'name', "
                                        "'data', 'opts'}")  # fmt: skip
        _check_every(scheduler_id, scheduler_opts.get("every"))
        job_opts = backend.scripts.encodeOpts(job_opts or {})
        template_opts = backend.scripts.encodeOpts(template_opts or {})
        prev = q.repeat.get(scheduler_id)
        every = scheduler_opts.get("every")
        offset = scheduler_opts.get("offset") or (job_opts.get("repeat") or {}).get("offset") or 0
        new_offset, updated_every = offset, False
        if every:
            millis = prev
            if prev is not None and _every_changed((q.schedulers.get(scheduler_id) or {}).get("every"), every):
                millis, updated_every = None, True
            next_millis, new_offset = every_next(millis, every_ms(every), now, offset, scheduler_opts.get("startDate"))
        removed = False
        if prev is not None:
            removed = self._remove_scheduled(q, f"repeat:{scheduler_id}:{prev}")
        if removed:
            if every and not updated_every:
                next_millis = prev  # type: ignore[assignment]
        else:
            scheduler_opts = {**scheduler_opts, "offset": new_offset}
        job_id = f"repeat:{scheduler_id}:{next_millis}"
        if job_id in q.jobs:
            if not every:
                return self._error(backend, -10, job_id, "addJobScheduler")
            for _ in range(32):
                next_millis += every_ms(every)
                job_id = f"repeat:{scheduler_id}:{next_millis}"
                if job_id not in q.jobs:
                    break
            else:
                return self._error(backend, -11, job_id, "addJobScheduler")
        delay = max(next_millis - now, 0)
        count = (q.schedulers.get(scheduler_id) or {}).get("ic", 1)
        q.repeat[scheduler_id] = next_millis
        q.schedulers[scheduler_id] = {**{k: v for k, v in scheduler_opts.items() if v is not None}, "ic": count,
                                      "data": template_data, "opts": template_opts}  # fmt: skip
        q.counter += 1
        self._from_scheduler(q, scheduler_id, job_id, job_opts, template_data, now, delay)
        return [job_id, delay]

    def update_job_scheduler(self, backend: Any, scheduler_id: str, next_millis: int, job_opts: dict[str, Any],
                             producer_id: str | None, now: int) -> str | None:  # fmt: skip
        """``updateJobScheduler-12.lua``: the next iteration, added only when the job asking is the scheduler's current
        one (``repeat:<id>:<prevMillis>``), so a retried or re-run iteration makes no second one."""
        q = self.queue(backend)
        prev = q.repeat.get(scheduler_id)
        scheduler = q.schedulers.get(scheduler_id)
        if prev is None or scheduler is None:
            return None
        job_opts = backend.scripts.encodeOpts(job_opts or {})
        every = scheduler.get("every") or (job_opts.get("repeat") or {}).get("every")
        if every:
            offset = scheduler.get("offset") or (job_opts.get("repeat") or {}).get("offset") or 0
            next_millis, _ = every_next(prev, every_ms(every), now, offset, scheduler.get("startDate"))
        job_id = f"repeat:{scheduler_id}:{next_millis}"
        if producer_id != f"repeat:{scheduler_id}:{prev}":
            return None
        if job_id in q.jobs:
            self.xadd(q, "duplicated", jobId=job_id)  # updateJobScheduler-12.lua:325-326
            return None
        q.repeat[scheduler_id] = next_millis
        scheduler["ic"] = int(scheduler.get("ic", 1)) + 1
        q.counter += 1
        self._from_scheduler(q, scheduler_id, job_id, job_opts, scheduler.get("data") or "{}", now,
                             max(next_millis - now, 0))  # fmt: skip
        return job_id

    def _from_scheduler(self, q: QueueState, scheduler_id: str, job_id: str, opts: dict[str, Any], data: str,
                        now: int, delay: int) -> None:  # fmt: skip
        """``addJobFromScheduler`` (``addJobScheduler-11.lua:222-231``): stored with the scheduler's name and data."""
        opts = {**opts, "delay": delay, "jobId": job_id}
        name = q.schedulers[scheduler_id].get("name", scheduler_id)
        rec = self._store(q, job_id, name, data, opts, now, scheduler_id)
        self.world.on_added(q, rec, None)
        self._enqueue(q, rec, now)

    def _remove_scheduled(self, q: QueueState, job_id: str) -> bool:
        """``removeJobFromScheduler``: the scheduler's pending job, if it has not started."""
        for where in (q.delayed, q.prioritized):
            if job_id in where:
                del where[job_id]
                self._remove(q, None, job_id)
                return True
        if job_id in q.wait:
            q.wait.remove(job_id)
            self._remove(q, None, job_id)
            return True
        return False

    def remove_job_scheduler(self, backend: Any, scheduler_id: str) -> int:
        """``removeJobScheduler-3.lua``: 0 when removed (with its delayed job), 1 when there was none."""
        q = self.queue(backend)
        prev = q.repeat.pop(scheduler_id, None)
        if prev is None:
            return 1
        q.schedulers.pop(scheduler_id, None)
        job_id = f"repeat:{scheduler_id}:{prev}"
        if job_id in q.delayed:
            del q.delayed[job_id]
            self._remove(q, None, job_id)
            self.xadd(q, "removed", jobId=job_id, prev="delayed")  # removeJobScheduler-3.lua:32
        return 0


def _check_every(scheduler_id: str, every: Any) -> None:
    """An ``every`` the script cannot step by: one Lua cannot read as a number (NaN, infinity, '5s', '1_000': an
    arithmetic error in the script), one <= 0 (each next job due before the last one), or a fraction of a
    millisecond ('1000.5', 0.5: bullmq's script steps by it, the simulation counts whole ms -- 0.5 was a
    ZeroDivisionError, 1500.5 ran every 1500 ms). A string Lua reads as a whole number ('1000', '1e3', '0x3E8')
    is stepped by as that number, as the script does."""
    if every is None:
        return
    number = lua_number(every)
    if number is None or not (math.isfinite(number) and number == int(number) and number >= 1):
        raise InvalidArgument.build(f"queue.upsertJobScheduler({scheduler_id!r}, repeat_opts)['every']", every,
                                    "milliseconds between jobs, a whole number >= 1 (the simulation steps whole "
                                    "milliseconds), or a cron 'pattern' instead")  # fmt: skip


_LUA_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_LUA_HEX = re.compile(r"[+-]?0[xX][0-9a-fA-F]+")


def lua_number(value: Any) -> float | None:
    """What Redis's Lua 5.1 makes of a value msgpack carried where it does arithmetic (``tonumber``, or a string
    in ``now / every``): a number as it is; a string as C's ``strtod`` reads it -- decimal, with an exponent, or
    ``0x`` hex, blanks around allowed (``luaO_str2d``); ``None`` for what it cannot read (the script would fail
    with "attempt to perform arithmetic on a string value"). ``inf``/``nan`` strings, which ``strtod`` reads too,
    give ``None`` here: no scheduler can step by them either."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip(" \t\n\v\f\r")
    if _LUA_DECIMAL.fullmatch(text):
        return float(text)
    if _LUA_HEX.fullmatch(text):
        return float(int(text, 16))
    return None


def every_ms(every: Any) -> int:
    """A checked ``every`` (``_check_every``) in whole milliseconds, as the script reads it."""
    number = lua_number(every)
    assert number is not None
    return int(number)


def _every_changed(stored: Any, every: Any) -> bool:
    """``addJobScheduler-11.lua:494-499``: ``tonumber(HGET every) ~= every``. ``every`` is what msgpack carried: a
    string is never equal to a Lua number, so an upsert with a string ``every`` always starts the scheduler's
    iterations again from now (its pending job replaced by one at the new first slot)."""
    return isinstance(every, str) or lua_number(stored) != float(every)


def every_next(prev: int | None, every: int, now: int, offset: Any, start: Any) -> tuple[int, int]:
    """``getJobSchedulerEveryNextMillis`` (``addJobScheduler-11.lua:430-473``), in ms."""
    offset = int(offset or 0)
    if prev is None:
        if start:
            nxt = max(int(start), now)
        elif offset > 0:
            nxt = now // every * every + offset
            if nxt <= now:
                nxt += every
        else:
            nxt = now
    else:
        nxt = prev + every
        if nxt < now:
            aligned = now // every * every + offset
            nxt = aligned + every if aligned <= now else aligned
    if not offset:
        offset = nxt - nxt // every * every
    return nxt, offset


def _time_out(future: Any) -> None:
    if not future.done():
        future.set_result(None)
