"""Faults in virtual time — crash_worker, downtime, duplicate_delivery — and how each system answers."""

import asyncio
import dataclasses
import datetime
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import InvalidArgument, Retries, WorkerCrashed
from jobsim import strategies as js
from jobsim._faults import downtimes_disjoint
from jobsim._systems import BULLMQ
from jobsim._time import instant_ns, iso

START = "2025-03-03T00:00:00Z"


def billing_app(log, sleep=20, retries=None, cron="0 9 * * *", on=None):
    """charge (instant), then receipt: logs, then spends ``sleep`` seconds; a cron job unless ``on`` is given."""
    app = jobsim.App("b")

    @app.function("billing", **({"on": on} if on else {"cron": cron}), retries=retries)
    def billing(ctx):
        ctx.step.run("charge", log.append, ("charge", ctx.attempt))

        def receipt():
            log.append(("receipt", ctx.attempt))
            time.sleep(sleep)
            log.append(("receipt done", ctx.attempt))

        ctx.step.run("receipt", receipt)
        return "ok"

    return app


def crash_run(profile, at="2025-03-03T09:00:10Z", until="1d", seed=1, **kwargs):
    log = []
    with jobsim.Simulation(billing_app(log, **kwargs), start=START, profile=profile, seed=seed) as sim:
        sim.crash_worker(at=at, function="billing")
        sim.advance(until)
    return sim, log, sim.runs("billing")[0]


def times(records):
    return [iso(r.at)[11:23] for r in records]


# -- what "in flight" means ------------------------------------------------------------------------------


def test_the_attempt_spending_time_across_the_instant_dies_at_that_instant():
    _, log, run = crash_run("node-cron")
    assert log == [("charge", 0), ("receipt", 0)]  # what ran before 09:00:10 did run; the rest never did
    assert run.status == "lost"
    assert iso(run.end_ns) == "2025-03-03T09:00:10.000Z"
    assert isinstance(run.error, WorkerCrashed)
    assert str(run.error) == "the worker died at 2025-03-03T09:00:10.000Z (sim.crash_worker())"
    (attempt,) = run.attempts
    assert (attempt.step, iso(attempt.end_ns)) == ("receipt", "2025-03-03T09:00:10.000Z")


def test_an_attempt_that_finished_before_the_instant_is_not_in_flight_the_next_one_dies_at_its_start():
    log = []
    with jobsim.Simulation(billing_app(log, sleep=0, cron="0 * * * *"), start=START, profile="node-cron") as sim:
        sim.crash_worker(at="2025-03-03T09:00:05Z")
        sim.advance("11h")
    runs = sim.runs("billing")
    assert [r.status for r in runs[8:]] == ["completed", "lost", "completed"]  # 09:00, 10:00, 11:00
    assert iso(runs[9].end_ns) == "2025-03-03T10:00:00.000Z"
    assert len(log) == 3 * 10  # 11 runs; the 10:00 one died before its code ran: no charge, no receipt


def test_the_crash_picks_the_named_function_only():
    app = jobsim.App("two")
    ran = []

    @app.function("a", on="go")
    def a(ctx):
        ran.append("a")

    @app.function("b", on="go")
    def b(ctx):
        ran.append("b")

    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.crash_worker(function="b")  # at: now
        sim.send("go")
        sim.advance("1m")
    assert ran == ["a", "b"]  # b died at its start, then re-ran after the stalled-job checker
    assert [r.status for r in sim.runs("b")] == ["completed"]
    assert sim.runs("b")[0].attempts[0].error is not None


def test_async_code_awaiting_across_the_instant_dies_there():
    app = jobsim.App("a")
    log = []

    @app.function("f", on="go")
    async def f(ctx):
        async def slow():
            log.append(ctx.attempt)
            await asyncio.sleep(30)
            return "done"

        return await ctx.step.run("slow", slow)

    with jobsim.Simulation(app, start=START, seed=3) as sim:
        sim.send("go")
        sim.crash_worker(at="2025-03-03T00:00:12Z")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "completed" and log == [0, 1]
    assert [iso(a.end_ns)[11:23] for a in run.attempts][:1] == ["00:00:12.000"]


def test_a_crash_or_downtime_during_a_slow_http_answer_is_recorded_as_the_crash_and_replays_the_same():
    # the call was recorded with jobsim's control flow as its error ("-> Suspend: ('crash', 'post',
    # WorkerCrashed(...), 'crash')" on the timeline, a Suspend in sim.http.calls), and a replay answered it
    # with a ConnectError at the crash instant, which the re-armed crash did not cut: the story differed
    import httpx

    app = jobsim.App("h")

    @app.function("hook", on="go", retries=Retries(attempts=3, backoff="constant", min="5s"))
    def hook(ctx):
        return ctx.step.run("post", lambda: httpx.post("https://hooks.example.com/in", timeout=60).status_code)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://hooks.example.com/in").mock(
            side_effect=[jobsim.delayed("30s", 200), jobsim.delayed("20s", 200), jobsim.delayed("1s", 200)])
        sim.crash_worker(at="2025-03-03T00:00:10Z", function="hook")
        sim.downtime("2025-03-03T00:00:20Z", "2025-03-03T00:01:00Z")
        sim.send("go")
        sim.run_until_idle()
    assert [(type(c.error).__name__, str(c.error)) for c in sim.http.calls[:2]] == [
        ("WorkerCrashed", "the worker died at 2025-03-03T00:00:10.000Z (sim.crash_worker())"),
        ("WorkerCrashed", "the worker died at 2025-03-03T00:00:20.000Z (sim.downtime())")]
    assert [r.data.get("error", r.data.get("status")) for r in sim.trace.of("http")] == [
        "WorkerCrashed: the worker died at 2025-03-03T00:00:10.000Z (sim.crash_worker())",
        "WorkerCrashed: the worker died at 2025-03-03T00:00:20.000Z (sim.downtime())", 200]
    assert sim.runs("hook")[0].end_ns == instant_ns("2025-03-03T00:01:01Z")
    result = jobsim.Simulation.replay(sim.trace, app)
    assert result.same, result.report()


