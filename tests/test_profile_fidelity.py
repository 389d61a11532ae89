"""Two places where a profile follows its system more closely than Inngest's model would:

* BullMQ job schedulers keep one pending job: the next iteration is made when the current
  job starts (moveToActive), strictly after max(start, its scheduled time) — so a job that
  waits for a busy worker starts late and the ticks passing meanwhile never run.
* Trigger.dev's failure hook is ``onFailure({payload, error, ctx})`` — no
  ``inngest/function.failed`` event — and its attempts are retries only: a wait checkpoints
  the attempt, it does not make a second one.
"""

import asyncio
import time

import pytest
from _readme import run_block

import jobsim
from jobsim import invariants
from jobsim._time import iso

START = "2026-03-02T00:00:00Z"


def hms(ns):
    return iso(ns)[11:19]


def slow_cron_app(concurrency=1, is_async=False, seconds=150):
    """A job every minute that takes ``seconds`` (longer than its interval)."""
    app = jobsim.App("sched")
    options = {} if concurrency is None else {"concurrency": concurrency}

    if is_async:
        @app.function("report", cron="* * * * *", **options)
        async def report(ctx):
            await asyncio.sleep(seconds)
            return ctx.event.data["scheduledAt"]
    else:
        @app.function("report", cron="* * * * *", **options)
        def report(ctx):
            time.sleep(seconds)
            return ctx.event.data["scheduledAt"]

    return app


def story(sim):
    """Each run as 'scheduled tick @ start - end' (end '...' while it has not finished)."""
    return [f"{r.event.data['scheduledAt'][11:19]}@{hms(r.start_ns)}-{hms(r.end_ns) if r.end_ns else '...'}"
            for r in sim.runs("report")]


# -- BullMQ: one pending job per job scheduler -------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True])
def test_bullmq_a_long_job_on_one_worker_delays_the_next_and_thins_its_schedule(is_async):
    """job-scheduler.ts upsertJobScheduler (called by worker.ts nextJobFromJobData when a job moves to active):
    the next job is due at the first match strictly after max(now, prevMillis). With one worker slot the
    00:02 job waits for the 00:01 one (150 s), starts at 00:03:30 and only then makes the 00:04 job; the
    00:03 tick never exists. Before: every tick queued a run, a backlog growing by one a minute."""
    with jobsim.Simulation(slow_cron_app(is_async=is_async), start=START, profile="bullmq") as sim:
        sim.advance("10m")
    assert story(sim) == [
        "00:01:00@00:01:00-00:03:30",
        "00:02:00@00:03:30-00:06:00",  # waited for the worker; made the 00:04 job when it started
        "00:04:00@00:06:00-00:08:30",  # started exactly on the 00:06 tick: the next is strictly after -> 00:07
        "00:07:00@00:08:30-00:11:00",
        "00:09:00@00:09:00-...",  # queued: the worker is busy until 00:11:00
    ]
    assert sim.runs("report")[-1].status == "queued"
    skipped = [(r.data["scheduled"][11:19], r.data["behind"][11:19], r.data["started"])
               for r in sim.trace.of("cron.missed")]
    assert skipped == [("00:03:00", "00:02:00", False), ("00:05:00", "00:04:00", False),
                       ("00:06:00", "00:04:00", True), ("00:08:00", "00:07:00", False),
                       ("00:10:00", "00:09:00", False)]  # fmt: skip
    assert {r.data["outcome"] for r in sim.trace.of("cron.missed")} == {"skipped"}
    timeline = sim.timeline()
    assert "report skips its 03-02 00:03:00 tick: its 03-02 00:02:00 job has not started yet" in timeline
    assert ("report skips its 03-02 00:06:00 tick: its 03-02 00:04:00 job has just started (the next is due "
            "strictly after)") in timeline


def test_inngest_queues_every_tick_behind_a_long_job():
    """The contrast: Inngest's cron fires on the clock; runs wait for the concurrency slot, one per tick."""
    with jobsim.Simulation(slow_cron_app(), start=START, profile="inngest") as sim:
        sim.advance("10m")
    assert story(sim)[:4] == ["00:01:00@00:01:00-00:03:30", "00:02:00@00:03:30-00:06:00",
                              "00:03:00@00:06:00-00:08:30", "00:04:00@00:08:30-00:11:00"]  # fmt: skip
    assert len(sim.runs("report")) == 10 and sim.trace.of("cron.missed") == []


