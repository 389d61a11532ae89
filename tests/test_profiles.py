"""The seven profiles: retry formulas (exact for a seed, ranges for every seed), options, features."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobsim
import jobsim.invariants
from jobsim import (
    AgendaBackoff,
    BullMQBackoff,
    InvalidArgument,
    Profile,
    QuirrelRetry,
    Retries,
    TriggerDevRetry,
    UnsupportedFeature,
    _plugins,
)
from jobsim._backoffs import js_round
from jobsim._features import FEATURES
from jobsim._profiles import builtin_profiles
from jobsim._systems import SEVEN
from jobsim._time import MS, SECOND, instant_ns, iso
from jobsim.hooks import Adapted, hookimpl


def attempt_offsets(profile, retries=None, seed=7, error=None):
    """Milliseconds from a failing run's start to each of its attempts."""
    app = jobsim.App("a")

    @app.function("f", on="go", retries=retries)
    def f(ctx):
        raise error or RuntimeError("down")

    with jobsim.Simulation(app, start="2025-03-03T00:00:00Z", seed=seed, profile=profile) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "failed"
    jobsim.invariants.retries_respect_policy(sim)  # the exact values below: within the jitter's bounds too
    return [(a.start_ns - run.start_ns) // MS for a in run.attempts]


# -- exact delays for a fixed seed (from function 'f's own stream of seed 7) -----------------------------


@pytest.mark.parametrize(
    ("profile", "retries", "expected"),
    [
        ("inngest", None, [0, 36_997, 78_486, 149_169, 289_515]),  # 15s/30s/1m/2m + U[0,30s)
        ("bullmq", None, [0]),  # attempts: 1
        ("bullmq", BullMQBackoff(5, "exponential", "1s", jitter=0.5), [0, 835, 2_161, 4_383, 11_701]),
        ("bullmq", BullMQBackoff(4, "fixed", "2s", jitter=0.25), [0, 1_835, 3_498, 5_053]),
        ("bullmq", Retries(4, "exponential", "1s"), [0, 1_000, 3_000, 7_000]),
        ("bullmq", Retries(3, "constant", 2), [0, 2_000, 4_000]),  # Retries' bare number: seconds, as ever
        ("bullmq", Retries(3), [0, 0, 0]),  # no backoff type: straight back to wait
        ("trigger.dev", None, [0]),  # off unless configured
        ("trigger.dev", Retries(4), [0, 1_671, 4_323, 8_769]),  # defaultRetryOptions, R in [1, 2)
        ("trigger.dev", TriggerDevRetry(5, factor=3, min="500ms", max="5s"), [0, 836, 2_825, 7_825, 12_825]),
        ("quirrel", None, [0]),
        ("quirrel", QuirrelRetry(["10s", "5m", "1h"]), [0, 10_000, 300_000, 3_600_000]),
        ("quirrel", Retries(4, "exponential", "10s"), [0, 10_000, 30_000, 70_000]),  # retry: 10s, 30s, 70s
        ("agenda", None, [0]),
        # the backoff formulas, polled every millisecond so that every retry starts when it is due
        ("agenda(process_every=1ms)", AgendaBackoff.standard(), [0, 1_034, 2_964, 6_653, 15_181, 32_542]),
        ("agenda(process_every=1ms)", Retries(4), [0, 1_000, 3_000, 7_000]),  # exponential from 1 s, x2
        # 100 * 1.5^3 = 337.5 ms: Job.ts handleRetry's new Date(Date.now() + 337.5) drops the fraction
        ("agenda(process_every=1ms)", AgendaBackoff("exponential", "100ms", factor=1.5, max_retries=4),
         [0, 100, 250, 475, 812]),
        # Agenda's default 5 s poll (jobsim/_polling.py): a retry due sooner than the poll after its failure
        # starts at that poll (1.03 s, 1.93 s and 3.69 s here; the poll that started an attempt has already
        # looked); one due later (8.5 s and 17.4 s) was found ahead by a poll and starts on time
        ("agenda", AgendaBackoff.standard(), [0, 5_000, 10_000, 15_000, 23_528, 40_889]),
        ("agenda", Retries(4), [0, 5_000, 10_000, 15_000]),
        ("agenda", Retries(4, "linear", "10s", max="25s"), [0, 10_000, 30_000, 55_000]),  # >= 5 s: on time
    ],
)  # fmt: skip
def test_attempt_times_for_seed_7(profile, retries, expected):
    assert attempt_offsets(profile, retries) == expected


def test_quirrel_counts_retries_from_the_scheduled_time_not_the_failure():
    app = jobsim.App("q")

    @app.function("f", on="go", retries=QuirrelRetry(["10s", "5m"]))
    def f(ctx):
        import time

        time.sleep(4)  # each attempt takes 4 s before failing
        raise RuntimeError("down")

    with jobsim.Simulation(app, profile="quirrel") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == [0, 10, 300]


@pytest.mark.parametrize(("takes", "starts"), [(20, [0, 20, 60, 300]), (100, [0, 100, 200, 300])])
def test_a_quirrel_attempt_that_outlasts_its_retry_does_not_push_the_later_ones(takes, starts):
    """owl adds the offsets' difference to the job's stored runAt, which an attempt that ran late does not move:
    the retry it outlasted runs at once, the next ones at T + d_k still (they drifted by the lateness)."""
    app = jobsim.App("q")

    @app.function("f", on="go", retries=QuirrelRetry(["10s", "1m", "5m"]))
    def f(ctx):
        import time

        time.sleep(takes)
        raise RuntimeError("down")

    with jobsim.Simulation(app, profile="quirrel") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == starts
    jobsim.invariants.retries_respect_policy(sim)  # it reads the planned times the retry records keep


def test_attempts_are_per_run_and_a_retry_starts_over_on_plain_call_systems():
    app = jobsim.App("r")
    calls = []

    @app.function("f", on="go", retries=Retries(3))
    def f(ctx):
        ctx.step.run("a", calls.append, ("a", ctx.attempt))
        ctx.step.run("b", fail_first_two, ctx.attempt)
        return "ok"

    def fail_first_two(attempt):
        calls.append(("b", attempt))
        if attempt < 2:
            raise RuntimeError(f"b failed on attempt {attempt}")

    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert [(a.number, a.step) for a in run.attempts] == [(0, "b"), (1, "b"), (2, None)]
    assert run.status == "completed" and run.steps["a"].status == "completed"
    assert len(run.steps["b"].attempts) == 3


# -- jitter ranges, for every seed ----------------------------------------------------------------------


@given(k=st.integers(1, 20), delay=st.integers(1, 100_000), jitter=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_bullmq_jitter_stays_within_delay_times_one_minus_j_and_delay(k, delay, jitter, seed):
    for kind, base in (("fixed", delay), ("exponential", js_round(2 ** (k - 1) * delay))):
        got = BullMQBackoff(2, kind, f"{delay}ms", jitter).delay_ns(k, random.Random(seed)) // MS
        assert base * (1 - jitter) - 1 <= got <= base
        if jitter == 0:
            assert got == base


@given(k=st.integers(1, 30), low=st.integers(1, 10_000), factor=st.floats(1, 4), seed=st.integers(0, 2**32))
def test_trigger_dev_delay_is_min_times_factor_power_times_r_in_1_2_capped(k, low, factor, seed):
    policy = TriggerDevRetry(2, factor, f"{low}ms", "1h")
    got = policy.delay_ns(k, random.Random(seed)) // MS
    base = low * factor ** (k - 1)
    assert min(3_600_000, round(base)) - 1 <= got <= min(3_600_000, 2 * base + 1)
    assert TriggerDevRetry(2, factor, f"{low}ms", "1h", randomize=False).delay_ns(k, random.Random(seed)) // MS == (
        js_round(min(3_600_000, base))
    )


@given(k=st.integers(1, 12), delay=st.integers(1, 60_000), jitter=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_agenda_jitter_is_within_plus_minus_j(k, delay, jitter, seed):
    policy = AgendaBackoff("exponential", f"{delay}ms", max_retries=20, jitter=jitter)
    got = policy.delay_ns(k, random.Random(seed)) // MS
    base = delay * 2 ** (k - 1)
    assert max(0, base * (1 - jitter) - 1) <= got <= base * (1 + jitter) + 1


@given(seed=st.integers(0, 2**32))
def test_inngest_first_retry_is_15_to_45_seconds(seed):
    delay = jobsim.TableBackoff().delay_ns(1, random.Random(seed))
    assert 15 * SECOND <= delay < 45 * SECOND and delay % MS == 0


@pytest.mark.parametrize(("profile", "window"), [("vercel-cron", 60), ("vercel-cron-hobby", 3600)])
@given(seed=st.integers(0, 2**32))
def test_vercel_delivers_a_tick_within_its_precision_window(profile, window, seed):
    app = jobsim.App("v")

    @app.function("daily", cron="0 9 * * *")
    def daily(ctx):
        return None

    with jobsim.Simulation(app, start="2025-03-03T00:00:00Z", seed=seed, profile=profile) as sim:
        sim.advance("1d")
    (run,) = sim.runs("daily")
    offset = run.start_ns - jobsim._time.instant_ns("2025-03-03T09:00:00Z")
    assert 0 <= offset < window * SECOND and offset % MS == 0


def test_js_round_rounds_halves_up():
    assert [js_round(x) for x in (2.5, -2.5, 0.49999, 1.5)] == [3, -2, 0, 2]


# -- user options: what each system lets you configure ----------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "retries", "message"),
    [
        ("node-cron", Retries(3), "node-cron cannot run function 'f': it uses retries (retries=) (3 attempts), which "
                                  "node-cron does not have — errors emit execution:failed; nothing is retried"),
        ("vercel-cron", 2, "Vercel Cron (Pro) does not have — \"Vercel will not retry an invocation if a cron job"),
        ("bullmq", Retries(3, "linear", "1s"), "BullMQ's built-in backoffs are fixed and exponential, uncapped, with "
                                               "a jitter *fraction*; use jobsim.BullMQBackoff"),
        ("bullmq", AgendaBackoff(), "retries=AgendaBackoff(type='exponential'"),
        ("trigger.dev", Retries(3, "exponential", "1s", jitter="1s"), "use jobsim.TriggerDevRetry("),
        ("trigger.dev", Retries(251), "251 attempts; Trigger.dev allows at most 250"),
        ("inngest", Retries(22), "22 attempts; Inngest allows at most 21 (the first included)"),
        ("quirrel", Retries(3), "Quirrel has no default retry schedule; give the offsets"),
        ("quirrel", Retries(13, "constant", "1s"), "13 attempts; Quirrel allows at most 11 (the first included)"),
        ("agenda", Retries(3, "exponential", "1s", jitter="1s"), "use jobsim.AgendaBackoff(jitter=0.1)"),
        ("inngest", BullMQBackoff(3), "is BullMQ's retry option; Inngest takes jobsim.Retries(...) or "
                                      "jobsim.TableBackoff(...)"),
    ],
)  # fmt: skip
def test_retries_a_system_cannot_express_are_refused(profile, retries, message):
    app = jobsim.App("a")
    app.function("f", cron="0 9 * * *" if "cron" in profile else None, on=None if "cron" in profile else "go",
                 retries=retries)(lambda ctx: None)  # fmt: skip
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile=profile)
    assert message in str(info.value)
    assert info.value.feature == "retries"