def _gathering_app():
    import httpx

    app = jobsim.App("g")

    @app.function("fan-out", on="go", retries=0)
    async def fan_out(ctx):
        async def fetch_all():
            async with httpx.AsyncClient() as client:
                answers = await asyncio.gather(*(client.get(f"https://api.example.com/{i}") for i in range(4)))
                return [a.status_code for a in answers]

        return await ctx.step.run("fetch", fetch_all)

    return app


def test_async_requests_gathered_together_wait_for_their_answers_side_by_side():
    # each delayed answer spent its time blocking the loop: four 2 s calls gathered took 8 s, one after another
    app = _gathering_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get(url__regex=r"https://api\.example\.com/\d").mock(side_effect=[jobsim.delayed("2s", 200)] * 4)
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("fan-out")
    assert run.output == [200] * 4 and iso(run.end_ns) == "2025-03-03T00:00:02.000Z"
    assert [(c.at.second, c.elapsed.total_seconds()) for c in sim.http.calls] == [(0, 2.0)] * 4
    assert jobsim.Simulation.replay(sim.trace, app).same  # answered from the recording: side by side too


def test_a_crash_cuts_every_gathered_async_request_in_the_order_they_were_made_and_replays_the_same():
    app = _gathering_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get(url__regex=r"https://api\.example\.com/\d").mock(side_effect=[jobsim.delayed("2s", 200)] * 4)
        sim.crash_worker(at="2025-03-03T00:00:01Z")
        sim.send("go")
        sim.run_until_idle()
    assert [(c.request.url.path, type(c.error).__name__, c.elapsed.total_seconds()) for c in sim.http.calls] == [
        (f"/{i}", "WorkerCrashed", 1.0) for i in range(4)]  # not CancelledError, and in a fixed order
    assert sim.runs("fan-out")[0].status == "failed"
    result = jobsim.Simulation.replay(sim.trace, app)
    assert result.same, result.report()


# -- each system's answer -----------------------------------------------------------------------------


def test_inngest_retries_the_step_and_keeps_the_memoized_ones():
    sim, log, run = crash_run("inngest")
    assert log == [("charge", 0), ("receipt", 0), ("receipt", 1), ("receipt done", 1)]
    assert run.status == "completed"
    retry = sim.trace.of("retry")[0].data
    assert (retry["step"], retry["attempt"], iso(retry["at"])) == ("receipt", 1, "2025-03-03T09:00:34.454Z")
    assert 15 * 10**9 <= retry["delay"] < 45 * 10**9  # 15 s + U[0, 30 s) after the crash (09:00:10)
    assert iso(run.end_ns) == "2025-03-03T09:00:54.454Z"  # then 20 s


def test_bullmq_stalled_job_runs_again_from_the_start_once():
    sim, log, run = crash_run("bullmq")
    assert log == [("charge", 0), ("receipt", 0), ("charge", 0), ("receipt", 0), ("receipt done", 0)]
    (recover,) = sim.trace.of("recover")
    assert iso(recover.at) == "2025-03-03T09:00:30.000Z"  # lock renewed at 09:00:00, scans at :00 and :30
    assert run.status == "completed" and iso(run.end_ns) == "2025-03-03T09:00:50.000Z"


@pytest.mark.parametrize(
    ("started", "crashed", "noticed"),
    [
        ("09:00:00", "09:00:10", "09:00:30"),  # last renewal 09:00:00: marked at :00, lock gone, moved at :30
        ("09:00:07", "09:00:25", "09:01:00"),  # renewed at :22: marked at :30, lock gone at :52, moved at 09:01:00
        ("09:00:07", "09:00:20", "09:01:00"),  # renewed at :07: lock held until :37, so not at :30
        # renewed at :30, marked by the :30 scan (a renewal at the same instant comes first), lock gone at 09:01:00
        ("09:00:00", "09:00:40", "09:01:00"),
    ],
)
def test_bullmq_stalled_recovery_follows_lock_renewals_and_the_checker_grid(started, crashed, noticed):
    app = jobsim.App("s")

    @app.function("f", cron=f"{int(started[-2:])} 0 9 * * *")
    def f(ctx):
        time.sleep(60)

    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:
        sim.crash_worker(at=f"2025-03-03T{crashed}Z")
        sim.advance("10h")
    assert times(sim.trace.of("recover")) == [f"{noticed}.000"]


def test_bullmq_fails_a_job_that_stalls_twice_whatever_attempts_it_has_left():
    # moveStalledJobsToWait-9.lua sets the deferred failure once stc > maxStalledCount (1); the worker
    # fails the job with an UnrecoverableError when it next picks it (worker.ts getUnrecoverableErrorMessage)
    log = []
    app = billing_app(log, on="go", retries=jobsim.BullMQBackoff(3, "fixed", "1s"))
    with jobsim.Simulation(app, start="2025-03-03T09:00:00Z", profile="bullmq") as sim:
        sim.send("go")
        sim.crash_worker(at="2025-03-03T09:00:10Z")
        sim.crash_worker(at="2025-03-03T09:00:40Z")  # 10 s into the re-run
        sim.advance("1d")
    run = sim.runs("billing")[0]
    assert run.status == "failed" and str(run.error) == "job stalled more than allowable limit"
    assert isinstance(run.error, WorkerCrashed)
    assert times(sim.trace.of("recover")) == ["09:00:30.000", "09:01:00.000"]
    # the second record said "rerun" (the system runs it again from the start) for the job it failed
    assert [r.data["then"] for r in sim.trace.of("recover")] == ["rerun", "fail"]
    assert "recover   billing#1: the stalled-job checker found it stalled more than maxStalledCount (1) times " \
           "and moved it to failed; the system fails the attempt" in sim.timeline()
    assert iso(run.end_ns) == "2025-03-03T09:01:00.000Z"
    assert [a.number for a in run.attempts] == [0, 0]  # stalls consume no attempt; the 2 left are not used
    assert sim.trace.of("retry") == []


