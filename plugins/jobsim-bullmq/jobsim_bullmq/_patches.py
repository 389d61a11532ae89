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
* ``JobScheduler.upsertJobScheduler``: bullmq's own, after checking ``tz`` and ``pattern`` (``_schedulers``).
* ``Job.moveToFailed``: bullmq's own, after noting the exception (the store only sees
  its ``failedReason`` text) so the run keeps the real error.
* ``Worker.close``/``Worker.pause`` awaited by the test: bullmq's own, on the workers' loop, the simulation
  advancing until they return (both wait for the jobs in flight); ``Worker.resume``: bullmq's own, then the
  workers' loop is woken.
* ``Job.__init__``: bullmq's own, and the job is noted; when the simulation closes, each job's ``backend`` is
  replaced by one that raises a ``JobsimError`` saying so (``_ClosedBackend``) instead of reading a real Redis.
* Every backend served is noted; when the simulation closes, it refuses bullmq's Redis calls until
  ``jobsim_bullmq.release(queue)`` or the next simulation (``_closed``).

One simulation with BullMQ workers may run at a time in a process (the patches are global).
"""

from __future__ import annotations

import contextvars
import random
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND
from jobsim.errors import JobsimError, UnsupportedFeature
from jobsim.hooks import ProcessPatches, gate_while_blocked, target_rng

from . import _closed
from ._backend import _Backend, _QueueMethods
from ._schedulers import checked_upsert

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
        return uuid.UUID(int=(ids if shared else target_rng(world.sim, queue)).getrandbits(128), version=4)

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
        (bullmq.job_scheduler.JobScheduler, "upsertJobScheduler"): checked_upsert(
            bullmq.job_scheduler.JobScheduler.upsertJobScheduler),
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
        if owner is RedisBackend or owner is bullmq.queue.Queue or name == "publishEvent":
            replacement = _gated(replacement, world)
        if owner is RedisBackend or owner is bullmq.queue.Queue:
            replacement = _closed.noted(replacement)
        _PATCHES.set(owner, name, replacement)
    _closed.reopen()


def _gated(command: Any, world: BullMQWorld) -> Any:
    """A simulated Redis command (a backend method), made to wait for a blocking call in job code
    (``jobsim.hooks.gate_while_blocked``): sent by code on the workers' loop while the call holds the process, it
    reaches Redis when the call returns, and its reply is read two turns later, as over a socket, so the timers the
    blocked loop owes send their commands right behind it, as on a real worker: the lock renewal
    (``lock_manager.py:168-198``) finds the job still tracked while its ``moveToFinished`` is answered
    (``worker.py:453-470`` untracks it only after ``moveToFailed``'s reply). A command sent in the first turn after
    the call returned (the processor awaited something else first: ``await asyncio.sleep(0)``) is answered the same
    way (measured on a real worker: the renewal fails there too). Otherwise it runs at once, as before."""
    return gate_while_blocked(command, world, reply_turns=2)


def pop(world: BullMQWorld) -> None:
    was_current = _PATCHES.current is world
    _PATCHES.pop(world)
    if was_current:
        _closed.close(world.sim)
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
