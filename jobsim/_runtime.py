"""The simulated system at run time: its profile's rules beyond Inngest's, and its answers to faults.

A ``SystemRuntime`` exists when the profile needs one (steps that are plain calls,
cron delivery jitter, no persistence, polling for due jobs: ``_polling.py``) or once a fault is armed
(``sim.crash_worker``, ``sim.downtime``, ``sim.duplicate_delivery``). Without one
the engine runs exactly as before: Inngest with no faults pays nothing. It hooks in
where the engine already branches: the request-start fault check
(``Engine.take_fault``), the cron tick, outcome handlers (``engine._outcomes``)
and ``Simulation.consume`` (job code spending virtual time).

Faults, in virtual time:

* **crash** — ``crash_worker(at, function)`` kills *the attempt in flight at
  ``at``*: the first attempt (of ``function``, or of any function) that is
  spending virtual time across ``at`` (it started before ``at`` and its code —
  ``time.sleep``, a delayed HTTP answer, ``asyncio.sleep`` — is still running at
  ``at``), or, if none is, the first attempt that starts at or after ``at``, which
  dies before its code runs. Code that ran before ``at`` has had its effects (an
  email sent is sent); the attempt never reports. The profile's ``CrashRule``
  decides what follows.
* **downtime** — ``downtime(start, end)``: in ``[start, end)`` nothing starts.
  Attempts in flight at ``start`` die as in a crash. A persistent system holds
  every request due in the window until ``end``; a system without persistence
  loses its in-flight and pending runs. Cron ticks due in the window follow
  ``profile.missed_cron``.
* **duplicate delivery** — ``duplicate_delivery(function, at, times)``: the next
  delivery at or after ``at`` (a cron tick, or an event starting the function) is
  delivered ``times`` more times; a system that deduplicates (``profile.dedupe``)
  drops the copies and says why in the trace.

``SystemRuntime`` is one class in three layers, one module each, the lower ones its bases:
``_runtime`` (this module: its state, the faults armed, the clock's rules, the hooks at a
request's start and where job code spends time), ``_runtimefail`` (the outcomes: crashes,
failures and retries, checkpointed waits) and ``_runtimecron`` (downtime's ends, cron
delivery, duplicate deliveries).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._engine import CRON_EVENT, Engine
from ._inline import AsyncInlineStep, InlineStep, RunState
from ._jobdoc import JobDocuments
from ._nodetask import Tasks
from ._polling import Polls
from ._runtimefail import _Failures
from ._stepdata import Suspend
from ._time import format_duration, iso
from .errors import InvalidArgument, WorkerCrashed

if TYPE_CHECKING:
    from ._app import Function
    from ._every import Intervals, Scheduler
    from ._execution import Execution
    from ._records import Run
    from ._simulation import Simulation

FAULT_HOOK = (None, None)
"""Kept in ``engine.faults`` while a crash or downtime is armed, so requests consult ``take_fault``."""


@dataclasses.dataclass(slots=True)
class Crash:
    at: int
    function: str | None


@dataclasses.dataclass(slots=True)
class Duplicate:
    at: int
    function: str | None
    times: int


class SystemRuntime(_Failures):
    """See the module docstring."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.engine: Engine = sim.engine
        self.kernel = sim.kernel
        self.profile = sim.profile
        self.record = sim.trace.add
        self.states: dict[Run, RunState] = {}
        self.fail_counts: dict[str, int] = {}  # cron function -> failures so far (profile.fail_count_per_job)
        self.crashes: list[Crash] = []
        self.windows: list[tuple[int, int]] = []
        self.duplicates: list[Duplicate] = []
        self.missed: dict[int, list[tuple[Function, Any, int]]] = {}  # downtime end -> ticks due while down
        self.caught_up: set[tuple[str, int]] = set()  # (function, instant): a catch-up stands for its tick then
        # profile.cron_next == "start" (BullMQ job schedulers): one pending job per schedule
        self.chained = self.profile.cron_next == "start"
        # a schedule's job that has not started -> (function, cron), or its every= scheduler (``_every.py``)
        self.pending: dict[Run, tuple[str, str] | Scheduler] = {}
        # (function, cron) -> (when its latest job started, None until it does; that job's scheduled time)
        self.began: dict[tuple[str, str], tuple[int | None, int]] = {}
        # profile.cron_next == "end" (Quirrel): a cron function's next repetition is made as its run ends
        self.serial = self.profile.cron_next == "end"
        # (function id, cron) -> the schedule's latest run, and back (each schedule is a job of its own)
        self.cron_runs: dict[tuple[str, str], Run] = {}
        self.run_keys: dict[Run, tuple[str, str]] = {}
        # (function id, cron) -> the ticks held behind its latest run: (schedule, nominal, copies)
        self.backlog: dict[tuple[str, str], list[tuple[Any, int, int]]] = {}
        # profile.cron_next == "job" (Agenda): a cron function is one job document (``_jobdoc.py``)
        self.docs = JobDocuments(self) if self.profile.cron_next == "job" else None
        # node-cron's noOverlap and maxExecutions: one runner state per schedule (``_nodetask.py``)
        self.tasks = Tasks(self) if Tasks.needed(self.profile) else None
        # function id -> node-cron's maxRandomDelay of its schedules where its own (``Profile.cron_tasks``)
        self.jitters = {fn_id: self.profile.cron_task(fn_id).jitter_ns or 0 for fn_id in self.profile.cron_tasks}
        self.hears_ends = self.serial or self.tasks is not None  # Engine.finish calls `finished`
        # profile.poll_ns (Agenda's processEvery): a job starts when a poll finds it (``_polling.py``)
        self.polls = Polls(self.profile.poll_ns, sim.start_ns, self.windows) if self.profile.poll_ns else None
        self.stale: dict[int, list[tuple[int, str, str, Run, int, str | None]]] = {}  # ``_scan``'s, by instant
        self.locked: dict[Run, int] = {}  # a run -> the poll that locked its current attempt (Agenda's lockedAt)
        # a run waiting for a later poll -> (from when a poll finds it: ``Polls.search``; its due time)
        self.waits: dict[Run, tuple[int, int]] = {}
        self.saved_at: int | None = None  # while a delayed job is delivered: when it was saved (``saved``)
        self.saved_by: Run | None = None  # ... and the run whose code saved it
        self.watching = self.profile.max_duration_ns is not None  # Simulation.consume asks `spend`
        self.intervals: Intervals | None = None  # every= schedules (``_every.py``), made at their first job
        engine = self.engine
        engine.system = self
        outcomes = engine._outcomes
        outcomes.update(crash=self._crash, defer=self._defer, lost=self._lost)
        if not self.profile.durable_steps:
            engine._step_types = (InlineStep, AsyncInlineStep)
            outcomes.update(error=self._error, failed=self._error, sleep=self._sleep, wait=self._wait,
                            invoke=self._invoke)  # fmt: skip
            engine._next = self._next  # type: ignore[method-assign]
        if self.profile.checkpoints:  # Trigger.dev: one attempt per process, however often it paused
            engine._attempt = self._attempt  # type: ignore[method-assign]

    def state(self, run: Run) -> RunState:
        state = self.states.get(run)
        if state is None:
            state = self.states[run] = RunState(run.start_ns)
        return state

    # -- arming faults ---------------------------------------------------------------------------
    def arm_crash(self, at: int, function: str | None) -> None:
        self.crashes.append(Crash(at, function))
        self.crashes.sort(key=lambda c: c.at)
        self._watch()

    def arm_downtime(self, start: int, end: int) -> None:
        for a, b in self.windows:
            if start < b and a < end:
                raise InvalidArgument(
                    f"downtime({iso(start)}, {iso(end)}) overlaps the downtime already set from {iso(a)} to "
                    f"{iso(b)}; give one window covering both (from {iso(min(a, start))} to {iso(max(b, end))})"
                )
        self.windows.append((start, end))
        self.windows.sort()
        self.kernel.schedule(start, self._down, start, end, owner="downtime", recurring=True, priority=0)
        self.kernel.schedule(end, self._up, start, end, owner="downtime", recurring=True, priority=0)
        self._watch()
        if self.waits:
            self._repoll(start)

    def _repoll(self, start: int) -> None:
        """A downtime armed while jobs wait for a poll at or after its ``start``: that poll of the old grid
        never happens, and the restart's (at its end, ``Polls.at_or_after``) finds them (``_polling.py``)."""
        assert self.polls is not None
        engine, kernel, now = self.engine, self.kernel, self.kernel.now
        for timer in kernel.pending():
            if timer.due < start or timer.callback not in (engine._start_due, engine._request) or not timer.args:
                continue
            run = timer.args[0]
            wait = self.waits.get(run)
            if wait is None or run.done or self.locked.get(run) != timer.due:  # not its wait for a poll
                continue
            search, due = wait
            poll = self.locked[run] = self.polls.at_or_after(search)
            at = max(due, poll)
            if at == timer.due:
                continue
            kernel.cancel(timer)
            kernel.schedule(at, timer.callback, *timer.args, owner=timer.owner)
            if run.status == "queued":  # not started yet: its run.queued record named the old poll
                n = engine.runs[run.function.id].index(run) + 1
                self.record(now, "run.queued", {"function": run.function.id, "run": run.id, "n": n,
                                                "event": run.event.name, "reason": "poll", "until": at})  # fmt: skip

    def arm_duplicate(self, at: int, function: str | None, times: int) -> None:
        self.duplicates.append(Duplicate(at, function, times))
        self.duplicates.sort(key=lambda d: d.at)
        self.engine.publish = self._publish  # type: ignore[method-assign]

    def _watch(self) -> None:
        self.watching = True
        self.engine.faults.setdefault(FAULT_HOOK, [])  # type: ignore[arg-type]

    # -- time ------------------------------------------------------------------------------------
    def down_until(self, t: int) -> int | None:
        """The end of the downtime ``t`` falls in, or None when the system is up at ``t``."""
        for start, end in self.windows:
            if start <= t < end:
                return end
        return None

    def holds(self, run: Run, t: int) -> int | None:
        """When a new run due at ``t`` may start: the end of the downtime ``t`` falls in, where the
        system keeps its jobs through it (persistent profiles; the others lose them on the request,
        ``before_request``), else None. A plugin's own worker is not this system's."""
        if not self.windows or not self.profile.persistent or run.function.id in self.sim._own_worker:
            return None
        end = self.down_until(t)
        if end is not None and run not in self.states:
            self.states[run] = RunState(t)  # its first attempt was due at t (Quirrel counts retries from it)
        return end

    # -- polls (profile.poll_ns) ---------------------------------------------------------------------
    def poll(self, run: Run, now: int) -> int | None:
        """When the poll that finds ``run``, due ``now``, starts it, if that is later than now; else None.

        The job was lockable since: the delayed send's save (``saved``), for a cron run the end of
        its document's last run (``JobDocuments.unlocked``), else now (``agenda.now()``); saved by a
        run (its code, its end) or by the test, which decides a tie with a poll (``_polling.py``). A
        failure listener's run is no job (Agenda calls it in-process), nor is a plugin's own worker's.
        """
        polls = self.polls
        if polls is None:
            return None
        fn = run.function
        if fn.id in self.sim._own_worker or self._listener(fn):
            return None
        since, by_run = self.saved_at, self.saved_by is not None or run._cause is not None  # job code made it
        if since is None:
            since = now
            if self.docs is not None and run.events and run.events[0].name == CRON_EVENT:
                since = self.docs.unlocked(fn, self.sim.start_ns)  # its last run's end (every() saved it at start)
                by_run = fn.id in self.docs.latest
        locked = self.locked[run] = polls.found(since, now, by_run)
        if locked > now:
            self.waits[run] = (polls.search(since, now, by_run), now)
            return locked
        self.waits.pop(run, None)
        return None

    def _listener(self, fn: Function) -> bool:
        """Whether ``fn`` is a failure handler (``Simulation._failure_handler``): an event listener, not a job."""
        return fn.id.endswith("-failure") and self.sim._failure_handlers.get(fn.id[: -len("-failure")]) is fn

    @contextlib.contextmanager
    def saved(self, at: int, by: Run | None = None) -> Iterator[None]:
        """Runs started in this block are of a job saved at ``at`` (``agenda.schedule``, a debounced save),
        by the code of run ``by`` (None: by the test)."""
        self.saved_at, self.saved_by = at, by
        try:
            yield
        finally:
            self.saved_at = self.saved_by = None

    def up_at(self, t: int) -> int:
        end = self.down_until(t)
        return t if end is None else end

    # -- hooks the engine and the simulation call --------------------------------------------
    def before_request(self) -> None:
        """At the start of every request while a fault is armed: hold it, lose it, or crash it."""
        x = self.engine.x
        assert x is not None
        now = self.kernel.now
        end = self.down_until(now)
        if end is not None:
            if self.profile.persistent:
                raise Suspend(("defer", end))
            raise Suspend(("lost", WorkerCrashed(f"{self.profile.label} was down; the run was lost")))
        if self.pending:  # a schedule's pending job moves to active: its schedule may make the next one
            self._started(x.run_, now)
        crash = self._take_crash(x.run_.function.id, now)
        if crash is not None:
            raise Suspend(("crash", None, self._crash_error(now), "crash"))

    def spend(self, x: Execution, ns: int) -> None:
        """Job code is about to spend ``ns``: a crash, a downtime or a duration limit may cut it short."""
        end = x.now + ns
        hit, cause = None, ""
        for crash in self.crashes:
            if crash.at >= end:
                break
            if crash.at >= x.now and crash.function in (None, x.run_.function.id):
                hit, cause = crash, "crash"
                break
        down = next((a for a, _ in self.windows if x.now <= a < end), None)
        cut = min((t for t in (None if hit is None else hit.at, down) if t is not None), default=None)
        limit = self.profile.max_duration_ns
        if limit is not None and end - x.start > limit and (cut is None or x.start + limit < cut):
            x.now = x.start + limit
            error = TimeoutError(f"{self.profile.label} killed the function after {format_duration(limit)}")
            if isinstance(x, InlineStep) and x.in_step:
                x.state.failed_step = x.in_step
            raise Suspend(("error", error))
        if cut is None:
            return
        if hit is not None and cut == hit.at:
            self.crashes.remove(hit)
        else:
            cause = "downtime"
        x.now = cut
        raise Suspend(("crash", x.in_step or None, self._crash_error(cut, cause), cause))

    def _take_crash(self, function: str, now: int) -> Crash | None:
        for crash in self.crashes:
            if crash.at > now:
                return None
            if crash.function in (None, function):
                self.crashes.remove(crash)
                return crash
        return None

    def _crash_error(self, at: int, cause: str = "crash") -> WorkerCrashed:
        why = "sim.crash_worker()" if cause == "crash" else "sim.downtime()"
        return WorkerCrashed(f"the worker died at {iso(at)} ({why})")
