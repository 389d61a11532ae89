"""One simulation's arq side (``sim.arq``): its workers, the simulated Redis, one run per job.

``jobsim.Simulation(WorkerSettings)`` takes what ``arq`` itself runs (``arq worker.WorkerSettings``
on the command line, ``create_worker``/``get_kwargs`` at ``worker.py:887-894``): a settings class
or dict, or a ``Worker`` built from one. While the simulation runs, every ``ArqRedis`` talks to the
simulated Redis (``_client``, ``_redis``) and each worker's **own** ``Worker.main()`` runs on the
simulation's clock (``_loop``). So what happens is arq's code deciding: its polling and
``queue_read_limit``/``max_jobs``, the in-progress key, ``job_try`` and ``max_tries``, ``Retry``,
``job_timeout``, expiry, aborts, ``keep_result``, the hooks and the cron loop
(``worker.py:349-771``). jobsim watches from a few seams arq calls by attribute:

* ``ArqRedis.enqueue_job`` (``_patches``): a job accepted is a run of the function it names, with
  the job id as run id (``sim.runs("send_email")``); a job refused for a duplicate id is an
  ``arq.duplicate`` record;
* ``Worker.run_job`` (``worker.py:478``): which job the task runs (``CURRENT``), so time its code
  spends, ``sim.fail`` faults and jobsim's sinks name it;
* each function's coroutine (``worker.py:595``): one call is one attempt (``run.attempts``), ending
  with what it returned or raised -- a ``wait_for`` timeout as ``TimeoutError``, an abort as
  ``CancelledError``;
* ``Worker.finish_job``/``finish_failed_job`` (``worker.py:682-727``): the run ends there,
  ``completed`` or ``failed``, or -- not finished -- a ``retry`` record with the instant its score
  is due again.

The runs of the jobs -- what arq tells at those seams -- are ``ArqWorld``'s lower layer (``_jobs``).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import math
import weakref
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._events import Event
from jobsim._records import Run
from jobsim._time import MS, SECOND
from jobsim.errors import InvalidArgument, JobsimError
from jobsim.hooks import Adapted, gate_while_blocked, refusing_handler

from ._checks import check_cron, check_function, check_poll_delay, check_setting_names, check_unique_names
from ._client import answer
from ._cronwake import cron_enqueue_us
from ._jobs import MAIN, Held, _Jobs
from ._loop import CURRENT, WorkerLoop
from ._redis import Store
from ._unread import Unconsumed

if TYPE_CHECKING:
    from jobsim import Simulation

BACKEND = "arq"


@dataclasses.dataclass(eq=False)
class Driven:
    """One simulated arq worker process: its ``Worker``, its main task and its poll timer."""

    target: Any
    worker: Any = None
    main: asyncio.Task[Any] | None = None
    step_ns: int = 0
    poll_timer: asyncio.TimerHandle | None = None
    anchor: tuple[asyncio.TimerHandle, int] | None = None
    closed: bool = False
    saved: dict[str, Any] | None = None  # a Worker target's own attributes, restored at the end

    def running(self) -> bool:
        """A job of this worker is under way (its ``run_job`` task is not done)."""
        return self.worker is not None and any(not t.done() for t in self.worker.tasks.values())

    @property
    def name(self) -> str:
        return getattr(self.target, "__name__", None) or type(self.target).__name__


def _inherited_hint(target: Any) -> str:
    """Why a settings subclass has no functions: arq reads the class's own ``__dict__`` (``worker.py:887-890``)."""
    if not isinstance(target, type):
        return ""
    inherited = [k for k in ("functions", "cron_jobs") if k not in vars(target) and getattr(target, k, None)]
    if not inherited:
        return ""
    owners = {k: next(c.__name__ for c in target.__mro__[1:] if k in vars(c)) for k in inherited}
    fixes = "; ".join(f"{k} = {owners[k]}.{k}" for k in inherited)
    return (f"; {target.__name__} inherits {' and '.join(inherited)} from a base class, and arq reads only a settings "
            f"class's own attributes (get_kwargs reads its __dict__, worker.py:887-890), so `arq worker` would refuse "
            f"it too: assign every setting in the class body ({fixes}), or pass a dict")


def settings_kwargs(target: Any) -> dict[str, Any]:
    """The ``Worker`` keyword arguments a settings class or dict gives (``get_kwargs``, ``worker.py:887-890``)."""
    from arq.worker import get_kwargs

    return dict(get_kwargs(target))


