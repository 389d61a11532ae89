"""Downtime's two ends and cron delivery (``jobsim._runtime``'s lowest layer): what the system does when a downtime
begins (a system without persistence loses its pending runs) and ends (the missed ticks ``profile.missed_cron``
keeps), a cron tick on a system with rules of its own (delivery jitter, one repetition at a time, one pending job
per schedule, a job document, node-cron's tasks), and duplicate deliveries.

``_runtimefail._Failures`` (crashes, failed attempts and their retries, checkpointed waits) and
``jobsim._runtime.SystemRuntime`` (which builds it all in ``__init__``, arms the faults and keeps the clock's
rules) are the layers above."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ._engine import Engine, timer_event, zone_of
from ._every import Every, Intervals, Scheduler
from ._kernel import BACKGROUND
from ._records import FINAL
from ._time import MS, SECOND, iso
from .errors import WorkerCrashed

if TYPE_CHECKING:
    from ._app import Function
    from ._events import Event
    from ._inline import RunState
    from ._jobdoc import JobDocuments
    from ._kernel import Kernel
    from ._nodetask import Tasks
    from ._polling import Polls
    from ._profiles import Profile
    from ._records import Run
    from ._runtime import Crash, Duplicate, SystemRuntime
    from ._simulation import Simulation


class _Cron:
    """Downtime's ends, cron ticks and their delivery, duplicate deliveries."""

    if TYPE_CHECKING:  # set by SystemRuntime.__init__, named for the methods of every layer (for mypy only)
        sim: Simulation
        engine: Engine
        kernel: Kernel
        profile: Profile
        record: Callable[[int, str, dict[str, Any]], None]
        states: dict[Run, RunState]
        fail_counts: dict[str, int]
        crashes: list[Crash]
        windows: list[tuple[int, int]]
        duplicates: list[Duplicate]
        missed: dict[int, list[tuple[Function, Any, int]]]
        caught_up: set[tuple[str, int]]
        chained: bool
        pending: dict[Run, tuple[str, str] | Scheduler]
        began: dict[tuple[str, str], tuple[int | None, int]]
        serial: bool
        cron_runs: dict[tuple[str, str], Run]
        run_keys: dict[Run, tuple[str, str]]
        backlog: dict[tuple[str, str], list[tuple[Any, int, int]]]
        docs: JobDocuments | None
        tasks: Tasks | None
        jitters: dict[str, int]
        hears_ends: bool
        polls: Polls | None
        stale: dict[int, list[tuple[int, str, str, Run, int, str | None]]]
        locked: dict[Run, int]
        waits: dict[Run, tuple[int, int]]
        saved_at: int | None
        saved_by: Run | None
        watching: bool
        intervals: Intervals | None

        # methods of the layers above that the methods of this one call
        def state(self, run: Run) -> RunState: ...
        def down_until(self, t: int) -> int | None: ...
        def up_at(self, t: int) -> int: ...
        def _crash_error(self, at: int, cause: str = "crash") -> WorkerCrashed: ...
        def _lose(self, run: Run, at: int, error: BaseException) -> None: ...

    # -- downtime -------------------------------------------------------------------------------------
    def _down(self, start: int, end: int) -> None:
        self.record(start, "fault", {"fault": "downtime", "phase": "begins", "start": start, "end": end})
        if self.profile.persistent:
            return
        error = WorkerCrashed(f"{self.profile.label} went down at {iso(start)}; it keeps nothing in memory")
        for timer in self.kernel.pending():
            args = timer.args
            if timer.callback == self.engine._request and args and not args[0].done:
                self.kernel.cancel(timer)
                self._lose(args[0], start, error)

    def _up(self, start: int, end: int) -> None:
        self.record(end, "fault", {"fault": "downtime", "phase": "ends", "start": start, "end": end})
        ticks = self.missed.pop(end, [])
        if self.tasks is not None:  # the process starts again and schedules its tasks afresh
            self.tasks.restart()
        policy = self.profile.missed_cron
        if policy in ("first", "first-and-due", "latest"):
            # One pending job per schedule, and the next one computed from the instant it runs: a tick due
            # exactly when the system is back is not a second run. BullMQ and Agenda run the first missed
            # tick then and resume strictly after it (job-scheduler.ts: next after max(now, prevMillis);
            # Agenda computes nextRunAt from the actual run time). Trigger.dev's pending job (the first
            # missed tick) runs late too, but its next is the latest tick whose time has not passed, one
            # due at this very instant included (scheduleCalculation.ts calculateNextSchedulableOccurrence:
            # prev(now + 1 ms), kept while effectiveAt >= now): that tick runs as well, on time.
            on_time = {fn.id for fn, schedule, _ in ticks if schedule.next_after(end - SECOND) == end}
            if policy == "first":
                ticks = _first_per_function(ticks)
                self.caught_up.update((fn_id, end) for fn_id in on_time)
            elif policy == "first-and-due":
                ticks = [t for t in _first_per_function(ticks) if t[2] != end]
            else:
                ticks = [t for t in _first_per_function(list(reversed(ticks)))[::-1] if t[0].id not in on_time]
        elif policy == "none":
            ticks = []
        for fn, schedule, nominal in ticks:
            copies = 1 + self._duplicates(fn, end, {"cron": schedule.expr, "scheduled": iso(nominal)})
            self._deliver(fn, schedule, nominal, copies, late=True)

    # -- cron ---------------------------------------------------------------------------------------------
    def cron_tick(self, fn: Function, schedule: Any) -> None:
        if isinstance(schedule, Every):  # an interval: its first job is due; the rest follow from their starts
            if self.intervals is None:
                self.intervals = Intervals(cast("SystemRuntime", self))  # this layer's methods are its
            self.intervals.first(fn, schedule)
            return
        now = self.kernel.now
        self.kernel.schedule(schedule.next_after(now), self.engine._cron_tick, fn, schedule,
                             owner=f"{fn.id} (cron)", recurring=True)  # fmt: skip
        end = self.down_until(now)
        if end is None and self.caught_up and (fn.id, now) in self.caught_up:
            self.caught_up.discard((fn.id, now))
            self.record(now, "cron.missed", {"function": fn.id, "cron": schedule.expr, "scheduled": iso(now),
                                             "outcome": "caught-up"})  # fmt: skip
            return
        if self.chained and (fn.id, schedule.expr) in self.began and self._holds(fn, schedule, now):
            return
        if self.docs is not None and self.docs.holds(fn, schedule, now):
            return
        if end is not None:
            self._miss(fn, schedule, now, end)
            return
        tasks = self.tasks if fn.id not in self.sim._own_worker else None
        if tasks is not None and tasks.holds(fn, schedule, now, now):  # node-cron's heartbeat, before any delay
            return
        copies = 1 + self._duplicates(fn, now, {"cron": schedule.expr, "scheduled": iso(now)})
        jitter = self.jitters.get(fn.id, self.profile.cron_jitter_ns)
        if jitter:
            at = now + self.engine.rng_for(fn.id).randrange(jitter // MS) * MS
            timer = self.kernel.schedule(at, self._deliver, fn, schedule, now, copies, owner=f"{fn.id} (cron)",
                                         recurring=True)  # fmt: skip
            if tasks is not None:
                tasks.waiting(fn, schedule, now, timer)
        else:
            self._deliver(fn, schedule, now, copies)

    def _deliver(self, fn: Function, schedule: Any, nominal: int, copies: int, late: bool = False,
                 held_by: str | None = None, released: bool = False) -> None:  # fmt: skip
        """Start the run(s) of a tick (``late``: after a downtime, or ``held_by`` a run that locked the job;
        ``released``: a held tick whose turn has come, ``cron_next == "end"``)."""
        now = self.kernel.now
        end = self.down_until(now)
        if end is not None:
            self._miss(fn, schedule, nominal, end)
            return
        serial = self.serial and fn.id not in self.sim._own_worker
        key = (fn.id, schedule.expr)
        if serial and not released and self._busy(key, now):
            run, held = self.cron_runs[key], self.backlog.setdefault(key, [])
            held.append((schedule, nominal, copies))
            self.record(now, "cron.missed", {"function": fn.id, "cron": schedule.expr, "scheduled": iso(nominal),
                                             "outcome": "held", "run": run.id})  # fmt: skip
            if len(held) == 1 and run.status in FINAL and run.end_ns is not None:  # its end is known already
                self._release_at(run, run.end_ns)
            return
        tasks = self.tasks if fn.id not in self.sim._own_worker else None
        if tasks is not None and late and tasks.holds(fn, schedule, nominal, now):  # on time: cron_tick asked
            return
        if self.engine.cron_overlaps(fn, schedule, nominal):
            return
        when = iso(nominal)
        data = {"function": fn.id, "cron": schedule.expr, "scheduled": when, **zone_of(schedule)}
        if late:
            data["late"] = True
        if held_by is not None:
            data["held_by"] = held_by
        if released:
            data["released"] = True
        for _ in range(copies):
            self.record(now, "cron", data)
            run = self.engine.start_run(fn, [timer_event(fn, schedule, nominal, now)])
            if self.chained and fn.id not in self.sim._own_worker and run.status not in FINAL:
                self.pending[run] = (fn.id, schedule.expr)
                self.began[fn.id, schedule.expr] = (None, nominal)
            if self.docs is not None and fn.id not in self.sim._own_worker:
                self.docs.delivered(fn, run)
            if serial:
                self.cron_runs[key] = run
                self.run_keys[run] = key
            if tasks is not None:
                tasks.delivered(fn, schedule, nominal, run)

    # -- one repetition at a time (profile.cron_next == "end") -------------------------------------------------
    def _busy(self, key: tuple[str, str], now: int) -> bool:
        """Whether a schedule's job is taken: its latest run has not ended by ``now`` (waiting, running, backing
        off, or dead and not yet noticed), or ticks are already held behind it."""
        if self.backlog.get(key):
            return True
        run = self.cron_runs.get(key)
        return run is not None and (run.status not in FINAL or run.end_ns is None or now < run.end_ns)

    def finished(self, run: Run, at: int) -> None:
        """``run`` ended at ``at`` (``Engine.finish``): if it holds ticks back, the first of them runs then; a
        node-cron task may reach its ``maxExecutions``."""
        if self.tasks is not None:
            self.tasks.finished(run, at)
        key = self.run_keys.get(run)
        if key is not None and self.cron_runs.get(key) is run and self.backlog.get(key):
            self._release_at(run, at)

    def _release_at(self, run: Run, at: int) -> None:
        # a cron delivery like the ticks (recurring): a job always longer than its interval never ends its
        # backlog, and must not keep run_until_idle busy for ever
        self.kernel.schedule(at, self._release, run, owner=f"{run.function.id} (cron)", priority=BACKGROUND,
                             recurring=True)  # fmt: skip

    def _release(self, run: Run) -> None:
        """owl's ``acknowledge.lua`` re-adds the job at the next repetition after the run's ``runAt``, which is
        in the past when ticks were held: the first of them runs now (after a downtime, when it is back)."""
        now, fn = self.kernel.now, run.function
        end = self.down_until(now)
        if end is not None:
            self._release_at(run, end)
            return
        schedule, nominal, copies = self.backlog[self.run_keys[run]].pop(0)
        self._deliver(fn, schedule, nominal, copies, late=True, held_by=run.id, released=True)

    # -- one pending job per schedule (profile.cron_next == "start") ----------------------------------------
    def _holds(self, fn: Function, schedule: Any, now: int) -> bool:
        """Whether the schedule's job of an earlier tick holds this tick back: it has not started yet,
        or it started at this very instant (the next is strictly after). Records the tick as skipped."""
        began, behind = self.began[fn.id, schedule.expr]
        if began is not None and began < now:
            return False
        self.record(now, "cron.missed", {"function": fn.id, "cron": schedule.expr, "scheduled": iso(now),
                                         "outcome": "skipped", "behind": iso(behind), "started": began is not None})
        return True

    def _started(self, run: Run, now: int) -> None:
        """``run`` moves to active: if it is its schedule's pending job, the schedule makes the next job now,
        due strictly after ``max(now, scheduled)`` — the clock's next tick after this instant."""
        key = self.pending.pop(run, None)
        if isinstance(key, Scheduler):
            assert self.intervals is not None
            self.intervals.started(key, now)
        elif key is not None:
            self.began[key] = (now, self.began[key][1])

    def _miss(self, fn: Function, schedule: Any, nominal: int, end: int) -> None:
        """A tick due while the system is down: kept for ``_up`` to deliver (or not) per ``missed_cron``."""
        outcome = "lost" if self.profile.missed_cron == "none" else "down"
        self.record(self.kernel.now, "cron.missed", {"function": fn.id, "cron": schedule.expr,
                                                     "scheduled": iso(nominal), "outcome": outcome})  # fmt: skip
        self.missed.setdefault(end, []).append((fn, schedule, nominal))

    # -- duplicates ------------------------------------------------------------------------------------------
    def _duplicates(self, fn: Function, now: int, about: dict[str, Any]) -> int:
        """Extra copies of this delivery of ``fn``: 0 when none is armed or the system dedupes."""
        for dup in self.duplicates:
            if dup.at > now:
                return 0
            if dup.function in (None, fn.id):
                self.duplicates.remove(dup)
                if not self.duplicates:
                    self.engine.__dict__.pop("publish", None)
                dedupe = self.profile.dedupe
                self.record(now, "fault", {"fault": "duplicate", "function": fn.id, "times": dup.times,
                                           "outcome": dedupe or "delivered", **about})  # fmt: skip
                return 0 if dedupe else dup.times
        return 0

    def _publish(self, event: Event) -> None:
        engine = self.engine
        Engine.publish(engine, event)
        now = engine.now()
        for fn in engine.subscribers(event.name):
            if fn.event_if is not None and not engine.accepts(fn, event):
                continue  # its trigger's `if` is false: no copy either
            for _ in range(self._duplicates(fn, now, {"event": event.name, "id": event.id})):
                if fn.flow is None:
                    engine.start_run(fn, [event])
                else:
                    engine.flowrt.publish(fn, event)


def _first_per_function(ticks: list[tuple[Function, Any, int]]) -> list[tuple[Function, Any, int]]:
    seen: set[str] = set()
    out = []
    for tick in ticks:
        if tick[0].id not in seen:
            seen.add(tick[0].id)
            out.append(tick)
    return out
