"""Profiles checked against the source rules of ``reference/semantics.md``, exact virtual instants.

Each test names the rule it pins and the source line it comes from.
"""

import datetime as dt
import re
import time

import pytest

import jobsim


def _schedule_runs(profile, down, until, cron="*/10 * * * *"):
    app = jobsim.App("audit")

    @app.function("sync", cron=cron)
    def sync(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile=profile) as sim:
        sim.downtime(*down)
        sim.advance_to(until)
    return [f"{r.output[11:16]}@{r.started_at:%H:%M}" for r in sim.runs("sync")]


@pytest.mark.parametrize(
    ("down", "runs"),
    [
        # back between ticks: the pending 00:10 job fires late; 00:20 and 00:30 have expired, so the next
        # occurrence is the first future one (00:40)
        (("00:05", "00:35"), ["00:10@00:35", "00:40@00:40", "00:50@00:50"]),
        # back on a tick: prev(now + 1 ms) = 00:30 is still eligible (effectiveAt >= now): it runs too
        (("00:05", "00:30"), ["00:10@00:30", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
        (("00:15", "00:30"), ["00:10@00:10", "00:20@00:30", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
        # nothing missed but the tick at the very end: it runs once, on time
        (("00:25", "00:30"), ["00:10@00:10", "00:20@00:20", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
    ],
)
def test_trigger_dev_missed_schedule_runs_its_pending_tick_late(down, runs):
    """Trigger.dev's schedule engine keeps one worker job per schedule instance, for the next nominal tick.
    After a downtime that job runs late and triggers *its own* tick (triggerScheduledTask has no lateness
    check; payload.timestamp = exactScheduleTime); then calculateNextSchedulableOccurrence
    (schedule-engine scheduleCalculation.ts) finds the next tick after it expired and jumps to
    prev(now + 1 ms) if its effectiveAt >= now — without a window only a tick due exactly now — else to the
    first tick after now. So the "one late catch-up" is the first missed tick, not the latest: jobsim ran
    the latest missed tick (00:30 at 00:35) and never the first."""
    day = "2026-03-02T"
    got = _schedule_runs("trigger.dev", (f"{day}{down[0]}:00Z", f"{day}{down[1]}:00Z"), f"{day}00:50:00Z")
    assert got == runs


def test_trigger_dev_profile_text_names_the_pending_catch_up():
    doc = " ".join(jobsim.profile("trigger.dev").doc.split())
    assert "the first missed tick" in doc and "latest missed tick" not in doc


def _debounced(profile, sends, **debounce):
    app = jobsim.App("audit")

    @app.function("index", on="doc/edited", debounce=jobsim.Debounce("10s", **debounce))
    def index(ctx):
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile=profile) as sim:
        at = 0
        for t, i in sends:
            sim.advance(f"{t - at}s")
            at = t
            sim.send("doc/edited", {"i": i})
        sim.advance("2m")
    return [(f"{r.started_at:%M:%S}", r.output) for r in sim.runs("index")]


EDITS = [(0, 0), (5, 1), (12, 2), (20, 3), (28, 4), (40, 5)]


@pytest.mark.parametrize(
    ("mode", "runs"),
    [
        # leading (the default): the run made at 00:00 keeps the first payload and its time (00:30, set by the
        # 00:20 trigger: 00:30 is not past 00:00 + 30 s); the 00:28 trigger would push it to 00:38 > 00:30, so
        # it makes a run of its own, due 00:38; the 00:40 trigger finds no delayed run: a third
        (None, [("00:30", 0), ("00:38", 4), ("00:50", 5)]),
        ("trailing", [("00:30", 3), ("00:38", 4), ("00:50", 5)]),
    ],
)
def test_trigger_dev_debounce_max_delay_starts_a_new_run_for_the_trigger_past_it(mode, runs):
    """Trigger.dev debounce with maxDelay (reference §3.3: "with maxDelay (from first trigger) the run is
    released and a new run starts for later triggers"; run-engine debounceSystem.ts handleExistingRun: when
    now + delay > run.createdAt + max it deletes the key and returns max_duration_exceeded, leaving the
    delayed run's delayUntil as it was, and the trigger creates a new run). jobsim pulled the run in to the
    deadline and folded the 00:28 trigger into it (its payload never ran)."""
    assert _debounced("trigger.dev", EDITS, timeout="30s", **({} if mode is None else {"mode": mode})) == runs


def _debounced_ms(sends, **debounce):
    app = jobsim.App("audit")

    @app.function("index", on="doc/edited", debounce=jobsim.Debounce("10s", **debounce))
    def index(ctx):
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile="inngest") as sim:
        at = 0
        for t, i in sends:
            sim.advance(f"{t - at}ms")
            at = t
            sim.send("doc/edited", {"i": i})
        sim.advance("2m")
    return [(f"{r.started_at:%M:%S.%f}"[:9], r.output) for r in sim.runs("index")]


@pytest.mark.parametrize(
    ("timeout", "sends", "runs"),
    [
        # quiet: the job starting the run is enqueued at last event + 10 s + 50 ms + 1 s
        (None, [(0, 0), (5_000, 1)], [("00:16.050", 1)]),
        # timeout 30 s: the 28 s event's ttl is floor((30 - 28) s) = 2 s: job at 31.05 s, with that event
        ("30s", [(0, 0), (8_000, 1), (16_000, 2), (24_000, 3), (28_000, 4)], [("00:31.050", 4)]),
        # the cut ttl is whole seconds, floored: 28.5 s -> 1 s, job at 30.55 s
        ("30s", [(0, 0), (8_000, 1), (16_000, 2), (24_000, 3), (28_500, 4)], [("00:30.550", 4)]),
        # at least 1 s: an event at the cap itself (30 s; the pointer set at 24 s lives until 30 s) joins
        # and pushes the run to 30 + 1 + 1.05 s
        ("30s", [(0, 0), (8_000, 1), (16_000, 2), (24_000, 3), (30_000, 4)], [("00:32.050", 4)]),
        # past the pointer's ttl but before its job: the 10.5 s event finds no debounce and starts a new one,
        # so two runs (the first at 11.05 s with event 0)
        (None, [(0, 0), (10_500, 1)], [("00:11.050", 0), ("00:21.550", 1)]),
    ],
)
def test_inngest_debounce_job_time_and_whole_second_ttl(timeout, sends, runs):
    """Inngest (reference §1.3 "Implementation detail: job enqueued at now+ttl+50ms+1s"; debounce.go
    newDebounce/updateDebounce: queue.Enqueue/RequeueByJobID at now + ttl + buffer (50 ms) + 1 s; the
    pointer key lives ttl (SETEX); updateDebounce.lua cuts ttl to math.floor((timeout - now) / 1000) s, at
    least 1). jobsim started the run at now + period, capped exactly at first + timeout."""
    assert _debounced_ms(sends, **({} if timeout is None else {"timeout": timeout})) == runs


@pytest.mark.parametrize(
    ("wait", "status", "attempts"),
    [("sleep 366d", "sleeping", 1), ("sleep 367d", "failed", 1), ("wait 367d", "failed", 1),
     ("until 367d", "failed", 1)],
)
def test_inngest_a_sleep_or_wait_past_366_days_fails_the_function_without_retry(wait, status, attempts):
    """Inngest: state/opcode.go boundedSleepDuration rejects a sleep past consts.MaxSleepDuration (366 days;
    opcode_test.go: "366d" accepted, "367d" rejected) with ErrTimeoutTooLong, as Expires() does a
    wait-for-event timeout past MaxWaitForEventTimeout; executor.go then fails the function at once
    (shouldFailEarly: NoRetry). jobsim retried it 4 times with the table backoff, failing the same way."""
    import datetime as dt

    app = jobsim.App("audit")
    kind, length = wait.split()

    @app.function("remind", on="go")
    def remind(ctx):
        if kind == "sleep":
            ctx.step.sleep("later", length)
        elif kind == "wait":
            ctx.step.wait_for_event("reply", event="reply", timeout=length)
        else:
            start = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
            ctx.step.sleep_until("later", start + dt.timedelta(days=int(length[:-1])))

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile="inngest") as sim:
        sim.send("go")
        sim.advance("1h")
    run = sim.runs("remind")[0]
    assert (run.status, len(run.attempts)) == (status, attempts)
    if status == "failed":
        assert isinstance(run.error, jobsim.InvalidArgument)
        assert "longer than inngest's maximum of 366d" in str(run.error)


@pytest.mark.parametrize(
    ("fails_at", "after", "retries_at"),
    [
        # under 1 s: clipped to the failure's whole second + 1 s (headers.go parseRetry: now.Truncate(time.Second))
        (0.7, "200ms", 1.0),
        (0.7, dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc), 1.0),  # an instant already past
        # between 1 s and 24 h: the instant itself, to the millisecond inngest-py sends (to_iso_utc)
        (0.7, "2h", 7200.7),
        (0.0004567, "1.5s", 1.5),
        # over 24 h: the failure's whole second + 24 h
        (0.7, "2d", 86400.0),
    ],
)
def test_inngest_retry_after_instant_millisecond_and_clip_to_the_whole_second(fails_at, after, retries_at):
    app = jobsim.App("audit")

    @app.function("sync", on="go", retries=2)
    def sync(ctx):
        def pull():
            if ctx.attempt == 0:
                time.sleep(fails_at)
                raise jobsim.RetryAfterError(after)
            return "ok"

        return ctx.step.run("pull", pull)

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z") as sim:
        sim.send("go", {})
        sim.run_until_idle()
    first, second = [a for a in sim.runs("sync")[0].attempts if a.step == "pull"]
    t0 = int(dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    assert first.end_ns - t0 == round(fails_at * 1e9)
    assert second.start_ns - t0 == round(retries_at * 1e9)


def test_retry_after_is_exact_where_the_system_names_no_such_rules():
    # Trigger.dev's catchError {retryAt}: honoured as given, to the nanosecond, no clipping
    app = jobsim.App("audit")

    @app.function("sync", on="go", retries=2)
    def sync(ctx):
        if ctx.attempt == 0:
            time.sleep(0.0004567)
            raise jobsim.RetryAfterError("200ms")
        return "ok"

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile="trigger.dev") as sim:
        sim.send("go", {})
        sim.run_until_idle()
    first, second = sim.runs("sync")[0].attempts
    assert second.start_ns - first.end_ns == 200_000_000


def test_a_retry_after_clamped_to_a_grid_below_now_retries_now_and_its_trace_reads_back(tmp_path):
    """A profile of one's own that clamps a retry-after to a whole-second grid with no minimum: an instant already
    past was clamped to the grid's start, before the failure, so the retry record said delay -0.5 s (at before
    the failure), which the trace reader refuses: the saved trace could not be read back."""
    import jobsim.traces

    grid = jobsim.Profile(name="grid", description="retry-after on a 1 s grid", retry_after_clamp_grid_ns=10**9,
                          default_retries=jobsim.Retries(attempts=3))  # fmt: skip
    app = jobsim.App("audit")

    @app.function("sync", on="go", retries=2)
    def sync(ctx):
        if ctx.attempt == 0:
            time.sleep(0.5)
            raise jobsim.RetryAfterError(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
        return "ok"

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile=grid) as sim:
        sim.send("go", {})
        sim.run_until_idle()
        path = sim.trace.save(tmp_path / "grid.jsonl", redact=False)
    first, second = sim.runs("sync")[0].attempts
    assert second.start_ns == first.end_ns  # due at once
    [retry] = jobsim.traces.load(path).of("retry")
    assert (retry.data["delay"], retry.data["at"]) == (0, first.end_ns)


@pytest.mark.parametrize("timeout", ["10s", "5s"])
def test_trigger_dev_refuses_a_debounce_timeout_not_longer_than_its_period(timeout):
    """triggerdotdev/trigger.dev apps/webapp/app/runEngine/services/triggerTask.server.ts #validateDebounceWindow:
    `if (maxDelayMs <= delayMs) throw new ServiceValidationError("debounce.maxDelay (...) must be longer than
    debounce.delay ...")` (docs/triggering.mdx: "the trigger is rejected"). jobsim ran such a function."""
    with pytest.raises(jobsim.UnsupportedFeature, match=re.escape(
            f"Trigger.dev cannot run function 'index': Debounce(period='10s', timeout='{timeout}'): Trigger.dev "
            "rejects a trigger whose maxDelay is not longer than its delay")):
        _debounced("trigger.dev", EDITS, timeout=timeout)
    assert _debounced("trigger.dev", EDITS, timeout="11s")  # longer: taken
    assert _debounced("inngest", EDITS, timeout="10s")  # Inngest has no such rule
