"""The kernel: a virtual clock and a heap of due work. Standard library only.

Time is an ``int`` of nanoseconds since the epoch (UTC). Work is ordered by
``(due, priority)``, then by insertion (SimPy's ``Environment.schedule`` orders by
``(time, priority, eid)``). The heap holds each distinct ``(due, priority)`` once,
and a bucket (a list, kept in ``_buckets``) holds the timers under that key in the
order they were scheduled: work due at one instant is common (a loop of sends, every
retry of a burst of jobs, cron ticks), and a heap of one entry per timer compared
``(due, priority, seq)`` tuples about log2(n) times per item (7% of the core
benchmark's instructions at 10,000 jobs, more of its time: every comparison touches
three objects scattered in memory). Time only moves forward (trio's
``MockClock.jump``: "time can't go backwards").

A run-away simulation never hangs. Each timer knows its causal depth: one scheduled
for the instant being processed, by a timer of depth d, has depth d + 1. A function
that re-triggers itself at once builds an ever longer chain at one instant, while
100,000 legitimate jobs finishing together stay a few links deep; past
``max_chain`` links (and past ``max_items`` per driving call) the kernel raises
``BudgetExceeded`` naming who was still scheduling work and when.

Every 4,096 items of one ``run`` call, ``_gc.Freezer`` gets a tick: long calls keep
CPython's cyclic collector off the records the simulation built (``jobsim._gc``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import _gc
from ._time import iso
from .errors import BudgetExceeded, InvalidArgument

URGENT = 0
NORMAL = 1
BACKGROUND = 2  # recurring work (cron ticks) that does not keep `run_until_idle` busy
LAST = 3  # after all other work due at the same instant: a deadline that work due at it still meets

DEFAULT_MAX_ITEMS = 5_000_000
DEFAULT_MAX_CHAIN = 10_000
GROWTH_TICKS = 24
"""Freezer ticks (4,096 items each) in a row at one instant over which the pending work only grew: work that
multiplies without virtual time moving (a function that sends its own event twice per run), stopped about
100,000 items in. ``max_chain`` could not see it: each generation doubles while the chain grows by a few
links, so memory ran out first (3.8 GB in 20 s)."""


class Timer:
    """A scheduled callback. ``cancel()`` is O(1): the heap entry is skipped when popped.

    ``cancelled`` is True once the timer is no longer pending: cancelled, or a one-off already run.
    """

    __slots__ = ("args", "callback", "cancelled", "depth", "due", "owner", "recurring")

    # set by ``Kernel.schedule``, the only maker of timers: without a Python ``__init__``, ``Timer()`` makes
    # one without a frame, and faster than ``object.__new__(Timer)`` (no argument tuple, no base-class search)
    due: int
    callback: Callable[..., Any]
    args: tuple[Any, ...]
    owner: str
    recurring: bool
    cancelled: bool
    depth: int

    def __repr__(self) -> str:
        return f"<Timer {self.owner} at {iso(self.due)}{' done or cancelled' if self.cancelled else ''}>"


class Kernel:
    """Virtual clock plus heap. ``now`` is read freely; it only changes in ``run``."""

    # slots: ``run`` and ``schedule`` write ``now``, ``_depth`` and ``_one_off`` once per timer
    __slots__ = ("_buckets", "_depth", "_heap", "_one_off", "now", "processed")

    def __init__(self, start: int) -> None:
        self.now = start
        # (due, priority, bucket) for each (due, priority) that has one, once: a bucket is [index of its next
        # timer, timer, timer, ...], a timer taken replaced by None. Two entries never tie on (due, priority),
        # so the heap never compares buckets
        self._heap: list[tuple[int, int, list[Any]]] = []
        self._buckets: dict[int, dict[int, list[Any]]] = {}  # priority -> due -> its bucket (no tuple to hash)
        self._one_off = 0  # live, non-recurring timers: what `run_until_idle` waits for
        self.processed = 0
        self._depth = -1  # depth of the timer being processed; -1 outside `run`

    def schedule(
        self,
        due: int,
        callback: Callable[..., Any],
        *args: Any,
        owner: str = "jobsim",
        priority: int = NORMAL,
        recurring: bool = False,
    ) -> Timer:
        """Call ``callback(*args)`` at ``due`` (never earlier than now)."""
        return self.put(due, callback, args, owner, priority, recurring)

    def put(self, due: int, callback: Callable[..., Any], args: tuple[Any, ...], owner: str, priority: int,
            recurring: bool) -> Timer:  # fmt: skip
        """``schedule`` with every argument given by position: the engine's requests, sleeps and retries call
        it so (a call with ``*args`` or a keyword is CPython's generic one, a positional call its fastest)."""
        depth = 0
        if due <= self.now:  # one comparison of two nanosecond times (not compact ints: never specialized)
            due = self.now
            if self._depth >= 0:
                depth = self._depth + 1
        timer = Timer()
        timer.due = due
        timer.callback = callback
        timer.args = args
        timer.owner = owner
        timer.recurring = recurring
        timer.cancelled = False
        timer.depth = depth
        if not recurring:
            self._one_off += 1
        by_due = self._buckets.get(priority)
        if by_due is None:
            by_due = self._buckets[priority] = {}
        bucket = by_due.get(due)
        if bucket is None:
            bucket = by_due[due] = [1, timer]
            heapq.heappush(self._heap, (due, priority, bucket))
        else:
            bucket.append(timer)
        return timer

    def cancel(self, timer: Timer) -> None:
        """Drop a pending timer; one already run or cancelled is left alone (counted once as work done)."""
        if not timer.cancelled:
            timer.cancelled = True
            if not timer.recurring:
                self._one_off -= 1

    @property
    def running(self) -> bool:
        """True inside ``run`` (a driving call processing its timers: code it calls, a backend's hook or a signal
        receiver, is inside it), False between driving calls."""
        return self._depth >= 0

    @property
    def idle(self) -> bool:
        """True when no one-off work is pending (recurring cron ticks do not count)."""
        return self._one_off == 0

    def next_due(self) -> int | None:
        heap = self._heap
        while heap:
            due, priority, bucket = heap[0]
            at = bucket[0]
            while at < len(bucket) and bucket[at].cancelled:
                bucket[at] = None
                at += 1
            if at < len(bucket):
                bucket[0] = at
                return due
            heapq.heappop(heap)
            del self._buckets[priority][due]
        return None

    def pending(self) -> list[Timer]:
        """Live timers in due order (for error messages and introspection)."""
        entries = sorted(self._heap, key=lambda entry: entry[:2])
        return [timer for _, _, bucket in entries for timer in bucket[bucket[0]:] if not timer.cancelled]

    def run(
        self,
        until: int,
        *,
        stop_when_idle: bool = False,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_chain: int = DEFAULT_MAX_CHAIN,
        what: str = "advance",
    ) -> None:
        """Process every timer due at or before ``until``, in order; then ``now = until``.

        With ``stop_when_idle`` it stops (leaving ``now`` at the last processed
        item) as soon as no one-off work is pending.
        """
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        if until < self.now:
            raise InvalidArgument(
                f"time can't go backwards: asked to move to {iso(until)} but the "
                f"simulation is already at {iso(self.now)}"
            )
        heap, buckets, pop = self._heap, self._buckets, heapq.heappop
        budget = max_items
        freezer = _gc.Freezer()  # long calls keep the collector off what they built (`_gc`)
        freeze_at = budget - _gc.FREEZE_AFTER
        growth = [-1, 0, 0]  # the instant, the pending count and the ticks it grew at that instant (``_multiplying``)
        current: tuple[int, int, list[Any]] | None = None  # the heap entry whose bucket is ``bucket``
        bucket: list[Any] = []
        try:
            while heap:
                if stop_when_idle and self._one_off == 0:
                    return
                entry = heap[0]
                if entry is not current:  # a new entry came first: an earlier due, or a more urgent priority
                    if entry[0] > until:
                        break
                    current, bucket = entry, entry[2]
                at = bucket[0]
                timer = bucket[at]
                if not timer.cancelled:
                    budget -= 1
                    if budget < 0 or timer.depth > max_chain:
                        total = budget < 0
                        budget += 1  # left queued, not processed
                        self._runaway(what, max_items if total else max_chain, total)
                if at + 1 < len(bucket):
                    bucket[0] = at + 1
                    bucket[at] = None
                else:  # the bucket's last timer: work scheduled at its (due, priority) from now on makes a new one
                    pop(heap)
                    del buckets[entry[1]][entry[0]]
                    current = None
                if timer.cancelled:
                    continue
                self.now = entry[0]
                self._depth = timer.depth
                if not timer.recurring:
                    self._one_off -= 1
                    timer.cancelled = True  # spent: a later cancel() (a group dropping its fired sleeps) is a no-op
                if budget == freeze_at:
                    freeze_at -= _gc.FREEZE_AFTER
                    freezer.tick()
                    self._multiplying(growth, what)
                timer.callback(*timer.args)
        finally:
            self.processed += max_items - budget  # each timer run spent one of the budget: counted once here
            self._depth = -1
            freezer.thaw()
        if not (stop_when_idle and self._one_off == 0):
            self.now = until

    def _multiplying(self, growth: list[int], what: str) -> None:
        """Every 4,096 items: has the pending work grown over each of the last ``GROWTH_TICKS`` ticks at one
        instant? 100,000 jobs due together shrink it as they run (or keep it flat, a step at a time)."""
        __tracebackhide__ = True
        instant, pending, ticks = growth
        if self.now == instant and self._one_off > pending and self._depth > 0:
            ticks += 1
            if ticks >= GROWTH_TICKS:
                self._runaway(what, self._one_off, False, multiplying=True)
        else:
            ticks = 0
        growth[:] = [self.now, self._one_off, ticks]

    def _runaway(self, what: str, limit: int, total: bool, multiplying: bool = False) -> None:
        __tracebackhide__ = True  # the message names what ran away; pytest shows the test's driving call
        pending = [t for t in self.pending() if not t.recurring] or self.pending()
        owners = Counter(t.owner for t in pending)
        first: dict[str, int] = {}
        for t in pending:
            first.setdefault(t.owner, t.due)
        lines = [
            f"  {owner}: {count} item(s) pending, next at {iso(first[owner])}"
            for owner, count in owners.most_common(10)
        ]
        why = (
            f"work multiplying at {iso(self.now)} without virtual time moving: the pending items only grew over "
            f"the last {GROWTH_TICKS * _gc.FREEZE_AFTER:,} processed there, to {limit:,} (each run makes more "
            "than one more)"
            if multiplying
            else f"processed {limit:,} items in one {what}() call"
            if total
            else f"a chain of {limit:,} items, each scheduled by the one before, at {iso(self.now)} "
            "without virtual time moving"
        )
        raise BudgetExceeded(
            f"run-away simulation: {why}; these were still scheduling work:\n"
            + "\n".join(lines)
            + ("\nA function that triggers itself more than once per run (two sends of its own event) does this: "
               "each generation doubles. Make the trigger stop, or advance time between generations"
               if multiplying else
               "\nA function that triggers itself forever does this. If the work is legitimate, raise the budget: "
               + ("max_items=..." if total else "Simulation(max_chain=...)"))
        )


def _warm_up() -> None:
    """Have CPython specialize ``Kernel.run``'s loop (3.11: about a tenth of a job's instructions).

    CPython 3.11 rewrites a function's bytecode into its adaptive, specializing form the
    eighth time the function is *called* (3.12 also counts a loop's iterations). ``run`` is
    called once per driving call, so a simulation's whole loop ran as generic bytecode: every
    attribute of a timer looked up through its type, every comparison the generic one. Eight
    calls on an empty kernel at import make the code adaptive; its instructions then
    specialize as the first real call runs them. Nothing else changes: an empty ``run`` only
    moves that kernel's clock.
    """
    kernel = Kernel(0)
    for _ in range(8):
        kernel.run(0)


_warm_up()
