"""Interval schedules, ``app.function(..., every="5m")``: BullMQ job schedulers' ``every``.

Read from BullMQ 6.2.0 (taskforcesh/bullmq @ 352d3c72; reference §2.1). A job scheduler
(``queue.upsertJobScheduler(id, {every, offset, startDate, endDate, limit}, template)``)
keeps **one** pending job. Times are epoch milliseconds, as BullMQ keeps them.

* **The first job** (``addJobScheduler-11.lua`` → ``includes/getJobSchedulerEveryNextMillis.lua``
  with no ``prevMillis``), when the scheduler is made — in jobsim, at the simulation's start:
  at ``startDate`` if given (or now, if it has passed); else, with an ``offset``, at the next
  slot ``floor(now / every)·every + offset`` strictly after now; else **now**. Since 5.19
  the first job is immediate (``docs/gitbook/guide/job-schedulers/repeat-options.md``:
  "immediately ... deprecated ... as if always true"); ``immediately`` only warns with
  ``every`` (``job-scheduler.ts``). BullMQ 5's legacy ``queue.add(..., {repeat: {every}})``
  aligned the first job to the next multiple of the interval (``repeat.ts getNextMillis``:
  ``floor(millis / every)·every + every``); BullMQ 6 removed it (``job-options.ts``:
  "repeat is no longer a valid option for Queue.add"), so jobsim does not simulate it.
* **The phase.** Without an offset the scheduler stores the first job's own phase,
  ``first mod every``, as its offset: later catch-ups keep the grid the first job set.
* **The next job** is made when the current one moves to active (``worker.ts
  nextJobFromJobData`` → ``upsertJobScheduler(..., {override: false})`` →
  ``updateJobScheduler-12.lua``), only by the scheduler's current job (a retry or a stall
  re-run of it makes none): ``prevMillis + every``; if that is already in the past
  (strictly before now), the next slot of the grid ``floor(now / every)·every + offset``,
  strictly after now. The slots in between are never made: a busy worker thins the
  schedule (trace: ``cron.missed``, outcome ``skipped``, one record per decision with
  the ``count`` of slots lost).
* **limit** (``job-scheduler.ts upsertJobScheduler``): the job with iteration count
  ``c`` (1 for the first) makes the next one only if ``c + 1 <= limit``: ``limit`` jobs in all.
* **endDate** is checked against the clock when a job is *made*, not against the next
  job's time: ``now > endDate`` makes none. So the last job may be due after ``endDate``
  (a job starting at 12:00 with ``every: 10 min, endDate: 12:05`` makes the 12:10 one;
  BullMQ's own test "it should stop repeating after endDate" counts on it). An
  ``endDate`` before the scheduler is made is an error (``queue.ts``: "End date must be
  greater than current timestamp").
* While the system is down the pending (delayed) job waits in Redis and runs late, once,
  when it is back; the next is computed from that start, as above.

jobsim refuses an offset of a whole interval or more (BullMQ takes it and pushes the first
job more than an interval ahead) and an ``end`` before ``start`` (BullMQ would still run
one job at ``start``): both are mistakes, not schedules.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ._checks import init_keywords_checked
from ._time import MS, Duration, Instant, duration_ns, format_duration, instant_ns, iso
from .errors import InvalidArgument

if TYPE_CHECKING:
    from ._app import Function
    from ._records import Run
    from ._runtime import SystemRuntime

_ACCEPTED = "a duration such as '30s', '5m', '1h' (whole milliseconds, more than zero), or jobsim.Every('5m', ...)"


def _ms(value: Duration, name: str, *, allow_zero: bool) -> int:
    ns = duration_ns(value, name, allow_zero=allow_zero)
    if ns % MS:
        raise InvalidArgument.build(name, value, "a whole number of milliseconds: BullMQ counts every and offset "
                                                 "in ms")  # fmt: skip
    return ns // MS


def _instant_ms(value: Instant, name: str) -> int:
    return instant_ns(value, name) // MS  # BullMQ keeps dates as whole ms (new Date(...).getTime())


@init_keywords_checked("Every()")
@dataclasses.dataclass(frozen=True, slots=True)
class Every:
    """``every=jobsim.Every("15m", offset="3m", start=..., end=..., limit=10)``: an interval schedule.

    ``every="15m"`` is ``Every("15m")``. ``offset``: the phase of the slots within the
    interval (the first job waits for the next one); ``start``/``end``: BullMQ's
    ``startDate``/``endDate`` (aware instants); ``limit``: how many jobs the schedule
    makes in all. The rules are BullMQ 6's, in the module docstring of ``jobsim._every``.
    """

    interval: Duration
    _: dataclasses.KW_ONLY
    offset: Duration | None = None
    start: Instant | None = None
    end: Instant | None = None
    limit: int | None = None
    every_ms: int = dataclasses.field(init=False, repr=False, compare=False)
    offset_ms: int = dataclasses.field(init=False, repr=False, compare=False)
    """0 when no offset was given (BullMQ: 0 and none are the same)."""
    start_ms: int | None = dataclasses.field(init=False, repr=False, compare=False)
    end_ms: int | None = dataclasses.field(init=False, repr=False, compare=False)
    expr: str = dataclasses.field(init=False, repr=False, compare=False)
    """How traces and the timeline name the schedule: ``"every 15m offset 3m"``."""

    def __post_init__(self) -> None:
        if isinstance(self.interval, Every):
            raise InvalidArgument.build("every", self.interval, "give Every(...) itself as every=, not inside another")
        every = _ms(self.interval, "every", allow_zero=False)
        offset = 0 if self.offset is None else _ms(self.offset, "offset", allow_zero=True)
        if offset >= every:
            interval = format_duration(every * MS)
            raise InvalidArgument.build("offset", self.offset, f"an offset shorter than the interval ({interval}): "
                                        "the phase of the slots within it")  # fmt: skip
        start = None if self.start is None else _instant_ms(self.start, "start")
        end = None if self.end is None else _instant_ms(self.end, "end")
        if start is not None and end is not None and end < start:
            raise InvalidArgument.build("end", self.end, f"an end at or after start={self.start!r} (BullMQ "
                                        "would still run one job at start: it checks endDate only when making "
                                        "a job)")  # fmt: skip
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):  # fmt: skip
            raise InvalidArgument.build("limit", self.limit, "an int >= 1: how many jobs the schedule makes in all")
        expr = f"every {format_duration(every * MS)}" + (f" offset {format_duration(offset * MS)}" if offset else "")
        for name, value in (("every_ms", every), ("offset_ms", offset), ("start_ms", start), ("end_ms", end),
                            ("expr", expr)):  # fmt: skip
            object.__setattr__(self, name, value)

    @classmethod
    def coerce(cls, value: Any) -> Every:
        """``every=`` as written: an ``Every``, or a duration for ``Every(duration)``."""
        if isinstance(value, Every):
            return value
        if isinstance(value, (list, tuple, set, dict)):
            raise InvalidArgument.build("every", value, _ACCEPTED + "; one interval per function")
        return cls(value)

    def check_made_at(self, function: str, ns: int, *, added: bool = False) -> None:
        """Refuse an ``end`` before the scheduler is made (the simulation's start, or when a plugin ``added`` the
        function while it runs), as ``queue.ts`` does."""
        if self.end_ms is not None and self.end_ms < ns // MS:
            when = "the time the function was added" if added else "the simulation's start"
            fix = "add it earlier" if added else "start the simulation earlier"
            raise InvalidArgument(
                f"every={self!r} of function {function!r}: end {iso(self.end_ms * MS)} is before {when} "
                f"{iso(ns)}; BullMQ's upsertJobScheduler refuses it ('End date must be greater than current "
                f"timestamp'): give a later end, or {fix}"
            )

    def next_after(self, ns: int) -> int:
        """When the first job is due if the scheduler is made at ``ns`` (``Engine.add_function`` asks once).

        The name is the cron schedules' protocol; unlike a cron tick, the first job may be due at ``ns``.
        """
        first, _ = first_job(self.every_ms, ns // MS, self.offset_ms, self.start_ms)
        return max(first * MS, ns)


# -- BullMQ's arithmetic (getJobSchedulerEveryNextMillis.lua), in ms -------------------------------------------


def first_job(every: int, now: int, offset: int, start: int | None) -> tuple[int, int]:
    """The first job's time and the offset the scheduler stores (``prevMillis`` is nil)."""
    if start is not None:
        first = max(start, now)
    elif offset > 0:
        first = now // every * every + offset
        if first <= now:
            first += every
    else:
        first = now
    return first, offset or first - first // every * every


