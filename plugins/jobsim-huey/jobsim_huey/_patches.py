"""What jobsim-huey replaces process-wide while a simulation with Huey instances runs.

Huey reads the clock and makes ids in a few module-level places (huey 3.5.4); each is pointed at
the simulation, so the same seed gives the same history and every instant is virtual -- also for
calls made from the test between driving calls (``task.schedule(delay=60)`` computes its ``eta``
there):

* ``utcnow`` (``utils.py:16-22``), imported by name into ``api.py``: ``Huey._get_timestamp``
  (``api.py:409-411``) and every ``normalize_time(delay=...)`` (``utils.py:87-108``), which
  ``schedule``/``s(delay=)`` (``api.py:999-1062``), ``RetryTask(delay=)`` (``api.py:483``),
  ``expires=`` (``utils.py:81-84``) and rate limits (``api.py:468``) use;
* ``datetime.datetime.now()`` where ``utc=False`` (``api.py:411``, ``utils.py:92-93``), and the local-time
  conversions of an ``eta`` (``make_naive``, ``local_to_utc``, ``utils.py:57-78``, which read the process's
  ``TZ`` through ``time.mktime``/``time.localtime``): the local zone is the simulation's ``tz``
  (``Simulation(tz=...)``, UTC by default), as if the consumer's machine ran with ``TZ`` set to it --
  the same on every machine the test runs on (inside driving calls the process's own zone is UTC:
  jobsim's wall clock travels to a UTC instant);
* ``time.monotonic`` in ``api.py`` (a task's ``timeout`` deadline, ``api.py:442-447``, ``Task.time_remaining``,
  ``is_timed_out``, ``check_timeout``, ``api.py:867-879``) and ``consumer.py`` (the scheduler's 1-second
  loop and 60-second periodic check, ``consumer.py:163-197``); ``time.time`` in ``RateLimit`` (``api.py:1128``);
* ``uuid.uuid4`` in ``api.py`` (task ids, ``api.py:859-860``; chord ids, ``api.py:328``): drawn from the seed;
* ``Huey.enqueue`` on a Huey the simulation does not run is refused (it would reach its real storage), as
  are its other storage calls (``_guard._STORAGE``, ``TaskLock.is_locked``, ``RateLimit.current_usage``),
  and so is ``Consumer.start``/``run`` for one it runs or any other (its threads would consume in real time).

One simulation with Huey instances may run at a time in a process (the patches are global).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND, to_datetime
from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import ProcessPatches, escapes

if TYPE_CHECKING:
    from ._world import HueyWorld

_PATCHES: ProcessPatches[HueyWorld] = ProcessPatches(
    "Huey instances", "jobsim-huey replaces Huey's clock and ids"
)


def current() -> HueyWorld | None:
    return _PATCHES.current


def push(world: HueyWorld) -> None:
    _PATCHES.push(world, _patch)


def pop(world: HueyWorld) -> None:
    _PATCHES.pop(world)


_set = _PATCHES.set


def _patch(world: HueyWorld) -> None:
    import huey.api
    import huey.consumer
    import huey.signals
    import huey.utils

    clock = world.clock
    original_normalize = huey.utils.normalize_time

    def normalize_time(eta: Any = None, delay: Any = None, utc: bool = True) -> Any:
        """``normalize_time`` (``utils.py:87-108``) with ``now`` virtual: a ``delay`` counts from the virtual
        instant; an ``eta`` is only converted (local to UTC or back), which reads no clock."""
        if delay is not None and eta is None:
            if not isinstance(delay, dt.timedelta):
                delay = dt.timedelta(seconds=delay)
            return clock.timestamp(utc) + delay + world.hop()
        return original_normalize(eta, delay, utc)

    _set(huey.utils, "utcnow", clock.utcnow)
    _set(huey.api, "utcnow", clock.utcnow)
    _set(huey.utils, "normalize_time", normalize_time)
    _set(huey.utils, "local_to_utc", clock.local_to_utc)
    _set(huey.utils, "make_naive", clock.make_naive)
    _set(huey.api, "normalize_time", normalize_time)
    _set(huey.api, "time", clock)
    _set(huey.consumer, "time", clock)
    _set(huey.api, "uuid", _Uuid(world))
    _set(huey.signals, "itertools", _Receivers(world))
    _set(huey.api.Huey, "_get_timestamp", lambda self: clock.timestamp(self.utc))
    _set(huey.api.Huey, "enqueue", _guard_enqueue(huey.api.Huey.enqueue, world))
    _set(huey.consumer.Consumer, "start", _refuse_start(huey.consumer.Consumer.start, world))
    _set(huey.api.Huey, "immediate", _guard_immediate(huey.api.Huey.__dict__["immediate"], world))
    from ._guard import _STORAGE  # what else reaches a Huey's storage: another Huey's would reach the real one

    for what, names in _STORAGE.items():
        for name in names:
            _set(huey.api.Huey, name, _guard_storage(getattr(huey.api.Huey, name), world, f"huey.{name}()", what))
    for name in ("is_locked", "locked"):
        _set(huey.api.TaskLock, name, _guard_storage(getattr(huey.api.TaskLock, name), world,
                                                     f"huey.lock_task(...).{name}()", "a lock_task lock"))  # fmt: skip
    _set(huey.api.RateLimit, "current_usage", _guard_storage(huey.api.RateLimit.current_usage, world,
                                                             "huey.rate_limit(...).current_usage()", "a rate limit"))


class Clock:
    """Huey's time sources on the virtual clock (``sim.now_ns()``: the running task's own instant in task code).

    ``monotonic()`` is an integer number of seconds at the simulation's start (near the real one), so
    the scheduler's ``_next_loop += interval`` (``consumer.py:173``) stays exact in floating point and
    converts back to the nanosecond it means."""

    def __init__(self, now_ns: Callable[[], int], start_ns: int, tz: dt.tzinfo) -> None:
        self._now = now_ns
        self.tz = tz
        self.origin = (time.monotonic_ns() // SECOND + 1) * SECOND - start_ns

    def utcnow(self) -> dt.datetime:
        return to_datetime(self._now()).replace(tzinfo=None)

    def localnow(self) -> dt.datetime:
        """``datetime.datetime.now()``: naive local time (the simulation's ``tz``) at the virtual instant."""
        return to_datetime(self._now(), self.tz).replace(tzinfo=None)

    def local_to_utc(self, moment: dt.datetime) -> dt.datetime:
        """``huey.utils.local_to_utc`` (``utils.py:74-78``): a naive local time as naive UTC, to the second as
        Huey's ``time.gmtime(time.mktime(...))`` gives it."""
        aware = moment.replace(tzinfo=self.tz, microsecond=0)
        return aware.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def make_naive(self, moment: dt.datetime) -> dt.datetime:
        """``huey.utils.make_naive`` (``utils.py:57-64``): an aware datetime as naive local time, to the second."""
        return moment.astimezone(self.tz).replace(tzinfo=None, microsecond=0)

    def to_local_ns(self, moment: dt.datetime) -> int:
        """A naive local datetime (an ``eta`` of a ``utc=False`` Huey) as epoch ns."""
        return _epoch_ns(moment.replace(tzinfo=self.tz))

    def first_local_at(self, eta: dt.datetime, after: int) -> int:
        """The first instant at or after ``after`` whose naive local wall time is ``eta`` or later: when a
        ``MemoryStorage`` (which compares naive datetimes) of a ``utc=False`` Huey finds ``eta`` due. A wall time
        in a spring-forward gap is passed at the change itself (02:00:30 at 03:00:00 of the new offset); one in
        a repeated hour, once that hour has begun again, at its second reading."""
        if self.wall(after) >= eta:
            return after
        for at in sorted({_epoch_ns(eta.replace(tzinfo=self.tz, fold=fold)) for fold in (0, 1)}):
            if at < after or self.wall(at) < eta:
                continue
            if self.wall(at) == eta:
                return at
            lo, hi = after, at  # eta is in a gap: the wall clock jumps over it, at the change between them
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if self.wall(mid) >= eta else (mid, hi)
            return hi
        return max(after, self.to_local_ns(eta))

    def wall(self, ns: int) -> dt.datetime:
        """The naive local wall time at ``ns`` (``fold=1`` in a repeated hour's second reading), as Huey reads it."""
        return to_datetime(ns, self.tz).replace(tzinfo=None)

    def timestamp(self, utc: bool) -> dt.datetime:
        """``Huey._get_timestamp()`` (``api.py:409-411``)."""
        return self.utcnow() if utc else self.localnow()

    def monotonic(self) -> float:
        return (self.origin + self._now()) / SECOND

    def to_ns(self, monotonic: float) -> int:
        """The virtual instant a ``monotonic()`` reading stands for."""
        return round(monotonic * SECOND) - self.origin

    def time(self) -> float:
        return self._now() / SECOND

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _epoch_ns(aware: dt.datetime) -> int:
    delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * 1_000


class _Uuid:
    """The ``uuid`` module as ``huey.api`` sees it: ``uuid4()`` is drawn from the simulation's seed."""

    def __init__(self, world: HueyWorld) -> None:
        self.uuid4 = world.new_uuid

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)


