"""The engine: runs, requests, steps and retries, on top of the kernel.

A run is a sequence of requests (``_request``). Each executes the handler in
Inngest's replay model (``_steps.py``) and ends in one of these outcomes, each
handled by the method of the same name: ``done`` (a step completed), ``failed``
(a step raised), ``sleep``, ``wait``, ``invoke``, ``returned`` (the handler
finished) or ``error`` (the handler raised outside any step).

Retry counters are per step (and per stretch of code between steps), exactly as
Inngest's executor creates each step's queue item with ``Attempt: 0``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from threading import get_ident
from typing import TYPE_CHECKING, Any

from ._calls import JobCalls
from ._checks import JOB_ERRORS, fresh_error
from ._events import RUN_IDS, Event, is_wildcard, triggers_of, ulid
from ._flowrt import FlowRuntime, RunIds
from ._kernel import NORMAL, URGENT
from ._lifecycle import failure_fields
from ._listeners import Listener, Listeners
from ._records import Attempt, Run, StepRecord
from ._retries import Retries, RetryPolicy, with_attempts
from ._safe import said, shown
from ._steps import (
    AsyncStep,
    Context,
    Execution,
    Step,
    Suspend,
    UnserializableOutput,
    as_requested,
    dump,
    failure,
    load,
    misused_step,
    strayed,
    unawaited,
)  # fmt: skip
from ._time import DAY, MS, SECOND, format_duration, iso, to_datetime
from .errors import BudgetExceeded, InjectedFault, InvalidArgument, NonRetriableError, RetryAfterError, StepError

if TYPE_CHECKING:
    from ._app import Function
    from ._runtime import SystemRuntime
    from ._simulation import Simulation

FAILED_EVENT = "inngest/function.failed"
FINISHED_EVENT = "inngest/function.finished"
CANCELLED_EVENT = "inngest/function.cancelled"
INVOKED_EVENT = "inngest/function.invoked"
CRON_EVENT = "inngest/scheduled.timer"
_STATUS = {"completed": "Completed", "failed": "Failed", "cancelled": "Cancelled"}  # enums.StepStatus's JSON
_ENDED = frozenset({"completed", "failed", "cancelled", "skipped"})  # a run's requests stop (one hash, not 4 compares)
_LIFECYCLE = (FAILED_EVENT, FINISHED_EVENT)  # runs they start announce nothing (finalize.go: no recursion)


_new = object.__new__


def _always(event: Event) -> bool:
    return True


class Waiter(Listener):
    """A run waiting for an event (``step.wait_for_event``), filed in ``Engine.waiters`` (``_listeners``)."""

    __slots__ = ("key", "timer")

    def __init__(self, run: Run, key: str, checks: list[Callable[[Event, Event], bool]]) -> None:
        super().__init__(run, checks)
        self.key = key
        self.timer: Any = None


class SleepTooLong(InvalidArgument, NonRetriableError):
    """A sleep or wait past the profile's maximum. Inngest rejects the opcode (state/opcode.go
    boundedSleepDuration, ErrTimeoutTooLong) and its executor fails the function at once, with no retry
    (executor.go: shouldFailEarly for ErrTimeoutTooLong sets NoRetry), so it is not retried here either."""


def zone_of(schedule: Any) -> dict[str, str]:
    """The cron record's ``tz``, when the schedule has one other than UTC (a plugin's own schedule may have none)."""
    fields = getattr(schedule, "zone_fields", None)
    return fields() if fields is not None else {}


def correlation_id(run: Run, key: str) -> str:
    """Inngest's id for the invoke step ``key`` of ``run`` (``handleGeneratorInvokeFunction``): the run's id, a dot,
    the step's id as the SDKs send it (the SHA-1 of the id the code gave, ``:n`` on a repeat, in hex)."""
    return f"{run.id}.{hashlib.sha1(key.encode()).hexdigest()}"


def _stand_in_uuid(*parts: str) -> str:
    """A UUID where Inngest has one of its own database ids (an app's, a function's): fixed for the names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "jobsim:" + "/".join(parts)))


def _one_year_later(ns: int) -> int:
    """Go's ``t.AddDate(1, 0, 0)``: the same date and time a year on (29 February becomes 1 March)."""
    moment = to_datetime(ns)
    try:
        later = moment.replace(year=moment.year + 1)
    except ValueError:
        later = moment.replace(year=moment.year + 1, month=3, day=1)
    return ns + (later - moment) // dt.timedelta(microseconds=1) * 1000