def test_quirrel_refuses_retries_on_a_repeating_job():
    app = jobsim.App("q")
    app.function("f", cron="0 9 * * *", retries=QuirrelRetry(["10s"]))(lambda ctx: None)
    with pytest.raises(UnsupportedFeature, match=r"Quirrel rejects 'retry' together with 'repeat'"):
        jobsim.Simulation(app, profile="quirrel")


def test_non_retriable_and_retry_after_per_system():
    # BullMQ: UnrecoverableError fails at once; RetryAfterError is an ordinary error there
    assert attempt_offsets("bullmq", Retries(3), error=jobsim.NonRetriableError("no")) == [0]
    assert attempt_offsets("bullmq", Retries(2), error=jobsim.RetryAfterError("1h")) == [0, 0]
    # Agenda has no non-retriable error: it retries (after 1 s, at the next 5 s poll)
    assert attempt_offsets("agenda", Retries(2), error=jobsim.NonRetriableError("no")) == [0, 5_000]
    # Trigger.dev honours a retry time (catchError's retryAt), unclamped; Inngest clamps to 24 h
    assert attempt_offsets("trigger.dev", Retries(2), error=jobsim.RetryAfterError("2d")) == [0, 172_800_000]
    assert attempt_offsets("inngest", Retries(2), error=jobsim.RetryAfterError("2d")) == [0, 86_400_000]


