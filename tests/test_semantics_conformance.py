"""The built-in profiles checked claim by claim against ``reference/semantics.md`` (session 23 audit).

Each test names the claim (reference section) and the upstream source that settles it. Most pin behaviour
that already agreed; ``test_inngest_refuses_more_than_ten_triggers`` pins a divergence the audit fixed.
"""

import itertools
import random
import time

import pytest

import jobsim

START = "2026-03-02T00:00:00Z"


def _app(**options):
    app = jobsim.App("conform")

    @app.function("f", **options)
    def f(ctx):
        return None

    return app


# §1.1: "up to 10 triggers per function (pkg/consts/consts.go : MaxTriggers = 10)"; the server refuses more
# (pkg/inngest/trigger.go MultipleTriggers.Validate: "This function exceeds the max number of triggers: 10").
@pytest.mark.parametrize(
    "triggers",
    [
        {"on": [f"e/{i}" for i in range(11)]},
        {"on": ["e/0"], "cron": [f"{i} * * * *" for i in range(10)]},
        {"cron": [f"{i} * * * *" for i in range(11)]},
    ],
)
def test_inngest_refuses_more_than_ten_triggers(triggers):
    with pytest.raises(jobsim.errors.UnsupportedFeature, match=r"11 triggers.*at most 10") as caught:
        jobsim.Simulation(_app(**triggers), start=START)
    assert caught.value.feature == "triggers"


@pytest.mark.parametrize(
    "triggers", [{"on": [f"e/{i}" for i in range(10)]}, {"on": ["e/0"], "cron": [f"{i} * * * *" for i in range(9)]}]
)
def test_inngest_takes_ten_triggers(triggers):
    with jobsim.Simulation(_app(**triggers), start=START) as sim:
        sim.advance("1m")


def test_the_trigger_limit_is_inngests_only():
    with jobsim.Simulation(_app(on=[f"e/{i}" for i in range(11)]), start=START, profile="bullmq") as sim:
        sim.send("e/10")
        sim.advance("1s")
    assert [r.status for r in sim.runs("f")] == ["completed"]


# -- retries: attempt counts and delays (§1.2, §2.2, §3.2, §4.2, §5.2) ---------------------------------------------
def _attempt_offsets(profile, retries=None, seed=0):
    app = jobsim.App("conform")

    @app.function("f", on="go", **({} if retries is None else {"retries": retries}))
    def f(ctx):
        raise RuntimeError("boom")

    with jobsim.Simulation(app, start=START, profile=profile, seed=seed) as sim:
        sim.send("go")
        sim.advance("30d")
    (run,) = sim.runs("f")
    first = run.attempts[0].start_ns
    return run.status, [(a.start_ns - first) / 1e9 for a in run.attempts]


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev", "quirrel", "agenda"])
def test_no_retries_unless_configured(profile):
    """BullMQ attempts 0/1, Trigger.dev without retry config (retrying.ts fail_run), Quirrel, Agenda: one attempt."""
    assert _attempt_offsets(profile) == ("failed", [0.0])


@pytest.mark.parametrize("seed", range(8))
def test_inngest_default_five_attempts_on_the_table_plus_up_to_30s(seed):
    """§1.2: 4 retries; T[a] + U[0, 30 s) after attempt a fails, T = 15s, 30s, 1m, 2m (backoff.go TableBackoff)."""
    status, at = _attempt_offsets("inngest", seed=seed)
    gaps = [round((b - a) * 1e9) for a, b in itertools.pairwise(at)]
    assert status == "failed" and len(at) == 5
    for gap, base in zip(gaps, (15, 30, 60, 120), strict=True):
        assert base * 10**9 <= gap < (base + 30) * 10**9 and gap % 10**6 == 0  # whole milliseconds


