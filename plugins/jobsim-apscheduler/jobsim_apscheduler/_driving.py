"""Driving an APScheduler scheduler in virtual time (``APSWorld``'s lower layer, over ``_runs.JobRuns``).

``install`` patches each driven scheduler's instance (``_patch``: the clock-reading methods run
with the wall clock on the virtual instant, executors and job stores are checked, ``wakeup``,
``start`` and ``shutdown`` need no thread), moves the dates its jobs read from the real clock
to the simulation's start (``_rebase``) and starts it. Its main loop is timers on jobsim's
kernel: at each wakeup its own ``_process_jobs`` runs, and the wait it returns is the next
timer (``_process``, ``_next_wakeup``). ``uninstall`` shuts it down and gives it back as it was
given -- stopped, with its pending jobs, executors and job stores (``_restore``, ``_GIVEN_BACK``).
"""

from __future__ import annotations

import datetime as dt
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._kernel import BACKGROUND, URGENT
from jobsim._time import MS, SECOND, iso, to_datetime
from jobsim.errors import JobsimError, UnsupportedFeature
from jobsim.hooks import Escaped, LogWatch, note_test_turn

from ._executor import RefusedExecutor, SimulatedAsyncIOExecutor, SimulatedPoolExecutor
from ._loop import LoopExecution
from ._runs import JobRuns, epoch_ns
from ._triggers import check_trigger

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._draws import Draws
    from ._world import APSWorld

BACKEND = "apscheduler"
REAL_CLOCK_WINDOW = dt.timedelta(minutes=10)  # see ``_rebase``
# scheduler -> the pending jobs ``_restore`` gave back to it, each with the dates of it that ``_rebase`` found
# on the real clock ("trigger", "next_run_time"): see ``_drop_replaced`` and ``_rebase``
_GIVEN_BACK: weakref.WeakKeyDictionary[Any, list[tuple[Any, frozenset[str]]]] = weakref.WeakKeyDictionary()

# The scheduler methods that read the clock or change the schedule: called from the test, they run
# with the wall clock on the virtual instant; called from job code, only before it spent virtual time.
CLOCKED = ("add_job", "modify_job", "reschedule_job", "pause_job", "resume_job", "remove_job", "remove_all_jobs",
           "pause", "resume")  # fmt: skip
# What ``_patch`` puts on a scheduler instance (removed again by ``uninstall``)
PATCHED = (*CLOCKED, "wakeup", "start", "shutdown", "_create_default_executor", "add_executor", "add_jobstore",
           "_real_add_job", "_start_timer", "_stop_timer", "_timeout", "_lookup_executor")  # fmt: skip
_UNSET = object()


class Driven:
    """One scheduler the simulation drives: its wakeup timer and what it replaced on the instance."""

    def __init__(self, world: APSWorld, scheduler: Any) -> None:
        self.world = world
        self.scheduler = scheduler
        self.wake: Any = None  # the kernel timer of the next ``_process_jobs``
        self.wake_at: int | None = None
        self.keepalive: Any = None  # a one-off timer at the next date-trigger run: run_until_idle waits for it
        self.saved_executors: dict[str, Any] = {}
        self.refused: dict[str, UnsupportedFeature] = {}  # unsimulated executors, by alias: no job may run there
        # as the scheduler was given (``_restore``): its pending jobs (copies), its executors and job stores
        self.saved_pending = [(_clone(job), store, replace) for job, store, replace in scheduler._pending_jobs]
        self.originals = [job for job, _store, _replace in scheduler._pending_jobs]  # as saved_pending
        self.real_clock: dict[int, frozenset[str]] = {}  # id(original) -> its dates _rebase moved
        self.given_back: list[tuple[Any, frozenset[str]]] = []  # what the last simulation gave back (_GIVEN_BACK)
        self.saved_jobstores = dict(scheduler._jobstores)
        self.saved_logger = scheduler._logger  # LogWatch stands in for it while the simulation runs
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.is_async = isinstance(scheduler, AsyncIOScheduler)
        # ``event_loop=`` as given (``schedulers/asyncio.py:52-54``), or None: start() takes the running loop
        self.saved_loop = scheduler.__dict__.get("_eventloop", _UNSET)