def test_policy_objects_validate_their_arguments():
    with pytest.raises(InvalidArgument, match=r"jitter=2 is not valid: a fraction from 0 to 1"):
        BullMQBackoff(3, "fixed", "1s", jitter=2)
    with pytest.raises(InvalidArgument, match=r"type='linear' is not valid: 'fixed', 'exponential' or None"):
        BullMQBackoff(3, "linear")
    # BullMQ's {delay: 1000} is milliseconds, a jobsim number is seconds: a bare number must say which
    with pytest.raises(InvalidArgument, match=r"delay=1000 is not valid: .*'1000ms' for BullMQ's \{delay: 1000\}"):
        BullMQBackoff(3, "exponential", 1000)
    with pytest.raises(InvalidArgument, match=r"delay=2.5 is not valid: .*'2.5s' if you meant seconds"):
        BullMQBackoff(3, "fixed", 2.5)
    assert BullMQBackoff(3, "fixed", 0).delay_ns(1, random.Random(0)) == 0
    with pytest.raises(InvalidArgument, match=r"offsets=\[\] is not valid: 1 to 10 durations"):
        QuirrelRetry([])
    with pytest.raises(InvalidArgument, match=r"max='1s' is not valid: must not be below min='2s'"):
        TriggerDevRetry(3, min="2s", max="1s")
    with pytest.raises(InvalidArgument, match=r"attempts=251 is not valid: expected an int from 1 to 250"):
        TriggerDevRetry(251)
    with pytest.raises(InvalidArgument, match=r"max_retries=-1 is not valid"):
        AgendaBackoff(max_retries=-1)
    with pytest.raises(InvalidArgument, match=r"retries=object\(\) is not valid|retries=<object"):
        jobsim.App("a").function("f", on="x", retries=object())


# -- features: refused with the system's name ----------------------------------------------------------