def test_bullmq_reruns_a_job_scheduler_job_however_often_it_stalls():
    # moveStalledJobsToWait-9.lua: "Only fail job if it exceeds stall limit AND is not a repeatable job"
    log = []
    with jobsim.Simulation(billing_app(log), start=START, profile="bullmq") as sim:
        sim.crash_worker(at="2025-03-03T09:00:10Z")
        sim.crash_worker(at="2025-03-03T09:00:40Z")
        sim.crash_worker(at="2025-03-03T09:01:10Z")
        sim.advance("1d")
    run = sim.runs("billing")[0]
    assert times(sim.trace.of("recover")) == ["09:00:30.000", "09:01:00.000", "09:01:30.000"]
    assert run.status == "completed" and iso(run.end_ns) == "2025-03-03T09:01:50.000Z"
    assert log.count(("charge", 0)) == 4


def test_agenda_runs_the_job_again_when_the_lock_expires_as_often_as_it_takes():
    log = []
    with jobsim.Simulation(billing_app(log), start=START, profile="agenda") as sim:
        sim.crash_worker(at="2025-03-03T09:00:10Z")
        sim.crash_worker(at="2025-03-03T09:10:05Z")
        sim.advance("1d")
    run = sim.runs("billing")[0]
    # lockedAt + 10 min, at a 5 s poll: the 08:59:55 poll locked the 09:00 job ahead (nextScanAt 09:00), so
    # its lock expires at 09:09:55; the re-run is locked by that poll, so the second expires at 09:19:55
    assert times(sim.trace.of("recover")) == ["09:09:55.000", "09:19:55.000"]
    assert run.status == "completed" and iso(run.end_ns) == "2025-03-03T09:20:15.000Z"
    assert log.count(("charge", 0)) == 3


def test_quirrel_fails_a_stale_job_after_an_hour_and_retries_only_if_told():
    _, log, run = crash_run("quirrel", until="1d")
    assert run.status == "failed" and str(run.error) == "Job Timed Out: processing for 60 minutes"
    assert iso(run.end_ns) == "2025-03-03T10:00:00.000Z"

    app = jobsim.App("q")
    log = []

    @app.function("f", on="go", retries=jobsim.QuirrelRetry(["10s"]))
    def f(ctx):
        log.append(ctx.attempt)
        time.sleep(20)

    with jobsim.Simulation(app, start="2025-03-03T09:00:30Z", profile="quirrel") as sim:
        sim.send("go")
        sim.crash_worker(at="2025-03-03T09:00:40Z")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "completed" and log == [0, 1]
    # stale at the first minute scan (from the simulation's start, 09:00:30) at or after 10:00:30;
    # the retry (runAt + 10 s) is long overdue: it runs at once
    assert iso(run.attempts[1].start_ns) == "2025-03-03T10:00:30.000Z"


def test_trigger_dev_notices_five_minutes_after_the_last_heartbeat_and_retries_from_the_start():
    _, log, run = crash_run("trigger.dev", at="2025-03-03T09:00:45Z", sleep=60)
    assert run.status == "failed" and iso(run.end_ns) == "2025-03-03T09:05:30.000Z"  # heartbeat at 09:00:30
    assert str(run.error) == "TASK_RUN_STALLED_EXECUTING: no heartbeat for 5 minutes"

    _, log, run = crash_run("trigger.dev", at="2025-03-03T09:00:45Z", sleep=60, retries=Retries(2))
    assert run.status == "completed"
    assert log == [("charge", 0), ("receipt", 0), ("charge", 1), ("receipt", 1), ("receipt done", 1)]
    assert iso(run.attempts[1].start_ns) == "2025-03-03T09:05:30.250Z"  # the stall's own retry: + 250 ms


def test_trigger_dev_retries_a_stalled_run_after_250_ms_whatever_the_backoff():
    """triggerdotdev/trigger.dev internal-packages/run-engine/src/engine/index.ts #handleStalledSnapshot (EXECUTING):
    attemptFailed with retry {timestamp: Date.now() + 250, delay: 250} and forceRequeue; retrying.ts
    retryOutcomeFromCompletion returns those settings (not calculateNextRetryDelay's) while attemptNumber <
    maxAttempts. A one-minute backoff, which an error would wait, does not apply to a stall."""
    slow = jobsim.TriggerDevRetry(3, factor=1, min="1m", max="1m", randomize=False)
    _, _, run = crash_run("trigger.dev", at="2025-03-03T09:00:45Z", sleep=60, retries=slow)
    assert run.status == "completed"
    assert [iso(a.start_ns) for a in run.attempts] == ["2025-03-03T09:00:00.000Z", "2025-03-03T09:05:30.250Z"]
    # the last attempt stalls: no attempt left, the run fails as the stall is noticed
    _, _, run = crash_run("trigger.dev", at="2025-03-03T09:00:45Z", sleep=60, retries=jobsim.TriggerDevRetry(1))
    assert run.status == "failed" and iso(run.end_ns) == "2025-03-03T09:05:30.000Z"


@pytest.mark.parametrize("profile", ["node-cron", "vercel-cron"])
def test_node_cron_and_vercel_lose_the_run(profile):
    sim, log, run = crash_run(profile, at="2025-03-03T09:01:10Z", sleep=120)  # Vercel starts within 09:00-09:01
    assert run.status == "lost" and ("receipt done", 0) not in log
    assert sim.trace.of("recover") == []


def test_a_crash_frees_the_concurrency_slot_at_the_crash_instant():
    app = jobsim.App("c")
    started = []

    @app.function("f", on="go", concurrency=1)
    def f(ctx):
        started.append(datetime.datetime.now(datetime.timezone.utc).isoformat())
        time.sleep(60)

    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:
        sim.send("go")
        sim.send("go")
        sim.crash_worker(at="2025-03-03T00:00:10Z")
        sim.advance("5m")
    assert started[:2] == ["2025-03-03T00:00:00+00:00", "2025-03-03T00:00:10+00:00"]


