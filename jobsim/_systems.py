"""The seven built-in profiles: Inngest, BullMQ, Trigger.dev, Quirrel, Agenda, node-cron, Vercel Cron.

Each profile is built by a function whose docstring states its rules and where
they come from (``reference/semantics.md`` section, and the source it cites); the
docstring becomes ``profile.doc`` (``jobsim profiles NAME`` prints it). Where the
reference says "not verified", the docstring says what jobsim chose, and a test
pins the choice.

Events (``on=``) stand for each system's way to start a job with a payload:
Inngest events, BullMQ ``queue.add``, Trigger.dev ``tasks.trigger``, Quirrel
``queue.enqueue``, Agenda ``agenda.now``. node-cron and Vercel Cron have only cron.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ._backoffs import AgendaBackoff, BullMQBackoff, QuirrelRetry, TriggerDevRetry
from ._dialects import AGENDA_CRON, CRON_PARSER, NODE_CRON, QUIRREL_CRON, ROBFIG, TRIGGER_DEV_CRON, VERCEL, VERCEL_HOBBY
from ._events import Event
from ._failhooks import agenda_fail, bullmq_failed, node_cron_failed
from ._polling import process_every_ns, whole_ms_ns
from ._profiles import CrashRule, CronTask, Profile
from ._retries import Retries, RetryPolicy, TableBackoff
from ._safe import message, shown
from ._time import DAY, HOUR, MINUTE, MS, SECOND, format_duration
from .errors import InvalidArgument, UnsupportedFeature, WorkerCrashed

if TYPE_CHECKING:
    from ._app import Function
    from ._records import Run

_OWN: dict[type, str] = {
    TableBackoff: "Inngest", BullMQBackoff: "BullMQ", TriggerDevRetry: "Trigger.dev",
    QuirrelRetry: "Quirrel", AgendaBackoff: "Agenda",
}  # fmt: skip


def _documented(build: Callable[[], Profile]) -> Profile:
    return dataclasses.replace(build(), doc=inspect.cleandoc(build.__doc__ or ""))


def _refuse(system: str, fn: Function, what: str) -> UnsupportedFeature:
    return UnsupportedFeature(f"{system} cannot run function {fn.id!r}: {what}", system=system, feature="retries")


def _foreign(system: str, fn: Function, user: RetryPolicy, own: type) -> None:
    """Refuse another system's policy class (``retries=jobsim.BullMQBackoff(...)`` on Agenda, say)."""
    owner = _OWN.get(type(user))
    if owner is not None and owner != system:
        raise _refuse(system, fn, f"retries={user!r} is {owner}'s retry option; {system} takes "
                                  f"jobsim.Retries(...) or jobsim.{own.__name__}(...)")  # fmt: skip


# -- Inngest ---------------------------------------------------------------------------------------------


def _inngest_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Inngest", fn, user, TableBackoff)
    if isinstance(user, Retries) and user.uses_profile_backoff:
        return TableBackoff(user.attempts)
    return user


def _inngest() -> Profile:
    """Inngest (reference §1; inngest/inngest server, inngest-js, inngest-py).

    Retries: 4 retries = 5 attempts by default, per step (every step's queue item
    starts at Attempt 0: executor.go maybeEnqueueDiscoveryStep); at most 20 retries
    (consts.MaxRetries). Backoff (pkg/backoff/backoff.go BackoffTable):
    T[min(k-1, 9)] + U[0, 30 s) in whole ms, T = 15s 30s 1m 2m 5m 10m 20m 40m 1h 2h.
    RetryAfterError still consumes an attempt; its instant reaches Inngest to the millisecond
    (inngest-py sends it as an ISO time, transforms.to_iso_utc), and one less than 1 s or more
    than 24 h away is clipped to now truncated to the second + 1 s or 24 h (headers.go
    parseRetry: now.Truncate(time.Second)). NonRetriableError fails at once. Retries(attempts=N)
    keeps the table; a full Retries(backoff=..., min=...) is a jobsim extension
    (Inngest itself only lets you set the count).
    Steps: durable and memoized (replay model, §1.5); sleeps and waits up to 366 days — a longer one
    fails the function at once, not retried (state/opcode.go ErrTimeoutTooLong; executor.go shouldFailEarly).
    At most 1,000 steps per run: the 1,001st fails the run at once, not retried (consts.DefaultMaxStepLimit;
    executor.go checkStepLimit, ErrFunctionOverflowed).
    Cron: robfig/cron v3, 5 fields, names, no @descriptors (registration refuses them), TZ=/CRON_TZ= prefix, UTC by
    default; DOM/DOW OR when both restricted (spec.go dayMatches); across DST robfig's
    Next walks absolute time: a wall time in the spring-forward gap never fires, one
    repeated at fall-back fires twice (spec_test.go "2am nightly job (skipped)",
    "1am nightly job (runs twice)").
    Features: every one (batch, debounce, throttle, rate limit, idempotency,
    concurrency, priority, cancel_on, timeouts, singleton, wait_for_event, invoke, on_failure).
    Singleton (executor.go schedule, after the rate limit; enqueue.lua/dequeue.lua): a run holds its
    key from when it is enqueued until its last queue item goes; "skip" skips a newer run
    (SkipReasonSingleton), "cancel" cancels the holder and starts the newer one.
    Debounce timing (debounce.go newDebounce/updateDebounce, updateDebounce.lua): the debounce
    pointer lives ttl = the period; the job that starts the run is enqueued at now + ttl + 50 ms
    + 1 s, so the run starts 1.05 s after the quiet period. Under a timeout, a new debounce whose
    period is longer takes ttl = the timeout rounded to the second, and an event that would pass
    the deadline takes ttl = floor((deadline - now) / 1 s) s, at least 1 s. An event after the
    ttl, before the job, finds no pointer and starts a new debounce.
    Crash: the SDK request fails when the worker dies mid-step; the step is retried
    at least once (consuming an attempt, table backoff) and memoized steps are kept (§1.4).
    Downtime: runs and events persist (server state). Missed cron ticks: the next tick
    is computed from the scheduled time (cron/manager.go ScheduleNext), so every missed
    tick runs when the server is back — NOT VERIFIED at runtime; jobsim chose catch-up-all.
    Delayed starts: an event whose ts is in the future starts its runs at that time (a
    batch's never), created and counted by rate limits, cancellations and timeouts.start at
    once (executor.go Schedule: "Schedule functions in the future if there's a future event
    `ts` field"; docs: "Scheduling a one-off function"). Reference §1.1's "ts can be set but
    does not delay" is wrong there.
    Duplicate delivery: a tick creates at most one run (idempotency key = scheduled
    time, executor handleCron); an event's runs are keyed by function + its id, for 24 h:
    a repeated id starts no run of a function that already ran for it, but the event is
    still stored and reaches waits, cancellations, batches and debounces (runner.go).
    Several cron triggers of one function due in the same second start one run
    (docs, guides/multiple-triggers "Overlapping crons": "Only one cron job will be run
    for each given second"): the first schedule's; the others' ticks are skipped.
    """
    return Profile(
        name="inngest", system="Inngest",
        description="Inngest: durable steps, per-step retries, backoff table 15s..2h + U[0,30s)",
        default_retries=TableBackoff(attempts=5),
        retry_after_min_ns=1 * SECOND, retry_after_max_ns=1 * DAY, retry_after_precision_ns=MS,
        retry_after_clamp_grid_ns=SECOND, max_sleep_ns=366 * DAY, max_steps=1_000, cron=ROBFIG,
        retries=_inngest_retries, max_attempts=21,
        missed_cron="all", future_ts=True, jcs=True, debounce_job_delay_ns=1050 * MS, oldest_run_first=True,
        singleton=True, repeated_ids="runs",
        crash=CrashRule(reason="the worker died mid-request; Inngest saw the SDK request fail",
                        recovery="the request failed"),
        lacks={"debounce.leading": "its debounce always runs with the last event (debounce.go: each event "
                                   "replaces the stored one)",
               "debounce.fraction": "it keeps a debounce's ttl in whole seconds (redis_state/debounce.go passes "
                                    "int(ttl.Seconds()) to newDebounce.lua and updateDebounce.lua), so a later "
                                    "event would push the run by the period's whole seconds only: give a whole "
                                    "number of seconds, e.g. period='2s'",
               "every": "its schedules are cron triggers, and its registration refuses robfig's '@every <duration>' "
                        "as it refuses every @descriptor (pkg/inngest/trigger.go : CronTrigger.Validate): write a "
                        "cron expression, e.g. cron='*/5 * * * *'",
               "send.delay": "Inngest has no delay option on send; give the event a future ts instead (its "
                             "runs then start at that time), or sleep at the start of the function"},
        dedupe="Inngest makes one run per cron tick (idempotency key = scheduled time) and per event id",
    )  # fmt: skip


