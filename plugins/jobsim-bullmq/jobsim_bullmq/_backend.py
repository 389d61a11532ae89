"""The replacement ``RedisBackend`` methods (``_Backend``) and ``Queue`` methods that use the raw Redis client
(``_QueueMethods``): each does, on the simulated Redis (``_store``), what bullmq 3.4.4's script or Redis command
does; ``_patches`` installs them while a simulation runs. Paths are relative to ``bullmq/`` in the wheel."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument

from . import _admin, _bulk
from ._events import field_text
from ._getjobs import job_ids
from ._getjobs import lrange as _lrange

if TYPE_CHECKING:
    from ._world import BullMQWorld


class _Backend:
    """The replacement ``RedisBackend`` methods: ``self`` is the backend (its queue's name and scripts)."""

    def __init__(self, world: BullMQWorld) -> None:
        w = world
        store = world.store

        async def nothing(self: Any, *args: Any, **kwargs: Any) -> None:
            return None

        async def addJob(self: Any, job: Any) -> str | int:
            return store.add_job(self, job)

        async def addJobs(self: Any, jobs: list[Any]) -> list[str | int]:
            ids = [store.add_job(self, job) for job in jobs]
            for job, job_id in zip(jobs, ids, strict=True):
                job.id = job_id
            return ids

        async def addFlow(self: Any, entries: list[dict[str, Any]]) -> list[str]:
            for entry in entries:  # one MULTI/EXEC in bullmq: a queue refused anywhere in the tree stores nothing
                w._function(store.queue(entry["job"].queue.backend).name)
            results = []
            for entry in entries:
                job = entry["job"]
                add = store.add_parent_job if entry.get("is_parent") else store.add_job
                job.id = add(job.queue.backend, job)
                results.append(job.id)
            return results

        async def moveToActive(self: Any, token: str, opts: dict[str, Any]) -> list[Any]:
            return store.move_to_active(self, token, opts)

        async def moveToCompleted(self: Any, job: Any, return_value: Any, remove_on_complete: Any, token: str,
                                  fetch_next: bool = True) -> Any:  # fmt: skip
            args = self.scripts.moveToCompletedArgs(job, return_value, remove_on_complete, token, False)
            return {"result": store.move_to_finished(self, job, args), "finishedOn": args[1][1]}

        async def moveToFailed(self: Any, job: Any, failed_reason: str, remove_on_fail: Any, token: str,
                               fetch_next: bool = True, fields_to_update: Any = None) -> Any:  # fmt: skip
            args = self.scripts.moveToFailedArgs(job, failed_reason, remove_on_fail, token, False, fields_to_update)
            return {"result": store.move_to_finished(self, job, args), "finishedOn": args[1][1]}

        async def moveToDelayed(self: Any, job_id: str, timestamp: int, delay: int, token: str = "0",
                                opts: dict[str, Any] | None = None) -> None:  # fmt: skip
            opts = {**(opts or {}), "fetchNext": False}
            store.move_to_delayed(self, self.scripts.moveToDelayedArgs(job_id, timestamp, token, delay, opts))

        async def retryJob(self: Any, job_id: str, lifo: bool, token: str = "0",
                           opts: dict[str, Any] | None = None) -> None:  # fmt: skip
            store.retry_job(self, self.scripts.retryJobArgs(job_id, lifo, token, opts or {}))

        async def moveToWaitingChildren(self: Any, job_id: str, token: str, opts: dict[str, Any]) -> bool:
            return store.move_to_waiting_children(self, job_id, token, opts)

        async def moveStalledJobsToWait(self: Any, max_stalled: int, interval: int) -> list[str]:
            return store.move_stalled(self, max_stalled, interval)

        async def extendLocks(self: Any, job_ids: list[str], tokens: list[str], duration: int) -> list[str]:
            return store.extend_locks(self, job_ids, tokens, duration)

        async def waitForJob(self: Any, block_timeout: float) -> Any:
            result = await store.wait_for_job(self, block_timeout)
            if result is None:
                w.polls.append(w.now_ns())
            return result

        async def updateProgress(self: Any, job_id: str, progress: Any) -> None:
            rec = store.update_json(self, job_id, "progress", progress, "updateProgress")
            store.xadd(store.queue(self), "progress", jobId=job_id, data=rec.fields["progress"])  # :31-32
            w.on_progress(store.queue(self), rec, progress)

        async def promote(self: Any, job_id: str) -> None:
            if _admin.promote(store, store.queue(self), job_id) < 0:
                raise self.scripts.finishedErrors({"code": -3, "jobId": job_id, "command": "promote",
                                                   "state": "delayed"})  # fmt: skip

        async def reprocessJob(self: Any, job: Any, state: str, opts: dict[str, Any] | None = None) -> None:
            opts = opts or {}
            code = _admin.reprocess(store, store.queue(self), job.id, "RPUSH" if job.opts.get("lifo") else "LPUSH",
                                    state, bool(opts.get("resetAttemptsMade")),
                                    bool(opts.get("resetAttemptsStarted")))  # fmt: skip
            if code < 0:
                raise self.scripts.finishedErrors({"code": code, "jobId": job.id, "command": "reprocessJob",
                                                   "state": state})  # fmt: skip

        async def remove(self: Any, job_id: str, remove_children: bool) -> int:
            return _admin.remove(store, store.queue(self), job_id, bool(remove_children))

        async def drain(self: Any, delayed: bool = False) -> None:
            _admin.drain(store, store.queue(self), bool(delayed))

        async def cleanJobsInSet(self: Any, set: str, grace: int = 0, limit: int = 0) -> list[str]:
            """``queue.clean(grace, limit, type)``: ``cleanJobsInSet-3.lua`` at ``now - grace`` (bullmq's args)."""
            _bulk.check_clean(set, grace, limit)
            _keys, args = self.scripts.cleanJobsInSetArgs(set, grace, limit)
            return _bulk.clean(store, store.queue(self), set, int(args[1]), int(limit))

        async def obliterate(self: Any, count: int, force: bool = False) -> int:
            """One call of ``queue.obliterate``'s loop (``obliterate-2.lua``), with ``Scripts.obliterate``'s errors."""
            if not isinstance(force, bool):
                raise InvalidArgument.build("queue.obliterate(force)", force, "True or False: bullmq-python 3.4.4 "
                                            "takes force as a bool, queue.obliterate(force=True) (a dict such as "
                                            "{'force': False} is truthy: it would force it)")  # fmt: skip
            result = _bulk.obliterate(store, store.queue(self), int(count), force)
            if result == -1:
                raise Exception("Cannot obliterate non-paused queue")
            if result == -2:
                raise Exception("Cannot obliterate queue with active jobs")
            return result

        async def retryJobs(self: Any, state: str | None, count: int | None, timestamp: float | None) -> int:
            """One call of ``queue.retryJobs``' loop: ``moveJobsToWait-8.lua`` with ``moveJobsToWaitArgs``."""
            _bulk.check_retry_jobs(state, count, timestamp)
            _keys, args = self.scripts.moveJobsToWaitArgs(state or "failed", count, timestamp)
            return _bulk.move_jobs_to_wait(store, store.queue(self), args[2], int(args[0]), args[1])

        async def promoteJobs(self: Any, count: int | None) -> int:
            """One call of ``queue.promoteJobs``' loop: ``moveJobsToWait-8.lua`` on delayed, every due time."""
            _bulk.check_count("queue.promoteJobs({'count'})", count)
            _keys, args = self.scripts.moveJobsToWaitArgs("delayed", count, 1.7976931348623157e308)
            return _bulk.move_jobs_to_wait(store, store.queue(self), "delayed", int(args[0]), args[1])

        async def changePriority(self: Any, job_id: str, priority: int = 0, lifo: bool = False) -> None:
            """``job.changePriority({'priority', 'lifo'})``: ``changePriority-7.lua``; -1 is bullmq's TypeError."""
            _bulk.check_priority("job.changePriority({'priority'})", priority)
            if not isinstance(lifo, bool):
                raise InvalidArgument.build("job.changePriority({'lifo'})", lifo, "True or False")
            if _bulk.change_priority(store, store.queue(self), job_id, priority, lifo) < 0:
                raise self.scripts.finishedErrors({"code": -1, "jobId": job_id, "command": "changePriority"})

        async def getCountsPerPriority(self: Any, priorities: list[int]) -> list[int]:
            for priority in priorities:
                _bulk.check_priority("queue.getCountsPerPriority(priorities)", priority)
            return _bulk.counts_per_priority(store.queue(self), list(priorities))

        async def trimEvents(self: Any, max_length: int) -> int:
            return _bulk.trim_events(store.queue(self), max_length)

        async def getDeduplicationJobId(self: Any, dedup_id: str) -> str | None:
            """``GET bull:<queue>:de:<id>``: the id of the job holding that deduplication id, while it does."""
            from ._dedup import get

            return get(store.queue(self), str(dedup_id), store.now())

        async def updateData(self: Any, job_id: str, data: Any) -> None:
            store.update_json(self, job_id, "data", data, "updateData")

        async def addLog(self: Any, job_id: str, log_row: str, keep_logs: int = 0) -> int:
            """``RPUSH <job>:logs`` then ``LTRIM`` to the last ``keepLogs`` (``redis_backend.py:316-323``)."""
            q = store.queue(self)
            rec = q.jobs.get(job_id)
            logs = rec.logs if rec is not None else []
            logs.append(log_row)
            length = len(logs)
            if keep_logs:
                del logs[: max(0, len(logs) - keep_logs)]
            w.on_log(q, job_id, log_row)
            return min(keep_logs, length) if keep_logs else length

        async def getJobLogs(self: Any, job_id: str, start: int = 0, end: int = -1,
                             asc: bool = True) -> dict[str, Any]:  # fmt: skip
            rec = store.job(self, job_id)
            logs = list(rec.logs) if rec is not None else []
            picked = _lrange(logs, start, end) if asc else list(reversed(_lrange(logs, -(end + 1), -(start + 1))))
            return {"logs": picked, "count": len(logs)}

        async def getState(self: Any, job_id: str) -> str:
            return store.state(self, job_id)

        async def isJobInState(self: Any, state: str, job_id: str) -> bool:
            return store.state(self, job_id) == ("waiting" if state == "wait" else state)

        async def getJobData(self: Any, job_id: str) -> dict[str, str] | None:
            rec = store.job(self, job_id)
            return rec.raw() if rec is not None else None

        async def getCounts(self: Any, types: list[str]) -> list[int]:
            return store.counts(self, types)

        async def getRateLimitTtl(self: Any) -> int:
            q = store.queue(self)
            count, expiry = q.limiter
            return -2 if expiry is None and not count else (expiry - store.now() if expiry is not None else -1)

        async def getProcessedChildrenValues(self: Any, job_id: str) -> dict[str, str]:
            rec = store.job(self, job_id)
            return dict(rec.processed) if rec is not None else {}

        async def isPaused(self: Any) -> bool:
            return bool(store.queue(self).meta.get("paused"))

        async def pause(self: Any, paused: bool = True) -> None:
            store.pause(self, paused)

        async def addJobScheduler(self: Any, scheduler_id: str, next_millis: int | None, template_data: str,
                                  template_opts: dict[str, Any], scheduler_opts: dict[str, Any],
                                  delayed_job_opts: dict[str, Any], producer_id: str | None = None) -> Any:  # fmt: skip
            return store.add_job_scheduler(self, scheduler_id, int(next_millis or 0), template_data, template_opts,
                                           scheduler_opts, delayed_job_opts, w.now_ms())  # fmt: skip

        async def updateJobSchedulerNextMillis(self: Any, scheduler_id: str, next_millis: int | None,
                                               template_data: str, delayed_job_opts: dict[str, Any],
                                               producer_id: str | None = None) -> str | None:  # fmt: skip
            return store.update_job_scheduler(self, scheduler_id, int(next_millis or 0), delayed_job_opts,
                                              producer_id, w.now_ms())  # fmt: skip

        async def removeJobScheduler(self: Any, scheduler_id: str) -> int:
            return store.remove_job_scheduler(self, scheduler_id)

        async def isJobScheduler(self: Any, scheduler_id: str) -> bool:
            return scheduler_id in store.queue(self).schedulers

        async def getJobScheduler(self: Any, scheduler_id: str) -> tuple[dict[str, str] | None, int | None]:
            q = store.queue(self)
            fields = q.schedulers.get(scheduler_id)
            return (_scheduler_fields(fields), q.repeat.get(scheduler_id)) if fields is not None else (None, None)

        async def getJobSchedulers(self: Any, start: int = 0, end: int = -1, asc: bool = False) -> list[Any]:
            q = store.queue(self)
            order = sorted(q.repeat.items(), key=lambda item: (item[1], item[0]), reverse=not asc)
            return [(sid, _scheduler_fields(q.schedulers.get(sid) or {}), score)
                    for sid, score in _lrange(order, start, end)]  # fmt: skip

        async def getJobSchedulersCount(self: Any) -> int:
            return len(store.queue(self).repeat)

        for fn in (addJob, addJobs, addFlow, moveToActive, moveToCompleted, moveToFailed, moveToDelayed, retryJob,
                   moveToWaitingChildren, moveStalledJobsToWait, extendLocks, waitForJob, updateProgress,
                   updateData, addLog, getJobLogs, getState, isJobInState, getJobData, getCounts, getRateLimitTtl,
                   getProcessedChildrenValues, isPaused, pause, addJobScheduler, updateJobSchedulerNextMillis,
                   removeJobScheduler, isJobScheduler, getJobScheduler, getJobSchedulers,
                   getJobSchedulersCount, getDeduplicationJobId, promote, reprocessJob, remove, drain, cleanJobsInSet,
                   obliterate, retryJobs, promoteJobs, changePriority, getCountsPerPriority, trimEvents):  # fmt: skip
            setattr(self, fn.__name__, fn)
        for name in ("waitUntilReady", "close", "disconnect", "setName"):
            setattr(self, name, nothing)


def _at_least_one(call: str, value: Any, what: str, *, whole: bool = True) -> None:
    """A count the scripts compare with (``whole``: 2.5 goes to Redis as '2.5', which ``tonumber`` compares as such,
    where the simulation keeps an int), or a window they floor (``math.floor(math.abs(duration))``)."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value < math.inf
            or (whole and value != int(value))):  # fmt: skip
        raise InvalidArgument.build(f"queue.{call}", value, f"{'an int' if whole else 'a number'} >= 1: {what}")


def _px(expire_time_ms: Any) -> int:
    """``SET ... PX`` as redis-py sends it (``redis/utils.py``): an int, or a timedelta as
    ``int(total_seconds() * 1000)``; redis-py raises ``DataError`` for anything else (a float too) and Redis
    ``invalid expire time`` for a time <= 0."""
    import datetime as dt

    value = expire_time_ms
    if isinstance(value, dt.timedelta):
        value = int(value.total_seconds() * 1000)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidArgument.build("queue.rateLimit(expire_time_ms)", expire_time_ms, "an int of milliseconds > 0 "
                                    "or a timedelta of 1 ms or more (redis-py sends it as SET ... PX, refusing a "
                                    "float; Redis refuses a time <= 0: 'invalid expire time')")  # fmt: skip
    return value


class _QueueMethods:
    """The ``Queue`` methods that use the raw Redis client, on the queue's simulated meta and limiter keys."""

    def __init__(self, world: BullMQWorld) -> None:
        store = world.store

        async def setGlobalConcurrency(self: Any, concurrency: int) -> int:
            _at_least_one("setGlobalConcurrency(concurrency)", concurrency, "the queue's most jobs active at once "
                          "(0 would keep every job waiting)")  # fmt: skip
            store.queue(self.backend).meta["concurrency"] = int(concurrency)
            return 1

        async def getGlobalConcurrency(self: Any) -> int | None:
            value = store.queue(self.backend).meta.get("concurrency")
            return None if value is None else int(value)

        async def removeGlobalConcurrency(self: Any) -> int:
            return 1 if store.queue(self.backend).meta.pop("concurrency", None) is not None else 0

        async def setGlobalRateLimit(self: Any, max_jobs: int, duration_ms: int) -> int:
            _at_least_one("setGlobalRateLimit(max_jobs)", max_jobs, "jobs per window (moveToActive lets one job "
                          "per window through for a max under 1, as for 1: say 1)")  # fmt: skip
            _at_least_one("setGlobalRateLimit(duration_ms)", duration_ms, "the window in milliseconds", whole=False)
            store.queue(self.backend).meta.update(max=int(max_jobs), duration=int(duration_ms))
            return 2

        async def getGlobalRateLimit(self: Any) -> dict[str, int] | None:
            meta = store.queue(self.backend).meta
            return {"max": meta["max"], "duration": meta["duration"]} if "max" in meta and "duration" in meta else None

        async def removeGlobalRateLimit(self: Any) -> int:
            meta = store.queue(self.backend).meta
            return sum(1 for k in ("max", "duration") if meta.pop(k, None) is not None)

        async def rateLimit(self: Any, expire_time_ms: int) -> None:
            """``SET limiter 2^53-1 PX expire_time_ms`` (``queue.py:109-118``): rate-limited until it expires."""
            store.queue(self.backend).limiter = (9007199254740991, store.now() + _px(expire_time_ms))

        async def removeRateLimitKey(self: Any) -> int:
            q = store.queue(self.backend)
            had = q.limiter != (0, None)
            q.limiter = (0, None)
            return int(had)

        async def getJobs(self: Any, types: Any, start: int = 0, end: int = -1, asc: bool = False) -> list[Any]:
            """``queue.getJobs(types, start, end, asc)`` (``queue.py:437-453``, ``getJobs-1.lua``): per type, its
            range of ids, each job once."""
            from bullmq.job import Job

            q = store.queue(self.backend)
            kinds = ["wait" if kind == "waiting" else field_text(kind) for kind in self.sanitizeJobTypes(types)]
            out, seen = [], set()
            for ids in job_ids(q, kinds, start, end, bool(asc), store.now(), lambda kind: _ids(q, kind, asc)):
                for job_id in ids:
                    if job_id in seen or job_id not in q.jobs:
                        continue
                    seen.add(job_id)
                    out.append(Job.fromJSON(self, q.jobs[job_id].raw(), job_id))
            return out

        for fn in (setGlobalConcurrency, getGlobalConcurrency, removeGlobalConcurrency, setGlobalRateLimit,
                   getGlobalRateLimit, removeGlobalRateLimit, rateLimit, removeRateLimitKey, getJobs):  # fmt: skip
            setattr(self, fn.__name__, fn)


def _ids(q: Any, kind: str, asc: bool) -> list[str]:
    """The ids of one state in ``getJobs-1.lua``'s order: lists newest first (reversed with ``asc``), sets by score."""
    from ._store import ordered

    if kind in ("wait", "active"):
        items = list(getattr(q, kind))
        return list(reversed(items)) if asc else items
    zsets = {"completed": q.completed, "failed": q.failed, "delayed": q.delayed, "prioritized": q.prioritized,
             "waiting-children": q.waiting_children, "marker": q.marker, "repeat": q.repeat}  # fmt: skip
    members = ordered(zsets.get(kind, {}))
    return members if asc else list(reversed(members))


def _scheduler_fields(fields: dict[str, Any]) -> dict[str, str]:
    out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items() if k not in ("opts",)}
    if fields.get("opts"):
        out["opts"] = json.dumps(fields["opts"])
    return out
