"""A virtual-time asyncio loop for ``async def`` job code.

``asyncio.sleep(x)`` in job code spends ``x`` of virtual time: when the loop would
block waiting for its next timer, the selector advances the execution clock by
exactly that timeout instead of sleeping.

Two traps avoided (``reference/virtual_time.md`` §0.2): loop time is measured from
the start of each execution, so it stays small and float64 never loses the 1e-9
clock resolution that asyncio compares against; and the resolution is raised to
1 µs anyway. A handler may be driven while a pytest-asyncio test's own loop is
running: the outer loop is set aside for the duration of the (synchronous) call.

Real I/O on such a loop (a request a test passes through to a real server) would lose the
race against the next virtual timer: the selector jumps to it without waiting for the
socket. While an exchange holds ``VirtualLoop.hold_real_io()``, the loop waits for its I/O in
real time instead, and virtual time stands still, as it does for a blocking call. So it does while real work
the loop waits for is under way (an executor job: ``to_thread``, ``getaddrinfo``; a subprocess until it exits):
``wait_for(to_thread(query), 5)`` timed out at once. With no timer, no real work and nothing else that could wake
it (an fd, any other thread), the loop fails at once instead of waiting ``REAL_IO_WAIT``.

``PumpedLoop`` is the other use of the same clock: a plugin's simulated worker process (jobsim-arq,
jobsim-bullmq) whose backend code is one long-lived asyncio program. It runs only when jobsim's
kernel pumps it, and books a kernel timer for its next instant instead of blocking. A blocking call in
job code (``time.sleep``) holds that whole process, as it holds a real worker's loop: nothing else on
the loop runs until the simulation reaches the instant the call returned (``PumpedLoop.blocked_until``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import os
import selectors
import threading
from asyncio import base_events, events
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from ._execution import Execution
from ._kernel import BACKGROUND, NORMAL
from ._stepdata import Suspend
from ._time import SECOND
from .errors import JobsimError, StepMisuse

if TYPE_CHECKING:
    from ._records import Run
    from ._simulation import Simulation

_T = TypeVar("_T")
_MAX_SELECT: float = base_events.MAXIMUM_SELECT_TIMEOUT  # type: ignore[attr-defined]
"""asyncio's longest wait in one select (a day): a timer further away is reached by several."""
REAL_IO_WAIT = 30.0
"""Seconds of real time job code may wait on real I/O or real work (an executor job, a subprocess), or with no
virtual timer pending for something that might still wake the loop (a thread it started)."""
FOREVER = 1 << 1023
"""What an endless wait spends (``asyncio.sleep(math.inf)``): past the end of virtual time, refused as such."""


