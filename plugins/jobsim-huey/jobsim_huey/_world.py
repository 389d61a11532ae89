"""One simulation's Huey side (``sim.huey``): its Huey instances, their consumers, the tasks and their runs.

While the simulation runs, each Huey it was given keeps its tasks in a ``SimStorage`` (``_storage``)
and simulated consumers (``_consumer``) run Huey's own worker and scheduler loops on the virtual
clock. Each task id is one jobsim run of the function named by the task's class; each execution of
its body is an attempt; a retry (``retries=``, ``RetryTask``, ``CancelExecution(retry=True)``) is a
``retry`` record on the same run, as Huey re-queues the same task id (``_requeue_task``,
``api.py:572-585``). What happened is read from Huey's own signals (``Huey._emit``, ``api.py:293-294``), so a run
ends exactly as Huey decided: ``completed`` (``SIGNAL_COMPLETE``), ``failed`` (an error, a timeout,
a lock or rate limit with no retry left), ``cancelled`` (``SIGNAL_CANCELED`` with no retry,
``SIGNAL_REVOKED``) or ``skipped`` (``SIGNAL_EXPIRED``). Huey's enqueue and execute, the runs they make and
the signals that end them are ``HueyWorld``'s lower layer (``_runs``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
import weakref
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._checks import keywords_checked
from jobsim._kernel import URGENT
from jobsim._records import Run
from jobsim._time import DAY, SECOND, duration_ns, format_duration, iso, to_datetime
from jobsim.errors import BudgetExceeded, InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, held_by, planned_instant, refusing_handler

from ._consumer import SimConsumer, SimWorker
from ._outage import which
from ._patches import Clock, Hooks
from ._runs import HOP, _check_options, _Execution, _Runs, check_spelling
from ._storage import Kind, SimStorage, check_memory_empty, kind_of

if TYPE_CHECKING:
    from jobsim import Simulation

BACKEND = "huey"
README = "plugins/jobsim-huey/README.md"
_HOOKS = ("_pre_execute", "_post_execute", "_startup", "_shutdown")  # the Huey attributes holding its hooks
WAIT_HORIZON = 366 * DAY  # a blocking result.get() with no timeout gives up after this much virtual time


class HueyState:
    """One Huey instance of the simulation: its stand-in storage and its consumers."""

    def __init__(self, huey: Any, kind: Kind) -> None:
        self.huey = huey
        self.storage_kind = kind
        self.real_storage: Any = None
        self.storage: SimStorage = None  # type: ignore[assignment]  # set by install
        self.consumers: list[Any] = []  # the huey Consumer objects passed as targets
        self.simulated: list[SimConsumer] = []
        self.explicit = False
        self.receiver: Any = None


class _Native:
    """``options["native"]`` of a task's function: equal to the task's class and to its ``TaskWrapper``, so
    ``sim.runs(add)`` and ``sim.fail(add, ...)`` take the decorated function."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __eq__(self, other: object) -> bool:
        return other is self.cls or getattr(other, "task_class", None) is self.cls

    def __hash__(self) -> int:
        return hash(self.cls)

    def __repr__(self) -> str:
        return f"<huey task {self.cls.__name__}>"