FEATURE_OPTIONS = {
    "events": {"on": "go"},
    "batch": {"on": "go", "batch": jobsim.Batch(10, "5s")},
    "debounce": {"on": "go", "debounce": jobsim.Debounce("5s")},
    "debounce.timeout": {"on": "go", "debounce": jobsim.Debounce("5s", timeout="1m")},
    "debounce.leading": {"on": "go", "debounce": jobsim.Debounce("5s", mode="leading")},
    "debounce.fraction": {"on": "go", "debounce": jobsim.Debounce("1500ms")},
    "throttle": {"on": "go", "throttle": jobsim.Throttle(1, "1s")},
    "rate_limit": {"on": "go", "rate_limit": jobsim.RateLimit(1, "1s")},
    "idempotency": {"on": "go", "idempotency": "event.data.id"},
    "concurrency": {"on": "go", "concurrency": 1},
    "concurrency.key": {"on": "go", "concurrency": jobsim.Concurrency(1, key="event.data.id")},
    "concurrency.limit": {"on": "go", "concurrency": 3},
    "priority": {"on": "go", "priority": 10},
    "cancel_on": {"on": "go", "cancel_on": [jobsim.Cancel("stop")]},
    "singleton": {"on": "go", "singleton": jobsim.Singleton(mode="skip")},
    "timeouts": {"on": "go", "timeout": "1h"},
    "on_failure": {"on": "go", "on_failure": lambda ctx: None},
    "every": {"every": "5m"},
}
SUPPORTED = {
    # Inngest: redis_state/debounce.go passes the debounce ttl as int(ttl.Seconds())
    "inngest": set(FEATURE_OPTIONS) - {"debounce.leading", "debounce.fraction", "every"},
    "bullmq": {"events", "debounce", "debounce.fraction", "concurrency", "concurrency.limit", "on_failure", "every"},
    "trigger.dev": {"events", "debounce", "debounce.timeout", "debounce.leading", "debounce.fraction", "concurrency",
                    "concurrency.key", "concurrency.limit", "priority", "on_failure"},
    "quirrel": {"events", "concurrency"},
    "agenda": {"events", "debounce", "debounce.timeout", "debounce.fraction", "concurrency", "concurrency.limit",
               "on_failure"},
    "node-cron": set(),
    "vercel-cron": set(),
}  # fmt: skip


@pytest.mark.parametrize("profile", SEVEN)
@pytest.mark.parametrize("feature", sorted(FEATURE_OPTIONS))
def test_feature_matrix(profile, feature):
    app = jobsim.App("a")
    app.function("f", **FEATURE_OPTIONS[feature])(lambda ctx: None)
    if feature in SUPPORTED[profile]:
        jobsim.Simulation(app, profile=profile)
        return
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile=profile)
    label = {p.name: p.label for p in builtin_profiles()}[profile]
    assert str(info.value).startswith(f"{label} cannot run function 'f': it uses ")
    assert info.value.system == label
    assert info.value.feature in FEATURES


@pytest.mark.parametrize(("profile", "mode", "gets"), [
    ("trigger.dev", None, "first"),  # Trigger.dev's debounce.mode defaults to "leading": the first payload
    ("trigger.dev", "leading", "first"),
    ("trigger.dev", "trailing", "last"),
    ("inngest", None, "last"),
    ("inngest", "trailing", "last"),
    ("agenda", None, "last"),
])  # fmt: skip
def test_which_event_a_debounced_run_gets_follows_the_system(profile, mode, gets):
    app = jobsim.App("a")
    got = []

    @app.function("index", on="doc/edited", debounce=jobsim.Debounce("10s", key="event.data.doc", mode=mode))
    def index(ctx):
        got.append(ctx.event.data["n"])

    with jobsim.Simulation(app, profile=profile, start="2025-03-01T00:00:00Z") as sim:
        for n in range(1, 4):
            sim.send("doc/edited", {"doc": "d1", "n": n})
            sim.advance("4s")  # each edit pushes the run: 10 s after the third, at 00:00:18
        sim.run_until_idle()
    assert got == [1 if gets == "first" else 3]
    # Inngest starts it 1.05 s later (debounce.go: the job is enqueued at now + ttl + 50 ms + 1 s)
    assert [run.started_at.strftime("%H:%M:%S.%f")[:12] for run in sim.runs("index")] == [
        "00:00:19.050" if profile == "inngest" else "00:00:18.000"]
    # the timeline says which event the run got (it said "the last" for a leading debounce too)
    assert f"debounce  index#1 gets the {gets} of 3 event(s) (quiet for 10s, key 'd1')" in sim.timeline()


def test_a_leading_debounce_is_refused_where_the_system_has_none():
    with pytest.raises(jobsim.InvalidArgument, match=r"mode='first' is not valid: 'trailing' \(the run gets"):
        jobsim.Debounce("5s", mode="first")
    app = jobsim.App("a")
    app.function("f", on="go", debounce=jobsim.Debounce("5s", mode="leading"))(lambda ctx: None)
    with pytest.raises(UnsupportedFeature, match=r"Inngest cannot run function 'f': it uses a debounce run with the "
                                                 r"first event \(Debounce\(mode='leading'\)\), which Inngest does "
                                                 r"not have — its debounce always runs with the last event"):
        jobsim.Simulation(app)


def test_the_refusal_says_why():
    app = jobsim.App("a")
    app.function("f", on="go", batch=jobsim.Batch(10, "5s"))(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile="bullmq")
    assert str(info.value) == (
        "BullMQ cannot run function 'f': it uses event batching (batch=), which BullMQ does not have — "
        "a BullMQ worker takes one job at a time; nothing collects events into one job"
    )


