"""Retry policies of the systems other than Inngest, each with its own formula and jitter.

Every class here satisfies ``RetryPolicy`` (``attempts`` counts every attempt, the
first included; ``delay_ns(k, rng)`` is the wait before the k-th retry) and draws
its randomness from the generator it is given — the simulation's seeded one.
Formulas are the systems' own (``reference/semantics.md``), in whole milliseconds
as their JavaScript computes them; ``Math.round`` is reproduced (halves round up,
unlike Python's ``round``).

Pass one as ``retries=`` to use a system's options that ``jobsim.Retries`` cannot
express (BullMQ's jitter fraction, Trigger.dev's ``randomize``, Quirrel's offsets,
Agenda's presets). Profiles translate ``jobsim.Retries`` into these where the
system can express it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._checks import init_keywords_checked
from ._time import _FIRST_SECONDS, MAX_NS, MS, SECOND, Duration, duration_ns, format_duration
from .errors import InvalidArgument

__all__ = ["AgendaBackoff", "BullMQBackoff", "QuirrelRetry", "TriggerDevRetry"]

NEVER_NS = MAX_NS - _FIRST_SECONDS * SECOND + 1
"""A delay longer than all of virtual time: from any instant, it is due after the last one (never)."""


def js_round(value: float) -> int:
    """JavaScript's ``Math.round``: halves go up (``Math.round(2.5) == 3``, ``Math.round(-2.5) == -2``)."""
    return math.floor(value + 0.5)