@pytest.mark.parametrize(
    ("profile", "retries", "offsets"),
    [
        # §2.2: {attempts: 5, backoff: {type: 'exponential', delay: 1000}} retries at +1s, +2s, +4s, +8s
        ("bullmq", jobsim.BullMQBackoff(5, "exponential", "1000ms"), [0, 1, 3, 7, 15]),
        ("bullmq", jobsim.BullMQBackoff(3, "fixed", "500ms"), [0, 0.5, 1.0]),
        ("bullmq", jobsim.Retries(3), [0, 0, 0]),  # no backoff type: straight back to wait
        # §3.2, randomize off: round(min(max, min*factor^(n-1)))
        ("trigger.dev", jobsim.TriggerDevRetry(5, randomize=False), [0, 1, 3, 7, 15]),
        ("trigger.dev", jobsim.TriggerDevRetry(4, 10, "1s", "30s", randomize=False), [0, 1, 11, 41]),
        # §4.2: offsets from the original runAt: T, T+10s, T+5min, T+1h
        ("quirrel", jobsim.QuirrelRetry(["10s", "5m", "1h"]), [0, 10, 300, 3600]),
    ],
)
def test_retry_schedules(profile, retries, offsets):
    assert _attempt_offsets(profile, retries) == ("failed", [float(o) for o in offsets])


@pytest.mark.parametrize("seed", range(8))
def test_trigger_dev_default_retry_options_randomize_between_one_and_two(seed):
    """§3.2: defaultRetryOptions with 3 attempts: retry 1 after 1-2 s, retry 2 after 2-4 s."""
    _, at = _attempt_offsets("trigger.dev", jobsim.Retries(3), seed=seed)
    assert len(at) == 3 and 1 <= at[1] < 2 and 2 <= at[2] - at[1] < 4