def test_bullmq_jobs_that_find_a_free_worker_start_on_time_and_overlap():
    """Without concurrency= jobsim assumes a free worker: each job moves to active at its tick and makes the
    next one then, so a 150 s job every minute runs on every tick, overlapping the last."""
    with jobsim.Simulation(slow_cron_app(concurrency=None), start=START, profile="bullmq") as sim:
        sim.advance("5m")
    assert story(sim) == ["00:01:00@00:01:00-00:03:30", "00:02:00@00:02:00-00:04:30", "00:03:00@00:03:00-00:05:30",
                          "00:04:00@00:04:00-00:06:30", "00:05:00@00:05:00-00:07:30"]  # fmt: skip
    assert sim.trace.of("cron.missed") == []


def test_bullmq_two_worker_slots_thin_the_schedule_only_once_both_are_busy():
    """concurrency=2: the 00:01 and 00:02 jobs run side by side; the 00:03 job waits for a slot until 00:03:30,
    the 00:04 one until 00:04:30 (each making the next then, still on time), the 00:05 one until 00:06:00 —
    the instant of the 00:06 tick, which it therefore skips: its next is 00:07."""
    with jobsim.Simulation(slow_cron_app(concurrency=2), start=START, profile="bullmq") as sim:
        sim.advance("6m30s")
    assert story(sim) == [
        "00:01:00@00:01:00-00:03:30", "00:02:00@00:02:00-00:04:30", "00:03:00@00:03:30-00:06:00",
        "00:04:00@00:04:30-00:07:00", "00:05:00@00:06:00-00:08:30",
    ]  # fmt: skip
    assert [r.data["scheduled"][11:19] for r in sim.trace.of("cron.missed")] == ["00:06:00"]


def test_compare_counts_the_ticks_a_scheduler_skipped_as_lost():
    scenario = jobsim.Scenario(name="slow", description="a 150 s report every minute, one worker",
                               build=slow_cron_app, play=lambda sim: sim.advance("10m"), start=START)
    result = jobsim.compare(scenario, profiles=["inngest", "bullmq"])
    inngest, bullmq = result.of("inngest"), result.of("bullmq")
    assert (inngest.runs, inngest.lost) == (10, 0)
    assert (bullmq.runs, bullmq.lost) == (5, 5)  # the 00:03, 00:05, 00:06, 00:08 and 00:10 ticks never ran


def test_bullmq_a_downtime_still_runs_the_pending_job_once_and_resumes_after_it():
    """The one-pending-job rule agrees with the downtime rules: the 08:00 job runs late at 10:00 and makes
    the next job strictly after 10:00 (reference §2.4)."""
    app = jobsim.App("m")

    @app.function("sync", cron="*/30 * * * *", concurrency=1)
    def sync(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start="2025-03-03T07:40:00Z", profile="bullmq") as sim:
        sim.downtime("2025-03-03T08:00:00Z", "2025-03-03T10:00:00Z")
        sim.advance_to("2025-03-03T10:30:00Z")
    assert [f"{r.output[11:16]}@{r.started_at:%H:%M}" for r in sim.runs("sync")] == ["08:00@10:00", "10:30@10:30"]


# -- Trigger.dev: onFailure and attempts ------------------------------------------------------------------


def failing_app(seen, crash_after=None):
    app = jobsim.App("pay")

    def alert(ctx):
        seen.append((ctx.event.name, ctx.event.data))

    @app.function("charge", on="order/paid", retries=jobsim.Retries(2), on_failure=alert)
    def charge(ctx):
        ctx.step.sleep("settle", "10m")
        if crash_after:
            time.sleep(crash_after)
        raise RuntimeError("card declined")

    @app.function("audit", on="inngest/function.failed")
    def audit(ctx):
        return ctx.event.data["function_id"]

    return app


def test_trigger_dev_on_failure_gets_the_hooks_arguments_not_an_inngest_event():
    seen = []
    with jobsim.Simulation(failing_app(seen), start=START, profile="trigger.dev", seed=3) as sim:
        sim.send("order/paid", {"orderId": "o1"})
        sim.run_until_idle()
    (run,) = sim.runs("charge")
    assert run.status == "failed" and hms(run.end_ns) == "00:20:01"
    ((name, data),) = seen
    assert name == "trigger.dev/onFailure"
    assert data == {
        "task": "charge",
        "payload": {"orderId": "o1"},
        "error": {"name": "RuntimeError", "message": "card declined"},
        "ctx": {"run": {"id": run.id}, "task": {"id": "charge"}, "attempt": {"number": 2}},
    }
    (hook,) = sim.runs("charge-failure")
    assert hook.start_ns == run.end_ns and hook.status == "completed"  # called as the last attempt fails
    # Trigger.dev has no event bus: nothing announces the failure, nothing triggered by it runs
    assert [e.name for e in sim.events] == ["order/paid"] and sim.runs("audit") == []


