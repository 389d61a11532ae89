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
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._engine import CRON_EVENT, Engine, timer_event, zone_of
from ._events import Event
from ._every import Every, Intervals, Scheduler
from ._failhooks import AttemptFailure
from ._inline import PENDING, AsyncInlineStep, InlineStep, RunState
from ._jobdoc import JobDocuments
from ._kernel import BACKGROUND
from ._nodetask import Tasks
from ._polling import Polls
from ._records import FINAL, Attempt, StepRecord
from ._steps import Suspend
from ._time import MS, SECOND, format_duration, iso
from .errors import InvalidArgument, NonRetriableError, RetryAfterError, StepMisuse, WorkerCrashed

if TYPE_CHECKING:
    from ._app import Function
    from ._records import Run
    from ._simulation import Simulation
    from ._steps import Execution

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


class SystemRuntime:
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

    # -- outcomes ----------------------------------------------------------------------------------
    def _crash(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, error, cause = op
        at, engine, profile = x.now, self.engine, self.profile
        fields = {"fault": "crash", "cause": cause, "function": run.function.id, "run": run.id, "step": key}
        self.record(at, "fault", fields)
        rule = profile.crash
        if rule.then == "lose" or (cause == "downtime" and not profile.persistent):
            engine._attempt(run, x, key, error)
            self._lose(run, at, error)
            return
        if profile.durable_steps:  # Inngest: the step's request failed; the usual retry decides
            x.now = rule.noticed_at(x.start, at, self.sim.start_ns, self.up_at)
            if key:
                engine._failed(run, x, ("failed", key, error))
            else:
                engine._error(run, x, ("error", error))
            return
        engine._attempt(run, x, key, error)
        if self.polls is not None:  # the first poll at or after lockedAt + lockLifetime locks it again
            locked = min(self.locked.get(run, x.start), x.start)
            noticed = max(self.polls.at_or_after(locked + rule.lease_ns), at)
        else:
            noticed = rule.noticed_at(x.start, at, self.sim.start_ns, self.up_at)
        run.status = "retrying"
        if rule.first_only:  # one scan looks at every attempt dead by then, together
            found = self.stale.get(noticed)
            if found is None:
                found = self.stale[noticed] = []
                self.kernel.schedule(noticed, self._scan, noticed, owner=run.function.id)
            found.append((x.start, run.function.id, run.id, run, x.attempt, key))
            return
        self.kernel.schedule(noticed, self._noticed, run, x.attempt, key, owner=run.function.id)

    def _scan(self, at: int) -> None:
        """Owl's stale checker (``src/shared/stale-checker.ts`` ``check``, Quirrel's ``CrashRule.first_only``).

        ``ZRANGEBYSCORE processing -inf now-staleAfter`` then ``ZREMRANGEBYSCORE`` takes every stale job
        out of ``processing`` (earliest request first: the score is when ``request.lua`` handed it out;
        at a tie, by ``queue:id``). The loop then reads ``staleJobs[0]`` and its score on every pass, so
        the first job's failure is reported (``_reportFailure`` -> ``acknowledge.lua``) once per stale
        job and the others never: no retry, no ``fail`` event, nothing runs them again. They are lost.

        ``acknowledge.lua`` ends with ``HINCRBY soft-block <queue> -1``; ``request.lua`` had added 1 per
        job handed out. So with N > 1 stale jobs, the first job's queue is decremented N times and each
        other job's queue never: every exclusive queue among them has a ``soft-block`` count left off
        zero, and ``request.lua`` blocks an exclusive queue's jobs while that count is not ``"0"``. Those
        queues (jobsim: their function's ``concurrency=1``) never run a job again, the first job's retry
        included. Non-exclusive queues never read the count."""
        found = sorted((f for f in self.stale.pop(at) if f[3].status not in FINAL), key=lambda f: f[:3])
        if not found:
            return
        flowrt = self.engine.flowrt
        (_, _, _, first, attempt, key), lost = found[0], found[1:]
        if not lost:
            self._noticed(first, attempt, key)
            return
        jammed = [fn_id for *_, run, _, _ in found if run.function.flow is not None for fn_id in flowrt.jam(run)]
        self._noticed(first, attempt, key)
        now, rule = self.kernel.now, self.profile.crash
        for _, _, _, run, _, _ in lost:
            self.record(now, "recover", {"function": run.function.id, "run": run.id, "how": rule.recovery,
                                         "then": "lose", "found": len(found), "first": first.id,
                                         "first_function": first.function.id})  # fmt: skip
            self._lose(run, now, WorkerCrashed(
                f"{rule.reason}, but the stale checker reported only the first of the {len(found)} stale jobs it "
                f"found ({first.function.id} {first.id}): this one is never retried or run again"))
        for fn_id in dict.fromkeys(jammed):
            self.record(now, "recover", {"function": fn_id, "how": "the stale checker left its exclusive queue's "
                                         "soft-block count off zero", "then": "jam"})  # fmt: skip

    def _noticed(self, run: Run, attempt: int, key: str | None) -> None:
        """The system notices the dead worker: fail the attempt, or run the job again."""
        if run.status in FINAL:
            return
        if run.function.flow is not None:
            self.engine.flowrt.give_back(run)  # the slots a dead attempt held (``CrashRule.holds_slot``)
        rule, now, state = self.profile.crash, self.kernel.now, self.state(run)
        self.record(now, "recover", {"function": run.function.id, "run": run.id, "how": rule.recovery,
                                     "then": rule.then})  # fmt: skip
        if rule.then == "rerun":
            state.reruns += 1
            cron = rule.rerun_cron and bool(run.events) and run.events[0].name == CRON_EVENT
            if rule.max_reruns is None or state.reruns <= rule.max_reruns or cron:
                state.scheduled = now
                if self.polls is not None:
                    self.locked[run] = now  # the poll that found the expired lock locked it again
                    self.waits.pop(run, None)
                self.engine._request(run, attempt)
                return
            if rule.final:
                error = WorkerCrashed(rule.reason)
                if self.profile.attempt_failure_hook is not None:  # BullMQ's deferred UnrecoverableError
                    self._heard(run, error, now, attempt, attempt + 1, None, started=now)  # a worker took it now
                self.engine.finish(run, "failed", now, error)
                return
        self._failure(run, attempt, key, now, WorkerCrashed(rule.reason))

    def _error(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """A plain-call attempt raised: the retry policy decides, and a retry starts over."""
        assert isinstance(x, InlineStep)
        key, error = (op[1], op[2]) if op[0] == "failed" else (x.state.failed_step, op[1])
        self.engine._attempt(run, x, key, error)
        self._failure(run, x.attempt, key, x.now, error)

    def _failure(self, run: Run, attempt: int, key: str | None, now: int, error: BaseException) -> None:
        count = self._fail_count(run, attempt)
        due = self._retry_due(run, count - 1, now, error)
        if self.profile.attempt_failure_hook is not None:
            self._heard(run, error, now, attempt, count, due)
        if due is None:
            self.engine.finish(run, "failed", now, error)
            return
        run.status = "retrying"
        data = {"function": run.function.id, "run": run.id, "step": key, "attempt": attempt + 1, "at": due,
                "delay": max(0, due - now)}  # fmt: skip
        starts = due
        if self.polls is not None and run.function.id not in self.sim._own_worker:
            # the run's finally saves nextRunAt = due and unlocks the job at `now`; a poll finds it (_polling.py)
            locked = self.locked[run] = self.polls.found(now, due, by_run=True)
            if locked > due:
                starts = data["poll"] = locked
                self.waits[run] = (self.polls.search(now, due, by_run=True), due)
            else:
                self.waits.pop(run, None)
        self.record(now, "retry", data)
        self.state(run).scheduled = due
        self.kernel.schedule(starts, self.engine._request, run, attempt + 1, owner=run.function.id)

    def _heard(
        self,
        run: Run,
        error: BaseException,
        at: int,
        attempt: int,
        count: int,
        due: int | None,
        started: int | None = None,
    ) -> None:
        """The system's failure listener hears an attempt fail (``profile.attempt_failure_hook``, ``_failhooks.py``).

        It fires as the attempt fails, before the retry (if any) runs: its handler starts at ``at``.
        """
        fn = run.function
        if fn.on_failure is None:
            return
        hook = self.profile.attempt_failure_hook
        assert hook is not None
        if started is None:
            started = run.attempts[-1].start_ns if run.attempts else at
        failure = AttemptFailure(run=run, error=error, at=at, started=started, attempt=attempt, fail_count=count,
                                 attempts=self.engine.policy(fn).attempts, retry_at=due)  # fmt: skip
        event = hook(failure)
        if event is None:
            return
        handler = self.sim._failure_handler(fn)
        if at > self.engine.now():  # the attempt's code spent time before failing
            self.kernel.schedule(at, self.engine.start_run, handler, [event], owner=fn.id)
        else:
            self.engine.start_run(handler, [event])

    def _fail_count(self, run: Run, attempt: int) -> int:
        """The number of this failure, which numbers the retry after it (attempt ``attempt`` just failed).

        Per run (``attempt + 1``) on most systems. With ``profile.fail_count_per_job``
        (Agenda 6.2.2: ``fail()`` does ``failCount++``, ``handleRetry`` takes
        ``attempt: failCount``, and nothing resets it on success) the runs of a cron
        function are one job document, so its failures count on from its earlier runs.
        A crash that Agenda re-runs does not pass through ``fail()`` and is not counted.
        """
        if not self.profile.fail_count_per_job or not run.events or run.events[0].name != CRON_EVENT:
            return attempt + 1
        fid = run.function.id
        count = self.fail_counts[fid] = self.fail_counts.get(fid, 0) + 1
        return count

    def _retry_due(self, run: Run, attempt: int, now: int, error: BaseException) -> int | None:
        profile, engine = self.profile, self.engine
        if isinstance(error, NonRetriableError) and (profile.non_retriable or isinstance(error, StepMisuse)):
            return None  # a step misuse is a mistake in the handler, on every system
        policy = engine.policy(run.function)
        if attempt + 1 >= policy.attempts:
            return None
        if isinstance(error, RetryAfterError) and profile.retry_after:
            return now + profile.retry_after_delay(error.after, now)
        if isinstance(error, WorkerCrashed) and profile.crash.retry_ns is not None:
            return now + profile.crash.retry_ns  # the system's own retry of a dead worker (Trigger.dev's stall)
        delay = policy.delay_ns(attempt + 1, engine.rng_for(run.function.id))
        if getattr(policy, "from_scheduled", False):
            return max(now, self.state(run).scheduled + delay)
        return now + delay

    def _attempt(self, run: Run, x: Execution, step: str | None, error: BaseException | None,
                 start: int | None = None, record: StepRecord | None = None) -> None:  # fmt: skip
        """``engine._attempt`` where waits checkpoint (``profile.checkpoints``, Trigger.dev §3.5).

        An attempt is one process: a wait checkpoints it and the restored process goes on
        with the same attempt (Trigger.dev counts attempts = retries only, §3.2), so the
        run records one ``Attempt`` per attempt, from the start of its process to its
        end, and a wait's step record alone keeps the stretch that led to the wait.
        """
        state = getattr(x, "state", None)
        if state is None:  # not a plain-call execution (no such path today)
            Engine._attempt(self.engine, run, x, step, error, start, record)
            return
        if state.pausing:
            if record is not None:
                record.attempts.append(Attempt(x.attempt, step, x.start, x.now, None))
            return
        if start is None:
            start = state.began if x.resumed else x.start  # type: ignore[attr-defined]
        Engine._attempt(self.engine, run, x, step, error, start, record)

    def _pausing(self, x: Execution) -> RunState:
        """The attempt pauses at a wait: remember when its process started, for the attempt's record."""
        state: RunState = x.state  # type: ignore[attr-defined]
        if not x.resumed:  # type: ignore[attr-defined]
            state.began = x.start
        state.pausing = True
        return state

    def _sleep(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """A checkpointed wait: the attempt resumes where it paused (same attempt, same checkpoint)."""
        _, key, wake = op
        engine = self.engine
        record = engine._step(run, key, "sleep", x.now)
        state = self._pausing(x)
        engine._attempt(run, x, key, None, None, record)
        state.pausing = False
        record.status = run.status = "sleeping"
        self.state(run).checkpoint[key] = PENDING
        self.record(x.now, "sleep", {"function": run.function.id, "run": run.id, "step": key, "until": wake})
        run._wake = self.kernel.schedule(wake, self._wake, run, record, x.attempt, owner=run.function.id)

    def _wake(self, run: Run, record: Any, attempt: int) -> None:
        record.status, record.end_ns = "completed", self.kernel.now
        run._wake = None
        self.state(run).resume = True
        self.engine._request(run, attempt)

    def _wait(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        self.state(run).checkpoint[op[1]] = PENDING
        Engine._wait(self.engine, run, x, op)

    def _invoke(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        self.state(run).checkpoint[op[1]] = PENDING
        state = self._pausing(x)
        try:
            Engine._invoke(self.engine, run, x, op)
        finally:
            state.pausing = False

    def _next(self, run: Run, at: int) -> None:
        """A wait resolved (invoke returned, event arrived): resume the same attempt."""
        state = self.state(run)
        state.resume = True
        self.kernel.schedule(at, self.engine._request, run, state.attempt, owner=run.function.id)

    def _defer(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """The system is down: the request runs when it is back."""
        if isinstance(x, InlineStep):
            x.state.resume = x.resumed
        run.status = "queued"
        if self.polls is not None:
            self.locked[run] = op[1]  # the restarted process polls at once (jobsim treats older locks as released)
            self.waits.pop(run, None)
        self.kernel.schedule(op[1], self.engine._request, run, x.attempt, owner=run.function.id)

    def _lost(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        self._lose(run, x.now, op[1])

    def _lose(self, run: Run, at: int, error: BaseException) -> None:
        self.engine.finish(run, "lost", at, error)

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
                self.intervals = Intervals(self)
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
