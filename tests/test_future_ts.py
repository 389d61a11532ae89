"""Inngest starts the runs of an event whose ``ts`` is in the future at that time.

executor.go ``Schedule``: ``at`` is the later of now and the first event's ``ts`` when the
run is not a batch's; the run is created (and rate limits, idempotency, cancellation
pauses and the start timeout are set up) at once. Other systems treat ``ts`` as data.
"""

import pytest

import jobsim
from jobsim import Batch, Cancel, Event, RateLimit, Throttle, Timeouts
from jobsim._time import MINUTE, MS, SECOND, instant_ns

START = "2025-01-01T00:00:00Z"
T0 = instant_ns(START)


def at_minutes(minutes: float) -> int:
    """An event ts (ms) ``minutes`` after the start."""
    return int((T0 + minutes * MINUTE) // MS)


def reminder_app(**options):
    app = jobsim.App("a")

    @app.function("remind", on="reminder/scheduled", **options)
    def remind(ctx):
        return ctx.step.run("send", lambda: ctx.event.data["user"])

    return app


def started(run) -> float:
    return (run.start_ns - T0) / MINUTE


def test_a_future_ts_starts_the_run_at_that_time_and_the_timeline_says_so():
    with jobsim.Simulation(reminder_app(), start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(5)))
        sim.run_until_idle()
    run = sim.runs("remind")[0]
    assert (run.status, run.output, started(run), (run.end_ns - T0) / MINUTE) == ("completed", "u1", 5, 5)
    assert [(e.name, e.ts) for e in sim.events] == [("reminder/scheduled", at_minutes(5))]  # on the bus at once
    lines = [line.split("  ", 1)[1].strip() for line in sim.timeline().splitlines()[2:]]
    assert lines[1:] == [
        "queued    remind#1 starts at its event's ts, 2025-01-01 00:05:00 UTC",
        "run       remind#1 started by reminder/scheduled",
        "run       remind#1 completed",
    ]
    assert sim.timeline().splitlines()[4].startswith("2025-01-01 00:05:00.000 UTC")


@pytest.mark.parametrize("minutes", [0, -10])
def test_a_ts_now_or_in_the_past_starts_at_once(minutes):
    with jobsim.Simulation(reminder_app(), start="2025-01-01T01:00:00Z") as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(60 + minutes)))
        sim.run_until_idle()
    assert started(sim.runs("remind")[0]) == 60


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev", "quirrel", "agenda"])
def test_other_systems_treat_ts_as_data(profile):
    with jobsim.Simulation(reminder_app(), start=START, profile=profile) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(5)))
        sim.run_until_idle()
    assert started(sim.runs("remind")[0]) == 0


def test_a_wait_for_event_matches_a_future_ts_event_when_it_is_sent():
    app = jobsim.App("a")

    @app.function("checkout", on="cart/created")
    def checkout(ctx):
        return ctx.step.wait_for_event("paid", event="cart/paid", timeout="1h", match="data.cart")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/created", {"cart": "c1"})
        sim.advance("1m")
        sim.send(Event("cart/paid", {"cart": "c1"}, ts=at_minutes(30)))
        sim.run_until_idle()
    run = sim.runs("checkout")[0]
    assert (run.status, (run.end_ns - T0) / MINUTE, run.output["data"]) == ("completed", 1, {"cart": "c1"})


def test_cancel_on_before_the_ts_cancels_the_queued_run_and_nothing_waits_for_it():
    app = reminder_app(cancel_on=[Cancel("reminder/cancelled", match="data.user")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(60)))
        sim.advance("10m")
        sim.send("reminder/cancelled", {"user": "u1"})
        sim.run_until_idle()
        assert (sim.now_ns() - T0) / MINUTE == 10  # the dropped start left nothing pending
    run = sim.runs("remind")[0]
    assert (run.status, run.attempts, (run.end_ns - T0) / MINUTE) == ("cancelled", [], 10)
    assert "cancel    remind#1" in sim.timeline()


def test_timeouts_start_counts_from_when_the_run_was_created():
    app = reminder_app(timeouts=Timeouts(start="30m"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(60)))
        sim.send(Event("reminder/scheduled", {"user": "u2"}, ts=at_minutes(20)))
        sim.run_until_idle()
    late, early = sim.runs("remind")
    assert (late.status, (late.end_ns - T0) / MINUTE) == ("cancelled", 30)
    assert (early.status, started(early)) == ("completed", 20)


def test_rate_limits_count_at_creation_throttles_at_the_start():
    limited = reminder_app(rate_limit=RateLimit(limit=1, period="1h"))
    with jobsim.Simulation(limited, start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(90)))
        sim.send("reminder/scheduled", {"user": "u2"})  # within the hour of the first's creation
        sim.run_until_idle()
    assert [(r.status, r.output) for r in sim.runs("remind")] == [("completed", "u1"), ("skipped", None)]

    throttled = reminder_app(throttle=Throttle(limit=1, period="1h"))
    with jobsim.Simulation(throttled, start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(90)))
        sim.send("reminder/scheduled", {"user": "u2"})
        sim.run_until_idle()
    assert [(r.output, started(r)) for r in sim.runs("remind")] == [("u1", 90), ("u2", 0)]


def test_a_batch_run_never_waits_for_a_ts():
    app = jobsim.App("a")

    @app.function("digest", on="note/send", batch=Batch(max_size=2, timeout="10s"))
    def digest(ctx):
        return [e.data["n"] for e in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("note/send", {"n": 1}, ts=at_minutes(60)))
        sim.run_until_idle()
    run = sim.runs("digest")[0]
    assert (run.output, (run.start_ns - T0) / SECOND) == ([1], 10)


def test_a_replay_of_the_trace_starts_the_run_at_the_ts_again(tmp_path):
    app = reminder_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(5)))
        sim.run_until_idle()
    path = tmp_path / "t.jsonl"
    sim.trace.save(path, redact=False)
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), app, compare=["runs", "outputs", "timing"])
    assert result.same, result.report()
    assert started(result.simulation.runs("remind")[0]) == 5


def test_the_timeline_keeps_the_milliseconds_of_a_ts():
    """As a downtime's end: 'starts at 00:05:00' for a run that starts at 00:05:00.250 misleads."""
    with jobsim.Simulation(reminder_app(), start=START) as sim:
        sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(5) + 250))
        sim.run_until_idle()
    assert "queued    remind#1 starts at its event's ts, 2025-01-01 00:05:00.250 UTC" in sim.timeline()
    assert started(sim.runs("remind")[0]) == 5 + 0.25 / 60


def test_run_until_idle_past_its_horizon_names_the_run_waiting_for_its_event_ts():
    for options in ({}, {"throttle": Throttle(limit=5, period="1m")}):  # plain and flow-controlled starts
        with jobsim.Simulation(reminder_app(**options), start=START) as sim:
            sim.send(Event("reminder/scheduled", {"user": "u1"}, ts=at_minutes(3 * 24 * 60)))
            with pytest.raises(jobsim.BudgetExceeded) as info:
                sim.run_until_idle(max_time="1d")
        message = str(info.value)
        assert "  remind (its event's ts): next at 2025-01-04T00:00:00.000Z" in message
        assert "as do a delayed send and a run that starts at its event's future ts; raise max_time=" in message
