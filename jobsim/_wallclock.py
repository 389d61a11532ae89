"""The wall-clock bridge: while a simulation drives job code, the wall clock is virtual.

``datetime.now()``, ``datetime.utcnow()``, ``date.today()``, ``time.time()``, ``time.ctime()``
and ``time.asctime()`` return the virtual time of the code that is executing, ``time.monotonic()`` moves with
it (``_monotonic_ns``), ``time.sleep(x)`` spends ``x`` of virtual time without
blocking, and ``uuid.uuid4()`` draws from the running function's seeded stream
(``_seeded_uuid4``).

Why time-machine and not freezegun (``benchmarks/bench_wallclock.py`` measures it):
freezegun's ``start()`` walks every loaded module to rebind ``from time import
time`` references — tens of milliseconds with a few thousand modules, more than the
whole budget of a test — and every faked call walks the stack. time-machine swaps the
C function pointers of the builtins themselves: O(1) to start (about 10 µs) and every
existing reference follows. It is CPython-only, so freezegun remains the fallback on
other interpreters, started once per driving call and moved, never per step.

The bridge is active only inside ``sim.advance``/``advance_to``/``run_until_idle``;
test code between those calls sees the real clock. ``time.sleep`` is patched on the
``time`` module, and so are module globals bound to it by ``from time import sleep``
(``_BuiltinNames``; ``from uuid import uuid4`` likewise); it only acts virtually on the
simulation's own thread. So does the wall clock (``_traveller_ns``): a thread job code started
reads the job's time moving on in real time, as its sleeps are real, and any other thread (the
test's own event loop, while another thread drives) what it would read without jobsim.

A test may hold the clock itself around those calls. time-machine nests: its
``travel`` (or the ``time_machine`` fixture) in the test and jobsim's inside both
work. freezegun does not let time-machine start while it is active ("time-machine
cannot start when freezegun is active"), so under a test's ``freeze_time`` the bridge
freezes one level deeper with freezegun instead: a nested ``freeze_time`` only pushes
a factory on freezegun's stack (no module scan), and stopping it gives the test its
frozen time back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import math
import operator
import os
import random
import socket
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ._time import MAX_NS, SECOND, iso, to_datetime
from .errors import InvalidArgument, JobsimError

time_machine: Any
try:  # pragma: no branch
    import time_machine
except ImportError:  # pragma: no cover - non-CPython
    time_machine = None

# The fast path pokes the traveller's destination (a plain attribute, 0.1 µs) instead of
# ``move_to`` (8 µs: it stops and restarts the traveller); guarded so a future
# time-machine without the attribute falls back to the public API.
_FAST_MOVE = time_machine is not None and "_destination_timestamp_ns" in vars(
    time_machine.Traveller(0, None, tick=False)
)
# time-machine 3 asks the traveller on top of its stack for the time (its ``time_ns()``) at every patched call:
# one of jobsim's answers per thread (``WallClock._traveller_ns``)
_PER_THREAD = _FAST_MOVE and callable(vars(time_machine.Traveller).get("time_ns")) and isinstance(
    getattr(time_machine, "traveller_stack", None), list)


_BUILTIN_SLEEP = time.sleep
_BUILTIN_UUID4 = uuid.uuid4
_BUILTIN_MONOTONIC = time.monotonic
_BUILTIN_MONOTONIC_NS = time.monotonic_ns
_BUILTIN_CTIME = time.ctime
_BUILTIN_ASCTIME = time.asctime


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No automatic garbage collection inside: time-machine patches ``time.time`` before its travel is on its
    stack and takes it off before unpatching, and a finalizer run by a collection in between (asyncio's
    "Task exception was never retrieved" log of a task an earlier test left) reads the empty stack: an
    ``IndexError`` from inside time-machine, in whatever test the collection falls in."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _ctime(secs: float | None = None) -> str:
    """``time.ctime()`` reads the C clock itself, which time-machine does not reach: now is ``time.time()``."""
    return _BUILTIN_CTIME(time.time() if secs is None else secs)


def _asctime(t: Any = None) -> str:
    """``time.asctime()`` with no argument formats the C library's ``localtime()``: now is ``time.localtime()``."""
    return _BUILTIN_ASCTIME(time.localtime() if t is None else t)


