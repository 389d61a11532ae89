"""Flow control's state (``_flowrt``): the limiter, the concurrency queues, what is kept about a live run.

``Gcra`` is the throttle's and the rate limit's cell rate algorithm; a ``Pool`` is one concurrency queue
and ``Slots`` a run's queues with its limit in each; ``RunControl`` is what ``FlowRuntime`` keeps about a
live run, ``Canceller`` one of its ``cancel_on`` listening; ``RunIds`` remembers which event ids made a
run for a day. Inngest's constants the runtime applies are here too.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ._events import Recent
from ._kernel import Kernel, Timer
from ._listeners import Listener
from ._records import Run
from ._time import DAY, MS, SECOND

if TYPE_CHECKING:
    from ._flow import Cancel

FUTURE_AT_LIMIT = 2 * SECOND
"""Inngest's ``consts.FutureAtLimit``: a queue item due within this of its enqueueing is scored by its run's age."""

RATE_LIMIT_IDEMPOTENCY = 30 * 60 * SECOND
"""Inngest's rate limiter lets a run's idempotency key through again for this long (``RateLimitIdempotencyTTL``)."""

PRIORITY_MAX_S = 43_200
"""Inngest clamps a run's priority factor to ±12 h (``consts.PriorityFactorMax``)."""


class Gcra:
    """The generic cell rate algorithm of Inngest's throttle and rate limit, per key.

    A start at ``now`` is allowed iff ``max(TAT, now) - now <= e·(capacity - 1)``
    with ``e = period / limit``; it then moves ``TAT`` to ``max(TAT, now) + e``.
    ``capacity`` starts are allowed at once from rest, then one per ``e``. ``grain``: the
    clock it reads, in ns: the rate limit's is nanoseconds (ratelimit.lua gets ``now.UnixNano()``),
    the throttle's milliseconds (constraintapi/acquire.go passes ``now.UnixMilli()`` and the period
    ``* 1000`` to gcra.lua ``throttle``), so a throttled run starts on a whole millisecond.
    """

    __slots__ = ("grain", "limit", "period", "slack", "tat")

    def __init__(self, limit: int, period_ns: int, capacity: int, grain: int = 1) -> None:
        self.limit = limit
        self.grain = grain
        self.period = period_ns // grain  # whole seconds (``_whole_seconds``): exact in ms
        self.slack = self.period * (capacity - 1)  # e·(capacity-1), scaled by limit
        self.tat: dict[Hashable, int] = {}  # theoretical arrival time · limit, in grains

    def take(self, key: Hashable, now: int) -> bool:
        scaled = now // self.grain * self.limit  # UnixMilli floors
        tat = self.tat.get(key, scaled)
        if tat < scaled:
            tat = scaled
        if tat - scaled > self.slack:
            return False
        self.tat[key] = tat + self.period
        return True

    def next_free(self, key: Hashable, now: int) -> int:
        """The earliest instant at or after ``now`` when ``take`` succeeds."""
        tat = self.tat.get(key, 0)
        return max(now, -((self.slack - tat) // self.limit) * self.grain)  # ceil((tat - slack) / limit) grains


class Pool:
    """One concurrency queue: how many of its slots are ``busy``, and who waits for one, oldest first.

    A function's own limit has a queue per key value; an ``env`` or ``account`` limit's queue
    is shared by every function whose key gives that value. Functions sharing a queue may give
    it different limits (Inngest checks each item against its own function's), so the limit
    travels with each request (``Slots``), not with the queue.
    """

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.busy = 0
        # (score: created - priority, seq, run, attempt, plan, the kernel's depth as it began to wait)
        self.waiting: list[tuple[int, int, Run, int, Any, int]] = []


Slots = tuple[tuple[Pool, int], ...]
"""A run's concurrency queues with its function's limit in each: one or two (Inngest's maximum), and
the process's (``Profile.max_concurrency``) last."""

JAMMED = 1 << 48
"""Added to a queue's busy count to block it for good (``FlowRuntime.jam``): above any limit, and no
release of the slots it holds brings it back under one."""

PROCESS = ("process",)
"""The name of the one pool every function shares under ``Profile.max_concurrency``."""


def _blocking(slots: Slots, entry: tuple[int, int] | None = None) -> Pool | None:
    """The first queue that keeps a request from running: no free slot under its limit, or
    someone older waiting there (anyone, for a new request: ``entry`` None)."""
    for pool, limit in slots:
        if pool.busy >= limit:
            return pool
        waiting = pool.waiting
        if waiting and (entry is None or waiting[0][:2] < entry):
            return pool
    return None


class RunControl:
    """What flow control keeps about one live run."""

    __slots__ = ("ahead", "cancellers", "deadline", "finish_timer", "holds", "kept", "n", "parked", "priority", "run",
                 "score", "slots", "start_timer", "started")  # fmt: skip

    def __init__(self, run: Run, n: int, priority: int, slots: Slots, created: int) -> None:
        self.run = run
        self.n = n
        self.priority = priority  # ns; earlier in every queue by this much
        # Inngest's queue score for a request due now (pkg/execution/queue/item.go : QueueItem.Score): the run's
        # creation time (its ULID's ms), less the priority factor; a sleep's wake-up item takes no factor
        self.score = created - created % MS
        self.parked = created  # when its next request was enqueued: the end of the last one
        self.ahead = False  # its first request was enqueued more than FUTURE_AT_LIMIT ahead (a future ts)
        self.slots = slots
        self.started = False
        self.kept = False  # asleep with its slots still taken (``Profile.sleep_holds_slot_ns``)
        self.start_timer: Timer | None = None
        self.finish_timer: Timer | None = None
        self.deadline: int | None = None
        self.holds: tuple[Hashable] | None = None  # the singleton key it holds, until it ends
        self.cancellers: tuple[Canceller, ...] = ()  # its cancel_on, listening until it ends (``cancel_by``)


class Canceller(Listener):
    """One ``cancel_on`` of a live run: events named ``name`` up to ``until`` cancel it if they match."""

    __slots__ = ("name", "until")

    def __init__(self, run: Run, cancel: Cancel, until: int) -> None:
        super().__init__(run, cancel.checks)
        self.name = cancel.event
        self.until = until


class RunIds(Recent[tuple[str, "str | None"]]):
    """``Engine.run_ids``: (function id, event id) -> when the event's id made a run of the function, on a
    profile where a repeated id starts no second run for 24 h (Inngest: the run's idempotency key is the
    function and the event id, ``redis_state.go idempotencyCheck``, and Redis expires it after
    ``consts.FunctionIdempotencyPeriod``). ``made`` forgets the ids older than that, as the key expires, so a
    replay of a week keeps a day of them, not every run's."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(DAY)
        self._kernel = kernel

    def made(self, key: tuple[str, str | None], at: int) -> None:
        """``key``'s event id made a run ``at``; the ids made a day or more before the kernel's now are dropped:
        the engine's clock (``Engine.now``) never reads less than the kernel's, so they can repeat freely."""
        self.note(key, at, self._kernel.now)



def _plain(key: Any) -> Any:
    """A key as the trace can store it (JSON scalars as they are, anything else as its repr)."""
    return key if key is None or isinstance(key, (str, int, float, bool)) else repr(key)