def next_job(every: int, prev: int, now: int, offset: int) -> int:
    """The next job's time, made at ``now`` by the job due at ``prev``."""
    after = prev + every
    if after < now:  # missed iterations: the grid's next slot strictly after now
        aligned = now // every * every + offset
        after = aligned + every if aligned <= now else aligned
    return after


# -- at run time ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, eq=False)
class Scheduler:
    """One function's job scheduler: its current job (BullMQ's ``prevMillis``) and its iteration count."""

    fn: Function
    every: Every
    offset: int
    prev: int
    """The current job's time (ms)."""
    due: int
    """When the current job is delivered (ns): ``prev`` in ns, or the instant it was made if later."""
    count: int = 1
    late: bool = False


class Intervals:
    """The ``every=`` schedules of one simulation (``SystemRuntime`` hands them their ticks and starts)."""

    def __init__(self, system: SystemRuntime) -> None:
        self.system = system
        self.kernel = system.kernel
        self.record = system.record
        self.schedulers: dict[str, Scheduler] = {}

    def first(self, fn: Function, every: Every) -> None:
        """The first job is due (the engine scheduled it at ``every.next_after(start)``)."""
        now = self.kernel.now
        ms = now // MS
        offset = every.offset_ms or ms % every.every_ms  # no offset: the scheduler keeps this first job's phase
        scheduler = self.schedulers[fn.id] = Scheduler(fn=fn, every=every, offset=offset, prev=ms, due=now)
        self.deliver(scheduler)

    def deliver(self, s: Scheduler) -> None:
        """The scheduler's pending job is due: it becomes a run, unless the system is down (then it waits)."""
        system, now, fn = self.system, self.kernel.now, s.fn
        when = iso(s.due)
        end = system.down_until(now)
        if end is not None:
            if not s.late:
                self.record(now, "cron.missed", {"function": fn.id, "cron": s.every.expr, "scheduled": when,
                                                 "outcome": "down"})  # fmt: skip
            s.late = True  # the first job is one-off work (``Engine.add_function``): run_until_idle waits for it
            self.kernel.schedule(end, self.deliver, s, owner=f"{fn.id} (cron)", recurring=s.count > 1)
            return
        from ._engine import CRON_EVENT
        from ._events import Event
        from ._records import FINAL

        data: dict[str, Any] = {"function": fn.id, "cron": s.every.expr, "scheduled": when}
        if s.late:
            data["late"] = True
        payload = {"every": s.every.every_ms, "offset": s.offset, "count": s.count, "scheduledAt": when}
        copies = 1 + system._duplicates(fn, now, {"cron": s.every.expr, "scheduled": when})
        for copy in range(copies):
            self.record(now, "cron", data)
            run: Run = system.engine.start_run(fn, [Event(CRON_EVENT, dict(payload), id=f"{fn.id}:{when}",
                                                          ts=now // MS)])  # fmt: skip
            if copy == 0 and run.status not in FINAL:
                system.pending[run] = s

    def started(self, s: Scheduler, now: int) -> None:
        """The scheduler's current job moves to active: it makes the next one (or the schedule ends)."""
        every, fn, ms = s.every, s.fn, now // MS
        count = s.count + 1
        if every.limit is not None and count > every.limit:
            self.record(now, "cron.end", {"function": fn.id, "cron": every.expr, "reason": "limit",
                                          "limit": every.limit})  # fmt: skip
            return
        if every.end_ms is not None and ms > every.end_ms:
            self.record(now, "cron.end", {"function": fn.id, "cron": every.expr, "reason": "end",
                                          "end": iso(every.end_ms * MS)})  # fmt: skip
            return
        after = next_job(every.every_ms, s.prev, ms, s.offset)
        lost = (after - s.prev - 1) // every.every_ms  # the slots prev + k*every (k >= 1) before the next job
        if lost:
            first, last = s.prev + every.every_ms, s.prev + lost * every.every_ms
            self.record(now, "cron.missed", {"function": fn.id, "cron": every.expr, "scheduled": iso(first * MS),
                                             "outcome": "skipped", "behind": iso(s.due), "started": True,
                                             "count": lost, "last": iso(last * MS),
                                             "next": iso(after * MS)})  # fmt: skip
        s.prev, s.count, s.due, s.late = after, count, max(after * MS, now), False
        self.kernel.schedule(s.due, self.deliver, s, owner=f"{fn.id} (cron)", recurring=True)


__all__ = ["Every", "Intervals", "Scheduler", "first_job", "next_job"]