def test_inngest_keeps_function_failed():
    seen = []
    with jobsim.Simulation(failing_app(seen), start=START, profile="inngest", seed=3) as sim:
        sim.send("order/paid", {"orderId": "o1"})
        sim.run_until_idle()
    ((name, data),) = seen
    assert name == "inngest/function.failed" and data["function_id"] == "charge"
    assert data["event"]["data"] == {"orderId": "o1"} and data["error"]["message"] == "card declined"
    assert [e.name for e in sim.events] == ["order/paid", "inngest/function.failed"]
    assert [r.output for r in sim.runs("audit")] == ["charge"]


def test_trigger_dev_a_crashed_process_calls_no_failure_hook():
    """onFailure runs in the task's process (taskExecutor.ts); a run failed by a stall has none left."""
    seen = []
    app = failing_app(seen, crash_after=60)
    with jobsim.Simulation(app, start=START, profile="trigger.dev", seed=3) as sim:
        sim.send("order/paid", {"orderId": "o1"})
        sim.crash_worker(at="2026-03-02T00:10:30Z", function="charge")
        sim.crash_worker(at="2026-03-02T00:25:30Z", function="charge")
        sim.run_until_idle()
    (run,) = sim.runs("charge")
    assert run.status == "failed" and isinstance(run.error, jobsim.WorkerCrashed)
    assert seen == [] and "charge-failure" not in sim.functions


def waiting_app(failures, retries=None):
    app = jobsim.App("w")
    left = [failures]

    @app.function("child", on="child/go")
    def child(ctx):
        time.sleep(30)
        return ctx.event.data["n"] + 1

    @app.function("task", on="go", retries=retries)
    def task(ctx):
        ctx.step.sleep("nap", "1h")
        got = ctx.step.invoke("kid", function="child", data={"n": 1})
        time.sleep(5)
        if left[0]:
            left[0] -= 1
            raise RuntimeError("flaky")
        return got

    return app


def test_trigger_dev_a_wait_does_not_make_a_second_attempt():
    with jobsim.Simulation(waiting_app(failures=0), start=START, profile="trigger.dev") as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("task")
    assert run.status == "completed" and run.output == 2
    # one attempt: 00:00 -> sleep 1 h -> invoke (the child spends 30 s) -> 5 s of work
    assert [(a.number, a.step, hms(a.start_ns), hms(a.end_ns)) for a in run.attempts] == [
        (0, None, "00:00:00", "01:00:35")]
    assert run.retries == 0
    assert [hms(a.start_ns) for a in run.steps["nap"].attempts] == ["00:00:00"]
    assert [hms(a.start_ns) for a in run.steps["kid"].attempts] == ["01:00:00"]
    assert [r.data["attempt"] for r in sim.trace.of("attempt") if r.data["run"] == run.id] == [0]


def test_trigger_dev_attempts_are_retries_only():
    no_jitter = jobsim.TriggerDevRetry(3, factor=2, min="1s", max="60s", randomize=False)
    with jobsim.Simulation(waiting_app(failures=2, retries=no_jitter), start=START, profile="trigger.dev") as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("task")
    # each retry starts over (sleeps again); waits 1 s then 2 s (randomize off) after a failure
    assert [(a.number, hms(a.start_ns), hms(a.end_ns), a.error is not None) for a in run.attempts] == [
        (0, "00:00:00", "01:00:35", True), (1, "01:00:36", "02:01:11", True), (2, "02:01:13", "03:01:48", False),
    ]  # fmt: skip
    assert run.retries == 2
    invariants.retries_respect_policy(sim)


def test_inngest_still_records_a_request_per_step():
    """Inngest's model is unchanged: every request is an attempt of its step (or of the code between steps)."""
    with jobsim.Simulation(waiting_app(failures=0), start=START, profile="inngest") as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("task")
    assert [(a.step, hms(a.start_ns)) for a in run.attempts] == [
        ("nap", "00:00:00"), ("kid", "01:00:00"), (None, "01:00:30")]


def test_the_readme_block_runs_as_written():
    run_block("trigger.dev/onFailure")