def watched(world: HueyWorld, fn: Any) -> Any:
    """``fn`` (a signal receiver, a hook) as Huey calls it, with a jobsim error it raises kept for the driving
    call (``HueyWorld.keep``): Huey catches and logs every ``Exception`` of a receiver or hook, and goes on."""
    if getattr(fn, "__jobsim_watched__", False):
        return fn

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if escapes(exc):
                world.keep(exc)
            raise

    call.__jobsim_watched__ = True  # type: ignore[attr-defined]
    return call


class _Receivers:
    """The ``itertools`` module as ``huey.signals`` sees it: ``Signal.send`` (``signals.py:44-53``) chains the
    signal's receivers and catches what each raises; the chain it gets calls each one ``watched``."""

    def __init__(self, world: HueyWorld) -> None:
        self.world = world

    def chain(self, *receivers: Any) -> Any:
        return (watched(self.world, receiver) for receiver in itertools.chain(*receivers))

    def __getattr__(self, name: str) -> Any:
        return getattr(itertools, name)


class Hooks(dict):  # type: ignore[type-arg]
    """A Huey's ``_pre_execute``, ``_post_execute``, ``_startup`` or ``_shutdown`` hooks while the simulation
    runs: Huey calls each one it finds in ``items()`` and logs what it raises (``api.py:587-607``,
    ``consumer.py:104-118``); found here, each is ``watched``. Hooks registered meanwhile are kept (a plain
    dict of them all is put back at the close)."""

    def __init__(self, world: HueyWorld, hooks: dict[str, Any]) -> None:
        super().__init__(hooks)
        self.world = world

    def items(self) -> Any:
        return [(name, watched(self.world, hook)) for name, hook in super().items()]


