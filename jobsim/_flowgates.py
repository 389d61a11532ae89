"""One function's flow control (``_flowrt``): its batch, debounce and throttle, and its path keys' watch.

``FunctionFlow`` holds what ``FlowRuntime`` reads for a function: the ``Batcher``, ``Debouncer`` and
``Throttler`` that stand before its runs start, its rate limit or idempotency, its concurrency queues,
priority, singleton, cancellations and timeouts. ``KeyWatch`` notes what a path key (``event.data.userId``)
read on each event, for ``Simulation``'s ``KeyWarning``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Hashable, Mapping
from contextlib import nullcontext
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ._events import Event
from ._expr import _MISSING, Unevaluable, _field
from ._flowstate import PRIORITY_MAX_S, PROCESS, Gcra, Pool, RunControl, Slots, _plain
from ._gostring import FALSE_KEY
from ._kernel import Timer
from ._records import FINAL, Run
from ._time import DAY, MS, SECOND

if TYPE_CHECKING:
    from ._app import Function
    from ._flow import Batch, Cancel, Debounce, Singleton, Throttle
    from ._flowrt import FlowRuntime


class _Open:
    __slots__ = ("events", "timer")

    def __init__(self, event: Event) -> None:
        self.events = [event]
        self.timer: Timer | None = None


class Batcher:
    """``batch=``: events collect per key; a batch runs when full or ``timeout`` after its first event."""

    __slots__ = ("fn", "if_fn", "kernel", "key_fn", "max_size", "open", "owner", "rt", "timeout")

    def __init__(self, rt: FlowRuntime, fn: Function, batch: Batch) -> None:
        self.rt = rt
        self.fn = fn
        self.kernel = rt.kernel
        self.max_size = batch.max_size
        self.timeout = batch.timeout_ns
        self.key_fn = rt.watch(fn, "batch", batch.key, batch.key_fn)
        self.if_fn = batch.if_fn
        self.owner = f"{fn.id} (batch)"
        self.open: dict[Hashable, _Open] = {}

    def add(self, event: Event) -> None:
        if self.if_fn is not None and not self.if_fn(event, event):
            self.rt.start(self.fn, [event], repeat=True)  # events failing the batch's `if` run at once, alone
            return
        try:
            key = None if self.key_fn is None else self.key_fn(event)
        except Unevaluable:  # batchKey's error: runner.go's initialize returns it, and no run is made
            self.rt.unevaluable(self.fn, event)
            return
        batch = self.open.get(key)
        if batch is None:  # the first event opens the batch and starts its timeout
            batch = self.open[key] = _Open(event)
            due = self.rt.engine.now() + self.timeout
            batch.timer = self.kernel.schedule(due, self._timeout, key, batch, owner=self.owner)
            return
        events = batch.events
        events.append(event)
        if len(events) >= self.max_size:
            del self.open[key]
            if batch.timer is not None:
                self.kernel.cancel(batch.timer)
            self._flush(key, events, "full")

    def _timeout(self, key: Hashable, batch: _Open) -> None:
        del self.open[key]
        self._flush(key, batch.events, "timeout")

    def _flush(self, key: Hashable, events: list[Event], why: str) -> None:
        # "Batching does not work with rate limiting": executor.go RetrieveAndScheduleBatch schedules the batch's run
        # with PreventRateLimit (an event its `if` keeps out of batches is still limited, via ``start``)
        run = self.rt.start(self.fn, events, batch=True, limited=False)
        self.rt.record(run.start_ns, "batch", {"function": self.fn.id, "run": run.id, "size": len(events),
                                               "key": _plain(key), "why": why})  # fmt: skip


class _Pending:
    __slots__ = ("cap", "count", "event", "expires", "timer")

    def __init__(self, event: Event, cap: int | None) -> None:
        self.event = event
        self.cap = cap
        self.expires: int | None = None  # Inngest: the debounce pointer's TTL ends (then an event starts anew)
        self.count = 0  # events this debounce took in: the trace tells how many a run stands for
        self.timer: Timer | None = None


class Debouncer:
    """``debounce=``: each event pushes the run to ``now + period``, never past ``first + timeout``;
    the run gets the last event (``trailing``) or the first (``leading``: Trigger.dev's default)."""

    __slots__ = ("at_call", "buffer", "fn", "kernel", "key_fn", "last", "owner", "pending", "period", "rt",
                 "splits", "timeout")

    def __init__(self, rt: FlowRuntime, fn: Function, debounce: Debounce) -> None:
        self.rt = rt
        self.fn = fn
        self.kernel = rt.kernel
        self.last = (debounce.mode or rt.engine.profile.debounce_mode) == "trailing"  # else the first event
        self.period = debounce.period_ns
        self.timeout = debounce.timeout_ns
        self.at_call = rt.engine.profile.debounce_timeout_at_call  # Agenda's maxWait (``Profile``)
        self.splits = rt.engine.profile.debounce_timeout_splits  # Trigger.dev's maxDelay (``Profile``)
        self.buffer = rt.engine.profile.debounce_job_delay_ns  # Inngest's debounce job buffer (``Profile``)
        self.key_fn = rt.watch(fn, "debounce", debounce.key, debounce.key_fn)
        self.owner = f"{fn.id} (debounce)"
        self.pending: dict[Hashable, _Pending] = {}

    def add(self, event: Event) -> None:
        key = None if self.key_fn is None else self.key_fn(event)
        now = self.rt.engine.now()
        pending = self.pending.get(key)
        if pending is not None and self.splits and pending.cap is not None and now + self.period > pending.cap:
            pending = None  # Trigger.dev: max_duration_exceeded; that run keeps its time, this trigger makes a new one
        if pending is not None and pending.expires is not None and now > pending.expires:
            pending = None  # Inngest: the pointer expired; its job has yet to fire, and this event starts a new one
        fresh = pending is None
        if pending is None:
            cap = None if self.timeout is None else now + self.timeout
            pending = self.pending[key] = _Pending(event, cap)
        else:
            if self.last:
                if (event.ts or 0) < (pending.event.ts or 0):
                    return  # Inngest ignores an event older than the one it holds
                pending.event = event
            if pending.timer is not None:
                self.kernel.cancel(pending.timer)
        pending.count += 1
        due, why = now + self.period, "quiet"
        cap = pending.cap
        if self.buffer:
            due, why = self._inngest_due(now, pending, fresh)
        elif cap is not None and self.at_call:  # Agenda's maxWait: only an event checks it (the first can't reach it)
            if now >= cap:
                due, why = now, "timeout"
        elif cap is not None and due >= cap and not self.splits:
            due, why = cap, "timeout"
        pending.timer = self.kernel.schedule(due, self._fire, key, pending, why, owner=self.owner)

    def _inngest_due(self, now: int, pending: _Pending, fresh: bool) -> tuple[int, str]:
        """Inngest's debounce job time (pkg/execution/debounce/debounce.go, updateDebounce.lua): the pointer
        lives ``ttl`` = the period, in whole seconds under a timeout — a new debounce whose timeout is shorter
        takes it rounded to the second (``untilTimeout.Round(time.Second)``), an update that would pass the
        timeout takes ``floor((timeout - now) / 1 s)`` s, at least 1 s — and the job that starts the run is
        enqueued at ``now + ttl + 50 ms + 1 s`` (``buffer`` plus a second for a late update to finish)."""
        ttl, why, cap = self.period, "quiet", pending.cap
        if cap is not None and now + ttl > cap:
            left, why = cap - now, "timeout"
            seconds = (left + SECOND // 2) // SECOND if fresh else left // SECOND  # Round vs math.floor
            ttl = max(seconds, 1) * SECOND
        pending.expires = now + ttl
        return now + ttl + self.buffer, why

    def _fire(self, key: Hashable, pending: _Pending, why: str) -> None:
        if self.pending.get(key) is pending:  # else a later trigger already opened the next one (``splits``)
            del self.pending[key]
        system = self.rt.engine.system
        saved: Any = nullcontext()
        if system is not None and system.polls is not None:  # Agenda: the job was saved at the last call
            saved = system.saved(self.kernel.now - (self.period if why == "quiet" else 0))
        with saved:
            run = self.rt.start(self.fn, [pending.event], limited=False)  # the last event, or the first (leading)
        self.rt.record(run.start_ns, "debounce", {"function": self.fn.id, "run": run.id, "size": pending.count,
                                                  "key": _plain(key), "why": why, "period": self.period,
                                                  **({} if self.last else {"gets": "first"})})  # fmt: skip


class Throttler:
    """``throttle=``: GCRA on run starts; a run over the rate waits, FIFO per key."""

    __slots__ = ("fn", "gcra", "kernel", "key_fn", "owner", "queues", "rt", "timers")

    def __init__(self, rt: FlowRuntime, fn: Function, throttle: Throttle) -> None:
        self.rt = rt
        self.fn = fn
        self.kernel = rt.kernel
        self.gcra = Gcra(throttle.limit, throttle.period_ns, throttle.limit + (throttle.burst or 0), MS)
        self.key_fn = rt.watch(fn, "throttle", throttle.key, throttle.key_fn)
        self.owner = f"{fn.id} (throttle)"
        self.queues: dict[Hashable, list[tuple[int, int, Run]]] = {}
        self.timers: dict[Hashable, Timer] = {}

    def admit(self, run: Run, ctl: RunControl, now: int) -> bool:
        """True if the run may start now; else it is queued and starts when the rate allows."""
        key = None if self.key_fn is None else self.key_fn(run.event)
        queue = self.queues.get(key)
        if queue is None:
            if self.gcra.take(key, now):
                return True
            queue = self.queues[key] = []
        heappush(queue, (self.rt.score(ctl, now), next(self.rt.seq), run))
        if key not in self.timers:
            self.timers[key] = self.kernel.schedule(self.gcra.next_free(key, now), self._release, key, owner=self.owner)
        return False

    def _release(self, key: Hashable) -> None:
        del self.timers[key]
        queue = self.queues[key]
        now = self.kernel.now
        while queue:
            run = queue[0][2]
            if run.status in FINAL:  # cancelled while it waited
                heappop(queue)
                continue
            if not self.gcra.take(key, now):
                break
            heappop(queue)
            self.rt.go(run, now)
        if queue:
            self.timers[key] = self.kernel.schedule(self.gcra.next_free(key, now), self._release, key, owner=self.owner)
        else:
            del self.queues[key]


class KeyWatch:
    """What one function's path key gave the events it was read on, until one gave a value.

    A path none of the events has (a typo: ``event.data.userID`` for ``userId``) is CEL ``false`` for each,
    so they all share one key, as on Inngest (idempotency, the rate limit and singleton skip such a key
    instead: ``_UNKEYED``); ``Simulation`` warns (``KeyWarning``) when it closes.
    """

    __slots__ = ("events", "expr", "fields", "function", "option", "parts", "valued")

    def __init__(self, function: str, option: str, expr: str) -> None:
        self.function, self.option, self.expr = function, option, expr
        self.parts = expr.split(".")[1:]
        self.valued = False  # an event gave a value: nothing to warn about
        self.events = 0  # events that gave none
        self.fields: dict[int, set[str]] = {}  # the fields there were where the path broke off, by its depth

    def saw(self, event: Any, key: Hashable) -> None:
        if key is not FALSE_KEY and key != "NULL_VALUE":
            self.valued = True
            return
        value = event
        for depth, part in enumerate(self.parts):  # a missing field and a CEL `false` both give FALSE_KEY
            found = _field(value, part)
            if found is _MISSING:
                self.fields.setdefault(depth, set()).update(_names(value))
                self.events += 1
                return
            value = found
        if value is None:  # an explicit null
            self.events += 1
        else:
            self.valued = True

    def message(self) -> str:
        """The warning: the function, the option, the expression, how many events, and what fields they had."""
        text = (f"function {self.function!r}: its {self.option} key {self.expr!r} read nothing on all "
                f"{self.events} events it was evaluated on (missing or null on each), "
                f"{_UNKEYED.get(self.option, 'so they all shared one key')}")
        if not self.fields:
            return f"{text}; the field is null on every one"
        depth = max(self.fields)
        where = ".".join(["event", *self.parts[:depth]])
        names = sorted(self.fields[depth])
        if not names:
            return f"{text}; {where} has no fields on any of them (a typo?)"
        shown = ", ".join(map(repr, names[:20])) + (", ..." if len(names) > 20 else "")
        text = f"{text}; a typo? {where} has the fields {shown}"
        close = difflib.get_close_matches(self.parts[depth], names, n=1, cutoff=0.6)
        if not close:
            close = [name for name in names if name.lower() == self.parts[depth].lower()][:1]
        if close:
            text += f" (did you mean {'.'.join([where, close[0], *self.parts[depth + 1:]])}?)"
        return text


_UNKEYED = {  # what a key that reads nothing (CEL ``false``) does to each option that skips it, as on Inngest
    "idempotency": "so none was deduplicated (a missing key is CEL false, which no run is skipped by)",
    "rate_limit": "so none was rate-limited (a missing key is CEL false, which the limit lets through)",
    "singleton": "so none ran as a singleton (a missing key is CEL false: no singleton)",
}
"""The options for which a ``false`` key is no key at all; for the rest (batch, debounce, throttle,
concurrency) every event gets the one key ``false``."""


def _names(value: Any) -> list[str]:
    """The field names a path can read on ``value`` (``_field``): a JSON object's keys, an ``Event``'s attributes."""
    if isinstance(value, Mapping):
        return [str(name) for name in value]
    if isinstance(value, Event):
        return [field.name for field in dataclasses.fields(value)]
    return []


class FunctionFlow:
    """One function's flow-control state: its batcher, limiters, slot pools and settings."""

    def __init__(self, rt: FlowRuntime, fn: Function) -> None:
        flow = fn.flow
        assert flow is not None
        self.fn = fn
        self.batcher = None if flow.batch is None else Batcher(rt, fn, flow.batch)
        self.debouncer = None if flow.debounce is None else Debouncer(rt, fn, flow.debounce)
        self.throttler = None if flow.throttle is None else Throttler(rt, fn, flow.throttle)
        self.limiter: Gcra | None = None
        self.limit_key: Callable[[Any], Hashable] | None = None
        self.limit_reason = ""
        if flow.idempotency is not None:  # Inngest: rateLimit{limit: 1, period: 24h, key}
            self.limiter, self.limit_reason = Gcra(1, DAY, 1), "idempotency"
            self.limit_key = rt.watch(fn, "idempotency", flow.idempotency_key, flow.idempotency)
        elif flow.rate_limit is not None:
            rl = flow.rate_limit
            self.limiter = Gcra(rl.limit, rl.period_ns, rl.limit // 10 + 1)  # burst = floor(limit / 10)
            self.limit_key, self.limit_reason = rt.watch(fn, "rate_limit", rl.key, rl.key_fn), "rate_limit"
        profile = rt.engine.profile
        # a function with no limit of its own gets the system's default (Agenda's defaultConcurrency)
        self.concurrency = flow.concurrency or rt.default_concurrency
        self.concurrency_keys = tuple(rt.watch(fn, "concurrency", c.key, c.key_fn) for c in self.concurrency)
        self.process = profile.max_concurrency  # every function's runs share one pool of this many (Agenda's)
        self.pools = rt.pools
        self.priority = flow.priority
        self.cancels: tuple[Cancel, ...] = flow.cancel_on
        timeouts = flow.timeouts
        self.start_timeout = None if timeouts is None else timeouts.start_ns
        finish = None if timeouts is None else timeouts.finish_ns
        self.finish_timeout = fn.timeout_ns if fn.timeout_ns is not None else finish
        self.singleton: Singleton | None = flow.singleton
        self.singleton_key = None if flow.singleton is None else rt.watch(fn, "singleton", flow.singleton.key,
                                                                          flow.singleton.key_fn)  # fmt: skip
        self.holders: dict[Hashable, Run] = {}  # singleton key -> the live run holding it

    def slots(self, event: Event) -> Slots:
        """The queues a run of this event takes a slot in for each request, with the limit in each."""
        if not self.concurrency and not self.process:
            return ()
        slots = []
        for index, (limit, key_fn) in enumerate(zip(self.concurrency, self.concurrency_keys, strict=True)):
            key = None if key_fn is None else key_fn(event)
            # a function's own limit is its own, per key; an env or account limit is named by its key alone
            name = ("fn", self.fn.id, index, key) if limit.scope == "fn" else (limit.scope, key)
            pool = self.pools.get(name)
            if pool is None:
                pool = self.pools[name] = Pool()
            slots.append((pool, limit.limit))
        if self.process:  # after the function's own: a run its own limit holds back takes no process slot
            pool = self.pools.get(PROCESS)
            if pool is None:
                pool = self.pools[PROCESS] = Pool()
            slots.append((pool, self.process))
        return tuple(slots)

    def priority_ns(self, event: Event) -> int:
        if self.priority is None:
            return 0
        factor = int(self.priority(event) or 0)
        return max(-PRIORITY_MAX_S, min(PRIORITY_MAX_S, factor)) * SECOND