# -- BullMQ ----------------------------------------------------------------------------------------------


def _bullmq_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("BullMQ", fn, user, BullMQBackoff)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return BullMQBackoff(user.attempts)
    if user.backoff == "linear" or user.max is not None or user.jitter is not None:
        raise _refuse("BullMQ", fn, f"retries={user!r}: BullMQ's built-in backoffs are fixed and exponential, "
                                    "uncapped, with a jitter *fraction*; use jobsim.BullMQBackoff(attempts, "
                                    "'exponential', delay, jitter=0.5)")  # fmt: skip
    kind: Literal["fixed", "exponential"] = "fixed" if user.backoff == "constant" else "exponential"
    return BullMQBackoff(user.attempts, kind, f"{user._min_ns // MS}ms")


def _bullmq() -> Profile:
    """BullMQ 6 (reference §2; taskforcesh/bullmq src/classes).

    Retries: none by default (attempts 0/1, job.ts); attempts count the first.
    Backoff (backoffs.ts, n = attemptsMade): fixed d; exponential round(2^(n-1)*d) ms;
    jitter j: floor(U[0,1)*d*j + d*(1-j)); no backoff type = retry at once.
    Retries(attempts=N) alone retries at once; Retries(backoff='exponential'|'constant',
    min=d) maps to exponential/fixed; linear, max= and an additive jitter= have no
    BullMQ equivalent (use jobsim.BullMQBackoff). UnrecoverableError = NonRetriableError.
    RetryAfterError is not special (a custom backoffStrategy would be needed).
    Steps: none. A job is one call: ctx.step.run runs inline, nothing is memoized,
    a retry runs the whole handler again. No sleep, wait_for_event or invoke.
    Cron (job schedulers): cron-parser, 5 or 6 fields (leading seconds), names, L/# (no W, no '#'
    beside a list or range, no @midnight: refused, as cron-parser throws), tz option;
    DOM/DOW OR (NOT VERIFIED: cron-parser's documented Vixie rule chosen);
    across DST as cron-parser 5.10 (pinned in package.json): a wall time in a spring-forward gap fires
    shifted by the gap (02:30 -> 03:30; tests/CronExpression.test.ts "DST gap"), a repeated hour once
    unless the hour field holds all 24 hours (src/CronDate.ts:583-585 dstEnd, src/CronExpression.ts:451-455;
    "*/20 1" runs in the first 01:xx only). UTC when tz is not given.
    One pending job per scheduler (cron_next="start"), read from 6.2.0 @ 352d3c72: the next iteration's
    delayed job is made when the current one moves to active — the worker's nextJobFromJobData
    (worker.ts, run right after moveToActive and after moveToFinished fetches the next job) calls
    upsertJobScheduler(..., {override: false}) before processing starts, not at completion. Its time
    (job-scheduler.ts upsertJobScheduler + defaultRepeatStrategy) is the first cron match strictly after
    max(Date.now(), prevMillis = the current job's scheduled time) (cron-parser's next() skips the
    current instant), so it is never in the past; updateJobScheduler-12.lua adds it only if the job
    asking is the scheduler's current one (job id repeat:<id>:<prevMillis>), so a retry or a stall
    re-run of that job makes no second one. Hence a job that waits for a busy worker (concurrency=1,
    BullMQ's Worker default, while the last one still runs) starts late, and the ticks passing
    meanwhile never run (trace: cron.missed, outcome "skipped"). Without concurrency= jobsim assumes a
    free worker, so every job starts on time and long jobs overlap.
    Interval schedules (every=, jobsim.Every; _every.py, read from getJobSchedulerEveryNextMillis.lua,
    addJobScheduler-11.lua, updateJobScheduler-12.lua and job-scheduler.ts at 6.2.0): the first job is
    due when the scheduler is made (the simulation's start) — at once, since 5.19 — or at startDate, or,
    with an offset, at the next slot floor(now/every)*every + offset strictly after now; without an offset
    the scheduler keeps the first job's phase. The same one-pending-job rule: a job moving to active makes
    the next at prevMillis + every, or, when that has passed, at the grid's next slot strictly after now
    (the slots between are never made: cron.missed "skipped", with their count). limit: limit jobs in
    all. endDate is compared with the clock when a job is made (now > endDate makes none), not with the
    next job's time, so the last job may fall after it; an endDate before the start is refused.
    BullMQ 5's legacy repeat: {every} (aligned to multiples of the interval) is gone in 6 and not simulated.
    Features: debounce (deduplication with extend+replace: the last add wins, no
    maximum wait), concurrency (per worker, no key), on_failure (the worker's 'failed'
    event, below). No batching, throttle (its limiter is a fixed window — not simulated),
    rate limit, idempotency window, priority as a time credit, cancel_on, timeouts.
    Crash: a stalled job (worker.ts defaults): the lock (30 s) is renewed every 15 s;
    the stalled checker runs every 30 s (phase: the simulation's start — NOT VERIFIED),
    marks active jobs on one pass and moves those whose lock expired back to wait on
    the next, where the job runs again from the start without consuming an attempt;
    after maxStalledCount (1) stalls it fails ("job stalled more than allowable limit") as an
    UnrecoverableError — no retry, whatever attempts are left (worker.ts getUnrecoverableErrorMessage);
    a job scheduler's (cron) job is exempt and re-runs however often it stalls
    (moveStalledJobsToWait-9.lua: "Only fail job if it exceeds stall limit AND is not a repeatable job").
    Downtime: Redis keeps jobs; delayed and waiting jobs run late, once. A job
    scheduler keeps one pending job, which runs late once; missed iterations are
    skipped (missed cron: first), and a tick due the instant it is back is that late job
    (the next is computed strictly after now: job-scheduler.ts).
    Duplicate delivery: a job moves to active once (moveToActive), scheduler job ids
    are unique (repeat:<id>:<millis>): deduplicated.
    Failure hook: worker.on('failed', (job, err, prev)) fires on every failed attempt (reference §2.2;
    worker.ts handleFailed emits it right after job.moveToFailed, which retries or fails the job and
    then does attemptsMade += 1), so on_failure runs once per failed attempt, retried or not, as the
    attempt fails: ctx.event is "bullmq/worker.failed" with data {job {id, name, data, attemptsMade
    (this attempt included), opts {attempts}, failedReason, processedOn, finishedOn (ms; None unless
    failed for good)}, err {name, message}, prev "active", state ("delayed" | "waiting" | "failed", what
    job.getState() answers then)}. NonRetriableError and the stalled-job limit (a deferred failure the
    next worker applies, worker.ts getUnrecoverableErrorMessage) are err.name "UnrecoverableError"; a
    stall that is re-run emits 'stalled', not 'failed'. Nothing is published on the bus (no
    inngest/function.failed). QueueEvents' 'failed' ({jobId, failedReason}; moveToFinished-14.lua, the
    final failure only) is not modelled apart: it is the worker's final 'failed' (state "failed").
    """
    return Profile(
        name="bullmq", system="BullMQ", cron_overlap="each",
        description="BullMQ: no retries by default; fixed/exponential backoff; stalled jobs re-run once",
        default_retries=BullMQBackoff(attempts=1),
        durable_steps=False, cron=CRON_PARSER, retries=_bullmq_retries,
        retry_after=False, missed_cron="first", cron_next="start", interval="bullmq",
        attempt_failure_hook=bullmq_failed,
        lacks={
            "events.wildcard": "a job is added to a queue by its name (queue.add(name, data)); nothing matches names "
                               "by a pattern: list the event names",
            "batch": "a BullMQ worker takes one job at a time; nothing collects events into one job",
            "debounce.timeout": "its debounce (deduplication with extend+replace) has no maximum wait",
            "debounce.leading": "its debounce (deduplication with extend+replace) keeps the last job; without "
                                "replace the first is kept but its delay is never pushed back",
            "throttle": "its limiter is a fixed window per queue, which jobsim does not simulate",
            "rate_limit": "its limiter delays jobs over the limit, it never drops them",
            "idempotency": "it dedupes adds by jobId while the job is kept, not for 24 h",
            "concurrency.key": "its concurrency is per worker or global, not per key",
            "concurrency.scope": "its limits are a worker's concurrency or the queue's global concurrency, "
                                 "not a key shared across functions",
            "concurrency.two": "a worker has one concurrency (and the queue one global concurrency)",
            "priority": "its priorities order the wait list (lower first), they are not a time shift",
            "cancel_on": "there is no cancellation by event",
            "timeouts": "there are no run timeouts",
            "singleton": "a job id or deduplication id drops a duplicate add; nothing skips or cancels a job "
                         "while another of its key runs",
            "step.sleep": "a job cannot sleep and resume: moveToDelayed runs it again from the start",
            "step.wait_for_event": "there is no wait-for-event",
            "step.invoke": "a job cannot call another and wait inline",
        },
        crash=CrashRule(lease_ns=30 * SECOND, renew_ns=15 * SECOND, scan_ns=30 * SECOND, two_pass=True,
                        then="rerun", max_reruns=1, rerun_cron=True, final=True,
                        reason="job stalled more than allowable limit",
                        recovery="the stalled-job checker moved it back to wait"),
        dedupe="BullMQ moves a job to active once; scheduler job ids (repeat:<id>:<millis>) are unique",
    )  # fmt: skip