def _attempts(name: str, value: object, limit: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidArgument.build(name, value, f"expected an int from 1 to {limit}{why}")
    return value


def _ms(name: str, value: Duration) -> int:
    return duration_ns(value, name) // MS


def _library_delay_ms(delay: Duration, library: str) -> int:
    """A BullMQ or Agenda backoff's ``delay`` in ms; a bare non-zero number is refused: the library
    counts it in milliseconds, other jobsim durations in seconds, so it is ambiguous."""
    if type(delay) in (int, float) and delay != 0:
        raise InvalidArgument.build(
            "delay", delay, f"a duration with its unit: '{delay:g}ms' for {library}'s {{delay: {delay:g}}}, which "
            f"counts milliseconds, or '{delay:g}s' if you meant seconds, as other jobsim durations count")
    return _ms("delay", delay)


def _factor(value: object) -> None:
    """A growth factor: a finite number above 0 (nan passed ``<= 0`` and made every delay the cap)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidArgument.build("factor", value, "a positive, finite number")


def _power(factor: float, exponent: int) -> float:
    """``factor ** exponent``, or infinity where the float overflows (``Math.pow`` gives ``Infinity``)."""
    try:
        return float(factor) ** exponent
    except OverflowError:
        return math.inf


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidArgument.build(name, value, "a fraction from 0 to 1")
    return float(value)


@init_keywords_checked("BullMQBackoff()")
@dataclass(frozen=True, slots=True)
class BullMQBackoff:
    """BullMQ's job options ``{attempts, backoff: {type, delay, jitter}}`` (``src/classes/backoffs.ts``).

    ``attempts`` counts the first attempt (BullMQ's default ``attempts: 1``: no
    retry). With n = the retry number (``attemptsMade``, 1 after the first failure):
    ``fixed`` waits ``delay``, ``exponential`` waits ``round(2^(n-1)·delay)`` ms; a
    ``jitter`` j makes the wait ``floor(U[0,1)·d·j + d·(1-j))``, i.e. within
    ``[d·(1-j), d)``. No ``type`` retries at once (the job goes straight back to
    ``wait``).

    ``delay`` is a duration with its unit: ``"1s"``, ``"500ms"`` or a timedelta. A bare
    number is refused (0 aside): BullMQ's own option counts milliseconds and every other
    jobsim duration counts seconds, so ``{delay: 1000}`` ported as it is would mean one
    thing to its writer and another to its reader. Write ``delay="1000ms"``.
    """

    attempts: int = 1
    type: Literal["fixed", "exponential"] | None = None
    delay: Duration = 0
    jitter: float = 0.0
    _delay_ms: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        _attempts("attempts", self.attempts, 1_000, "; it counts the first attempt")
        if self.type not in (None, "fixed", "exponential"):
            raise InvalidArgument.build("type", self.type, "'fixed', 'exponential' or None (retry at once)")
        object.__setattr__(self, "_delay_ms", _library_delay_ms(self.delay, "BullMQ"))
        _fraction("jitter", self.jitter)

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        if self.type is None:
            return 0
        delay = self._delay_ms if self.type == "fixed" else js_round(2 ** (retry - 1) * self._delay_ms)
        if self.jitter:
            delay = math.floor(rng.random() * delay * self.jitter + delay * (1 - self.jitter))
        return delay * MS

    def with_attempts(self, attempts: int) -> BullMQBackoff:
        return BullMQBackoff(attempts, self.type, self.delay, self.jitter)


@init_keywords_checked("TriggerDevRetry()")
@dataclass(frozen=True, slots=True)
class TriggerDevRetry:
    """Trigger.dev's ``retry`` options (``packages/core/src/v3/utils/retries.ts : calculateNextRetryDelay``).

    Before retry k (k = the number of the attempt that just failed, 1-based) the
    wait is ``round(min(max, R·min·factor^(k-1)))`` ms with ``R = U[1, 2)`` when
    ``randomize`` else 1. The defaults are the SDK's ``defaultRetryOptions``:
    3 attempts, factor 2, 1 s, 60 s, randomized. ``attempts`` is ``maxAttempts``
    (the first included; the platform caps it at 250).
    """

    attempts: int = 3
    factor: float = 2.0
    min: Duration = "1s"
    max: Duration = "60s"
    randomize: bool = True
    _min_ms: int = field(init=False, repr=False, compare=False, default=0)
    _max_ms: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        _attempts("attempts", self.attempts, 250, " (Trigger.dev's maxAttempts cap, run-engine consts.ts)")
        _factor(self.factor)
        if not isinstance(self.randomize, bool):  # a truthy 'no' randomized
            raise InvalidArgument.build("randomize", self.randomize, "True (a factor drawn from [1, 2)) or False")
        object.__setattr__(self, "_min_ms", _ms("min", self.min))
        object.__setattr__(self, "_max_ms", _ms("max", self.max))
        if self._max_ms < self._min_ms:
            raise InvalidArgument.build("max", self.max, f"must not be below min={self.min!r}")

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        spread = rng.random() + 1 if self.randomize else 1
        return js_round(min(self._max_ms, spread * self._min_ms * _power(self.factor, retry - 1))) * MS

    def with_attempts(self, attempts: int) -> TriggerDevRetry:
        return TriggerDevRetry(attempts, self.factor, self.min, self.max, self.randomize)


@init_keywords_checked("QuirrelRetry()")
@dataclass(frozen=True, slots=True)
class QuirrelRetry:
    """Quirrel's ``retry: [d1, d2, …]`` (``owl : src/worker/retry.ts : computeTimestampForNextRetry``).

    Offsets count from the job's original run time, not from the failure: with
    ``["10s", "5m", "1h"]`` the attempts run at T, T+10s, T+5m, T+1h. Each
    retry is scheduled ``retry[k-1] - retry[k-2]`` after the previous attempt's
    *scheduled* time (``from_scheduled``); one already in the past runs at once.
    1 to 10 offsets (``EnqueueJobOptionsSchema``).
    """

    offsets: Sequence[Duration]
    _offsets_ns: tuple[int, ...] = field(init=False, repr=False, compare=False, default=())
    from_scheduled = True

    def __post_init__(self) -> None:
        offsets: Any = self.offsets
        items: list[Any]
        if isinstance(offsets, (str, int, float)):
            items = [offsets]
        elif isinstance(offsets, (bytes, Mapping)) or not isinstance(offsets, Iterable):  # None: 'not iterable'
            raise InvalidArgument.build("offsets", offsets, "1 to 10 durations, e.g. ['10s', '5m', '1h']")
        else:
            items = list(offsets)
        if not 1 <= len(items) <= 10:
            raise InvalidArgument.build("offsets", self.offsets, "1 to 10 durations, e.g. ['10s', '5m', '1h']")
        object.__setattr__(self, "_offsets_ns", tuple(duration_ns(d, "offsets") for d in items))

    @property
    def attempts(self) -> int:
        return len(self._offsets_ns) + 1

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        offsets = self._offsets_ns
        return offsets[0] if retry == 1 else offsets[retry - 1] - offsets[retry - 2]

    def __repr__(self) -> str:
        return f"QuirrelRetry([{', '.join(repr(format_duration(o)) for o in self._offsets_ns)}])"


AgendaKind = Literal["constant", "linear", "exponential"]


@init_keywords_checked("AgendaBackoff()")
@dataclass(frozen=True, slots=True)
class AgendaBackoff:
    """Agenda 6's ``define(name, fn, {backoff})`` (``utils/backoff.ts``).

    Before retry k (Agenda's ``failCount``): ``constant`` waits ``delay``, ``linear``
    ``delay + increment·(k-1)`` (``increment`` defaults to ``delay``),
    ``exponential`` ``delay·factor^(k-1)``, each capped at ``max_delay``; a
    ``jitter`` j makes it ``max(0, round(d + d·j·U[-1, 1)))``; a fraction of a millisecond left
    without jitter is dropped, as ``new Date()`` drops it. ``max_retries``
    retries at most (attempts = max_retries + 1). Defaults: 1 s, factor 2,
    3 retries, no jitter. Presets: ``aggressive()``, ``standard()``, ``relaxed()``.
    """

    type: AgendaKind = "exponential"
    delay: Duration = "1s"
    max_delay: Duration | None = None
    factor: float = 2.0
    increment: Duration | None = None
    max_retries: int = 3
    jitter: float = 0.0
    _delay_ms: int = field(init=False, repr=False, compare=False, default=0)
    _max_ms: int | None = field(init=False, repr=False, compare=False, default=None)
    _increment_ms: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        if self.type not in ("constant", "linear", "exponential"):
            raise InvalidArgument.build("type", self.type, "'constant', 'linear' or 'exponential'")
        object.__setattr__(self, "_delay_ms", _library_delay_ms(self.delay, "Agenda"))
        object.__setattr__(self, "_max_ms", None if self.max_delay is None else _ms("max_delay", self.max_delay))
        increment = self.delay if self.increment is None else self.increment
        object.__setattr__(self, "_increment_ms", _ms("increment", increment))
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise InvalidArgument.build("max_retries", self.max_retries, "an int >= 0")
        _factor(self.factor)
        _fraction("jitter", self.jitter)

    @classmethod
    def aggressive(cls) -> AgendaBackoff:
        """exponential from 100 ms, x2, 3 retries."""
        return cls("exponential", "100ms", max_retries=3)

    @classmethod
    def standard(cls) -> AgendaBackoff:
        """exponential from 1 s, x2, 5 retries, jitter 0.1."""
        return cls("exponential", "1s", max_retries=5, jitter=0.1)

    @classmethod
    def relaxed(cls) -> AgendaBackoff:
        """exponential from 5 s, x3, 4 retries, jitter 0.1."""
        return cls("exponential", "5s", factor=3, max_retries=4, jitter=0.1)

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        base = self._delay_ms
        if self.type == "constant":
            delay: float = base
        elif self.type == "linear":
            delay = base + self._increment_ms * (retry - 1)
        else:
            delay = base * _power(self.factor, retry - 1)
        if self._max_ms is not None:
            delay = min(delay, self._max_ms)
        if delay == math.inf:  # Date.now() + Infinity is an Invalid Date: the retry never comes
            return NEVER_NS
        if self.jitter:
            delay = max(0, js_round(delay + delay * self.jitter * (rng.random() * 2 - 1)))
        return math.floor(delay) * MS  # ``new Date(Date.now() + delay)`` drops a fraction (Job.ts handleRetry)

    def with_attempts(self, attempts: int) -> AgendaBackoff:
        return AgendaBackoff(self.type, self.delay, self.max_delay, self.factor, self.increment, attempts - 1,
                             self.jitter)  # fmt: skip
