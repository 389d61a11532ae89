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
  whose ``random.uniform`` draws come from the job's own stream of the seed (``_draws``);
* ``max_instances``: ``BaseExecutor.submit_job`` counts instances at submission and raises
  ``MaxInstancesReachedError``, which ``_process_jobs`` turns into ``EVENT_JOB_MAX_INSTANCES``
  (``executors/base.py:58-75``, ``base.py:1198-1211``);
* the misfire check and the call of the job function: ``run_job`` (``executors/base.py:106-158``),
  ``EVENT_JOB_MISSED`` when ``now - run_time > misfire_grace_time``;
* events and listeners: ``_dispatch_event`` (``base.py:1025-1042``), at the virtual instant they happen.

What stands in for threads is the executor (``_executor.SimulatedPoolExecutor``): a job runs
on one of ``max_workers`` simulated pool threads (``_runs.JobRuns``, which also records every
run); its body runs in one go when it starts and spends virtual time with ``time.sleep``, so the
instance stays running -- and counts against ``max_instances`` -- until its virtual end, when its
events are dispatched.

An ``AsyncIOScheduler`` runs on an asyncio loop that jobsim's kernel drives (``_loop.SchedulerLoop``,
``_asyncio.AsyncSide``): there its wakeups, its ``AsyncIOExecutor`` and its coroutine jobs are
APScheduler's code on that loop, not timers of this module.

