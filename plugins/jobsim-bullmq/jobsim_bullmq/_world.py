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
import json
import math
import traceback
from typing import TYPE_CHECKING, Any

import jobsim
import jobsim_bullmq
from jobsim._events import Event
from jobsim._records import Attempt, Run
from jobsim._time import MS
from jobsim.errors import BudgetExceeded, InvalidArgument, JobsimError, UnsupportedFeature, _init_or_name_keyword
from jobsim.hooks import Adapted, attempt_budget, escapes, refusing_handler

from ._crash import Crashes
from ._events import Listeners
from ._loop import CURRENT, WorkerLoop
from ._store import QueueState, Store

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._store import JobHash

BACKEND = "bullmq"


class JobFailed(Exception):
    """A failure bullmq recorded without an exception jobsim saw (its ``failedReason``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


@dataclasses.dataclass(eq=False)
class Held:
    """One job of the simulation: its queue, id and run, and its attempt in flight."""

    queue: QueueState
    job_id: str
    run: Run
    started: int | None = None  # the attempt in flight began (ns)
    attempts: int = 0
    scheduler: str | None = None


class BullMQWorld:
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
                       uninstall=self.uninstall, profile="bullmq", own_worker=True, dynamic=True)  # fmt: skip

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
            self.app.functions[queue] = fn
            self.functions[queue] = fn
            if worker is None:
                self.sim.add_function(fn, own_worker=True)
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
        import asyncio

        from bullmq.lock_manager import LockManager

        assert self.loop is not None
        saved = {k: getattr(worker, k) for k in ("processor", "lockManager", "resume_event", "_client_name_set")}
        self.saved.append((worker, saved))
        self.originals[worker] = worker.processor
        worker.processor = self._wrap(worker, worker.processor)
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
                worker.running = False
            self.saved.clear()
            _patches.pop(self)
            self.installed = False

    def _wrap(self, worker: Any, processor: Any) -> Any:
        """The processor bullmq calls: the user's, with the job attributed (``CURRENT``) and ``sim.fail`` applied."""
        import asyncio

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
                return await processor(job, token, *signal)
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
        next iteration), or a job whose processor is busy in virtual time."""
        for q in self.store.queues.values():
            if q.qualified not in self.listened:
                continue
            if q.wait or q.prioritized:
                return True
            if self.orphans and any(o[0] == q.qualified and o[1] in q.active for o in self.orphans):
                return True
            if any("rjk" not in q.jobs[j].fields for j in q.delayed):
                return True
        return self.loop is not None and self.loop.job_timers()

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

    # -- what the store tells ------------------------------------------------------------------------
    def on_added(self, q: QueueState, rec: JobHash, job: Any, *, requeued: bool = False) -> None:
        fn = self._function(q.name)
        now = self.now_ns()
        data = {"queue": q.name, "name": rec.fields["name"], "id": rec.id, "data": _loads(rec.fields["data"]),
                "opts": rec.opts}  # fmt: skip
        run = Run(fn, rec.id, [Event("bullmq/job", data, id=f"{q.qualified}:{rec.id}", ts=now // MS)], now)
        cause = None if requeued else CURRENT.get()  # a kept duplicate is the add's, not the finishing job's
        if cause is not None:
            self.sim.engine.descend(run, cause=cause.run)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        self.jobs[(q.qualified, rec.id)] = Held(q, rec.id, run, scheduler=rec.fields.get("rjk"))
        origin = "add" if cause is None else f"{cause.run.function.id}#{runs_index(self.sim, cause.run)}"
        if rec.fields.get("rjk"):
            origin = f"job scheduler {rec.fields['rjk']!r}"
        if requeued:
            origin = f"deduplication {rec.fields.get('deid')!r} (the add kept while its job was active)"
        self.record("run.start", function=fn.id, run=rec.id, n=len(runs), event=origin)

    def on_duplicated(self, q: QueueState, job_id: str) -> None:
        self.record("bullmq.duplicated", function=q.name, run=job_id, queue=q.name)

    def on_deduplicated(self, q: QueueState, dedup_id: str, holder: str, other: str) -> None:
        """A ``deduplicated`` event: ``other`` (an add, or the delayed job ``replace`` removed) gave way to
        ``holder``."""
        self.record("bullmq.deduplicated", function=q.name, run=holder, queue=q.name, dedup=dedup_id, other=other)

    def on_replaced(self, q: QueueState, rec: JobHash) -> None:
        """A delayed job removed by a ``replace`` deduplication: its run ends, never having started."""
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self._cancel(held)

    def _cancel(self, held: Held) -> None:
        """A job removed before it finished: its run ends, cancelled."""
        if held.started is not None:
            self._end_attempt(held, JobFailed("the job was removed"))
        held.run.status = "cancelled"
        held.run.end_ns = self.now_ns()
        self.sim.trace.add(self.now_ns(), "run.end", {"function": held.run.function.id, "run": held.run.id,
                                                      "status": "cancelled"})  # fmt: skip

    def on_queued(self, q: QueueState, rec: JobHash, state: str, due: int | None) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        held.run.status = state if state in ("delayed", "waiting-children") else "queued"
        data: dict[str, Any] = {"function": held.run.function.id, "run": rec.id, "queue": q.name, "state": state,
                                "priority": rec.int("priority"), "listened": q.qualified in self.listened}  # fmt: skip
        if due is not None:
            data["due"] = due * MS
        self.record("bullmq.queued", **data)
        if not data["listened"] and q.qualified not in self.unread:
            read = sorted({w.qualifiedName for w in self.all_workers})
            if q.qualified not in read:  # no worker ever (one crashed is still a worker): say so once, typo or not
                self.unread.add(q.qualified)
                self.record("bullmq.unread", function=held.run.function.id, run=rec.id, queue=q.qualified, read=read)
        self.poke()  # work for the workers: the loop's next wake keeps run_until_idle busy

    def on_promoted(self, q: QueueState, rec: JobHash) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        if held.run.status == "delayed":
            held.run.status = "queued"

    def on_active(self, q: QueueState, rec: JobHash, token: str) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        held.started = self.now_ns()
        held.run.status = "running"

    def end_attempt(self, held: Held, error: BaseException | None) -> None:
        self._end_attempt(held, error)

    def _end_attempt(self, held: Held, error: BaseException | None) -> None:
        start = held.started if held.started is not None else self.now_ns()
        held.started = None
        run = held.run
        number = held.attempts
        held.attempts += 1
        if run.attempts and run.attempts[-1].error is not None and run.attempts[-1].error is not error:
            _release_frames(run.attempts[-1].error)
        run.attempts.append(Attempt(number, None, start, self.now_ns(), error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": number}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(start, "attempt", data)

    def _error(self, q: QueueState, rec: JobHash) -> BaseException:
        error = self.errors.pop((q.qualified, rec.id), None)
        return error if error is not None else JobFailed(str(rec.fields.get("failedReason") or "failed"))

    def on_finished(self, q: QueueState, rec: JobHash, target: str, value: str, at: int, *, gone: bool) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        run = held.run
        error = None if target == "completed" else self._error(q, rec)
        self._end_attempt(held, error)
        run.status = "completed" if target == "completed" else "failed"
        run.end_ns, run.error = self.now_ns(), error
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "status": run.status}
        if target == "completed":
            run._payload = value.encode()
        else:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(self.now_ns(), "run.end", data)

    def on_delayed(self, q: QueueState, rec: JobHash, due: int, *, skip: bool) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        now = self.now_ns()
        if skip:  # job.moveToDelayed + DelayedError: the attempt ends, it is not counted as one by BullMQ
            self._end_attempt(held, None)
            held.run.status = "delayed"
            self.record("bullmq.moved", function=held.run.function.id, run=rec.id, due=due * MS, state="delayed")
            return
        self._retry(held, q, rec, due * MS - now if due * MS > now else 0)

    def on_retried(self, q: QueueState, rec: JobHash, now: int) -> None:
        self._retry(self.jobs[(q.qualified, rec.id)], q, rec, 0)

    def _retry(self, held: Held, q: QueueState, rec: JobHash, delay: int) -> None:
        error = self._error(q, rec)
        attempt = held.attempts
        self._end_attempt(held, error)
        try:
            attempt_budget(held.run, self.now_ns(), "jobsim_bullmq.MAX_ATTEMPTS_PER_RUN",
                           jobsim_bullmq.MAX_ATTEMPTS_PER_RUN, noun="job", forever="a huge attempts",
                           bound="fewer attempts")
        except BudgetExceeded as exc:  # bullmq's worker would catch it: the pump re-raises it, as an escape
            self.escaped = exc
            asyncio.get_running_loop().stop()
            raise
        held.run.status = "retrying"
        now = self.now_ns()
        self.sim.trace.add(now, "retry", {"function": held.run.function.id, "run": rec.id, "step": None,
                                          "attempt": attempt, "at": now + delay, "delay": delay,
                                          "error": f"{type(error).__name__}: {error}"})  # fmt: skip

    def on_stalled(self, q: QueueState, rec: JobHash) -> None:
        self.orphans.discard((q.qualified, rec.id))
        held = self.jobs[(q.qualified, rec.id)]
        if held.started is not None:
            self._end_attempt(held, JobFailed("job stalled: its lock expired"))
        held.run.status = "queued"
        self.record("bullmq.stalled", function=held.run.function.id, run=rec.id, count=rec.int("stc"),
                    deferred=rec.fields.get("defa"))  # fmt: skip

    def on_removed(self, q: QueueState, rec: JobHash, why: str = "removeOnComplete/removeOnFail") -> None:
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.removed", function=held.run.function.id, run=rec.id, queue=q.name, why=why)
            if held.run.status not in ("completed", "failed", "cancelled"):
                self._cancel(held)

    def on_reprocessed(self, q: QueueState, rec: JobHash, state: str, how: str = "job.retry") -> None:
        """``job.retry()``, ``queue.retryJobs()``: the finished run is queued again; its next attempts follow the
        ones it had."""
        held = self.jobs[(q.qualified, rec.id)]
        held.run.status = "queued"
        held.run.end_ns = None
        self.record("bullmq.reprocessed", function=held.run.function.id, run=rec.id, queue=q.name, prev=state,
                    how=how)  # fmt: skip
        self.poke()

    def on_moved_to_wait(self, q: QueueState, rec: JobHash, state: str, how: str) -> None:
        """``queue.retryJobs()`` (a finished job) or ``queue.promoteJobs()`` (a delayed one) moved it to wait."""
        if state != "delayed":
            self.on_reprocessed(q, rec, state, how)
            return
        held = self.jobs[(q.qualified, rec.id)]
        self.on_promoted(q, rec)
        self.record("bullmq.reprocessed", function=held.run.function.id, run=rec.id, queue=q.name, prev=state,
                    how=how)  # fmt: skip
        self.poke()

    def on_priority(self, q: QueueState, rec: JobHash, priority: int, lifo: bool, moved: bool) -> None:
        """``job.changePriority()``: ``moved`` when the job was waiting and is re-queued with it."""
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.priority", function=held.run.function.id, run=rec.id, queue=q.name,
                        priority=priority, lifo=lifo, moved=moved)  # fmt: skip
        self.poke()

    def on_obliterated(self, q: QueueState) -> None:
        """``queue.obliterate()`` finished: the queue's keys are gone (it is no longer paused)."""
        self.record("bullmq.obliterated", queue=q.name)

    def on_drained(self, q: QueueState) -> None:
        pass

    def on_waiting_children(self, q: QueueState, rec: JobHash) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        self._end_attempt(held, None)
        held.run.status = "waiting-children"
        self.record("bullmq.moved", function=held.run.function.id, run=rec.id, state="waiting-children")

    def on_paused(self, q: QueueState, paused: bool) -> None:
        self.record("bullmq.paused" if paused else "bullmq.resumed", queue=q.name)

    def on_progress(self, q: QueueState, rec: JobHash, progress: Any) -> None:
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.progress", function=held.run.function.id, run=rec.id, progress=progress)

    def on_log(self, q: QueueState, job_id: str, row: str) -> None:
        held = self.jobs.get((q.qualified, job_id))
        if held is not None:
            self.record("bullmq.log", function=held.run.function.id, run=job_id, row=row)

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.now_ns(), kind, data)

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

    def job(self, job_id: str, queue: Any = None) -> Any:
        """A ``bullmq.Job`` read from the simulated Redis now (``Job.fromJSON``, as ``queue.getJob`` returns it); once
        the simulation has closed, its methods that would read Redis say so (``_patches._ClosedBackend``)."""
        from bullmq import Job

        from ._patches import _ClosedBackend

        q, rec = self._hash(str(job_id), queue)
        owner = next((w for w in self.all_workers if w.qualifiedName == q.qualified), None)
        if owner is None:
            raise InvalidArgument(f"queue {q.name!r} has no simulated worker; read its jobs with queue.getJob(id)")
        job = Job.fromJSON(owner, rec.raw(), rec.id)
        if not self.installed and not isinstance(job.backend, _ClosedBackend):
            job.backend = _ClosedBackend(job)
        return job

    def state(self, job_id: str, queue: Any = None) -> str:
        """``job.getState()`` now: ``waiting``, ``delayed``, ``prioritized``, ``active``, ``completed``... and, as
        ``getStateV2-8.lua`` answers for a job it finds nowhere, ``unknown`` for one that ran here and was removed
        since (``removeOnComplete``/``removeOnFail``, ``job.remove``); an id no job ever had is refused."""
        try:
            q, rec = self._hash(str(job_id), queue)
        except InvalidArgument:
            queues = [self._queue_state(queue).name] if queue is not None else list(self.functions)
            if any(run.id == str(job_id) for name in queues if name in self.functions
                   for run in self.sim.runs(self.functions[name])):  # fmt: skip
                return "unknown"
            raise
        return self.store.state(_Named(q), rec.id)

    def logs(self, job_id: str, queue: Any = None) -> list[str]:
        """The rows ``job.log(...)`` added, oldest first."""
        return list(self._hash(str(job_id), queue)[1].logs)

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

    if round(wake / MS) < due_ms:
        # the 10 s blocks, at once: each leaves the same sub-millisecond part, and while due - int(wake) >= 10 s
        # the block is min(..., 10 s) = 10 s (the loop below did them one by one: a job due in a day cost 8,640)
        wake += (due_ms - int(wake / MS)) // 10_000 * 10_000_000_000
    while round(wake / MS) < due_ms:
        delay_ms = due_ms - int(wake / MS)
        seconds = 0.001 if delay_ms < 1 else min(delay_ms / 1000, 10)
        wake += math.ceil(seconds) * 1_000_000_000
    return wake


def _release_frames(error: BaseException) -> None:
    """Clear the local variables of the finished frames in the traceback of an earlier attempt's error (and of
    its ``__cause__``/``__context__``): its text and traceback (file, line, code) stay, but its frames no longer
    hold that attempt's ``Job``, whose ``stacktrace`` list bullmq parsed with every earlier failure's trace. Kept,
    a job retried ``n`` times without ``stackTraceLimit`` held n(n-1)/2 traces (1.4 GB at 2,000 attempts)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # a frame still executing is skipped (RuntimeError, caught)
        todo += [exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())]


def runs_index(sim: Simulation, run: Run) -> int:
    return sim.runs(run.function).index(run) + 1


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # pragma: no cover - bullmq always writes JSON
        return text


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def not_simulated(what: str) -> JobsimError:
    return UnsupportedFeature(f"{what} is not simulated by jobsim-bullmq; see plugins/jobsim-bullmq/README.md "
                              "for what is", system="BullMQ", feature=what)  # fmt: skip