@pytest.mark.parametrize(
    ("profile", "call", "message"),
    [
        ("bullmq", lambda ctx: ctx.step.sleep("nap", "1h"),
         "BullMQ cannot run function 'f': it uses ctx.step.sleep / ctx.step.sleep_until (step 'nap'), which BullMQ "
         "does not have — a job cannot sleep and resume: moveToDelayed runs it again from the start"),
        ("trigger.dev", lambda ctx: ctx.step.wait_for_event("w", event="x", timeout="1h"),
         "Trigger.dev cannot run function 'f': it uses ctx.step.wait_for_event (step 'w')"),
        ("agenda", lambda ctx: ctx.step.invoke("i", function="f"),
         "Agenda cannot run function 'f': it uses ctx.step.invoke (step 'i')"),
    ],
)  # fmt: skip
def test_a_step_kind_the_system_lacks_stops_the_simulation(profile, call, message):
    app = jobsim.App("a")
    app.function("f", on="go")(call)
    with jobsim.Simulation(app, profile=profile) as sim:
        sim.send("go")
        with pytest.raises(UnsupportedFeature) as info:
            sim.advance(0)
    assert str(info.value) == message or str(info.value).startswith(message)


# -- registration and documentation ------------------------------------------------------------------------


def test_every_builtin_profile_registers_through_the_hook():
    names = {p.name for group in _plugins.manager().hook.jobsim_profiles() for p in group}
    assert set(SEVEN) | {"vercel-cron-hobby"} <= names


@pytest.mark.parametrize("profile", builtin_profiles(), ids=lambda p: p.name)
def test_every_profile_documents_its_rules_and_cites_the_reference(profile):
    assert "reference §" in profile.doc
    topics = ("Hobby", "once a day", "precision") if profile.name == "vercel-cron-hobby" else (
        "Retries:", "Steps:", "Cron", "Features:", "Crash:", "Downtime:", "Duplicate delivery:")
    for topic in topics:
        assert topic in profile.doc


def test_unchosen_behaviour_is_marked_not_verified():
    docs = {p.name: p.doc for p in builtin_profiles()}
    assert "NOT VERIFIED" in docs["inngest"]  # catch-up-all after downtime
    assert "NOT VERIFIED" in docs["quirrel"] and "NOT VERIFIED" in docs["agenda"]


def test_plain_call_systems_do_not_memoize_inngest_does():
    def count_charges(profile):
        app = jobsim.App("a")
        charges = []

        @app.function("f", on="go", retries=Retries(2))
        def f(ctx):
            ctx.step.run("charge", charges.append, 1)
            ctx.step.run("ship", fail_once, ctx.attempt)

        def fail_once(attempt):
            if attempt == 0:
                raise RuntimeError("carrier down")

        with jobsim.Simulation(app, profile=profile) as sim:
            sim.send("go")
            sim.run_until_idle()
        assert sim.runs("f")[0].status == "completed"
        return len(charges)

    assert {p: count_charges(p) for p in ("inngest", "bullmq", "trigger.dev", "agenda")} == {
        "inngest": 1, "bullmq": 2, "trigger.dev": 2, "agenda": 2,
    }  # fmt: skip


# -- cron across a spring-forward gap: cron-parser shifts the skipped wall time by the gap ----------------


def cron_starts(profile, cron, tz, start, until):
    app = jobsim.App("c")

    @app.function("f", cron=cron, tz=tz)
    def f(ctx):
        pass

    with jobsim.Simulation(app, start=start, profile=profile) as sim:
        sim.advance(until)
    return [iso(r.start_ns) for r in sim.runs("f")]


@pytest.mark.parametrize("profile", ["bullmq", "agenda", "quirrel", "trigger.dev"])
@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        # cron-parser 5.10 (tests/CronExpression.test.ts "should handle DST gap (02:30 does not exist)":
        # Rome's 02:30 fires at 03:30 CEST): New York's 2025-03-09 02:30 fires at 03:30 EDT = 07:30Z
        ("30 2 * * *", ["2025-03-08T07:30:00.000Z", "2025-03-09T07:30:00.000Z", "2025-03-10T06:30:00.000Z"]),
        # the skipped hour's first time runs at the gap's end, and then the next day: each system parses the
        # expression again from the last run (BullMQ's defaultRepeatStrategy, Agenda's nextRunAt), and from
        # 03:00 EDT cron-parser 5.10.6 and 4.9.0 find 02:00 the next day (their own iterator, as in
        # CronExpressionParser.test.ts "*/20 3" in Athens, goes on to 03:20 and 03:40)
        ("*/20 2 * * *", ["2025-03-08T07:00:00.000Z", "2025-03-08T07:20:00.000Z", "2025-03-08T07:40:00.000Z",
                          "2025-03-09T07:00:00.000Z",
                          "2025-03-10T06:00:00.000Z", "2025-03-10T06:20:00.000Z", "2025-03-10T06:40:00.000Z"]),
        ("0 3 * * *", ["2025-03-08T08:00:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-10T07:00:00.000Z"]),
        ("30 2,3 * * *", ["2025-03-08T07:30:00.000Z", "2025-03-08T08:30:00.000Z", "2025-03-09T07:30:00.000Z",
                          "2025-03-10T06:30:00.000Z", "2025-03-10T07:30:00.000Z"]),
        ("0 * 9 3 *", [f"2025-03-09T{h:02}:00:00.000Z" for h in range(5, 7)]
                      + [f"2025-03-09T{h:02}:00:00.000Z" for h in range(7, 24)]
                      + [f"2025-03-10T{h:02}:00:00.000Z" for h in range(0, 4)]),
    ],
)  # fmt: skip
def test_cron_parser_systems_shift_a_time_in_the_spring_forward_gap(profile, cron, expected):
    assert cron_starts(profile, cron, "America/New_York", "2025-03-08T00:00:00Z", "3d") == expected