def test_vercel_kills_a_function_after_300_seconds():
    app = jobsim.App("v")

    @app.function("slow", cron="0 9 * * *")
    def slow(ctx):
        time.sleep(400)

    with jobsim.Simulation(app, start=START, profile="vercel-cron", seed=2) as sim:
        sim.advance("1d")
    run = sim.runs("slow")[0]
    assert run.status == "failed" and str(run.error) == "Vercel Cron (Pro) killed the function after 5m"
    assert run.end_ns - run.start_ns == 300 * 10**9


# -- downtime -----------------------------------------------------------------------------------------


def test_nothing_starts_while_down_a_persistent_system_runs_it_at_the_end():
    app = jobsim.App("d")

    @app.function("f", on="go", retries=Retries(3))
    def f(ctx):
        ctx.step.sleep("nap", "30m")
        if ctx.attempt == 0:
            raise RuntimeError("first try fails")

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sim.downtime("2025-03-03T00:20:00Z", "2025-03-03T02:00:00Z")
        sim.send("go")  # 00:00: runs, sleeps until 00:30 (inside the window)
        sim.advance("1h")
        sim.send("go")  # 01:00, while down
        sim.run_until_idle()
    first, second = sim.runs("f")
    # asleep until 00:30 (down): woken at 02:00, fails, retried 15 s + U[0, 30 s) later
    assert [iso(a.start_ns)[11:19] for a in first.attempts][:3] == ["00:00:00", "02:00:00", "02:00:23"]
    assert iso(second.attempts[0].start_ns)[11:19] == "02:00:00"
    assert [r.data["phase"] for r in sim.trace.of("fault")] == ["begins", "ends"]


def greeter(**options):
    app = jobsim.App("g")

    @app.function("greet", on="user/created", **options)
    def greet(ctx):
        return "hi"

    return app


@pytest.mark.parametrize("profile", ["inngest", "bullmq", "agenda", "quirrel", "trigger.dev"])
@pytest.mark.parametrize("options", [{}, {"concurrency": 1}], ids=["plain", "flow-controlled"])
def test_a_run_due_while_down_is_queued_and_starts_when_the_system_is_back(profile, options):
    """The timeline said "greet#1 started" at 09:00, inside the window where nothing starts,
    and ``run.started_at`` said 09:00: the run waited, queued, and started at 10:00."""
    if profile == "quirrel" and options:
        options = {"concurrency": 1}  # Quirrel's exclusive queue
    with jobsim.Simulation(greeter(**options), start="2025-03-03T08:00:00Z", profile=profile) as sim:
        sim.downtime("2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z")
        sim.advance_to("2025-03-03T09:00:00Z")
        sim.send("user/created")
        sim.advance("30m")
        (run,) = sim.runs("greet")
        assert (run.status, run.attempts) == ("queued", [])
        sim.advance("30m")
    assert (run.status, run.started_at.isoformat()) == ("completed", "2025-03-03T10:00:00+00:00")
    records = sim.trace.of("run.queued", "run.start")
    assert [(iso(r.at), r.kind, r.data.get("reason"), r.data.get("until")) for r in records] == [
        ("2025-03-03T09:00:00.000Z", "run.queued", "downtime", sim.start_ns + 2 * 3600 * 10**9),
        ("2025-03-03T10:00:00.000Z", "run.start", None, None),
    ]
    assert "queued    greet#1 waits for the system to be back up, 2025-03-03 10:00:00 UTC" in sim.timeline()