class _BuiltinNames:
    """Module globals bound to ``time.sleep`` or ``uuid.uuid4`` themselves (``from time import sleep``,
    ``sleep = time.sleep``, ``from uuid import uuid4``): patching the module does not reach them, so
    they slept in real time (drew from ``os.urandom``). Likewise ``time.monotonic``/``monotonic_ns``
    (``from time import monotonic``), which measured no virtual wait, but only in the application's
    modules (``_application``): the standard library's (``threading``, ``queue``: a ``Condition.wait``
    timeout) and installed libraries' measure real waits and keep the real clock, as before.

    Each module is looked at once per process, when a driving call first finds it in
    ``sys.modules`` (about 8 µs a module: what freezegun pays at every start, paid here once), and
    its names are rebound for the length of each driving call. A module imported during a call
    is found at the next one. jobsim's own modules are left alone.
    """

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}  # module name -> id() of the module looked at under it
        self.state: tuple[int, str, int] = (0, "", 0)
        self.found: list[tuple[dict[str, Any], str, Any]] = []
        """``(namespace, key, builtin)``: ``namespace[key]`` was ``builtin`` when first seen."""

    def refresh(self) -> list[tuple[dict[str, Any], str, Any]]:
        """The names to rebind, after looking at the modules new in ``sys.modules``: its size, last key and last
        module tell (a new import goes last), also when a module was dropped and another imported since (the
        size alone stayed the same) or one was imported again under its old name (a new module object)."""
        modules = sys.modules
        last = next(reversed(modules), "")
        state = (len(modules), last, id(modules.get(last)))
        if state != self.state:
            for name, module in list(modules.items()):
                if self.seen.get(name) == id(module):
                    continue
                self.seen[name] = id(module)
                namespace = getattr(module, "__dict__", None)
                if name in ("time", "uuid") or name.startswith("jobsim") or type(namespace) is not dict:
                    continue
                builtins = _CAPTURED + (_CLOCKS if _application(name, module) else ())
                self.found.extend((namespace, key, value) for key, value in list(namespace.items())
                                  if any(value is builtin for builtin in builtins))
            self.state = state
        return self.found


_CAPTURED = (_BUILTIN_SLEEP, _BUILTIN_UUID4)
_CLOCKS = (_BUILTIN_MONOTONIC, _BUILTIN_MONOTONIC_NS)
_LIBRARIES = tuple({os.path.realpath(sysconfig.get_paths()[key]) + os.sep
                    for key in ("stdlib", "platstdlib", "purelib", "platlib")})  # fmt: skip


def _application(name: str, module: Any) -> bool:
    """A module of the application or its tests: neither the standard library nor an installed distribution."""
    if name.partition(".")[0] in sys.stdlib_module_names:
        return False
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and not os.path.realpath(path).startswith(_LIBRARIES)


_BUILTIN_NAMES = _BuiltinNames()
_MONOTONIC_HIGH = [0]
"""The highest ``time.monotonic_ns()`` job code of any simulation of this process was given: the next
simulation's job code starts above it, so a value kept across tests never sees that clock go back. Only
values given count, not how far a simulation went: a suite of simulations each spanning years, summed,
put job code's clock thousands of years past the real one, where a double of seconds keeps only
microseconds (a 3 s ``response.elapsed`` read 3.000004 s)."""


def _virtual_loop_class() -> type:
    from ._aio import VirtualLoop

    return VirtualLoop


