"""Flow control at run time, with Inngest's semantics (``reference/semantics.md`` §1.3).

The engine calls in only for functions that have ``flow`` (a function with no flow
control and no timeout never gets here):

* ``publish`` — an event for the function: batch it, debounce it, or ``start`` a run.
* ``start`` — a run is due: idempotency or the rate limit may skip it (a run with
  status ``"skipped"`` and ``run.skipped`` on the trace); a singleton whose key another
  run holds skips it or cancels that run; the throttle may hold it, FIFO; ``cancel_on``
  and timeouts are armed.
* ``enter``/``leave`` — around every request: a concurrency slot is taken before the
  code runs and given back by a timer at the execution's end (``x.now``), so time
  spent in ``time.sleep`` holds the slot. A request without a slot waits in a FIFO
  queue (shifted by priority) and runs the moment one frees.
* ``finished`` — the run ended: its timers are disarmed, its singleton key freed, its
  ``cancel_on`` no longer listens.
* ``cancel_by`` — an event that some ``cancel_on`` listens for was published: only the
  cancellations filed under its value are checked (``_listeners``).

Every limiter is exact integer arithmetic on nanoseconds: GCRA keeps its
theoretical arrival time multiplied by ``limit``, so ``period / limit`` is never
rounded.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Callable, Hashable, Mapping
from contextlib import nullcontext
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ._events import RUN_IDS, Event, Recent, ulid
from ._expr import _MISSING, FALSE_KEY, Key, Unevaluable, _field
from ._flow import CANCEL_TIMEOUT, Concurrency
from ._kernel import LAST, NORMAL, URGENT, Kernel, Timer
from ._listeners import Listener, Listeners
from ._records import FINAL, Run
from ._time import DAY, MS, SECOND, format_duration
from .errors import JobsimError

if TYPE_CHECKING:
    from ._app import Function
    from ._engine import Engine
    from ._flow import Batch, Cancel, Debounce, Singleton, Throttle
    from ._steps import Execution

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
        self.waiting: list[tuple[int, int, Run, int, Any]] = []  # (score: created - priority, seq, run, attempt, plan)


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
    so they all share one key, as on Inngest; ``Simulation`` warns (``KeyWarning``) when it closes.
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
                f"{self.events} events it was evaluated on (missing or null on each), so they all shared one key")
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


class FlowRuntime:
    """Flow control for every function of one engine (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.kernel: Kernel = engine.kernel
        self.record = engine.record
        self.functions: dict[str, FunctionFlow] = {}
        self.controls: dict[Run, RunControl] = {}
        self.cancellers: dict[str, Listeners[Canceller]] = {}  # by event name, only while one listens
        self.pools: dict[tuple[Hashable, ...], Pool] = {}  # every concurrency queue, by ``FunctionFlow.slots``' name
        self.sleep_hold = engine.profile.sleep_holds_slot_ns
        self.by_run_age = engine.profile.oldest_run_first
        self.crash_holds = engine.profile.crash.holds_slot
        default = engine.profile.default_concurrency
        self.default_concurrency: tuple[Concurrency, ...] = (Concurrency(default),) if default else ()
        self.seq = itertools.count()
        self._granted: Run | None = None
        self.watches: list[KeyWatch] = []  # the path keys' evaluations, for ``Simulation``'s KeyWarning

    def watch(self, fn: Function, option: str, key: Key | None,
              key_fn: Callable[[Any], Hashable] | None) -> Callable[[Any], Hashable] | None:
        """``key_fn``, noting for ``KeyWatch`` what each event gave when ``key`` is a path (``"event.data.userId"``);
        a callable or a quoted constant is the user's own choice of key and is left as it is."""
        if key_fn is None or not isinstance(key, str) or not key.startswith("event."):
            return key_fn
        watch = KeyWatch(fn.id, option, key)
        self.watches.append(watch)
        inner = key_fn

        def read(event: Any) -> Hashable:
            value = inner(event)
            if not watch.valued:
                watch.saw(event, value)
            return value

        return read

    def of(self, fn: Function) -> FunctionFlow:
        state = self.functions.get(fn.id)
        if state is None:
            state = self.functions[fn.id] = FunctionFlow(self, fn)
        return state

    # -- admission ----------------------------------------------------------------------
    def publish(self, fn: Function, event: Event) -> None:
        state = self.functions.get(fn.id) or self.of(fn)
        if state.batcher is not None:
            state.batcher.add(event)
        elif state.debouncer is not None:
            # Inngest checks the rate limit (and so idempotency) on each event, before the debounce
            # (executor.go schedule), and the debounced run starts with PreventRateLimit (service.go)
            if state.limiter is None or self._within_limit(fn, state, event):
                state.debouncer.add(event)
        else:
            self.start(fn, [event], repeat=True)

    def _first(self, fn: Function, event: Event, now: int) -> int | None:
        """When ``fn``'s run for ``event``'s id was made, if that was under 24 h ago (``Engine.run_ids``)."""
        ids = self.engine.run_ids
        at = None if ids is None else ids.get((fn.id, event.id))
        return at if at is not None and now - at < DAY else None

    def repeated(self, fn: Function, event: Event) -> bool:
        """A function without flow control: ``event``'s id already made a run of ``fn`` in the last 24 h, so this
        one ends as a skipped run (``True``); else the id is ``fn``'s from now on."""
        now = self.engine.now()
        if self._first(fn, event, now) is None:
            ids = self.engine.run_ids
            assert ids is not None
            ids.made((fn.id, event.id), now)
            return False
        run = self._new_run(fn, [event], None, now)
        self._skip(run, len(self.engine.runs[fn.id]), "event_id", event.id, now)
        return True

    def _within_limit(self, fn: Function, state: FunctionFlow, event: Event) -> bool:
        """Debounce: the event passes the function's rate limit, or it ends here as a skipped run."""
        assert state.limiter is not None
        try:
            key = None if state.limit_key is None else state.limit_key(event)
        except Unevaluable:
            self.unevaluable(fn, event)
            return False
        now = self.engine.now()
        if key is FALSE_KEY or state.limiter.take(key, now):  # a CEL `false` is not limited
            return True
        run = self._new_run(fn, [event], None, now)
        self._skip(run, len(self.engine.runs[fn.id]), state.limit_reason, key, now)
        return False

    def unevaluable(self, fn: Function, event: Event) -> None:
        """``event``'s rate-limit or batch key failed to evaluate: Inngest makes no run of ``fn`` for it."""
        now = self.engine.now()
        run = self._new_run(fn, [event], None, now)
        option = "batch" if self.of(fn).batcher is not None else self.of(fn).limit_reason
        self._skip(run, len(self.engine.runs[fn.id]), "key_error", None, now, option=option)

    def _new_run(self, fn: Function, events: list[Event], parent: tuple[Run, str] | None, now: int) -> Run:
        engine = self.engine
        engine._run_counter += 1
        run = Run(fn, ulid(now // MS, RUN_IDS | engine._run_counter), events, now)
        run.parent = parent
        if parent is not None or engine.causes:
            engine.descend(run, events, None if parent is None else parent[0])
        engine.runs[fn.id].append(run)
        return run

    def start(self, fn: Function, events: list[Event], parent: tuple[Run, str] | None = None, *,
              batch: bool = False, limited: bool = True, repeat: bool = False) -> Run:
        """A run of ``fn`` is due now: skip it, hold it, or schedule its first request. ``limited``: the
        rate limit applies here (a debounced run's was checked on each of its events, in ``publish``).
        ``repeat``: the run is keyed by its event's id (Inngest's ``Initialize``: one event, not a batch's run
        nor a debounced one), so a repeated id's is skipped (``Engine.run_ids``)."""
        engine, state = self.engine, self.of(fn)
        now = engine.now()
        run = self._new_run(fn, events, parent, now)
        runs = engine.runs[fn.id]
        event = run.event
        repeat = repeat and engine.run_ids is not None
        first = self._first(fn, event, now) if repeat else None
        # Inngest's rate limiter takes the run's idempotency key for 30 min (executor.go schedule,
        # RateLimitIdempotencyTTL): a repeat within that passes it untouched, a later one is counted first
        if state.limiter is not None and limited and (first is None or now - first >= RATE_LIMIT_IDEMPOTENCY):
            try:
                key = None if state.limit_key is None else state.limit_key(event)
            except Unevaluable:
                self._skip(run, len(runs), "key_error", None, now, option=state.limit_reason)
                return run
            if key is not FALSE_KEY and not state.limiter.take(key, now):  # a CEL `false` is not limited
                self._skip(run, len(runs), state.limit_reason, key, now)
                return run
        single = state.singleton
        held: tuple[Hashable] | None = None
        if single is not None:
            held = self._singleton(state, single, run, len(runs), now)
            if run.status == "skipped":
                return run
        if first is not None:  # the state store has a run for this key (redis_state.go idempotencyCheck)
            self._skip(run, len(runs), "event_id", event.id, now)
            return run
        if repeat:
            assert engine.run_ids is not None
            engine.run_ids.made((fn.id, event.id), now)
        ctl = self.controls[run] = RunControl(run, len(runs), state.priority_ns(event), state.slots(event), now)
        if held is not None:
            ctl.holds = held
            state.holders[held[0]] = run
        if state.cancels:
            ctl.cancellers = tuple(self._listen(run, cancel, now) for cancel in state.cancels)
        if state.start_timeout is not None:
            ctl.start_timer = self.kernel.schedule(now + state.start_timeout, self._start_timeout, ctl, owner=fn.id,
                                                  priority=LAST)  # fmt: skip
        due = now if batch else self.engine.due(events, now)  # a batch's run never waits (BatchID set)
        ctl.ahead = due - now > FUTURE_AT_LIMIT
        if due > now:  # a future event ts (Inngest): limits, cancellations and timeouts.start counted already
            self._queued(ctl, "ts", now, due)
            run._wake = self.kernel.schedule(due, self._admit, ctl, owner=f"{fn.id} (its event's ts)")
        else:
            self._admit(ctl)
        return run

    def _singleton(self, state: FunctionFlow, single: Singleton, run: Run, n: int, now: int) -> tuple[Hashable] | None:
        """Inngest's singleton, as its executor's ``schedule`` applies it after the rate limit: the key the new
        run will hold (``None``: it is no singleton), once any run holding it is dealt with. ``skip``: the new
        run is skipped (``enums.SkipReasonSingleton``, the holder's id as ``SkipExistingRunID``). ``cancel``:
        the holder is cancelled first (``e.Cancel`` with the new run's event id, then ``OnSingletonCancelled``)
        and the new run takes the key (pkg/execution/executor/executor.go : schedule, the
        ``req.Function.Singleton`` block; pkg/execution/singleton/singleton.go : singleton)."""
        key = None if state.singleton_key is None else state.singleton_key(run.event)
        if key is FALSE_KEY:  # SingletonKey's ErrNotASingleton: the run goes on as no singleton
            return None
        holder = state.holders.get(key)
        if holder is not None and holder.status not in FINAL:
            if single.mode == "skip":
                self._skip(run, n, "singleton", key, now, holder)
                return None
            event = run.event
            self.cancel(holder, {"reason": "singleton", "event": event.name, "id": event.id, "key": _plain(key),
                                 "by": run.id}, now)  # fmt: skip
        return (key,)

    def _admit(self, ctl: RunControl) -> None:
        """Past its rate limit and due: the throttle lets the run start now, or queues it."""
        run, now = ctl.run, self.kernel.now
        run._wake = None
        state = self.of(run.function)
        if state.throttler is None or state.throttler.admit(run, ctl, now):
            self.go(run, now)
        else:
            self._queued(ctl, "throttle", now)

    def go(self, run: Run, at: int) -> None:
        """Schedule the run's first request: now, or at the poll that finds it (``profile.poll_ns``),
        before it asks for a concurrency slot (Agenda locks a job, then its concurrency decides)."""
        system = self.engine.system
        if system is not None and system.polls is not None and system.down_until(at) is None:  # else `enter` holds it
            poll = system.poll(run, at)
            if poll is not None:
                self._queued(self.controls[run], "poll", at, poll)
                run.status, at = "queued", poll
        self.kernel.schedule(at, self.engine._request, run, 0, owner=run.function.id)

    def _skip(self, run: Run, n: int, reason: str, key: Hashable, now: int, holder: Run | None = None,
              option: str | None = None) -> None:
        run.status, run.end_ns = "skipped", now
        fn = run.function
        data = {"function": fn.id, "run": run.id, "n": n, "event": run.event.name, "reason": reason, "key": _plain(key)}
        if holder is not None:
            data["existing"] = holder.id  # Inngest's SkipExistingRunID span attribute
        if option is not None:
            data["option"] = option  # the option whose key failed to evaluate (reason key_error)
        self.record(now, "run.skipped", data)
        if reason == "singleton" or reason == "key_error":
            # runner.go fails the invoker of a rate-limited run (InvokeFailHandler, "If we don't do this, it'll
            # hang forever") but returns on ErrFunctionSkipped without it: the caller waits out its invoke's
            # timeout (engine._invoke arms it; a year when none was given, opcode.go : InvokeFunctionOpts.Expires);
            # a key that fails to evaluate is a plain error there, which tells the caller nothing either
            return
        what = {"idempotency": "its idempotency key was used in the last 24h",
                "event_id": f"its event id {key!r} started a run of it in the last 24h"}.get(reason, "its rate limit")
        self._settle_parent(run, f"invoked function {fn.id!r} was skipped: {what}")

    def _queued(self, ctl: RunControl, reason: str, now: int, until: int | None = None) -> None:
        """A ``run.queued`` record: why the run waits, and ``until`` when that is known (ts, poll, downtime)."""
        run = ctl.run
        data = {"function": run.function.id, "run": run.id, "n": ctl.n, "event": run.event.name, "reason": reason}
        if until is not None:
            data["until"] = until
        self.record(now, "run.queued", data)

    # -- around each request ------------------------------------------------------------
    def enter(self, run: Run, attempt: int, plan: Any = None) -> RunControl | None:
        """Before a request runs code: its control record, or ``None`` if it must wait for a slot."""
        ctl = self.controls[run]
        slots = ctl.slots
        if slots:
            if ctl.kept:
                ctl.kept = False  # it slept without giving its slots back: it goes on at once
            elif self._granted is run:
                self._granted = None  # `_grant` took its slots
            else:
                blocking = _blocking(slots)
                if blocking is not None:
                    now = self.kernel.now
                    heappush(blocking.waiting, (self.score(ctl, now), next(self.seq), run, attempt, plan))
                    run.status = "queued"
                    self._queued(ctl, "concurrency", now)
                    return None
                for pool, _ in slots:
                    pool.busy += 1
        if not ctl.started:
            system = self.engine.system
            end = None if system is None else system.holds(run, self.kernel.now)
            if end is None:
                self._begin(ctl)
            else:  # the system is down: its request is deferred (``before_request``) and the run starts when back up
                self._queued(ctl, "downtime", self.kernel.now, end)
        return ctl

    def _begin(self, ctl: RunControl) -> None:
        run, now = ctl.run, self.kernel.now
        ctl.started = True
        run.start_ns = now
        if ctl.start_timer is not None:
            self.kernel.cancel(ctl.start_timer)
            ctl.start_timer = None
        finish = self.of(run.function).finish_timeout
        if finish is not None:
            ctl.deadline = now + finish
            ctl.finish_timer = self.kernel.schedule(ctl.deadline, self._finish_timeout, ctl, owner=run.function.id,
                                                   priority=LAST)  # fmt: skip
        self.record(now, "run.start", {"function": run.function.id, "run": run.id, "n": ctl.n,
                                       "event": run.event.name})  # fmt: skip

    def score(self, ctl: RunControl, now: int) -> int:
        """Where a request due ``now`` waits in a queue: ``now`` less the run's priority, or on Inngest
        (``by_run_age``) pkg/execution/queue/item.go ``QueueItem.Score``: an item enqueued at most
        ``consts.FutureAtLimit`` (2 s) ahead of its time scores the run's creation time, less the priority
        factor but for a sleep's wake-up (``Item.GetPriorityFactor`` has no KindSleep), so an older run's next
        step goes ahead of newer runs; one enqueued further ahead (a retry after its backoff, a longer sleep, a
        future ``ts``) keeps its own time, without the factor (job promotion is off by default:
        ``queue/enqueue.go``, ``enableJobPromotion``)."""
        if not self.by_run_age:
            return now - ctl.priority
        if (now - ctl.parked > FUTURE_AT_LIMIT) if ctl.started else ctl.ahead:  # a throttle's wait is no delay
            return now
        return ctl.score - (0 if ctl.run.status == "sleeping" else ctl.priority)

    def resumed(self, run: Run, at: int) -> None:
        """An event or an invoked run's end resumed ``run`` at ``at``: Inngest enqueues its next item then
        (due at once, so scored by the run's age), unlike a wait's timeout, enqueued when the wait began."""
        ctl = self.controls.get(run)
        if ctl is not None:
            ctl.parked = at

    def leave(self, ctl: RunControl | None, x: Execution, op: tuple[Any, ...]) -> bool:
        """After a request ran: give its slot back at ``x.now``; False to discard its outcome.

        A sleep keeps it ``Profile.sleep_holds_slot_ns`` longer (Trigger.dev's process stays executing
        until it is checkpointed, 60 s into a ``wait.for``), through the whole wait when that is no longer.
        """
        assert ctl is not None  # `enter` gave it
        ctl.parked = x.now  # its next request is enqueued as this one ends
        if ctl.slots:
            at = x.now
            if op[0] == "sleep" and self.sleep_hold:
                if op[2] - at <= self.sleep_hold:
                    ctl.kept = True  # the run wakes holding them (`enter`), or gives them back as it ends
                at += self.sleep_hold
            elif op[0] == "crash" and self.crash_holds:
                ctl.kept = True  # the dead attempt holds them until the system notices (`give_back`)
            if not ctl.kept:
                self.kernel.schedule(at, self._release, ctl.slots, owner=ctl.run.function.id, priority=URGENT)
        run = ctl.run
        if run.status == "cancelled":  # by an event its own code sent
            return False
        deadline = ctl.deadline
        if deadline is not None and x.now > deadline:  # it ran past its timeout: Inngest ignores the response
            step = None if op[0] in ("returned", "error", "parallel") else op[1]
            error = TimeoutError(f"the run exceeded its timeout of {format_duration(deadline - run.start_ns)}")
            self.engine._attempt(run, x, step, error)
            self.cancel(run, {"reason": "timeout"}, deadline)
            return False
        return True

    def _release(self, slots: Slots) -> None:
        """A request ended: its slots are free, and the oldest waiters that now fit run. With ``by_run_age``
        (Inngest) only once the run's own next request, due at this instant, has joined the queue (Inngest
        enqueues it before the finished item's lease ends): an older run goes on ahead of newer runs' waiting
        work (``QueueItem.Score``)."""
        for pool, _ in slots:
            pool.busy -= 1
        if self.by_run_age:
            self.kernel.schedule(self.kernel.now, self._grant_all, slots, owner="concurrency", priority=NORMAL)
        else:  # in queue order: who waited first goes first, before anything else due now
            self._grant_all(slots)

    def _grant_all(self, slots: Slots) -> None:
        todo = [pool for pool, _ in slots]
        while todo:
            self._grant(todo.pop(0), todo)

    def _grant(self, pool: Pool, todo: list[Pool]) -> None:
        """Run ``pool``'s waiters, oldest first, while the oldest fits under its own limit. One that
        another of its queues still blocks moves there, keeping its place by age (``todo``: queues
        that got one, to look at next)."""
        waiting = pool.waiting
        while waiting:
            entry = waiting[0]
            run = entry[2]
            if run.status in FINAL:
                heappop(waiting)
                continue
            slots = self.controls[run].slots
            if pool.busy >= next(limit for p, limit in slots if p is pool):
                return
            heappop(waiting)
            other = _blocking(tuple((p, limit) for p, limit in slots if p is not pool), entry[:2])
            if other is not None:
                heappush(other.waiting, entry)
                todo.append(other)
                continue
            for p, _ in slots:
                p.busy += 1
            self._granted = run
            self.engine._request(run, entry[3], entry[4])
            self._granted = None

    def give_back(self, run: Run) -> None:
        """The system noticed ``run``'s dead attempt: the slots it held (``CrashRule.holds_slot``) are free."""
        ctl = self.controls.get(run)
        if ctl is not None and ctl.kept:
            ctl.kept = False
            self.kernel.schedule(self.kernel.now, self._release, ctl.slots, owner=run.function.id, priority=URGENT)

    def jam(self, run: Run) -> list[str]:
        """Block ``run``'s limited queues for good: no slot of theirs is ever free again. The functions
        whose queues they are, for the record (Quirrel's ``soft-block`` count left off zero: ``_runtime``)."""
        ctl = self.controls.get(run)
        if ctl is None:
            return []
        ctl.kept = False  # what it held stays taken: the jam
        for pool, _ in ctl.slots:
            pool.busy += JAMMED
        return [run.function.id] if ctl.slots else []

    def finished(self, run: Run) -> None:
        ctl = self.controls.pop(run, None)
        if ctl is None:
            return
        if ctl.kept:  # it ended asleep holding its slots (cancelled, lost)
            ctl.kept = False
            self.kernel.schedule(self.kernel.now, self._release, ctl.slots, owner=run.function.id, priority=URGENT)
        for timer in (ctl.start_timer, ctl.finish_timer):
            if timer is not None:
                self.kernel.cancel(timer)
        ctl.start_timer = ctl.finish_timer = None
        # dequeue.lua frees the key with the run's last queue item; a run finalized early (cancelled, timed out)
        # has its remaining items dequeued by finalize.go : doRemoveRunJobs, so the key is free as it ends
        if ctl.holds is not None:
            holders = self.of(run.function).holders
            if holders.get(ctl.holds[0]) is run:
                del holders[ctl.holds[0]]
            ctl.holds = None
        # a cancellation is a pause: Inngest deletes a finished run's state and its pauses (redis_state.go mgr.Delete,
        # DeletePausesForRun)
        for canceller in ctl.cancellers:
            self._forget(canceller)
        ctl.cancellers = ()

    # -- cancellation -------------------------------------------------------------------------
    def _listen(self, run: Run, cancel: Cancel, now: int) -> Canceller:
        until = now + (CANCEL_TIMEOUT if cancel.timeout_ns is None else cancel.timeout_ns)
        canceller = Canceller(run, cancel, until)
        listening = self.cancellers.get(canceller.name)
        if listening is None:
            listening = self.cancellers[canceller.name] = Listeners()
        listening.append(canceller)
        return canceller

    def _forget(self, canceller: Canceller) -> None:
        """Stop ``canceller`` listening; the name's entry goes with its last one (``Engine._heard`` reads it)."""
        listening = self.cancellers.get(canceller.name)
        if listening is not None and canceller in listening:
            listening.remove(canceller)
            if not listening:
                del self.cancellers[canceller.name]

    def cancel_by(self, event: Event) -> None:
        """Cancel the runs whose ``cancel_on`` matches ``event`` (only runs that existed before it), checking
        only the cancellations filed under the event's value and the unfiled ones (``_listeners``), in the order
        their runs were created."""
        listening = self.cancellers.get(event.name)
        if listening is None:
            return
        now = self.engine.now()
        for canceller in listening.candidates(event):
            if canceller not in listening:  # its run ended as an earlier one was cancelled
                continue
            run = canceller.run
            if run.status in FINAL or now > canceller.until:  # Inngest: expired once Expires is before now
                self._forget(canceller)
            elif canceller.matches(event):
                self.cancel(run, {"reason": "cancel_on", "event": event.name, "id": event.id}, now)

    def cancel(self, run: Run, why: dict[str, Any], at: int) -> None:
        """End ``run`` as ``cancelled`` at ``at``, wherever it is parked."""
        if run.status in FINAL:
            return
        wake = run._wake
        if wake is not None and run.status == "sleeping":
            self.kernel.cancel(wake)
            run._wake = None
        elif wake is not None and run.status == "waiting":
            self._drop_waiter(wake)
            run._wake = None
        elif wake is not None and run.status == "queued":  # until its event's future ts (``start``)
            self.kernel.cancel(wake)
            run._wake = None
        fn = run.function
        ctl = self.controls[run]
        fields = {"function": fn.id, "run": run.id, "n": ctl.n, **why}  # n names the run in the timeline
        if not ctl.started and not run.attempts:  # cancelled before its first request: no run.start tells it
            fields["trigger"] = run.event.name
        self.record(at, "cancel", fields)
        self._settle_parent(run, f"invoked function {fn.id!r} was cancelled ({why['reason']})")
        self.engine.finish(run, "cancelled", at, None)

    def _drop_waiter(self, waiter: Any) -> None:
        for waiting in self.engine.waiters.values():
            if waiter in waiting:
                waiting.remove(waiter)
                self.kernel.cancel(waiter.timer)
                return

    def _settle_parent(self, run: Run, message: str) -> None:
        if run.parent is not None:
            parent, key = run.parent
            run.parent = None
            self.engine._settle_invoke(parent, key, None, JobsimError(message))

    def _start_timeout(self, ctl: RunControl) -> None:
        ctl.start_timer = None
        if not ctl.started:
            self.cancel(ctl.run, {"reason": "timeouts.start"}, self.kernel.now)

    def _finish_timeout(self, ctl: RunControl) -> None:
        ctl.finish_timer = None
        self.cancel(ctl.run, {"reason": "timeout"}, self.kernel.now)


def _plain(key: Any) -> Any:
    """A key as the trace can store it (JSON scalars as they are, anything else as its repr)."""
    return key if key is None or isinstance(key, (str, int, float, bool)) else repr(key)
