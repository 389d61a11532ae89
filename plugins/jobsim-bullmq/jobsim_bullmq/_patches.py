"""What is replaced in bullmq-python while a simulation with BullMQ workers runs.

Every datastore operation of a ``Queue``, ``Worker``, ``Job``, ``JobScheduler`` and
``FlowProducer`` goes through its ``RedisBackend`` (``backends/redis_backend.py``), so
the methods of that class are replaced, for every instance wherever it was built:
those the simulation models go to the in-memory store (``_store``), the others raise
``UnsupportedFeature`` naming the bullmq call -- none reaches Redis. Besides:

* ``Queue`` methods that use the raw Redis client (``setGlobalConcurrency``,
  ``setGlobalRateLimit``, ``rateLimit`` and their getters/removers, ``getJobs``) go to
  the store too.
* ``QueueEvents.__init__``/``run``/``close`` and ``QueueEventsProducer.publishEvent``: a
  ``QueueEvents`` listens to the simulated stream instead of ``XREAD`` (``_events``).
* ``time`` as seen by ``bullmq.job``, ``bullmq.job_scheduler``, ``bullmq.scripts``,
  ``bullmq.worker`` and ``bullmq.lock_manager``: ``time.time()`` is the virtual clock,
  also for producer code a test runs between ``sim.advance`` calls.
* ``uuid4`` in ``bullmq.flow_producer`` (a flow's job ids): drawn from the stream of the job's queue
  (``sim.rng_for``), which ``FlowProducer.addNode`` notes while it builds each node.
* ``worker.getCompleted``: the jobs fetched together are started in the order their fetches were issued, not in
  a set's memory-address order, so a run is the same every time.
* ``Job.moveToFailed``: bullmq's own, after noting the exception (the store only sees
  its ``failedReason`` text) so the run keeps the real error.
* ``Worker.close``/``Worker.pause`` awaited by the test: bullmq's own, on the workers' loop, the simulation
  advancing until they return (both wait for the jobs in flight); ``Worker.resume``: bullmq's own, then the
  workers' loop is woken.
* ``Job.__init__``: bullmq's own, and the job is noted; when the simulation closes, each job's ``backend`` is
  replaced by one that raises a ``JobsimError`` saying so (``_ClosedBackend``) instead of reading a real Redis.

One simulation with BullMQ workers may run at a time in a process (the patches are global).
"""

from __future__ import annotations

import contextvars
import json
import math
import random
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import ProcessPatches

from . import _admin, _bulk

if TYPE_CHECKING:
    from ._world import BullMQWorld

_PATCHES: ProcessPatches[BullMQWorld] = ProcessPatches(
    "BullMQ workers", "jobsim-bullmq replaces bullmq's RedisBackend methods"
)

REFUSED = {
    "getRanges": "reading job ranges (queue.getJobs on a non-Redis path)", "getClientList": "queue.get_workers()",
"removeDeprecatedPriorityKey": "queue.removeDeprecatedPriorityKey()",
    "forQueue": None, "extendLock": None, "clientName": None,
}  # fmt: skip
"""RedisBackend methods refused, by the bullmq call users make (None: kept as bullmq wrote it)."""


class _Clock:
    """``time`` for bullmq's modules: ``time()`` reads the simulation; the rest is the real module."""

    def __init__(self, world: BullMQWorld) -> None:
        self._world = world

    def time(self) -> float:
        return self._world.now_ns() / SECOND

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def push(world: BullMQWorld) -> None:
    _PATCHES.push(world, _patch)