@pytest.mark.parametrize("profile", ["vercel-cron", "vercel-cron-hobby"])
@pytest.mark.parametrize(
    ("cron", "detail"),
    [
        ("0 8 * * 7", "day-of-week '7' is out of range 0-6"),
        ("0 8 L * *", "day-of-month 'L' uses 'L'"),
        ("0 8 * * 5#2", "day-of-week '5#2' uses '#'"),
        ("0 8 * * 1L", "day-of-week '1L' uses 'L'"),
        ("0 8 ? * *", "day-of-month '?' uses '?'"),
    ],
)
def test_vercel_refuses_cron_syntax_beyond_its_numeric_fields(profile, cron, detail):
    # reference §7: 5 fields, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-6; no names
    app = jobsim.App("v")
    app.function("f", cron=cron)(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile=profile)
    hobby = profile.endswith("hobby")
    label = "Vercel Cron (Hobby)" if hobby else "Vercel Cron (Pro)"
    parser = "Vercel Cron on the Hobby plan" if hobby else "Vercel Cron"
    assert str(info.value) == (
        f"{label} cannot run function 'f': cron {cron!r}: {detail}; {parser} takes numbers, '*', "
        "lists 'a,b', ranges 'a-b' and steps '/n' only (day-of-week 0-6)"
    )
    assert info.value.feature == "cron.syntax" and info.value.system == label


@pytest.mark.parametrize(
    ("cron", "detail"),
    [
        ("0 8 * * 7", "day-of-week '7' is out of range 0-6"),
        ("0 8 * * 1-7", "day-of-week '1-7' is out of range 0-6"),
        ("0 8 L * *", "day-of-month 'L' uses 'L'"),
        ("0 8 * * 5#2", "day-of-week '5#2' uses '#'"),
        ("0 8 * * 5L", "day-of-week '5L' uses 'L'"),
    ],
)
def test_inngest_refuses_cron_syntax_robfig_cannot_parse(cron, detail):
    # these simulated on Inngest, whose robfig/cron v3 parser refuses them (spec.go bounds day-of-week to 0-6;
    # getRange reads '*', '?', numbers, names, ranges and steps only): a test passed for a schedule that
    # would never register
    app = jobsim.App("i")
    app.function("f", cron=cron)(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app)
    assert str(info.value) == (
        f"Inngest cannot run function 'f': cron {cron!r}: {detail}; robfig/cron v3 takes numbers, names, '*', "
        "'?', lists 'a,b', ranges 'a-b' and steps '/n' only (day-of-week 0-6, SUN-SAT)"
    )
    assert info.value.feature == "cron.syntax"
    for fine in ("0 8 ? JUL WED", "0 8 * * MON-FRI", "TZ=Asia/Kolkata 0 * * * *", "*/5 * * * 0,6"):
        app = jobsim.App("ok")
        app.function("f", cron=fine)(lambda ctx: None)
        jobsim.Simulation(app).close()  # names that hold an L or a W are names


@pytest.mark.parametrize(
    ("cron", "fields"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"),
     ("TZ=Australia/Sydney @weekly", "TZ=Australia/Sydney 0 0 * * 0")],
)
def test_inngest_refuses_descriptors_its_registration_cannot_parse(cron, fields):
    # Inngest's scheduler parses descriptors, but registration validates each cron trigger with robfig's
    # Minute|Hour|Dom|Month|Dow parser (pkg/inngest/trigger.go: CronTrigger.Validate), which refuses a spec
    # starting with '@': the function never registers, so it never fires '@hourly'
    app = jobsim.App("i")
    app.function("f", cron=cron)(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app)
    assert str(info.value) == (
        f"Inngest cannot run function 'f': cron {cron!r}: Inngest refuses @descriptors when it registers the "
        "function (\"isn't a valid cron schedule\": its check parses without robfig's Descriptor option); "
        f"write the 5 fields ({fields!r})"
    )
    assert info.value.feature == "cron.descriptor"
    other = jobsim.App("b")
    other.function("f", cron=cron.split(" ")[-1])(lambda ctx: None)
    with jobsim.Simulation(other, profile="bullmq", start="2025-01-01T00:00:00Z") as sim:  # cron-parser has them
        sim.advance("8d")
    assert sim.runs("f")