class _Driving(JobRuns):
    """The driven schedulers' install, main loop and uninstall; ``_world.APSWorld`` (which builds the state in
    ``__init__`` and adapts the schedulers) is the layer above. ``self`` is always an ``APSWorld``: where it is
    passed as one, mypy is told so (``type: ignore[arg-type]``)."""

    if TYPE_CHECKING:  # set by APSWorld.__init__, and APSWorld's methods these call (for mypy only)
        driven: list[Driven]
        draws: Draws
        installed: bool
        closing: bool
        aio: Any
        refusal: UnsupportedFeature | None
        escaped: Escaped

        def _check_jobstore(self, scheduler: Any, alias: str, store: Any) -> None: ...
        def _simulated_executor(self, driven: Driven, alias: str, executor: Any) -> Any: ...
        def declare(self, driven: Driven, job: Any, *, adopting: bool = False) -> jobsim.Function: ...
        def removed_unrun(self, scheduler: Any, alias: str) -> str | None: ...

    # -- install / uninstall ----------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from apscheduler.schedulers.base import STATE_STOPPED

        from . import _patches

        for driven in self.driven:  # started by the test between building the simulation and starting it
            if driven.scheduler.state != STATE_STOPPED:
                kind = type(driven.scheduler).__name__
                raise JobsimError(
                    f"the APScheduler {kind} of this simulation was started (scheduler.start()) after the "
                    "Simulation was built from it and before the simulation started: it has been firing jobs in "
                    "real time since. Do not start it -- the simulation starts it in virtual time when it starts "
                    "(`with sim:`) -- and shut it down (scheduler.shutdown())"
                )  # fmt: skip
        _patches.push(self)  # type: ignore[arg-type]
        self.installed = True
        if any(driven.is_async for driven in self.driven):
            from ._asyncio import AsyncSide

            self.aio = AsyncSide(self)  # type: ignore[arg-type]
        for driven in self.driven:
            self._patch(driven)
        with self.clock():
            for driven in self.driven:
                self._rebase(driven)
                driven.scheduler.start()  # our start: BaseScheduler.start, no thread (or on jobsim's loop)

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler

        from . import _patches

        self.closing = True
        for driven in self.driven:
            scheduler = driven.scheduler
            try:
                if scheduler.state != STATE_STOPPED:
                    with self.clock():
                        BaseScheduler.shutdown(scheduler, wait=False)
                        if driven.is_async:
                            scheduler._stop_timer()
            except Exception:  # uninstall never raises
                pass
        if self.aio is not None:
            try:
                with self.clock():
                    self.aio.close()  # cancelled jobs unwind on the loop, which is then closed
            except Exception:
                pass
        for driven in self.driven:
            scheduler = driven.scheduler
            for name in PATCHED:
                scheduler.__dict__.pop(name, None)
            scheduler._logger = driven.saved_logger
            self._restore(driven)
            for timer in (driven.wake, driven.keepalive):
                if timer is not None:
                    self.sim.kernel.cancel(timer)
        _patches.pop(self)  # type: ignore[arg-type]
        self.installed = False
        self.closing = False

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
        if driven.saved_loop is not _UNSET:
            scheduler._eventloop = driven.saved_loop

    def _patch(self, driven: Driven) -> None:
        """Instance attributes shadow the scheduler's methods while the simulation runs (other schedulers,
        and this one after the simulation, are untouched)."""
        from apscheduler.schedulers.base import BaseScheduler

        scheduler = driven.scheduler
        for alias, executor in list(scheduler._executors.items()):
            refused = driven.refused.get(alias)
            scheduler._executors[alias] = (RefusedExecutor(self, alias, refused) if refused is not None  # type: ignore[arg-type]
                                           else self._simulated_executor(driven, alias, executor))  # fmt: skip
        own = scheduler.__dict__
        # _dispatch_event logs what a listener raises ("Error notifying listener", base.py:1037-1042) and goes on
        scheduler._logger = LogWatch(driven.saved_logger, self.keep)
        for name in CLOCKED:
            own[name] = self._clocked(driven, name, getattr(scheduler, name))
        own["reschedule_job"] = self.draws.rescheduling(own["reschedule_job"])
        own["modify_job"] = _checking_triggers(own["modify_job"])  # reschedule_job and job.modify end there
        if driven.is_async:  # its wakeups and shutdown go through jobsim's loop, as through a real one
            self.aio.patch(driven, self._clocked)
        else:
            own["wakeup"] = lambda: self.wakeup(driven)
            own["start"] = self._clocked(driven, "start", lambda paused=False: BaseScheduler.start(scheduler, paused))
            own["shutdown"] = self._clocked(driven, "shutdown", lambda wait=True: self.shutdown(driven, wait))
            own["_create_default_executor"] = lambda: SimulatedPoolExecutor(self, "default", 10, None)  # type: ignore[arg-type]
        add_executor, add_jobstore = scheduler.add_executor, scheduler.add_jobstore
        real_add_job = scheduler._real_add_job

        def add_executor_(executor: Any, alias: str = "default", **executor_opts: Any) -> None:
            if not isinstance(executor, str):  # a plugin alias is built by APScheduler, then checked
                executor = self._simulated_executor(driven, alias, executor)
            add_executor(executor, alias, **executor_opts)
            made = scheduler._executors.get(alias)
            if made is not None and not isinstance(made, SimulatedPoolExecutor | SimulatedAsyncIOExecutor):
                scheduler._executors[alias] = self._simulated_executor(driven, alias, made)
                scheduler._executors[alias].start(scheduler, alias)

        def add_jobstore_(jobstore: Any, alias: str = "default", **jobstore_opts: Any) -> None:
            if not isinstance(jobstore, str):
                self._check_jobstore(scheduler, alias, jobstore)
            elif jobstore != "memory":
                raise UnsupportedFeature(f"add_jobstore({jobstore!r}): jobsim-apscheduler simulates the 'memory' job "
                                         "store only", system=BACKEND, feature=f"jobstore {jobstore}")  # fmt: skip
            add_jobstore(jobstore, alias, **jobstore_opts)

        def real_add_job_(job: Any, jobstore_alias: str, replace_existing: bool) -> None:
            _check_executor(driven, job)
            check_trigger(job.id, job.trigger)
            self.declare(driven, job)
            self.draws.note(job.trigger, job.id)  # its first fire time is drawn before the job is in a store
            real_add_job(job, jobstore_alias, replace_existing)

        own["add_executor"], own["add_jobstore"], own["_real_add_job"] = add_executor_, add_jobstore_, real_add_job_
        lookup_executor = scheduler._lookup_executor

        def lookup_executor_(alias: str) -> Any:
            """``_process_jobs`` looks a due job's executor up; an alias no executor has is logged and the job removed
            (``schedulers/base.py:1178-1188``), which the timeline says (``apscheduler.no_executor``). Another caller's
            lookup (``remove_executor("nope")``, which raises ``KeyError`` to the test) removes no job: no record."""
            try:
                return lookup_executor(alias)
            except KeyError:
                if sys._getframe(1).f_code.co_name == "_process_jobs":
                    removed = self.removed_unrun(scheduler, alias)
                    if removed is not None:
                        self.sim.trace.add(self.sim.now_ns(), "apscheduler.no_executor", {
                            "alias": alias, "known": sorted(scheduler._executors), "jobs": [removed]})  # fmt: skip
                raise

        own["_lookup_executor"] = lookup_executor_

    def keep(self, error: BaseException) -> None:
        """A jobsim error (``jobsim.hooks.escapes``) that APScheduler caught and logged (``LogWatch``): a
        listener's -- ``time.sleep`` where no job runs, a refused call, ``sim.advance`` from it --, which
        ``_dispatch_event`` logs and goes on from. A timer due at once raises it: the driving call running (or
        the next one, for a listener of the test's own call) stops there. The first one is kept; the refusal
        ``_process`` raises itself, and what the close logs, are not."""
        if not self.closing and error is not self.refusal:
            self.escaped.keep(error)

    def clock(self) -> Any:
        """The wall-clock bridge for a call made from the test: ``datetime.now()`` reads the virtual instant."""
        return _Clock(self.sim)

    def _clocked(self, driven: Driven, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            x = self.sim.engine.x
            if x is not None and x.now > self.sim.kernel.now and not isinstance(x, LoopExecution):
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
        (``triggers/date.py:24``), ``CalendarIntervalTrigger``'s default ``start_date = date.today()``
        (``triggers/calendarinterval.py:103``), and a ``next_run_time=datetime.now()`` passed to ``add_job``.
        Such an instant (within ``REAL_CLOCK_WINDOW`` before the real now; for a date, the real day) is moved
        to the simulation's start, as if the scheduler had been built then; any other date is the user's and
        is left alone.

        A job given back by an earlier simulation (``_restore``) keeps its date from the real clock however
        long ago that was: a module-level scheduler imported at the start of a 20-minute test run is
        rebased in its last test as in its first (``_GIVEN_BACK``)."""
        from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        from jobsim._wallclock import WallClock

        real = WallClock.real_now()
        start = to_datetime(self.sim.kernel.now)

        def from_real_clock(when: Any) -> bool:
            return isinstance(when, dt.datetime) and real - REAL_CLOCK_WINDOW <= when <= real

        today = {(real - REAL_CLOCK_WINDOW).astimezone().date(), real.astimezone().date()}  # date.today(), local

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
            elif isinstance(trigger, CalendarIntervalTrigger) and ("trigger" in kinds or trigger.start_date in today):
                trigger.start_date = start.astimezone().date()  # what date.today() reads at the start
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
        self.note_turn(driven, driven.wake)

    def note_turn(self, driven: Driven, timer: Any) -> None:
        """The test's ``add_job`` (``resume``, ...) woke the scheduler, whose turn at ``timer`` runs a job due now:
        ``PendingWorkWarning`` if the simulation closes before it (``hooks.note_test_turn``)."""
        if timer is not None and not self.sim.kernel.running and self._due_jobs(driven):
            note_test_turn(self.sim, timer, lambda: self._due_jobs(driven))

    def _due_jobs(self, driven: Driven) -> str | None:
        """The jobs the scheduler's next turn would run now (``"report (apscheduler job)"``): None while it is
        paused or shut down, or when none is due."""
        from apscheduler.schedulers.base import STATE_RUNNING

        scheduler = driven.scheduler
        if scheduler.state != STATE_RUNNING:
            return None
        now = to_datetime(self.sim.now_ns())
        due = [job.id for job in scheduler.get_jobs() if job.next_run_time is not None and job.next_run_time <= now]
        return f"{', '.join(due)} (apscheduler job)" if due else None

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
        if self.refusal is not None:  # a job moved to a refused executor (modify_job): APScheduler only logs it
            refusal, self.refusal = self.refusal, None
            raise refusal
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
        now = self.sim.now_ns()  # the loop's instant, for an AsyncIOScheduler (code may have blocked it)
        due = [d for d in (store.get_next_run_time() for store in driven.scheduler._jobstores.values()) if d]
        exact = min(map(epoch_ns, due), default=None)
        wait_ns = round(wait_seconds * SECOND)
        if exact is not None and abs(max(exact, now) - (now + wait_ns)) < MS:
            return max(exact, now)
        if exact is not None and wait_ns == 0 and exact > now:
            # _process_jobs's next_wakeup_time is in the scheduler's zone (base.py:1237-1242); a store's run time is
            # in its trigger's, and a datetime of another zone subtracts as an instant: no spin was seen
            return self._busy_wait(driven, now, exact, min(due, key=epoch_ns).astimezone(driven.scheduler.timezone))
        return now + -(-wait_ns // 1000) * 1000

    def _busy_wait(self, driven: Driven, now: int, exact: int, next_wakeup_time: dt.datetime) -> int:
        """APScheduler 3.11.2 and older wait ``(next_wakeup_time - now).total_seconds()``, at least 0 (3.11.3
        subtracts timestamps, agronholm/apscheduler#1114): two datetimes of the scheduler's zone, so Python
        subtracts their wall clocks. In a fall-back night the next run can be later in time yet earlier on the
        clock (01:00 EST after 01:30 EDT): the wait is 0 while nothing is due, and the real loop spins -- at
        full CPU, logging each turn -- until the clocks turn back or the run is due. Its turns change nothing,
        so the scheduler wakes once, at the first instant its wait is no longer 0 (found by bisection to the
        microsecond: the window holds one turn of the clocks) or the run's; the timeline says so."""
        tz = driven.scheduler.timezone

        def spun(us: int) -> bool:  # at this microsecond the loop still waits 0 s
            return (next_wakeup_time - to_datetime(us * 1000, tz)).total_seconds() <= 0

        low, high = now // 1000, -(-exact // 1000)  # spun(low) held at now; high: the run is due
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if spun(middle) else (low, middle)
        until = min(high * 1000, exact)
        clock = "%H:%M:%S %Z"
        self.sim.trace.add(now, "apscheduler.busy_wait", {
            "until": until, "next_run_time": exact, "version": _version(), "zone": str(tz),
            "clock_now": to_datetime(now, tz).strftime(clock), "clock_next": next_wakeup_time.strftime(clock)})
        return until

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
            at = epoch_ns(min(due))  # exactly: float timestamp() * 1e6, truncated, was a microsecond early after 2038
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


def _version() -> str:
    from importlib.metadata import version

    return version("apscheduler")


def _check_executor(driven: Driven, job: Any) -> None:
    """A job on an executor jobsim cannot simulate is refused by name; the executor alone is not."""
    refused = driven.refused.get(getattr(job, "executor", None))  # type: ignore[arg-type]
    if refused is not None:
        raise UnsupportedFeature(f"APScheduler job {job.id!r} runs on {refused}", system=refused.system,
                                 feature=refused.feature)  # fmt: skip


def _checking_triggers(modify_job: Callable[..., Any]) -> Callable[..., Any]:
    """``scheduler.modify_job``: a trigger it is given is checked as one given to ``add_job`` is."""

    def call(job_id: str, jobstore: str | None = None, **changes: Any) -> Any:
        if "trigger" in changes:
            check_trigger(job_id, changes["trigger"])
        return modify_job(job_id, jobstore, **changes)

    call.__name__, call.__doc__ = "modify_job", modify_job.__doc__
    return call


class _Clock:
    """``with``: the wall-clock bridge around one call (nested bridges do nothing: inside a driving call it is on)."""

    __slots__ = ("sim",)

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def __enter__(self) -> None:
        self.sim.wallclock.activate()

    def __exit__(self, *exc: object) -> None:
        self.sim.wallclock.deactivate()


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


def _nothing() -> None:
    pass
