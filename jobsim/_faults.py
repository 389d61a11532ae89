"""Fault values: what a drawn history injects into a simulation, as data that prints as code.

One class per ``Simulation`` method, so a fault is exactly one call::

    Fail(function, step, times, error)   ->  sim.fail(function, step, times=..., error=...)
    Crash(at, function)                  ->  sim.crash_worker(at=..., function=...)
    Downtime(start, end)                 ->  sim.downtime(start, end)
    Duplicate(function, at, times)       ->  sim.duplicate_delivery(function=..., at=..., times=...)

Times (``at``, ``start``, ``end``) are offsets from the instant the history is applied
(its *origin*), so a fault means the same thing whatever the simulation's start; applying
turns them into absolute ISO instants. ``call(origin)`` gives the method and its arguments
once, and both ``apply`` and the printed reproduction use it, so what is printed is what
ran. ``repr`` is code too: ``Fail(function='process-order', step='reserve-inventory')``.

Which kinds a system can suffer comes from ``reference/semantics.md`` §9 ("crash
semantics", "missed-run policy") and §11: every system can have an attempt fail, a worker
crash and an outage; duplicate delivery needs a delivery layer (a queue or a platform
that redelivers), which node-cron, an in-process timer, does not have. A profile may
declare its own answer as a ``fault_kinds`` attribute; that wins over this table.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any, ClassVar

from ._checks import check_fault_error, init_keywords_checked
from ._time import MAX_NS, Duration, duration_ns, format_duration, iso
from .errors import InvalidArgument, JobsimError, NonRetriableError, RetryAfterError, UnsupportedFeature

FAULT_KINDS = ("fail", "crash", "downtime", "duplicate")
"""Every fault kind, in the order strategies draw and documents list them."""

METHODS = {"fail": "fail", "crash": "crash_worker", "downtime": "downtime", "duplicate": "duplicate_delivery"}
"""The ``Simulation`` method each kind calls."""

OWN_WORKER_REFUSES = ("downtime", "duplicate")
"""The kinds a backend plugin's own worker cannot suffer (``Simulation._refuse_for_own_workers`` refuses them; a
refused fault value's hint leaves them out)."""

_NO_DUPLICATES = ("fail", "crash", "downtime")
PROFILE_FAULT_KINDS: dict[str, tuple[str, ...]] = {
    # semantics.md §9: at-least-once delivery (lease loss, stalled jobs, lock expiry, stale jobs)
    "inngest": FAULT_KINDS,
    "bullmq": FAULT_KINDS,
    "trigger.dev": FAULT_KINDS,
    "quirrel": FAULT_KINDS,
    "agenda": FAULT_KINDS,
    # §9 "Vercel Cron: best effort: may miss, may duplicate"
    "vercel-cron": FAULT_KINDS,
    # §9 "node-cron: persistence none; lost (process down)": a timer in the process, nothing redelivers
    "node-cron": _NO_DUPLICATES,
}


def fault_kinds(profile: Any) -> tuple[str, ...]:
    """The fault kinds ``profile`` (a ``jobsim.Profile``) can suffer, in ``FAULT_KINDS`` order."""
    declared = getattr(profile, "fault_kinds", None)
    kinds = PROFILE_FAULT_KINDS.get(profile.name, FAULT_KINDS) if declared is None else tuple(declared)
    return tuple(kind for kind in FAULT_KINDS if kind in kinds)


def available_kinds() -> tuple[str, ...]:
    """The kinds whose ``Simulation`` method this version of jobsim has."""
    from ._simulation import Simulation

    return tuple(kind for kind in FAULT_KINDS if hasattr(Simulation, METHODS[kind]))


# -- rendering values as Python code ------------------------------------------------------------
ErrorSpec = BaseException | type[BaseException] | None


def error_code(error: ErrorSpec) -> str:
    """An exception (or class) as the code that builds it: ``jobsim.NonRetriableError('x')``."""
    if error is None:
        return "None"
    cls = error if isinstance(error, type) else type(error)
    name = _class_code(cls)
    if isinstance(error, type):
        return name
    if isinstance(error, RetryAfterError):
        return f"{name}({error.after!r})"
    return f"{name}({', '.join(map(repr, error.args))})"


def _class_code(cls: type) -> str:
    import jobsim

    name: str = cls.__name__
    if getattr(jobsim, name, None) is cls:
        return f"jobsim.{name}"
    if getattr(builtins, name, None) is cls:
        return name
    return f"{cls.__module__}.{cls.__qualname__}"  # importable by that name, unlike a bare class name


def call_code(method: str, args: Iterable[Any], kwargs: dict[str, Any], obj: str = "sim") -> str:
    """``sim.fail('f', step='s')``: one call, arguments rendered with ``repr`` (errors as code)."""
    parts = [value_code(a) for a in args]
    parts += [f"{key}={value_code(value)}" for key, value in kwargs.items()]
    return f"{obj}.{method}({', '.join(parts)})"