def test_agenda_presets_and_retry_counts():
    """§5.2 presets: aggressive exp(100ms, x2, 3), standard exp(1s, x2, 5, j=0.1), relaxed exp(5s, x3, 4, j=0.1)."""
    rng = random.Random(0)
    aggressive, standard, relaxed = (jobsim.AgendaBackoff.aggressive(), jobsim.AgendaBackoff.standard(),
                                     jobsim.AgendaBackoff.relaxed())  # fmt: skip
    assert (aggressive.attempts, standard.attempts, relaxed.attempts) == (4, 6, 5)
    assert [aggressive.delay_ns(k, rng) // 10**6 for k in (1, 2, 3)] == [100, 200, 400]
    for k in range(1, 6):
        assert 0.9 * 1000 * 2 ** (k - 1) - 1 <= standard.delay_ns(k, rng) / 1e6 <= 1.1 * 1000 * 2 ** (k - 1) + 1
        assert 0.9 * 5000 * 3 ** (k - 1) - 1 <= relaxed.delay_ns(k, rng) / 1e6 <= 1.1 * 5000 * 3 ** (k - 1) + 1
    linear = jobsim.AgendaBackoff("linear", "1000ms", max_delay="2500ms")
    assert [linear.delay_ns(k, rng) // 10**6 for k in (1, 2, 3)] == [1000, 2000, 2500]  # increment = delay, capped


@pytest.mark.parametrize(("profile", "most"), [("inngest", 21), ("trigger.dev", 250), ("quirrel", 11)])
def test_attempt_caps(profile, most):
    """Inngest MaxRetries 20; Trigger.dev 250 attempts (run-engine consts.ts); Quirrel 1..10 retry offsets."""
    assert jobsim.profile(profile).max_attempts == most


# -- flow control windows (§1.3) -------------------------------------------------------------------------------------
def _starts(sends, **options):
    app = jobsim.App("conform")

    @app.function("f", on="go", **options)
    def f(ctx):
        return [e.data["i"] for e in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        at = 0
        for t, i in sends:
            sim.advance(f"{t - at}ms")
            at = t
            sim.send("go", {"i": i})
        sim.advance("3h")
    return [(r.status, (r.start_ns - _START_NS) // 10**6, r.output) for r in sim.runs("f")]


_START_NS = 1772409600 * 10**9  # START


def test_rate_limit_is_gcra_with_a_tenth_as_burst():
    """limit 10 / 1 h: 2 at once, then one per 6 min (ratelimit_lua_test.go "should handle burst correctly")."""
    got = _starts([(0, 0), (0, 1), (0, 2), (360_000, 3), (361_000, 4), (720_000, 5)],
                  rate_limit=jobsim.RateLimit(10, "1h"))  # fmt: skip
    assert [(s, t) for s, t, _ in got] == [("completed", 0), ("completed", 0), ("skipped", 0), ("completed", 360_000),
                                          ("skipped", 361_000), ("completed", 720_000)]  # fmt: skip


@pytest.mark.parametrize(("burst", "at_once"), [(None, 3), (2, 5)])
def test_throttle_capacity_is_limit_plus_burst_then_one_per_emission(burst, at_once):
    """GCRA: limit + burst from rest (burst 0 when the SDK omits it: function.go leaves the 0 -> 1 normalization
    commented out at 253303cd), then one per period / limit, queued FIFO, never dropped."""
    got = _starts([(0, i) for i in range(at_once + 2)], throttle=jobsim.Throttle(3, "1s", burst=burst))
    assert [t for _, t, _ in got] == [0] * at_once + [334, 667]
    assert [o for _, _, o in got] == [[i] for i in range(at_once + 2)]


def test_batch_timeout_runs_from_the_first_event_and_a_full_batch_at_once():
    got = _starts([(0, 0), (5_000, 1), (12_000, 2), (13_000, 3), (13_500, 4), (14_000, 5)],
                  batch=jobsim.Batch(max_size=3, timeout="10s"))  # fmt: skip
    assert [(t, o) for _, t, o in got] == [(10_000, [0, 1]), (13_500, [2, 3, 4]), (24_000, [5])]


def test_debounce_last_event_wins_and_timeout_caps_from_the_first():
    """Each event pushes to now + period; never past first + timeout; the job starts ttl + 50 ms + 1 s later."""
    got = _starts([(0, 0), (5_000, 1), (10_000, 2), (15_000, 3), (19_000, 4), (25_000, 5)],
                  debounce=jobsim.Debounce("10s", timeout="20s"))  # fmt: skip
    assert [(t, o) for _, t, o in got] == [(21_050, [4]), (36_050, [5])]


def test_idempotency_is_one_run_per_key_per_24h():
    day = 86_400_000
    got = _starts([(0, 0), (10_000, 0), (day - 1, 0), (day, 0), (day + 1, 0)], idempotency="event.data.i")
    assert [s for s, _, _ in got] == ["completed", "skipped", "skipped", "completed", "skipped"]


def test_priority_factor_is_clamped_to_twelve_hours():
    """consts.PriorityFactorMax/Min = ±43 200 s: 100 000 s ranks with 43 200 s, in arrival order."""
    app = jobsim.App("conform")

    @app.function("p", on="go", concurrency=1, priority="int(event.data.p)")
    def p(ctx):
        time.sleep(1)
        return ctx.event.data["n"]

    with jobsim.Simulation(app, start=START) as sim:
        for n, factor in [("first", 0), ("a", 43_200), ("b", 100_000), ("c", 600), ("d", 601)]:
            sim.send("go", {"p": factor, "n": n})
        sim.advance("1m")
    assert [r.output for r in sorted(sim.runs("p"), key=lambda r: r.start_ns)] == ["first", "a", "b", "d", "c"]


# -- cron dialects (§8) and missed runs (§9) -------------------------------------------------------------------------
def _ticks(profile, cron, until="40d", n=3):
    app = _app(cron=cron)
    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.advance(until)
    return [f"{r.started_at:%m-%d %H:%M:%S}" for r in sim.runs("f")][:n]


@pytest.mark.parametrize(
    ("profile", "ticks"),
    [
        ("inngest", ["03-06 12:00:00", "03-13 12:00:00", "03-20 12:00:00"]),  # robfig dayMatches: OR
        ("bullmq", ["03-06 12:00:00", "03-13 12:00:00", "03-20 12:00:00"]),
        ("node-cron", ["03-13 12:00:00", "11-13 12:00:00"]),  # time-matcher.ts: AND (Friday the 13th)
    ],
)
def test_dom_and_dow_both_restricted(profile, ticks):
    assert _ticks(profile, "0 12 13 * 5", until="300d") == ticks


@pytest.mark.parametrize(
    ("profile", "cron", "refused"),
    [
        ("inngest", "*/20 * * * * *", "seconds field"),
        ("trigger.dev", "*/20 * * * * *", "seconds field"),
        ("vercel-cron", "*/20 * * * * *", "seconds field"),
        ("vercel-cron", "0 12 * * MON", "names"),
        ("vercel-cron", "0 12 13 * 5", "both day-of-month and day-of-week"),
        ("vercel-cron", "TZ=Europe/Paris 0 12 * * *", "TZ="),
        ("vercel-cron-hobby", "0 8,20 * * *", "more than once a day"),
        ("inngest", "@daily", "@descriptors"),
    ],
)
def test_dialect_refusals(profile, cron, refused):
    with pytest.raises(jobsim.errors.UnsupportedFeature, match=refused):
        jobsim.Simulation(_app(cron=cron), start=START, profile=profile)


@pytest.mark.parametrize(("profile", "cron"), [("bullmq", "*/20 * * * * *"), ("agenda", "*/20 * * * * *"),
                                               ("node-cron", "*/20 * * * * *")])  # fmt: skip
def test_six_fields_take_a_leading_seconds_field(profile, cron):
    assert _ticks(profile, cron, until="1m") == ["03-02 00:00:20", "03-02 00:00:40", "03-02 00:01:00"]


def test_inngest_tz_prefix():
    assert _ticks("inngest", "TZ=Europe/Paris 0 12 * * *", until="2d") == ["03-02 11:00:00", "03-03 11:00:00"]


@pytest.mark.parametrize(
    ("profile", "runs"),
    [
        ("inngest", ["00:35 (00:10)", "00:35 (00:20)", "00:35 (00:30)", "00:40 (00:40)", "00:50 (00:50)"]),  # all
        ("quirrel", ["00:35 (00:10)", "00:35 (00:20)", "00:35 (00:30)", "00:40 (00:40)", "00:50 (00:50)"]),  # all
        ("bullmq", ["00:35 (00:10)", "00:40 (00:40)", "00:50 (00:50)"]),  # the pending job, once
        ("trigger.dev", ["00:35 (00:10)", "00:40 (00:40)", "00:50 (00:50)"]),  # one late catch-up
        ("agenda", ["00:35 (00:10)", "00:40 (00:40)", "00:50 (00:50)"]),  # once on start, then from now
        ("node-cron", ["00:40 (00:40)", "00:50 (00:50)"]),  # lost
    ],
)
def test_ticks_missed_while_down(profile, runs):
    app = jobsim.App("conform")

    @app.function("f", cron="*/10 * * * *")
    def f(ctx):
        return ctx.event.data["scheduledAt"][11:16]

    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.downtime("2026-03-02T00:05:00Z", "2026-03-02T00:35:00Z")
        sim.advance_to("2026-03-02T00:50:00Z")
    assert [f"{r.started_at:%H:%M} ({r.output})" for r in sim.runs("f")] == runs


# -- Vercel function duration (§7) -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("spends", "status"), [(300, "completed"), (301, "failed")])
def test_vercel_kills_an_invocation_after_300_seconds_without_retry(spends, status):
    app = jobsim.App("conform")

    @app.function("f", cron="0 8 * * *")
    def f(ctx):
        time.sleep(spends)

    with jobsim.Simulation(app, start=START, profile="vercel-cron") as sim:
        sim.advance("1d")
    (run,) = sim.runs("f")
    assert run.status == status and len(run.attempts) == 1
    if status == "failed":
        assert isinstance(run.attempts[0].error, TimeoutError) and "after 5m" in str(run.attempts[0].error)
        assert run.attempts[0].end_ns - run.attempts[0].start_ns == 300 * 10**9
