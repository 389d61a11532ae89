"""One simulation's BullMQ side (``sim.bullmq``): its workers, the simulated Redis, one run per job.

``jobsim.Simulation(worker, ...)`` claims bullmq-python ``Worker`` objects built with
``{"autorun": False}``. While the simulation runs, bullmq's ``RedisBackend`` talks to
the in-memory store (``_store``) instead of Redis, for every ``Queue`` built anywhere,
and each worker's own ``Worker.run()`` loop runs on the simulation's clock
(``_loop``). What a processor does is therefore bullmq-python's to decide: how the
worker fetches and blocks (``worker.py:162-271, 355-392``), how many jobs it runs at
once, ``Job.moveToFailed``'s retry rule and backoff (``job.py:204-266``,
``backoffs.py``), ``DelayedError`` and ``UnrecoverableError``, its events
(``worker.on("completed"|"failed", ...)``) -- and what the Lua scripts do to the
queue is the store's.

Every job is one jobsim run of the function named after its queue, with the job id
as the run id; each time a worker takes the job is one attempt; a failed attempt
that BullMQ retries is a ``retry`` record with its delay.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import math
import sys
import warnings
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._checks import keywords_checked
from jobsim._events import Event
from jobsim._records import Run
from jobsim._time import MS
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, escapes, refusing_handler, warn_outside

from ._crash import Crashes
from ._events import Listeners
from ._loop import CURRENT, WorkerLoop
from ._runs import Held as Held
from ._runs import JobFailed as JobFailed
from ._runs import RunRecords
from ._runs import runs_index as runs_index
from ._store import QueueState, Store
from ._unread import Unconsumed
from ._warnings import BullMQProcessorWarning

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._store import JobHash

BACKEND = "bullmq"
# appended to jobsim's refusals of its engine faults for BullMQ jobs (Adapted.fault_hint)
FAULT_HINT = ("jobsim-bullmq kills a queue's worker mid-job instead: sim.crash_worker(at=..., function=<the queue's "
              "name>), and starts a new one (plugins/jobsim-bullmq/README.md, 'A worker process killed mid-job')")


class BullMQWorld(RunRecords, Unconsumed):
    """``sim.bullmq``: the workers of one simulation, the store they share, and the runs of their jobs."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.app = jobsim.App("bullmq")
        self.store = Store(self)
        self.listeners = Listeners(self)
        self.workers: list[Any] = []  # the live ones (a crash removes its worker, a restart adds one)
        self.all_workers: list[Any] = []
        self.runners: dict[Any, Any] = {}  # worker -> its run() task
        self.originals: dict[Any, Any] = {}  # worker -> the processor it was built with
        self.warned_sync: set[Any] = set()  # workers whose processor returned a value bullmq cannot await
        self._crashes: Crashes | None = None
        self.orphans: set[tuple[str, str]] = set()  # jobs a killed worker left active: work until a check takes them
        self.functions: dict[str, jobsim.Function] = {}  # queue name -> function
        self.listened: set[str] = set()  # qualified names of the queues a worker reads
        self.unread: set[str] = set()  # qualified names of queues given jobs no simulated worker reads (told once)
        self.jobs: dict[tuple[str, str], Held] = {}
        self.errors: dict[tuple[str, str], BaseException] = {}
        self.loop: WorkerLoop | None = None
        self.tasks: list[Any] = []
        self.saved: list[tuple[Any, dict[str, Any]]] = []
        self.installed = False
        self.polls: list[int] = []  # when a worker's BZPOPMIN timed out (ns): the live test's tolerance counts them
        self.fast_forward = True
        self.starting: Any = None  # the worker whose run() the simulation is calling (_start)
        self.escaped: BaseException | None = None  # a jobsim error a processor raised: WorkerLoop.pump re-raises it

    # -- adapting --------------------------------------------------------------------------------
    def adopt(self, worker: Any) -> Adapted:
        self._check_worker(worker)
        if any(w is worker for w in self.workers):
            raise InvalidArgument(f"the BullMQ worker for queue {worker.name!r} is passed to this Simulation twice")
        self.workers.append(worker)
        self.all_workers.append(worker)
        self.listened.add(worker.qualifiedName)
        new = worker.name not in self.functions
        fn = self._function(worker.name, worker)
        return Adapted(backend=BACKEND, functions=[fn] if new else [], install=self.install,
                       uninstall=self.uninstall, profile="bullmq", own_worker=True, dynamic=True,
                       fault_hint=FAULT_HINT)  # fmt: skip

    def _check_worker(self, worker: Any) -> None:
        name = getattr(worker, "name", "?")
        if worker.processor is None:
            raise InvalidArgument(f"the BullMQ worker for queue {name!r} has no processor: build it as "
                                  "Worker(queue_name, processor, opts) with an async def processor(job, token)")
        if getattr(worker, "closing", False) or getattr(worker, "closed", False):
            raise InvalidArgument(
                f"the BullMQ worker for queue {name!r} was closed (worker.close()), and a closed bullmq worker "
                "takes no job again (its run() returns at once): build a new Worker for this simulation"
            )
        if worker.running or worker.opts.get("autorun", True):
            raise InvalidArgument(
                f"the BullMQ worker for queue {name!r} was built with autorun (the default): its run() was already "
                "scheduled against Redis on the loop that built it. Build it with Worker(name, processor, "
                "{'autorun': False, ...}); the simulation runs it in virtual time"
            )
        if worker.opts.get("backend") == "postgres":
            raise UnsupportedFeature(f"the BullMQ worker for queue {name!r} uses the PostgreSQL backend; "
                                     "jobsim-bullmq simulates the Redis backend only", system="BullMQ",
                                     feature="postgres")  # fmt: skip
        for option in ("concurrency", "drainDelay", "lockDuration", "stalledInterval", "maxStalledCount"):
            value = worker.opts.get(option)
            least = 0 if option == "maxStalledCount" else 1
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not least <= value < math.inf:
                raise InvalidArgument.build(f"Worker opts[{option!r}]", value,
                                            f"a finite number >= {least} (queue {name!r})")  # fmt: skip
        limiter = worker.opts.get("limiter")
        if limiter is not None and not (isinstance(limiter, dict) and _positive(limiter.get("max"))
                                        and _positive(limiter.get("duration"))):  # fmt: skip
            raise InvalidArgument.build("Worker opts['limiter']", limiter,
                                        "{'max': jobs, 'duration': milliseconds}, both > 0")  # fmt: skip
        settings = worker.opts.get("settings")
        strategy = settings.get("backoffStrategy") if isinstance(settings, dict) else None
        if strategy is not None and (not callable(strategy) or inspect.iscoroutinefunction(strategy)):
            # backoffs.py: Backoffs.calculate calls it without await; a coroutine (truthy) goes to moveToDelayed as
            # the delay, redis-py cannot send it, Job.moveToFailed raises: only an 'error' event, the job stuck active
            raise InvalidArgument.build("Worker opts['settings']['backoffStrategy']", strategy,
                                        "a plain (not async) def (attempts_made, type, err, job) -> delay in ms, "
                                        "-1 to fail the job, 0 or None to retry at once: bullmq-python calls it "
                                        f"without await (backoffs.py) (queue {name!r})")  # fmt: skip

    def _function(self, queue: str, worker: Any = None) -> jobsim.Function:
        fn = self.functions.get(queue)
        if fn is None:
            message = (f"BullMQ queue {queue!r} is processed by its worker (queue.add), not through jobsim events"
                       if worker is not None else f"BullMQ queue {queue!r} has no simulated worker")  # fmt: skip
            fn = jobsim.Function(id=queue, handler=refusing_handler(message), app=self.app,
                                 options={"bullmq": True, "native": worker})  # fmt: skip
            if worker is None:
                self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
            self.app.functions[queue] = fn
            self.functions[queue] = fn
        return fn

    # -- the simulation starts and ends ------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from . import _patches

        _patches.push(self)
        self.installed = True
        self.loop = WorkerLoop(self)
        for worker in self.workers:
            self._start(worker)
        self.loop.book()

    def _start(self, worker: Any) -> None:

        from bullmq.lock_manager import LockManager

        assert self.loop is not None
        saved = {k: getattr(worker, k) for k in ("processor", "lockManager", "resume_event", "_client_name_set")}
        self.saved.append((worker, saved))
        self.originals[worker] = worker.processor
        worker.processor = self._wrap(worker, worker.processor)
        worker.emit = self._emitting(worker)
        worker.lockManager = LockManager(worker, lock_renew_time=worker.opts["lockRenewTime"],
                                         lock_duration=worker.opts["lockDuration"], worker_id=worker.id,
                                         worker_name=worker.workerName)  # fmt: skip
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            asyncio.events._set_running_loop(self.loop)
            worker.resume_event = asyncio.Event()
            worker.resume_event.set()
            # a fresh context: a worker restarted from inside a killed job's task is not that job's code
            self.starting = worker  # the one run() call _patches._worker_run lets through
            try:
                loop_coroutine = worker.run()
            finally:
                self.starting = None
            task = contextvars.Context().run(self.loop.create_task, loop_coroutine, name=f"bullmq worker {worker.name}")
            self.loop.creators[task] = None
            self.tasks.append(task)
            self.runners[worker] = task
        finally:
            asyncio.events._set_running_loop(outer)

    def drive(self, coroutine: Any, what: str) -> Any:
        """Run ``coroutine`` on the workers' loop, advancing the simulation to each next item until it returns (a
        call the test awaits that waits for the workers' jobs: ``_patches._on_worker_loop``)."""
        import datetime as dt

        assert self.loop is not None
        task = self.loop.create_task(coroutine, name=what)
        self.poke()
        while not task.done():
            due = self.sim.kernel.next_due()
            if due is None:
                task.cancel()
                raise JobsimError(f"{what} would wait for ever: nothing in the simulation is left to run")
            self.sim.advance(dt.timedelta(microseconds=-(-(max(due - self.now_ns(), 0)) // 1000)))
        return task.result()

    def start_worker(self, worker: Any) -> None:
        """A worker started while the simulation runs (a crashed one's replacement)."""
        self._start(worker)
        if self.loop is not None:
            self.loop.book()

    # -- crashes -----------------------------------------------------------------------------------
    @property
    def crashes(self) -> Crashes:
        if self._crashes is None:
            self._crashes = Crashes(self)
        return self._crashes

    @keywords_checked("sim.bullmq.crash_worker()")
    def crash_worker(self, at: Any = None, queue: Any = None, *, restart: Any = "0s") -> None:
        """Kill the worker process of ``queue`` (a name or ``Queue``) at ``at`` (default now), mid-job: its job's lock
        expires and the stalled-job check of a live worker takes it back (``_crash``). ``restart``: when a new
        worker starts after the crash (a process supervisor), ``None`` for never."""
        self.crashes.plan(at, queue, restart)

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from . import _patches

        try:
            self.listeners.close_all()
            if self.loop is not None:
                self.loop.close_down(self.tasks)
        finally:
            for worker, saved in self.saved:
                for key, value in saved.items():
                    setattr(worker, key, value)
                worker.__dict__.pop("emit", None)
                worker.running = False
            self.saved.clear()
            _patches.pop(self)
            self.installed = False

    def _emitting(self, worker: Any) -> Any:
        """``worker.emit``, which calls the ``worker.on(...)`` listeners (``event_emitter.py``): a jobsim error one
        raises stops the test as a processor's does. bullmq lets it out of ``emit`` into its own code, which
        catches it -- ``getNextJob``'s ``retryIfFailed`` emits ``error`` and tries again: an ``active`` listener
        calling ``sim.advance`` made the job active, stalled and active again without end, a hang."""
        world, emit = self, worker.emit

        def emit_in_simulation(event_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return emit(event_name, *args, **kwargs)
            except BaseException as exc:
                if escapes(exc) and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                    if world.escaped is None:
                        world.escaped = exc
                    asyncio.get_running_loop().stop()  # no further step: the pump re-raises it
                raise

        return emit_in_simulation

    def _wrap(self, worker: Any, processor: Any) -> Any:
        """The processor bullmq calls: the user's, with the job attributed (``CURRENT``) and ``sim.fail`` applied."""

        world = self

        async def processor_in_simulation(job: Any, token: str, *signal: Any) -> Any:
            held = world.jobs.get((worker.qualifiedName, job.id))
            CURRENT.set(held)
            if world._crashes is not None and world._crashes.armed and world._crashes.on_start(worker):
                await asyncio.get_running_loop().create_future()  # the process is dead: this never resumes
            if held is not None:
                fault = world.sim.engine.take_fault(held.run.function.id, None)
                if fault is not None:
                    raise fault
            try:
                result = processor(job, token, *signal)
                if not inspect.isawaitable(result) and worker not in world.warned_sync:
                    world.warned_sync.add(worker)
                    warn_sync_processor(worker.name, processor, result)
                return await result  # bullmq's own await: a plain value fails the attempt with its TypeError
            except BaseException as exc:
                # jobsim's own errors (a refused call, a driving call from job code) stop the test, as in every
                # simulation (jobsim.hooks.escapes); bullmq would fail -- and retry -- the job with them. A
                # cancellation is the worker's (a crash, the simulation closing), not the job's.
                if escapes(exc) and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                    world.escaped = exc
                    asyncio.get_running_loop().stop()  # no further step: no retry, the pump re-raises it
                raise

        return processor_in_simulation

    # -- clock and kernel ------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.sim.now_ns()

    def now_ms(self) -> int:
        """``round(time.time() * 1000)``, as bullmq reads the clock."""
        return round(self.sim.now_ns() / MS)

    def placeholder_run(self) -> Run:
        """The run ``engine.x`` names while the workers' own code runs (``PumpedLoop.process``)."""
        fn = next(iter(self.functions.values()), None) or self._function("bullmq")
        return Run(fn, "bullmq-worker", [Event("bullmq/worker", {})], self.sim.kernel.now)

    def poke(self) -> None:
        if self.loop is not None:
            self.loop.poke()

    def busy(self) -> bool:
        """Work the simulation must wait for: a job waiting or delayed for a simulated worker (not a scheduler's
        next iteration), a job whose processor is busy in virtual time, or a blocking call in job code that has not
        returned yet (``WorkerLoop.blocked_until``)."""
        if self.loop is not None and self.loop.blocked_until() is not None:
            return True
        for q in self.store.queues.values():
            if q.qualified not in self.listened:
                continue
            if q.wait or q.prioritized:
                return True
            if q.active and self._unheld(q):
                return True
            if any("rjk" not in q.jobs[j].fields for j in q.delayed):
                return True
        return self.loop is not None and self.loop.job_timers()

    def _unheld(self, q: QueueState) -> bool:
        """True if a job of ``q`` is active with no live worker processing it -- its worker was killed, or bullmq
        failed to finish it (``Missing lock`` after a blocking call outlived its lock: ``processJob`` emits
        ``error`` and leaves it active): the stalled check of a live worker will take it back to wait."""
        held = {str(job.id) for w in self.workers if w.qualifiedName == q.qualified for job, _token in w.jobs}
        return any(job_id not in held for job_id in q.active)

    def idle_until(self, due: int) -> int | None:
        """When idle workers next do something that shows, instead of their next timer (``due``).

        A worker with nothing to do blocks in ``BZPOPMIN`` for ``drainDelay`` (5 s), or, with a delayed job ahead,
        ``ceil(min(due - now, 10 s))`` whole seconds (``worker.py:355-361, 394-415``), wakes, asks ``moveToActive``
        for nothing and blocks again; meanwhile its lock renewals and stalled checks find nothing to do. Pumping
        each of those timers costs a week of virtual time ~100,000 loop turns, so while every worker is blocked and
        no job is active, waiting or busy, the loop is woken only at the first of those wake-ups at or after the
        next delayed job is due (the wake-up that takes it), computed with the worker's own arithmetic; a job added
        meanwhile pokes it at once as before. Skipped wake-ups left no trace, but the renewal and stalled-check
        timers run once at the next wake-up and restart their period from there. None: nothing is due.
        """
        assert self.loop is not None
        wakes = []
        now_ms = self.now_ms()
        for q in self.store.queues.values():
            # a rate-limit window still open, a paused queue or one at its global concurrency makes moveToActive
            # answer before getNextDelayedTimestamp (moveToActive-11.lua), so the worker blocks drainDelay, not
            # until the next delayed job: pump those. A limiter or a global rate limit or concurrency alone
            # changes nothing while no job is fetched.
            limited = q.limiter[1] is not None and q.limiter[1] > now_ms
            if q.qualified in self.listened and (q.active or q.wait or q.prioritized or q.paused_or_maxed()
                                                 or limited):  # fmt: skip
                return due
        for worker in self.workers:
            if self.loop.job_timers():
                return due
            waiting = [(f, qt) for f, qt in self.store.blocked.items() if not f.done()]
            mine = [qt for f, qt in waiting if qt[0].qualified == worker.qualifiedName]
            if len(mine) != 1 or mine[0][1] is None or not worker.waiting or worker.waiting.done():
                return due
            q, timer, _task = mine[0]
            wake = self.loop._origin + round(timer.when() * 1_000_000_000)
            if q.delayed:
                wakes.append(_first_wake(wake, min(q.delayed.values()) // 0x1000))
        return min(wakes) if wakes else None

    # -- for tests ----------------------------------------------------------------------------------
    def _queue_state(self, queue: Any) -> QueueState:
        name = queue if isinstance(queue, str) else getattr(queue, "name", None)
        for q in self.store.queues.values():
            if q.name == name or q.qualified == name:
                return q
        known = ", ".join(repr(q.name) for q in self.store.queues.values()) or "none yet"
        raise InvalidArgument.build("queue", queue, f"a queue name (or Queue) with jobs in this simulation ({known})")

    def _hash(self, job_id: str, queue: Any) -> tuple[QueueState, JobHash]:
        states = [self._queue_state(queue)] if queue is not None else list(self.store.queues.values())
        found = [(q, q.jobs[job_id]) for q in states if job_id in q.jobs]
        if len(found) == 1:
            return found[0]
        if not found:
            raise InvalidArgument.build("job_id", job_id, "the id of a job BullMQ still keeps in this simulation"
                                        + ("" if queue is None else f" on queue {queue!r}"))  # fmt: skip
        raise InvalidArgument(f"job id {job_id!r} is in several queues ({', '.join(q.name for q, _ in found)}); "
                              "pass queue=...")  # fmt: skip

    @keywords_checked("sim.bullmq.job()")
    def job(self, job_id: str, queue: Any = None) -> Any:
        """A ``bullmq.Job`` read from the simulated Redis now (``Job.fromJSON``, as ``queue.getJob`` returns it); once
        the simulation has closed, its methods that would read Redis say so (``_patches._ClosedBackend``). ``None``,
        as ``queue.getJob`` answers, for a job that ran here and was removed since (``removeOnComplete``...); an id no
        job ever had is refused."""
        from bullmq import Job

        from ._patches import _ClosedBackend

        if self._removed(job_id, queue):
            return None
        q, rec = self._hash(str(job_id), queue)
        owner = next((w for w in self.all_workers if w.qualifiedName == q.qualified), None)
        if owner is None:
            raise InvalidArgument(f"queue {q.name!r} has no simulated worker; read its jobs with queue.getJob(id)")
        job = Job.fromJSON(owner, rec.raw(), rec.id)
        if not self.installed and not isinstance(job.backend, _ClosedBackend):
            job.backend = _ClosedBackend(job)
        return job

    @keywords_checked("sim.bullmq.state()")
    def state(self, job_id: str, queue: Any = None) -> str:
        """``job.getState()`` now: ``waiting``, ``delayed``, ``prioritized``, ``active``, ``completed``... and, as
        ``getStateV2-8.lua`` answers for a job it finds nowhere, ``unknown`` for one that ran here and was removed
        since (``removeOnComplete``/``removeOnFail``, ``job.remove``); an id no job ever had is refused."""
        if self._removed(job_id, queue):
            return "unknown"
        q, rec = self._hash(str(job_id), queue)
        return self.store.state(_Named(q), rec.id)

    def _removed(self, job_id: Any, queue: Any) -> bool:
        """True for the id of a job that ran here (a run of that id) and that the simulated Redis no longer keeps."""
        states = [self._queue_state(queue)] if queue is not None else list(self.store.queues.values())
        if any(str(job_id) in q.jobs for q in states):
            return False
        queues = [q.name for q in states]
        return any(run.id == str(job_id) for name in queues if name in self.functions
                   for run in self.sim.runs(self.functions[name]))  # fmt: skip

    @keywords_checked("sim.bullmq.logs()")
    def logs(self, job_id: str, queue: Any = None) -> list[str]:
        """The rows ``job.log(...)`` added, oldest first (none for a removed job: its logs went with it)."""
        if self._removed(job_id, queue):
            return []
        return list(self._hash(str(job_id), queue)[1].logs)

    @keywords_checked("sim.bullmq.counts()")
    def counts(self, queue: Any) -> dict[str, int]:
        """``queue.getJobCounts()`` now."""
        q = self._queue_state(queue)
        names = ["active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"]
        return dict(zip(names, self.store.counts(_Named(q), names), strict=True))

    def __repr__(self) -> str:
        return f"<jobsim-bullmq world: {len(self.workers)} workers, {len(self.jobs)} jobs>"


@dataclasses.dataclass
class _Named:
    """What the store reads of a backend: its queue's qualified name and name."""

    q: QueueState

    @property
    def qualifiedName(self) -> str:
        return self.q.qualified

    @property
    def name(self) -> str:
        return self.q.name


def _first_wake(wake: int, due_ms: int) -> int:
    """The first BZPOPMIN wake-up (ns) at or after which ``moveToActive`` promotes a job due at ``due_ms``: after
    each wake-up with nothing due, the worker blocks ``ceil`` of ``min(blockUntil - now, 10 s)`` (at least 1 ms),
    ``worker.py:355-361, 394-415``."""
    import math

    due_ms = int(due_ms)  # a score made from a float ``every`` is a float
    if due_ms >= 1 << 52:  # past the year 142,000: in floats, wake / MS no longer moves by a 1 s block and the
        return due_ms * MS  # loop below never ended (every=1e300 or 10**30); the job's due time is its wake-up
    if round(wake / MS) < due_ms:
        # the 10 s blocks, at once: each leaves the same sub-millisecond part, and while due - int(wake) >= 10 s
        # the block is min(..., 10 s) = 10 s (the loop below did them one by one: a job due in a day cost 8,640)
        wake += (due_ms - int(wake / MS)) // 10_000 * 10_000_000_000
    while round(wake / MS) < due_ms:
        delay_ms = due_ms - int(wake / MS)
        seconds = 0.001 if delay_ms < 1 else min(delay_ms / 1000, 10)
        wake += math.ceil(seconds) * 1_000_000_000
    return wake


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def not_simulated(what: str) -> JobsimError:
    return UnsupportedFeature(f"{what} is not simulated by jobsim-bullmq; see plugins/jobsim-bullmq/README.md "
                              "for what is", system="BullMQ", feature=what)  # fmt: skip


def warn_sync_processor(queue: str, processor: Any, result: Any) -> None:
    """Warn at the processor's ``def`` (the line to fix), once per worker and simulation."""
    code = getattr(inspect.unwrap(processor), "__code__", None)  # a def, a lambda, a decorated one
    message = BullMQProcessorWarning(
        f"the processor of the BullMQ worker for queue {queue!r} returned {type(result).__name__!r}, not an "
        "awaitable: bullmq-python runs `await processor(job, token)` (worker.py processJob), so each attempt runs "
        f"the body, then fails with TypeError: object {type(result).__name__} can't be used in 'await' expression, "
        "and is retried as a failure, on a real worker too. Write it as async def processor(job, token)")
    if code is None:  # a partial, a builtin: the test's line that ran the worker
        import bullmq

        warn_outside(message, None, bullmq, sys.modules[__package__])
    else:
        warnings.warn_explicit(message, BullMQProcessorWarning, code.co_filename, code.co_firstlineno)