def _patch(world: BullMQWorld) -> None:
    import bullmq.flow_producer
    import bullmq.job
    import bullmq.job_scheduler
    import bullmq.lock_manager
    import bullmq.queue
    import bullmq.queue_events
    import bullmq.queue_events_producer
    import bullmq.scripts
    import bullmq.worker
    from bullmq.backends.redis_backend import RedisBackend

    clock = _Clock(world)
    ids = random.Random(f"jobsim-bullmq-ids:{world.sim.seed}")

    def flow_uuid4() -> uuid.UUID:
        """A flow's job id: from the stream of the queue whose job it is (``sim.rng_for``), so a flow that adds
        more jobs to one queue renames none of another's; the plugin's own stream under ``"shared"``."""
        queue = _NODE_QUEUE.get()
        shared = world.sim.random_streams == "shared" or not isinstance(queue, str)
        return uuid.UUID(int=(ids if shared else world.sim.rng_for(queue)).getrandbits(128), version=4)

    patches: dict[tuple[Any, str], Any] = {
        (bullmq.job, "time"): clock, (bullmq.job_scheduler, "time"): clock, (bullmq.scripts, "time"): clock,
        (bullmq.worker, "time"): clock, (bullmq.lock_manager, "time"): clock,
        (bullmq.flow_producer, "uuid4"): flow_uuid4,
        (bullmq.flow_producer.FlowProducer, "addNode"): _queue_noted(bullmq.flow_producer.FlowProducer.addNode),
        (bullmq.job.Job, "moveToFailed"): _move_to_failed(bullmq.job.Job.moveToFailed, world),
        (bullmq.queue_events.QueueEvents, "__init__"): _queue_events_init(bullmq.queue_events.QueueEvents.__init__,
                                                                           world),
        (bullmq.queue_events.QueueEvents, "run"): _queue_events_run(world),
        (bullmq.queue_events.QueueEvents, "close"): _queue_events_close(world),
        (bullmq.queue_events_producer.QueueEventsProducer, "publishEvent"): _publish_event(world),
        (bullmq.worker, "getCompleted"): _get_completed,
        (bullmq.worker.Worker, "run"): _worker_run(bullmq.worker.Worker.run, world),
        (bullmq.job.Job, "__init__"): _tracked_job_init(bullmq.job.Job.__init__),
        (bullmq.worker.Worker, "close"): _on_worker_loop(bullmq.worker.Worker.close, world, "close"),
        (bullmq.worker.Worker, "pause"): _on_worker_loop(bullmq.worker.Worker.pause, world, "pause"),
        (bullmq.worker.Worker, "resume"): _resume(bullmq.worker.Worker.resume, world),
    }  # fmt: skip
    backend = _Backend(world)
    for name in dir(RedisBackend):
        if name.startswith("_") or not callable(getattr(RedisBackend, name, None)):
            continue
        if name in REFUSED:
            what = REFUSED[name]
            if what is not None:
                patches[(RedisBackend, name)] = _refuse(what)
            continue
        patches[(RedisBackend, name)] = getattr(backend, name, None) or _refuse(f"bullmq's RedisBackend.{name}")
    for name in ("setGlobalConcurrency", "getGlobalConcurrency", "removeGlobalConcurrency", "setGlobalRateLimit",
                 "getGlobalRateLimit", "removeGlobalRateLimit", "rateLimit", "removeRateLimitKey", "getJobs"):
        patches[(bullmq.queue.Queue, name)] = getattr(_QueueMethods(world), name)
    for (owner, name), replacement in patches.items():
        _PATCHES.set(owner, name, replacement)


def pop(world: BullMQWorld) -> None:
    _PATCHES.pop(world)
    for job in list(_JOBS):  # what bullmq would read of them now is in no Redis: say so
        if not isinstance(job.__dict__.get("backend"), _ClosedBackend):
            job.backend = _ClosedBackend(job)
    _JOBS.clear()


_NODE_QUEUE: contextvars.ContextVar[Any] = contextvars.ContextVar("jobsim_bullmq_node_queue", default=None)
"""The queue of the flow node ``FlowProducer.addNode`` is building (its job id is drawn meanwhile)."""


def _queue_noted(original: Any) -> Any:
    async def addNode(self: Any, node: Any, *args: Any, **kwargs: Any) -> Any:
        """bullmq's own; the node's queue is noted while it runs (not its children's: each is an ``addNode``)."""
        token = _NODE_QUEUE.set(node.get("queueName") if isinstance(node, dict) else None)
        try:
            return await original(self, node, *args, **kwargs)
        finally:
            _NODE_QUEUE.reset(token)

    return addNode