def _guard_enqueue(original: Any, world: HueyWorld) -> Any:
    def enqueue(self: Any, task: Any) -> Any:
        # an adopted Huey's enqueue is shadowed on the instance (HueyWorld.install); this is every other one
        if world.owns(self) or self.immediate:  # immediate mode runs the task inline on a MemoryStorage
            return original(self, task)
        raise UnsupportedFeature(
            f"task {getattr(task, 'name', task)!r} was enqueued on Huey {self.name!r} "
            f"({type(self).__name__}), which this simulation does not run, so it would reach its real storage: "
            "pass that Huey (or a consumer of it) to jobsim.Simulation too",
            system="huey", feature="enqueue on another Huey",
        )  # fmt: skip

    return enqueue


def _guard_storage(original: Any, world: HueyWorld, call: str, what: str) -> Any:
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        huey = getattr(self, "_huey", None) or self  # a TaskLock's or RateLimit's Huey
        if world.owns(huey) or huey.immediate:
            return original(self, *args, **kwargs)
        raise UnsupportedFeature(
            f"{call} ({what}) on Huey {huey.name!r} ({type(huey).__name__}), which this simulation does not run, "
            "would reach its real storage: pass that Huey (or a consumer of it) to jobsim.Simulation too",
            system="huey", feature="storage of another Huey",
        )  # fmt: skip

    guarded.__name__ = getattr(original, "__name__", call)
    return guarded


def _guard_immediate(original: property, world: HueyWorld) -> property:
    """``Huey.immediate``'s setter (``api.py:159-166``) builds a new storage (``create_storage``): on a simulated
    Huey it would drop the simulated storage for a real ``MemoryStorage`` (tasks run inline, refused by the
    simulated consumer and stored as their error) or the real Redis/SQL one, and leave the Huey inconsistent
    after the simulation. Refused instead; another Huey's mode may change."""

    def set_immediate(self: Any, value: Any) -> None:
        if world.owns(self) and bool(value) != bool(self._immediate):
            raise InvalidArgument(
                f"huey.immediate = {value!r} on Huey {self.name!r}, which this simulation runs: Huey would replace "
                "its storage (the simulated one) with a new one and run tasks inline. Set immediate mode outside "
                "the `with jobsim.Simulation(...)` block -- the simulation is the consumer, in virtual time",
            )  # fmt: skip
        assert original.fset is not None
        original.fset(self, value)

    return property(original.fget, set_immediate, original.fdel, original.__doc__)


def _refuse_start(original: Any, world: HueyWorld) -> Any:
    def start(self: Any) -> None:
        if world.owns(self.huey):
            raise UnsupportedFeature(
                f"a huey Consumer was started for Huey {self.huey.name!r}, which this simulation runs: its threads "
                "would consume the tasks in real time. The simulation is the consumer: pass the unstarted consumer "
                "(huey.create_consumer(workers=...)) to jobsim.Simulation and drop consumer.run()",
                system="huey", feature="Consumer.start",
            )  # fmt: skip
        if not self.huey.immediate:
            raise UnsupportedFeature(
                f"a huey Consumer was started for Huey {self.huey.name!r}, which this simulation does not run: its "
                "threads would consume its real storage in real time. Pass that Huey's unstarted consumer "
                "(huey.create_consumer(workers=...)) to jobsim.Simulation too, and drop consumer.run()",
                system="huey", feature="Consumer.start of another Huey",
            )  # fmt: skip
        original(self)

    return start
