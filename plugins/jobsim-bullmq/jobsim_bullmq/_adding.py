"""Adding jobs to the simulated Redis (``addStandardJob``, ``addDelayedJob-6.lua``, ``addPrioritizedJob``,
``addJobWithPriority``), and the checks of what bullmq-python would only fail on later: the ``Store``'s methods
for ``queue.add``/``addBulk`` (``_store`` has the rest; paths as there)."""

from __future__ import annotations

import difflib
import json
import math
import sys
from typing import TYPE_CHECKING, Any, cast

import msgpack

from jobsim.errors import InvalidArgument
from jobsim.hooks import warn_outside

from . import _dedup
from ._state import PRIORITY, SCORE, JobHash, QueueState

if TYPE_CHECKING:
    from ._store import Store
    from ._world import BullMQWorld


class Adding:
    """The ``Store``'s adding of jobs (a base class of ``_store.Store``)."""

    if TYPE_CHECKING:  # the Store's, for the type checker (``_store.Store`` has this class as a base)
        world: BullMQWorld

        def queue(self, backend: Any) -> QueueState: ...
        def now(self) -> int: ...
        def xadd(self, q: QueueState, event: str, **fields: Any) -> str: ...
        def base_marker(self, q: QueueState, paused_or_maxed: bool) -> None: ...
        def delay_marker(self, q: QueueState) -> None: ...
        def serve(self, q: QueueState) -> None: ...
        def _remove(self, q: QueueState, zset: dict[str, int] | None, job_id: str) -> None: ...
        def _error(self, backend: Any, code: int, job_id: str, command: str) -> list[Any]: ...
        def job_by_key(self, key: str) -> tuple[QueueState, JobHash] | None: ...
        def _key_of(self, rec: JobHash) -> str: ...
        def lock_of(self, rec: JobHash) -> str | None: ...
        def remove_lock(self, q: QueueState, rec: JobHash, token: str) -> int: ...

    # -- adding jobs ------------------------------------------------------------------------------
    def add_job(self, backend: Any, job: Any) -> str | int:
        """``Scripts.addJob`` (``scripts.py:95-111``): a delay picks ``addDelayedJob``, else a priority
        ``addPrioritizedJob``, else ``addStandardJob``; each stores the job (``addStandardJob-9.lua:519-559``)."""
        packed_args, data, packed_opts = backend.scripts.addJobArgs(job)  # bullmq's own encoding and its errors
        args = msgpack.unpackb(packed_args, raw=False)
        opts = msgpack.unpackb(packed_opts, raw=False)
        q = self.queue(backend)
        self._check_options(q, job, opts)
        self.world._function(q.name)  # declared first: a queue the simulation refuses stores nothing, counts no id
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
            store = cast("Store", self)  # this class is one of the Store's bases
            holder = _dedup.Deduplication(store, q, job_id, args[2], data, opts, (parent_key, parent_data, args[5]),
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
        refused with the option named instead; so is a key bullmq-python never reads (``_check_keys``)."""
        _check_keys(q, job)
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


_READ = ("lifo", "parent", "keepLogs")
"""Job options bullmq-python reads besides those ``JobOptions`` declares (``job.py``, ``scripts.py``: ``lifo`` in
``addJobArgs``/``retryJob``, a flow's ``parent``, ``keepLogs`` in ``job.log``); ``repeat`` is refused on its own."""


def _check_keys(q: QueueState, job: Any) -> None:
    """A job option bullmq-python never reads -- a typo (``attemps``: the job runs once) or a Node-only key
    (``sizeLimit``, ``debounce``) -- is refused, with the closest it reads; ``backoff.jitter`` (Node's, since
    BullMQ 5.x) is warned about: bullmq-python's ``Backoffs`` has none, and the delays stay as computed."""
    from bullmq.types import JobOptions

    accepted = sorted({*JobOptions.__annotations__, *_READ})
    where = f"job {job.name!r} on BullMQ queue {q.name!r}: opts"
    for key in job.opts:
        if key not in accepted and key != "repeat":  # repeat: refused by _check_retry, with what repeats
            close = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidArgument(f"{where} has the key {key!r}, which bullmq-python never reads (the option would "
                                  f"be ignored): {hint}bullmq-python's job options are "
                                  f"{', '.join(map(repr, accepted))}")  # fmt: skip
    backoff = job.opts.get("backoff")
    if isinstance(backoff, dict) and "jitter" in backoff:
        import bullmq

        from . import _warnings

        warn_outside(_warnings.BullMQJobOptionWarning(
            f"{where}['backoff']['jitter']={backoff['jitter']!r} is ignored: bullmq-python's backoff has no jitter "
            "(Node's BullMQ has), so every retry waits the full computed delay, in the simulation as on a real "
            "worker; drop 'jitter' to silence this"), None, sys.modules[__package__], bullmq)  # fmt: skip