def value_code(value: Any) -> str:
    """``repr``, except where it is not code jobsim accepts back: errors, events, times."""
    from ._events import Event

    if isinstance(value, BaseException) or (isinstance(value, type) and issubclass(value, BaseException)):
        return error_code(value)
    if isinstance(value, Event):
        extra = "".join(f", {key}={getattr(value, key)!r}" for key in ("id", "user", "ts", "v")
                        if getattr(value, key) is not None)  # fmt: skip
        return f"jobsim.Event({value.name!r}, {dict(value.data)!r}{extra})"
    if isinstance(value, dt.timedelta):
        return repr(format_duration(duration_ns(value)))
    if isinstance(value, dt.datetime):
        return repr(value.isoformat())
    if isinstance(value, (list, tuple)) and any(isinstance(item, Event) for item in value):
        if len(value) == 1:
            return f"[{value_code(value[0])}]"
        return "[\n" + "".join(f"    {value_code(item)},\n" for item in value) + "]"  # one event a line
    return repr(value)


def _check_error(error: Any) -> None:
    check_fault_error("error", error, error)  # what sim.fail will take when the fault is applied


def _check_function(value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        accepted = "a function id (a non-empty string)" + (", or None for any function" if optional else "")
        raise InvalidArgument.build("function", value, accepted)


def _check_times(times: Any) -> None:
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise InvalidArgument.build("times", times, "an int >= 1")


def _offset(name: str, value: Duration | None, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise InvalidArgument.build(name, value, "a duration after the history's start, e.g. '90s'")
    return duration_ns(value, name)


# -- the four kinds -----------------------------------------------------------------------------------
class Fault:
    """What every fault value has: ``kind``, ``method`` and ``call(origin_ns)``."""

    __slots__ = ()
    kind: ClassVar[str]
    method: ClassVar[str]

    def call(self, origin_ns: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        raise NotImplementedError

    def apply(self, sim: Any, origin_ns: int | None = None) -> None:
        """Make the call on ``sim``; offsets count from ``origin_ns`` (default: ``sim``'s now)."""
        method = getattr(sim, self.method, None)
        if method is None:
            raise JobsimError(
                f"{self!r} needs sim.{self.method}(), which this simulation does not have; "
                f"upgrade jobsim, or leave {self.kind!r} out of faults(kinds=...)"
            )
        origin = sim.kernel.now if origin_ns is None else origin_ns
        args, kwargs = self.call(origin)
        try:
            method(*args, **kwargs)
        except UnsupportedFeature as exc:  # a backend's own worker refuses it: say how to stop drawing it
            raise UnsupportedFeature(f"{exc}. {self._refused_hint(sim)}", system=exc.system,
                                     feature=exc.feature) from None  # fmt: skip

    def _refused_hint(self, sim: Any) -> str:
        """What to change when a simulation refuses this fault value: the kinds a strategy should draw."""
        profile = getattr(sim, "profile", None)
        refused = {self.kind}
        if any(getattr(adapted, "own_worker", False) for adapted in getattr(sim, "adapted", ())):
            refused |= set(OWN_WORKER_REFUSES)  # refused for a plugin's own worker (``function=None`` included)
        others = [kind for kind in fault_kinds(profile) if kind not in refused] if profile is not None else []
        given = f"kinds={tuple(others)!r}" if others else f"no {self.kind!r}"
        return (f"This {self!r} is a fault value: if jobsim.strategies.faults(...) drew it, draw only what this "
                f"simulation accepts, e.g. faults(..., {given}); jobsim.testing.accepted_fault_kinds(simulate, "
                "function) lists them")

    def code(self, origin_ns: int, obj: str = "sim") -> str:
        """The line a test would write, with absolute instants from ``origin_ns``."""
        args, kwargs = self.call(origin_ns)
        return call_code(self.method, args, kwargs, obj)

    def _repr(self, pairs: list[tuple[str, Any, Any]]) -> str:
        shown = [f"{name}={value_code(value)}" for name, value, default in pairs if value != default]
        return f"{type(self).__name__}({', '.join(shown)})"


def _instant(origin_ns: int, offset: int | None, name: str, value: Any) -> str | None:
    if offset is None:
        return None
    if origin_ns + offset > MAX_NS:  # at=10**30: no instant could show it (nor could the call it makes)
        raise InvalidArgument.build(name, value, f"an offset that ends by {iso(MAX_NS)}, the last instant a datetime "
                                    f"can show (offsets count from {iso(origin_ns)})")
    return iso(origin_ns + offset)


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that differ from the methods' defaults (all ``None``)."""
    return {key: value for key, value in kwargs.items() if value is not None}


def _duration_text(ns: int | None) -> str | None:
    return None if ns is None else format_duration(ns)


@init_keywords_checked("js.Fail()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Fail(Fault):
    """The next ``times`` attempts of ``function`` (of its ``step``, if given) fail with ``error``.

    ``error=None`` raises ``jobsim.InjectedFault``; ``jobsim.NonRetriableError(...)`` fails
    the step at once; ``jobsim.RetryAfterError("30s")`` sets the next retry's delay.
    """

    kind: ClassVar[str] = "fail"
    method: ClassVar[str] = "fail"
    function: str
    step: str | None = None
    times: int = 1
    error: ErrorSpec = None

    def __post_init__(self) -> None:
        _check_function(self.function, optional=False)
        if self.step is not None and (not isinstance(self.step, str) or not self.step):
            raise InvalidArgument.build("step", self.step, "a step id (a non-empty string), or None for the function")
        _check_times(self.times)
        _check_error(self.error)

    @property
    def final(self) -> bool:
        """Whether this fault ends the step (a ``NonRetriableError``) instead of being retried."""
        error = self.error
        cls = error if isinstance(error, type) else type(error)
        return error is not None and issubclass(cls, NonRetriableError)

    def call(self, origin_ns: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if self.step is not None:
            kwargs["step"] = self.step
        if self.times != 1:
            kwargs["times"] = self.times
        if self.error is not None:
            kwargs["error"] = self.error
        return (self.function,), kwargs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fail):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return self._repr([("function", self.function, None), ("step", self.step, None),
                           ("times", self.times, 1), ("error", self.error, None)])  # fmt: skip


@init_keywords_checked("js.Crash()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Crash(Fault):
    """The worker dies at ``at`` (an offset) while running ``function`` (None: whatever runs)."""

    kind: ClassVar[str] = "crash"
    method: ClassVar[str] = "crash_worker"
    at: Duration | None = None
    function: str | None = None

    def __post_init__(self) -> None:
        _check_function(self.function, optional=True)
        object.__setattr__(self, "at", _duration_text(_offset("at", self.at, optional=True)))

    def call(self, origin_ns: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        at = None if self.at is None else duration_ns(self.at)
        return (), _given(at=_instant(origin_ns, at, "at", self.at), function=self.function)

    def __repr__(self) -> str:
        return self._repr([("at", self.at, None), ("function", self.function, None)])


@init_keywords_checked("js.Downtime()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Downtime(Fault):
    """The system is down from ``start`` to ``end`` (offsets): nothing starts meanwhile."""

    kind: ClassVar[str] = "downtime"
    method: ClassVar[str] = "downtime"
    start: Duration
    end: Duration

    def __post_init__(self) -> None:
        start = _offset("start", self.start, optional=False)
        end = _offset("end", self.end, optional=False)
        assert start is not None and end is not None
        if end <= start:
            raise InvalidArgument.build("end", self.end, f"a time after start={self.start!r}")
        object.__setattr__(self, "start", format_duration(start))
        object.__setattr__(self, "end", format_duration(end))

    def call(self, origin_ns: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_instant(origin_ns, duration_ns(self.start), "start", self.start),
                _instant(origin_ns, duration_ns(self.end), "end", self.end)), {}

    def __repr__(self) -> str:
        return f"Downtime(start={self.start!r}, end={self.end!r})"


def downtimes_disjoint(faults: Any) -> bool:
    """Whether no two ``Downtime`` windows overlap (``sim.downtime`` refuses overlapping ones)."""
    windows = sorted((duration_ns(f.start), duration_ns(f.end)) for f in faults if isinstance(f, Downtime))
    return all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(windows))


@init_keywords_checked("js.Duplicate()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Duplicate(Fault):
    """The platform delivers ``function``'s trigger ``times`` more times, at ``at`` (an offset)."""

    kind: ClassVar[str] = "duplicate"
    method: ClassVar[str] = "duplicate_delivery"
    function: str | None = None
    at: Duration | None = None
    times: int = 1

    def __post_init__(self) -> None:
        _check_function(self.function, optional=True)
        _check_times(self.times)
        object.__setattr__(self, "at", _duration_text(_offset("at", self.at, optional=True)))

    def call(self, origin_ns: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        at = None if self.at is None else duration_ns(self.at)
        times = None if self.times == 1 else self.times
        return (), _given(function=self.function, at=_instant(origin_ns, at, "at", self.at), times=times)

    def __repr__(self) -> str:
        return self._repr([("function", self.function, None), ("at", self.at, None), ("times", self.times, 1)])


KINDS: dict[str, type[Fault]] = {"fail": Fail, "crash": Crash, "downtime": Downtime, "duplicate": Duplicate}