class _VirtualSelector:
    def __init__(self, real: selectors.BaseSelector, advance: Callable[[int], None], busy: Callable[[], bool],
                 next_timer: Callable[[], float], hopeless: Callable[[], None],
                 stuck: Callable[[], BaseException]) -> None:  # fmt: skip
        self._real = real
        self._advance = advance
        self._busy = busy
        self._next_timer = next_timer
        self._hopeless = hopeless
        self._stuck = stuck

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or self._busy():
            if timeout is None:  # nothing scheduled: raises at once when nothing can ever wake the loop
                self._hopeless()
                ready = self._real.select(0)  # woken meanwhile (a thread that wrote and ended since the first poll)
                if ready:
                    return ready
            ready = self._real.select(REAL_IO_WAIT)
            if ready:
                return ready
            raise self._stuck()
        if timeout >= _MAX_SELECT:  # asyncio waits a day at most: jump to the timer itself
            timeout = max(timeout, self._next_timer())  # (asyncio.sleep(1e9) was 11,574 spends of a day)
        wait = timeout * SECOND  # inf for asyncio.sleep(math.inf), a common "wait forever", or 1e300
        self._advance(max(1, round(wait)) if wait < FOREVER else FOREVER)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is the simulation's execution clock."""

    _spawned: list[asyncio.Task[Any]] | None = None
    """The tasks started during ``drive`` (``None`` outside it; also for a subclass that skips ``__init__``)."""

    def __init__(self, now: Callable[[], int], advance: Callable[[int], None]) -> None:
        super().__init__()
        self._jobsim_now = now
        self._origin = now()
        self._jobsim_advance = advance
        self._real_io = 0
        self._work: dict[object, str] = {}
        """Real work under way that the loop waits for (an executor job, a subprocess starting), named."""
        self._children: list[tuple[asyncio.SubprocessTransport, str]] = []
        """The subprocesses job code started, each until it has exited."""
        self._selector = _VirtualSelector(self._selector, self._advance,  # type: ignore[has-type,arg-type]
                                          self._waits_real, self._next_timer, self._hopeless, self._stuck)  # fmt: skip
        self._clock_resolution = 1e-6
        self.cut: BaseException | None = None
        """What stopped the loop's time mid-wait (a crash, a downtime): the tasks it cancels ended by it."""

    def _advance(self, ns: int) -> None:
        try:
            self._jobsim_advance(ns)
        except BaseException as stop:
            self.cut = stop
            raise

    def time(self) -> float:
        return (self._jobsim_now() - self._origin) / SECOND

    def _next_timer(self) -> float:
        """Seconds to the next timer (0 if none): what the selector waits when asyncio caps its wait at a day."""
        scheduled = self._scheduled  # type: ignore[attr-defined]  # BaseEventLoop's heap of TimerHandles
        return max(0.0, scheduled[0].when() - self.time()) if scheduled else 0.0

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if when != when:  # asyncio.sleep(nan): refused as Python 3.13 refuses it, where older ones never woke up
            raise ValueError("Invalid delay: NaN (not a number)")  # (here it went on at once, as if no wait)
        return super().call_at(when, callback, *args, context=context)

    def hold_real_io(self) -> Callable[[], None]:
        """Until the returned function is called (once or more), the loop waits for real I/O in real time (up
        to ``REAL_IO_WAIT``) instead of jumping to its next timer: a pass-through request's server gets to
        answer, and virtual time stands still meanwhile. A hold outlives any one call, hence no ``with``."""
        self._real_io += 1
        held = [True]

        def release() -> None:
            if held:
                held.clear()
                self._real_io -= 1

        return release

    # -- real work: waited for in real time, as virtual time cannot know how long it takes ----------------------------
    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        """Also ``asyncio.to_thread``, ``getaddrinfo`` and ``getnameinfo``: until the job is done, the loop waits
        for it in real time instead of jumping to its next timer (``wait_for(..., 2)`` timed out at once)."""
        future = super().run_in_executor(executor, func, *args)
        self._work[future] = f"{_named(func)} in a thread (run_in_executor, asyncio.to_thread or a DNS lookup)"
        future.add_done_callback(self._work.pop)
        return future

    async def _make_subprocess_transport(self, protocol: Any, args: Any, *more: Any, **kwargs: Any) -> Any:
        """A subprocess counts as real work from its start until it has exited (``get_returncode``)."""
        name = f"subprocess {_command(args)}"
        token = object()
        self._work[token] = name
        try:
            transport = await super()._make_subprocess_transport(protocol, args, *more, **kwargs)  # type: ignore[misc]
        finally:
            del self._work[token]
        self._children.append((transport, name))
        return transport

    def _waits_real(self) -> bool:
        """Whether the loop waits in real time, not jumping to its next timer: a pass-through exchange, an executor
        job or a subprocess is under way. Two attribute tests when none is (the hot path of pure virtual code)."""
        if self._real_io or self._work:
            return True
        if self._children:
            self._children = [c for c in self._children if c[0].get_returncode() is None]
        return bool(self._children)

    def _hopeless(self) -> None:
        """With no timer and no real work pending, raise at once if nothing can ever wake the loop: no file
        descriptor is registered but its own wake-up pipe, no signal handler, and no other thread is alive (the
        loop's idle executor workers aside), so no ``call_soon_threadsafe`` can come. Any thread counts, one
        started before the attempt too: a library's worker thread made earlier (aiosqlite's connection, a pool
        wrapped with ``asyncio.wrap_future``) answers this loop's futures; a process with one (a pytest-xdist
        worker's execnet thread) waits ``REAL_IO_WAIT`` as before."""
        if self._waits_real():
            return
        own = self._ssock.fileno()  # type: ignore[attr-defined]
        if any(key.fd != own for key in self._selector.get_map().values()):
            return
        if getattr(self, "_signal_handlers", None):
            return
        idle = getattr(self._default_executor, "_threads", ())  # type: ignore[attr-defined]
        current = threading.current_thread()
        if any(t is not current and t not in idle for t in threading.enumerate()):
            return
        raise JobsimError(
            f"async job code waits for something nothing will ever set{_awaited(self)}: no virtual timer, I/O, "
            "thread or subprocess is pending that could wake it, so it would wait forever (set the event or "
            "future from job code, or bound the wait with asyncio.wait_for)"
        )

    def _stuck(self) -> JobsimError:
        """The error after ``REAL_IO_WAIT`` s of real time waited in vain, naming what the loop waited for."""
        if self._real_io:
            return JobsimError(
                f"a request passed through to the real network waited {REAL_IO_WAIT:g} s of real time "
                "for its server; is it running, and listening where the route sends the request?"
            )
        if self._waits_real():
            what = ", ".join(sorted(set(self._work.values()) | {n for _, n in self._children}))
            return JobsimError(
                f"async job code waited {REAL_IO_WAIT:.0f} s of real time for {what}; jobsim waits for such "
                "work in real time (virtual time standing still) up to that limit. Make it faster, or fake it "
                "in the test"
            )
        return JobsimError(
            f"async job code waited {REAL_IO_WAIT:.0f} s of real time for I/O or a thread it started, with no "
            "virtual timer pending; jobsim cannot advance virtual time past a real wait. "
            "Route HTTP through sim.http or await asyncio.sleep for virtual delays."
        )

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super().create_task(coro, **kwargs)
        if self._spawned is not None:
            self._spawned.append(task)
        return task

    def drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to completion in virtual time and return its result."""
        self._origin = self._jobsim_now()
        self.cut = None
        spawned: list[asyncio.Task[Any]] = []
        self._spawned = spawned
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            return self.run_until_complete(coro)
        finally:
            try:
                self._cancel_leftovers()
                self._report_unretrieved(spawned)
            finally:  # a leftover that raises on cancellation must not cost the caller its own running loop
                self._spawned = None
                events._set_running_loop(outer)

    def _report_unretrieved(self, spawned: list[asyncio.Task[Any]]) -> None:
        """The request's tasks that ended in an error nobody retrieved, reported now, in virtual time.

        asyncio logs such an error ("Task exception was never retrieved") only when the task is
        garbage-collected: at an arbitrary later moment when the run's error keeps the task alive
        (its traceback holds the handler's frame), in whatever test the collection falls in, and
        with whatever clock is then patched (time-machine's stack is empty for a moment as its
        travel stops). Here the same message is logged as the request ends, at the same instant every
        run. jobsim's own step errors are not logged: a ``StepMisuse`` is the attempt's recorded
        failure (``Execution.together``), a ``Suspend`` the end of the request.
        """
        for task in spawned:
            if task.cancelled() or not task.done() or not getattr(task, "_log_traceback", False):
                continue
            error = task.exception()  # retrieved: nothing more is logged when the task is collected
            if not isinstance(error, (Suspend, StepMisuse)):
                self.call_exception_handler({"message": "Task exception was never retrieved", "exception": error,
                                             "future": task})  # fmt: skip

    def _cancel_leftovers(self) -> None:
        """Tasks a handler spawned and did not await end with its request, as on a serverless call."""
        leftovers = sorted((t for t in asyncio.all_tasks(self) if not t.done()), key=_created)  # a set: in a
        # fixed order, so what they record when cancelled (an HTTP call cut short) is in the same order every run
        if not leftovers:
            return
        for task in leftovers:
            task.cancel()
        self.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def _named(func: Any) -> str:
    """``blocking_query()`` for a function run in a thread, through ``partial`` and ``Context.run`` (``to_thread``)."""
    while isinstance(func, functools.partial):
        run = func.func
        func = func.args[0] if getattr(run, "__name__", "") == "run" and func.args else run
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return f"{name}()" if name else repr(func)


def _command(args: Any) -> str:
    """The program a subprocess runs (``sleep``), or its shell command, shortened."""
    first = args if isinstance(args, (str, bytes)) else next(iter(args), "?")
    text = os.fsdecode(first) if isinstance(first, (str, bytes, os.PathLike)) else str(first)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _awaited(loop: asyncio.AbstractEventLoop) -> str:
    """`` (f at job.py:7 awaits Event.wait at locks.py:213)``: where each pending task (three at most) waits,
    from the outermost and innermost coroutines of its ``cr_await`` chain."""
    where = []
    for task in sorted((t for t in asyncio.all_tasks(loop) if not t.done()), key=_created)[:3]:
        frames: list[Any] = []
        coro = cast(Any, task.get_coro())
        while coro is not None and getattr(coro, "cr_frame", None) is not None and len(frames) < 100:
            frames.append(coro.cr_frame)
            coro = coro.cr_await
        if frames:
            spots = [f"{_qualname(f)} at {os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"
                     for f in dict.fromkeys((frames[0], frames[-1]))]  # fmt: skip
            where.append(" awaits ".join(spots))
    return f" ({'; '.join(where)})" if where else ""


def _qualname(frame: Any) -> str:
    """``Event.wait``: the code's qualified name (Python 3.11+), or before 3.11 its name after the class of its
    ``self``, when it has one."""
    code = frame.f_code
    if hasattr(code, "co_qualname"):
        return str(code.co_qualname)
    owner = frame.f_locals.get("self") if code.co_argcount else None
    return f"{type(owner).__name__}.{code.co_name}" if owner is not None else str(code.co_name)


def _created(task: asyncio.Task[Any]) -> tuple[int, str]:
    """Creation order: asyncio names tasks ``Task-<n>`` from one counter (named ones after, by name)."""
    name = task.get_name()
    number = name[5:] if name.startswith("Task-") else ""
    return (int(number), "") if number.isdigit() else (1 << 62, name)


# -- a plugin's worker process, pumped by the kernel ---------------------------------------------------------------

CLOSING_JUMPS = 10_000
"""While the simulation closes, how many timers the workers' shutdown may still wait for (then it is abandoned)."""


class PumpedWorld(Protocol):
    """What a ``PumpedLoop`` needs of the plugin's state for one simulation (its "world")."""

    sim: Simulation
    escaped: BaseException | None
    """An exception job code raised that must stop the test (``jobsim.hooks.escapes``): ``pump`` re-raises it."""

    def now_ns(self) -> int: ...

    def busy(self) -> bool:
        """Work ``run_until_idle`` waits for (then the loop's wake keeps the simulation busy)."""
        ...

    def placeholder_run(self) -> Run:
        """The run ``engine.x`` names while no job's task is running (the worker's own code)."""
        ...


W = TypeVar("W", bound=PumpedWorld)


class _KernelSelector:
    """Where the loop would block for ``timeout`` seconds, it parks instead (the kernel wakes it then)."""

    def __init__(self, inner: Any, park: Callable[[int | None], None], next_timer: Callable[[], float]) -> None:
        self._inner = inner
        self._park = park
        self._next_timer = next_timer

    def select(self, timeout: float | None = None) -> list[Any]:
        """A timeout under half a nanosecond is none: the virtual clock counts whole ns, and asyncio computes
        ``when - time()`` in float seconds, which leaves ~1e-16 s for a timer due now (``call_later(1)`` at 1.743 s
        is due at 2.7430000000000003). Parking for it stopped the loop after the timer ran but before the task it
        woke did, and the wake booked for this very instant was the one running: that task never ran again."""
        ready: list[Any] = self._inner.select(0)
        if ready or (timeout is not None and timeout * SECOND < 0.5):
            return ready
        if timeout is not None and timeout >= _MAX_SELECT:  # asyncio waits a day at most: to the timer itself
            timeout = max(timeout, self._next_timer())  # (a year's wait while closing was 365 parks of a day)
        self._park(None if timeout is None else max(1, math.ceil(timeout * SECOND)))
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Process(Execution):
    """``engine.x`` while the workers' loop runs: its clock is the process's (``time.sleep`` in job code blocks the
    loop and moves it), and job code inside it is attributed to the job whose task is running."""

    __slots__ = ("current", "default")

    def __init__(self, engine: Any, run: Run, start: int, current: contextvars.ContextVar[Any]) -> None:
        super().__init__(engine, run, 0, start)
        self.current = current

    @property
    def run_(self) -> Run:
        held = self.current.get()
        run: Run = held.run if held is not None else self.default
        return run

    @run_.setter
    def run_(self, value: Run) -> None:
        self.default = value


class PumpedLoop(VirtualLoop, Generic[W]):
    """An event loop on the simulation's clock that runs only when the kernel pumps it: a plugin's worker process.

    The backend's own worker code (arq's ``Worker.main()``, bullmq-python's ``Worker.run()``) runs here unchanged.
    ``time()`` is the virtual clock; where a real loop would block in ``select`` until its next timer, this one stops
    and books a kernel timer at that instant (``book``); the kernel calls ``pump`` then, which runs everything due
    until every task waits for a later instant. Whatever wakes a blocked worker earlier -- a job added by the test or
    by another function -- calls ``poke`` at the instant it happens, so tasks interleave at their ``await`` points
    exactly as on one real worker process, with the backend's server answering in no time.

    While the world is ``busy()`` (a job under way or waiting) the booked wake is one-off ``NORMAL`` work, which
    ``run_until_idle`` waits for; otherwise it is ``recurring`` at ``BACKGROUND`` priority, like a cron tick, and
    keeps nothing busy. ``book`` keeps a wake already booked for the same instant and kind.

    A blocking call in job code (``time.sleep``, a sync client, a call the subclass runs inline) moves the process's
    own clock past the simulation's instant and holds the whole process there, as it holds a real worker's event
    loop: the loop stops after the turn in which the call returned (``_run_once``), and its next wake is not before
    that instant (``next_wake_ns``), so no other task -- a lock renewal, a poll, another job -- runs meanwhile.
    ``blocked_until()`` says until when; ``resuming`` is true during the first turn run after it; ``unblock()``
    ends the hold early (the call died with its worker); ``jobsim.hooks.gate_while_blocked`` makes the backend's
    server commands wait for the call's return too.

    A subclass names itself in ``wake_owner``, sets ``current`` (the context variable holding the job whose task
    runs, an object with a ``run``), and may move the wake with ``next_due_ns`` (skip what would change nothing)
    and shape the shutdown with ``_begin_close``, ``_leftovers``, ``_end_close`` and ``_closing_scope``.
    """

    wake_owner: ClassVar[str] = "pumped loop"
    """The kernel timer's owner (named in budget and trace messages)."""
    current: ClassVar[contextvars.ContextVar[Any]]
    moves_wallclock: ClassVar[bool] = False
    """True when entering the process also moves the patched wall clock to the process's instant."""

    _ready: Any
    _scheduled: list[Any]

    def __init__(self, world: W) -> None:
        self.world = world
        self._skew = 0  # ns added to the clock while closing (time no longer matters then)
        self.closing = False
        self._wake: Any = None
        self._wake_due: int | None = None
        self.pumping = False
        self.resuming = False
        """True during the first turn the loop runs after a blocking call returned (``blocked_until``)."""
        self._process: _Process | None = None
        super().__init__(world.now_ns, self._spend)
        self._selector = _KernelSelector(self._selector, self._park, self._next_timer)  # type: ignore[assignment]

    # -- the clock ----------------------------------------------------------------------------------------------------
    def time(self) -> float:
        return (self.world.now_ns() + self._skew - self._origin) / SECOND

    def timer_ns(self, handle: asyncio.TimerHandle) -> int:
        """The instant (epoch ns) a timer of this loop is due."""
        return int(self._origin + round(handle.when() * SECOND))

    def next_timer_ns(self) -> int | None:
        """The instant (epoch ns) of the loop's next live timer, or None."""
        live = [h.when() for h in self._scheduled if not h.cancelled()]
        return int(self._origin + round(min(live) * SECOND)) if live else None

    def _spend(self, ns: int) -> None:  # pragma: no cover - replaced by _park: the inner selector never blocks
        raise AssertionError(ns)

    def _park(self, ns: int | None) -> None:
        """The loop would block: stop, to be pumped again at its next instant; while closing, time jumps instead."""
        if self.closing:
            self._skew += ns or 0
            return
        self.stop()

    @contextlib.contextmanager
    def process(self) -> Iterator[None]:
        """While the loop runs: ``engine.x`` is the process, on the clock the process has reached."""
        sim = self.world.sim
        engine = sim.engine
        outer = engine.x
        if self._process is None:
            self._process = _Process(engine, self.world.placeholder_run(), sim.kernel.now, self.current)
        x = self._process
        x.now = max(x.now, sim.kernel.now) if outer is None else max(x.now, outer.now)
        engine.x = x
        engine.move_clock(x.now)
        if self.moves_wallclock:
            sim.wallclock.move(x.now)
        try:
            yield
        finally:
            engine.x = outer

    # -- driven by the kernel -----------------------------------------------------------------------------------------
    def pump(self) -> None:
        """Run everything due now, until every task waits for a later instant; then book that instant."""
        if self.pumping or self.is_closed():
            return
        self.pumping = True
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            with self.process():
                self.run_forever()
        finally:
            events._set_running_loop(outer)
            self.pumping = False
        self.book()
        escaped, self.world.escaped = self.world.escaped, None
        if escaped is not None:
            raise escaped

    def next_due_ns(self) -> int | None:
        """When the loop wants its next pump, blocking calls aside: now if callbacks are ready, else at the next timer
        (None: never). A subclass moves its wakes here (skips what would change nothing)."""
        return self.world.now_ns() if self._ready else self.next_timer_ns()

    def next_wake_ns(self) -> int | None:
        """When the kernel must pump next: ``next_due_ns()``, but never before the instant a blocking call took the
        process to (``blocked_until``), even with nothing else due."""
        due = self.next_due_ns()
        ahead = self.blocked_until()
        return due if ahead is None else ahead if due is None else max(due, ahead)

    # -- blocking calls -----------------------------------------------------------------------------------------------
    def blocked_until(self) -> int | None:
        """The instant (epoch ns) a blocking call in job code took the process to, while the simulation has not
        reached it yet: until then the process is blocked, and nothing on the loop runs (None: it is not)."""
        x = self._process
        if x is None or self.closing or x.now <= self.world.sim.kernel.now:
            return None
        return int(x.now)

    def unblock(self) -> None:
        """The blocking call died with its worker (a crash): the process is back at the simulation's instant."""
        if self._process is not None:
            self._process.now = self.world.sim.kernel.now
        self.resuming = False

    def _run_once(self) -> None:
        """One turn of the loop; after a turn in which job code blocked the process past the simulation's instant,
        the loop stops until the simulation reaches the instant the call returned (``next_wake_ns``), and the turn
        run then is ``resuming``. The code after the call in the same task runs in the blocked turn, stamped with
        the call's instant (the process's clock); every other task waits."""
        super()._run_once()  # type: ignore[misc]
        self.resuming = False
        if self.pumping and self.blocked_until() is not None:
            self.stop()
            self.resuming = True  # the loop's next turn is the first after the call returned

    def book(self) -> None:
        """Ask the kernel to pump at ``next_wake_ns`` (a wake booked already for that instant is kept)."""
        if self.is_closed():
            return
        due = self.next_wake_ns()
        if due is None:
            return
        busy = self.world.busy()
        wake = self._wake
        if wake is not None and not wake.cancelled and self._wake_due == due and busy == (not wake.recurring):
            return  # booked already
        if wake is not None:
            self.world.sim.kernel.cancel(wake)
        self._wake_due = due
        self._wake = self.world.sim.kernel.schedule(due, self.pump, owner=self.wake_owner, recurring=not busy,
                                                    priority=NORMAL if busy else BACKGROUND)  # fmt: skip

    def poke(self) -> None:
        """Something outside the loop changed what the workers will find (woke one of its futures): re-book, to
        pump at once if something is ready (after what runs now)."""
        if not self.pumping:
            self.book()

    # -- the end ------------------------------------------------------------------------------------------------------
    def close_down(self, closing: Iterable[Any] = ()) -> None:
        """The simulation closes: the workers shut down, time jumping as they wait, then the loop is closed.

        ``_begin_close(closing)`` starts the shutdown and returns the tasks whose end matters; the loop then runs
        until no task is pending, each timer it waits for reached at once (``_park`` adds the wait to the clock's
        skew), up to ``CLOSING_JUMPS`` waits; between waits ``_leftovers`` decides what to cancel. ``_end_close``
        collects what the watched tasks ended with."""
        self.closing = True
        outer = events._get_running_loop()
        events._set_running_loop(None)
        try:
            with self._closing_scope():
                tasks = self._begin_close(closing)
                pending = [t for t in asyncio.all_tasks(self) if not t.done()]
                jumps = 0
                while pending and jumps < CLOSING_JUMPS:
                    self._stopping = False
                    self.run_until_complete(asyncio.wait(pending, timeout=None))
                    pending = [t for t in asyncio.all_tasks(self) if not t.done()]
                    self._leftovers(pending, tasks)
                    jumps += 1
                self._end_close(tasks)
        finally:
            events._set_running_loop(outer)
            if self._wake is not None:
                self.world.sim.kernel.cancel(self._wake)
            self.close()

    def _closing_scope(self) -> contextlib.AbstractContextManager[Any]:
        """What the shutdown runs inside (by default nothing: not attributed to the process)."""
        return contextlib.nullcontext()

    def _begin_close(self, closing: Iterable[Any]) -> list[asyncio.Task[Any]]:
        """Start the shutdown: by default every pending task is cancelled, as when the process is killed, and the
        tasks in ``closing`` are watched."""
        for task in [t for t in asyncio.all_tasks(self) if not t.done()]:
            task.cancel()
        return list(closing)

    def _leftovers(self, pending: list[asyncio.Task[Any]], tasks: list[asyncio.Task[Any]]) -> None:
        """Tasks still pending after a wait: by default cancelled again (clean-up code may have started more)."""
        for task in pending:
            task.cancel()

    def _end_close(self, tasks: list[asyncio.Task[Any]]) -> None:
        """The watched tasks' exceptions are retrieved: nothing is logged as "never retrieved"."""
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()
