"""debounce=: each event pushes the run to now + period, capped at first event + timeout."""

from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Debounce, Event
from jobsim._time import MS, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
MINUTE_MS = 60_000


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
    assert summary(sim) == [(7 * MINUTE_MS, 2, 1)]


def test_a_steady_stream_fires_at_the_timeout_cap():
    # An event every minute for an hour, period 5m, timeout 20m: the run never goes quiet,
    # so it fires at first event + 20m, with the last event before the cap.
    with jobsim.Simulation(app_with(Debounce(period="5m", timeout="20m")), start=START) as sim:
        send_at(sim, [(m * MINUTE_MS, {"i": m}) for m in range(60)])
        sim.run_until_idle()
    assert summary(sim) == [(20 * MINUTE_MS, 19, 1), (40 * MINUTE_MS, 39, 1), (60 * MINUTE_MS, 59, 1)]


def test_without_a_timeout_a_steady_stream_never_fires_until_it_stops():
    with jobsim.Simulation(app_with(Debounce(period="5m")), start=START) as sim:
        send_at(sim, [(m * MINUTE_MS, {"i": m}) for m in range(60)])
        assert sim.runs("sync") == []
        sim.run_until_idle()
    assert summary(sim) == [(64 * MINUTE_MS, 59, 1)]


def test_each_key_debounces_on_its_own():
    debounce = Debounce(period="10s", key="event.data.doc")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(0, {"i": 0, "doc": "a"}), (3_000, {"i": 1, "doc": "b"}), (6_000, {"i": 2, "doc": "a"})])
        sim.run_until_idle()
    assert sorted(summary(sim)) == [(13_000, 1, 1), (16_000, 2, 1)]


def test_an_event_older_than_the_stored_one_is_ignored():
    with jobsim.Simulation(app_with(Debounce(period="10s")), start=START) as sim:
        sim.send("doc/edited", {"i": 0})
        sim.advance("2s")
        sim.send(Event("doc/edited", {"i": 1}, ts=T0 // MS - 1_000))  # stamped before the first
        sim.run_until_idle()
    assert summary(sim) == [(10_000, 0, 1)]


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

    expected, pending = [], None  # pending: [due, cap, last i]
    period, cap = period_s * 1_000, None if timeout_s is None else timeout_s * 1_000
    for ms, data in plan:
        if pending is not None and ms >= pending[0]:  # fired before this event arrived
            expected.append((pending[0], pending[2], 1))
            pending = None
        if pending is None:
            pending = [0, None if cap is None else ms + cap, 0]
        due = ms + period
        pending[0] = due if pending[1] is None else min(due, pending[1])
        pending[2] = data["i"]
    expected.append((pending[0], pending[2], 1))
    assert summary(sim) == expected
    assert all(r.status == "completed" for r in sim.runs("sync"))


def test_the_trace_and_timeline_say_how_many_events_a_debounced_run_absorbed():
    # A search index: period 10s, timeout 1m, per document; an edit every 5s for 70s on d1,
    # one edit on d2. d1 hits its cap at 60s (13 events, 0..60s), then goes quiet 10s after its last edit.
    debounce = Debounce(period="10s", key="event.data.doc", timeout="1m")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(s * 1000, {"doc": "d1", "i": s}) for s in range(0, 75, 5)] + [(71_000, {"doc": "d2", "i": 99})])
        sim.run_until_idle()
    assert summary(sim) == [(60_000, 55, 1), (80_000, 70, 1), (81_000, 99, 1)]
    records = [((r.at - T0) // MS, r.data["size"], r.data["key"], r.data["why"]) for r in sim.trace.of("debounce")]
    assert records == [(60_000, 12, "d1", "timeout"), (80_000, 3, "d1", "quiet"), (81_000, 1, "d2", "quiet")]
    timeline = sim.timeline()
    assert "debounce  sync#1 gets the last of 12 event(s) (timeout, key 'd1')" in timeline
    assert "debounce  sync#3 gets the last of 1 event(s) (quiet for 10s, key 'd2')" in timeline


def test_debounce_keys_1_and_the_string_1_share_one_debounce_and_a_missing_key_is_false():
    debounce = Debounce(period="10s", key="event.data.doc")
    with jobsim.Simulation(app_with(debounce), start=START) as sim:
        send_at(sim, [(0, {"i": 0, "doc": 1}), (1000, {"i": 1, "doc": "1"}), (2000, {"i": 2, "doc": 1.0}),
                      (3000, {"i": 3}), (4000, {"i": 4, "doc": False})])  # fmt: skip
        sim.run_until_idle()
    assert summary(sim) == [(12_000, 2, 1), (14_000, 4, 1)]
    assert [r.data["key"] for r in sim.trace.of("debounce")] == ["1", "false"]