def _profile(**fields):
    return Profile(**{"name": "mine", "description": "d", "default_retries": Retries(attempts=2, min="1s"), **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "name='' is not valid: Profile.name must be a non-empty string such as 'my-system'"),
        ({"name": 3}, "name=3 is not valid"),
        ({"default_retries": 3}, "default_retries=3 is not valid: Profile.default_retries must be a retry policy"),
        ({"max_sleep_ns": "1d"}, "max_sleep_ns='1d' is not valid: Profile.max_sleep_ns must be an int >= 1 of "
                                 "nanoseconds, or None for no limit"),
        ({"retry_after_min_ns": None}, "retry_after_min_ns=None is not valid: Profile.retry_after_min_ns must be an "
                                       "int >= 0 of nanoseconds"),
        ({"max_attempts": 0}, "max_attempts=0 is not valid: Profile.max_attempts must be an int >= 1, or None"),
        ({"durable_steps": "yes"}, "durable_steps='yes' is not valid: Profile.durable_steps must be True or False"),
        ({"singleton": "skip"}, "singleton='skip' is not valid: Profile.singleton must be True or False"),
        ({"missed_cron": "some"}, "missed_cron='some' is not valid: Profile.missed_cron must be one of 'all', 'first', "
                                  "'first-and-due', 'latest', 'none'"),
        ({"lacks": None}, "lacks=None is not valid: Profile.lacks must be a mapping of feature key"),
        ({"lacks": ["batch"]}, "lacks=['batch'] is not valid"),
        ({"crash": "immediate"}, "crash='immediate' is not valid: Profile.crash must be a CrashRule"),
        ({"failure_hook": 3}, "failure_hook=3 is not valid: Profile.failure_hook must be a callable, or None"),
    ],
)
def test_a_profile_checks_its_fields_when_made(fields, message):
    # a plugin's Profile was taken as written: max_sleep_ns='1d' failed as a TypeError inside job code at
    # its first sleep, default_retries=3 as an AttributeError when the simulation was built
    with pytest.raises(InvalidArgument) as info:
        _profile(**fields)
    assert str(info.value).startswith(message)
    assert _profile(max_sleep_ns=None, lacks={"batch": "no batches"}).name == "mine"


def test_a_plugin_giving_something_else_than_profiles_is_named():
    from jobsim._profiles import Profiles
    from jobsim.errors import PluginError

    with pytest.raises(PluginError, match=r"^a jobsim plugin's jobsim_profiles hook gave 'bullmq'; it must give "
                                          r"jobsim\.Profile objects$"):
        Profiles().register("bullmq")


@pytest.mark.parametrize(("build", "message"), [
    (lambda: TriggerDevRetry(3, factor=float("nan")), "factor=nan is not valid: a positive, finite number"),
    (lambda: TriggerDevRetry(3, factor=float("inf")), "factor=inf is not valid: a positive, finite number"),
    (lambda: TriggerDevRetry(3, randomize="no"), "randomize='no' is not valid: True (a factor drawn from [1, 2)) or "
                                                 "False"),  # a truthy 'no' randomized
    (lambda: AgendaBackoff(factor="2"), "factor='2' is not valid: a positive, finite number"),  # TypeError at retry 2
    (lambda: AgendaBackoff(factor=float("nan")), "factor=nan is not valid: a positive, finite number"),
])  # fmt: skip
def test_system_policies_refuse_a_factor_or_switch_that_is_not_one(build, message):
    # nan passed 'factor <= 0' and made every Trigger.dev delay the cap; Agenda took any factor at all
    with pytest.raises(InvalidArgument) as info:
        build()
    assert str(info.value) == message


