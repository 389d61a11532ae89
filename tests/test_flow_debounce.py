"""debounce=: each event pushes the run to now + period, capped at first event + timeout.

On the default (Inngest) profile the run starts 1.05 s after that (debounce.go enqueues the job that starts
it at now + ttl + 50 ms + 1 s), and a capped ttl is whole seconds (updateDebounce.lua: floor, at least 1 s).
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Debounce, Event
from jobsim._time import MS, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
MINUTE_MS = 60_000
JOB_MS = 1_050  # Inngest's debounce job buffer: 50 ms + 1 s after the ttl


def app_with(debounce):
    app = jobsim.App("a")

    @app.function("sync", on="doc/edited", debounce=debounce)
    def sync(ctx):
        return ctx.event.data["i"]

    return app


def send_at(sim, plan):
    for ms, data in plan:
        sim.advance_to(to_datetime(T0 + ms * MS))
        sim.send("doc/edited", data)


def summary(sim):
    return [((r.start_ns - T0) // MS, r.output, len(r.events)) for r in sim.runs("sync")]


def test_the_run_fires_a_period_after_the_last_event_with_the_last_event():
    with jobsim.Simulation(app_with(Debounce(period="5m")), start=START) as sim:
        send_at(sim, [(0, {"i": 0}), (MINUTE_MS, {"i": 1}), (2 * MINUTE_MS, {"i": 2})])
        sim.run_until_idle()
    assert summary(sim) == [(7 * MINUTE_MS + JOB_MS, 2, 1)]


def test_a_steady_stream_fires_at_the_timeout_cap():
    # An event every minute for an hour, period 5m, timeout 20m: the run never goes quiet. From 16m on
    # each event's ttl is cut to the cap (20m); the 20m event still finds the debounce (its ttl ends at
    # 20m, and its job comes at 20m + 1.05 s) and gets the 1 s minimum: the run starts at 20m + 2.05 s
    # with it. The next debounce opens at 21m (cap 41m), the third at 42m (cap 62m; last event 59m).
    with jobsim.Simulation(app_with(Debounce(period="5m", timeout="20m")), start=START) as sim:
        send_at(sim, [(m * MINUTE_MS, {"i": m}) for m in range(60)])
        sim.run_until_idle()
    assert summary(sim) == [(20 * MINUTE_MS + 1_000 + JOB_MS, 20, 1), (41 * MINUTE_MS + 1_000 + JOB_MS, 41, 1),
                            (62 * MINUTE_MS + JOB_MS, 59, 1)]  # fmt: skip


def test_without_a_timeout_a_steady_stream_never_fires_until_it_stops():
    with jobsim.Simulation(app_with(Debounce(period="5m")), start=START) as sim:
        send_at(sim, [(m * MINUTE_MS, {"i": m}) for m in range(60)])
        assert sim.runs("sync") == []
        sim.run_until_idle()
    assert summary(sim) == [(64 * MINUTE_MS + JOB_MS, 59, 1)]


def test_each_key_debounces_on_its_own():
    debounce = Debounce(period="10s", key="event.data.doc")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(0, {"i": 0, "doc": "a"}), (3_000, {"i": 1, "doc": "b"}), (6_000, {"i": 2, "doc": "a"})])
        sim.run_until_idle()
    assert sorted(summary(sim)) == [(13_000 + JOB_MS, 1, 1), (16_000 + JOB_MS, 2, 1)]


def test_an_event_older_than_the_stored_one_is_ignored():
    with jobsim.Simulation(app_with(Debounce(period="10s")), start=START) as sim:
        sim.send("doc/edited", {"i": 0})
        sim.advance("2s")
        sim.send(Event("doc/edited", {"i": 1}, ts=T0 // MS - 1_000))  # stamped before the first
        sim.run_until_idle()
    assert summary(sim) == [(10_000 + JOB_MS, 0, 1)]


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 20_000), min_size=1, max_size=40),
    period_s=st.integers(1, 10),
    timeout_s=st.one_of(st.none(), st.integers(1, 30)),
)
def test_debounce_matches_the_model(gaps, period_s, timeout_s):
    plan, ms = [], 0
    for i, gap in enumerate(gaps):
        ms += gap
        plan.append((ms, {"i": i}))
    with jobsim.Simulation(app_with(Debounce(period=period_s, timeout=timeout_s)), start=START) as sim:
        send_at(sim, plan)
        sim.run_until_idle()

    expected, pending = [], None  # pending: [job due, pointer expires, cap, last i]
    period, cap = period_s * 1_000, None if timeout_s is None else timeout_s * 1_000
    for ms, data in plan:
        if pending is not None and (ms >= pending[0] or ms > pending[1]):  # fired, or its pointer expired
            expected.append((pending[0], pending[3], 1))  # (a job whose pointer expired fires before the new one)
            pending = None
        fresh = pending is None
        if fresh:
            pending = [0, 0, None if cap is None else ms + cap, 0]
        ttl = period
        if pending[2] is not None and ms + ttl > pending[2]:
            left = pending[2] - ms
            ttl = max((left + 500) // 1_000 if fresh else left // 1_000, 1) * 1_000
        pending[0], pending[1], pending[3] = ms + ttl + JOB_MS, ms + ttl, data["i"]
    expected.append((pending[0], pending[3], 1))
    assert summary(sim) == expected
    assert all(r.status == "completed" for r in sim.runs("sync"))


def test_the_trace_and_timeline_say_how_many_events_a_debounced_run_absorbed():
    # A search index: period 10s, timeout 1m, per document; an edit every 5s for 70s on d1,
    # one edit on d2. d1 hits its cap at 60s: the 60 s edit still joins (1 s minimum ttl), 13 events,
    # run at 62.05 s; then 65 s and 70 s go quiet 10 s after the last (+ 1.05 s).
    debounce = Debounce(period="10s", key="event.data.doc", timeout="1m")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(s * 1000, {"doc": "d1", "i": s}) for s in range(0, 75, 5)] + [(71_000, {"doc": "d2", "i": 99})])
        sim.run_until_idle()
    assert summary(sim) == [(62_050, 60, 1), (81_050, 70, 1), (82_050, 99, 1)]
    records = [((r.at - T0) // MS, r.data["size"], r.data["key"], r.data["why"]) for r in sim.trace.of("debounce")]
    assert records == [(62_050, 13, "d1", "timeout"), (81_050, 2, "d1", "quiet"), (82_050, 1, "d2", "quiet")]
    timeline = sim.timeline()
    assert "debounce  sync#1 gets the last of 13 event(s) (timeout, key 'd1')" in timeline
    assert "debounce  sync#3 gets the last of 1 event(s) (quiet for 10s, key 'd2')" in timeline


def test_debounce_keys_1_and_the_string_1_share_one_debounce_and_a_missing_key_is_false():
    debounce = Debounce(period="10s", key="event.data.doc")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(0, {"i": 0, "doc": 1}), (1000, {"i": 1, "doc": "1"}), (2000, {"i": 2, "doc": 1.0}),
                      (3000, {"i": 3}), (4000, {"i": 4, "doc": False})])  # fmt: skip
        sim.run_until_idle()
    assert summary(sim) == [(12_000 + JOB_MS, 2, 1), (14_000 + JOB_MS, 4, 1)]
    assert [r.data["key"] for r in sim.trace.of("debounce")] == ["1", "false"]


def test_the_rate_limit_drops_events_before_they_reach_the_debounce():
    """Inngest checks rateLimit (and idempotency, which is a rate limit) on each event *before* the
    debounce: inngest/inngest executor.go ``schedule`` runs ``ratelimit.RateLimitKey``/``RateLimit`` and
    only then ``if req.Function.Debounce != nil`` (returning ErrFunctionDebounced); the debounced run is
    scheduled with ``PreventRateLimit: true`` (executor/service.go ``handleDebounce``: "Rate limit was
    already enforced for this"). So 1 per minute: the 0 s event passes and opens the debounce, the 5 s
    event is dropped (it neither replaces the stored event nor pushes the run back), and the run starts at
    0 s + 10 s + 1.05 s with the 0 s event; the 70 s event passes again (TAT 60 s <= 70 s)."""
    app = jobsim.App("a")

    @app.function("sync", on="doc/edited", debounce=Debounce(period="10s"),
                  rate_limit=jobsim.RateLimit(limit=1, period="1m"))
    def sync(ctx):
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0}), (5_000, {"i": 1}), (70_000, {"i": 2})])
        sim.run_until_idle()
    runs = sorted(sim.runs("sync"), key=lambda r: r.start_ns)
    assert [(r.status, (r.start_ns - T0) // MS, r.event.data["i"]) for r in runs] == [
        ("skipped", 5_000, 1), ("completed", 10_000 + JOB_MS, 0), ("completed", 80_000 + JOB_MS, 2)]
    assert [r.data["reason"] for r in sim.trace.of("run.skipped")] == ["rate_limit"]
    assert [r.data["size"] for r in sim.trace.of("debounce")] == [1, 1]


def test_idempotency_keeps_the_first_event_of_a_debounce_not_the_last():
    """idempotency= is rateLimit{limit: 1, period: 24h, key} (pkg/sdk/function.go), checked per event
    before the debounce (executor.go ``schedule``): a second event with the same key within 24 h is dropped,
    so the debounced run gets the first event and is not pushed back; another key debounces on its own."""
    app = jobsim.App("a")

    @app.function("sync", on="doc/edited", debounce=Debounce(period="10s", key="event.data.doc"),
                  idempotency="event.data.doc")
    def sync(ctx):
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0, "doc": "a"}), (4_000, {"i": 1, "doc": "a"}), (6_000, {"i": 2, "doc": "b"})])
        sim.run_until_idle()
    done = [((r.start_ns - T0) // MS, r.output) for r in sim.runs("sync") if r.status == "completed"]
    assert done == [(10_000 + JOB_MS, 0), (16_000 + JOB_MS, 2)]
    assert [(r.data["reason"], r.data["key"]) for r in sim.trace.of("run.skipped")] == [("idempotency", "a")]
