"""What RQ keeps in Redis besides the job hash -- queue lists, registries, result streams -- read at a virtual instant.

RQ 3.0.0 keeps each queue as a Redis list (``rq:queue:<name>``), six registries per queue as sorted
sets scored in whole UTC seconds (``rq/registry.py``) and each job's results as a Redis stream
(``rq:results:<id>``, ``rq/results.py``). The simulation writes none of them: the worker loop
(``_world.py``, ``_lifecycle.py``, ``_stop.py``) appends what RQ would write to a **log** here, each
entry stamped with the virtual instant RQ writes it, and a read (``queue.count``,
``registry.get_job_ids()``, ``job.latest_result()``) replays the log up to the reader's instant. That
is what makes reads exact in virtual time: a job body runs in one go as it starts, so its outcome (a
``FinishedJobRegistry`` entry at 12:01:00) is known before the simulation reaches that instant, and
must stay invisible until it does -- the same rule ``job.get_status()`` follows (``RQWorld.status``).

Registry cleanup. ``count``/``get_job_ids()`` first run the registry's ``cleanup()``
(``rq/registry.py:104-116, 167-181``), which for the finished and failed registries is
``ZREMRANGEBYSCORE key 0 now`` (``:449-458, 467-475``): an entry scored ``floor(end) + result_ttl``
goes when ``floor(now)`` reaches it. The simulation applies that cleanup at every read (``in`` too,
which in RQ sees a stale entry until someone cleans). Negative scores survive it: a failed job with
``failure_ttl=-1`` is scored ``-1`` (``FailedJobRegistry.add`` keeps a negative ttl as the score,
``:477-500``), a finished one with ``result_ttl=-1`` ``+inf`` (``BaseRegistry.add``, ``:117-135``).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from jobsim._time import MS, SECOND

if TYPE_CHECKING:
    from ._world import Held, RQWorld

REGISTRIES = ("started", "finished", "failed", "deferred", "scheduled", "canceled", "ready")
CLEANED = ("finished", "failed")  # registries whose cleanup() drops entries scored 0..now
MAX_RESULTS = 10  # Result.save: XADD ... MAXLEN 10 (rq/results.py:275)
HEARTBEAT = None  # a started entry's score follows its worker's heartbeats: computed when read


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    at: int  # the virtual instant RQ writes it (ns)
    seq: int  # ties at one instant keep the order they were written in
    job_id: str
    score: float | None  # None: the entry is removed (ZREM); else its score (seconds)
    add: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SavedResult:
    """One ``Result`` as the worker saves it (``Result.create*``, ``rq/results.py:63-160``). The return value is
    kept as the job's serializer wrote it then (``Result.serialize``, at the job's end: an object changed after
    it was returned is saved as it was), and each read loads a fresh copy, as ``Result.restore`` does."""

    type: str  # a ``Result.Type`` member name
    value: bytes | None  # ``serialized(job, return value)``: None when there was none
    error: BaseException | None  # formatted into ``exc_string`` when read (``exc_string``)
    worker_name: str
    execution: int  # which execution of the job (its id is drawn from the seed when read: ``execution_id``)
    started_at: int | None
    ended_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StreamOp:
    at: int
    seq: int
    result: SavedResult | None  # None: DEL rq:results:<id> (job.delete, Result.delete_all)
    ttl: int | None  # EXPIRE after the XADD: None leaves the stream's expiry as it was, -1 PERSISTs it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetaOp:
    at: int
    seq: int
    meta: bytes  # the serializer's dump of ``job.meta`` (``Job._serialize_meta``)


class Store:
    """The registry and result-stream logs of one simulation (``RQWorld.store``)."""

    def __init__(self, world: RQWorld) -> None:
        self.world = world
        self.seq = 0
        self.registries: dict[tuple[str, str], list[Op]] = {}  # (queue, registry kind) -> ops in (at, seq) order
        self.streams: dict[str, list[StreamOp]] = {}
        self.metas: dict[str, list[MetaOp]] = {}  # job id -> its hash's ``meta`` field, as written
        self.listed: set[tuple[str, str, str]] = set()  # (queue, kind, job id) ever added: removals worth logging

    # -- writing ---------------------------------------------------------------------------------------
    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def add(self, at: int, queue: str, kind: str, job_id: str, score: float | None) -> None:
        """``ZADD rq:<kind>:<queue> score job_id`` at ``at`` (``score`` ``HEARTBEAT`` for a started entry)."""
        ops = self.registries.setdefault((queue, kind), [])
        _insert(ops, Op(at=at, seq=self._next(), job_id=job_id, score=score, add=True))
        self.listed.add((queue, kind, job_id))

    def remove(self, at: int, queue: str, kind: str, job_id: str) -> None:
        """``ZREM``; nothing to log for a job that was never added there (the common case: a job queued
        without having been scheduled or deferred)."""
        if (queue, kind, job_id) in self.listed:
            _insert(self.registries[(queue, kind)], Op(at=at, seq=self._next(), job_id=job_id, score=None, add=False))

    def save_result(self, at: int, job_id: str, result: SavedResult, ttl: int | None) -> None:
        """``Result.save``: ``XADD`` then ``EXPIRE``/``PERSIST`` of the whole stream (``rq/results.py:268-283``)."""
        _insert(self.streams.setdefault(job_id, []), StreamOp(at=at, seq=self._next(), result=result, ttl=ttl))

    def delete_results(self, at: int, job_id: str) -> None:
        _insert(self.streams.setdefault(job_id, []), StreamOp(at=at, seq=self._next(), result=None, ttl=None))

    def save_meta(self, at: int, job: Any, *, whole_job: bool) -> None:
        """``HSET rq:job:<id> meta ...`` at ``at``: ``Job.save_meta`` always writes it (``rq/job.py:1200-1203``);
        ``Job.save`` (``whole_job``: at enqueue and at each retry's ``_persist_job``, ``rq/queue.py:1397-1409``)
        only when ``job.meta`` is not empty (``to_dict``, ``rq/job.py:1164-1165``) -- HSET leaves the old one."""
        if whole_job and not job.meta:
            return
        _insert(self.metas.setdefault(job.id, []), MetaOp(at=at, seq=self._next(), meta=job._serialize_meta()))

    def meta(self, job: Any, now: int) -> dict[str, Any]:
        """``job.get_meta()`` at ``now``: the field as last written by then, loaded afresh (``rq/job.py:450-463``)."""
        written = None
        for op in self.metas.get(job.id, ()):
            if op.at > now:
                break
            written = op.meta
        return job.serializer.loads(written) if written else {}

    # -- what the end of a job writes besides its hash ---------------------------------------------------
    def end(self, held: Held, status: str, at: int, error: BaseException | None, returned: Any) -> None:
        """The registry entries and the ``Result`` a job's end leaves (read at an instant: ``entries``, ``results``).

        A success: ``Job._handle_success`` adds a ``SUCCESSFUL`` result (``ttl=result_ttl``) and a
        ``FinishedJobRegistry`` entry scored ``floor(end) + result_ttl`` unless ``result_ttl`` is 0, when the
        worker skips both and ``job.cleanup(0)`` deletes the job with its results (``rq/worker/base.py:1522-1542``,
        ``rq/job.py:1637-1668``). A final failure (also a stopped job, a dead horse's, an abandoned one):
        ``Job._handle_failure`` adds a ``FailedJobRegistry`` entry (``failure_ttl``, a year unless set) and a
        ``FAILED`` result with the traceback as the worker formats it, saved with ``ttl=job.failure_ttl`` --
        so with no ``failure_ttl`` the stream never expires (``rq/job.py:1670-1701``); past a returned
        ``Retry``'s ``max``, a ``MAX_RETRIES_EXCEEDED`` result holding that ``Retry``
        (``rq/worker/base.py:1429-1445``). Either way the ``StartedJobRegistry`` entry goes.
        """
        from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL

        job, queue = held.job, held.queue.name
        self.remove(at, queue, "started", job.id)
        if status == "finished":
            ttl = job.get_result_ttl(DEFAULT_RESULT_TTL)
            if ttl == 0:
                self.delete_results(at, job.id)
                return
            self.save(held, at, "SUCCESSFUL", ttl, value=job._result)
            self.add(at, queue, "finished", job.id, score_from_ttl(at, ttl, failed=False))
            return
        failure_ttl = job.failure_ttl
        ttl = DEFAULT_FAILURE_TTL if failure_ttl is None else failure_ttl
        self.add(at, queue, "failed", job.id, score_from_ttl(at, ttl, failed=True))
        if failure_ttl == 0:
            self.delete_results(at, job.id)  # FailedJobRegistry.add: job.cleanup(0) deletes it first
        if returned is not None:
            self.save(held, at, "MAX_RETRIES_EXCEEDED", failure_ttl, value=returned)
            return
        self.save(held, at, "FAILED", failure_ttl, error=error)

    def save(self, held: Held, at: int, kind: str, ttl: int | None, *, value: Any = None,
             error: BaseException | None = None) -> None:  # fmt: skip
        """``Result.create`` by the worker: its name, the execution's id and start, the job's ``ended_at``;
        ``record_job_failure`` (an abandoned job, found by maintenance) saves it with no worker name."""
        from rq.exceptions import AbandonedJobError

        job = held.job
        worker = "" if isinstance(error, AbandonedJobError) else job.worker_name or ""
        saved = SavedResult(type=kind, value=serialized(job, value), error=error, worker_name=worker,
                            execution=held.calls, started_at=held.running_from, ended_at=job.ended_at)
        self.save_result(at, job.id, saved, ttl)

    # -- reading ---------------------------------------------------------------------------------------
    def entries(self, queue: str, kind: str, now: int) -> dict[str, float]:
        """The registry ``rq:<kind>:<queue>`` as a reader at ``now`` sees it, cleaned: job id -> score."""
        members: dict[str, float | None] = {}
        for op in self.registries.get((queue, kind), ()):
            if op.at > now:
                break
            if op.add:
                members[op.job_id] = op.score
            else:
                members.pop(op.job_id, None)
        cutoff = now // SECOND  # current_timestamp(): whole UTC seconds (rq/utils.py:394-400)
        scored: dict[str, float] = {}
        for job_id, score in members.items():
            value = self._started_score(job_id, now) if score is HEARTBEAT else score
            if kind in CLEANED and 0 <= value <= cutoff:
                continue
            scored[job_id] = value
        return scored

    def ordered(self, queue: str, kind: str, now: int) -> list[str]:
        """``ZRANGE key 0 -1``: by score, then by member (Redis orders equal scores lexicographically)."""
        return [job_id for job_id, _ in sorted(self.entries(queue, kind, now).items(), key=lambda e: (e[1], e[0]))]

    def _started_score(self, job_id: str, now: int) -> float:
        """A ``StartedJobRegistry`` entry: ``floor(start) + heartbeat ttl``, pushed on by each heartbeat of a live
        worker (``prepare_execution``, ``rq/executions.py:212-233``; ``maintain_heartbeats``,
        ``rq/worker/base.py:1241-1276``); frozen at the last heartbeat before a worker died (``_crash.py``)."""
        from ._crash import entry_score

        world = self.world
        held = world.jobs[job_id]
        for entries in world.crashes.entries.values():
            for entry in entries:
                if entry.held is held:
                    return entry.score // SECOND
        worker = world.pool.by_name(held.job.worker_name)
        start = held.running_from if held.running_from is not None else now
        if worker is None:  # not a simulated worker's job: the first heartbeat's score
            return start // SECOND + 90
        return entry_score(worker, held.job.timeout, start, max(now, start)) // SECOND

    def results(self, job: Any, now: int) -> list[Any]:
        """``Result.all(job)`` at ``now``: ``XREVRANGE`` of the job's stream, newest first
        (``rq/results.py:162-172``); ``created_at`` is read back from the stream id, in ms (``:174-176``)."""
        from rq.results import Result

        kept: list[tuple[str, int, SavedResult]] = []
        expire_at: int | None = None
        last = (-1, -1)
        for op in self.streams.get(job.id, ()):
            if op.at > now:
                break
            if expire_at is not None and expire_at <= op.at:
                kept, expire_at, last = [], None, (-1, -1)  # Redis dropped the stream at its expiry
            if op.result is None:
                kept, expire_at, last = [], None, (-1, -1)
                continue
            ms = op.at // MS  # XADD's id: the server's clock in ms, then a sequence within one ms
            last = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
            kept.append((f"{last[0]}-{last[1]}", op.at, op.result))
            kept = kept[-MAX_RESULTS:]
            if op.ttl is not None:
                expire_at = None if op.ttl < 0 else op.at + op.ttl * SECOND
        if expire_at is not None and expire_at <= now:
            kept = []
        out = []
        for stream_id, _, saved in reversed(kept):
            value = None if saved.value is None else job.serializer.loads(saved.value)
            created = dt.datetime.fromtimestamp(int(stream_id.split("-")[0]) / 1000, dt.timezone.utc)
            out.append(Result(job.id, Result.Type[saved.type], connection=job.connection, id=stream_id,
                              created_at=created, return_value=value, exc_string=exc_string(saved.error),
                              worker_name=saved.worker_name, serializer=job.serializer,
                              execution_id=self.world.execution_id(job.id, saved.execution),
                              execution_started_at=_utc(saved.started_at),
                              execution_ended_at=saved.ended_at))  # fmt: skip
        return out


def _insert(ops: list[Any], op: Any) -> None:
    """Keep ``ops`` in (instant, seq) order: most writes come in time order and are appended; a write a job
    body makes at a later instant than writes simulated after it is inserted in its place."""
    if not ops or ops[-1].at <= op.at:
        ops.append(op)
    else:
        bisect.insort(ops, op, key=lambda o: (o.at, o.seq))


def _utc(ns: int | None) -> dt.datetime | None:
    return None if ns is None else dt.datetime.fromtimestamp(ns / SECOND, dt.timezone.utc)


def exc_string(error: BaseException | None) -> str | None:
    """The ``exc_string`` RQ saves: ``format_exc_info`` of what the job raised (``rq/worker/base.py:1645``), or
    the worker's own text for a stopped job, a dead horse and an abandoned job (``worker_classes.py:139-166``,
    ``rq/registry.py:315-318``), which are not exceptions raised in the job."""
    import traceback

    from rq.exceptions import AbandonedJobError

    from jobsim.errors import WorkerCrashed

    from ._world import HorseKilled

    if error is None:
        return None
    if isinstance(error, HorseKilled | WorkerCrashed | AbandonedJobError):
        return str(error)
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def serialized(job: Any, value: Any) -> bytes | None:
    """``Result.serialize``: the return value as the job's serializer writes it, RQ's placeholder if it cannot
    (``rq/results.py:285-296``, ``rq/defaults.py:131``); ``None`` is not stored."""
    from rq.defaults import UNSERIALIZABLE_RETURN_VALUE_PAYLOAD

    if value is None:
        return None
    try:
        return job.serializer.dumps(value)  # type: ignore[no-any-return]
    except Exception:
        return job.serializer.dumps(UNSERIALIZABLE_RETURN_VALUE_PAYLOAD)  # type: ignore[no-any-return]


def whole_seconds(ns: int) -> int:
    """``current_timestamp()`` at the instant ``ns``."""
    return ns // SECOND


def score_from_ttl(at: int, ttl: int, *, failed: bool) -> float:
    """A registry score for ``ttl`` seconds from ``at``: ``BaseRegistry.add`` turns ``-1`` into ``+inf``,
    ``FailedJobRegistry.add`` keeps any negative ttl as the score itself (``rq/registry.py:117-135, 477-500``)."""
    if ttl < 0:
        return float(ttl) if failed or ttl != -1 else math.inf
    return whole_seconds(at) + ttl


def held_kind(held: Held, status: Any) -> str | None:
    """Which registry ``Job._remove_from_registries`` looks in for a job of ``status`` (``rq/job.py:1350-1413``)."""
    from rq.job import JobStatus

    return {JobStatus.FINISHED: "finished", JobStatus.DEFERRED: "deferred", JobStatus.STARTED: "started",
            JobStatus.SCHEDULED: "scheduled", JobStatus.FAILED: "failed", JobStatus.STOPPED: "failed",
            JobStatus.CANCELED: "canceled", JobStatus.READY_TO_ENQUEUE: "ready"}.get(status)  # fmt: skip