_JOBS: weakref.WeakSet[Any] = weakref.WeakSet()
"""The ``Job`` objects made while the simulation runs (``queue.add``'s, ``Job.fromId``'s, the processors')."""


def _tracked_job_init(original: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        """bullmq's ``Job.__init__``, and the job is noted: once the simulation closes, its backend says so."""
        original(self, *args, **kwargs)
        _JOBS.add(self)

    return __init__


class _ClosedBackend:
    """A simulated job's backend once its simulation has closed: bullmq reads a job's state from Redis
    (``job.getState()``, ``isCompleted()``, ``job.remove()``...), and this one's is nowhere -- redis-py would connect
    to the queue's Redis, which may not exist, or read a real Redis that never had the job."""

    def __init__(self, job: Any) -> None:
        self._job_id, self._queue = job.id, getattr(job.queue, "name", "?")
        self._original = job.backend

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._original, name)
        if not callable(value):
            return value

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise JobsimError(
                f"BullMQ job {self._job_id} of queue {self._queue!r} belongs to a simulation that has closed, and "
                f"bullmq would read it from Redis ({name}): read it inside the `with` block (await job.getState()), or "
                "after it with sim.bullmq.state(job.id) or its run in sim.runs(...)"
            )  # fmt: skip

        return refused

    def __repr__(self) -> str:
        return f"<closed simulation's stand-in for {self._original!r}>"


def _refuse(what: str) -> Any:
    from ._world import not_simulated

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise not_simulated(what)

    return refused


def _worker_run(original: Any, world: BullMQWorld) -> Any:
    """``Worker.run`` while the simulation runs: only the simulation starts a worker's loop (``_world._start``).

    Called from the test or app code, a simulated worker's second loop would block for ever in the simulated
    ``BZPOPMIN`` (nothing drives virtual time while the test waits on it), and a worker the simulation was not
    given would consume the simulated queues in real time: both refused, with the fix."""

    def run(self: Any) -> Any:
        if world.starting is self:
            return original(self)
        name = getattr(self, "name", "?")
        if any(w is self for w in world.all_workers):
            raise UnsupportedFeature(
                f"worker.run() was called for the BullMQ worker of queue {name!r}, and this simulation runs its loop "
                "itself in virtual time (a second loop would wait for ever on a clock nothing moves): drop the call "
                "and drive time with sim.run_until_idle() / sim.advance(...)",
                system="BullMQ", feature="Worker.run",
            )  # fmt: skip
        raise UnsupportedFeature(
            f"worker.run() was called for a BullMQ worker of queue {name!r} not given to this simulation: it would "
            "consume the simulated queues in real time. Build it with {'autorun': False} and pass it to "
            "jobsim.Simulation (with the others) instead of running it",
            system="BullMQ", feature="Worker.run",
        )  # fmt: skip

    return run


def _on_worker_loop(original: Any, world: BullMQWorld, what: str) -> Any:
    """``worker.close()`` / ``worker.pause()`` of a simulated worker awaited by the test: bullmq's own, run on the
    workers' loop while the simulation advances until it returns. Both wait for the jobs in flight
    (``worker.py:600-642``, ``:644-671``), tasks of the workers' loop that only virtual time finishes: awaited on
    the test's own loop they would wait for ever, in real time. From job code (the workers' loop) they run as
    written."""

    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        loop = world.loop
        if loop is None or loop.is_closed() or asyncio.get_running_loop() is loop or not any(
                w is self for w in world.all_workers):  # fmt: skip
            return await original(self, *args, **kwargs)
        return world.drive(original(self, *args, **kwargs), f"worker.{what}() of queue {self.name!r}")

    method.__doc__ = original.__doc__
    return method


def _resume(original: Any, world: BullMQWorld) -> Any:
    def resume(self: Any) -> None:
        """bullmq's ``Worker.resume`` (it sets the worker's ``resume_event``), then the workers' loop is woken: called
        from the test, nothing else would run the paused worker's loop on at once."""
        original(self)
        world.poke()

    resume.__doc__ = original.__doc__
    return resume


