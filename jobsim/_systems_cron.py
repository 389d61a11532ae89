"""The profiles of the two cron-only schedulers: node-cron (in-process timers) and Vercel Cron (an HTTP GET
on a schedule); see ``_systems.py``."""

from __future__ import annotations

from ._crashrule import CrashRule
from ._dialects import NODE_CRON, VERCEL, VERCEL_HOBBY
from ._failhooks import node_cron_failed
from ._profiles import Profile
from ._retries import Retries
from ._systems_options import node_cron_configure
from ._time import HOUR, MINUTE, SECOND

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


def node_cron() -> Profile:
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
        attempt_failure_hook=node_cron_failed, configure=node_cron_configure,
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


def vercel_pro() -> Profile:
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


def vercel_hobby() -> Profile:
    """Vercel Cron, Hobby plan (reference §7; /docs/cron-jobs/usage-and-pricing).

    As vercel-cron, except: an expression may fire at most once a day (more frequent
    ones fail the deploy: refused), and precision is hourly — "0 8 * * *" fires anytime
    in 08:00:00-08:59:59; jobsim draws the delivery uniformly in [tick, tick + 1 h) in
    whole ms (distribution NOT VERIFIED).
    """
    return _vercel(hobby=True)