This module adapts the schedulers and declares their jobs' functions; installing, the main loop on
the kernel and giving each scheduler back are ``APSWorld``'s lower layer (``_driving``).
"""

from __future__ import annotations

import difflib
import random
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._checks import keywords_checked
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, Escaped, Unread, held_by, refusing_handler

from ._draws import Draws
from ._driving import _GIVEN_BACK, BACKEND, _check_executor, _Driving, _drop_replaced
from ._driving import Driven as Driven  # re-exported: _asyncio imports it from here
from ._executor import SimulatedAsyncIOExecutor, SimulatedPoolExecutor
from ._triggers import check_trigger
from ._unread import NoExecutor

if TYPE_CHECKING:
    from jobsim import Simulation

README = "plugins/jobsim-apscheduler/README.md"
# The schedulers of other event loops and reactors, by module: refused naming what they run on
FOREIGN = {"apscheduler.schedulers.gevent": "gevent hub", "apscheduler.schedulers.tornado": "Tornado IOLoop",
           "apscheduler.schedulers.twisted": "Twisted reactor",
           "apscheduler.schedulers.qt": "Qt event loop"}  # fmt: skip


# jobsim's downtime and crash faults are the engine's; an outage of the scheduler's process is played with its own calls
DOWN = ("for a scheduler that was down, call scheduler.pause() at the outage's start and scheduler.resume() at its "
        "end, between driving calls: on resume APScheduler finds every run time missed meanwhile and applies "
        "coalesce and misfire_grace_time to them, as a scheduler restarted on a persistent job store does (jobs "
        "already running go on; see 'A machine that was down' in plugins/jobsim-apscheduler/README.md)")


class APSWorld(_Driving, NoExecutor):
    """``sim.apscheduler``: the APScheduler schedulers of one simulation."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.driven: list[Driven] = []
        self.app = jobsim.App("apscheduler")
        self.functions: dict[str, jobsim.Function] = {}
        self.owner: dict[str, Driven] = {}  # function id -> the scheduler whose job it is
        self.refusal: UnsupportedFeature | None = None  # from a RefusedExecutor, raised after _process_jobs
        # a jobsim error APScheduler logged (a listener's): _Driving.keep
        self.escaped = Escaped(sim, "apscheduler: a jobsim error a listener raised")
        self.natives: list[_JobFunc] = []  # the job functions, each with the ids of the jobs that run it
        self.rng = random.Random(f"jobsim-apscheduler:{sim.seed}")  # jitter no driven job's (``_draws``)
        self.ids = random.Random(f"jobsim-apscheduler-ids:{sim.seed}")  # job ids, under random_streams="shared"
        self.draws = Draws(self)
        self.installed = False
        self.closing = False  # uninstall: a job cut short now is neither an error nor a run that ended
        self.aio: Any = None  # ``_asyncio.AsyncSide``, while an AsyncIOScheduler is driven
        self.unconsumed: list[Unread] = []  # jobs removed unrun: due on an executor alias no executor has

    # -- adapting --------------------------------------------------------------------------
    def adopt(self, scheduler: Any) -> Adapted:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.schedulers.base import STATE_STOPPED
        from apscheduler.schedulers.blocking import BlockingScheduler

        kind = type(scheduler).__name__
        if any(d.scheduler is scheduler for d in self.driven):
            raise InvalidArgument(f"the APScheduler {kind} {scheduler!r} is passed to this Simulation twice")
        runs_on = next((FOREIGN[c.__module__] for c in type(scheduler).__mro__ if c.__module__ in FOREIGN), None)
        if runs_on is not None or not isinstance(scheduler, BlockingScheduler | AsyncIOScheduler):
            raise UnsupportedFeature(
                f"jobsim-apscheduler drives BackgroundScheduler, BlockingScheduler and AsyncIOScheduler; got a {kind}, "
                f"whose {runs_on or 'event loop'} it does not simulate. Build the scheduler under test as an "
                "AsyncIOScheduler (async def jobs) or a BackgroundScheduler with the same jobs (see " + README + ")",
                system=BACKEND, feature=kind,
            )  # fmt: skip
        if scheduler.state != STATE_STOPPED:
            _refuse_held(scheduler)
            raise InvalidArgument(
                f"the APScheduler {kind} passed to jobsim.Simulation is already running (scheduler.start() was "
                f"called): {'its event loop' if isinstance(scheduler, AsyncIOScheduler) else 'its thread'} would "
                "fire jobs in real time. Pass it before starting it -- the simulation "
                "starts it in virtual time when it starts -- or shut it down first"
            )
        _drop_replaced(scheduler)
        driven = Driven(self, scheduler)
        driven.given_back = _GIVEN_BACK.pop(scheduler, [])
        for alias, store in scheduler._jobstores.items():
            self._check_jobstore(scheduler, alias, store)
        for alias, executor in list(scheduler._executors.items()):
            driven.saved_executors[alias] = executor
            try:
                self._simulated_executor(driven, alias, executor)  # checked here, before the simulation starts
            except UnsupportedFeature as refused:
                if alias == "default":  # every job without executor= runs there
                    raise
                driven.refused[alias] = refused  # a process pool configured beside the threads: only its jobs
        # jobs waiting for start(), and those a scheduler that ran before (in an earlier simulation) keeps in its store
        known = [job for job, _store, _replace in scheduler._pending_jobs]
        known += [job for store in scheduler._jobstores.values() for job in store.get_all_jobs()]
        for job in known:
            _check_executor(driven, job)
            check_trigger(job.id, job.trigger)
        self.driven.append(driven)
        functions = [self.declare(driven, job, adopting=True) for job in {job.id: job for job in known}.values()]
        return Adapted(backend=BACKEND, functions=functions, install=self.install, uninstall=self.uninstall,
                       profile="apscheduler", own_worker=True, dynamic=True, fault_hint=DOWN,
                       naming="by its job's id")  # fmt: skip

    def _check_jobstore(self, scheduler: Any, alias: str, store: Any) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore

        if type(store) is not MemoryJobStore:
            raise UnsupportedFeature(
                f"job store {alias!r} of the APScheduler scheduler is a {type(store).__name__}: jobsim-apscheduler "
                "simulates the in-memory job store only (a database job store would write to the real database). "
                "Configure the scheduler under test with jobstores={'default': MemoryJobStore()} (the default)",
                system=BACKEND, feature=type(store).__name__,
            )  # fmt: skip

    def _simulated_executor(self, driven: Driven, alias: str, executor: Any) -> Any:
        """A ``ThreadPoolExecutor(max_workers)`` becomes a simulated pool of as many threads, an ``AsyncIOExecutor``
        (on an ``AsyncIOScheduler``, the only one it can start on) a fresh one on jobsim's loop; others are refused."""
        from apscheduler.executors.asyncio import AsyncIOExecutor
        from apscheduler.executors.pool import ThreadPoolExecutor

        if isinstance(executor, SimulatedPoolExecutor | SimulatedAsyncIOExecutor):
            return executor
        if type(executor) is ThreadPoolExecutor:
            return SimulatedPoolExecutor(self, alias, executor._pool._max_workers, executor)
        if type(executor) is AsyncIOExecutor and driven.is_async:
            return SimulatedAsyncIOExecutor(self, alias, executor)
        kinds = "ThreadPoolExecutor and AsyncIOExecutor (the defaults)" if driven.is_async else (
            "ThreadPoolExecutor (the default)")  # fmt: skip
        raise UnsupportedFeature(
            f"executor {alias!r} of the APScheduler scheduler is a {type(executor).__name__}: jobsim-apscheduler "
            f"simulates {kinds} only -- a process pool would pickle jobs into other processes and run them in "
            f"real time. Configure the scheduler under test with executors={{{alias!r}: "
            "ThreadPoolExecutor(max_workers)}" + (" or AsyncIOExecutor()" if driven.is_async else ""),
            system=BACKEND, feature=type(executor).__name__,
        )  # fmt: skip

    def owns(self, job: Any) -> bool:
        """``job`` is a job of a scheduler this simulation drives."""
        driven = self.owner.get(getattr(job, "id", None))  # type: ignore[arg-type]
        return driven is not None and driven.scheduler is getattr(job, "_scheduler", None)

    # -- runs -------------------------------------------------------------------------------------
    def declare(self, driven: Driven, job: Any, *, adopting: bool = False) -> jobsim.Function:
        """The jobsim function of APScheduler job ``job_id`` (``sim.runs(job_id)``), declared on first sight
        (the jobs added before the simulation are given to it with ``Adapted.functions``: ``adopting``).
        Its ``native`` stands for the job's function, so ``sim.runs(func)`` finds the job that runs ``func``
        (and, when several jobs run it, says so: ``_JobFunc``)."""
        job_id = job.id
        fn = self.functions.get(job_id)
        if fn is not None:
            if self.owner[job_id] is not driven:
                raise InvalidArgument(f"APScheduler job id {job_id!r} is used by two schedulers in this simulation; "
                                      "jobsim names runs by job id: give the jobs different ids")  # fmt: skip
            return fn
        fn = jobsim.Function(id=job_id, handler=_not_an_event_handler(job_id), app=self.app,
                             options={"apscheduler": True, "native": self._native(job_id, job)})  # fmt: skip
        if not adopting:
            self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
        self.app.functions[job_id] = fn
        self.functions[job_id] = fn
        self.owner[job_id] = driven
        return fn

    def _native(self, job_id: str, job: Any) -> _JobFunc | None:
        func = getattr(job, "func", None)
        if func is None:
            return None
        native = next((n for n in self.natives if n.func is func or n.func == func), None)
        if native is None:
            native = _JobFunc(func)
            self.natives.append(native)
        native.job_ids.append(job_id)
        return native

    @keywords_checked("sim.apscheduler.job()")
    def job(self, job_id: str) -> Any:
        """The APScheduler ``Job`` of ``job_id`` now (``scheduler.get_job``), or ``InvalidArgument``."""
        for driven in self.driven:
            job = driven.scheduler.get_job(job_id)
            if job is not None:
                return job
        raise InvalidArgument.build("job_id", job_id, self._no_job(job_id))

    def _no_job(self, job_id: Any) -> str:
        """Why ``job_id`` names no job now: one that ran here and is gone, or one never scheduled (close match)."""
        now = sorted(job.id for driven in self.driven for job in driven.scheduler.get_jobs())
        listed = f"the scheduled jobs now: {', '.join(map(repr, now)) or 'none'}"
        if job_id in self.functions:
            return (f"that job was scheduled in this simulation but is no longer in its scheduler (APScheduler removes "
                    f"a job whose trigger has no next fire time -- a date trigger once it fired, an end_date passed "
                    f"-- and remove_job() removes one); its runs are in sim.runs({job_id!r}); {listed}")
        close = difflib.get_close_matches(str(job_id), [*now, *self.functions], n=1, cutoff=0.6)
        meant = f" (did you mean {close[0]!r}?)" if close else ""
        return f"the id of a job scheduled in this simulation{meant}; {listed}"

    def __repr__(self) -> str:
        return f"<jobsim-apscheduler world: {len(self.driven)} scheduler(s), jobs {sorted(self.functions)}>"


