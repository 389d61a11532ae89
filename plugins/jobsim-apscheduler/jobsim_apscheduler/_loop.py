"""The event loop an ``AsyncIOScheduler`` runs on during a simulation: an asyncio loop driven by jobsim's kernel.

jobsim's ``VirtualLoop`` (``jobsim/_aio.py``) drives one coroutine to its end in one go, on the clock of
the execution that awaits it -- right for one handler, wrong for a scheduler: on an ``AsyncIOScheduler``
every coroutine job, the scheduler's own wakeups (``schedulers/asyncio.py:56-70``) and the done callbacks
that free ``max_instances`` and dispatch events (``executors/asyncio.py:31-52``) share one loop and
interleave. So this loop never blocks and never runs by itself: its clock (``time()``) is the
simulation's, and each time it has something to do -- a ready callback, or a timer falling due
(``asyncio.sleep``, ``asyncio.timeout``, the scheduler's next wakeup) -- a kernel timer at that instant
runs it (``_tick``) until nothing more is ready at that instant. ``await asyncio.sleep(3600)`` in a job
is a timer one virtual hour on, and the task, its run and its ``max_instances`` slot wait for it, as on
a real loop; the scheduler's wakeups, other jobs and the test's ``sim.advance`` go on meanwhile.

While a tick runs, ``engine.x`` is a ``LoopExecution`` whose run is the job of the callback running
(the ``CURRENT_RUN`` context variable, which a task and the tasks it creates carry): a blocking
``time.sleep`` in loop code spends virtual time *of the loop* -- the callbacks after it run later, as
on a real loop that code blocked -- and jobsim's sinks name the right run. Budgets instead of hangs:
``max_chain`` rounds of ready callbacks at one instant, and ``MAX_SPENDS`` resumptions of one run.

``run_in_executor(None, ...)`` (how ``AsyncIOExecutor`` runs a plain function, and ``asyncio.to_thread``)
goes to a simulated pool of the size of the loop's default executor (``ThreadPoolExecutor()``'s own
default, or the one ``set_default_executor`` gave): the function runs on its own virtual clock and the
future completes at its virtual end (``AsyncSide.call_in_thread``).

Real sockets take no virtual time: each round polls them, and when a running job can only be waiting
for the network the tick waits for them in real time, up to ``REAL_IO_WAIT`` (``_awaits_real_io``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import heapq
import itertools
import sys
import threading
from asyncio import events
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim._aio import REAL_IO_WAIT, VirtualLoop
from jobsim._kernel import URGENT
from jobsim._records import Run
from jobsim._simulation import MAX_SPENDS
from jobsim._steps import Execution
from jobsim._time import SECOND, iso
from jobsim.errors import BudgetExceeded, JobsimError, UnsupportedFeature
from jobsim.hooks import escapes

if TYPE_CHECKING:
    from ._asyncio import AsyncSide

CURRENT_RUN: contextvars.ContextVar[Run | None] = contextvars.ContextVar("jobsim_apscheduler_run", default=None)
"""The run of the APScheduler job whose code is running: set by the job's task, inherited by the tasks it makes."""
LOOP = "apscheduler event loop"  # the owner of the loop's kernel timers, and the function of code no job owns


class LoopExecution(Execution):
    """``engine.x`` while the loop runs: its clock is the loop's; ``run_`` is that of the callback running."""

    __slots__ = ()