# -- Trigger.dev -----------------------------------------------------------------------------------------

TRIGGER_FAILURE = "trigger.dev/onFailure"
"""The name of the event a Trigger.dev ``on_failure`` handler gets: the hook's arguments, not a bus event."""


def _trigger_failure(run: Run, error: BaseException | None, now: int) -> Event | None:
    """``onFailure({payload, error, ctx, task})`` (lifecycleHooks/types.ts TaskFailureHookParams), called by
    the task's own process after its last attempt failed (taskExecutor.ts: only when the error handler's
    status is not "retry"). A process that died (a crash, a stall) calls nothing."""
    if isinstance(error, WorkerCrashed):
        return None
    fn = run.function
    number = run.attempts[-1].number + 1 if run.attempts else 1
    data = {
        "task": fn.id,
        "payload": run.event.to_dict()["data"],
        "error": {"name": type(error).__name__, "message": message(error)},
        "ctx": {"run": {"id": run.id}, "task": {"id": fn.id}, "attempt": {"number": number}},
    }
    return Event(TRIGGER_FAILURE, data, ts=now // MS)



def _trigger_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Trigger.dev", fn, user, TriggerDevRetry)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return TriggerDevRetry(user.attempts)
    if user.backoff == "linear" or user.jitter is not None:
        raise _refuse("Trigger.dev", fn, f"retries={user!r}: Trigger.dev's backoff is min*factor^(n-1) times a "
                                         "random R in [1, 2); use jobsim.TriggerDevRetry(attempts, factor, min, "
                                         "max, randomize)")  # fmt: skip
    factor = 1.0 if user.backoff == "constant" else 2.0
    return TriggerDevRetry(user.attempts, factor, user.min or "1s", user.max if user.max is not None else "60s")


def _trigger_dev() -> Profile:
    """Trigger.dev v4 (reference §3; triggerdotdev/trigger.dev).

    Retries: none unless configured — no task retry and no trigger.config retries.default
    means fail_run (run-engine retrying.ts). Configured: attempts = maxAttempts (first
    included, at most 250); wait before retry k = round(min(max, R*min*factor^(k-1))) ms
    with R = U[1, 2) when randomize (retries.ts calculateNextRetryDelay). Retries(attempts=N)
    takes the SDK's defaultRetryOptions (factor 2, 1 s, 60 s, randomize); a full
    Retries(...) maps exponential -> factor 2, constant -> factor 1, max defaulting to 60 s,
    randomize kept on (the SDK merges your options over its defaults).
    AbortTaskRunError = NonRetriableError. RetryAfterError stands for catchError's
    {retryAt}: honoured, unclamped.
    Steps: not a replay model (§3.5). ctx.step.run runs inline; waits (sleep, invoke =
    triggerAndWait) checkpoint and resume exactly where they paused; a retry starts the
    task over from the beginning (earlier steps and waits run again).
    Cron (schedules): 5 fields, no seconds (schedules.ts CronPattern), then cron-parser ^4.9.0's
    parseExpression (apps/webapp/package.json, schedule-engine scheduleCalculation.ts): names, L, '#'
    alone, @yearly/@monthly/@weekly/@daily/@hourly only, no W; timezone option (UTC default). DST as
    cron-parser: a time in the spring-forward gap shifted by the gap; jobsim uses 5.10's rule, which
    4.9 matches in New York and Europe (measured; they differ in rarer zones such as Havana's
    midnight gap and Chatham, and when a query starts inside a repeated hour).
    Features: debounce (mode "leading", the default, keeps the first payload, "trailing" the last:
    docs/triggering.mdx "Leading vs Trailing mode"; maxDelay = timeout: a trigger that would push the
    delayed run past its creation + maxDelay leaves it at the time it had and makes a new run,
    run-engine debounceSystem.ts handleExistingRun max_duration_exceeded; a maxDelay not longer than the
    delay is rejected, triggerTask.server.ts #validateDebounceWindow: refused), concurrency (queue
    concurrencyLimit, concurrencyKey; only executing runs hold a slot, and a run waiting on wait.for or
    wait.until stays executing until it is checkpointed 60 s into the wait, so a shorter sleep keeps its
    slot throughout and a longer one gives it back after 60 s and queues for one again as it wakes:
    docs/queue-concurrency.mdx "Short time-based waits keep their slot"; triggerAndWait = invoke
    checkpoints at once), priority (seconds of queue credit), on_failure,
    sleep, invoke. No batching into one run, throttle, rate limit, 24 h idempotency,
    cancel_on, run timeouts, wait_for_event (wait.forToken has no event matching).
    Crash: heartbeats every 30 s; none for 5 minutes (webapp env.server.ts
    RUN_ENGINE_TIMEOUT_EXECUTING = 300_000) = TASK_RUN_STALLED_EXECUTING, a retriable error
    (errors.ts shouldRetryError). run-engine index.ts #handleStalledSnapshot fails the attempt
    with its own retry settings, {delay: 250} ms, forceRequeue — not the task's backoff — and
    retrying.ts retryOutcomeFromCompletion takes them while attempts are left (attemptNumber <
    maxAttempts): so a configured task runs again 250 ms after the stall is noticed
    (CrashRule.retry_ns), and with the default (no retries) the run fails. Production
    environments only: a dev run's stall never retries (not modelled). jobsim chose the
    heartbeat path (a vanished machine); a process that exits under a live supervisor is
    reported at once.
    Downtime: the platform keeps runs. Missed schedules: a schedule keeps one worker job, for
    its next tick; it runs late when the platform is back, as one late catch-up for the first
    missed tick (triggerScheduledTask: payload timestamp = that tick). Its next is then the latest
    tick whose time has not passed, prev(now + 1 ms) kept while effectiveAt >= now, else the
    first future one (scheduleCalculation.ts calculateNextSchedulableOccurrence): the other
    missed ticks are skipped, and a tick due the instant it is back runs as well, on time.
    Duplicate delivery: one run per schedule instance and per trigger — NOT VERIFIED, chosen.
    Attempts: retries only (§3.2). A wait checkpoints the attempt and the restored process goes on
    with it (§3.5, how-it-works.mdx), so run.attempts holds one Attempt per attempt, from its
    process's start to its end; each wait's step record keeps the stretch that led to it.
    Failure hook: onFailure({payload, error, ctx}) (lifecycleHooks/types.ts TaskFailureHookParams) is
    called in-process after the last attempt failed (taskExecutor.ts: when handleError's status is not
    "retry"), once; no event goes anywhere. on_failure's ctx.event is "trigger.dev/onFailure" with
    data {task, payload (the run's payload), error {name, message}, ctx {run {id}, task {id},
    attempt {number, 1-based}}}; nothing is published on the bus, so no inngest/function.failed and
    no function triggered by it. jobsim shows the hook's work as the run "<id>-failure" (one attempt).
    A run failed by a crash or a stall (TASK_RUN_STALLED_EXECUTING) has no process left to call it:
    the hook does not run.
    """
    return Profile(
        name="trigger.dev", system="Trigger.dev", cron_overlap="each",
        description="Trigger.dev: no retries unless configured; R*min*factor^(n-1); retries start over",
        default_retries=TriggerDevRetry(attempts=1),
        durable_steps=False, checkpoints=True, sleep_holds_slot_ns=60 * SECOND, cron=TRIGGER_DEV_CRON,
        retries=_trigger_retries, max_attempts=250,
        missed_cron="first-and-due", failure_hook=_trigger_failure,
        lacks={
            "events.wildcard": "a task is triggered by its id (tasks.trigger(id, payload)); nothing matches ids by "
                               "a pattern: list the event names",
            "batch": "batchTrigger fans one call out into many runs; nothing collects events into one run",
            "throttle": "it has queue concurrency and TTLs, no throttle",
            "rate_limit": "it has queue concurrency and TTLs, no lossy rate limit",
            "idempotency": "its idempotency keys last 30 days and return the existing run",
            "cancel_on": "runs are cancelled through the API, not by a matching event",
            "singleton": "a queue with concurrencyLimit 1 runs one at a time and queues the rest; nothing skips "
                         "or cancels a run while another of its key runs: use concurrency=1",
            "timeouts": "maxDuration bounds CPU time per attempt, not the run",
            "concurrency.scope": "tasks share a limit through a named queue (queue({name, concurrencyLimit})), "
                                 "which jobsim does not simulate",
            "concurrency.two": "a task runs in one queue, with one concurrencyLimit",
            "step.wait_for_event": "wait.forToken waits for a token completed by id; nothing matches events",
            "every": "schedules.task takes a cron pattern only; write the interval as cron= (e.g. '*/5 * * * *')",
        },
        debounce_mode="leading", debounce_timeout_splits=True, debounce_timeout_over_period=True,
        crash=CrashRule(lease_ns=5 * MINUTE, renew_ns=30 * SECOND, then="fail", retry_ns=250 * MS,
                        reason="TASK_RUN_STALLED_EXECUTING: no heartbeat for 5 minutes",
                        recovery="heartbeats stopped 5 minutes ago"),
        dedupe="Trigger.dev makes one run per schedule instance and per trigger (not verified)",
    )  # fmt: skip


# -- Quirrel ---------------------------------------------------------------------------------------------


def _quirrel_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Quirrel", fn, user, QuirrelRetry)
    if fn.crons and user.attempts > 1:
        raise _refuse("Quirrel", fn, "retries on a cron job: Quirrel rejects 'retry' together with 'repeat' "
                                     "(a failed repetition just waits for the next one)")  # fmt: skip
    if not isinstance(user, Retries) or user.attempts == 1:
        return user
    if user.uses_profile_backoff:
        raise _refuse("Quirrel", fn, f"retries={user!r}: Quirrel has no default retry schedule; give the offsets, "
                                     "jobsim.QuirrelRetry(['10s', '5m', '1h']), or a full Retries(backoff=, min=)")
    if user.jitter is not None:
        raise _refuse("Quirrel", fn, f"retries={user!r}: Quirrel's retry offsets have no jitter")
    import random

    offsets, total = [], 0
    for k in range(1, user.attempts):
        total += user.delay_ns(k, random.Random(0))  # no jitter: the generator is never used
        offsets.append(f"{total}ns")
    return QuirrelRetry(offsets)


def _quirrel() -> Profile:
    """Quirrel 1.14 (reference §4; quirrel-dev/quirrel, quirrel-dev/owl).

    Retries: none by default. retry: [d1..dk] (1 to 10) are offsets from the job's
    original run time, not from the failure (owl worker/retry.ts): attempt k+1 runs at
    T + d_k. A full Retries(...) becomes the offsets of its cumulative delays (so
    Retries(4, 'exponential', min='10s') = retry ['10s', '30s', '70s']); attempts alone
    have no Quirrel meaning. 'retry' and 'repeat' cannot be used together: a cron job
    with retries is refused. A 404 = NonRetriableError; RetryAfterError is not special.
    Steps: none (one HTTP POST per job): ctx.step.run runs inline.
    Cron (CronJob / repeat.cron): cron-parser ^4.6.0 (package.json; 4.6.0 in package-lock.json;
    shared/repeat.ts cron(), shared/is-valid-cron.ts); 5 or 6 fields (6 NOT VERIFIED end-to-end:
    accepted), names, L, '#' alone, @yearly/@monthly/@weekly/@daily/@hourly only (no @annually,
    @midnight), no W; [expr, tz] with Etc/UTC default; DST as cron-parser (5.10's rule, which 4.6
    matches in New York and Europe, measured).
    Features: concurrency=1 only (exclusive: one job of the queue at a time). No
    batching, debounce, throttle, rate limit, idempotency window, priority, cancel_on,
    timeouts, failure hook, sleep, wait_for_event, invoke.
    Crash: a job 'processing' for 60 minutes is stale (stale-checker.ts, checked every
    minute; phase: the simulation's start): it fails with "Job Timed Out" and the retry
    offsets decide (none by default: the run fails). Until then an exclusive queue stays
    blocked by it (request.lua's soft-block count, given back only by acknowledge.lua:
    CrashRule.holds_slot). When one check finds several stale jobs, owl's loop reads
    staleJobs[0] every time: the earliest is reported once per stale job, the others are
    lost, and every exclusive queue among them is blocked for good (its soft-block count
    left off zero; CrashRule.first_only, Runtime._scan).
    One repetition at a time (cron_next="end"): a CronJob is one job id; owl's worker.ts computes
    nextExecutionDate = the next cron match after the job's scheduled runAt (shared/repeat.ts cron())
    and acknowledge.lua re-adds the job at it only when the run is acknowledged or fails for good (a
    dead run: when the stale checker fails it). So runs never overlap, and the ticks passing while a
    run waits or runs are held ("cron.missed", outcome "held") and run late, one after another, each
    as the one before ends: a job longer than its interval falls further behind every time.
    Downtime: Redis keeps jobs; the pending repetition runs when the server is back and the
    missed ones follow it back to back by the rule above (a tick due the instant it is back is a
    link of that chain) — read from owl's source, not run.
    Duplicate delivery: a job id exists once in the queue (owl schedule.lua
    ID_ALREADY_EXISTS): deduplicated.
    """
    return Profile(
        name="quirrel", system="Quirrel", cron_overlap="each",
        description="Quirrel: no retries by default; retry offsets from the original run time; stale after 60 min",
        default_retries=Retries(attempts=1),
        durable_steps=False, cron=QUIRREL_CRON, retries=_quirrel_retries, max_attempts=11,
        retry_after=False, missed_cron="all", cron_next="end",
        lacks={
            "events.wildcard": "a job is enqueued to one queue's endpoint; nothing matches names by a pattern: list "
                               "the event names",
            "batch": "jobs are enqueued one by one; nothing collects them",
            "debounce": "there is no debounce (an id with override replaces a pending job instead)",
            "throttle": "there is no throttle", "rate_limit": "there is no rate limit",
            "idempotency": "an id dedupes a job only while it is still in the queue",
            "concurrency.key": "exclusive queues run one job at a time, with no keys",
            "concurrency.limit": "exclusive: true runs one job of the queue at a time; there is no other limit",
            "concurrency.scope": "exclusive: true is per queue; nothing is shared across queues",
            "concurrency.two": "a queue is exclusive or not; there is no second limit",
            "priority": "there are no priorities", "cancel_on": "jobs are deleted by id, not by an event",
            "singleton": "exclusive: true queues the next job, it never skips or cancels one",
            "timeouts": "there are no run timeouts", "on_failure": "there is no failure hook",
            "step.sleep": "a job is one HTTP request; it cannot sleep and resume",
            "step.wait_for_event": "there is no wait-for-event",
            "step.invoke": "a job cannot call another and wait",
            "every": "its interval repeat (repeat: {every, times}) is an option of queue.enqueue, and jobsim's "
                     "functions stand for CronJobs, which take a cron schedule only: use cron=",
        },
        crash=CrashRule(lease_ns=60 * MINUTE, scan_ns=1 * MINUTE, then="fail", holds_slot=True, first_only=True,
                        reason="Job Timed Out: processing for 60 minutes", recovery="the stale checker"),
        dedupe="a Quirrel job id exists once in the queue (owl schedule.lua ID_ALREADY_EXISTS)",
    )  # fmt: skip


# -- Agenda ----------------------------------------------------------------------------------------------


def _agenda_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Agenda", fn, user, AgendaBackoff)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return AgendaBackoff(max_retries=user.attempts - 1)
    if user.jitter is not None:
        raise _refuse("Agenda", fn, f"retries={user!r}: Agenda's jitter is a fraction of the delay; use "
                                    "jobsim.AgendaBackoff(jitter=0.1)")  # fmt: skip
    kind = {"linear": "linear", "constant": "constant"}.get(user.backoff or "", "exponential")
    return AgendaBackoff(kind, user.min or "1s", user.max, max_retries=user.attempts - 1)  # type: ignore[arg-type]


AGENDA_POLL_NS = 5 * SECOND
"""Agenda's default ``processEvery`` (5000 ms, ``packages/agenda/src/index.ts`` DefaultOptions 28-37)."""


def _agenda_configure(root: Profile, options: dict[str, Any]) -> Profile:
    """``jobsim.profile("agenda", process_every=..., default_concurrency=..., max_concurrency=...)``: the
    ``new Agenda({...})`` options of those names (index.ts DefaultOptions 28-37, config 280-282; the setters
    ``agenda.processEvery(...)``, ``maxConcurrency(...)``, ``defaultConcurrency(...)``, 398-427).
    ``process_every`` sets the poll grid (``_polling.py``) and the polls that re-lock a crashed job whose
    lock expired (``CrashRule.scan_ns``); the other two set ``Profile.default_concurrency`` (a definition
    without ``concurrency``) and ``max_concurrency`` (every job of the process). Options at Agenda's
    defaults are left out of the variant's name."""
    unknown = sorted(set(options) - set(_AGENDA_OPTIONS))
    if unknown:
        theirs = [name for name in unknown if name in _NODE_CRON_OPTIONS]
        why = (f" ({', '.join(theirs)}: node-cron's task option{'s' if len(theirs) > 1 else ''}; an Agenda job is "
               "locked while it runs, so its runs never overlap, and every() has no run limit)") if theirs else ""
        raise InvalidArgument(f"profile 'agenda' has no option {', '.join(map(repr, unknown))}{why}; it takes "
                              "process_every (Agenda's processEvery: a duration such as '1s', default '5s'), "
                              "default_concurrency (defaultConcurrency: an int >= 1, default 5) and "
                              "max_concurrency (maxConcurrency: an int >= 1, default 20)")  # fmt: skip
    profile, named = root, []
    if "process_every" in options:
        ns = process_every_ns(options["process_every"])
        if ns != root.poll_ns:
            every = format_duration(ns)
            named.append(("process_every", every))
            profile = dataclasses.replace(
                profile, poll_ns=ns, crash=dataclasses.replace(root.crash, scan_ns=ns),
                description=profile.description.replace(f"polls every {format_duration(root.poll_ns)}",
                                                        f"polls every {every}"),
            )  # fmt: skip
    for option, said in (("default_concurrency", "{} jobs of a name"), ("max_concurrency", "{} in all")):
        if option in options:
            limit, before = _concurrency_option(option, options[option]), getattr(root, option)
            if limit != before:
                named.append((option, str(limit)))
                described = profile.description.replace(said.format(before), said.format(limit))
                profile = dataclasses.replace(profile, description=described)
                profile = (dataclasses.replace(profile, default_concurrency=limit) if option == "default_concurrency"
                           else dataclasses.replace(profile, max_concurrency=limit))
    if not named:
        return root
    return dataclasses.replace(profile, name=f"{root.name}({', '.join(f'{k}={v}' for k, v in named)})",
                               options=tuple(named))


_AGENDA_OPTIONS = ("process_every", "default_concurrency", "max_concurrency")


def _concurrency_option(option: str, value: Any) -> int:
    """An int >= 1, also as the text of a profile name (``"agenda(max_concurrency=50)"``)."""
    limit = value
    if isinstance(value, str) and value.strip().isdigit():
        limit = int(value)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        agenda = {"default_concurrency": "defaultConcurrency, default 5", "max_concurrency": "maxConcurrency, "
                  "default 20"}[option]  # fmt: skip
        raise InvalidArgument.build(option, value, f"a whole number of jobs >= 1 (Agenda's {agenda})")
    return limit


def _agenda() -> Profile:
    """Agenda 6.2.2 with MongoDB (reference §5; agenda/agenda at agenda@6.2.2).

    Retries: none by default (<= v5 has none; v6 retries only with a backoff,
    utils/backoff.ts). With a backoff, before retry k (failCount): constant d,
    linear d + increment*(k-1), exponential d*factor^(k-1), capped at maxDelay; jitter j:
    max(0, round(d + d*j*U[-1, 1))); maxRetries 3 by default. Retries(attempts=N) takes
    exponential from 1 s, x2; a full Retries(...) maps backoff, min and max (an additive
    jitter= has no equivalent: use jobsim.AgendaBackoff). Agenda has no non-retriable
    error: NonRetriableError is retried like any error. Retries also apply to runs of
    recurring jobs (6.2.2 handleRetry does not special-case them; PR #1643 says
    otherwise — NOT VERIFIED which holds in 6.2.6; jobsim follows the 6.2.2 code).
    A recurring job is one job document, and its failCount counts every failure of every
    run: fail() does failCount++, handleRetry passes attempt: failCount to the backoff,
    and 6.2.2 never resets it on success (Job.ts; reset on success only since PR #1727,
    2026-06, agenda#1721). So a recurring job's next failure backs off from the next
    attempt number, and once failCount > maxRetries no failure of it is retried again.
    jobsim models 6.2.2 (profile.fail_count_per_job); one-off jobs start at failCount 0.
    Steps: none; ctx.step.run runs inline.
    Cron (every): cron-parser 5, 5 or 6 fields, timezone option, DST as cron-parser (no W, no
    '#' beside a list or range, no @midnight: refused). One
    schedule per function: every() saves one 'single' job per name (MongoJobRepository.ts
    saveJob 658-687 upserts by name), so a second interval would replace the first.
    Recurring jobs and retries (cron_next="job", _jobdoc.py): the job document has one
    nextRunAt. Job.run sets lastRunAt and computeNextRunAt = the first cron match strictly
    after it as each run starts (Job.ts 612-623; utils/nextRunAt.ts computeFromInterval 23-49);
    a failure's retry then overwrites it with now + delay (handleRetry, Job.ts 569-570) whether
    it is sooner or later than that match. So the ticks a retry jumps over never run — not at
    the retry, not after it — and a tick at the retry's very instant is that retry; the retry's
    own Job.run computes the next match strictly after the retry starts, and the schedule
    resumes there. Exhausted retries (the backoff returns null, Job.ts 546-566) leave nextRunAt
    as computed when the failed attempt started: the schedule goes on, failCount stays (see
    above). A running job is locked and the lock query skips it (MongoJobRepository.ts
    getNextJobToRun 461-474): no overlap; the match computed at its start that passes while it
    runs runs once when it ends (unless a retry replaces it), later ones never; a crashed run
    holds the lock until its re-run. Each tick held back is a cron.missed record, outcome
    "skipped", with its reason (retry, ran, locked, overdue, crashed, waiting); compare counts
    it lost.
    Polling (poll_ns, _polling.py): Agenda finds jobs only by polling, every processEvery (default
    5 s; jobsim.profile("agenda", process_every="1s") sets it, e.g. "agenda(process_every=1s)"):
    start() polls at once and then on setInterval (JobProcessor.ts 98-118), so polls fall at
    start + k*processEvery from the simulation's start, and again from the end of a downtime
    (a restart). Each poll locks every unlocked job with nextRunAt <= now + processEvery
    (jobQueueFilling 382-447, nextScanAt 393-394; MongoJobRepository.ts getNextJobToRun 451-503)
    and starts each at its nextRunAt, by a timer if it is ahead (jobProcessing 454-551). The
    MongoDB backend has no notification channel (MongoBackend.ts 6-39), so job.save() (Job.ts
    397-422: agenda.now, schedule, every) wakes nothing, and a run's saves (saveJobState, Job.run
    612-623 and 742-748) never do. A job lockable from `since` (saved, or unlocked when the run
    holding it ended) with nextRunAt `due` thus starts at max(due, the first poll at or after
    max(since, due - processEvery)): agenda.now() at the next poll; a job scheduled, a retry
    backing off, or a recurring job's next tick after a run that ended, processEvery or more
    ahead, exactly on time; a shorter retry on time if a poll falls between the failure and it,
    else at the first poll after; an overdue tick (above) at the first poll after the lock is
    released. At a tie (jobsim's choice; a race in Node) the poll at instant T has looked before
    anything a run does at T (its end's saves, its code's agenda.now()), and after what the test
    sends at T (sim.send at the simulation's start runs at once). The wait is a run.queued
    record, reason "poll"; a retry record names the poll that starts it ("poll"). Not modelled:
    notification channels (Redis/PostgreSQL backends, a MongoChangeStreamNotificationChannel:
    a saved job is locked at once, handleNotification 252-286).
    Concurrency: define() without concurrency gets defaultConcurrency, 5 (index.ts 751: options?.concurrency
    || defaultConcurrency), and every job of the process counts against maxConcurrency, 20 (DefaultOptions
    28-37): runOrRetry (JobProcessor.ts 557-575) runs a job only while its definition runs fewer than its
    concurrency and the process fewer than maxConcurrency, else puts it back in the local queue; each job's
    end re-processes the queue at once (setImmediate(jobProcessing), 706), which takes the first job whose
    definition has room (JobProcessingQueue.returnNextConcurrencyFreeJob 95-126). So the runs past a limit
    wait for a slot, oldest first, and start as one ends (Profile.default_concurrency, max_concurrency;
    jobsim.profile("agenda", default_concurrency=..., max_concurrency=...) sets them). lockLimit is 0,
    unlimited, by default. Not modelled: a job that waits in the local queue longer than lockLifetime
    (10 min) is dropped there as expired (jobProcessing's isExpired, 475) and locked again by a later poll;
    jobsim keeps it queued.
    Features: debounce (v6 nowDebounced: trailing, maxWait = timeout; MongoJobRepository.ts saveJob
    733-746 checks maxWait only as a call saves the job: a call at or after the first + maxWait sets
    nextRunAt = now, an earlier one now + delay even past that deadline; profile.debounce_timeout_at_call), concurrency
    (per definition, no key), on_failure (agenda.on('fail'), below). No batching, throttle,
    rate limit, idempotency window, priority as a time shift, cancel_on, timeouts,
    sleep, wait_for_event, invoke.
    Crash: the lock stays; the first poll at or after lockedAt + lockLifetime (10 min) locks the
    job again (getNextJobToRun: lockedAt <= now - lockLifetime) and re-runs it — even a one-off
    job — without counting a failure, as often as it takes. lockedAt is the poll that locked
    the attempt (a job found ahead of its nextRunAt is locked before it starts).
    Downtime: MongoDB keeps jobs; an overdue job runs once on start and its next run
    is computed from that run (missed cron: first): a tick due the instant it is back is
    that run, not a second one.
    Duplicate delivery: one worker locks the job document: deduplicated.
    Failure hook: agenda.on('fail:<name>', (err, job)) (and 'fail') is emitted on every failure, right
    after fail() and before handleRetry decides about a retry (Job.ts run), so on_failure runs once per
    failed attempt: ctx.event is "agenda/fail" with data {err {name, message}, job {attrs {_id, name,
    data, failCount, failReason, failedAt, lastRunAt}}} — failCount per job document (a recurring job's
    goes on over its runs), nothing saying whether a retry follows. A crash re-run after the lock
    expires calls no fail(): no event. Nothing is published on the bus.
    """
    return Profile(
        name="agenda", system="Agenda", cron_overlap="each",
        description="Agenda: no retries by default (v6 backoff when configured); polls every 5s; 5 jobs of a name "
                    "and 20 in all at once; a crashed job re-runs after 10 min",
        default_retries=AgendaBackoff(max_retries=0),
        durable_steps=False, cron=AGENDA_CRON, retries=_agenda_retries,
        non_retriable=False, retry_after=False, missed_cron="first", fail_count_per_job=True,
        debounce_timeout_at_call=True, attempt_failure_hook=agenda_fail, cron_next="job", poll_ns=AGENDA_POLL_NS,
        default_concurrency=5, max_concurrency=20, configure=_agenda_configure,
        lacks={
            "events.wildcard": "a job is scheduled by its definition's name (agenda.now(name, data)); nothing "
                               "matches names by a pattern: list the event names",
            "cron.several": "every() keeps one job document per name (type 'single', upserted by name), so a "
                            "second interval replaces the first; give each schedule a function of its own",
            "batch": "there is no batching", "throttle": "there is no throttle", "rate_limit": "there is no rate limit",
            "idempotency": "job.unique() keeps one job per query for good, not a 24 h window",
            "debounce.leading": "its 'leading' strategy runs at the first call at once, another thing; jobsim "
                                "simulates the trailing nowDebounced",
            "concurrency.key": "its concurrency is per job definition, not per key",
            "concurrency.scope": "its concurrency is per job definition (and maxConcurrency per process), "
                                 "not a key shared across definitions",
            "concurrency.two": "a job definition has one concurrency",
            "priority": "its priorities order ready jobs, they are not a time shift",
            "cancel_on": "jobs are cancelled by query, not by an event", "timeouts": "there are no run timeouts",
            "singleton": "concurrency: 1 queues the next job, it never skips or cancels one",
            "step.sleep": "a job cannot sleep and resume (schedule() makes a new job)",
            "step.wait_for_event": "there is no wait-for-event", "step.invoke": "a job cannot call another and wait",
            "every": "agenda.every('5 minutes') runs next at lastRunAt + interval, from when the last run actually "
                     "started (utils/nextRunAt.ts computeFromInterval), which jobsim does not simulate; jobsim runs "
                     "Agenda's cron strings: use cron=",
        },
        crash=CrashRule(lease_ns=10 * MINUTE, scan_ns=AGENDA_POLL_NS, then="rerun",
                        reason="the lock expired", recovery="the lock expired and a poll locked the job again"),
        dedupe="one Agenda worker locks the job document (lockedAt)",
    )  # fmt: skip


# -- node-cron -------------------------------------------------------------------------------------------


_CRON_ONLY = {
    "events": "it only runs cron schedules in-process; nothing enqueues a job with a payload",
    "batch": "it only runs cron schedules", "debounce": "it only runs cron schedules",
    "throttle": "it only runs cron schedules", "rate_limit": "it only runs cron schedules",
    "idempotency": "it only runs cron schedules", "priority": "it only runs cron schedules",
    "cancel_on": "it only runs cron schedules", "timeouts": "it has no run timeouts",
    "singleton": "nothing skips or cancels a run while another is running",
    "step.sleep": "a task is a plain function call", "step.wait_for_event": "a task is a plain function call",
    "step.invoke": "a task is a plain function call",
    "every": "it schedules cron expressions only: write the interval as cron= (e.g. '*/5 * * * *')",
}  # fmt: skip


_NODE_CRON_OPTIONS = ("no_overlap", "max_executions", "max_random_delay", "tasks")
_TASK_OPTIONS = {"no_overlap": "noOverlap", "max_executions": "maxExecutions", "max_random_delay": "maxRandomDelay"}
_TAKES = ("no_overlap (noOverlap: True or False, default False), max_executions (maxExecutions: an int >= 1, or 0 "
          "for no limit, the default) and max_random_delay (maxRandomDelay: a duration in whole milliseconds such "
          "as '5s', default 0)")  # fmt: skip


def _node_cron_configure(root: Profile, options: dict[str, Any]) -> Profile:
    """``jobsim.profile("node-cron", no_overlap=..., max_executions=..., max_random_delay=..., tasks=...)``: the
    ``TaskOptions`` of those names (``noOverlap``, default false; ``maxExecutions``, default none;
    ``maxRandomDelay``, default 0), given to every ``cron.schedule`` (``Profile.cron_no_overlap``,
    ``cron_max_runs``, ``cron_jitter_ns``; ``_nodetask.py``), and ``tasks``: per function id, those options for
    its schedules alone, over the others (``Profile.cron_tasks``). Options at node-cron's defaults are left out
    of the variant's name; ``tasks`` is named as JSON, function ids and options sorted."""
    unknown = sorted(set(options) - set(_NODE_CRON_OPTIONS))
    if unknown:
        raise InvalidArgument(f"profile 'node-cron' has no option {', '.join(map(repr, unknown))}"
                              f"{_unknown_why(unknown, agenda=True)}; it takes {_TAKES}, and tasks (per function "
                              "id, those options for its cron schedules alone: tasks={'nightly-report': "
                              "{'no_overlap': True}})")  # fmt: skip
    profile, named = root, []
    given = _task_values({k: v for k, v in options.items() if k != "tasks"}, "")
    if given.get("no_overlap"):
        named.append(("no_overlap", "true"))
        profile = dataclasses.replace(profile, cron_no_overlap=True, description=profile.description + "; noOverlap")
    if given.get("max_executions"):
        limit = given["max_executions"]
        named.append(("max_executions", str(limit)))
        profile = dataclasses.replace(profile, cron_max_runs=limit,
                                      description=profile.description + f"; maxExecutions {limit}")
    if given.get("max_random_delay"):
        text = format_duration(given["max_random_delay"])
        named.append(("max_random_delay", text))
        profile = dataclasses.replace(profile, cron_jitter_ns=given["max_random_delay"],
                                      description=profile.description + f"; maxRandomDelay {text}")
    tasks = _tasks(options.get("tasks", {}))
    if tasks:
        named.append(("tasks", _tasks_text(tasks)))
        profile = dataclasses.replace(profile, cron_tasks={fn: _cron_task(values) for fn, values in tasks.items()},
                                      description=profile.description + "; per task: " + "; ".join(
                                          f"{fn} {_described(values)}" for fn, values in tasks.items()))
    if not named:
        return root
    return dataclasses.replace(profile, name=f"{root.name}({', '.join(f'{k}={v}' for k, v in named)})",
                               options=tuple(named))


def _unknown_why(unknown: list[str], agenda: bool) -> str:
    """Why options node-cron's configuration lacks are not there, or how to write them."""
    camel = {theirs: ours for ours, theirs in _TASK_OPTIONS.items()}
    if any(name in camel for name in unknown):
        return " (write " + ", ".join(camel[name] for name in unknown if name in camel) + ")"
    if agenda and any(name in _AGENDA_OPTIONS for name in unknown):
        return " (Agenda's; node-cron has no poll and no concurrency limit)"
    if not agenda and "tasks" in unknown:
        return " (tasks= is the profile's own option, not a task's)"
    return (" (timezone is tz= on the function; name is only a label; missedExecutionTolerance and distributed are "
            "not simulated)")  # fmt: skip


def _task_values(options: Mapping[str, Any], prefix: str) -> dict[str, int]:
    """The task options given, read: ``no_overlap`` a bool, ``max_executions`` an int, ``max_random_delay`` ns.
    ``prefix`` names them in errors (``tasks['report']``; "": the profile's own)."""
    values: dict[str, int] = {}
    for option, theirs in _TASK_OPTIONS.items():
        if option not in options:
            continue
        name, value = (f"{prefix}[{option!r}]" if prefix else option), options[option]
        if option == "no_overlap":
            values[option] = _flag(name, value, theirs)
        elif option == "max_executions":
            values[option] = _max_executions(name, value)
        else:
            values[option] = _random_delay(name, value)
    return values


def _tasks(value: Any) -> dict[str, dict[str, int]]:
    """``tasks=``: function id -> its options (``_task_values``), both sorted; a function given none is left
    out. As text (a profile name's), JSON or a Python literal."""
    accepted = ("a dict of function id to that function's task options, e.g. {'nightly-report': {'no_overlap': "
                "True, 'max_executions': 3}} (JSON in a profile name)")  # fmt: skip
    tasks = _literal(value, accepted) if isinstance(value, str) else value
    if not isinstance(tasks, Mapping):
        raise InvalidArgument.build("tasks", value, accepted)
    for fn_id in tasks:
        if not isinstance(fn_id, str) or not fn_id.strip():
            raise InvalidArgument.build("tasks", value, f"{accepted}; {shown(fn_id)} is not a function id (a non-empty "
                                                        "string)")  # fmt: skip
    parsed = {}
    for fn_id in sorted(tasks):
        own = tasks[fn_id]
        if not isinstance(own, Mapping):
            raise InvalidArgument.build(f"tasks[{fn_id!r}]", own, "a dict of task options such as {'no_overlap': "
                                                                  "True}: " + _TAKES)  # fmt: skip
        unknown = sorted(set(own) - set(_TASK_OPTIONS), key=shown)  # shown: a key whose repr raises is named too
        if unknown:
            raise InvalidArgument(f"tasks[{fn_id!r}] has no option {', '.join(map(shown, unknown))}"
                                  f"{_unknown_why(unknown, agenda=False)}; a task takes {_TAKES}")  # fmt: skip
        values = _task_values(own, f"tasks[{fn_id!r}]")
        if values:
            parsed[fn_id] = values
    return parsed


def _literal(text: str, accepted: str) -> Any:
    """``tasks=`` as a profile name writes it: JSON, or a Python literal."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InvalidArgument.build("tasks", text, accepted) from None


def _tasks_text(tasks: dict[str, dict[str, int]]) -> str:
    """``tasks`` as a profile name holds it: JSON, sorted, ``max_random_delay`` as a duration."""
    shown = {fn_id: {option: format_duration(value) if option == "max_random_delay" else value
                     for option, value in values.items()} for fn_id, values in tasks.items()}  # fmt: skip
    return json.dumps(shown, sort_keys=True, ensure_ascii=False)


def _cron_task(values: dict[str, int]) -> CronTask:
    no_overlap = values.get("no_overlap")
    return CronTask(no_overlap=None if no_overlap is None else bool(no_overlap), max_runs=values.get("max_executions"),
                    jitter_ns=values.get("max_random_delay"))  # fmt: skip


def _described(values: dict[str, int]) -> str:
    """One task's options as the profile's description lists them."""
    words = {"no_overlap": "noOverlap" if values.get("no_overlap") else "no noOverlap",
             "max_executions": f"maxExecutions {values.get('max_executions') or 'none'}",
             "max_random_delay": f"maxRandomDelay {format_duration(values.get('max_random_delay') or 0)}"}
    return ", ".join(words[option] for option in values)


def _max_executions(name: str, value: Any) -> int:
    """node-cron's ``maxExecutions``: an int >= 0 (0: no limit), also as a profile name's text."""
    limit = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument.build(name, value, "a whole number of executions >= 1 (node-cron's maxExecutions), or "
                                                 "0 for no limit")  # fmt: skip
    return limit


def _random_delay(name: str, value: Any) -> int:
    """node-cron's ``maxRandomDelay`` (milliseconds) as a jobsim duration: 0, or whole milliseconds."""
    accepted = ("a duration in whole milliseconds such as '5s' or '250ms' (node-cron's maxRandomDelay, which counts "
                "milliseconds: {maxRandomDelay: 5000} is '5s'), or 0 for none")  # fmt: skip
    if isinstance(value, str) and value.strip() == "0":
        return 0
    return whole_ms_ns(value, name, accepted, allow_zero=True)


def _flag(option: str, value: Any, theirs: str) -> bool:
    """True or False, or their names as a profile spec writes them (``"node-cron(no_overlap=true)"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidArgument.build(option, value, f"True or False (node-cron's {theirs})")


def _node_cron() -> Profile:
    """node-cron 4 (reference §6; node-cron/node-cron).

    In-process timers: no persistence, no retries, no queue.
    Retries: none. Errors emit execution:failed and are not retried (retries= with
    more than one attempt is refused); on_failure stands for that listener: its ctx.event
    is "node-cron/execution:failed" with the TaskContext as data (_failhooks.node_cron_failed:
    date, dateLocalIso, triggeredAt, task, execution), nothing is published on the bus.
    Steps: none; a task is a plain call (ctx.step.run runs inline).
    Cron: its own parser: 5 or 6 fields (leading seconds), names, timezone option;
    day-of-month AND day-of-week must both match (time-matcher.ts — not Vixie's OR);
    across DST (src/time/matcher-walker.ts, localized-time.ts localTimeToTimestamp): a wall
    time in the spring-forward gap is skipped, a repeated one fires once, a wildcard hour does
    not fire again in the repeated hour. Which occurrence fires is where localTimeToTimestamp
    lands (the wall time read as UTC, minus the offset in force there): the first (daylight
    time) in New York (dst.test.ts "fires on the first occurrence"), the second (standard time)
    in London, Berlin, Athens — 01:30 Europe/London on 2025-10-26 runs at 01:30 GMT, and an
    hourly job in Berlin runs 01:00 CEST then 02:00 CET, not at 02:00 CEST.
    Features: cron only; concurrency= and singleton= are refused (below).
    Task options (TaskOptions, runner.ts; _nodetask.py): jobsim.profile("node-cron", no_overlap=True,
    max_executions=N, max_random_delay="5s"), named "node-cron(no_overlap=true, max_executions=N,
    max_random_delay=5s)", gives every cron schedule (each a task of its own) those options. Each
    cron.schedule call takes its own: tasks={"report": {"no_overlap": True}} gives one function's schedules
    theirs, over the profile's (Profile.cron_tasks; named as JSON, sorted: "node-cron(tasks={"report":
    {"no_overlap": true}})"); a function the simulation lacks, or without cron=, is refused.
    noOverlap: heartBeat skips a tick while the task's last execution is pending (execution:overlap;
    "task still running, new execution blocked by overlap prevention!"): it is never queued, and a run
    ending at the tick's instant is still pending then (cron.missed, outcome skipped, reason overlap).
    maxExecutions: runCount counts every execution as it starts, and the task is destroyed when one
    *completes* with runCount >= N (execute checks after onFinished; a failure returns before the
    check): runs a tick starts while that one runs still start, a task that always fails never stops,
    a skipped tick counts nothing (cron.end, reason max_executions).
    maxRandomDelay: runTask waits floor(Math.random() * max) ms before execute (drawn from the seed,
    Profile.cron_jitter_ns); the tick is pending meanwhile (noOverlap skips the next one, recorded with
    "waiting"), the run counts when it starts, and the task's destruction cancels the latest tick's wait
    (stop() clears jitterTimeout; cron.missed, reason destroyed).
    After a downtime the process schedules its tasks afresh (the count from 0).
    timezone is tz=; name is a label. Not simulated: missedExecutionTolerance (a tick more than 1 s late
    because the event loop was blocked is skipped; jobsim's job code never blocks it), distributed (one
    process here), and executeTimeout/startTimeout (background tasks only).
    Crash: the process dies with the run; nothing notices, nothing is retried: lost.
    Downtime: the process is down: ticks due are lost and nothing is recovered on
    restart (missed cron: none); in-flight runs are lost.
    Duplicate delivery: the heartbeat never runs a slot twice (plan-beat.ts): deduplicated.
    """
    return Profile(
        name="node-cron", system="node-cron", cron_overlap="each",
        description="node-cron: in-process cron; no persistence, no retries; DOM AND DOW",
        default_retries=Retries(attempts=1),
        durable_steps=False, cron=NODE_CRON, retry_after=False, persistent=False, missed_cron="none",
        attempt_failure_hook=node_cron_failed, configure=_node_cron_configure,
        lacks={**_CRON_ONLY,
               "concurrency": "noOverlap skips a tick while the previous run is pending; it never queues "
                              "(jobsim.profile('node-cron', no_overlap=True), or for one function "
                              "tasks={'its id': {'no_overlap': True}})",
               "singleton": "it has no key and no cancel mode; its noOverlap skips a tick while the task's "
                            "previous run is pending: jobsim.profile('node-cron', no_overlap=True), or for one "
                            "function tasks={'its id': {'no_overlap': True}}",
               "retries": "errors emit execution:failed; nothing is retried"},
        crash=CrashRule(then="lose", reason="the process died with the run; node-cron keeps nothing",
                        recovery="never"),
        dedupe="node-cron's heartbeat never runs a slot twice (plan-beat.ts)",
    )  # fmt: skip


# -- Vercel Cron -----------------------------------------------------------------------------------------

_VERCEL_LACKS = {
    **_CRON_ONLY,
    "events": "Vercel Cron only calls a path on a schedule (HTTP GET)",
    "concurrency": "nothing stops a second invocation (use your own lock)",
    "on_failure": "there is no failure hook",
    "retries": "\"Vercel will not retry an invocation if a cron job fails\"",
}


def _vercel(hobby: bool) -> Profile:
    plan = "Hobby" if hobby else "Pro"
    return Profile(
        name="vercel-cron-hobby" if hobby else "vercel-cron", system=f"Vercel Cron ({plan})", cron_overlap="each",
        description=f"Vercel Cron, {plan} plan: UTC only, never retries, may miss or fire twice",
        default_retries=Retries(attempts=1),
        durable_steps=False, cron=VERCEL_HOBBY if hobby else VERCEL, retry_after=False,
        persistent=False, missed_cron="none", lacks=_VERCEL_LACKS,
        crash=CrashRule(then="lose", reason="the invocation died; Vercel does not retry", recovery="never"),
        dedupe=None, cron_jitter_ns=HOUR if hobby else MINUTE, max_duration_ns=300 * SECOND,
    )  # fmt: skip


def _vercel_pro() -> Profile:
    """Vercel Cron, Pro/Enterprise plan (reference §7; vercel.com/docs/cron-jobs and sub-pages).

    An HTTP GET to the production URL on a schedule. No persistence: missed runs are
    never replayed.
    Retries: never ("Vercel will not retry an invocation if a cron job fails");
    retries= is refused.
    Steps: none; the function is a plain call (ctx.step.run runs inline).
    Cron: 5 numeric fields (day-of-week 0-6; no L, #, ? — the docs give numeric ranges only),
    no names (MON, JAN), no @descriptors (NOT VERIFIED: the docs list none; refused),
    day-of-month and day-of-week cannot both be restricted, and the time zone is always
    UTC (tz= and TZ= are refused).
    Precision: per minute — "5 8 * * *" fires within 08:05:00-08:05:59; jobsim draws
    the delivery uniformly in [tick, tick + 60 s) in whole ms (distribution NOT VERIFIED).
    Duration: functions are killed after 300 s (the default on all plans); the attempt
    fails, and is not retried.
    Features: cron only.
    Crash: the invocation is lost. Downtime: best effort — ticks while down are missed
    (no invocation, no log), in-flight invocations are lost.
    Duplicate delivery: "can also occasionally invoke the same scheduled run more than
    once": every extra delivery is a run (same tick, same instant).
    """
    return _vercel(hobby=False)


def _vercel_hobby() -> Profile:
    """Vercel Cron, Hobby plan (reference §7; /docs/cron-jobs/usage-and-pricing).

    As vercel-cron, except: an expression may fire at most once a day (more frequent
    ones fail the deploy: refused), and precision is hourly — "0 8 * * *" fires anytime
    in 08:00:00-08:59:59; jobsim draws the delivery uniformly in [tick, tick + 1 h) in
    whole ms (distribution NOT VERIFIED).
    """
    return _vercel(hobby=True)


INNGEST = _documented(_inngest)
BULLMQ = _documented(_bullmq)
TRIGGER_DEV = _documented(_trigger_dev)
QUIRREL = _documented(_quirrel)
AGENDA = _documented(_agenda)
NODE_CRON_PROFILE = _documented(_node_cron)
VERCEL_CRON = _documented(_vercel_pro)
VERCEL_CRON_HOBBY = _documented(_vercel_hobby)

BUILTIN = (INNGEST, BULLMQ, TRIGGER_DEV, QUIRREL, AGENDA, NODE_CRON_PROFILE, VERCEL_CRON, VERCEL_CRON_HOBBY)
SEVEN = ("inngest", "bullmq", "trigger.dev", "quirrel", "agenda", "node-cron", "vercel-cron")
"""The seven systems of the seed's comparison, in its order (``jobsim compare``'s default)."""