class _JobFunc:
    """``options["native"]`` of a job's function: equal to the job's function, so ``sim.runs(func)`` and
    ``sim.fail(func, ...)`` find its job -- unless several jobs run that function (one function added with
    different ``args``, say), where naming it is ambiguous: then the comparison raises ``InvalidArgument``
    naming the job ids to use instead (jobsim would otherwise take the first job's runs for all of them)."""

    __slots__ = ("func", "job_ids")

    def __init__(self, func: Any) -> None:
        self.func = func
        self.job_ids: list[str] = []

    def __eq__(self, other: object) -> bool:
        if other is not self.func and not (callable(other) and _same_callable(other, self.func)):
            return False
        if len(self.job_ids) > 1:
            name = getattr(self.func, "__qualname__", repr(self.func))
            raise InvalidArgument(f"{name} is the function of several APScheduler jobs in this simulation "
                                  f"({', '.join(map(repr, self.job_ids))}): name the job by its id, e.g. "
                                  f"sim.runs({self.job_ids[0]!r})")  # fmt: skip
        return True

    def __hash__(self) -> int:
        try:
            return hash(self.func)
        except TypeError:  # a callable object with __eq__ and no __hash__
            return id(self.func)

    def __repr__(self) -> str:
        return f"<APScheduler job function {getattr(self.func, '__qualname__', self.func)!r}>"


def _same_callable(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)  # bound methods of one object compare equal, and are new objects each time
    except Exception:
        return False


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(f"APScheduler job {name!r} runs on its scheduler's triggers, not through jobsim events")


def _refuse_held(scheduler: Any) -> None:
    """A running scheduler that a simulation still running drives (a module-scoped fixture's) was started by that
    simulation, not by the test: say which, and where it was started."""
    from . import _patches

    holder = _patches.active()
    if holder is not None and any(d.scheduler is scheduler for d in holder.driven):
        raise JobsimError(
            f"the APScheduler {type(scheduler).__name__} passed to jobsim.Simulation is already driven by another "
            f"simulation ({held_by(holder.sim)}), which started it in virtual time; close that one first "
            "(one a module- or session-scoped fixture keeps holds its schedulers until its scope ends: use that "
            "simulation in the test, or build it per test)"
        )