class ArqWorld(_Jobs, Unconsumed):
    """``sim.arq``: the workers of one simulation, the Redis they share, and the runs of their jobs."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.app = jobsim.App("arq")
        self.store = Store(self.timestamp_ms_floor, self._written)
        self.answer = gate_while_blocked(answer, self, reply_turns=0)
        """``answer(fn, *args)``: one Redis command answered from the store, waiting for a blocking call in job code
        (``_client``)."""
        self.driven: list[Driven] = []
        self.functions: dict[str, jobsim.Function] = {}
        self.jobs: dict[str, Held] = {}
        self.loop: WorkerLoop | None = None
        self.installed = False
        self.closing = False
        self.escaped: BaseException | None = None
        self._placeholder_run: Run | None = None
        self.pools: dict[int, weakref.ref[Any]] = {}  # the ArqRedis pools used while the simulation runs, by id
        self.unread: set[str] = set()  # queues given jobs that no simulated worker reads (told once each)
        self.unknown: set[tuple[str, str]] = set()  # (queue, function) no worker of the queue has (told once)

    # -- adapting --------------------------------------------------------------------------------
    def adopt(self, target: Any) -> Adapted:
        from arq.worker import Worker

        if any(d.target is target for d in self.driven):
            raise InvalidArgument.build("targets", target, "each arq WorkerSettings or Worker once")
        if isinstance(target, Worker):
            check_poll_delay("Worker", target.poll_delay_s)
            for cj in target.cron_jobs:
                check_cron("Worker.cron_jobs", cj)
            for function in target.functions.values():
                check_function("Worker.functions", function)
            names = list(target.functions)
        else:
            names = self._check_settings(target)
        self.driven.append(Driven(target))
        new = [self._function(name, own=False) for name in names if name not in self.functions]
        return Adapted(backend=BACKEND, functions=new, install=self.install, uninstall=self.uninstall,
                       profile="arq", own_worker=True, dynamic=True)  # fmt: skip

    def _check_settings(self, target: Any) -> list[str]:
        """arq's own checks, at ``Simulation(...)`` rather than when the worker starts: every function a
        coroutine function (``func``, ``worker.py:80-94``), every cron job a ``CronJob`` (``worker.py:230-234``)."""
        from arq.cron import CronJob
        from arq.utils import to_seconds
        from arq.worker import func

        label = target.__name__ if isinstance(target, type) else "WorkerSettings"
        check_setting_names(label, target)
        kwargs = settings_kwargs(target)
        names: list[str] = []
        named: list[tuple[str, Any]] = []
        for item in kwargs.get("functions") or ():
            try:
                function = func(item)
            except (RuntimeError, ImportError, AttributeError) as exc:
                raise InvalidArgument.build("WorkerSettings.functions", item, f"arq job functions: async def "
                                            f"functions or arq.worker.func(...) ({exc})") from None  # fmt: skip
            check_function("WorkerSettings.functions", function)
            names.append(function.name)
            named.append((function.name, function))
        for cj in kwargs.get("cron_jobs") or ():
            if not isinstance(cj, CronJob):
                raise InvalidArgument.build("WorkerSettings.cron_jobs", cj, "arq.cron.cron(...) objects")
            check_cron("WorkerSettings.cron_jobs", cj)
            names.append(cj.name)
            named.append((cj.name, cj))
        check_unique_names(label, named)
        if not names:
            accepted = "arq WorkerSettings with at least one function or cron job (arq: 'at least one function or "
            raise InvalidArgument.build("targets", target, accepted + "cron_job must be registered')"
                                        + _inherited_hint(target))
        for option in ("poll_delay", "job_timeout", "keep_result", "health_check_interval"):
            value = kwargs.get(option)
            if value is not None and not _duration_like(value):
                raise InvalidArgument.build(f"WorkerSettings.{option}", value, "seconds (a finite int or float "
                                            ">= 0) or a timedelta")  # fmt: skip
        limit = kwargs.get("queue_read_limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            # arq: `queue_read_limit or max(max_jobs * 5, 100)`, 0 is the default and a negative LIMIT count is
            # every due job; anything else goes to ZRANGEBYSCORE ... LIMIT, where Redis refuses a non-integer
            raise InvalidArgument.build("WorkerSettings.queue_read_limit", limit, "None or an int (jobs the worker "
                                        "reads from the queue per poll; 0: arq's default)")  # fmt: skip
        if kwargs.get("poll_delay") is not None:
            check_poll_delay("WorkerSettings", to_seconds(kwargs["poll_delay"]))
        max_tries = kwargs.get("max_tries", 5)
        if isinstance(max_tries, bool) or not isinstance(max_tries, int):
            raise InvalidArgument.build("WorkerSettings.max_tries", max_tries, "an int (tries a job may take)")
        max_jobs = kwargs.get("max_jobs", 10)
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise InvalidArgument.build("WorkerSettings.max_jobs", max_jobs, "an int >= 1")
        return names

    def _function(self, name: str, own: bool = True) -> jobsim.Function:
        fn = self.functions.get(name)
        if fn is None:
            message = f"arq function {name!r} runs in its arq worker (enqueue_job), not through jobsim events"
            fn = jobsim.Function(id=name, handler=refusing_handler(message), app=self.app,
                                 options={"arq": True, "native": self._native(name)})  # fmt: skip
            if own:
                self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
            self.app.functions[name] = fn
            self.functions[name] = fn
        return fn

    def _native(self, name: str) -> Any:
        """The coroutine function arq runs for ``name``, so ``sim.runs(send_email)`` finds its runs."""
        from arq.worker import func

        for d in self.driven:
            if _is_worker(d.target):
                items = list(d.target.functions.values())
            else:
                kwargs = settings_kwargs(d.target)
                items = list(kwargs.get("functions") or ()) + list(kwargs.get("cron_jobs") or ())
            for item in items:
                f = item if hasattr(item, "next_run") else func(item)
                if f.name == name:
                    return f.coroutine
        return None

    # -- the simulation starts and ends ------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from . import _patches

        _patches.push(self)
        self.installed = True
        self.loop = WorkerLoop(self)
        try:
            for d in self.driven:
                self._start(d)
        except BaseException:
            self.uninstall(sim)
            raise
        self.loop.book()

    def _start(self, d: Driven) -> None:
        from arq.worker import Worker

        assert self.loop is not None
        outer = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self.loop)
        try:
            if isinstance(d.target, Worker):
                worker = d.target  # given back as it was when the simulation closes (uninstall)
                d.saved = {k: worker.__dict__[k] for k in _REBOUND if k in worker.__dict__}
                worker.loop = self.loop
            else:
                kwargs = settings_kwargs(d.target)
                kwargs["handle_signals"] = False  # no signal reaches a simulated process; close() stops it
                if kwargs.get("timezone") is None:  # arq: the system zone (worker.py:304-305); here the simulation's,
                    kwargs["timezone"] = self.sim.tz  # so cron hours do not depend on the machine running the test
                try:
                    worker = Worker(**kwargs)
                except (RuntimeError, ValueError, TypeError) as exc:
                    raise InvalidArgument(f"arq could not build a Worker from {d.name}: {exc}") from exc
            worker._handle_signals = False
            d.worker = worker
            d.step_ns = round(worker.poll_delay_s * SECOND)
            self._wrap(d, worker)
            context = contextvars.Context()  # a fresh one (not the test's), where MAIN names this worker for the
            context.run(MAIN.set, d)  # tasks main() makes: its cron enqueues (gathered, worker.py:771) among them
            d.main = worker.main_task = context.run(self.loop.create_task, worker.main(),
                                                    name=f"arq worker {worker.queue_name}")  # fmt: skip
            d.main.add_done_callback(lambda task: self._main_done(d, task))
        finally:
            asyncio.events._set_running_loop(outer)

    def _wrap(self, d: Driven, worker: Any) -> None:
        """Fresh cron state for this process (``CronJob.next_run`` starts unset, ``cron.py:110``), the seams above,
        and ``utils.poll`` as the worker's own (``_loop.poll_for``)."""
        worker.cron_jobs = [dataclasses.replace(cj, next_run=None) for cj in worker.cron_jobs]
        worker.functions = {name: dataclasses.replace(f, coroutine=self._attempts(d, name, f.coroutine))
                            for name, f in worker.functions.items()}  # fmt: skip
        run_job, finish_job, finish_failed = worker.run_job, worker.finish_job, worker.finish_failed_job
        world = self

        async def run_job_in_simulation(job_id: str, score: int) -> None:
            held = world.jobs.get(job_id)
            if held is not None:
                held.error, held.value = None, None
            CURRENT.set(held)
            await run_job(job_id, score)

        async def finish_job_in_simulation(job_id: str, finish: bool, *args: Any) -> None:
            await finish_job(job_id, finish, *args)
            world._finished(d, job_id, finish)

        async def finish_failed_job_in_simulation(job_id: str, result_data: bytes | None) -> None:
            await finish_failed(job_id, result_data)
            world._failed(d, job_id, result_data)

        worker.run_job = run_job_in_simulation
        worker.finish_job = finish_job_in_simulation
        worker.finish_failed_job = finish_failed_job_in_simulation

    def _main_done(self, d: Driven, task: asyncio.Task[Any]) -> None:
        """The worker's ``main()`` ended: a burst worker found its queue empty (``worker.py:368-375``) and closes as
        ``Worker.run()`` does; one that raised (an exception out of a job's ``run_job``, ``worker.py:400-404``)
        would have killed its process, and stops the simulation saying so."""
        if self.closing or task.cancelled():
            return
        error = task.exception()
        if error is not None:
            if isinstance(error, JobsimError):
                self.escaped = self.escaped or error
            else:
                stop = JobsimError(f"the arq worker of queue {d.worker.queue_name!r} crashed: Worker.main() raised "
                                   f"{type(error).__name__}: {error} (arq re-raises what a job's run_job raised, "
                                   "worker.py:400-404; a hook such as on_job_start that raises does this)")  # fmt: skip
                stop.__cause__ = error
                self.escaped = self.escaped or stop
            assert self.loop is not None
            self.loop.stop()
            return
        d.closed = True
        assert self.loop is not None
        contextvars.Context().run(self.loop.create_task, d.worker.close())

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from . import _patches

        self.closing = True
        try:
            if self.loop is not None and not self.loop.is_closed():
                closers = [d.worker.close() for d in self.driven if d.worker is not None and not d.closed]
                self.loop.close_down(closers)
        finally:
            _patches.pop(self)
            self.installed = False
            for ref in self.pools.values():  # what arq would read of their jobs now is in no Redis: say so
                pool = ref()
                if pool is not None and not isinstance(pool.connection_pool, _ClosedPool):
                    pool.connection_pool = _ClosedPool(pool.connection_pool)
            self.pools.clear()
            for d in self.driven:
                if d.saved is not None and d.worker is not None:
                    for key in _REBOUND:
                        d.worker.__dict__.pop(key, None)
                    d.worker.__dict__.update(d.saved)
        escaped, self.escaped = self.escaped, None
        if escaped is not None and not isinstance(escaped, asyncio.CancelledError):
            raise escaped

    def used(self, pool: Any) -> None:
        """``pool`` sent a command to the simulated Redis: once the simulation closes, it says so (``_ClosedPool``)."""
        if id(pool) not in self.pools:
            self.pools[id(pool)] = weakref.ref(pool)

    def worker_poll(self, step: float = 0.5) -> Any:
        """``arq.worker.poll`` while the simulation runs: a simulated worker's main loop polls with
        ``WorkerLoop.poll_for`` (arq's arithmetic, its timer kept so idle polls can be skipped)."""
        import arq.utils

        task = asyncio.current_task() if self.loop is not None and self.loop.is_running() else None
        for d in self.driven:
            if task is not None and d.main is task and self.loop is not None:
                return self.loop.poll_for(d)(step)
        return arq.utils.poll(step)

    # -- clock -----------------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.sim.now_ns()

    def timestamp_ms(self) -> int:
        """``arq.utils.timestamp_ms``: ``round(time() * 1000)`` (``utils.py:25-30``), on the virtual clock."""
        return round(self.sim.now_ns() / MS)

    def timestamp_ms_floor(self) -> int:
        """Redis's own ``mstime()`` (whole milliseconds), for key expiry."""
        return int(self.sim.now_ns() // MS)

    def time(self) -> float:
        return self.sim.now_ns() / SECOND

    def uuid4(self) -> Any:
        """A job id: from the stream of the function whose job code enqueues (``sim.rng_for``), else (the test,
        the workers' own code: a cron job's enqueue) from ``sim.rng``."""
        from ._patches import new_uuid

        x = self.sim.engine.x
        run = None if x is None else x.run_
        if run is None or run is self._placeholder_run:
            return new_uuid(self.sim.rng)
        return new_uuid(self.sim.rng_for(run.function.id))

    def placeholder_run(self) -> Run:
        """The run ``engine.x`` names while the workers' own code runs (``PumpedLoop.process``)."""
        if self._placeholder_run is None:
            fn = next(iter(self.functions.values()))
            self._placeholder_run = Run(fn, "arq-worker", [Event("arq/worker", {})], self.sim.kernel.now)
        return self._placeholder_run

    def _written(self, key: bytes) -> None:
        if self.loop is not None and not self.loop.closing:
            self.loop.poke()

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.now_ns(), kind, data)

    # -- what the kernel asks --------------------------------------------------------------------------
    def busy(self) -> bool:
        """Work ``run_until_idle`` waits for: a job under way, or one in a worker's queue (due or deferred)."""
        for d in self.driven:
            if d.worker is None:
                continue
            if d.running() or self.store.c_ZCARD(d.worker.queue_name):
                return True
        return False

    def next_interest(self, d: Driven) -> int:
        """The earliest instant (ns) one poll before which worker ``d`` must poll again: its first queued job is due,
        a cron job enters the enqueue window ``next_run < now + 2 * max(poll_delay, 0.5 s)`` (``worker.py:733-754``,
        compared by wall time: ``_cronwake``),
        its health check is due (``worker.py:773-777``). One poll and one millisecond early, so rounding never
        skips the poll that acts."""
        w = d.worker
        now = self.now_ns()
        if w.burst or not w.allow_pick_jobs:
            return now  # a burst worker's next poll may end it (worker.py:368-375): no poll is idle
        early = d.step_ns + MS
        targets: list[int] = [round((w._last_health_check + w.health_check_interval) * SECOND) - early]
        first = self.store.c_ZRANGE(w.queue_name, 0, 0, withscores=True)
        if first:
            targets.append(round(first[0][1]) * MS - early)
        window = dt.timedelta(seconds=max(w.poll_delay_s, 0.5) * 2)  # cron_delay, as arq builds it
        for cj in w.cron_jobs:
            if cj.next_run is None:
                return now
            targets.append(cron_enqueue_us(cj.next_run, w.timezone, window, now // 1000) * 1000 - early)
        return min(targets)

    # -- for tests -----------------------------------------------------------------------------------
    @property
    def workers(self) -> list[Any]:
        """The arq ``Worker`` objects of this simulation (built when it started)."""
        return [d.worker for d in self.driven if d.worker is not None]

    @property
    def worker(self) -> Any:
        """The simulation's arq ``Worker`` when it has one."""
        workers = self.workers
        if len(workers) != 1:
            raise JobsimError(f"this simulation has {len(workers)} arq workers (built when it starts); "
                              "use sim.arq.workers")  # fmt: skip
        return workers[0]

    def __repr__(self) -> str:
        return f"<jobsim-arq world: {len(self.driven)} workers, {len(self.jobs)} jobs>"


_REBOUND = ("loop", "functions", "cron_jobs", "_handle_signals", "run_job", "finish_job", "finish_failed_job",
            "main_task", "_pool", "ctx")
"""What the simulation changes on a ``Worker`` it was given: restored when it closes."""


def _is_worker(target: Any) -> bool:
    from arq.worker import Worker

    return isinstance(target, Worker)


def _duration_like(value: Any) -> bool:
    import datetime as dt

    if isinstance(value, dt.timedelta):
        return value.total_seconds() >= 0
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < math.inf


class _ClosedPool:
    """The connection pool of an ``ArqRedis`` used inside a simulation, once that simulation has closed: arq reads
    a job's status and result from Redis (``Job.status()``, ``result()``, ``info()``, a new ``enqueue_job``), and
    this pool's keys are nowhere -- redis-py would connect to the Redis of its settings, which may not exist, or
    read a real Redis that never had the job. Closing it (``pool.aclose()``) is fine: nothing is open."""

    def __init__(self, original: Any) -> None:
        self._original = original

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        kwargs_ = getattr(self._original, "connection_kwargs", {}) or {}
        where = f"{kwargs_.get('host', 'localhost')}:{kwargs_.get('port', 6379)}/{kwargs_.get('db', 0)}"
        raise JobsimError(
            f"this arq pool was used inside a simulation that has closed, and arq would now send a command to its "
            f"real Redis ({where}), which never had the simulation's jobs: read jobs inside the `with` block "
            "(await job.status(), job.result(), job.info()), or their runs with sim.runs(...) after it"
        )  # fmt: skip

    async def release(self, connection: Any) -> None:
        return None

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"<closed simulation's stand-in for {self._original!r}>"
