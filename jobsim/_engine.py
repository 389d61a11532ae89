"""The engine: runs, requests, steps and retries, on top of the kernel.

A run is a sequence of requests (``_request``). Each executes the handler in
Inngest's replay model (``_steps.py``) and ends in one of these outcomes, each
handled by the method of the same name: ``done`` (a step completed), ``failed``
(a step raised), ``sleep``, ``wait``, ``invoke``, ``returned`` (the handler
finished) or ``error`` (the handler raised outside any step).

Retry counters are per step (and per stretch of code between steps), exactly as
Inngest's executor creates each step's queue item with ``Attempt: 0``.

``Engine`` is one class in four layers, one module each, the lower ones its bases:

* ``_engine`` (this module): the engine's state (``__init__``), the functions wired in,
  the events and cron ticks that start runs, a run's start and its causal chain;
* ``_enginerequests``: one request (``_request``), its attempts, and the outcomes
  ``done``, ``failed``, ``returned``, ``error`` with their retries;
* ``_enginepauses``: ``sleep``, ``wait``, ``invoke`` and ``parallel``, and what resumes the run;
* ``_engineends``: a run's end (``finish``), what it announces, and ``sim.fail``'s faults.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._calls import JobCalls
from ._enginerequests import _Requests
from ._events import RUN_IDS, Event, is_wildcard, triggers_of, ulid
from ._flowrt import FlowRuntime, RunIds
from ._kernel import NORMAL, URGENT
from ._listeners import Listeners
from ._records import Run
from ._retries import Retries, RetryPolicy, with_attempts
from ._steps import AsyncStep, Step
from ._time import DAY, MAX_NS, MS, SECOND, format_duration, iso, to_datetime
from .errors import BudgetExceeded, InvalidArgument, NonRetriableError

if TYPE_CHECKING:
    from ._app import Function
    from ._enginepauses import Waiter
    from ._execution import Execution
    from ._runtime import SystemRuntime
    from ._simulation import Simulation

CRON_EVENT = "inngest/scheduled.timer"


def _always(event: Event) -> bool:
    return True


class SleepTooLong(InvalidArgument, NonRetriableError):
    """A sleep or wait past the profile's maximum. Inngest rejects the opcode (state/opcode.go
    boundedSleepDuration, ErrTimeoutTooLong) and its executor fails the function at once, with no retry
    (executor.go: shouldFailEarly for ErrTimeoutTooLong sets NoRetry), so it is not retried here either."""


def zone_of(schedule: Any) -> dict[str, str]:
    """The cron record's ``tz``, when the schedule has one other than UTC (a plugin's own schedule may have none)."""
    fields = getattr(schedule, "zone_fields", None)
    return fields() if fields is not None else {}


def timer_event(fn: Function, schedule: Any, due: int, ts: int) -> Event:
    """The ``inngest/scheduled.timer`` event of ``fn``'s tick that fires at ``due`` (delivered at ``ts``, in ns).

    Its data is what Inngest's ``handleCron`` (``pkg/execution/executor/service.go``) sends:
    ``cron``, ``scheduledAt`` (the expression's tick) and ``fireAt`` (when the run is due: the
    tick moved by the trigger's own jitter, ``schedule.fire_at(due)`` of a jittered schedule such
    as jobsim-inngest's; the same instant without one), both written as Go's ``time.RFC3339``
    writes them: whole seconds, the fraction cut off (``2025-03-01T14:00:00Z``). A jittered tick's
    event has ``fireAt`` as its ``ts``, as there, so its run, made at the tick, waits for it. The
    event id, like Inngest's idempotency key (the same RFC3339 string), names the tick; jobsim puts
    the function's id before it, as its bus and traces tell events apart by id.
    """
    scheduled = rfc3339(due)
    fire_at = getattr(schedule, "fire_at", None)
    fire = due if fire_at is None else fire_at(due)
    data = {"cron": schedule.expr, "scheduledAt": scheduled, "fireAt": rfc3339(fire)}
    return Event(CRON_EVENT, data, id=f"{fn.id}:{scheduled}", ts=(ts if fire == due else fire) // MS)


def rfc3339(ns: int) -> str:
    """Epoch nanoseconds as Go's ``t.UTC().Format(time.RFC3339)``: whole seconds (truncated), ``Z``."""
    return to_datetime(ns).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Engine(_Requests):
    """The engine: its state (``__init__``), the functions wired in, the events that start runs, and runs'
    starts; a request and its outcomes are the layers below (``_enginerequests``, ``_enginepauses``,
    ``_engineends``)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.kernel = sim.kernel
        self.rng_for = sim._stream  # function id -> the generator its draws come from (``sim.rng_for``, unchecked)
        self._streams = sim._streams  # what rng_for has made so far, by function id
        self.profile = sim.profile
        self.jcs = sim.profile.jcs  # outputs as the next request carries them (``_stepdata.as_requested``)
        self.max_steps = sim.profile.max_steps or 1 << 62  # steps a run may have (``Execution.memo``)
        # a step output longer than this may be past the profile's max_step_output (``_oversized``): its JSON in
        # ``{"data": ...}`` is 9 bytes longer, an ASCII str's JSON 2 more (its quotes)
        self.output_gate = (sim.profile.max_step_output or 1 << 62) - 11
        # the longest a request may spend before the system stops waiting for it (``_reqtimeout``): no request
        # spends MAX_NS, so a profile without a limit never fails one
        self.request_cap = sim.profile.request_timeout_ns or MAX_NS
        profile = sim.profile
        # Inngest's lifecycle: function.failed, function.finished, the invoke event's _inngest metadata
        self.lifecycle = (profile.failure_hook is None and profile.attempt_failure_hook is None
                          and "on_failure" not in profile.lacks)  # fmt: skip
        self.record = sim.trace.add
        # the records of every job's path (run.start, attempt, retry, sleep, run.end) are appended directly, without
        # ``record``'s frame, and compact: ``(at, kind, field, ...)`` tuples that become rows when the trace is
        # read (``_trace._EXPAND``; 12 a job in bench_core). Other records are ``(at, kind, data)`` rows
        self._row = sim.trace._log.append
        # called as ``self._log.append(...)`` on the hot path: a load CPython specializes, and ``list.append``
        # runs inline; ``self._row(...)``, a bound method kept on the instance, is looked up generically each time
        self._log = sim.trace._log
        self.x: Execution | None = None
        self.move_clock = sim.wallclock.move
        self.wallclock = sim.wallclock  # moved as ``self.wallclock.move(ns)``: specialized (``move_clock`` is not)
        self.flowrt = FlowRuntime(self)  # flow control; only functions with `fn.flow` reach it
        self.cancellers = self.flowrt.cancellers
        # (function id, event id) -> when a run of it was made, in the last 24 h, on a profile that skips a repeated
        # id's runs only
        self.run_ids = RunIds(self.kernel) if profile.repeated_ids == "runs" else None
        self.runs: dict[str, list[Run]] = defaultdict(list)
        self.by_event: dict[str, list[Function]] = defaultdict(list)
        self.wildcards = False  # a function has a wildcard trigger (``app/*``): events match by prefix too
        self._order: dict[Function, int] = {}  # the order functions were added in
        self.waiters: dict[str, Listeners[Waiter]] = defaultdict(Listeners)
        self.faults: dict[tuple[str, str | None], list[list[Any]]] = {}
        self.groups: dict[Run, Any] = {}  # runs with parallel steps in flight (``_parallel.py``)
        self.raced: set[Run] = set()  # runs that planned a race-mode group: their requests may overlap
        self.race_winners: dict[Run, dict[int, int]] = {}  # run -> its n-th step.race -> the callable that won
        self._parallel_rt: Any = None
        self._policies: dict[str, RetryPolicy] = {}  # the profile fills it (``_profiles.resolve``)
        self.schedules: dict[str, tuple[Any, ...]] = {}  # cron schedules as the profile's dialect binds them
        self.system: SystemRuntime | None = None  # profile semantics and faults beyond Inngest's defaults
        self._step_types: tuple[type[Step], type[Step]] = (Step, AsyncStep)  # (sync, async) ctx.step classes
        self._run_counter = 0
        self._cron_seconds: dict[str, tuple[int, str]] = {}  # function id -> (second, cron) of its last tick
        self.calls = JobCalls()  # a sync step's job code is called through it (``_calls``)
        # the callbacks of a job's timers, one bound method each for all of them: ``self._request`` passed to
        # ``schedule`` is a generic lookup and a new object each time (equal to these: ``==`` still finds them)
        self._request_cb, self._wake_cb = self._request, self._wake
        self.causes: dict[int, Run] = {}  # id() of an event job code sent (kept in the bus) -> the sending run
        self._outcomes: dict[str, Callable[[Run, Execution, tuple[Any, ...]], None]] = {
            "done": self._done, "failed": self._failed, "sleep": self._sleep, "wait": self._wait,
            "invoke": self._invoke, "returned": self._returned, "error": self._error,
            "parallel": self._parallel, "unsupported": self._unsupported, "timeout": self._timeout,
        }  # fmt: skip

    # -- wiring -----------------------------------------------------------------
    def add_function(self, fn: Function) -> None:
        if fn.flow is not None:
            self.flowrt.of(fn)
        self._order.setdefault(fn, len(self._order))
        for name in fn.events:
            self.by_event[name].append(fn)
            if is_wildcard(name):
                self.wildcards = True
        now = self.kernel.now
        for schedule in self.schedules.get(fn.id, fn.crons):
            due = schedule.next_after(now)
            # a tick is recurring, but an every= scheduler's first job due at once is a job in the wait list
            # (_every.py): one-off work that run_until_idle waits for; a cron's next tick is strictly after now
            self.kernel.schedule(due, self._cron_tick, fn, schedule, owner=f"{fn.id} (cron)", recurring=due > now)

    def policy(self, fn: Function) -> RetryPolicy:
        policy: RetryPolicy | None = self._policies.get(fn.id)
        if policy is None:
            retries = fn.retries
            default = self.profile.default_retries
            if retries is None:
                policy = default
            elif isinstance(retries, Retries) and retries.uses_profile_backoff:
                policy = with_attempts(default, retries.attempts)
            else:
                policy = retries
            self._policies[fn.id] = policy
        return policy

    def sleep_ns(self, ns: int) -> int:
        limit = self.profile.max_sleep_ns
        if limit is not None and ns > limit:
            raise SleepTooLong(
                f"a sleep or wait of {format_duration(ns)} is longer than {self.profile.name}'s maximum of "
                f"{format_duration(limit)}"
            )
        return ns

    # -- triggers -----------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Fan an accepted event out to every subscribed function and every waiting run."""
        if self.cancellers:  # before new runs start: an event never cancels a run it starts
            self.flowrt.cancel_by(event)
        subscribers = self.subscribers(event.name) if self.wildcards else self.by_event.get(event.name, ())
        for fn in subscribers:  # ``subscribers``, inline without wildcards
            if fn.event_if is not None and not self.accepts(fn, event):
                continue  # the trigger's `if` is false: no run (Inngest's TriggerEvent expression)
            if fn.flow is None:
                ids = self.run_ids
                if ids is None:
                    self.start_run(fn, [event])
                    continue
                x = self.x
                key, now = (fn.id, event.id), self.kernel.now if x is None else x.now  # ``now()``
                at = ids.get(key)  # inline: ~1 µs an event less than asking flowrt.repeated (bench_core)
                if at is None or now - at >= DAY:
                    ids.made(key, now)
                    self.start_run(fn, [event])
                else:
                    self.flowrt.repeated(fn, event)  # its id made a run of fn in the last 24 h: a skipped run
            else:
                self.flowrt.publish(fn, event)
        waiting = self.waiters.get(event.name)
        if waiting:
            for waiter in waiting.candidates(event):
                if waiter.matches(event):
                    self._resolve_wait(waiter, event)

    def subscribers(self, name: str) -> Sequence[Function]:
        """The functions an event named ``name`` triggers, each once, in the order they were added."""
        if not self.wildcards:
            return self.by_event.get(name, ())
        found: dict[Function, None] = {}
        for trigger in triggers_of(name):
            found.update(dict.fromkeys(self.by_event.get(trigger, ())))
        return sorted(found, key=self._order.__getitem__) if len(found) > 1 else list(found)

    def accepts(self, fn: Function, event: Event) -> bool:
        """Whether an ``if`` of a trigger of ``fn`` that ``event`` matches holds (any of them, as one run starts)."""
        checks = fn.event_if
        assert checks is not None
        if not self.wildcards:
            return checks.get(event.name, _always)(event)
        return any(checks.get(trigger, _always)(event) for trigger in triggers_of(event.name) if trigger in fn.events)

    def start_run(self, fn: Function, events: list[Event], parent: tuple[Run, str] | None = None) -> Run:
        if fn.flow is not None:
            return self.flowrt.start(fn, events, parent)
        self._run_counter += 1
        x = self.x
        now = self.kernel.now if x is None else x.now  # ``now()``
        run = Run(fn, ulid(now // MS, RUN_IDS | self._run_counter), events, now)
        if parent is not None:
            run.parent = parent
            self.descend(run, events, parent[0])
        elif self.causes:
            self.descend(run, events, None)
        runs = self.runs[fn.id]
        runs.append(run)
        ts = events[0].ts  # ``due`` can be later only for an event of a later ms: asked only then
        due = now if ts is None or ts * MS <= now else self.due(events, now)
        if due > now:
            self.record(now, "run.queued", {"function": fn.id, "run": run.id, "n": len(runs), "event": run.event.name,
                                            "reason": "ts", "until": due})  # fmt: skip
            self.kernel.schedule(due, self._start_due, run, len(runs), owner=f"{fn.id} (its event's ts)")
            return run
        if self.system is not None and self._held(run, len(runs), now):
            return run
        self._log.append((now, "run.start", fn.id, run.id, len(runs), run.event.name))
        self.kernel.put(now, self._request_cb, (run, 0), fn.id, NORMAL, False)  # ``schedule``, positional
        return run

    def _held(self, run: Run, n: int, now: int, poll: bool = True) -> bool:
        """A run due while the system is down waits, queued, until it is back: it starts then. On a system
        that polls (``profile.poll_ns``) a new run waits for the poll that finds it (``poll``: not yet found)."""
        system = self.system
        assert system is not None
        end, reason = system.holds(run, now), "downtime"
        if end is None and poll and system.polls is not None:
            end, reason = system.poll(run, now), "poll"
        if end is None:
            return False
        self.record(now, "run.queued", {"function": run.function.id, "run": run.id, "n": n, "event": run.event.name,
                                        "reason": reason, "until": end})  # fmt: skip
        run.status = "queued"
        why = "the system is down" if reason == "downtime" else "its next poll"
        self.kernel.schedule(end, self._start_due, run, n, owner=f"{run.function.id} ({why})")
        return True

    def due(self, events: list[Event], now: int) -> int:
        """When a new run's first request is due: ``now``, or its one event's future ``ts`` where the
        system schedules runs by it (Inngest; never a batch's run: ``Profile.future_ts``)."""
        if len(events) == 1 and self.profile.future_ts:
            ts = events[0].ts
            if ts is not None and ts * MS > now:
                return ts * MS
        return now

    def _start_due(self, run: Run, n: int) -> None:
        """A run that waited (its event's future ``ts``, a downtime, an Agenda poll) is due now: it starts,
        unless the system is down at this instant too."""
        if run.done:  # cancelled while it waited
            return
        now = run.start_ns = self.kernel.now
        if self.system is not None and self._held(run, n, now, poll=False):  # a poll's or a restart's instant
            return
        self.record(now, "run.start", {"function": run.function.id, "run": run.id, "n": n, "event": run.event.name})
        self._request(run, 0)

    def descend(self, run: Run, events: Iterable[Event] = (), cause: Run | None = None) -> None:
        """Place ``run`` in its causal chain: after ``cause`` (the run that invoked it; a plugin's
        run that queued it) or after the run that sent an event in ``events``, the latest in its chain.

        A function that triggers itself forever after a sleep moves virtual time on, so the
        kernel's chain at one instant never grows; counted here in runs, it stops after
        ``max_chain`` of them in a fraction of a second (instead of after ``max_items``, which
        took minutes), with the chain named.
        """
        causes = self.causes
        for event in events:
            sender = causes.get(id(event))
            if sender is not None and (cause is None or sender._generation > cause._generation):
                cause = sender
        if cause is None:
            return
        run._cause = cause
        run._generation = generation = cause._generation + 1
        if generation > self.sim.max_chain:
            self._runaway_chain_at(run)

    def _runaway_chain_at(self, run: Run) -> None:
        """Raise before ``run``'s first request (again at each driving call: the chain stays stuck).

        ``recurring``: the guard keeps nothing busy and is not counted as pending work.
        """
        kernel = self.kernel
        kernel.schedule(kernel.now, self._runaway_chain, run, owner=run.function.id, priority=URGENT, recurring=True)

    def _runaway_chain(self, run: Run) -> None:
        self._runaway_chain_at(run)
        chain: list[str] = []
        first = run
        while first._cause is not None:
            if len(chain) < 8:
                chain.append(first.function.id)
            first = first._cause
        path = " -> ".join(reversed(chain))
        raise BudgetExceeded(
            f"run-away simulation: a chain of {run._generation:,} runs, each started by the run before (an event "
            f"it sent, its invoke, a task it queued), from {iso(first.start_ns)} to {iso(run.start_ns)}; "
            f"the last runs: ... -> {path}.\nA function that triggers itself forever does this (it sends the "
            "event it runs on, or queues itself, after a sleep). If the chain is legitimate, raise the budget: "
            "Simulation(max_chain=...)"
        )

    def _cron_tick(self, fn: Function, schedule: Any) -> None:
        if self.system is not None:  # missed ticks, delivery jitter, duplicates
            self.system.cron_tick(fn, schedule)
            return
        now = self.kernel.now
        self.kernel.schedule(schedule.next_after(now), self._cron_tick, fn, schedule,
                             owner=f"{fn.id} (cron)", recurring=True)  # fmt: skip
        if self.cron_overlaps(fn, schedule, now):
            return
        when = iso(now)
        self.record(now, "cron", {"function": fn.id, "cron": schedule.expr, "scheduled": when, **zone_of(schedule)})
        self.start_run(fn, [timer_event(fn, schedule, now, now)])

    def cron_overlaps(self, fn: Function, schedule: Any, nominal: int) -> bool:
        """Whether another cron schedule of ``fn`` already ticked in ``nominal``'s second, where the
        profile runs one of them (``profile.cron_overlap``); the skipped tick is recorded."""
        if len(fn.crons) < 2 or self.profile.cron_overlap != "once":
            return False
        second = nominal // SECOND
        first = self._cron_seconds.get(fn.id)
        if first is not None and first[0] == second:
            self.record(self.kernel.now, "cron.missed", {"function": fn.id, "cron": schedule.expr,
                                                         "scheduled": iso(nominal), "outcome": "deduplicated",
                                                         "by": first[1]})  # fmt: skip
            return True
        self._cron_seconds[fn.id] = (second, schedule.expr)
        return False

    def now(self) -> int:
        x = self.x
        return self.kernel.now if x is None else x.now