class WallClock:
    """Makes the process's wall clock follow ``now()`` while active."""

    def __init__(self, now: Callable[[], int], sleep: Callable[[int], None], seed: int = 0,
                 job_rng: Callable[[], random.Random | None] = lambda: None, start_ns: int | None = None) -> None:
        self._now = now
        self._start_ns = now() if start_ns is None else start_ns
        """A log record's ``relativeCreated`` in job code counts from here, the simulation's start (``_log_record``)."""
        self._real_log_record: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
        self._log_record_factory = self._log_record  # one bound method: deactivate gives the factory back by identity
        self._job_rng = job_rng
        """The running function's stream while job code runs, else None (``_seeded_uuid4``)."""
        self._sleep = sleep
        self._seed = seed
        self._job_random: tuple[Any, ...] | None = None
        """The global ``random``'s state for job code, carried from one driving call to the next."""
        self._random_outside: tuple[Any, ...] | None = None
        """The test's state of the global ``random``, set aside while job code has it (``_take_random``)."""
        self._job_loop: asyncio.AbstractEventLoop | None = None
        """The loop ``asyncio.get_event_loop()`` gives sync job code: a virtual one of its own, made when first
        asked for (not the one async handlers run on: older code closes what it got when it is done)."""
        self._depth = 0
        self._thread = 0
        self._travel: Any = None
        self._traveller: Any = None
        self._real_sleep = time.sleep
        self._told: Any = None  # the test's mock of time.sleep, told of each sleep (``_virtual_sleep``)
        self._virtual = self._virtual_sleep  # one bound method: module globals are given back by identity
        self._real_uuid4 = uuid.uuid4
        self._uuid4 = self._seeded_uuid4
        self._rebound: list[tuple[dict[str, Any], str, Any, Any]] = []
        self._real_new_loop = asyncio.events.new_event_loop
        self._real_get_loop = asyncio.events.get_event_loop
        self._real_monotonic = time.monotonic
        self._real_monotonic_ns = time.monotonic_ns
        self._real_ctime, self._real_asctime = time.ctime, time.asctime
        self._monotonic_origin: int | None = None
        """Job code's ``time.monotonic_ns()`` is this plus the virtual now (``_monotonic_ns``)."""
        self._monotonic_given = 0
        """The highest value ``_monotonic_ns`` gave job code: ``_MONOTONIC_HIGH`` at ``deactivate``."""
        self._job_threads: set[int] = set()
        """Threads job code started (``_start_thread``), while they run: their wall clock is the job's, moving on in
        real time (``_job_thread_ns``)."""
        self._thread_origin = 0
        """A thread job code started reads at least this plus the real monotonic clock: the virtual now at the
        driving call's start, advancing in real time from there."""
        self._thread_high = 0
        self._real_thread_start = threading.Thread.start
        self._start_thread = self._thread_starter()
        self._sched_defaults: tuple[Any, ...] | None = None
        """``sched.scheduler.__init__``'s default clocks, while job code's are in their place (``_bind_sched``)."""
        self._policy_local: Any = None
        self._policy_loop: Any = None
        self._outer_loop: asyncio.AbstractEventLoop | None = None
        self._blocked_before: asyncio.AbstractEventLoop | None = None
        if time_machine is None:  # pragma: no cover - PyPy
            self.move = self._move_freezegun  # type: ignore[method-assign]
        elif not _FAST_MOVE:  # pragma: no cover - other time-machine versions
            self.move = self._move_public  # type: ignore[method-assign]

    def activate(self) -> None:
        if not self._depth:
            check_clock_classes()
        self._depth += 1
        if self._depth > 1:
            return
        self._thread = threading.get_ident()
        start = self._now()
        if time_machine is not None and not _freezegun_active():
            self._travel = time_machine.travel(to_datetime(start), tick=False)
            with _no_collection():
                self._traveller = self._travel.start()
            if _PER_THREAD:  # time-machine looks the method up on the instance first
                self._traveller.time_ns = self._traveller_ns(self._traveller)
        else:
            import freezegun

            self._travel = freezegun.freeze_time(to_datetime(start))
            factory = self._travel.start()
            self._traveller = factory if time_machine is None else _Frozen(factory)
        self._real_sleep = time.sleep
        self._told = self._real_sleep if _is_mock(self._real_sleep) else None
        time.sleep = self._virtual  # type: ignore[assignment]
        self._real_uuid4 = uuid.uuid4
        uuid.uuid4 = self._uuid4
        # `from time import sleep`, `from uuid import uuid4` in job code and its libraries
        for namespace, key, builtin in _BUILTIN_NAMES.refresh():
            old = namespace.get(key)
            if builtin is _BUILTIN_SLEEP and (old is _BUILTIN_SLEEP or old is self._real_sleep):
                namespace[key] = self._virtual
                self._rebound.append((namespace, key, old, self._virtual))
            elif builtin is _BUILTIN_UUID4 and (old is _BUILTIN_UUID4 or old is self._real_uuid4):
                namespace[key] = self._uuid4
                self._rebound.append((namespace, key, old, self._uuid4))
        self._real_new_loop = asyncio.events.new_event_loop
        asyncio.events.new_event_loop = asyncio.new_event_loop = self._new_loop
        self._real_monotonic, self._real_monotonic_ns = time.monotonic, time.monotonic_ns
        if self._monotonic_origin is None:
            self._monotonic_origin = max(self._real_monotonic_ns(), _MONOTONIC_HIGH[0]) - start
        time.monotonic, time.monotonic_ns = self._monotonic, self._monotonic_ns
        for namespace, key, builtin in _BUILTIN_NAMES.found:  # `from time import monotonic` in the application
            old = namespace.get(key)
            for real, virtual in ((_BUILTIN_MONOTONIC, self._monotonic), (_BUILTIN_MONOTONIC_NS, self._monotonic_ns)):
                if builtin is real and old is real:
                    namespace[key] = virtual
                    self._rebound.append((namespace, key, old, virtual))
        self._real_ctime, self._real_asctime = time.ctime, time.asctime
        time.ctime, time.asctime = _ctime, _asctime  # type: ignore[assignment]
        self._thread_origin = start - _BUILTIN_MONOTONIC_NS()
        self._real_thread_start = threading.Thread.start
        threading.Thread.start = self._start_thread  # type: ignore[method-assign,assignment]
        self._bind_sched()
        # the thread's current loop, as asyncio.set_event_loop set it (pytest-asyncio: the test's): job code may
        # set its own (asyncio.run sets one, then None), which must not outlive the call
        self._policy_local = getattr(asyncio.events.get_event_loop_policy(), "_local", None)
        self._policy_loop = getattr(self._policy_local, "_loop", None)
        self._real_get_loop = asyncio.events.get_event_loop
        asyncio.events.get_event_loop = asyncio.get_event_loop = self._get_loop
        # a driving call made from an async test blocks that test's loop: job code runs as on a worker,
        # outside it (asyncio.run in a sync handler raised "cannot be called from a running event loop")
        self._outer_loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        self._blocked_before = getattr(_BLOCKED, "loop", None)
        _BLOCKED.loop = self._outer_loop
        self._real_log_record = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self._log_record_factory)

    def deactivate(self) -> None:
        self._depth -= 1
        if self._depth:
            return
        if self._random_outside is not None:
            self._job_random = random.getstate()
            random.setstate(self._random_outside)
            self._random_outside = None
        asyncio.events._set_running_loop(self._outer_loop)
        _BLOCKED.loop = self._blocked_before
        self._outer_loop = self._blocked_before = None
        time.sleep = self._real_sleep
        self._told = None
        uuid.uuid4 = self._real_uuid4
        for namespace, key, old, new in self._rebound:
            if namespace.get(key) is new:
                namespace[key] = old
        self._rebound.clear()
        if logging.getLogRecordFactory() is self._log_record_factory:  # job code may have set one of its own
            logging.setLogRecordFactory(self._real_log_record)
        asyncio.events.new_event_loop = asyncio.new_event_loop = self._real_new_loop
        asyncio.events.get_event_loop = asyncio.get_event_loop = self._real_get_loop
        time.monotonic, time.monotonic_ns = self._real_monotonic, self._real_monotonic_ns
        time.ctime, time.asctime = self._real_ctime, self._real_asctime
        sched = sys.modules.get("sched")
        if self._sched_defaults is not None and sched is not None:
            if sched.scheduler.__init__.__defaults__ == (self._monotonic, self._virtual):
                sched.scheduler.__init__.__defaults__ = self._sched_defaults
            self._sched_defaults = None
        if threading.Thread.start is self._start_thread:  # job code may have patched it on top: then it stays
            threading.Thread.start = self._real_thread_start  # type: ignore[method-assign]
        if self._monotonic_given > _MONOTONIC_HIGH[0]:
            _MONOTONIC_HIGH[0] = self._monotonic_given
        if self._policy_local is not None and getattr(self._policy_local, "_loop", None) is not self._policy_loop:
            self._policy_local._loop = self._policy_loop
        self._policy_local = self._policy_loop = None
        with _no_collection():
            self._travel.stop()
        self._travel = self._traveller = None

    def active(self) -> bool:
        """A driving call is under way, on whatever thread."""
        return self._depth > 0

    def drives_this_thread(self) -> bool:
        """A driving call is under way and the calling thread is the one it runs job code on."""
        return self._depth > 0 and threading.get_ident() == self._thread

    def _traveller_ns(self, traveller: Any) -> Callable[[], int]:
        """The ``time_ns()`` of ``traveller``, the driving call's: the wall clock time-machine shows the calling thread
        (``datetime.now()``, ``time.time()``, ``localtime()``... all read it) while it is on top of its stack.

        The virtual now on the thread running job code; the job's time moving on in real time on a thread job code
        started (``_job_thread_ns``); and what it would be without jobsim on any other: the test's own event loop
        and threads (``await asyncio.to_thread(sim.run_until_idle)`` leaves the test's loop running) read the real
        clock, or the test's ``travel`` beneath. It gave every thread the virtual now: the test's coroutines read
        the simulation's 2025 beside the real 2026, and a thread job code started saw a clock that never moved
        while its ``time.sleep`` was real, so a ``time.time()`` deadline there never came. A closure: job code
        calls it at every ``datetime.now()``, and one comparison is all its own thread pays (about 50 ns)."""
        clock, get_ident = self, threading.get_ident

        def time_ns() -> int:
            if get_ident() == clock._thread:
                ns: int = traveller._destination_timestamp_ns
                return ns
            return clock._other_thread_ns(traveller)

        return time_ns

    def _other_thread_ns(self, traveller: Any) -> int:
        if threading.get_ident() in self._job_threads:
            return self._job_thread_ns(traveller._destination_timestamp_ns)
        stack = time_machine.traveller_stack
        below = next((stack[i - 1] for i in range(len(stack) - 1, 0, -1) if stack[i] is traveller), None)
        real: int = time_machine.escape_hatch.time.time_ns() if below is None else below.time_ns()
        return real

    def _job_thread_ns(self, virtual: int) -> int:
        """The wall clock of a thread job code started: the job's virtual now, or the driving call's virtual start
        plus the real time since, whichever is later, and never back. Its ``time.sleep`` and ``time.monotonic``
        are real, so a deadline it measures with ``time.time()`` comes in real time, as they do."""
        ns = max(virtual, self._thread_origin + _BUILTIN_MONOTONIC_NS(), self._thread_high)
        self._thread_high = ns
        return ns

    def _thread_starter(self) -> Callable[[threading.Thread], None]:
        """``threading.Thread.start`` while a driving call runs: a thread started from job code's thread, or from a
        thread it started (a ``ThreadPoolExecutor``'s workers), counts as job code's while it runs
        (``_job_threads``); one the test or a library starts from elsewhere does not."""
        clock = self

        def start(thread: threading.Thread) -> None:
            ident = threading.get_ident()
            if ident == clock._thread or ident in clock._job_threads:
                run = thread.run

                def run_as_job() -> None:
                    own = threading.get_ident()
                    clock._job_threads.add(own)
                    try:
                        run()
                    finally:
                        clock._job_threads.discard(own)

                thread.run = run_as_job  # type: ignore[method-assign]
            clock._real_thread_start(thread)

        return start

    def move(self, ns: int) -> None:
        """Point the wall clock at ``ns`` (epoch ns); cheap, called before each execution."""
        if self._traveller is not None:
            self._traveller._destination_timestamp_ns = ns
            if self._random_outside is None:
                self._take_random()

    def _take_random(self) -> None:
        """Give job code the global ``random`` of the simulation's seed, at the driving call's first execution
        (a driving call that runs no job code pays nothing); ``deactivate`` gives the test its own back.

        Job code and the libraries it calls draw from the module's generator (``random.random()``, a retry
        helper's jitter, ``email.generator``'s MIME boundaries). Seeded from the simulation's seed and carried
        from one driving call to the next, the same seed gives the same draws whatever the test did with
        ``random`` (pytest-randomly reseeds it before every test, Hypothesis per example) and in whichever
        order the tests run; test code between driving calls draws as if none happened. A stream of its own,
        not ``sim.rng``'s: jobsim's jitter draws stay what they were.
        """
        if self._job_random is None:
            self._job_random = random.Random(f"jobsim job code {self._seed}").getstate()
        self._random_outside = random.getstate()
        random.setstate(self._job_random)

    def _move_public(self, ns: int) -> None:  # pragma: no cover - older time-machine
        if self._traveller is not None:
            self._traveller.move_to(to_datetime(ns), tick=False)
            if self._random_outside is None:
                self._take_random()

    def _move_freezegun(self, ns: int) -> None:  # pragma: no cover - PyPy
        if self._traveller is not None:
            self._traveller.move_to(to_datetime(ns).replace(tzinfo=None))
            if self._random_outside is None:
                self._take_random()

    def _bind_sched(self) -> None:
        """``sched.scheduler()`` in job code waits on the clocks its ``__init__`` took as default arguments when
        ``sched`` was imported, the real ``time.monotonic`` and ``time.sleep``, which patching ``time`` does not
        reach: its events waited in real time. Those defaults are job code's clocks for the driving call."""
        sched = sys.modules.get("sched")
        init = getattr(getattr(sched, "scheduler", None), "__init__", None)
        defaults = getattr(init, "__defaults__", None)
        if defaults == (_BUILTIN_MONOTONIC, _BUILTIN_SLEEP) or (  # or a clock's, imported during a driving call
                isinstance(defaults, tuple) and len(defaults) == 2
                and getattr(defaults[0], "__func__", None) is WallClock._monotonic
                and getattr(defaults[1], "__func__", None) is WallClock._virtual_sleep):  # fmt: skip
            self._sched_defaults = init.__defaults__  # type: ignore[union-attr]
            init.__defaults__ = (self._monotonic, self._virtual)  # type: ignore[union-attr]

    def _virtual_sleep(self, seconds: float) -> None:
        if threading.get_ident() != self._thread or not self._depth:  # kept past the call: a scheduler's delayfunc
            self._real_sleep(seconds)
            return
        ns = _sleep_ns(seconds)
        if self._told is not None:  # the test patched time.sleep with a mock to assert on: it sees the call too
            self._told(seconds)
        self._sleep(ns)

    def spend(self, seconds: float) -> None:
        """Job code on the driving thread spends ``seconds`` of virtual time (a timed wait nothing ended,
        ``jobsim._threadwaits``), as a ``time.sleep`` of it does, without telling the test's mock of ``sleep``."""
        self._sleep(_sleep_ns(seconds))

    def _seeded_uuid4(self) -> uuid.UUID:
        """``uuid.uuid4()`` in job code: drawn from the running function's stream (``sim.rng_for``), so
        the same seed gives the same ids and a replay of the trace sees the idempotency keys, file names
        and correlation ids job code made with it again. It drew from ``os.urandom``: every run of a test
        gave other ids, and every replay diverged where a request or an email carried one. Test code,
        other threads and draws outside job code keep the real one."""
        rng = self._job_rng() if threading.get_ident() == self._thread else None
        if rng is None:
            return self._real_uuid4()
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def _log_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        """A log record made while a driving call runs: its ``created`` (so ``msecs`` and ``asctime``) is the
        virtual wall clock, and ``relativeCreated`` counts the milliseconds since the simulation's start, not
        since logging was imported in real time: a simulation set in the past gave -55288269375 (a record of
        job code at 2025-03-01 in a process started in 2026). The records of job code's thread and of threads it
        started (from their ``created``: their clock moves on in real time); the test's records, from its
        threads meanwhile or between driving calls, are left as logging makes them. Wraps the factory in place
        (the test's own, pytest's), so what it adds stays."""
        record = self._real_log_record(*args, **kwargs)
        if self._depth:  # a factory job code installed on top of this one outlives the call: then it is a no-op
            ident = threading.get_ident()
            if ident == self._thread:  # from the clock's integer ns, as Python 3.13's logging counts
                record.relativeCreated = (self._now() - self._start_ns) / 1_000_000
            elif ident in self._job_threads:
                record.relativeCreated = record.created * 1000 - self._start_ns / 1_000_000
        return record

    def _monotonic_ns(self) -> int:
        """``time.monotonic_ns()`` in job code: the virtual clock, from near the real one at the simulation's
        first driving call, so a deadline job code measures with it (tenacity's ``stop_after_delay``, a
        poll loop's timeout) runs out as its virtual waits add up, as on a worker. It gave the real clock:
        virtual waits never added up, and such a helper called a failing service for the delay in *real*
        seconds. Other threads, and a real event loop job code made itself while it runs (its timers wait
        in real time), keep the real clock."""
        origin = self._monotonic_origin
        if origin is None or threading.get_ident() != self._thread or not self._depth:
            return self._real_monotonic_ns()
        loop = asyncio.events._get_running_loop()
        if loop is not None and not isinstance(loop, _virtual_loop_class()):
            return self._real_monotonic_ns()
        ns = origin + self._now()
        if ns > self._monotonic_given:
            self._monotonic_given = ns
        return ns

    def _monotonic(self) -> float:
        # as CPython's _PyTime_AsSecondsDouble turns ns into seconds (the double of ns, divided by 1e9): int / int
        # rounds once, exactly, and could give 1 ulp less than the real time.monotonic() of a smaller ns
        ns = self._monotonic_ns()
        return float(ns // SECOND) if ns % SECOND == 0 else float(ns) / 1e9

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        """A loop job code starts itself (``asyncio.run`` in a sync handler) keeps virtual time too:
        a real one would wait its ``asyncio.sleep`` in real time, on ``time.monotonic``, and spend none.

        A loop job code keeps for later (a cached ``new_event_loop()``) and runs outside this
        simulation's driving calls goes back to real time, as a loop it made itself would."""
        if threading.get_ident() != self._thread:
            return self._real_new_loop()
        from ._aio import VirtualLoop

        return VirtualLoop(self._loop_now, self._loop_spend)

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        """``asyncio.get_event_loop()`` in sync job code (``get_event_loop().run_until_complete(...)``, older
        code's way of calling async code): a virtual loop, as a worker's thread has a loop of its own. It got
        the test's loop instead: a real one, whose ``asyncio.sleep`` waited in real time and spent no virtual
        time, or, in an async test, the running test loop ("This event loop is already running"). A loop job
        code set itself (``asyncio.set_event_loop``) is its own; elsewhere, asyncio's."""
        if threading.get_ident() != self._thread or asyncio.events._get_running_loop() is not None:
            return self._real_get_loop()
        own = getattr(self._policy_local, "_loop", None)
        if own is not None and own is not self._policy_loop:
            return own  # type: ignore[no-any-return]
        if self._job_loop is None or self._job_loop.is_closed():  # job code closes it when done: a fresh one
            from ._aio import VirtualLoop

            self._job_loop = VirtualLoop(self._loop_now, self._loop_spend)
        return self._job_loop

    def close(self) -> None:
        """The simulation closes: so does the loop ``asyncio.get_event_loop()`` gave its job code."""
        if self._job_loop is not None and not self._job_loop.is_closed():
            self._job_loop.close()
        self._job_loop = None

    def _loop_now(self) -> int:
        # monotonic, not time.time(): another simulation's bridge may be holding that still meanwhile
        return self._now() if self._depth else time.monotonic_ns()

    def _loop_spend(self, ns: int) -> None:
        if self._depth and threading.get_ident() == self._thread:
            self._sleep(ns)
        else:
            self._real_sleep(ns / SECOND)

    @staticmethod
    def real_now() -> dt.datetime:
        """The real wall clock, even while travelling (time-machine's escape hatch refuses when it is not)."""
        if time_machine is not None and time_machine.escape_hatch.is_travelling():
            real: dt.datetime = time_machine.escape_hatch.datetime.datetime.now(dt.timezone.utc)
            return real
        return dt.datetime.now(dt.timezone.utc)  # pragma: no cover


_BLOCKED = threading.local()
"""``loop``: the event loop of an async test that a driving call on this thread is blocking, if any."""

_LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


def serving_on_blocked_loop(host: str, port: int | None) -> bool:
    """``host:port`` is a server listening on the async test's own event loop, which the driving call on this
    thread blocks: a request job code passes through to it can never be answered."""
    loop = getattr(_BLOCKED, "loop", None)
    selector = getattr(loop, "_selector", None)  # asyncio's selector loops; uvloop and trio keep theirs hidden
    if selector is None or port is None:
        return False
    try:
        keys = list(selector.get_map().values())
    except Exception:  # pragma: no cover - a closed loop
        return False
    for key in keys:
        try:  # asyncio registers a server's socket by its file descriptor: look at a duplicate of it
            with socket.socket(fileno=os.dup(key.fd)) as sock:
                if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    continue
                address = sock.getsockname()
        except (OSError, ValueError):
            continue
        if isinstance(address, tuple) and address[1] == port and (
                host == address[0] or (_loopback(host) and _loopback(address[0]))):  # fmt: skip
            return True
    return False


def _loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


def _sleep_ns(seconds: Any) -> int:
    """``time.sleep(seconds)`` in nanoseconds, refused as CPython refuses it (job code catching ``TypeError`` or
    ``ValueError`` sees what a worker would): a value neither a float nor an integer, NaN, a negative one. It
    failed inside jobsim instead ("'<' not supported between instances of 'str' and 'int'", "cannot convert
    float NaN to integer"). A sleep too long for any clock (``inf``, ``1e300``) is jobsim's error, as one
    past the year 9999 is."""
    if not isinstance(seconds, float):
        seconds = operator.index(seconds)  # "'str' object cannot be interpreted as an integer"
    elif math.isnan(seconds):
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    ns: float = seconds * SECOND  # an int for an int: exact
    if ns == math.inf:
        raise InvalidArgument(f"job code called time.sleep({seconds!r}), a sleep past the end of virtual time "
                              f"({iso(MAX_NS)}, the last instant a datetime can show): sleep less")
    return round(ns)


def check_clock_classes() -> None:
    """Refuse to drive while the test has replaced ``datetime.datetime`` or ``datetime.date`` in the ``datetime``
    module with an object that is no class (``mock.patch("datetime.datetime")``): time-machine's travel and
    jobsim's own conversions read the class there, and broke deep inside (time-machine's ``isinstance() arg 2 must
    be a type``). A class (freezegun's, a subclass of the test's) is fine."""
    for name in ("datetime", "date"):
        current = getattr(dt, name)
        if isinstance(current, type):
            continue
        raise JobsimError(
            f"datetime.{name} is replaced by {current!r} (mock.patch('datetime.{name}') in the test?), and "
            f"jobsim's clock needs the class: while jobsim drives job code, its datetime.now() reads virtual time "
            f"already. Take the patch out, patch the name your own module uses instead "
            f"(mock.patch('myapp.jobs.{name}')), or freeze the test's own time with freezegun or time-machine, "
            "which jobsim follows"
        )


def _is_mock(sleep: Any) -> bool:
    """``time.sleep`` is a ``unittest.mock`` mock (``mock.patch("time.sleep")``, pytest-mock's ``mocker``), or an
    autospec'd function around one: the test asserts on its calls, so job code's sleeps must still reach it."""
    mock = sys.modules.get("unittest.mock")
    if mock is None:
        return False
    return isinstance(sleep, mock.NonCallableMock) or isinstance(getattr(sleep, "mock", None), mock.NonCallableMock)


def _freezegun_active() -> bool:
    """The test froze the clock with freezegun around a driving call."""
    api = sys.modules.get("freezegun.api")
    return bool(getattr(api, "freeze_factories", None))


class _Frozen:
    """A nested freezegun factory behind the traveller interface the wall clock moves (``move``).

    ``FrozenDateTimeFactory`` returns its ``time_to_freeze`` (naive UTC): setting it is
    the cheap move, as poking the destination is for time-machine.
    """

    __slots__ = ("_factory",)

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    @property
    def _destination_timestamp_ns(self) -> int:
        frozen: dt.datetime = self._factory()
        return round(frozen.replace(tzinfo=dt.timezone.utc).timestamp() * SECOND)

    @_destination_timestamp_ns.setter
    def _destination_timestamp_ns(self, ns: int) -> None:
        self._factory.time_to_freeze = to_datetime(ns).astimezone(dt.timezone.utc).replace(tzinfo=None)

    def move_to(self, destination: dt.datetime, tick: bool = False) -> None:  # pragma: no cover - older time-machine
        self._factory.time_to_freeze = destination.astimezone(dt.timezone.utc).replace(tzinfo=None)