def test_a_run_whose_event_ts_falls_in_a_downtime_waits_for_both():
    with jobsim.Simulation(greeter(), start="2025-03-03T08:00:00Z") as sim:
        sim.downtime("2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z")
        sim.send(jobsim.Event("user/created", {}, ts=sim.start_ns // 10**6 + 90 * 60_000))  # 09:30
        sim.run_until_idle()
    assert [(iso(r.at)[11:16], r.kind, r.data.get("reason")) for r in sim.trace.of("run.queued", "run.start")] == [
        ("08:00", "run.queued", "ts"), ("09:30", "run.queued", "downtime"), ("10:00", "run.start", None),
    ]  # fmt: skip


def test_an_attempt_running_when_the_system_goes_down_dies():
    log = []
    with jobsim.Simulation(billing_app(log, sleep=120), start="2025-03-03T08:50:00Z", profile="bullmq") as sim:
        sim.downtime("2025-03-03T09:01:00Z", "2025-03-03T10:00:00Z")
        sim.advance("2h")
    run = sim.runs("billing")[0]
    (fault,) = [r for r in sim.trace.of("fault") if r.data["fault"] == "crash"]
    assert (iso(fault.at), fault.data["cause"], fault.data["step"]) == (
        "2025-03-03T09:01:00.000Z", "downtime", "receipt",
    )  # fmt: skip
    # no stalled-job scan while down: marked at 10:00:00, moved back to wait at 10:00:30
    assert times(sim.trace.of("recover")) == ["10:00:30.000"]
    assert run.status == "completed"


@pytest.mark.parametrize(
    ("profile", "late"),
    [
        ("inngest", ["08:00", "08:30", "09:00", "09:30"]),
        ("quirrel", ["08:00", "08:30", "09:00", "09:30"]),
        ("bullmq", ["08:00"]),
        ("agenda", ["08:00"]),
        ("trigger.dev", ["08:00"]),  # its pending job; the next is computed from now (not 08:30..09:30)
        ("node-cron", []),
        ("vercel-cron", []),
    ],
)
def test_missed_cron_ticks_per_system(profile, late):
    app = jobsim.App("m")

    @app.function("sync", cron="*/30 * * * *")
    def sync(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start="2025-03-03T07:00:00Z", profile=profile) as sim:
        sim.downtime("2025-03-03T08:00:00Z", "2025-03-03T09:50:00Z")  # back between two ticks
        sim.advance("3h30m")
    late_runs = [r.output[11:16] for r in sim.runs("sync") if r.output and "T08" <= r.output[10:13] < "T10"]
    assert late_runs == late
    assert all(r.started_at.strftime("%H:%M") == "09:50" for r in sim.runs("sync") if r.output[11:16] in late)
    missed = [r for r in sim.trace.of("cron.missed") if r.data["outcome"] != "held"]
    assert len(missed) == 4
    outcome = {r.data["outcome"] for r in missed}
    assert outcome == ({"lost"} if profile in ("node-cron", "vercel-cron") else {"down"})
    # Quirrel's job is one at a time: the three after the first wait for it to end (instantly, here)
    held = [r.data["scheduled"][11:16] for r in sim.trace.of("cron.missed") if r.data["outcome"] == "held"]
    assert held == (["08:30", "09:00", "09:30"] if profile == "quirrel" else [])


@pytest.mark.parametrize(
    ("profile", "runs"),
    [
        ("inngest", ["08:00@10:00", "08:30@10:00", "09:00@10:00", "09:30@10:00", "10:00@10:00", "10:30@10:30"]),
        ("quirrel", ["08:00@10:00", "08:30@10:00", "09:00@10:00", "09:30@10:00", "10:00@10:00", "10:30@10:30"]),
        # one pending job, the next computed strictly after the instant it runs: the 10:00 tick is not a 2nd run
        ("bullmq", ["08:00@10:00", "10:30@10:30"]),
        ("agenda", ["08:00@10:00", "10:30@10:30"]),
        # the pending 08:00 job runs late, and its next is the latest tick not yet passed: 10:00 itself
        ("trigger.dev", ["08:00@10:00", "10:00@10:00", "10:30@10:30"]),
        ("node-cron", ["10:00@10:00", "10:30@10:30"]),
    ],
)
def test_a_tick_due_the_instant_the_system_is_back_is_not_run_beside_its_catch_up(profile, runs):
    """reference §2.4 (BullMQ: the pending job runs late once, "then the schedule resumes from now"),
    §5.4 (Agenda: the next run "computed from the actual run time"). A downtime ending on a tick
    (08:00-10:00 with */30) ran the late tick *and* the 10:00 tick on those two: one run too many at
    10:00. Trigger.dev does run both: its pending job (08:00) fires late, and
    calculateNextSchedulableOccurrence then picks prev(now + 1 ms) = 10:00, still eligible
    (effectiveAt >= now), as the next (test_trigger_dev_missed_schedule_runs_its_pending_tick_late)."""
    app = jobsim.App("m")

    @app.function("sync", cron="*/30 * * * *")
    def sync(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start="2025-03-03T07:40:00Z", profile=profile) as sim:
        sim.downtime("2025-03-03T08:00:00Z", "2025-03-03T10:00:00Z")
        sim.advance_to("2025-03-03T10:30:00Z")
    assert [f"{r.output[11:16]}@{r.started_at:%H:%M}" for r in sim.runs("sync")] == runs
    caught_up = [r.data["scheduled"][11:16] for r in sim.trace.of("cron.missed") if r.data["outcome"] == "caught-up"]
    assert caught_up == (["10:00"] if profile in ("bullmq", "agenda") else [])
    if caught_up:
        assert "cron      sync skips its 03-03 10:00:00 tick: the late run just now stands for it" in sim.timeline()


def test_a_system_without_persistence_loses_in_flight_and_pending_runs():
    app = jobsim.App("n")
    done = []

    @app.function("long", cron="0 9 * * *")
    def long(ctx):
        time.sleep(600)
        done.append(1)

    with jobsim.Simulation(app, start=START, profile="node-cron") as sim:
        sim.downtime("2025-03-03T09:05:00Z", "2025-03-03T09:30:00Z")
        sim.advance("1d")
    (run,) = sim.runs("long")
    assert run.status == "lost" and done == [] and iso(run.end_ns) == "2025-03-03T09:05:00.000Z"


def test_downtime_arguments_are_checked():
    app = jobsim.App("x")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"downtime end='2025-03-03T01:00:00Z' is not after start="):
            sim.downtime("2025-03-03T02:00:00Z", "2025-03-03T01:00:00Z")
        sim.advance("1h")
        with pytest.raises(InvalidArgument, match=r"time can't go backwards: start='2025-03-03T00:30:00Z' is before"):
            sim.downtime("2025-03-03T00:30:00Z", "2025-03-03T02:00:00Z")
        sim.downtime("2025-03-03T02:00:00Z", "2025-03-03T03:00:00Z")
        with pytest.raises(InvalidArgument, match=r"overlaps the downtime already set from 2025-03-03T02:00:00.000Z "
                                                  r"to 2025-03-03T03:00:00.000Z; give one window covering both"):
            sim.downtime("2025-03-03T02:30:00Z", "2025-03-03T04:00:00Z")
        with pytest.raises(InvalidArgument, match=r"function='nope' is not valid"):
            sim.crash_worker(function="nope")
        with pytest.raises(InvalidArgument, match=r"times=0 is not valid: an int from 1 to 10,000"):
            sim.duplicate_delivery(times=0)


@pytest.mark.parametrize("fault", [
    lambda sim: sim.crash_worker(),
    lambda sim: sim.downtime("2025-03-03T02:00:00Z", "2025-03-03T03:00:00Z"),
    lambda sim: sim.duplicate_delivery(),
])  # fmt: skip
def test_a_fault_armed_after_the_simulation_closed_is_refused_not_silently_dropped(fault):
    """Like sim.fail: after the close nothing can fire it; it was accepted and did nothing (a test believing it
    had a crash or a downtime checked nothing). Before the start is fine: it fires once the simulation runs."""
    app = jobsim.App("x")
    app.function("f", on="go")(lambda ctx: None)
    early = jobsim.Simulation(app, start=START, profile="bullmq")
    fault(early)
    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:
        sim.advance("1h")
    name = fault.__code__.co_names[0]  # the one attribute the lambda reads
    with pytest.raises(jobsim.JobsimError, match=rf"sim\.{name}\(\) needs a simulation that is not closed: it is "
                                                  r"closed"):
        fault(sim)


@pytest.mark.parametrize(("name", "fault"), [
    ("smtp_fail", lambda mail: mail.smtp_fail(times=2, code=451)),
    ("smtp_delay", lambda mail: mail.smtp_delay("1m")),
    ("smtp_drop", lambda mail: mail.smtp_drop()),
    ("smtp_size_limit", lambda mail: mail.smtp_size_limit(1024)),
])  # fmt: skip
def test_a_mail_fault_armed_after_the_simulation_closed_is_refused_not_written_into_its_trace(name, fault):
    """As sim.fail and the other faults: armed after the close, it was accepted, could never fire, and its
    fault.armed record went into the closed simulation's trace after its last driving call."""
    app = jobsim.App("x")
    app.function("f", on="go")(lambda ctx: None)
    early = jobsim.Simulation(app, start=START)
    fault(early.mail)  # before the start: fires once the simulation runs
    with jobsim.Simulation(app, start=START) as sim:
        sim.advance("1h")
    recorded = len(sim.trace.of("fault.armed"))
    with pytest.raises(jobsim.JobsimError, match=rf"^sim\.mail\.{name}\(\) needs a simulation that is not closed: it "
                                                  r"is closed, so nothing could fire it"):
        fault(sim.mail)
    assert len(sim.trace.of("fault.armed")) == recorded == 0


def test_duplicate_delivery_refuses_more_copies_than_a_simulation_can_hold():
    # times=10**9 was accepted, and on a system that runs copies (Vercel Cron) the tick then made a billion runs in
    # one delivery, which no budget counts: the test hung, growing in memory, with nothing saying why
    app = jobsim.App("x")
    app.function("f", cron="* * * * *")(lambda ctx: None)
    with jobsim.Simulation(app, start=START, profile="vercel-cron") as sim:
        with pytest.raises(InvalidArgument, match=r"^times=1000000000 is not valid: an int from 1 to 10,000: how many "
                                                  r"extra deliveries \(each copy is a run, made at once\)$"):
            sim.duplicate_delivery(times=10**9)
        sim.duplicate_delivery(times=10_000)
        sim.advance("2m")
    first = [r for r in sim.runs("f") if r.event.data["scheduledAt"] == "2025-03-03T00:01:00Z"]
    assert len(first) == 10_001  # the duplicated tick and its copies


# -- duplicate delivery --------------------------------------------------------------------------------


def digest_app(emails):
    app = jobsim.App("d")

    @app.function("digest", cron="0 9 * * *")
    def digest(ctx):
        emails.append(ctx.event.data["scheduledAt"])

    return app


@pytest.mark.parametrize(
    ("profile", "copies", "outcome"),
    [
        ("vercel-cron", 3, "delivered"),
        ("inngest", 1, "Inngest makes one run per cron tick (idempotency key = scheduled time) and per event id"),
        ("bullmq", 1, "BullMQ moves a job to active once; scheduler job ids (repeat:<id>:<millis>) are unique"),
        ("node-cron", 1, "node-cron's heartbeat never runs a slot twice (plan-beat.ts)"),
    ],
)
def test_a_duplicated_tick_runs_only_where_the_system_does_not_dedupe(profile, copies, outcome):
    emails = []
    with jobsim.Simulation(digest_app(emails), start=START, profile=profile, seed=4) as sim:
        sim.duplicate_delivery("digest", at="2025-03-04T00:00:00Z", times=2)
        sim.advance("3d")
    assert emails.count("2025-03-04T09:00:00Z") == copies
    assert len(emails) == copies + 2
    (fault,) = sim.trace.of("fault")
    assert (fault.data["outcome"], fault.data["scheduled"]) == (outcome, "2025-03-04T09:00:00.000Z")
    if profile == "vercel-cron":  # the copies arrive with the original, at its delivery instant
        runs = [r for r in sim.runs("digest") if r.event.data["scheduledAt"].startswith("2025-03-04")]
        assert len({r.start_ns for r in runs}) == 1


def test_a_duplicated_event_start_on_a_system_that_would_run_it():
    loose = dataclasses.replace(BULLMQ, name="bullmq-loose", dedupe=None)  # e.g. a plugin's profile
    app = jobsim.App("e")
    got = []

    @app.function("f", on="order/paid")
    def f(ctx):
        got.append(ctx.event.data["id"])

    for profile, expected in ((loose, ["o1", "o1", "o2"]), ("bullmq", ["o1", "o2"])):
        got.clear()
        with jobsim.Simulation(app, start=START, profile=profile) as sim:
            sim.duplicate_delivery()
            sim.send("order/paid", {"id": "o1"})
            sim.send("order/paid", {"id": "o2"})
            sim.advance(0)
        assert got == expected


def test_the_timeline_tells_the_faults():
    emails = []
    with jobsim.Simulation(digest_app(emails), start="2025-03-03T08:00:00Z", profile="bullmq") as sim:
        sim.downtime("2025-03-03T08:30:00Z", "2025-03-03T09:30:00Z")
        sim.duplicate_delivery("digest", times=1)
        sim.crash_worker(at="2025-03-04T09:00:00Z")
        sim.advance("1d2h")
    lines = [line[24:] for line in sim.timeline().splitlines()[2:]]
    assert lines == [
        "UTC  fault     the system goes down until 2025-03-03 09:30:00 UTC",
        "UTC  cron      digest misses its 03-03 09:00:00 tick (the system is down)",
        "UTC  fault     the system is back up",
        "UTC  fault     digest gets its 03-03 09:00:00 tick delivered 1 extra time(s): dropped (BullMQ moves a job "
        "to active once; scheduler job ids (repeat:<id>:<millis>) are unique)",
        "UTC  cron      digest fires late for its 03-03 09:00:00 tick (0 9 * * *)",
        "UTC  run       digest#1 started by its cron tick",
        "UTC  run       digest#1 completed",
        "UTC  cron      digest fires (0 9 * * *)",
        "UTC  run       digest#2 started by its cron tick",
        "UTC  fault     crash: the worker running digest#2 died",
        "UTC  attempt   digest#2 function body attempt 0 failed: WorkerCrashed: the worker died at "
        "2025-03-04T09:00:00.000Z (sim.crash_worker())",
        "UTC  recover   digest#2: the stalled-job checker moved it back to wait; "
        "the system runs it again from the start",
        "UTC  run       digest#2 completed",
    ]


# -- property: nothing starts while down -----------------------------------------------------------------------
def fault_app() -> jobsim.App:
    app = jobsim.App("p")

    @app.function("charge", on="order/placed", retries=Retries(attempts=4, backoff="constant", min="10s"))
    def charge(ctx):
        ctx.step.run("capture", lambda: ctx.event.data["orderId"])
        time.sleep(30)
        return ctx.step.run("receipt", lambda: "sent")

    @app.function("limited", on="order/placed", concurrency=1)
    def limited(ctx):
        time.sleep(90)
        return "ok"

    return app


@settings(max_examples=40, deadline=None)
@given(profile=st.sampled_from(["inngest", "bullmq", "agenda", "quirrel", "trigger.dev"]),
       faults=st.lists(js.faults(functions=["charge", "limited"], kinds=["fail", "crash", "downtime"], within="30m"),
                       max_size=4).filter(downtimes_disjoint),
       events=js.event_streams({"order/placed": st.fixed_dictionaries({"orderId": st.sampled_from(["o1", "o2"])})},
                               max_size=4, gaps=js.durations(0, "10m")))  # fmt: skip
@example(profile="quirrel", faults=[js.Crash(), js.Crash(), js.Downtime(start="0s", end="2ms")],
         events=js.EventStream((js.Send(after="0s", name="order/placed", data={"orderId": "o1"}),
                                js.Send(after="1ms", name="order/placed", data={"orderId": "o1"}))))  # fmt: skip
def test_no_run_starts_and_no_attempt_begins_inside_a_downtime(profile, faults, events):
    with jobsim.Simulation(fault_app(), start=START, profile=profile) as sim:
        js.apply(sim, faults, events, then="3h")
    windows = [(r.data["start"], r.data["end"]) for r in sim.trace.of("fault") if r.data.get("phase") == "begins"]
    starts = [(r.at, f"run.start {r.data['run']}") for r in sim.trace.of("run.start")]
    starts += [(a.start_ns, f"attempt {a.number} of {run.id}") for run in sim.runs() for a in run.attempts
               if not isinstance(a.error, WorkerCrashed) or a.start_ns < a.end_ns]  # fmt: skip
    for at, what in starts:
        assert not any(a <= at < b for a, b in windows), f"{what} at {iso(at)} inside a downtime {windows}"
    started = {r.data["run"]: r.at for r in sim.trace.of("run.start")}
    for run in sim.runs():
        queued = [r for r in sim.trace.of("run.queued") if r.data["run"] == run.id and r.data["reason"] == "downtime"]
        if queued and run.id in started:  # one that never started (a Quirrel queue jammed for good) keeps its queuing
            assert run.start_ns == started[run.id] >= queued[0].data["until"]


def test_a_tick_in_the_repeated_hour_names_its_zone_on_the_timeline():
    # on the fall-back night 01:30 happens twice in New York: "misses its 11-02 01:30:00 tick" twice, then
    # "fires late for its 11-02 01:30:00 tick" twice, did not say which was which
    app = jobsim.App("t")
    app.function("late-night", cron="30 1 * * *", tz="America/New_York")(lambda ctx: None)
    with jobsim.Simulation(app, start="2025-11-02T05:00:00Z", tz="America/New_York") as sim:
        sim.downtime("2025-11-02T05:20:00Z", "2025-11-02T06:50:00Z")
        sim.advance_to("2025-11-02T07:00:00Z")
    ticks = [line[29:] for line in sim.timeline().splitlines() if "cron " in line]
    assert ticks == [
        "cron      late-night misses its 11-02 01:30:00 EDT tick (the system is down)",
        "cron      late-night misses its 11-02 01:30:00 EST tick (the system is down)",
        "cron      late-night fires late for its 11-02 01:30:00 EDT tick (30 1 * * *)",
        "cron      late-night fires late for its 11-02 01:30:00 EST tick (30 1 * * *)",
    ]


def _quirrel_sync(sleep, **simulate):
    app = jobsim.App("q")

    @app.function("sync", cron="*/10 * * * *")
    def sync(ctx):
        time.sleep(sleep)

    with jobsim.Simulation(app, start="2025-03-03T08:59:30Z", profile="quirrel") as sim:
        if "down" in simulate:
            sim.downtime(*simulate["down"])
        if "crash" in simulate:
            sim.crash_worker(at=simulate["crash"], function="sync")
        sim.advance(simulate.get("until", "2h"))
    return sim, [(r.event.data["scheduledAt"][11:16], r.started_at.strftime("%H:%M"), r.status)
                 for r in sim.runs("sync")]


def test_quirrel_runs_a_cron_job_one_repetition_at_a_time_each_from_the_last_ones_scheduled_time():
    """quirrel-dev/owl src/worker/worker.ts (run-job): nextExecutionDate = getNextExecutionDate(schedule_meta, runAt),
    from the job's *scheduled* runAt (quirrel src/shared/repeat.ts cron(): cron-parser next() after lastDate), handed
    to acknowledge.lua, which ZADDs the job back to the queue only when the run is acknowledged (or failed). A
    CronJob is one job id, so its runs never overlap, and every repetition that passed while one ran runs late,
    back to back: a 25-minute job every 10 minutes starts at 09:00, 09:25 (for 09:10), 09:50 (for 09:20), ..."""
    sim, runs = _quirrel_sync(25 * 60)
    assert [(tick, start) for tick, start, _ in runs[:5]] == [
        ("09:00", "09:00"), ("09:10", "09:25"), ("09:20", "09:50"), ("09:30", "10:15"), ("09:40", "10:40")]
    assert "sync holds its 03-03 09:10:00 tick: sync#1 has not ended" in sim.timeline()
    # a job shorter than its interval is never held
    _, runs = _quirrel_sync(5 * 60)
    assert [(tick, start) for tick, start, _ in runs[:3]] == [
        ("09:00", "09:00"), ("09:10", "09:10"), ("09:20", "09:20")]


def test_quirrel_runs_the_ticks_missed_while_down_one_after_another():
    """owl: the pending repetition (runAt 09:00) runs when Quirrel is back; its acknowledgement re-adds the job at
    cron(09:00) = 09:10, already past, so it runs at once, and so on until the chain catches up with the clock; the
    09:30 tick due the instant it is back is one link of that chain, not a run of its own."""
    _, runs = _quirrel_sync(120, down=("2025-03-03T09:00:00Z", "2025-03-03T09:30:00Z"), until="1h")
    assert [(tick, start) for tick, start, _ in runs] == [
        ("09:00", "09:30"), ("09:10", "09:32"), ("09:20", "09:34"), ("09:30", "09:36"), ("09:40", "09:40"),
        ("09:50", "09:50")]  # fmt: skip


def test_quirrel_holds_a_crashed_cron_jobs_repetitions_until_the_stale_checker_fails_it():
    """The dead run stays in owl's processing set until stale-checker.ts fails it (60 min, checked each minute from
    the simulation's start); only then does acknowledge.lua re-add the job, at cron(09:00) = 09:10."""
    _, runs = _quirrel_sync(120, crash="2025-03-03T09:01:00Z", until="2h")
    assert runs[:3] == [("09:00", "09:00", "failed"), ("09:10", "10:00", "completed"), ("09:20", "10:02", "completed")]


def alerting_app(alerts):
    """'charge' fails for good at once; its on_failure handler, 'charge-failure', spends 10 s in its step 'alert'."""
    app = jobsim.App("pay")

    def alert(ctx):
        ctx.step.run("alert", lambda: (time.sleep(10), alerts.append(ctx.event.data["error"]["message"])))

    @app.function("charge", on="go", retries=0, on_failure=alert)
    def charge(ctx):
        raise jobsim.NonRetriableError("card declined")

    @app.function("refund", on="go")
    def refund(ctx):
        return "refunded"

    return app


def test_sim_fail_takes_an_on_failure_handlers_id_before_its_first_run_and_the_fault_fires_there():
    """The handler is made when a run of its function first fails: sim.fail('charge-failure') was refused before
    that (InvalidArgument: not a simulated function id), and accepted after."""
    alerts = []
    with jobsim.Simulation(alerting_app(alerts), start=START) as sim:
        sim.fail("charge-failure", step="alert", error=jobsim.NonRetriableError("pager down"))
        assert sim.runs("charge-failure") == []
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("charge-failure")
    assert run.status == "failed" and alerts == []
    assert [str(a.error) for a in run.steps["alert"].attempts] == ["pager down"]
    assert [r.data for r in sim.trace.of("fault.armed")] == [
        {"fault": "fail", "function": "charge-failure", "step": "alert", "times": 1,
         "error": {"type": "NonRetriableError", "module": "jobsim.errors", "message": "pager down"}}]  # fmt: skip


def test_crash_worker_takes_an_on_failure_handlers_id_before_its_first_run():
    alerts = []
    with jobsim.Simulation(alerting_app(alerts), start=START) as sim:
        sim.crash_worker(at="2025-03-03T00:00:05Z", function="charge-failure")
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("charge-failure")
    assert run.status == "failed" and alerts == []
    assert [(type(a.error), a.finished_at) for a in run.steps["alert"].attempts] == [
        (WorkerCrashed, datetime.datetime(2025, 3, 3, 0, 0, 5, tzinfo=datetime.timezone.utc))]


def test_the_handlers_random_stream_and_invariants_take_its_id_before_its_first_run():
    alerts = []
    with jobsim.Simulation(alerting_app(alerts), start=START) as sim:
        drawn = sim.rng_for("charge-failure").random()  # the handler's own stream, as after it is made
        jobsim.invariants.no_email_after(sim, "charge-failure")  # no run yet: nothing to check, no refusal
        jobsim.invariants.retries_respect_policy(sim, "charge-failure")
        sim.send("go")
        sim.run_until_idle()
    with jobsim.Simulation(alerting_app([]), start=START) as again:
        again.send("go")
        again.run_until_idle()
        assert again.rng_for("charge-failure").random() == drawn
    assert [run.status for run in sim.runs("charge-failure")] == ["completed"]


@pytest.mark.parametrize("call", ["runs", "fail", "crash_worker"])
def test_the_handler_id_of_a_function_without_on_failure_is_refused_saying_so(call):
    argument = "function" if call == "crash_worker" else "function_id"
    with jobsim.Simulation(alerting_app([]), start=START) as sim:
        aim = (lambda fn: sim.crash_worker(function=fn)) if call == "crash_worker" else getattr(sim, call)
        with pytest.raises(InvalidArgument) as caught:
            aim("refund-failure")
        with pytest.raises(InvalidArgument, match=rf"^{argument}='nope-failure' is not valid: one of the simulated "
                           r"function ids: 'charge', 'refund'$"):  # fmt: skip
            aim("nope-failure")
    assert str(caught.value) == (
        f"{argument}='refund-failure' is not valid: one of the simulated function ids: 'charge', 'refund'; "
        "'refund-failure' would be the on_failure handler of function 'refund', which declares none (give it "
        "on_failure=... to have one)")


def test_a_fault_aimed_at_an_invoke_step_warns_with_an_invoke_step():
    app = jobsim.App("shop")

    @app.function("child", on="child")
    def child(ctx):
        return "c"

    @app.function("parent", on="go")
    def parent(ctx):
        return ctx.step.invoke("call", function=child, data={})

    with pytest.warns(jobsim.FaultWarning) as caught, jobsim.Simulation(app, start=START) as sim:
        sim.fail("parent", step="call")
        sim.send("go")
        sim.run_until_idle()
    assert [str(w.message) for w in caught] == [
        "sim.fail('parent', step='call') never fired: it is an invoke step, which runs no code (sim.fail reaches "
        "step.run and step.send_event steps)"]  # fmt: skip
