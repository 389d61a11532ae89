"""One simulation's RQ side (``sim.rq``): the queues its workers listen to, its jobs, their schedulers.

RQ keeps everything in Redis and runs jobs in worker processes. Here, while the
simulation runs, the few ``Queue``/``Job`` methods that talk to Redis are replaced
(``_patches``) and simulated workers with ``--with-scheduler`` run the jobs in virtual
time: one reading the queues given, or those ``jobsim_rq.Worker`` targets describe
(``_pool.py`` says who takes which job and when each cleans its registries; ``_crash.py``
what a killed work horse or a lost worker leaves behind). RQ's own code still does the
rest: ``Queue.enqueue``/``enqueue_call``/``enqueue_at``/``enqueue_in`` parse arguments
and build the ``Job`` (``Queue.create_job``, so ``job_timeout``, ``retry``,
``on_success``/``on_failure`` and bad values are RQ's), ``Job.perform`` calls the
function, ``Job.retry`` decides retries with its own interval rule
(``Job.get_retry_interval``, rq 3.0.0 ``rq/job.py:1760-1773``).

What the worker does is RQ 3.0.0's ``BaseWorker.perform_job`` (``rq/worker/base.py:1651-1678``),
redone on the virtual clock (``_execution.RQExecution`` stops it where RQ would); the two ways out
of it, ``_finalize_success`` (``:1582-1620``) and ``_finalize_failure`` (``:1622-1649``), and when
Redis expires a job's key (``ttl`` while it waits, ``result_ttl``/``failure_ttl`` after it ends) are
``_lifecycle.py``; what the forking ``Worker`` does when a ``stop-job`` command kills the work horse
(``_stopped``), and ``Job.cancel``, are ``_stop.py``; jobs deferred on their dependencies or scheduled
for a time (``Queue.schedule_job`` and the worker's scheduler) are ``_waiting.py``. All three are mixins
of ``RQWorld``: one object is ``sim.rq``, split where its rules are read apart.
What RQ keeps besides the job hash -- registries and result streams -- is logged in ``_store.py`` as
the worker writes it and read at the reader's instant; the test's own calls on queues, registries
and jobs (``queue.count``, ``requeue``, ``job.delete()``) are ``_admin.py``.
Each rule below cites where it comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import random
import uuid
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

import jobsim
from jobsim._checks import keywords_checked
from jobsim._events import Event
from jobsim._records import Run
from jobsim._time import MS, to_datetime
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, escapes, note_test_enqueue, refusing_handler

from . import _closed
from ._execution import NULL
from ._execution import HorseKilled as HorseKilled  # re-exported: _store.py and _crash.py import these from here
from ._execution import RQExecution as RQExecution
from ._lifecycle import Lifecycle
from ._patches import check_retry_intervals
from ._pool import Line, Pool, Settings
from ._stop import Stopping
from ._store import HEARTBEAT, Store
from ._unread import Unconsumed
from ._waiting import Waiting

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._pool import SimWorker
    from ._spec import Worker

BACKEND = "rq"
WORKER_NAME = "jobsim-rq"


@dataclasses.dataclass(eq=False)
class Held:
    """One RQ job in the simulation: the ``Job`` the user holds, the queue it belongs to, its run."""

    job: Any
    queue: Any
    run: Run
    calls: int = 0  # attempts made
    due: int | None = None  # when the scheduler queues it, while it is scheduled
    due_timer: Any = None  # the scheduler's timer for ``due``
    running_until: int | None = None  # the end of its last execution, if that spent virtual time
    expires_at: int | None = None  # when Redis expires its key (``EXPIRE``), while an expiry is set
    expiry: Any = None  # the kernel timer of ``expires_at``
    gone_at: int | None = None  # when RQ deleted its key (expired, or ``result_ttl=0``): from then on it is gone
    gone_why: str = ""
    result_read: bool = False  # ``return_value()`` returned its value once: RQ caches the ``Result`` on the Job
    running_from: int | None = None  # the start of its last execution
    stop_plan: int | None = None  # a stop-job command planned for this instant (``sim.rq.stop``)


class RQWorld(Stopping, Lifecycle, Waiting, Unconsumed):
    """``sim.rq``: the queues of one simulation and the workers that read them (``_pool.py``), each with its
    scheduler; one worker reading the queues given in order unless ``jobsim_rq.Worker`` targets say more."""

    def __init__(self, sim: Simulation) -> None:
        from ._crash import Crashes

        self.sim = sim
        self.listen: list[str] = []  # queue names in the order the worker reads them (``rq worker high low``)
        self.specs: list[Worker] = []  # ``jobsim_rq.Worker`` targets (then ``listen`` stays empty)
        self.queues: dict[str, Any] = {}
        self.waiting: dict[str, Line] = {}  # the queues some worker reads
        self.jobs: dict[str, Held] = {}
        self.app = jobsim.App("rq")
        self.functions: dict[str, jobsim.Function] = {}
        self.ids = random.Random(f"jobsim-rq-ids:{sim.seed}")
        self.pool = Pool(self)
        self.crashes = Crashes(self)
        self.installed = False
        self.executing: Held | None = None
        self.executing_worker: SimWorker | None = None
        self.show_workers = False  # several named workers: attempts and the timeline say which one ran a job
        self.dependents: dict[str, list[Held]] = {}  # job id -> deferred jobs waiting for it, in enqueue order
        self.store = Store(self)  # registries and result streams, as logs read at an instant (``_store.py``)
        self.unread: dict[str, Line] = {}  # the lists of queues no simulated worker reads

    # -- adapting --------------------------------------------------------------------------
    def adopt(self, queue: Any) -> Adapted:
        name = queue.name
        if self.specs:
            raise _mixed(queue)
        if name in self.queues:
            raise InvalidArgument(f"RQ queue {name!r} is passed to this Simulation twice")
        _check_async(queue)
        _closed.reopen(queue)  # a closed simulation's refusals (``_closed``): this one takes the queue's calls
        self.queues[name] = queue
        self.listen.append(name)
        self.waiting[name] = Line()
        return self._adapted()

    def adopt_worker(self, spec: Worker) -> Adapted:
        """A ``jobsim_rq.Worker`` target: ``spec.count`` workers reading ``spec.queues`` in that order."""
        if self.listen:
            raise _mixed(spec)
        for queue in spec.queues:
            if not isinstance(queue, str):
                _check_async(queue)
                _closed.reopen(queue)
        unnamed = sum(s.count for s in self.specs if s.name is None)
        taken = set(self.pool.names())
        names = spec.names(unnamed)
        for name in names:
            if name in taken:
                raise InvalidArgument(f"two simulated RQ workers are named {name!r}; give each Worker(name=...) "
                                      "its own name")  # fmt: skip
        settings = Settings(spec.maintenance_interval, spec.job_monitoring_interval, spec.worker_ttl)
        for name in names:
            self.pool.add(name, list(spec.queue_names), settings)
        for queue in spec.queues:
            qname = queue if isinstance(queue, str) else queue.name
            self.queues.setdefault(qname, queue)
            self.waiting.setdefault(qname, Line())
        self.specs.append(spec)
        self.show_workers = True
        return self._adapted()

    def _adapted(self) -> Adapted:
        return Adapted(backend=BACKEND, functions=[], install=self.install, uninstall=self.uninstall,
                       profile="rq", own_worker=True, dynamic=True, naming="by its module and name")  # fmt: skip

    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from . import _patches

        if not self.pool.workers:  # Simulation(queue, ...): one worker reading them in the order given
            self.pool.add(WORKER_NAME, self.listen, Settings())
        self.pool.assign_locks()

        _patches.push(self)
        self.installed = True

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from . import _patches

        _patches.pop(self)
        self.installed = False
        for held in self.jobs.values():  # what RQ would read of them now is in no Redis: say so, not ConnectionError
            held.job.connection = _Closed(held.job.id, held.job.connection)
        _closed.refuse_after(self._queue_objects(), sim)  # an enqueue after the close would reach the real Redis

    def _queue_objects(self) -> list[Any]:
        """The ``Queue`` objects this simulation ran: those it was given, and those jobs were enqueued through."""
        from rq.queue import Queue

        found = {id(q): q for q in [*self.queues.values(), *(h.queue for h in self.jobs.values())]}
        return [q for q in found.values() if isinstance(q, Queue)]

    # -- what the patches call -------------------------------------------------------------
    def new_id(self) -> str:
        """A job id as RQ makes one (``str(uuid4())``, ``rq/job.py``), drawn from the simulation's seed."""
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def now(self) -> dt.datetime:
        """``rq.utils.now()`` (UTC-aware) on the virtual clock: the running job's clock, else the simulation's."""
        return to_datetime(self.sim.now_ns())

    def run_coroutine(self, main: Any, *, debug: bool | None = None) -> Any:
        """``asyncio.run(coroutine)`` in ``Job._execute`` (``rq/job.py:1540-1541``): an ``async def`` job.

        For the job this worker is executing, the coroutine runs on jobsim's virtual event loop
        (``jobsim._aio.VirtualLoop``, the one jobsim drives ``async def`` handlers on): when it
        would wait for its next timer (``asyncio.sleep``, ``asyncio.wait_for``), the job's clock
        moves by exactly that wait, so the worker stays busy for it and ``job_timeout`` fires at
        its virtual deadline. As on a worker, where ``SIGALRM`` interrupts the loop's
        ``select``, the ``JobTimeoutException`` leaves the loop and the coroutine's pending
        tasks are cancelled (``asyncio.run``'s clean-up), the job's own included.

        Each run gets a new loop, closed after it, as ``asyncio.run`` makes one per job: a job
        whose horse was killed (``stop-job``) leaves tasks that must never run again, not even
        during the next job. They are closed at the kill instant (their ``finally`` blocks run,
        as for the job's own code) and dropped with their loop. Anything else -- a test calling
        ``job.perform()`` itself -- gets the real ``asyncio.run``.
        """
        if self.executing is None or self.sim.engine.x is None:
            return asyncio.run(main, debug=debug)
        from jobsim._aio import VirtualLoop

        loop = VirtualLoop(self.sim.now_ns, self.sim.consume)
        outer = asyncio.events._get_running_loop()
        try:
            return loop.drive(main)
        finally:
            asyncio.events._set_running_loop(outer)  # drive skips this when its clean-up raises (a dead horse)
            for task in asyncio.all_tasks(loop):
                task._log_destroy_pending = False  # type: ignore[attr-defined]  # abandoned on purpose
                with contextlib.suppress(RuntimeError):  # a finally awaiting while closed stops there
                    task.get_coro().close()
            loop.close()

    def owns(self, job: Any) -> bool:
        held = self.jobs.get(job.id) if job._id is not None else None
        return held is not None and held.job is job

    def check_job(self, job: Any, queue: Any, *, pipeline: Any, unique: bool, what: str) -> None:
        """Refuse what the simulated worker does not model, naming the option, before anything is recorded."""
        check_retry_intervals(job, queue)
        unsupported: list[tuple[str, str]] = []  # (what, the fix)
        if pipeline is not None:
            unsupported.append(("a Redis pipeline (pipeline=, or Queue.enqueue_many which uses one)",
                                "enqueue without pipeline="))  # fmt: skip
        if unique:
            unsupported.append(("unique=True", "drop unique=True"))
        if job.has_rate_limit:
            unsupported.append(("rate_limit=", "drop rate_limit="))
        if job.webhooks:
            unsupported.append(("webhooks=", "drop webhooks="))
        if not queue._is_async:
            unsupported.append(("a queue built with is_async=False",
                                "build the queue with is_async=True (the default): the simulation is the worker "
                                "that runs its jobs"))  # fmt: skip
        if unsupported:
            raise UnsupportedFeature(
                f"{what} of {job.func_name!r} on RQ queue {queue.name!r} uses {', '.join(w for w, _ in unsupported)}, "
                f"which jobsim-rq does not simulate: {'; '.join(fix for _, fix in unsupported)} (see "
                "plugins/jobsim-rq/README.md for what is modelled)"
            )

    def enqueue(self, queue: Any, job: Any, *, at_front: bool, pipeline: Any = None, unique: bool = False) -> Any:
        """``Queue.enqueue_job``: a new job goes on the queue now (``rq/queue.py:1254-1290``)."""
        self.check_job(job, queue, pipeline=pipeline, unique=unique, what="enqueue")
        job.origin = queue.name
        held = self._hold(queue, job)
        waiting_for = self._unmet(job)
        if waiting_for:
            self._defer(held, waiting_for)
            return job
        self.push(queue, job, at_front=at_front)
        return job

    def enqueue_many(self, queue: Any, job_datas: Any, *, pipeline: Any, group_id: Any) -> list[Any]:
        """``Queue.enqueue_many`` (``rq/queue.py:889-986``): the jobs without dependencies are queued first, in
        order; then every job with dependencies is created and saved ``deferred`` before any is checked (so one
        that depends on a later one of the same call waits for it), and those whose dependencies are met are
        queued (at the front with ``at_front`` or ``Dependency(enqueue_at_front=True)``). Returned as RQ returns
        them: the jobs without dependencies, then those still deferred, then those queued."""
        if pipeline is not None or group_id is not None:
            what, model = (("pipeline", "Redis pipelines") if pipeline is not None
                           else ("group_id", "RQ's job groups (rq.group.Group)"))  # fmt: skip
            raise UnsupportedFeature(
                f"Queue.enqueue_many({what}=...) on RQ queue {queue.name!r}: jobsim-rq does not simulate {model}; "
                "call enqueue_many without it", system="rq", feature=f"enqueue_many({what}=)",
            )  # fmt: skip
        datas = list(job_datas)  # may be a one-shot iterable
        _check_enqueue_data(queue, datas)
        ids = [data.job_id for data in datas if data.job_id is not None]
        for job_id in ids:
            if ids.count(job_id) > 1:  # RQ's own check: both would be saved to one key
                raise ValueError(f"Job ID '{job_id}' appears more than once in enqueue_many()")
        alone = [queue.enqueue_job(queue.create_job(**_job_kwargs(data, JobStatus.QUEUED)), at_front=data.at_front)
                 for data in datas if not data.depends_on]  # fmt: skip
        waiting = [(queue.create_job(**_job_kwargs(data, JobStatus.DEFERRED)), data) for data in datas
                   if data.depends_on]  # fmt: skip
        held = []
        for job, _ in waiting:
            self.check_job(job, queue, pipeline=None, unique=False, what="enqueue_many")
            job.origin = queue.name
            held.append(self._hold(queue, job))
        unmet, met = [], []
        for one, (job, data) in zip(held, waiting, strict=True):
            waiting_for = self._unmet(job)
            if waiting_for:
                self._defer(one, waiting_for)
                unmet.append(job)
            else:
                self.push(queue, job, at_front=job.enqueue_at_front or data.at_front)
                met.append(job)
        return [*alone, *unmet, *met]

    def push(self, queue: Any, job: Any, *, at_front: bool) -> Any:
        """``Queue._enqueue_job``: status ``queued``, ``enqueued_at`` now, at the back or the front
        (``rq/queue.py:1359-1400``)."""
        held = self.jobs[job.id]
        note_test_enqueue(self.sim, held.run)  # the test's enqueue only queues, as sim.send's (PendingWorkWarning)
        job.origin = queue.name
        job.enqueued_at = self.now()
        if job.timeout is None:
            job.timeout = queue._default_timeout
        job._status = JobStatus.QUEUED
        line = self.waiting.get(queue.name)
        self.record("rq.enqueue", function=held.run.function.id, run=job.id, queue=queue.name, at_front=at_front,
                    listened=line is not None)  # fmt: skip
        self._cleanup_ttl(held)  # _persist_job: job.cleanup(ttl=job.ttl) (rq/queue.py:1409, 1440)
        now = self.sim.now_ns()
        if self.executing is held:  # Job.retry's _persist_job saves the worker's Job, meta and all
            self.store.save_meta(now, job, whole_job=True)
        # the scheduler (rq/scheduler.py:262-266) and a released dependent (rq/registry.py:546-563) leave their registry
        self.store.remove(now, queue.name, "scheduled", job.id)
        self.store.remove(now, queue.name, "deferred", job.id)
        if line is None:  # no simulated worker reads this queue: the job stays queued, as with no worker in RQ
            self.unread.setdefault(queue.name, Line()).push(held, now, self.sim.kernel.now, front=at_front)
            return job
        line.push(held, now, self.sim.kernel.now, front=at_front)
        self.pool.wake(now)
        return job

    # -- runs --------------------------------------------------------------------------------
    def _hold(self, queue: Any, job: Any) -> Held:
        # Job.save (enqueue, schedule, defer) writes RQ's `data` field: the serializer's dump of (func_name,
        # instance, args, kwargs), rq/job.py:615-631. Arguments it cannot serialize raise here, as there.
        job.data  # noqa: B018
        if job.id in self.jobs:
            gone = self.gone(self.jobs[job.id])
            raise InvalidArgument(
                f"RQ job id {job.id!r} is enqueued twice in this simulation; job ids must be unique"
                + (" (RQ would take it: the first job's key is gone, but jobsim-rq names each run by its job id)"
                   if gone else "")
            )  # fmt: skip
        fn = self._function(job)
        now = self.sim.now_ns()
        data = {"func": job.func_name, "id": job.id, "queue": queue.name, "args": repr(job.args),
                "kwargs": repr(job.kwargs)}  # fmt: skip
        run = Run(fn, job.id, [Event("rq/job", data, id=job.id, ts=now // MS)], now)
        cause = None if self.executing is None else self.executing.run
        if cause is not None:  # a job that enqueues itself forever stops after max_chain runs
            self.sim.engine.descend(run, cause=cause)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        held = self.jobs[job.id] = Held(job, queue, run)
        self.store.save_meta(now, job, whole_job=True)  # Job.save at enqueue (rq/queue.py:1397-1409)
        origin = "enqueue" if cause is None else f"{cause.function.id}#{self.sim.runs(cause.function).index(cause) + 1}"
        self.record("run.start", function=fn.id, run=job.id, n=len(runs), event=origin)
        return held

    def _function(self, job: Any) -> jobsim.Function:
        """The jobsim function for RQ's ``job.func_name`` (``module.qualname``), declared on first use."""
        name = job.func_name
        fn = self.functions.get(name)
        if fn is None:
            native = _resolve(job)
            fn = jobsim.Function(id=name, handler=_not_an_event_handler(name), app=self.app,
                                 options={"rq": True, "native": native})  # fmt: skip
            self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
            self.app.functions[name] = fn
            self.functions[name] = fn
        return fn

    # -- the worker ----------------------------------------------------------------------------
    def _perform(self, worker: SimWorker, held: Held) -> int:
        """``BaseWorker.perform_job`` (``rq/worker/base.py:1651-1678``) on ``worker``; returns when it is free."""
        from rq.timeouts import JobTimeoutException

        job, run = held.job, held.run
        engine = self.sim.engine
        start = self.sim.kernel.now
        x = RQExecution(engine, run, held.calls, start)
        if held.stop_plan is not None and held.stop_plan >= start:
            x.kill(held.stop_plan)  # sim.rq.stop(job, at=...): the command reaches the worker while this runs
        if self.crashes.plans:
            self.crashes.arm(worker, held, x)  # a crash planned for while it runs
        # sim.fail(func): this attempt fails with it (not one whose horse dies before its code runs)
        fault = None if x.killed else engine.take_fault(run.function.id, None)
        held.calls += 1
        job.prepare_for_execution(worker.name, NULL)  # started_at, STARTED (rq/job.py:1512-1526)
        self.store.add(start, held.queue.name, "started", job.id, HEARTBEAT)  # prepare_execution (executions.py)
        self._persist(held)  # prepare_job_execution: pipeline.persist(job.key) (rq/worker/base.py:1390)
        run.status = "running"
        held.running_from, held.running_until = start, None
        if self.show_workers:
            self.record("rq.dequeue", function=run.function.id, run=job.id, worker=worker.name, queue=held.queue.name)
        # rq/worker/base.py:1668: timeout = job.timeout or Queue.DEFAULT_TIMEOUT (180 s)
        timeout = job.timeout or held.queue.DEFAULT_TIMEOUT
        x.arm(timeout, lambda: JobTimeoutException(f"Task exceeded maximum timeout value ({timeout} seconds)"))
        engine.x = x
        engine.move_clock(start)
        self.executing, self.executing_worker = held, worker
        # the worker runs the Job it fetched (Job.fetch in Worker.dequeue_job_and_maintain_ttl): the meta saved by
        # now, not the test's Job's own (which sees what the job saves on refresh()/get_meta(): _patches.py)
        mine, job.meta = job.meta, self.store.meta(job, start)
        try:
            try:
                try:
                    if x.killed:  # a crash planned before it started: the horse dies before the job's code runs
                        raise HorseKilled()
                    if fault is not None:
                        raise fault
                    value = _perform_fetched(job)
                except BaseException as exc:  # perform_job's bare except (rq/worker/base.py:1677)
                    if x.killed:
                        raise HorseKilled() from None  # whatever the body did after: the process is dead
                    if exc is not fault and escapes(exc):
                        raise
                    self._failure(held, x, exc)
                else:
                    if x.killed:  # the body caught HorseKilled and returned: the process is dead all the same
                        raise HorseKilled()
                    self._success(held, x, value)
            except HorseKilled:  # in the body or in a callback it ran (the horse runs both)
                if not x.killed:
                    raise  # raised by job code itself, not by a kill: not ours to interpret
                job.meta = self.store.meta(job, start)  # the worker's own Job, fetched before the horse forked
                if x.kill_reason == "stop":
                    self._stopped(held, x)
                else:
                    self.crashes.died(worker, held, x)
        finally:
            engine.x = None
            self.executing = self.executing_worker = None
            job.meta = mine
        if x.now > start:  # the job spent virtual time: until then, the test sees it running
            held.running_until = x.now
            final, attempts = run.status, len(run.attempts)
            run.status = "running"
            self.sim.kernel.schedule(x.now, self._reported, held, final, attempts, owner=f"{job.func_name} (running)")
        return x.now

    def _reported(self, held: Held, status: str, attempts: int) -> None:
        """The end of an execution that spent virtual time: its outcome becomes visible."""
        if len(held.run.attempts) == attempts and held.run.status == "running":
            held.run.status = status

    def status(self, job: Any) -> Any:
        """``job.get_status()`` as a reader at this instant sees it: ``started`` while an execution spends
        virtual time (the body ran in one go; its outcome is known early but not yet visible)."""
        held = self.jobs[job.id]
        if held.running_until is not None and self.executing is not held and self.sim.now_ns() < held.running_until:
            return JobStatus.STARTED
        return job._status

    def line(self, queue: str) -> Line:
        """The Redis list of ``queue``: the one workers read, or one only reads look at."""
        line = self.waiting.get(queue)
        return line if line is not None else self.unread.setdefault(queue, Line())

    def execution_id(self, job_id: str, n: int) -> str:
        """The id of the ``n``-th execution of a job (``Execution.create``: ``uuid4().hex``,
        ``rq/executions.py:93-99``), drawn from the simulation's seed, the job id and ``n``: the same seed gives
        the same ids, and nothing is drawn for a simulation that never reads one."""
        return uuid.UUID(int=random.Random(f"jobsim-rq-execution:{self.sim.seed}:{job_id}:{n}").getrandbits(128),
                         version=4).hex  # fmt: skip

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.sim.now_ns(), kind, data)

    # -- for tests ------------------------------------------------------------------------------
    @keywords_checked("sim.rq.crash_worker()")
    def crash_worker(self, at: Any = None, function: Any = None, *, worker: str | None = None, kind: str = "worker",
                     restart: Any = 0) -> None:  # fmt: skip
        """Kill a worker at ``at`` (default: now), as ``sim.crash_worker`` does, with RQ's options (``_crash.py``).

        Which worker: ``worker`` (a name; it dies at ``at`` even if idle), else the one running a job of
        ``function`` (any job if ``None``) across ``at``, else the first such job to start at or after
        ``at``, which dies before its code runs. ``kind="worker"``: the worker, its work horse and its
        scheduler die; the job stays ``started`` until a maintenance run finds it abandoned; a new
        worker starts ``restart`` later (a duration; ``None``: none does). ``kind="horse"``: only the
        work horse dies; the worker fails the job (or retries it) at once. Job bodies run in one go
        when they start, so plan the crash before the job starts.
        """
        self.refuse_closed("sim.rq.crash_worker()")
        self.crashes.plan(at, function, worker=worker, kind=kind, restart=restart)

    @property
    def workers(self) -> list[str]:
        """The names of the live simulated workers, in the order they were given (replacements last)."""
        return [w.name for w in self.pool.alive()]

    @keywords_checked("sim.rq.job()")
    def job(self, job_id: str) -> Any:
        """The ``rq.job.Job`` of ``job_id`` in this simulation; once RQ's key for it is gone (``ttl``,
        ``result_ttl``, ``failure_ttl``), ``NoSuchJobError`` as ``Job.fetch`` raises."""
        held = self.jobs.get(job_id)
        if held is None:
            raise InvalidArgument.build("job_id", job_id, "the id of a job enqueued in this simulation")
        if self.gone(held):  # as Job.fetch: NoSuchJobError('No such job: rq:job:<id>') (rq/job.py:1084)
            from rq.exceptions import NoSuchJobError

            raise NoSuchJobError(f"No such job: {held.job.key} ({self.missing(held)})")
        if self.executing is not held:  # read from the job's hash, as Job.fetch does: the meta saved by now
            held.job.meta = self.store.meta(held.job, self.sim.now_ns())
        return held.job

    def __repr__(self) -> str:
        return f"<jobsim-rq world: queues {list(self.waiting)}, workers {self.workers}, {len(self.jobs)} jobs>"


def _check_async(queue: Any) -> None:
    if not queue._is_async:
        raise UnsupportedFeature(
            f"RQ queue {queue.name!r} was built with is_async=False: such a queue runs each job in the caller, with "
            "no worker, no retry and no scheduler (rq/queue.py:1482-1508); jobsim simulates the worker, so pass a "
            "queue built with is_async=True (the default)"
        )


def _mixed(target: Any) -> InvalidArgument:
    return InvalidArgument(
        f"Simulation() got both RQ queues and jobsim_rq.Worker targets ({target!r}): pass queues (one worker reads "
        "them, in that order) or Worker(...)s (each reads its own queues), not both; a queue no Worker reads can "
        "still be enqueued on (its jobs stay queued)"
    )


def _check_enqueue_data(queue: Any, datas: list[Any]) -> None:
    from rq.queue import EnqueueData

    for index, data in enumerate(datas):
        if not isinstance(data, EnqueueData):
            raise InvalidArgument.build(f"Queue.enqueue_many() on RQ queue {queue.name!r}: job_datas[{index}]", data,
                                        "what Queue.prepare_data(func, args, kwargs, ...) returns, one per job")


def _job_kwargs(data: Any, status: Any) -> dict[str, Any]:
    """``Queue.create_job`` arguments of an ``EnqueueData`` (``Queue.prepare_data``), as ``enqueue_many`` passes
    them."""
    fields = ("func", "args", "kwargs", "result_ttl", "ttl", "failure_ttl", "description", "depends_on", "job_id",
              "meta", "retry", "on_success", "on_failure", "on_stopped", "webhooks", "repeat")  # fmt: skip
    return {**{name: getattr(data, name) for name in fields}, "timeout": data.timeout, "status": status}


class _Closed:
    """The connection of a simulated job once its simulation has closed: RQ reads a job's state from Redis
    (``get_status()``, ``return_value()``, ``latest_result()``, ``refresh()``), and this one's is nowhere --
    redis-py would retry a server that may not exist, or read a real Redis that never had the job."""

    __slots__ = ("_job_id", "_original")

    def __init__(self, job_id: str, original: Any) -> None:
        self._job_id = job_id
        self._original = original

    def __getattr__(self, name: str) -> Any:
        raise JobsimError(
            f"RQ job {self._job_id} belongs to a simulation that has closed, and RQ would read it from Redis "
            f"(connection.{name}): read it inside the `with` block, or what the Job you hold last saw with "
            "job.get_status(refresh=False), or its run in sim.runs(...)"
        )

    def __repr__(self) -> str:
        return f"<closed simulation's stand-in for {self._original!r}>"


def _perform_fetched(job: Any) -> Any:
    """``job.perform()`` as the worker's ``Job``, fetched from Redis, runs it: on the arguments (and instance) read
    back from the ``data`` saved at enqueue (``Job.restore`` -> ``_deserialize_data``, ``rq/job.py:602-612``), so the
    job sees what the serializer kept (a copy; JSON's lists for tuples, ``str`` keys), not the enqueuer's objects
    or later changes to them. The ``Job`` the test holds keeps its own, as the enqueuer's does."""
    _, instance, args, kwargs = job.serializer.loads(job.data)
    own = job._instance, job._args, job._kwargs
    job._instance, job._args, job._kwargs = instance, args, kwargs
    try:
        return job.perform()
    finally:
        job._instance, job._args, job._kwargs = own


def _resolve(job: Any) -> Any:
    """The callable RQ will call (``Job.func``: the instance's method, or ``import_attribute(func_name)``,
    ``rq/job.py:527-537``); if RQ cannot import it (each attempt then fails, as on a worker), the callable the job
    was made from, so that ``sim.runs(local_function)`` finds its runs, or None for a dotted path."""
    try:
        return job.func
    except Exception:
        return getattr(job, "_jobsim_callable", None)  # a local function the test passed: sim.runs(it) finds it


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(f"RQ job function {name!r} runs through a queue (queue.enqueue), not through jobsim events")
