"""One simulation's APScheduler side (``sim.apscheduler``): the schedulers it drives in virtual time.

A real ``BackgroundScheduler`` runs ``_main_loop`` in a thread: wait ``wait_seconds`` on a
``threading.Event``, call ``_process_jobs``, repeat (``schedulers/blocking.py:67-75``).
Here nothing starts a thread and nothing waits in real time: the scheduler's ``wakeup`` and
the wait ``_process_jobs`` returns become timers on jobsim's kernel, and at each of them the
scheduler's own ``_process_jobs`` runs (``schedulers/base.py:1140-1266``) with the wall clock
(``datetime.now(tz)``, which it and the executors read) on the virtual instant. So these are
APScheduler's code, not a re-implementation:

* which run times are due, and coalescing them to the last one (``job._get_run_times``,
  ``job.py:141-155``; ``base.py:1191-1193``);
* the next fire time of every trigger (``get_next_fire_time``: cron ``triggers/cron/__init__.py:212-262``,
  interval ``triggers/interval.py:75-91``, date), with its DST behaviour and its jitter --
  whose ``random.uniform`` draws come from the simulation's seed;
* ``max_instances``: ``BaseExecutor.submit_job`` counts instances at submission and raises
  ``MaxInstancesReachedError``, which ``_process_jobs`` turns into ``EVENT_JOB_MAX_INSTANCES``
  (``executors/base.py:58-75``, ``base.py:1198-1211``);
* the misfire check and the call of the job function: ``run_job`` (``executors/base.py:106-158``),
  ``EVENT_JOB_MISSED`` when ``now - run_time > misfire_grace_time``;
* events and listeners: ``_dispatch_event`` (``base.py:1025-1042``), at the virtual instant they happen.

What stands in for threads is the executor (``_executor.SimulatedPoolExecutor``): a job runs
on one of ``max_workers`` simulated pool threads; its body runs in one go when it starts and
spends virtual time with ``time.sleep``, so the instance stays running -- and counts against
``max_instances`` -- until its virtual end, when its events are dispatched.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._events import Event
from jobsim._kernel import BACKGROUND, NORMAL, URGENT
from jobsim._records import Attempt, Run
from jobsim._steps import Execution
from jobsim._time import MS, SECOND, iso, to_datetime
from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import Adapted, escapes, output_bytes, refusing_handler

from ._executor import SimulatedPoolExecutor

if TYPE_CHECKING:
    from jobsim import Simulation

BACKEND = "apscheduler"
README = "plugins/jobsim-apscheduler/README.md"
REAL_CLOCK_WINDOW = dt.timedelta(minutes=10)  # see ``_rebase``
# scheduler -> the pending jobs ``_restore`` gave back to it, each with the dates of it that ``_rebase`` found
# on the real clock ("trigger", "next_run_time"): see ``_drop_replaced`` and ``_rebase``
_GIVEN_BACK: weakref.WeakKeyDictionary[Any, list[tuple[Any, frozenset[str]]]] = weakref.WeakKeyDictionary()

# The scheduler methods that read the clock or change the schedule: called from the test, they run
# with the wall clock on the virtual instant; called from job code, only before it spent virtual time.
CLOCKED = ("add_job", "modify_job", "reschedule_job", "pause_job", "resume_job", "remove_job", "remove_all_jobs",
           "pause", "resume")  # fmt: skip


class Driven:
    """One scheduler the simulation drives: its wakeup timer and what it replaced on the instance."""

    def __init__(self, world: APSWorld, scheduler: Any) -> None:
        self.world = world
        self.scheduler = scheduler
        self.wake: Any = None  # the kernel timer of the next ``_process_jobs``
        self.wake_at: int | None = None
        self.keepalive: Any = None  # a one-off timer at the next date-trigger run: run_until_idle waits for it
        self.saved_executors: dict[str, Any] = {}
        # as the scheduler was given (``_restore``): its pending jobs (copies), its executors and job stores
        self.saved_pending = [(_clone(job), store, replace) for job, store, replace in scheduler._pending_jobs]
        self.originals = [job for job, _store, _replace in scheduler._pending_jobs]  # as saved_pending
        self.real_clock: dict[int, frozenset[str]] = {}  # id(original) -> its dates _rebase moved
        self.given_back: list[tuple[Any, frozenset[str]]] = []  # what the last simulation gave back (_GIVEN_BACK)
        self.saved_jobstores = dict(scheduler._jobstores)


class APSWorld:
    """``sim.apscheduler``: the APScheduler schedulers of one simulation."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.driven: list[Driven] = []
        self.app = jobsim.App("apscheduler")
        self.functions: dict[str, jobsim.Function] = {}
        self.owner: dict[str, Driven] = {}  # function id -> the scheduler whose job it is
        self.rng = random.Random(f"jobsim-apscheduler:{sim.seed}")
        self.ids = random.Random(f"jobsim-apscheduler-ids:{sim.seed}")
        self.installed = False

    def new_uuid(self) -> uuid.UUID:
        """``uuid4()`` for the id of a job added without one (``job.py:65``), drawn from the simulation's seed."""
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    # -- adapting --------------------------------------------------------------------------
    def adopt(self, scheduler: Any) -> Adapted:
        from apscheduler.schedulers.base import STATE_STOPPED
        from apscheduler.schedulers.blocking import BlockingScheduler

        kind = type(scheduler).__name__
        if any(d.scheduler is scheduler for d in self.driven):
            raise InvalidArgument(f"the APScheduler {kind} {scheduler!r} is passed to this Simulation twice")
        if not isinstance(scheduler, BlockingScheduler):
            raise UnsupportedFeature(
                f"jobsim-apscheduler drives BackgroundScheduler and BlockingScheduler; got a {kind}, whose event "
                f"loop or reactor ({kind}) it does not simulate. Build the scheduler under test as a "
                "BackgroundScheduler with the same jobs (see " + README + ")",
                system=BACKEND, feature=kind,
            )  # fmt: skip
        if scheduler.state != STATE_STOPPED:
            raise InvalidArgument(
                f"the APScheduler {kind} passed to jobsim.Simulation is already running (scheduler.start() was "
                "called): its thread would fire jobs in real time. Pass it before starting it -- the simulation "
                "starts it in virtual time when it starts -- or shut it down first"
            )
        _drop_replaced(scheduler)
        driven = Driven(self, scheduler)
        driven.given_back = _GIVEN_BACK.pop(scheduler, [])
        for alias, store in scheduler._jobstores.items():
            self._check_jobstore(scheduler, alias, store)
        for alias, executor in list(scheduler._executors.items()):
            driven.saved_executors[alias] = executor
            self._simulated_executor(alias, executor)  # refused here, before the simulation starts
        self.driven.append(driven)
        # jobs waiting for start(), and those a scheduler that ran before (in an earlier simulation) keeps in its store
        known = [job for job, _store, _replace in scheduler._pending_jobs]
        known += [job for store in scheduler._jobstores.values() for job in store.get_all_jobs()]
        functions = [self.declare(driven, job, adopting=True) for job in {job.id: job for job in known}.values()]
        return Adapted(backend=BACKEND, functions=functions, install=self.install, uninstall=self.uninstall,
                       profile="apscheduler", own_worker=True, dynamic=True)  # fmt: skip

    def _check_jobstore(self, scheduler: Any, alias: str, store: Any) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore

        if type(store) is not MemoryJobStore:
            raise UnsupportedFeature(
                f"job store {alias!r} of the APScheduler scheduler is a {type(store).__name__}: jobsim-apscheduler "
                "simulates the in-memory job store only (a database job store would write to the real database). "
                "Configure the scheduler under test with jobstores={'default': MemoryJobStore()} (the default)",
                system=BACKEND, feature=type(store).__name__,
            )  # fmt: skip

    def _simulated_executor(self, alias: str, executor: Any) -> SimulatedPoolExecutor:
        """A ``ThreadPoolExecutor(max_workers)`` becomes a simulated pool of as many threads; others are refused."""
        from apscheduler.executors.pool import ThreadPoolExecutor

        if isinstance(executor, SimulatedPoolExecutor):
            return executor
        if type(executor) is not ThreadPoolExecutor:
            raise UnsupportedFeature(
                f"executor {alias!r} of the APScheduler scheduler is a {type(executor).__name__}: "
                "jobsim-apscheduler simulates ThreadPoolExecutor (the default) only -- a process pool would pickle "
                "jobs into other processes and run them in real time. Configure the scheduler under test with "
                f"executors={{{alias!r}: ThreadPoolExecutor(max_workers)}}",
                system=BACKEND, feature=type(executor).__name__,
            )  # fmt: skip
        return SimulatedPoolExecutor(self, alias, executor._pool._max_workers, executor)

    # -- install / uninstall ----------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from . import _patches

        _patches.push(self)
        self.installed = True
        for driven in self.driven:
            self._patch(driven)
        with self.clock():
            for driven in self.driven:
                self._rebase(driven)
                driven.scheduler.start()  # our start: BaseScheduler.start, no thread

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler

        from . import _patches

        for driven in self.driven:
            scheduler = driven.scheduler
            try:
                if scheduler.state != STATE_STOPPED:
                    with self.clock():
                        BaseScheduler.shutdown(scheduler, wait=False)
            except Exception:  # uninstall never raises
                pass
            for name in (*CLOCKED, "wakeup", "start", "shutdown", "_create_default_executor", "add_executor",
                         "add_jobstore", "_real_add_job"):  # fmt: skip
                scheduler.__dict__.pop(name, None)
            self._restore(driven)
            for timer in (driven.wake, driven.keepalive):
                if timer is not None:
                    self.sim.kernel.cancel(timer)
        _patches.pop(self)
        self.installed = False

    def _restore(self, driven: Driven) -> None:
        """Leave the scheduler as it was given: stopped, with the jobs it had waiting for ``start()``.

        ``shutdown()`` empties a memory job store (``jobstores/memory.py:77-78``), so a real scheduler
        that is shut down forgets its jobs; a module-level scheduler (``@scheduler.scheduled_job``)
        used by one test after another would then have none. So the jobs go back to ``_pending_jobs``
        as they were before this simulation (copies taken then: next run times and triggers unset by
        it), and so do the executors and job stores; executors and stores ``start()`` made are dropped.
        """
        scheduler = driven.scheduler
        scheduler._pending_jobs[:] = [(_clone(job), store, replace) for job, store, replace in driven.saved_pending]
        moved = [driven.real_clock.get(id(original), frozenset()) for original in driven.originals]
        given_back = [entry[0] for entry in scheduler._pending_jobs]
        _GIVEN_BACK[scheduler] = list(zip(given_back, moved, strict=True))
        scheduler._executors.clear()
        scheduler._executors.update(driven.saved_executors)
        scheduler._jobstores.clear()
        scheduler._jobstores.update(driven.saved_jobstores)

    def _patch(self, driven: Driven) -> None:
        """Instance attributes shadow the scheduler's methods while the simulation runs (other schedulers,
        and this one after the simulation, are untouched)."""
        from apscheduler.schedulers.base import BaseScheduler

        scheduler = driven.scheduler
        for alias, executor in list(scheduler._executors.items()):
            scheduler._executors[alias] = self._simulated_executor(alias, executor)
        own = scheduler.__dict__
        for name in CLOCKED:
            own[name] = self._clocked(driven, name, getattr(scheduler, name))
        own["wakeup"] = lambda: self.wakeup(driven)
        own["start"] = self._clocked(driven, "start", lambda paused=False: BaseScheduler.start(scheduler, paused))
        own["shutdown"] = self._clocked(driven, "shutdown", lambda wait=True: self.shutdown(driven, wait))
        own["_create_default_executor"] = lambda: SimulatedPoolExecutor(self, "default", 10, None)
        add_executor, add_jobstore = scheduler.add_executor, scheduler.add_jobstore
        real_add_job = scheduler._real_add_job

        def add_executor_(executor: Any, alias: str = "default", **executor_opts: Any) -> None:
            if not isinstance(executor, str):  # a plugin alias is built by APScheduler, then checked
                executor = self._simulated_executor(alias, executor)
            add_executor(executor, alias, **executor_opts)
            made = scheduler._executors.get(alias)
            if made is not None and not isinstance(made, SimulatedPoolExecutor):
                scheduler._executors[alias] = self._simulated_executor(alias, made)
                scheduler._executors[alias].start(scheduler, alias)

        def add_jobstore_(jobstore: Any, alias: str = "default", **jobstore_opts: Any) -> None:
            if not isinstance(jobstore, str):
                self._check_jobstore(scheduler, alias, jobstore)
            elif jobstore != "memory":
                raise UnsupportedFeature(f"add_jobstore({jobstore!r}): jobsim-apscheduler simulates the 'memory' job "
                                         "store only", system=BACKEND, feature=f"jobstore {jobstore}")  # fmt: skip
            add_jobstore(jobstore, alias, **jobstore_opts)

        def real_add_job_(job: Any, jobstore_alias: str, replace_existing: bool) -> None:
            self.declare(driven, job)
            real_add_job(job, jobstore_alias, replace_existing)

        own["add_executor"], own["add_jobstore"], own["_real_add_job"] = add_executor_, add_jobstore_, real_add_job_

    def clock(self) -> Any:
        """The wall-clock bridge for a call made from the test: ``datetime.now()`` reads the virtual instant."""
        return _Clock(self.sim)

    def _clocked(self, driven: Driven, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            x = self.sim.engine.x
            if x is not None and x.now > self.sim.kernel.now:
                raise UnsupportedFeature(
                    f"scheduler.{name}() was called from job code of {x.run_.function.id!r} after it spent virtual "
                    f"time (it started at {iso(self.sim.kernel.now)} and is at {iso(x.now)}): jobsim runs a job's "
                    "body in one go when it starts, so a change to the schedule made after a time.sleep would take "
                    f"effect too early. Call scheduler.{name}() before the job sleeps, or from the test",
                    system=BACKEND, feature=f"{name} after sleep",
                )  # fmt: skip
            with self.clock():
                return method(*args, **kwargs)

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    def _rebase(self, driven: Driven) -> None:
        """Jobs added before the simulation started read the *real* clock where APScheduler reads it at
        construction: ``IntervalTrigger``'s default ``start_date = datetime.now(tz) + interval``
        (``triggers/interval.py:69``), ``DateTrigger``'s default ``run_date = datetime.now(tz)``
        (``triggers/date.py:24``), and a ``next_run_time=datetime.now()`` passed to ``add_job``. Such an
        instant (within ``REAL_CLOCK_WINDOW`` before the real now) is moved to the simulation's start, as
        if the scheduler had been built then; any other date is the user's and is left alone.

        A job given back by an earlier simulation (``_restore``) keeps its date from the real clock however
        long ago that was: a module-level scheduler imported at the start of a 20-minute test run is
        rebased in its last test as in its first (``_GIVEN_BACK``)."""
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        from jobsim._wallclock import WallClock

        real = WallClock.real_now()
        start = to_datetime(self.sim.kernel.now)

        def from_real_clock(when: Any) -> bool:
            return isinstance(when, dt.datetime) and real - REAL_CLOCK_WINDOW <= when <= real

        known = {id(job): kinds for job, kinds in driven.given_back}
        for job, _store, _replace in driven.scheduler._pending_jobs:
            trigger, kinds, moved = job.trigger, known.get(id(job), frozenset()), set()
            if isinstance(trigger, IntervalTrigger) and (
                "trigger" in kinds or from_real_clock(trigger.start_date - trigger.interval)
            ):
                trigger.start_date = (start + trigger.interval).astimezone(trigger.timezone)
                moved.add("trigger")
            elif isinstance(trigger, DateTrigger) and ("trigger" in kinds or from_real_clock(trigger.run_date)):
                trigger.run_date = start.astimezone(trigger.run_date.tzinfo)
                moved.add("trigger")
            next_run_time = getattr(job, "next_run_time", None)
            if isinstance(next_run_time, dt.datetime) and ("next_run_time" in kinds or from_real_clock(next_run_time)):
                job.next_run_time = start.astimezone(next_run_time.tzinfo)
                moved.add("next_run_time")
            if moved:
                driven.real_clock[id(job)] = frozenset(moved)

    # -- the scheduler's main loop, on the kernel ---------------------------------------------
    def wakeup(self, driven: Driven) -> None:
        """``scheduler.wakeup()`` (``blocking.py:74-75``: set the event the main loop waits on): process now."""
        self._wake_at(driven, self.sim.now_ns(), recurring=False)  # one-off work: run_until_idle waits for it

    def _wake_at(self, driven: Driven, at: int, *, recurring: bool = True) -> None:
        wake = driven.wake
        if (
            driven.wake_at is not None
            and driven.wake_at <= at
            and not wake.cancelled
            and (recurring or not wake.recurring)
        ):
            return  # an earlier (or as early) turn is pending, and keeps run_until_idle waiting if this would
        if wake is not None and not wake.cancelled:
            self.sim.kernel.cancel(wake)
            at = min(at, wake.due)  # never later than the turn it replaces
        driven.wake_at = at
        # URGENT: at one instant the scheduler's loop runs before a job's end (on a real one the end is late)
        driven.wake = self.sim.kernel.schedule(at, self._process, driven, at, owner="apscheduler scheduler",
                                               priority=URGENT, recurring=recurring)  # fmt: skip

    def _process(self, driven: Driven, at: int) -> None:
        """One turn of ``_main_loop``: ``wait_seconds = self._process_jobs()``, then wait that long (None: until
        a ``wakeup``), ``blocking.py:67-72``."""
        if driven.wake_at != at:
            return
        driven.wake = driven.wake_at = None
        self.sim.wallclock.move(self.sim.kernel.now)
        wait_seconds = driven.scheduler._process_jobs()
        self._keep_alive(driven)
        if wait_seconds is not None:
            self._wake_at(driven, self._next_wakeup(driven, wait_seconds))

    def _next_wakeup(self, driven: Driven, wait_seconds: float) -> int:
        """The instant ``_process_jobs`` means by ``wait_seconds``: its ``next_wakeup_time``, exactly.

        3.11 computes the wait as ``next_wakeup_time.timestamp() - now.timestamp()`` (``base.py:1256-1259``):
        two floats near 1.7e9 s, so the difference is off by up to ~0.25 µs -- rounded up, a run due at
        09:00:00 would start at 09:00:00.000001 whenever the scheduler last woke at a fraction of a second
        (after a jittered run, say). So the wakeup is the earliest next run time of the job stores -- the
        ``next_wakeup_time`` it came from (``base.py:1237-1242``) -- when the float agrees with it to the
        millisecond; otherwise (the wait capped at ``TIMEOUT_MAX``) the float, rounded up to a microsecond."""
        now = self.sim.kernel.now
        due = [store.get_next_run_time() for store in driven.scheduler._jobstores.values()]
        exact = min((_ns(d) for d in due if d is not None), default=None)
        wait_ns = round(wait_seconds * SECOND)
        if exact is not None and abs(max(exact, now) - (now + wait_ns)) < MS:
            return max(exact, now)
        return now + -(-wait_ns // 1000) * 1000

    def _keep_alive(self, driven: Driven) -> None:
        """A one-off timer at the next run of a date-triggered job: ``run_until_idle`` waits for a one-time
        job as for any pending work (the scheduler's own wakeups, like cron ticks, do not keep it busy)."""
        from apscheduler.triggers.date import DateTrigger

        if driven.keepalive is not None:
            self.sim.kernel.cancel(driven.keepalive)
            driven.keepalive = None
        due = [job.next_run_time for job in driven.scheduler.get_jobs()
               if isinstance(job.trigger, DateTrigger) and job.next_run_time is not None]  # fmt: skip
        if due:
            at = _ns(min(due))  # exactly: float timestamp() * 1e6, truncated, was a microsecond early after 2038
            driven.keepalive = self.sim.kernel.schedule(at, _nothing, owner="apscheduler date job", priority=BACKGROUND)

    def shutdown(self, driven: Driven, wait: bool) -> None:
        """``scheduler.shutdown()`` from the test or job code: ``BaseScheduler.shutdown`` (no thread to join);
        running jobs finish and dispatch their events, as a thread pool's do."""
        from apscheduler.schedulers.base import BaseScheduler

        BaseScheduler.shutdown(driven.scheduler, wait)
        for timer in (driven.wake, driven.keepalive):
            if timer is not None:
                self.sim.kernel.cancel(timer)
        driven.wake = driven.wake_at = driven.keepalive = None

    # -- the executor's threads ----------------------------------------------------------------
    def submitted(self, ex: SimulatedPoolExecutor, job: Any, run_times: list[Any]) -> None:
        """``pool.submit(run_job, ...)``: a free thread takes it at once, else it waits for one (FIFO)."""
        if ex.busy < ex.max_workers:
            ex.busy += 1
            self.sim.kernel.schedule(self.sim.now_ns(), self._thread_runs, ex, job, list(run_times), 0, [],
                                     owner=f"{job.id} (apscheduler job)")  # fmt: skip
        else:
            ex.waiting.append((job, list(run_times)))

    def _thread_runs(self, ex: SimulatedPoolExecutor, job: Any, run_times: list[Any], i: int,
                     events: list[Any]) -> None:  # fmt: skip
        """``run_job`` (``executors/base.py:106-158``) for ``run_times[i]``; the next one when this one ends.

        ``run_job`` loops over the run times in one thread; here each is its own call of it, at the
        instant the previous one ended, so every run starts at a kernel instant."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
        from apscheduler.executors.base import run_job

        sim, engine = self.sim, self.sim.engine
        now = sim.kernel.now
        sim.wallclock.move(now)
        run_time = run_times[i]
        fn = self.functions[job.id]
        run = self._new_run(fn, job, run_time, now)
        x = Execution(engine, run, 0, now)
        # sim.fail(job_id) queued: the run raises it, if it runs (not missed); else the job as it is, so an
        # error's traceback (event.traceback, the log) has no jobsim frame
        faulted = _Faulted(job, engine, fn.id) if engine.faults.get((fn.id, None)) else None
        engine.x = x
        try:
            out = run_job(faulted or job, job._jobstore_alias, [run_time], ex._logger.name)
        finally:
            engine.x = None
        fault = faulted.fault if faulted is not None else None
        end = x.now
        engine.move_clock(end)
        event = out[0]
        error = getattr(event, "exception", None)
        if event.code == EVENT_JOB_ERROR and error is not fault and error is not None and escapes(error):
            raise error  # jobsim's own errors (a budget, a refused call) stop the test
        events.extend(out)
        if event.code == EVENT_JOB_EXECUTED or event.code == EVENT_JOB_ERROR:
            run.attempts.append(Attempt(0, None, now, end, error))
            data: dict[str, Any] = {"function": fn.id, "run": run.id, "step": None, "attempt": 0}
            if error is not None:
                data["error"] = f"{type(error).__name__}: {error}"
            sim.trace.add(now, "attempt", data)
            status = "completed" if error is None else "failed"
            if error is None and event.retval is not None:
                run._payload = output_bytes(event.retval)
        else:  # EVENT_JOB_MISSED: run_job skipped it
            status = "skipped"
            late = to_datetime(now) - run_time
            reason = (f"missed: started {late.total_seconds():g} s after its run time "
                      f"{iso(_ns(run_time))}, past misfire_grace_time={job.misfire_grace_time} s")  # fmt: skip
            data_ = run.event.data
            assert isinstance(data_, dict)
            data_["skipped"], data_["reason"] = "missed", reason
            sim.trace.add(now, "apscheduler.missed", {"function": fn.id, "run": run.id, "run_time": _ns(run_time),
                                                      "late": round(late.total_seconds(), 6),
                                                      "grace": job.misfire_grace_time})  # fmt: skip
        run.status = "running"
        sim.kernel.schedule(end, self._run_ended, ex, job, run_times, i, events, run, status, error,
                            owner=f"{job.id} (apscheduler job)", priority=NORMAL)  # fmt: skip

    def _run_ended(self, ex: SimulatedPoolExecutor, job: Any, run_times: list[Any], i: int, events: list[Any],
                   run: Run, status: str, error: BaseException | None) -> None:  # fmt: skip
        sim = self.sim
        now = sim.kernel.now
        sim.wallclock.move(now)
        run.status, run.end_ns, run.error = status, now, error
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "status": status}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        sim.trace.add(now, "run.end", data)
        if i + 1 < len(run_times):
            self._thread_runs(ex, job, run_times, i + 1, events)
            return
        ex.done(job.id, events)  # the future's done callback: instances -= 1, then the listeners
        ex.busy -= 1
        if ex.waiting:
            waiting_job, waiting_times = ex.waiting.pop(0)
            ex.busy += 1
            self._thread_runs(ex, waiting_job, waiting_times, 0, [])

    def skipped(self, job: Any, run_times: list[Any]) -> None:
        """``EVENT_JOB_MAX_INSTANCES`` (``base.py:1198-1211``): each run time skipped, as a ``skipped`` run."""
        fn = self.functions.get(job.id)
        if fn is None:
            return
        now, max_instances = self.sim.kernel.now, job.max_instances
        for run_time in run_times:
            run = self._new_run(fn, job, run_time, now)
            reason = f"skipped: maximum number of running instances reached ({max_instances})"
            data_ = run.event.data
            assert isinstance(data_, dict)
            data_["skipped"], data_["reason"] = "max_instances", reason
            run.status, run.end_ns = "skipped", now
            self.sim.trace.add(
                now,
                "apscheduler.max_instances",
                {"function": fn.id, "run": run.id, "run_time": _ns(run_time), "max": max_instances},
            )
            self.sim.trace.add(now, "run.end", {"function": fn.id, "run": run.id, "status": "skipped"})

    # -- runs -------------------------------------------------------------------------------------
    def declare(self, driven: Driven, job: Any, *, adopting: bool = False) -> jobsim.Function:
        """The jobsim function of APScheduler job ``job_id`` (``sim.runs(job_id)``), declared on first sight
        (the jobs added before the simulation are given to it with ``Adapted.functions``: ``adopting``).
        Its ``native`` is the job's function, so ``sim.runs(func)`` finds the first job that runs ``func``."""
        job_id = job.id
        fn = self.functions.get(job_id)
        if fn is not None:
            if self.owner[job_id] is not driven:
                raise InvalidArgument(f"APScheduler job id {job_id!r} is used by two schedulers in this simulation; "
                                      "jobsim names runs by job id: give the jobs different ids")  # fmt: skip
            return fn
        fn = jobsim.Function(id=job_id, handler=_not_an_event_handler(job_id), app=self.app,
                             options={"apscheduler": True, "native": getattr(job, "func", None)})  # fmt: skip
        self.app.functions[job_id] = fn
        self.functions[job_id] = fn
        self.owner[job_id] = driven
        if not adopting:
            self.sim.add_function(fn, own_worker=True)
        return fn

    def _new_run(self, fn: jobsim.Function, job: Any, run_time: dt.datetime, now: int) -> Run:
        runs = self.sim.engine.runs[fn.id]
        run_id = f"{fn.id}#{len(runs) + 1}"
        data = {"job_id": fn.id, "run_time": run_time.isoformat(), "trigger": str(job.trigger) if job else None}
        run = Run(fn, run_id, [Event("apscheduler/job", data, id=run_id, ts=now // MS)], now)
        run.status = "running"
        runs.append(run)
        self.sim.trace.add(now, "run.start", {"function": fn.id, "run": run_id, "n": len(runs),
                                              "event": f"run time {iso(_ns(run_time))}"})  # fmt: skip
        return run

    def job(self, job_id: str) -> Any:
        """The APScheduler ``Job`` of ``job_id`` now (``scheduler.get_job``), or ``InvalidArgument``."""
        for driven in self.driven:
            job = driven.scheduler.get_job(job_id)
            if job is not None:
                return job
        raise InvalidArgument.build("job_id", job_id, "the id of a job scheduled in this simulation")

    def __repr__(self) -> str:
        return f"<jobsim-apscheduler world: {len(self.driven)} scheduler(s), jobs {sorted(self.functions)}>"


class _Clock:
    """``with``: the wall-clock bridge around one call (nested bridges do nothing: inside a driving call it is on)."""

    __slots__ = ("sim",)

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def __enter__(self) -> None:
        self.sim.wallclock.activate()

    def __exit__(self, *exc: object) -> None:
        self.sim.wallclock.deactivate()


class _Faulted:
    """The job as ``run_job`` sees it: when it calls the job's function, a ``sim.fail(job_id, error)`` queued
    for it is taken and raised in its place. Taken there, not before ``run_job``: a run that misses its
    grace time never calls the function (``executors/base.py:117-127``), and must not use up the fault."""

    def __init__(self, job: Any, engine: Any, function_id: str) -> None:
        self._job = job
        self._engine = engine
        self._function_id = function_id
        self.fault: BaseException | None = None

    def func(self, *args: Any, **kwargs: Any) -> Any:
        self.fault = self._engine.take_fault(self._function_id, None)
        if self.fault is not None:
            raise self.fault
        return self._job.func(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


def _clone(job: Any) -> Any:
    """A copy of an APScheduler ``Job`` (``__slots__``, ``job.py:43-59``) with its own copy of its trigger."""
    import copy

    twin = object.__new__(type(job))
    for name in type(job).__slots__:
        if name != "__weakref__" and hasattr(job, name):
            setattr(twin, name, getattr(job, name))
    twin.trigger = copy.copy(job.trigger)
    return twin


def _drop_replaced(scheduler: Any) -> None:
    """A job given back by the last simulation (``_restore``) yields to a job added since with its id.

    A real ``shutdown()`` forgets every job, so a test that adds ``id="report"`` to a module-level
    scheduler before its simulation works in every test; given back, the first test's ``report``
    would meet the next test's at ``start()`` as ``ConflictingIdError`` (``memory.py:37-39``).
    The job added last is the one the test means: the one given back is dropped."""
    given_back = {id(job) for job, _kinds in _GIVEN_BACK.get(scheduler, [])}
    if not given_back:
        return
    added = {job.id for job, _store, _replace in scheduler._pending_jobs if id(job) not in given_back}
    scheduler._pending_jobs[:] = [entry for entry in scheduler._pending_jobs
                                  if id(entry[0]) not in given_back or entry[0].id not in added]  # fmt: skip


def _ns(when: dt.datetime) -> int:
    """An aware datetime (microseconds) as epoch ns, exactly."""
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * 1000


def _nothing() -> None:
    pass


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(f"APScheduler job {name!r} runs on its scheduler's triggers, not through jobsim events")
