"""The profiles of the two systems whose runs wait without holding a worker: Inngest (durable, memoized
steps) and Trigger.dev (checkpoints); see ``_systems.py``."""

from __future__ import annotations

from ._backoffs import TriggerDevRetry
from ._crashrule import CrashRule
from ._dialects import ROBFIG, TRIGGER_DEV_CRON
from ._failhooks import trigger_dev_failure
from ._profiles import Profile
from ._retries import TableBackoff
from ._systems_options import inngest_configure
from ._systems_retries import inngest_retries, trigger_retries
from ._time import DAY, HOUR, MINUTE, MS, SECOND


def inngest() -> Profile:
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
    One request waits at most 2 h (consts.MaxFunctionTimeout; httpdriver.go do: context.WithTimeout): a
    request whose code spends longer fails at its start + 2 h with 'error performing request: Post "<url>":
    context deadline exceeded', a retryable attempt (executor.go HandleResponse: resp.Err, Retryable), and the
    run fails with it once its retries are used up; the code runs on, its response is dropped (_reqtimeout.py).
    jobsim.profile("inngest", request_timeout="30m") sets another limit, request_timeout=None none.
    Cron: robfig/cron v3, 5 fields, names, no @descriptors (registration refuses them), TZ=/CRON_TZ= prefix, UTC by
    default; DOM/DOW OR when both restricted (spec.go dayMatches); across DST robfig's
    Next walks absolute time: a wall time in the spring-forward gap never fires, one
    repeated at fall-back fires twice (spec_test.go "2am nightly job (skipped)",
    "1am nightly job (runs twice)").
    Triggers: at most 10 per function, events and crons together (consts.MaxTriggers; trigger.go
    MultipleTriggers.Validate refuses more: "This function exceeds the max number of triggers").
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
        retry_after_clamp_grid_ns=SECOND, max_sleep_ns=366 * DAY, max_steps=1_000, max_triggers=10, cron=ROBFIG,
        max_step_output=4 * 1024 * 1024,
        request_timeout_ns=2 * HOUR, configure=inngest_configure,
        retries=inngest_retries, max_attempts=21,
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


def trigger_dev() -> Profile:
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
        name="trigger.dev", system="Trigger.dev", cron_overlap="each", repeated_ids="unless-failed",
        description="Trigger.dev: no retries unless configured; R*min*factor^(n-1); retries start over",
        default_retries=TriggerDevRetry(attempts=1),
        durable_steps=False, checkpoints=True, sleep_holds_slot_ns=60 * SECOND, cron=TRIGGER_DEV_CRON,
        retries=trigger_retries, max_attempts=250,
        missed_cron="first-and-due", failure_hook=trigger_dev_failure,
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
