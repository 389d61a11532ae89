"""Retry policies: how many attempts, and how long to wait before each retry.

``Retries`` is the user-facing policy of the contract. Profiles supply defaults
that are not of that shape (Inngest's backoff table), so the engine only relies on
the small ``RetryPolicy`` protocol: ``attempts`` and ``delay_ns(retry, rng)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ._checks import init_keywords_checked
from ._safe import shown
from ._time import MINUTE, MS, SECOND, Duration, duration_ns, format_duration
from .errors import InvalidArgument

Backoff = Literal["exponential", "linear", "constant"]
_BACKOFFS = ("exponential", "linear", "constant")
MAX_ATTEMPTS = 1_000
_TABLED = 64  # ``Retries._delays`` holds the delays of retries 1 to 63 (of fewer, if fewer attempts)


class RetryPolicy(Protocol):
    @property
    def attempts(self) -> int:
        """Every attempt counts, the first included; ``1`` means never retry."""
        ...

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        """Delay before the ``retry``-th retry (1 = the first retry), in nanoseconds."""
        ...


@init_keywords_checked("Retries()", needs={
    "attempts": "how many attempts in all, the first included, e.g. Retries(attempts=5) (the profile's backoff) "
                "or Retries(attempts=5, backoff='exponential', min='1s', max='1m')"})
@dataclass(frozen=True, slots=True, kw_only=True)
class Retries:
    """``Retries(attempts, backoff, min, max, jitter)`` of the contract.

    Before the k-th retry (k = 1, 2, …) the delay is ``min·2^(k-1)`` (exponential),
    ``min·k`` (linear) or ``min`` (constant), capped at ``max``; ``jitter`` adds
    U[0, jitter) drawn from the simulation's seeded generator.

    Give only ``attempts`` to keep the profile's own backoff (on Inngest you set
    the retry count; the delays are the server's table).
    """

    attempts: int
    backoff: Backoff | None = None
    min: Duration | None = None
    max: Duration | None = None
    jitter: Duration | None = None
    _min_ns: int = field(init=False, repr=False, compare=False, default=0)
    _max_ns: int | None = field(init=False, repr=False, compare=False, default=None)
    _jitter_ns: int = field(init=False, repr=False, compare=False, default=0)
    _delays: tuple[int, ...] = field(init=False, repr=False, compare=False, default=())  # by retry, before jitter

    def __init__(
        self,
        attempts: int,
        backoff: Backoff | None = None,
        min: Duration | None = None,
        max: Duration | None = None,
        jitter: Duration | None = None,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise InvalidArgument.build(
                "attempts", attempts, f"expected an int from 1 to {MAX_ATTEMPTS}; it counts the first attempt"
            )
        if backoff is not None and backoff not in _BACKOFFS:
            raise InvalidArgument.build("backoff", backoff, f"expected one of {', '.join(map(repr, _BACKOFFS))}")
        set_ = object.__setattr__
        set_(self, "attempts", attempts)
        set_(self, "backoff", backoff)
        set_(self, "min", min)
        set_(self, "max", max)
        set_(self, "jitter", jitter)
        set_(self, "_min_ns", 0)
        set_(self, "_max_ns", None)
        set_(self, "_jitter_ns", 0)
        if min is None and (backoff is not None or max is not None):
            raise InvalidArgument.build("min", min, "give the base delay, e.g. min='1s', with backoff= or max=")
        if min is None and jitter is not None:  # it was dropped in silence: the profile's backoff has its own jitter
            raise InvalidArgument.build("min", min, f"give the base delay, e.g. min='1s', with jitter={jitter!r}: "
                                        "jitter= adds to Retries' own backoff, and without min= the profile's "
                                        "backoff applies, with the profile's jitter")
        if min is not None:
            set_(self, "_min_ns", duration_ns(min, "min"))
        if max is not None:
            max_ns = duration_ns(max, "max")
            if max_ns < self._min_ns:
                raise InvalidArgument.build("max", max, f"must not be below min={min!r}")
            set_(self, "_max_ns", max_ns)
        if jitter is not None:
            set_(self, "_jitter_ns", duration_ns(jitter, "jitter"))
        # each retry's delay before jitter, made once: ``delay_ns`` then indexes it (the backoff's formula,
        # its shift and its cap on nanosecond ints, which CPython does not specialize, were worked out per retry);
        # the first 63 retries at most, so that attempts=1000 makes no table of a thousand big ints
        tabled = attempts if attempts < _TABLED else _TABLED  # (``min`` is the parameter here)
        set_(self, "_delays", (0, *(self._formula(retry) for retry in range(1, tabled))))

    @property
    def uses_profile_backoff(self) -> bool:
        return self.min is None

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        delays = self._delays
        delay = delays[retry] if 0 < retry < len(delays) else self._formula(retry)
        if self._jitter_ns:
            delay += rng.randrange(self._jitter_ns)
        return delay

    def _formula(self, retry: int) -> int:
        """The delay before the ``retry``-th retry, without jitter."""
        base = self._min_ns
        if self.backoff in (None, "exponential"):
            delay = base << (retry - 1) if retry < 64 else base << 63
        elif self.backoff == "linear":
            delay = base * retry
        else:
            delay = base
        if self._max_ns is not None and delay > self._max_ns:
            delay = self._max_ns
        return delay

    def __repr__(self) -> str:
        args = [f"attempts={self.attempts}"]
        for name in ("backoff", "min", "max", "jitter"):
            value = getattr(self, name)
            if value is not None:
                args.append(f"{name}={value!r}")
        return f"Retries({', '.join(args)})"


INNGEST_BACKOFF_TABLE = (
    15 * SECOND, 30 * SECOND, 1 * MINUTE, 2 * MINUTE, 5 * MINUTE,
    10 * MINUTE, 20 * MINUTE, 40 * MINUTE, 60 * MINUTE, 120 * MINUTE,
)  # fmt: skip


@init_keywords_checked("TableBackoff()")
@dataclass(frozen=True, slots=True)
class TableBackoff:
    """Inngest's server backoff (``pkg/backoff/backoff.go : BackoffTable``).

    ``delay(k) = T[min(k-1, 9)] + U[0, 30 s)`` in whole milliseconds, where
    ``T = [15s, 30s, 1m, 2m, 5m, 10m, 20m, 40m, 1h, 2h]`` and k-1 is the 0-based
    index of the attempt that just failed.
    """

    attempts: int = 5
    table: tuple[int, ...] = INNGEST_BACKOFF_TABLE
    jitter_ms: int = 30_000

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgument.build("attempts", self.attempts, "an int >= 1; it counts the first attempt")
        table = self.table
        if isinstance(table, (str, bytes)) or not isinstance(table, (tuple, list)) or not table or not all(
                not isinstance(t, bool) and isinstance(t, int) and t >= 0 for t in table):
            raise InvalidArgument.build("table", table, "a non-empty tuple of delays in nanoseconds (ints >= 0), "
                                        "the last repeated for every later retry")
        object.__setattr__(self, "table", tuple(table))
        if isinstance(self.jitter_ms, bool) or not isinstance(self.jitter_ms, int) or self.jitter_ms < 1:
            raise InvalidArgument.build("jitter_ms", self.jitter_ms, "an int >= 1: the jitter is U[0, jitter_ms) "
                                        "milliseconds, so 1 means none")

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        base = self.table[min(retry - 1, len(self.table) - 1)]
        return base + rng.randrange(self.jitter_ms) * MS

    def __repr__(self) -> str:
        steps = ", ".join(format_duration(t) for t in self.table)
        return f"TableBackoff(attempts={self.attempts}, table=[{steps}], jitter=U[0,{self.jitter_ms}ms))"


class CheckedPolicy:
    """A retry policy jobsim did not write (a plugin's, a user's own ``RetryPolicy``), its delays checked.

    ``delay_ns`` is called deep inside the engine when a retry is decided; a float, a
    negative number or ``None`` there failed as a ``TypeError`` in the clock's heap, far
    from the policy. jobsim's own policies are not wrapped (no cost on their retries).
    """

    __slots__ = ("function", "policy")

    def __init__(self, policy: RetryPolicy, function: str) -> None:
        self.policy = policy
        self.function = function

    @property
    def attempts(self) -> int:
        return self.policy.attempts

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        delay = self.policy.delay_ns(retry, rng)
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise InvalidArgument(f"retries={shown(self.policy)} of function {self.function!r} is not valid: its "
                                  f"delay_ns({retry}, rng) returned {shown(delay)}; a RetryPolicy's delay_ns returns "
                                  "an int of nanoseconds >= 0")
        return delay

    def __getattr__(self, name: str) -> object:  # the wrapped policy's own fields (invariants read some)
        return getattr(self.policy, name)

    def __repr__(self) -> str:
        return repr(self.policy)


def with_attempts(policy: RetryPolicy, attempts: int) -> RetryPolicy:
    """The profile's backoff with the user's attempt count."""
    if isinstance(policy, TableBackoff):
        return TableBackoff(attempts, policy.table, policy.jitter_ms)
    if isinstance(policy, Retries):
        return Retries(attempts, policy.backoff, policy.min, policy.max, policy.jitter)
    rebuild = getattr(policy, "with_attempts", None)  # the systems' own policies (_backoffs.py)
    if rebuild is not None:
        return rebuild(attempts)  # type: ignore[no-any-return]
    raise InvalidArgument.build("retries", policy, "a policy whose attempt count can be overridden")