class DefaultPool:
    """The loop's default executor, simulated: ``max_workers`` threads, work waiting for one started FIFO."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.busy = 0
        self.waiting: deque[Callable[[], None]] = deque()

    def __repr__(self) -> str:
        return f"<jobsim default executor of the apscheduler event loop: max_workers={self.max_workers}>"


def default_workers(loop: Any) -> int:
    """The size of ``loop``'s default executor: the one set with ``set_default_executor``, else what
    ``concurrent.futures.ThreadPoolExecutor()`` picks on this interpreter and machine (CPUs + 4, at most 32)."""
    executor = getattr(loop, "_default_executor", None)
    if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
        return executor._max_workers
    probe = concurrent.futures.ThreadPoolExecutor()  # starts no thread until work is submitted
    try:
        return probe._max_workers
    finally:
        probe.shutdown(wait=False)


class SchedulerLoop(VirtualLoop):
    """An asyncio loop whose clock is the simulation's and whose iterations are kernel timers.

    A ``VirtualLoop`` to the rest of jobsim -- its HTTP sink awaits a scripted latency (``jobsim.delayed``)
    on a virtual loop rather than blocking it, so gathered calls overlap -- but none of its driving:
    ``VirtualLoop.__init__`` (its selector that spends an execution's time) is not called."""

    # asyncio's own internals this loop drives (``BaseEventLoop``/``BaseSelectorEventLoop``, 3.10-3.13)
    _ready: deque[Any]
    _scheduled: list[Any]
    _timer_cancelled_count: int
    _selector: Any
    _thread_id: int | None
    _process_events: Callable[[Any], None]
    _check_closed: Callable[[], None]
    _asyncgen_firstiter_hook: Callable[[Any], None]
    _asyncgen_finalizer_hook: Callable[[Any], None]

    def __init__(self, side: AsyncSide, max_workers: int, own_run: Run) -> None:
        asyncio.SelectorEventLoop.__init__(self)
        self.cut = None  # what VirtualLoop reports as having cut a wait short: nothing does here
        self._spawned = None  # VirtualLoop.drive collects a request's tasks; here run_ended reports a job run's
        sim = side.sim
        self.side = side
        self.sim = sim
        self.origin = sim.start_ns - sim.start_ns % 1000  # loop time 0: small floats, whole microseconds
        self._clock_resolution = 1e-6
        self.pool = DefaultPool(max_workers)
        self.tick_timer: Any = None
        self.ticking = False
        self.closing = False
        self.busy_until = 0  # loop code blocked the loop (time.sleep) until this instant
        self.fatal: BaseException | None = None  # a jobsim error raised in loop code: stops the driving call
        self.resumes: dict[Run, int] = {}  # running job runs -> ticks they ran in (the MAX_SPENDS budget)
        self.jobs_running: set[Run] = set()  # the coroutine job runs under way
        self.own_run = own_run  # the run ``engine.x`` names for loop code no running job owns
        self.counted: set[Run] = set()
        self.started: dict[Run, dict[asyncio.Task[Any], None]] = {}  # running job runs -> tasks their code started
        self.orphans: set[asyncio.Task[Any]] = set()  # such tasks still running when their job's run ended
        self.unreported: list[asyncio.Task[Any]] = []  # their errors, reported once nothing more is ready (_tick)
        self.failed: list[tuple[Run, asyncio.Task[Any]]] = []  # running jobs' tasks that ended in an error: kept
        # for the report only if it is still unretrieved once nothing more is ready (_tick)
        self._outer: Any = None
        self._thread = threading.get_ident()
        self._timer_seq = itertools.count()

    # -- the clock ------------------------------------------------------------------------------
    def time(self) -> float:
        return (self.sim.now_ns() - self.origin) / SECOND

    def drive(self, coro: Any) -> Any:
        """Not this loop's way: it runs in kernel timers, never to a coroutine's end."""
        coro.close()
        raise JobsimError("the APScheduler event loop runs on jobsim's kernel; it cannot drive a coroutine to its end")

    def when(self, ns: int) -> float:
        """The loop time of the instant ``ns`` (``call_at(loop.when(ns), ...)`` runs exactly at ``ns``)."""
        return (ns - self.origin) / SECOND

    def due_ns(self, when: float) -> int:
        """The instant a timer at loop time ``when`` falls due, to the microsecond."""
        return self.origin + round(when * 1_000_000) * 1000

    # -- new work wakes the kernel ----------------------------------------------------------------
    def call_soon(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                  context: contextvars.Context | None = None) -> Any:  # fmt: skip
        handle = super().call_soon(callback, *args, context=context)
        if not self.ticking:
            self.arm()
        return handle

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                             context: contextvars.Context | None = None) -> Any:  # fmt: skip
        handle = super().call_soon_threadsafe(callback, *args, context=context)
        if not self.ticking and threading.get_ident() == self._thread:
            self.arm()
        return handle

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> Any:  # fmt: skip
        """``BaseEventLoop.call_at``, with a ``_Timer``: timers due at one instant fire in the order they were set."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        timer = _Timer(when, callback, args, self, context, next(self._timer_seq))
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        if not self.ticking:
            self.arm()
        return timer

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        """Every task reports a jobsim error it ended with (a budget in a task a job spawned and never awaited);
        one that a job's code started is filed under its run, for the error nobody retrieved (``run_ended``)."""
        task = super().create_task(coro, **kwargs)
        task.add_done_callback(self._task_done)
        context = kwargs.get("context")
        run = CURRENT_RUN.get() if context is None else context.get(CURRENT_RUN)
        if run is not None:
            task.add_done_callback(functools.partial(self._job_task_done, run))
            if run.done:  # started by a task that outlived its job's run
                self.orphans.add(task)
            else:
                self.started.setdefault(run, {})[task] = None
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        error = getattr(task, "_exception", None)  # not task.exception(): that would silence asyncio's report
        if isinstance(error, JobsimError) and escapes(error) and self.fatal is None:  # nobody retrieved it
            self.fatal = error

    def _job_task_done(self, run: Run, task: asyncio.Task[Any]) -> None:
        """A task a job's code started ended: one with no error is forgotten (a job that starts a task per
        message does not keep them all), and so is one whose error is retrieved at the instant it ended (the
        job awaited it: ``_tick``); an orphan's error is reported once nothing more is ready at the
        instant (``_tick``): its done callbacks, and the code they wake (``asyncio.wait``), may retrieve it."""
        if task.cancelled() or getattr(task, "_exception", None) is None:
            self.started.get(run, {}).pop(task, None)
            self.orphans.discard(task)
        elif task in self.orphans:
            self.orphans.discard(task)
            self.unreported.append(task)
        else:
            self.failed.append((run, task))

    def run_ended(self, run: Run) -> None:
        """A coroutine job's run ends: the tasks its code started that ended in an error nobody retrieved are
        reported at its virtual instant, once nothing more is ready then (``_tick``: code that wakes then may
        retrieve them), as ``VirtualLoop.drive`` does as a request ends; a task still running is reported as
        it ends. asyncio would log "Task exception was never retrieved" when the task
        is garbage-collected: whenever a collection comes if the run's error keeps it alive (its traceback
        holds the job's frame), maybe in another test, maybe while time-machine's travel starts or stops."""
        tasks = list(self.started.pop(run, ()))
        self.unreported.extend(task for task in tasks if task.done())
        self.orphans.update(task for task in tasks if not task.done())

    def arm(self) -> None:
        """Keep one kernel timer at the loop's next work: now if a callback is ready, else its first timer.

        It is one-off work (``run_until_idle`` waits for it) while a callback is ready or a running job
        owns a timer (its ``asyncio.sleep``); the scheduler's own wakeups and timers of code no running job
        owns (a background task a job left behind) are recurring, as cron ticks are."""
        if self.ticking or self.is_closed():
            return
        kernel = self.sim.kernel
        if self._ready:
            due, one_off = self.sim.now_ns(), True
        else:
            heap = self._scheduled
            while heap and heap[0]._cancelled:
                heapq.heappop(heap)._scheduled = False
                self._timer_cancelled_count -= 1
            if not heap:
                self._disarm()
                return
            due = self.due_ns(heap[0]._when)
            one_off = any(not timer._cancelled and _owned(timer) for timer in heap)
        due = max(due, self.busy_until, kernel.now)
        timer = self.tick_timer
        if timer is not None and not timer.cancelled:
            if timer.due == due and timer.recurring != one_off:
                return
            kernel.cancel(timer)
        self.tick_timer = kernel.schedule(due, self._tick, owner=LOOP, priority=URGENT, recurring=not one_off)

    def _disarm(self) -> None:
        if self.tick_timer is not None:
            self.sim.kernel.cancel(self.tick_timer)
            self.tick_timer = None

    # -- running it ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Run the loop at the kernel's instant until nothing more is ready then (or code blocked it)."""
        self.tick_timer = None
        limit = self.sim.max_chain
        x = self._enter()
        start = x.now
        rounds = 0
        try:
            while True:
                while self._round(x):
                    rounds += 1
                    if x.now > start:  # code blocked the loop: what is left runs when it is free again
                        break
                    if rounds > limit:
                        raise self._runaway(rounds)
                if x.now > start or self.fatal is not None or not self._awaits_real_io():
                    break
                self._wait_real_io()
            if self.failed and not self._ready:  # no code left to retrieve their errors now
                failed, self.failed = self.failed, []
                for run, task in failed:
                    if not getattr(task, "_log_traceback", False):  # retrieved: nothing to report at the run's end
                        self.started.get(run, {}).pop(task, None)
            if self.unreported and not self._ready and self.fatal is None:  # no code left to retrieve them now
                unreported, self.unreported = self.unreported, []
                self._report_unretrieved(unreported)
        finally:
            self._leave(x)
        if x.now > start:
            self.busy_until = x.now
        fatal, self.fatal = self.fatal, None
        if fatal is not None:
            raise fatal
        self.arm()

    def _enter(self) -> LoopExecution:
        sim = self.sim
        now = sim.kernel.now
        x = LoopExecution(sim.engine, self.own_run, 0, now)
        sim.engine.x = x
        sim.wallclock.move(now)
        self._outer = (events._get_running_loop(), sys.get_asyncgen_hooks())
        events._set_running_loop(self)
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)
        self._thread_id = threading.get_ident()  # is_running(): True while it runs
        self.ticking = True
        self.counted = set()
        return x

    def _leave(self, x: LoopExecution) -> None:
        self.ticking = False
        self._thread_id = None
        outer, hooks = self._outer
        sys.set_asyncgen_hooks(*hooks)
        events._set_running_loop(outer)
        self.sim.engine.x = None
        self.sim.engine.move_clock(x.now)

    def _round(self, x: LoopExecution) -> bool:
        """One iteration, as ``_run_once``: real I/O ready now, timers due, then the callbacks ready at its start."""
        ready = self._ready
        self._process_events(self._selector.select(0))
        heap, now = self._scheduled, x.now
        if self._timer_cancelled_count > 100 and self._timer_cancelled_count * 2 > len(heap):
            heap[:] = [timer for timer in heap if not timer._cancelled]
            heapq.heapify(heap)
            self._timer_cancelled_count = 0
        while heap:
            timer = heap[0]
            if timer._cancelled:
                heapq.heappop(heap)._scheduled = False
                self._timer_cancelled_count -= 1
            elif self.due_ns(timer._when) <= now:
                heapq.heappop(heap)._scheduled = False
                ready.append(timer)
            else:
                break
        todo = len(ready)
        if not todo:
            return False
        own, counted, resumes = self.own_run, self.counted, self.resumes
        for _ in range(todo):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            run = handle._context.get(CURRENT_RUN)
            if run is None or run.done:
                x.run_ = own
            else:
                x.run_ = run
                if run not in counted and not self.closing:
                    counted.add(run)
                    resumes[run] = n = resumes.get(run, 0) + 1
                    if n > MAX_SPENDS:
                        ready.appendleft(handle)  # not lost: the task unwinds when the simulation closes
                        raise self._endless(run, x)
            handle._run()
            if self.fatal is not None and not self.closing:
                break
        return True

    def _awaits_real_io(self) -> bool:
        """A running job can only be waiting for the network: nothing is ready, no running job has a timer,
        no simulated thread is busy, and a socket besides the loop's own is registered."""
        return (bool(self.jobs_running) and not self._ready and not self.pool.busy
                and len(self._selector.get_map()) > 1
                and not any(not timer._cancelled and _owned(timer) for timer in self._scheduled))  # fmt: skip

    def _wait_real_io(self) -> None:
        """Real network I/O takes no virtual time: wait for it in real time, as ``VirtualLoop`` does when no
        virtual timer is pending -- up to ``REAL_IO_WAIT`` seconds, then say so."""
        ready = self._selector.select(REAL_IO_WAIT)
        if not ready:
            names = ", ".join(sorted({repr(run.function.id) for run in self.jobs_running}))
            raise JobsimError(
                f"APScheduler job(s) {names} waited {REAL_IO_WAIT:g} s of real time for network I/O with no "
                "virtual timer pending; jobsim cannot advance virtual time past a real network wait. Route HTTP "
                "through sim.http, or await asyncio.sleep for virtual delays"
            )
        self._process_events(ready)

    def _runaway(self, rounds: int) -> BudgetExceeded:
        ran = sorted({run.function.id for run in self.counted}) or [LOOP]
        return BudgetExceeded(
            f"run-away event loop: {rounds:,} rounds of ready callbacks at {iso(self.sim.kernel.now)} without virtual "
            f"time moving (code of {', '.join(map(repr, ran))}); a coroutine that awaits asyncio.sleep(0) or a "
            "future that is always done, in a loop, does this. If the work is legitimate, raise the budget: "
            "Simulation(max_chain=...)"
        )

    def _endless(self, run: Run, x: LoopExecution) -> BudgetExceeded:
        return BudgetExceeded(
            f"APScheduler job {run.function.id!r} (run {run.id}) resumed more than {MAX_SPENDS:,} times on the event "
            f"loop (asyncio.sleep, a timeout, an awaited future), from {iso(run.start_ns)} to {iso(x.now)}: a loop "
            "waiting for something that never comes? Bound the loop (or sleep longer between checks)"
        )

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """A jobsim error raised in a callback stops the driving call (not an ``UnmatchedRequest``: the network
        failure a task met is logged as asyncio logs it, and the pytest fixture lists it at teardown); at close,
        leftovers are not reported."""
        if self.closing:
            return
        error = context.get("exception")
        if isinstance(error, JobsimError) and escapes(error):
            if self.fatal is None:
                self.fatal = error
            return
        super().call_exception_handler(context)

    # -- the default executor ---------------------------------------------------------------------
    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:  # type: ignore[override]
        """``run_in_executor(None, ...)``: a thread of the simulated default pool (see the module docstring)."""
        self._check_closed()
        if executor is not None:
            raise UnsupportedFeature(
                f"loop.run_in_executor({executor!r}, {getattr(func, '__qualname__', func)!r}, ...) in APScheduler job "
                "code: a pool of your own runs in real threads and real time, which jobsim cannot follow. Pass None "
                "(the loop's default executor, simulated) or use asyncio.to_thread(...)",
                system="apscheduler", feature="run_in_executor with an executor",
            )  # fmt: skip
        return self.side.call_in_thread(self, func, args)

    def set_default_executor(self, executor: Any) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise UnsupportedFeature(
                f"loop.set_default_executor({executor!r}): the simulated default executor is a thread pool; give "
                "a concurrent.futures.ThreadPoolExecutor (its max_workers is used, its threads are not)",
                system="apscheduler", feature="set_default_executor",
            )  # fmt: skip
        self.pool.max_workers = executor._max_workers

    # -- the end ------------------------------------------------------------------------------------
    def drain(self) -> None:
        """The simulation closes: cancel what is still running, let it unwind at this instant, close the loop.

        Cancelled job tasks end here (``run_coroutine_job`` catches the ``CancelledError``,
        ``executors/base.py:182-197``), but the events and runs of a job cut short by the end of the
        simulation are not reported (``APSWorld.closing``). Code that awaits more time while it unwinds
        is cut short: no time passes at close."""
        self.closing = True
        self._disarm()
        x = self._enter()
        try:
            for _ in range(3):
                pending = [task for task in asyncio.all_tasks(self) if not task.done()]
                if not pending:
                    break
                for task in pending:
                    task.cancel()
                for _ in range(1000):
                    if not self._round(x):
                        break
            gens = super().create_task(self.shutdown_asyncgens())
            for _ in range(100):
                if gens.done() or not self._round(x):
                    break
            unreported, self.unreported, self.failed = self.unreported, [], []
            self._report_unretrieved(unreported)  # retrieved, and not reported at close: nor at collection
        finally:
            self._leave(x)
        self._ready.clear()
        self.close()


class _Timer(asyncio.TimerHandle):
    """A timer ordered by its microsecond, then by when it was set (asyncio's heap breaks ties by chance).

    On a real loop two timers meant for one instant never fire together: the one set later was set
    a little later in real time, so it fires a little later. In virtual time they are due at the
    same instant; firing them in the order they were set keeps that order -- the scheduler's next
    wakeup, set when it submitted a job, fires before that job's ``asyncio.sleep`` meant to end then,
    as it does on a real loop, where the job started after the wakeup was set."""

    __slots__ = ("key",)

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...], loop: Any,
                 context: contextvars.Context | None, seq: int) -> None:  # fmt: skip
        super().__init__(when, callback, args, loop, context)
        self.key = (round(when * 1_000_000), seq)

    def __lt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _Timer):
            return self.key < other.key
        return super().__lt__(other)


def _owned(timer: asyncio.TimerHandle) -> bool:
    run = timer._context.get(CURRENT_RUN)  # type: ignore[attr-defined]
    return run is not None and not run.done