class HueyWorld(_Runs):
    """``sim.huey``: the Huey instances of one simulation and the consumers running their tasks."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.hueys: list[HueyState] = []
        self.app = jobsim.App("huey")
        self.functions: dict[str, jobsim.Function] = {}
        self.by_class: dict[type, jobsim.Function] = {}
        self.ids = random.Random(f"jobsim-huey-ids:{sim.seed}")
        self.clock: Clock = None  # type: ignore[assignment]  # set by install
        self.installed = False
        self.results: weakref.WeakSet[Any] = weakref.WeakSet()  # the Results enqueue gave, for _Closed
        self.tasks: dict[str, Run] = {}  # task id -> its run
        self.current: SimWorker | None = None  # the worker whose greenlet is running
        self.closing = False  # uninstall: the workers' greenlets are ended; a body cut short waits for nothing
        self.ticking: SimConsumer | None = None  # the consumer whose scheduler is ticking
        self.refused_periodic: InvalidArgument | None = None  # its enqueue of a periodic task, which Huey only logs
        self.collecting: dict[str, _Execution] = {}  # task id -> its execution under way
        self.escaped: BaseException | None = None  # a jobsim error a receiver or hook raised, which Huey logged

    # -- ids, clock --------------------------------------------------------------------------------
    def new_uuid(self) -> uuid.UUID:
        """``uuid4()`` drawn from the simulation's seed: the same seed gives the same task ids."""
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    def tick(self) -> None:
        """Code the kernel runs (a worker's loop, the scheduler) reads the wall clock at the kernel's instant."""
        self.sim.wallclock.move(self.sim.kernel.now)

    def eta_ns(self, eta: dt.datetime, utc: bool) -> int:
        """A Huey ``eta`` (naive: UTC with ``utc=True``, local time -- the simulation's ``tz`` -- otherwise) in ns."""
        if not utc:
            return self.clock.to_local_ns(eta)
        delta = eta.replace(tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * 1_000

    def hop(self) -> dt.timedelta:
        """What a worker adds to an ``eta`` it computes from a delay (a retry's ``retry_delay``, ``RetryTask(delay=)``,
        ``task.schedule(delay=)`` in a task): 1 µs, Huey's datetime resolution.

        On a real consumer a worker runs a little after the scheduler tick or enqueue that woke it, so an
        ``eta`` it computes as now + a whole number of intervals lands just after a later tick, never on it, and
        waits for the next one: a task moved at the 2 s tick that retries with ``retry_delay=1`` runs at 4 s,
        not 3 s (the live test shows it). Virtual time has no such latency; this microsecond puts the ``eta`` on
        the same side of the tick. An explicit ``eta`` and one computed in the test are taken as they are."""
        return HOP if self.current is not None else dt.timedelta(0)

    def sync(self) -> None:
        """Before a task body touches what other workers share (the storage: queue, schedule, locks, results):
        if the body has spent virtual time, its worker waits until the simulation reaches the body's instant,
        so the other workers' and the scheduler's earlier steps happen first -- a lock released after
        ``time.sleep(10)`` is held for those 10 s."""
        worker, engine = self.current, self.sim.engine
        x = engine.x
        if worker is None or x is None or x.now <= self.sim.kernel.now or self.closing:
            return
        engine.x = None
        try:
            worker.suspend(x.now)
        finally:
            engine.x = x
            engine.move_clock(x.now)

    def keep(self, exc: BaseException) -> None:
        """A jobsim error (``jobsim.hooks.escapes``) that a signal receiver or hook raised, which Huey catches and
        logs as that receiver's: the driving call that ran it raises it (``raise_escaped``). The first one is kept."""
        if self.escaped is None:
            self.escaped = exc

    def raise_escaped(self) -> None:
        """Where the simulation gets control back from Huey's code (a worker's greenlet, a scheduler tick, the
        test's enqueue): raise the jobsim error a receiver or hook raised meanwhile, so it stops the test."""
        escaped, self.escaped = self.escaped, None
        if escaped is not None:
            raise escaped

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.sim.now_ns(), kind, data)

    # -- adapting -----------------------------------------------------------------------------------
    def owns(self, huey: Any) -> bool:
        return any(hs.huey is huey for hs in self.hueys)

    def adopt(self, target: Any) -> Adapted:
        from huey.api import Huey, TaskWrapper
        from huey.consumer import Consumer

        new: list[jobsim.Function] = []
        if isinstance(target, Huey):
            hs = self._huey(target, new)
            if hs.explicit:
                raise InvalidArgument(f"the Huey {target.name!r} is passed to this Simulation twice")
            hs.explicit = True
        elif isinstance(target, Consumer):
            hs = self._huey(target.huey, new)
            if any(c is target for c in hs.consumers):
                raise InvalidArgument("the huey Consumer is passed to this Simulation twice")
            hs.consumers.append(target)
            SimConsumer(self, hs, target, "check")  # its options are checked now, not at the start
        elif isinstance(target, TaskWrapper):
            self._huey(target.huey, new)
        return Adapted(backend=BACKEND, functions=new, install=self.install, uninstall=self.uninstall,
                       profile="huey", own_worker=True, dynamic=True,
                       fault_hint="play a consumer outage with sim.huey.stop_consumer(at=..., graceful=...) and "
                                  "sim.huey.start_consumer(at=...) (plugins/jobsim-huey/README.md, 'A consumer that "
                                  "was down')")  # fmt: skip

    def _huey(self, huey: Any, new: list[jobsim.Function]) -> HueyState:
        for hs in self.hueys:
            if hs.huey is huey:
                return hs
        if isinstance(huey.storage, SimStorage):
            # the stand-in of a simulation still running: refuse it as that simulation, not as an unknown storage
            from . import _patches

            holder = _patches.current()
            held = f" ({held_by(holder.sim)})" if holder is not None else ""
            raise JobsimError(
                f"another simulation with Huey instances is running in this process{held}, and Huey {huey.name!r} is "
                "one of its targets (its storage is that simulation's stand-in); close it before starting this one "
                "(jobsim-huey replaces Huey's storage, clock and ids process-wide while a simulation runs; one a "
                "module- or session-scoped fixture keeps holds them until its scope ends: use that simulation in the "
                "test, or build it per test)"
            )
        if huey.immediate:
            raise InvalidArgument(
                f"Huey {huey.name!r} is in immediate mode (immediate=True): it runs each task inline when it is "
                "enqueued, so there is nothing for a simulated consumer to do. Build it with immediate=False (the "
                "default) to simulate its consumer in virtual time"
            )
        for cls in huey._registry._periodic_tasks:  # the consumer enqueues them, and only logs what that raises
            _check_options(f"periodic task {cls.__name__!r}", cls.default_priority, cls.default_retries)
        hs = HueyState(huey, kind_of(huey.storage))
        self.hueys.append(hs)
        for cls in list(huey._registry._registry.values()):
            new.append(self._declare(hs, cls, adopting=True))
        return hs

    def _declare(self, hs: HueyState, cls: type, *, adopting: bool = False) -> jobsim.Function:
        """The jobsim function of task class ``cls`` (``sim.runs(task)``, ``sim.runs("name")``), on first sight."""
        fn = self.by_class.get(cls)
        if fn is not None:
            return fn
        check_spelling(cls)
        name = cls.__name__
        clash = self.functions.get(name)
        if clash is not None:
            key = hs.huey._registry.task_to_string(cls)
            raise InvalidArgument(
                f"two Huey tasks of this simulation are named {name!r} ({key} and "
                f"{clash.options['key']}); jobsim names runs by task name: give one a name= "
                "(@huey.task(name='...'))"
            )
        fn = jobsim.Function(id=name, handler=refusing_handler(
            f"Huey task {name!r} runs from its Huey's queue (call the task to enqueue it), not from jobsim events"),
            app=self.app, options={"huey": hs.huey, "native": _Native(cls),
                                   "key": hs.huey._registry.task_to_string(cls)})  # fmt: skip
        if not adopting:
            self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
        self.app.functions[name] = fn
        self.functions[name] = fn
        self.by_class[cls] = fn
        return fn

    # -- install / uninstall -------------------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from . import _patches

        self.clock = Clock(sim.now_ns, sim.kernel.now, sim.tz)
        _patches.push(self)
        self.installed = True
        try:
            for hs in self.hueys:
                self._install(hs)
        except BaseException:
            self.uninstall(sim)
            raise

    def _install(self, hs: HueyState) -> None:
        from huey.api import Huey

        huey = hs.huey
        check_memory_empty(huey.storage, huey.name)
        hs.real_storage = huey.storage
        hs.storage = SimStorage(self, hs.real_storage, hs.storage_kind, bool(huey.utc))
        huey.storage = hs.storage
        own = huey.__dict__
        own["enqueue"] = lambda task: self.enqueue(hs, task)
        own["execute"] = lambda task, timestamp=None: self.execute(hs, task, timestamp)
        own["_timeout_context"] = self._body
        own["_requeue_task"] = lambda task, timestamp, retry_eta=None: Huey._requeue_task(
            huey, task, timestamp + self.hop(), retry_eta)
        for name in _HOOKS:  # Huey logs what a hook raises: a jobsim error is kept for the driving call
            setattr(huey, name, Hooks(self, getattr(huey, name)))
        hs.receiver = lambda signal, task, *args, **kwargs: self._observe(hs, signal, task, args)
        huey._signal.connect(hs.receiver)
        consumers = hs.consumers or [_default_consumer(huey, Huey)]
        for i, consumer in enumerate(consumers):
            name = f"{huey.name}/consumer-{i + 1}" if len(consumers) > 1 else f"{huey.name}/consumer"
            simulated = SimConsumer(self, hs, consumer, name)
            hs.simulated.append(simulated)
            # URGENT: before a stop planned for the same instant (sim.huey.stop_consumer(), _outage)
            self.sim.kernel.schedule(self.sim.kernel.now, simulated.start, owner=f"huey {name} (start)",
                                     priority=URGENT)

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from . import _patches

        self._end_workers()
        for hs in self.hueys:
            huey = hs.huey
            for name in ("enqueue", "execute", "_timeout_context", "_requeue_task"):
                huey.__dict__.pop(name, None)
            for name in _HOOKS:
                hooks = getattr(huey, name)
                if isinstance(hooks, Hooks):
                    setattr(huey, name, dict(hooks))
            if hs.receiver is not None:
                huey._signal.disconnect(hs.receiver)
                hs.receiver = None
            if hs.real_storage is not None:
                huey.storage = hs.real_storage
            hs.simulated = []
        _patches.pop(self)
        self.installed = False
        for result in list(self.results):  # what Huey would read of them now is in no real storage: say so
            if not isinstance(result.huey, _Closed):
                result.huey = _Closed(result.id, result.huey)

    def _end_workers(self) -> None:
        """End every worker's greenlet now, with the simulated storage and clock still in place: a task body in
        the middle of its virtual time unwinds here (its ``finally`` code, a lock's release), cut short as the
        close cuts every job short -- its run stays ``running``. Dropped instead, each got its ``GreenletExit``
        at some later garbage collection, with Huey's real storage back, and one waiting on the storage then
        waited again ("GreenletExit did not kill")."""
        from greenlet import getcurrent

        self.closing = True
        try:
            for hs in self.hueys:
                for simulated in hs.simulated:
                    for worker in simulated.retired + simulated.workers:
                        glet, worker.glet = worker.glet, None
                        if glet is not None and not glet.dead:
                            glet.parent = getcurrent()
                            glet.throw()  # GreenletExit where it waits; it ends, and control comes back here
        finally:
            self.closing = False

    # -- the queue tells the consumers ---------------------------------------------------------------
    def _consumers(self, storage: SimStorage) -> list[SimConsumer]:
        for hs in self.hueys:
            if hs.storage is storage:
                return hs.simulated
        return []

    def queued(self, storage: SimStorage) -> None:
        for consumer in self._consumers(storage):
            consumer.queued()

    def drained(self, storage: SimStorage) -> None:
        for consumer in self._consumers(storage):
            consumer.drained()

    def flushed(self, storage: SimStorage, items: list[bytes], where: str) -> None:
        """``huey.flush()`` or the storage's ``flush_queue``/``flush_schedule`` deleted ``items``: those tasks never
        run, so their runs end ``lost`` now (as a flushed Dramatiq message's do), not ``queued`` for ever."""
        hs = next((hs for hs in self.hueys if hs.storage is storage), None)
        if hs is None:
            return
        call = f"huey.{storage.flushing or where}()"
        for data in items:
            run = self.tasks.get(hs.huey.deserialize_task(data).id)
            if run is not None and not run.done:
                self._end(run, "lost", None, why=f"{call} deleted it from the {where.removeprefix('flush_')}")

    def schedule_changed(self, storage: SimStorage) -> None:
        for consumer in self._consumers(storage):
            consumer.arm()

    # -- waits from the test -----------------------------------------------------------------------------
    def wait_result(self, storage: SimStorage, key: str, timeout: Any, backoff: float = 1.15,
                    max_delay: float = 1.0) -> bool:  # fmt: skip
        """``Result.get(blocking=True, timeout=...)`` from the test: the simulation runs while the test waits as
        ``BaseStorage.wait_result`` waits (``storage.py:198-216``): it looks at the store at once, then after sleeps
        of 0.05 s x ``backoff``^n, at most ``max_delay``, and answers at the first look that finds the result, or
        (False: Huey raises ``ResultTimeout``, ``api.py:1240-1255``) at the first look at or past ``timeout``. A
        ``RedisStorage(notify_result=True)`` waits in ``BLPOP`` instead (``storage.py:607-624``): it answers at the
        instant the result is stored, or at the timeout. Looks before the simulation's next work cannot see a new
        result and are skipped in one advance."""
        sim = self.sim
        if sim.engine.x is not None or self.current is not None:
            raise UnsupportedFeature(
                "Result.get(blocking=True) was called inside a Huey task: a worker thread waiting on another task's "
                "result is not simulated (the task would hold its worker while the other runs). Chain the tasks "
                "with .then() instead, or wait in the test",
                system=BACKEND, feature="blocking get in a task",
            )  # fmt: skip
        sim._require_running("Result.get(blocking=True)")
        within = None if timeout is None else duration_ns(timeout, "timeout")
        deadline = None if within is None else sim.kernel.now + within
        for name, value, least in (("backoff", backoff, 1.0), ("max_delay", max_delay, 0.001)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not least <= value < math.inf:
                raise InvalidArgument.build(f"Result.get(blocking=True, {name}=...)", value,
                                            f"a number >= {least} (Huey would poll the store back to back)")
        horizon = sim.kernel.now + WAIT_HORIZON
        notify = bool(getattr(storage.real, "notify_result", False))
        look, delay = sim.kernel.now, 0.05
        while True:
            if not notify or (deadline is not None and look >= deadline):
                sim.advance_to(_instant(look))
                if storage.has_data_for_key(key):
                    return True
                if deadline is not None and look >= deadline:
                    return False
            due = sim.kernel.next_due()
            if deadline is None and (due is None or sim.kernel.idle):
                raise JobsimError(
                    f"Result.get(blocking=True) for task {key} would wait forever: no result is stored and "
                    "nothing but periodic checks is pending in the simulation (the task was never enqueued, "
                    "is a periodic task, or its result was read already?). Pass timeout= to get ResultTimeout"
                )
            if notify:  # BLPOP: woken by the store, or given up at the deadline
                if due is None or (deadline is not None and due > deadline):
                    look = deadline if deadline is not None else horizon
                else:
                    sim.advance_to(_instant(due))
                    if storage.has_data_for_key(key):
                        return True
                    look = sim.kernel.now
            else:
                step = round(min(delay, max_delay) * SECOND)
                delay *= backoff
                look += max(step, 1)
                if (step == round(max_delay * SECOND) or backoff == 1) and due is not None:
                    # every later look is one max_delay apart: skip those before the next work (or the deadline)
                    until = due if deadline is None else min(due, deadline)
                    if until > look:
                        look += (until - look) // step * step
            if deadline is None and look > horizon:
                raise BudgetExceeded(
                    f"Result.get(blocking=True) for task {key} was still waiting after "
                    f"{format_duration(WAIT_HORIZON)} of virtual time (next work at {iso(due or look)}): pass timeout="
                )

    # -- for tests -------------------------------------------------------------------------------------
    @keywords_checked("sim.huey.run_of_task()")
    def run_of_task(self, task: Any) -> Run:
        """The run of a task (a ``Result``, a ``Task`` or a task id) enqueued in this simulation."""
        task_id = task if isinstance(task, str) else getattr(task, "id", None)
        run = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if run is None:
            raise InvalidArgument.build("task", task, "a huey Result, Task or task id enqueued in this simulation")
        return run

    # -- outages ----------------------------------------------------------------------------------------
    @keywords_checked("sim.huey.stop_consumer()")
    def stop_consumer(self, at: Any = None, *, graceful: bool = True, consumer: Any = None) -> None:
        """Stop a consumer at ``at`` (default: now), as ``huey_consumer`` stops on a signal (``_outage``):
        ``graceful=True`` (SIGINT) lets running tasks finish, ``False`` (SIGTERM) interrupts them. ``consumer``:
        its name, or the huey Consumer given as a target (needed when the simulation runs several)."""
        self._outage_call("stop_consumer")
        if not isinstance(graceful, bool):
            raise InvalidArgument.build("graceful", graceful, "True (the graceful signal, SIGINT: running tasks "
                                        "finish) or False (SIGTERM: running tasks are interrupted)")  # fmt: skip
        target = which(self, consumer, "sim.huey.stop_consumer()")
        target.outage.plan_stop(planned_instant(self.sim, at, "a consumer stop"), graceful)

    @keywords_checked("sim.huey.start_consumer()")
    def start_consumer(self, at: Any = None, *, consumer: Any = None, flush_locks: bool = False) -> None:
        """Start a stopped consumer again at ``at`` (default: now): a new ``huey_consumer`` process (``_outage``).
        ``flush_locks=True`` is ``huey_consumer -f``: the Huey's ``lock_task`` locks are deleted first."""
        self._outage_call("start_consumer")
        if not isinstance(flush_locks, bool):
            raise InvalidArgument.build("flush_locks", flush_locks, "True (huey_consumer -f: delete the lock_task "
                                        "locks a killed task left held) or False (the default)")  # fmt: skip
        target = which(self, consumer, "sim.huey.start_consumer()")
        target.outage.plan_start(planned_instant(self.sim, at, "a consumer start"), flush_locks)

    def _outage_call(self, name: str) -> None:
        self.sim._require_running(f"huey.{name}")
        if self.current is not None or self.sim.engine.x is not None:
            raise UnsupportedFeature(
                f"sim.huey.{name}() was called inside a Huey task: stop and start consumers from the test, between "
                "driving calls (a task cannot signal its own consumer here)",
                system=BACKEND, feature=name,
            )  # fmt: skip

    @property
    def consumers(self) -> list[SimConsumer]:
        return [c for hs in self.hueys for c in hs.simulated]

    def __repr__(self) -> str:
        return f"<jobsim-huey world: {len(self.hueys)} Huey(s), {len(self.consumers)} consumer(s)>"


def _default_consumer(huey: Any, huey_class: Any) -> Any:
    """``huey_consumer`` with its defaults (``-w 1``, thread workers, ``consumer.py:392-396``); building a Consumer
    sets ``huey._timeout_handler`` (``consumer.py:448``), which is put back."""
    saved = huey._timeout_handler
    try:
        return huey.create_consumer()
    finally:
        huey._timeout_handler = saved


def _instant(ns: int) -> str:
    """Epoch ns as an ISO instant ``advance_to`` reads to the nanosecond."""
    return to_datetime(ns - ns % SECOND).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % SECOND:09d}+00:00"


class _Closed:
    """The ``huey`` of a ``Result`` once its simulation has closed. ``result.get()``, ``is_ready``, ``revoke``,
    ``reschedule`` read or write the Huey's storage (``api.py:1224-1306``), and this task's result lived in the
    simulation's in-memory stand-in: the real storage would be a Redis that may not exist, or one (or a SQLite
    file) that never had the task. A result already read is cached in the ``Result`` (``_get``) and still returned."""

    __slots__ = ("_original", "_task_id")

    def __init__(self, task_id: str, original: Any) -> None:
        self._task_id = task_id
        self._original = original

    def __getattr__(self, name: str) -> Any:
        raise JobsimError(
            f"huey task {self._task_id} belongs to a simulation that has closed, and Huey would read it from the "
            f"real storage of Huey {self._original.name!r} (huey.{name}): read the result inside the `with` block "
            "(result.get(), or result.get(blocking=True) to run the simulation until it is stored), or its run "
            "in sim.runs(...)"
        )

    def __repr__(self) -> str:
        return f"<closed simulation's stand-in for {self._original!r}>"
