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

The limiter, the queues and what is kept about a live run are in ``_flowstate``; one function's batch,
debounce, throttle and settings (``FunctionFlow``) in ``_flowgates``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ._events import RUN_IDS, Event, ulid
from ._expr import Key, Unevaluable
from ._flow import CANCEL_TIMEOUT, Concurrency
from ._flowgates import FunctionFlow, KeyWatch
from ._flowstate import (
    FUTURE_AT_LIMIT,
    JAMMED,
    RATE_LIMIT_IDEMPOTENCY,
    Canceller,
    Pool,
    RunControl,
    Slots,
    _blocking,
    _plain,
)
from ._flowstate import RunIds as RunIds  # the engine imports it from here
from ._gostring import FALSE_KEY
from ._kernel import LAST, NORMAL, URGENT, Kernel
from ._listeners import Listeners
from ._records import FINAL, Run
from ._time import DAY, MS, format_duration
from .errors import JobsimError

if TYPE_CHECKING:
    from ._app import Function
    from ._engine import Engine
    from ._execution import Execution
    from ._flow import Cancel, Singleton


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
        live = holder is not None and holder.status not in FINAL
        if live or (holder is not None and holder.end_ns is not None and holder.end_ns > now):
            if single.mode == "skip":  # a holder whose code still spends time (time.sleep) holds it to its end
                self._skip(run, n, "singleton", key, now, holder)
                return None
            if live and holder is not None:  # one ended in its code's future cannot be cancelled: the new run goes
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
                    # the kernel's depth (``Kernel.put``) goes with it: its grant runs it at that depth (``_grant``)
                    heappush(blocking.waiting, (self.score(ctl, now), next(self.seq), run, attempt, plan,
                                                self.kernel._depth))  # fmt: skip
                    run.status = "queued"
                    if not self._granted_now(slots, run):
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

    def _granted_now(self, slots: Slots, run: Run) -> bool:
        """The request just queued heads every queue it is in and each has a free slot: the grant already due at
        this instant (``_release`` schedules ``_grant_all`` on Inngest) runs it now, so it never waits. Its
        ``run.queued`` record said "waits for a concurrency slot" at each step of a run alone in its slots, as its
        next request came before the slot its last one freed was handed on."""
        return self.by_run_age and all(
            pool.busy < limit and (not pool.waiting or pool.waiting[0][2] is run) for pool, limit in slots)

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
            if deadline <= self.kernel.now:
                self._ran_past(run, x, step, error)
            else:  # at the deadline, unless an event (cancel_on, a singleton) cancels it before: it still runs then
                self.kernel.schedule(deadline, self._ran_past, run, x, step, error, owner=run.function.id)
            return False
        return True

    def _ran_past(self, run: Run, x: Execution, step: str | None, error: BaseException) -> None:
        """The request ran past the run's timeout: its attempt fails with ``error`` and the run is cancelled, now,
        at the deadline. Decided as the request ran, it cancelled the run then, so a ``cancel_on`` event or a
        singleton arriving between the request's start and the deadline found the run over and did nothing."""
        if run.status in FINAL:  # cancelled first
            return
        self.engine._attempt(run, x, step, error)
        self.cancel(run, {"reason": "timeout"}, self.kernel.now)

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
            # the request runs at the causal depth it had as it began to wait, not one past the request whose end
            # freed the slot: a backlog of runs taking one slot in turns at one instant (each run's last request,
            # after a step that spent time) is no chain of work each scheduling the next, and 5,000 of them were
            # stopped as a run-away one; work a waiter makes (its own event's run) still counts one link more
            kernel = self.kernel
            depth, kernel._depth = kernel._depth, max(entry[5], 0) if kernel._depth >= 0 else kernel._depth
            try:
                self.engine._request(run, entry[3], entry[4])
            finally:
                kernel._depth = depth
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
        if ctl.holds is not None:  # kept while its code's time runs on (``_singleton`` reads its end)
            holders = self.of(run.function).holders
            if holders.get(ctl.holds[0]) is run and not (run.end_ns is not None and run.end_ns > self.kernel.now):
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
        for record in run.steps.values():  # its code spent time past `at`: Inngest discards the late response
            end = record.end_ns
            if end is None and record.status == "retrying":  # it failed past `at`: no retry comes
                end = record.attempts[-1].end_ns
            if end is not None and end > at:
                record.status, record._payload, record.error, record.end_ns = "cancelled", None, None, at
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