def test_a_delay_past_what_a_float_holds_is_the_cap_or_never_not_an_overflow():
    # factor ** (k - 1) raised OverflowError from the engine at the retry that decided it
    trigger = TriggerDevRetry(5, factor=1e200, min="1s", max="1m", randomize=False)
    assert [trigger.delay_ns(k, random.Random(0)) // SECOND for k in (1, 2, 3, 4)] == [1, 60, 60, 60]
    capped = AgendaBackoff(factor=1e200, max_delay="1h", max_retries=4)
    assert [capped.delay_ns(k, random.Random(0)) // SECOND for k in (1, 2, 3, 4)] == [1, 3600, 3600, 3600]
    uncapped = AgendaBackoff(max_retries=2000)  # Date.now() + Infinity is an Invalid Date: never retried
    all_of_time = instant_ns("9999-12-31T23:59:59Z") - instant_ns("0001-01-01T00:00:00Z")
    assert uncapped.delay_ns(1030, random.Random(0)) > all_of_time

    app = jobsim.App("a")
    app.function("f", on="go", retries=trigger)(lambda ctx: 1 / 0)
    with jobsim.Simulation(app, profile="trigger.dev") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == [0, 1, 61, 121, 181]


def test_agendas_bare_number_delay_is_refused_naming_agenda():
    # Agenda's backoff {delay: 1000} counts milliseconds too: the refusal names Agenda, not BullMQ
    with pytest.raises(InvalidArgument, match=r"delay=1000 is not valid: .*'1000ms' for Agenda's \{delay: 1000\}"):
        AgendaBackoff("exponential", 1000)


# -- targets that run on their own library's rules -------------------------------------------------


class Backend:
    """A target whose plugin runs it on its own rules (``own_worker``, as jobsim-celery does), or through the engine."""

    def __init__(self, name, profile, own_worker=True):
        self.name, self.profile, self.own_worker = name, profile, own_worker

    def __repr__(self):
        return f"Backend({self.name!r})"


class BackendPlugin:
    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Backend):
            return None
        app = jobsim.App(target.name)
        app.function(f"{target.name}.charge", on=f"{target.name}/charge")(lambda ctx: 1)
        return Adapted(backend=target.name, functions=list(app.functions.values()), own_worker=target.own_worker,
                       profile=target.profile)  # fmt: skip


@pytest.fixture
def backends():
    plugin = BackendPlugin()
    _plugins.register(plugin, name="backend-test")
    yield
    _plugins.unregister(plugin)


def test_a_profile_no_target_follows_is_refused_naming_it_and_the_targets(backends):
    # it was accepted as a label: sim.profile.name said "agenda" while the targets ran on their own rules
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(Backend("acme", "bullmq"), profile="agenda")
    assert isinstance(info.value, UnsupportedFeature) and info.value.feature == "profile"
    assert str(info.value) == (
        "profile='agenda' cannot apply to the target Backend('acme'): the acme target runs on acme's rules whatever "
        "the profile (profiles choose the rules of jobsim.App functions, and there are none here: simulate it "
        "under 'bullmq', its own)")
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(Backend("celery", "celery"), Backend("huey", "huey"), profile="node-cron")
    assert str(info.value) == (
        "profile='node-cron' cannot apply to the targets Backend('celery') and Backend('huey'): a Celery app runs "
        "on Celery's rules and a Huey instance, consumer or task on Huey's whatever the profile (profiles choose "
        "the rules of jobsim.App functions, and there are none here: simulate them under 'celery' or 'huey', "
        "their own)")


def test_a_profile_applies_to_jobsim_app_functions_and_targets_the_engine_runs(backends):
    app = jobsim.App("plain")
    app.function("f", on="go")(lambda ctx: 1)
    assert jobsim.Simulation(Backend("acme", "bullmq"), app, profile="agenda").profile.name == "agenda"
    assert jobsim.Simulation(Backend("acme", "bullmq", own_worker=False), profile="agenda").profile.name == "agenda"
    assert jobsim.Simulation(Backend("acme", "bullmq"), profile="bullmq").profile.name == "bullmq"  # its own
    assert jobsim.Simulation(Backend("acme", "agenda"), profile="agenda(process_every=1s)").profile.name == (
        "agenda(process_every=1s)")  # a variant of its own


def test_without_a_profile_the_engine_run_targets_own_else_the_first_targets(backends):
    # a Celery app passed first gave its profile to the inngest-py functions, which follow it
    # (built-in profiles stand for the plugins' own, which the core's lowest-versions CI stage has not installed)
    both = jobsim.Simulation(Backend("celery", "bullmq"), Backend("inngest", "inngest", own_worker=False))
    assert both.profile.name == "inngest"
    assert jobsim.Simulation(Backend("dramatiq", "agenda"), Backend("huey", "bullmq")).profile.name == "agenda"


@pytest.mark.parametrize(("options", "published", "handled"), [
    ({}, ["go", "inngest/function.failed"], 1),  # Inngest's, where a Profile says nothing
    ({"failure_hook": lambda run, error, now: jobsim.Event("mine/failed", {"run": run.id})}, ["go"], 1),
    ({"failure_hook": lambda run, error, now: None}, ["go"], 0),
])  # fmt: skip
def test_a_profile_made_from_scratch_has_inngests_lifecycle_unless_it_gives_a_failure_hook(options, published, handled):
    app = jobsim.App("a")
    app.function("f", on="go", retries=0, on_failure=lambda ctx: ctx.event.name)(lambda ctx: 1 / 0)
    mine = jobsim.Profile(name="mine", description="x", system="Mine", default_retries=jobsim.Retries(attempts=1),
                          **options)  # fmt: skip
    with jobsim.Simulation(app, profile=mine) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [e.name for e in sim.events] == published
    assert len(sim.runs("f-failure")) == handled


def test_a_profile_lacking_on_failure_publishes_no_lifecycle_event():
    app = jobsim.App("a")
    app.function("f", on="go", retries=0)(lambda ctx: 1 / 0)
    mine = jobsim.Profile(name="mine", description="x", system="Mine", default_retries=jobsim.Retries(attempts=1),
                          lacks={"on_failure": "it has no failure hooks"})  # fmt: skip
    with jobsim.Simulation(app, profile=mine) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [e.name for e in sim.events] == ["go"]
