"""Failures (``jobsim._runtime``'s second layer): the outcomes a system with rules of its own gives a request
(``engine._outcomes``). A crashed attempt and what the system does when it notices (``profile.crash``: fail it,
run it again, lose it; Quirrel's stale checker), a failed attempt of a system whose steps are plain calls and its
retry (the retry policy, Agenda's fail count, the system's failure listener), and waits that checkpoint an attempt
(Trigger.dev) or resume the same one. ``jobsim._runtime.SystemRuntime`` is the layer above, ``_runtimecron._Cron``
the one below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._engine import CRON_EVENT, Engine
from ._failhooks import AttemptFailure
from ._inline import PENDING, InlineStep, RunState
from ._records import FINAL, Attempt, StepRecord
from ._runtimecron import _Cron
from .errors import NonRetriableError, RetryAfterError, StepMisuse, WorkerCrashed

if TYPE_CHECKING:
    from ._execution import Execution
    from ._records import Run


class _Failures(_Cron):
    """Crashes, failed attempts and their retries, checkpointed waits."""

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
        rerun = rule.then == "rerun"
        if rerun:
            state.reruns += 1
            cron = rule.rerun_cron and bool(run.events) and run.events[0].name == CRON_EVENT
            rerun = rule.max_reruns is None or state.reruns <= rule.max_reruns or cron
        how, then = rule.recovery, rule.then
        if rule.then == "rerun" and not rerun:  # re-runs used up: the record says what happens, a failure
            how = rule.exhausted or f"{rule.recovery}, but it had been run again {rule.max_reruns} time(s) already"
            then = "fail"
        self.record(now, "recover", {"function": run.function.id, "run": run.id, "how": how, "then": then})
        if rule.then == "rerun":
            if rerun:
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
        planned = self._retry_due(run, count - 1, now, error)
        due = None if planned is None else max(now, planned)  # one planned in the past (Quirrel's) runs at once
        if self.profile.attempt_failure_hook is not None:
            self._heard(run, error, now, attempt, count, due)
        if due is None or planned is None:
            self.engine.finish(run, "failed", now, error)
            return
        run.status = "retrying"
        data = {"function": run.function.id, "run": run.id, "step": key, "attempt": attempt + 1, "at": due,
                "delay": max(0, due - now)}  # fmt: skip
        if planned != due:  # the time the next retry counts from (``_retrycheck._scheduled``)
            data["planned"] = planned
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
        self.state(run).scheduled = planned  # not ``due``: an attempt that outlasted it would push every later retry
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
        """When the retry after failed attempt ``attempt`` is planned (``None``: no retry); Quirrel's may be in the
        past, when the attempt outlasted it (``owl : retry.ts`` adds the offsets' difference to the stored runAt)."""
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
            return self.state(run).scheduled + delay
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