def event_map(event: Event) -> dict[str, Any]:
    """``event.Event.Map()``: the event as the server hands it on in lifecycle events (``user`` always there)."""
    out: dict[str, Any] = {"name": event.name, "data": dict(event.data), "user": dict(event.user or {}),
                           "id": event.id or "", "ts": event.ts or 0}  # fmt: skip
    if event.v:
        out["v"] = event.v
    return out


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


class Engine:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.kernel = sim.kernel
        self.rng_for = sim.rng_for  # function id -> the generator its draws come from
        self._streams = sim._streams  # what rng_for has made so far, by function id
        self.profile = sim.profile
        self.jcs = sim.profile.jcs  # outputs as the next request carries them (``_steps.as_requested``)
        self.max_steps = sim.profile.max_steps or 1 << 62  # steps a run may have (``Execution.memo``)
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
            "parallel": self._parallel, "unsupported": self._unsupported,
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

    # -- one request ------------------------------------------------------------------
    def _request(self, run: Run, attempt: int, plan: Any = None) -> None:
        """One request; ``plan`` targets one step of a parallel group (``_parallel.Target``)."""
        if run.status in _ENDED:
            return
        fn = run.function
        flow = fn.flow
        if flow is not None:
            ctl = self.flowrt.enter(run, attempt, plan)
            if ctl is None:
                return  # waits for a concurrency slot
        cls = self._step_types[1] if fn.is_async else self._step_types[0]  # a bool index is not specialized
        if cls is Step:  # ``Step(self, run, attempt, now)``: Execution.__init__'s fields, set here (no frame)
            x = _new(Step)
            x.engine = self
            x.run_ = run
            x.attempt = attempt
            x.start = x.now = self.kernel.now
            x.seen = {}
            x.in_step = False
            x.plan = plan
            x.thread = get_ident()
            x.strayed = None
            x.ended = None
        else:
            x = cls(self, run, attempt, self.kernel.now)
            if plan is not None:
                x.plan = plan
        self.x = x
        self.wallclock.move(x.now)
        run.status = "running"
        try:
            if self.faults or self.system is not None:
                x.fault(None)
            ctx = _new(Context)  # ``Context(x)``, its two fields set here: a Python __init__ is a frame per request
            ctx.step = x
            ctx._fresh = False
            handler = fn.handler  # an attribute called as ``fn.handler(ctx)`` is looked up generically
            value = self.sim.loop().drive(handler(ctx)) if fn.is_async else handler(ctx)
            op: tuple[Any, ...] = ("returned", value)
        except Suspend as suspend:
            op = suspend.args[0]  # ``suspend.op``
        except JOB_ERRORS as exc:  # SystemExit too; KeyboardInterrupt goes to the test (``_checks.JOB_ERRORS``)
            if type(exc) is TypeError and "native" not in fn.options:  # jobsim's own ctx.step, not a plugin's
                exc = misused_step(exc)
            op = failure(None, exc)  # a refusal (UnsupportedFeature) is raised by the driving call
        finally:
            self.x = None
        if fn.is_async:
            op = unawaited(x, fn.id, op)  # a step called without `await` never ran: the attempt fails naming it
        if x.strayed is not None:
            op = strayed(x.strayed, op)  # a step called from another thread was lost there: the attempt fails naming it
        if flow is not None and not self.flowrt.leave(ctl, x, op):
            return
        if x.now > self.kernel.now and (plan is not None or run in self.raced):  # a result exists when it ends
            self.kernel.schedule(x.now, self._settle_later, run, x, op, owner=fn.id)
            return
        self._outcomes[op[0]](run, x, op)

    def _settle_later(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        if run.done:  # a run cancelled while the step ran ignores its result
            return
        if self.raced and run in self.raced and self._parallel_rt.superseded(run, x, op):
            return
        self._outcomes[op[0]](run, x, op)

    def _attempt(self, run: Run, x: Execution, step: str | None, error: BaseException | None,
                 start: int | None = None, record: StepRecord | None = None) -> None:  # fmt: skip
        """Record an attempt of ``run`` (and of its step, ``record``) from ``start`` (default: its
        request's start) to ``x.now``. Until something reads the run's attempts it is a row, made an
        ``Attempt`` then (``Run.attempts``): most runs' attempts are never looked at."""
        if start is None:
            start = x.start
        row: tuple[Any, ...]
        if error is None:  # the trace's compact record is the run's row too (``_trace._EXPAND``, ``Run._rows``)
            row = (start, "attempt", run.function.id, run.id, step, x.attempt, x.now, None, record is not None)
        else:  # its __str__ may raise: job code wrote it
            row = (start, "attempt", run.function.id, run.id, step, x.attempt, x.now, error, record is not None,
                   said(error))  # fmt: skip
        self._log.append(row)
        rows = run._rows
        if rows is not None:
            rows.append(row)
        else:  # the run's attempts were read: its lists get each attempt as it ends
            attempt = Attempt(x.attempt, step, start, x.now, error)
            run.attempts.append(attempt)
            if record is not None:
                record.attempts.append(attempt)

    def _step(self, run: Run, key: str, kind: str, start: int) -> StepRecord:
        record = run.steps.get(key)
        if record is None:
            record = run.steps[key] = StepRecord(key, kind, start, run)
        return record

    def _next(self, run: Run, at: int) -> None:
        if self.groups and run in self.groups:  # a step of a parallel group ended
            self._parallel_rt.settled(run, at)
            return
        self.kernel.put(at, self._request_cb, (run, 0), run.function.id, NORMAL, False)

    # -- outcomes -------------------------------------------------------------------------
    def _done(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, payload, kind = op
        if self.jcs:
            payload = as_requested(payload)
        record = run.steps.get(key)  # ``_step``, inline: once a request
        if record is None:
            record = run.steps[key] = StepRecord(key, kind, x.start, run)
        self._attempt(run, x, key, None, None, record)
        record.status, record._payload, record.end_ns = "completed", payload, x.now
        self._next(run, x.now)

    def _failed(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, error = op
        record = run.steps.get(key)  # ``_step``, inline: once a request
        if record is None:
            record = run.steps[key] = StepRecord(key, "run" if len(op) < 4 else op[3], x.start, run)
        self._attempt(run, x, key, error, None, record)
        delay = self._retry_delay(run, x, error)
        if delay is not None:
            record.status = run.status = "retrying"
            self._retry(run, x, key, delay)
        else:
            record.status, record.error, record.end_ns = "failed", error, x.now
            self._next(run, x.now)

    def _unsupported(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """Job code met a refusal (``_steps.failure``): the driving call raises it, the run stays as it was."""
        raise op[1]

    def _error(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        error = op[1]
        self._attempt(run, x, None, error)
        if isinstance(error, StepError) and error.step_id in run.steps:
            self.finish(run, "failed", x.now, error.error)
            return
        delay = self._retry_delay(run, x, error)
        if delay is None:
            self.finish(run, "failed", x.now, error)
        else:
            run.status = "retrying"
            self._retry(run, x, None, delay)

    def _retry_delay(self, run: Run, x: Execution, error: BaseException) -> int | None:
        """Delay before the next attempt, or ``None`` when this failure is final."""
        if isinstance(error, NonRetriableError):
            return None
        fn_id = run.function.id
        policy = self._policies.get(fn_id)
        if policy is None:
            policy = self.policy(run.function)
        if x.attempt + 1 >= policy.attempts:
            return None
        if isinstance(error, RetryAfterError):
            return self.profile.retry_after_delay(error.after, x.now)
        rng = self._streams.get(fn_id)  # ``rng_for``'s own cache, read inline
        if rng is None:
            rng = self.rng_for(fn_id)
        return policy.delay_ns(x.attempt + 1, rng)

    def _retry(self, run: Run, x: Execution, key: str | None, delay: int) -> None:
        at = x.now + delay
        self._log.append((x.now, "retry", run.function.id, run.id, key, x.attempt + 1, at, delay))
        self.kernel.put(at, self._request_cb, (run, x.attempt + 1, x.plan), run.function.id, NORMAL, False)

    def _sleep(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, wake = op
        record = self._step(run, key, "sleep", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "sleeping":  # met again by an overlapping race-mode request: one timer (_parallel.py)
            run.status = "sleeping"
            return
        record.status = run.status = "sleeping"
        self._log.append((x.now, "sleep", run.function.id, run.id, key, wake))
        run._wake = self.kernel.put(wake, self._wake_cb, (run, record), run.function.id, NORMAL, False)

    def _wake(self, run: Run, record: StepRecord) -> None:
        record.status, record.end_ns = "completed", self.kernel.now
        run._wake = None  # the spent timer, its bound method and arguments are not kept for the run's life
        if self.groups and run in self.groups:
            self._parallel_rt.settled(run, self.kernel.now)
            return
        self._request(run, 0)

    def _wait(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, name, checks, deadline = op
        record = self._step(run, key, "wait_for_event", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "waiting":  # as in _sleep: one pause
            run.status = "waiting"
            return
        record.status = run.status = "waiting"
        waiter = Waiter(run, key, checks)
        self.waiters[name].append(waiter)
        waiter.timer = self.kernel.schedule(deadline, self._wait_timeout, waiter, name, owner=run.function.id)
        run._wake = waiter
        self.record(x.now, "wait", {"function": run.function.id, "run": run.id, "step": key,
                                    "event": name, "until": deadline})  # fmt: skip

    def _resolve_wait(self, waiter: Waiter, event: Event | None, name: str | None = None) -> None:
        run = waiter.run
        self.waiters[name or event.name].remove(waiter)  # type: ignore[union-attr]
        if event is not None:
            self.kernel.cancel(waiter.timer)
        record = run.steps[waiter.key]
        record.status, record.end_ns = "completed", self.now()
        payload = dump(None if event is None else event.to_dict(), "wait_for_event")
        record._payload = as_requested(payload) if self.jcs else payload
        run._wake = None
        self.record(self.now(), "wait.end", {"function": run.function.id, "run": run.id, "step": waiter.key,
                                            "event": None if event is None else event.id})  # fmt: skip
        if event is not None and run.function.flow is not None:
            self.flowrt.resumed(run, self.now())  # its next request is enqueued now, not at the timeout
        self._next(run, self.now())

    def _wait_timeout(self, waiter: Waiter, name: str) -> None:
        self._resolve_wait(waiter, None, name)

    def _invoke(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, target, data, deadline, v, name = op
        record = self._step(run, key, "invoke", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "invoking":  # as in _sleep: one child run
            run.status = "invoking"
            return
        record.status = run.status = "invoking"
        self.x = x  # the child starts at the parent's execution time
        try:
            if self.lifecycle:
                data = {**data, "_inngest": self._invoke_metadata(run, key, name, target, x.now, deadline)}
            event = Event(INVOKED_EVENT, data, ts=x.now // MS, v=v)
            child = self.start_run(target, [event], parent=(run, key))
        finally:
            self.x = None
        self.record(x.now, "invoke", {"function": run.function.id, "run": run.id, "step": key,
                                      "target": target.id, "child": child.id})  # fmt: skip
        if deadline is None and child.status == "skipped" and child.parent is not None:
            deadline = _one_year_later(x.now)  # a singleton skipped it: nothing but the pause's expiry ends the wait
        if deadline is not None:
            self.kernel.schedule(deadline, self._invoke_timeout, child, owner=run.function.id)

    def _invoke_metadata(
        self, run: Run, key: str, name: str, target: Function, now: int, deadline: int | None
    ) -> dict[str, Any]:
        """The ``_inngest`` object Inngest's ``NewInvocationEvent`` puts in the invoke event's data
        (``event.InngestMetadata``). Its database ids (the calling app's and function's, the
        request group's) are stand-in UUIDs fixed by the names; the OpenTelemetry carrier
        ``tc`` is left out: jobsim has no trace context to carry."""
        fn = run.function
        return {
            "source_app_id": _stand_in_uuid("app", fn.app.id),
            "source_fn_id": _stand_in_uuid("function", fn.id),
            "source_fn_v": 1,
            "fn_id": target.id,
            "correlation_id": correlation_id(run, key),
            "expire": (deadline if deadline is not None else _one_year_later(now)) // MS,
            "gid": _stand_in_uuid("group", run.id, key),
            "name": name,  # the step's id as the code gave it (the SDK's displayName)
        }

    def _invoke_timeout(self, child: Run) -> None:
        if child.parent is not None and (not child.done or child.status == "skipped"):  # skipped: a singleton's
            parent, key = child.parent
            child.parent = None
            self._settle_invoke(parent, key, None, TimeoutError(f"invoked function {child.function.id!r} timed out"))

    def _settle_invoke(
        self, run: Run, key: str, payload: bytes | None, error: BaseException | None, at: int | None = None
    ) -> None:
        """The invoked run ended ``at`` (its own clock: its code may have spent time): the caller resumes then."""
        record = run.steps[key]
        record.end_ns = at = self.now() if at is None else at
        if error is None:
            record.status, record._payload = "completed", as_requested(payload) if self.jcs else payload
        else:
            record.status, record.error = "failed", error
        if run.function.flow is not None:
            self.flowrt.resumed(run, at)
        self._next(run, at)

    def _parallel(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        if self._parallel_rt is None:
            from ._parallel import ParallelRuntime

            self._parallel_rt = ParallelRuntime(self)
        self._parallel_rt.plan(run, x, op[1], op[2])

    def _returned(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        try:
            payload = dump(op[1], "function", run.function.id)
        except UnserializableOutput as exc:
            self._attempt(run, x, None, exc)
            self.finish(run, "failed", x.now, exc)
            return
        self._attempt(run, x, None, None)
        run._payload = payload
        self.finish(run, "completed", x.now, None)

    # -- the end of a run --------------------------------------------------------------
    def finish(self, run: Run, status: str, at: int, error: BaseException | None) -> None:
        run.status, run.end_ns, run.error = status, at, error
        fn = run.function
        if error is not None:
            self._log.append((at, "run.end", fn.id, run.id, status, "error", said(error)))  # its __str__ may raise
        elif run._payload is not None:  # JSON bytes; decoded only if the trace is saved
            self._log.append((at, "run.end", fn.id, run.id, status, "output", run._payload))
        else:
            self._log.append((at, "run.end", fn.id, run.id, status))
        if self.system is not None and self.system.hears_ends:
            self.system.finished(run, at)
        if fn.flow is not None:
            self.flowrt.finished(run)
        if self.groups and run in self.groups:
            self._parallel_rt.drop(run)
        if self.raced:
            self.raced.discard(run)
        if run.parent is not None:
            parent, key = run.parent
            run.parent = None
            self._settle_invoke(parent, key, run._payload, error, at)  # the handler gets StepError(key, error)
        if status == "failed":
            if at > self.now():  # the run's code spent time before failing: announce it when it failed
                self.kernel.schedule(at, self._announce_failure, run, error, owner=fn.id)
            else:
                self._announce_failure(run, error)
        elif self.lifecycle and status in _STATUS:
            if at > self.now():
                self.kernel.schedule(at, self._announce_end, run, status, None, owner=fn.id)
            else:
                self._announce_end(run, status, None)

    def _announce_end(self, run: Run, status: str, error: BaseException | None) -> dict[str, Any] | None:
        """Inngest's ``finalizeEvents`` (``executor/finalize.go``): a run that ends emits
        ``inngest/function.finished`` (and ``inngest/function.cancelled`` when cancelled), with the
        data ``_finished_data`` builds; returned for ``inngest/function.failed``, which carries the same.

        They are published here only when a function of the simulation is triggered by them, or a
        run waits for them or is cancelled by them: one event per run would crowd ``sim.events`` and
        timelines that nothing reads."""
        finished = self._heard(FINISHED_EVENT)
        cancelled = status == "cancelled" and self._heard(CANCELLED_EVENT)
        if not (finished or cancelled or status == "failed"):  # built for nothing: ~3 µs a run
            return None
        data = self._finished_data(run, status, error)
        if data is None:
            return None
        if finished:
            self.sim._emit(Event(FINISHED_EVENT, dict(data)), _origin="system")
        if cancelled:
            self.sim._emit(Event(CANCELLED_EVENT, dict(data), id=run.id), _origin="system")
        return data

    def _heard(self, name: str) -> bool:
        """Whether an event named ``name`` would start a run, resolve a wait or cancel a run."""
        return bool(self.subscribers(name) or self.waiters.get(name) or self.cancellers.get(name))

    def _finished_data(self, run: Run, status: str, error: BaseException | None) -> dict[str, Any] | None:
        """``functionFinishedData`` as ``finalizeEvents`` sends it: ``function_id``, ``run_id``, ``event``
        (the run's first event, as ``Event.Map()`` writes it), ``events`` (all its events), ``error``
        (a failure) or ``result`` (the output), ``correlation_id`` (an invoked run's) and
        ``_inngest.status``; ``None`` for a run started by ``function.failed``/``function.finished``,
        which announces nothing ("Don't recursively trigger internal finish handlers")."""
        first = run.event
        if first.name in _LIFECYCLE:
            return None
        data: dict[str, Any] = {
            "function_id": run.function.id,
            "run_id": run.id,
            "event": event_map(first),
            "events": [event.to_dict() for event in run.events],
        }
        if error is not None:  # the server's reading of the SDK's error answer, and that answer
            data["error"], data["result"] = failure_fields(run, error)
        elif status == "completed":
            data["result"] = load(run._payload)
        meta = first.data.get("_inngest") if first.name == INVOKED_EVENT else None
        if isinstance(meta, dict) and isinstance(meta.get("correlation_id"), str):
            data["correlation_id"] = meta["correlation_id"]
        data["_inngest"] = {"status": _STATUS[status]}
        return data

    def _announce_failure(self, run: Run, error: BaseException | None) -> None:
        """Inngest emits ``inngest/function.failed``; ``on_failure`` handlers run from it.

        A system whose failure hook is a callback (``profile.failure_hook``) publishes nothing
        and hands the handler its own event; one whose listener hears every failed attempt
        (``profile.attempt_failure_hook``) was already told, by the runtime."""
        fn = run.function
        if self.profile.attempt_failure_hook is not None:  # the runtime's listener heard the attempt fail
            return
        if "on_failure" in self.profile.lacks:  # Quirrel, Vercel Cron: nothing hears of it, no event anywhere
            return
        hook = self.profile.failure_hook
        if hook is not None:
            event = None if fn.on_failure is None else hook(run, error, self.now())
            if event is not None:
                self.start_run(self.sim._failure_handler(fn), [event])
            return
        data = self._announce_end(run, "failed", error)
        if data is None:  # the run of an on_failure handler, or of a function triggered by these events
            return
        # its id is the run's ("prevents duped runs for parallel steps"), after function.finished
        self.sim._emit(Event(FAILED_EVENT, dict(data), id=run.id), _origin="system")
        if fn.on_failure is not None:
            event = Event(FAILED_EVENT, dict(data), id=run.id, ts=self.now() // MS)
            self.start_run(self.sim._failure_handler(fn), [event])

    # -- fault injection ------------------------------------------------------------------
    def add_fault(self, function_id: str, step: str | None, times: int, error: Any) -> None:
        self.faults.setdefault((function_id, step), []).append([times, error])

    def take_fault(self, function_id: str, step: str | None) -> BaseException | None:
        if step is None and self.system is not None and function_id not in self.sim._own_worker:
            # a crash or a downtime may stop this request (a plugin's own worker handles its own)
            self.system.before_request()
        if not self.faults:
            return None
        queue = self.faults.get((function_id, step))
        if not queue:
            return None
        entry = queue[0]
        entry[0] -= 1
        if entry[0] == 0:
            queue.pop(0)
        error = entry[1]
        where = f"step {step!r} of {function_id!r}" if step else f"function {function_id!r}"
        if error is None:
            error = InjectedFault(f"injected by sim.fail() into {where}")
        elif isinstance(error, type):
            error = error(f"injected by sim.fail() into {where}")
        else:
            error = fresh_error(error)
        self.record(self.now(), "fault", {"function": function_id, "step": step, "error": shown(error)})
        return error  # type: ignore[no-any-return]
