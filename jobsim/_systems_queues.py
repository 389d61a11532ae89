"""The profiles of the three job-queue libraries: BullMQ and Quirrel (Redis), Agenda (MongoDB); see
``_systems.py``."""

from __future__ import annotations

from ._backoffs import AgendaBackoff, BullMQBackoff
from ._crashrule import CrashRule
from ._dialects import AGENDA_CRON, CRON_PARSER, QUIRREL_CRON
from ._failhooks import agenda_fail, bullmq_failed
from ._profiles import Profile
from ._retries import Retries
from ._systems_options import agenda_configure
from ._systems_retries import agenda_retries, bullmq_retries, quirrel_retries
from ._time import MINUTE, SECOND


def bullmq() -> Profile:
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
        name="bullmq", system="BullMQ", cron_overlap="each", repeated_ids="kept",
        description="BullMQ: no retries by default; fixed/exponential backoff; stalled jobs re-run once",
        default_retries=BullMQBackoff(attempts=1),
        durable_steps=False, cron=CRON_PARSER, retries=bullmq_retries,
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
                        recovery="the stalled-job checker moved it back to wait",
                        exhausted="the stalled-job checker found it stalled more than maxStalledCount (1) times "
                                  "and moved it to failed"),
        dedupe="BullMQ moves a job to active once; scheduler job ids (repeat:<id>:<millis>) are unique",
    )  # fmt: skip


def quirrel() -> Profile:
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
        name="quirrel", system="Quirrel", cron_overlap="each", repeated_ids="pending",
        description="Quirrel: no retries by default; retry offsets from the original run time; stale after 60 min",
        default_retries=Retries(attempts=1),
        durable_steps=False, cron=QUIRREL_CRON, retries=quirrel_retries, max_attempts=11,
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


AGENDA_POLL_NS = 5 * SECOND
"""Agenda's default ``processEvery`` (5000 ms, ``packages/agenda/src/index.ts`` DefaultOptions 28-37)."""


def agenda() -> Profile:
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
        name="agenda", system="Agenda", cron_overlap="each", repeated_ids="kept",
        description="Agenda: no retries by default (v6 backoff when configured); polls every 5s; 5 jobs of a name "
                    "and 20 in all at once; a crashed job re-runs after 10 min",
        default_retries=AgendaBackoff(max_retries=0),
        durable_steps=False, cron=AGENDA_CRON, retries=agenda_retries,
        non_retriable=False, retry_after=False, missed_cron="first", fail_count_per_job=True,
        debounce_timeout_at_call=True, attempt_failure_hook=agenda_fail, cron_next="job", poll_ns=AGENDA_POLL_NS,
        default_concurrency=5, max_concurrency=20, configure=agenda_configure,
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