async def _get_completed(tasks: set[Any], emit: Any) -> tuple[list[Any], set[Any]]:
    """``worker.py:734-744`` waits for the first of the worker's tasks to finish and takes the jobs of the finished
    ones in the iteration order of a set of tasks -- their memory addresses. Here: in the order the tasks were
    created (the order their fetches were issued), so the same seed gives the same run."""
    import asyncio

    from bullmq.utils import extract_result

    from jobsim._aio import _created

    if not tasks:
        await asyncio.sleep(0)
        return [], set()
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    jobs = [extract_result(task, emit) for task in sorted(done, key=_created)]
    return [job for job in jobs if job is not None], pending


def _queue_events_init(original: Any, world: BullMQWorld) -> Any:
    def __init__(self: Any, name: str, opts: Any = None) -> None:
        """bullmq's, without scheduling ``run()`` on a loop: with ``autorun`` the listener runs in the simulation
        from now (``_events``)."""
        opts = dict(opts or {})
        autorun = opts.get("autorun", True)
        original(self, name, {**opts, "autorun": False})
        self.opts["autorun"] = autorun
        if autorun:
            self.running = True
            world.listeners.start(self)

    return __init__


def _queue_events_run(world: BullMQWorld) -> Any:
    async def run(self: Any) -> None:
        """``QueueEvents.run``: listen in the simulation until ``close()`` (or a listener raises)."""
        import asyncio

        if self.running:
            raise Exception("QueueEvents is already running.")
        wait = asyncio.get_running_loop().create_future()
        world.listeners.waits[id(self)] = wait
        self.running = True
        world.listeners.start(self)
        try:
            await wait
        finally:
            self.running = False
            world.listeners.waits.pop(id(self), None)

    return run


def _queue_events_close(world: BullMQWorld) -> Any:
    async def close(self: Any) -> None:
        """``QueueEvents.close``: stop listening (idempotent, as bullmq's); no connection was opened."""
        if self.closing or self.closed:
            return
        self.closing = True
        world.listeners.stop(self)
        self.running = False
        self.closed = True

    return close


def _publish_event(world: BullMQWorld) -> Any:
    async def publishEvent(self: Any, args: dict[str, Any], maxEvents: int = 1000) -> None:
        """``QueueEventsProducer.publishEvent``: a custom entry on the queue's stream (``XADD``)."""
        if "eventName" not in args:
            raise ValueError("publishEvent requires an 'eventName' key")
        qualified = self.keys["events"].removesuffix(":events")
        q = world.store.queue_named(qualified, self.name)
        fields = {k: v for k, v in args.items() if k != "eventName"}
        world.store.xadd(q, args["eventName"], **fields)

    return publishEvent


def _move_to_failed(original: Any, world: BullMQWorld) -> Any:
    async def moveToFailed(self: Any, err: Any, token: str, fetchNext: bool = False) -> Any:
        """bullmq's ``Job.moveToFailed`` (``job.py:204-266``), after noting ``err`` for the run."""
        world.errors[(self.queueQualifiedName, self.id)] = err
        return await original(self, err, token, fetchNext)

    return moveToFailed


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
            out, seen = [], set()
            for kind in self.sanitizeJobTypes(types):
                for job_id in _lrange(_ids(q, "wait" if kind == "waiting" else kind, asc), start, end):
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
             "waiting-children": q.waiting_children}  # fmt: skip
    members = ordered(zsets.get(kind, {}))
    return members if asc else list(reversed(members))


def _lrange(items: list[Any], start: int, end: int) -> list[Any]:
    """Redis's inclusive ``start..end`` with negative indexes from the end."""
    n = len(items)
    start = max(start + n, 0) if start < 0 else start
    end = end + n if end < 0 else min(end, n - 1)
    return items[start : end + 1] if start <= end else []


def _scheduler_fields(fields: dict[str, Any]) -> dict[str, str]:
    out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items() if k not in ("opts",)}
    if fields.get("opts"):
        out["opts"] = json.dumps(fields["opts"])
    return out
