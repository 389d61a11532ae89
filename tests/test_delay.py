"""Delayed sends (``send(..., delay=...)``): BullMQ's ``delay``, Trigger.dev's ``delay``, Quirrel's and Agenda's."""

from __future__ import annotations

import datetime

import pytest

import jobsim
from jobsim._time import SECOND, instant_ns
from jobsim.errors import UnsupportedFeature

START = "2025-03-03T09:00:00Z"
T0 = instant_ns(START)


def shop() -> jobsim.App:
    app = jobsim.App("shop")

    @app.function("order-placed", on="order/placed")
    def placed(ctx):
        app.send("order/remind", {"orderId": ctx.event.data["orderId"]}, delay="1h")
        return "reminder queued"

    @app.function("remind", on="order/remind")
    def remind(ctx):
        return ctx.event.data["orderId"]

    return app


def starts(sim):
    return [(r.function_id, (r.start_ns - T0) // SECOND) for r in sim.runs()]


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev", "quirrel", "agenda"])
def test_a_delayed_job_runs_when_its_delay_is_over_from_a_test_or_from_job_code(profile):
    with jobsim.Simulation(shop(), start=START, profile=profile) as sim:
        (event_id,) = sim.send("order/placed", {"orderId": "o1"}, delay="30s")
        sim.advance("29s")
        assert sim.runs() == [] and sim.events == []  # queued, not yet due
        sim.run_until_idle()  # a pending delayed job is one-off work: run_until_idle waits for it
    assert starts(sim) == [("order-placed", 30), ("remind", 3630)]
    assert sim.events[0].id == event_id and sim.events[0].ts == (T0 + 30 * SECOND) // 1_000_000
    origins = [(r.data["name"], r.data["origin"], r.data.get("function")) for r in sim.trace.of("event")]
    assert origins == [("order/placed", "input", None), ("order/remind", "job", "order-placed")]


def test_a_replay_feeds_a_delayed_input_at_its_delivery_and_lets_todays_code_delay_its_own():
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        sim.send("order/placed", {"orderId": "o1"}, delay="30s")
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace, shop())
    assert result.same, result.report()
    assert starts(result.simulation) == [("order-placed", 30), ("remind", 3630)]


def test_a_delayed_job_due_while_the_system_is_down_runs_late_once_it_is_back():
    """reference §2.1: "With no workers running it stays delayed and runs late (once) when a worker returns"."""
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        sim.downtime("2025-03-03T09:10:00Z", "2025-03-03T09:20:00Z")
        sim.send("order/remind", {"orderId": "o2"}, delay="15m")
        sim.run_until_idle()
    (run,) = sim.runs("remind")
    assert [(a.start_ns - T0) // SECOND for a in run.attempts] == [20 * 60] and run.status == "completed"


def test_systems_without_a_delayed_send_refuse_it_naming_the_way_they_have():
    with jobsim.Simulation(shop(), start=START) as sim, pytest.raises(UnsupportedFeature) as info:
        sim.send("order/placed", {"orderId": "o1"}, delay="30s")
    assert str(info.value) == ("Inngest cannot send an event later (send(..., delay='30s')): Inngest has no delay "
                               "option on send; give the event a future ts instead (its runs then start at that "
                               "time), or sleep at the start of the function")
    assert (info.value.system, info.value.feature) == ("Inngest", "send.delay")
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"delay='-1s' is not valid"):
            sim.send("order/placed", {}, delay="-1s")
        with pytest.raises(jobsim.InvalidArgument, match="data"):  # checked at the call, not an hour later
            sim.send("order/placed", {"items": {1, 2}}, delay="1h")
        assert sim.runs() == []


def test_a_job_that_delays_itself_forever_is_stopped_as_a_chain():
    app = jobsim.App("poll")

    @app.function("poll", on="poll/tick")
    def poll(ctx):
        app.send("poll/tick", {}, delay="1m")

    with jobsim.Simulation(app, start=START, profile="bullmq", max_chain=50) as sim:
        sim.send("poll/tick", {})
        with pytest.raises(jobsim.BudgetExceeded, match="poll"):
            sim.run_until_idle(max_time="366d")


@pytest.mark.parametrize("through_file", [False, True])
def test_a_replay_sends_a_tests_delayed_event_when_the_test_did_even_if_it_arrived_during_an_advance(
    tmp_path, through_file
):
    """The delivery is recorded inside the ``advance`` that reached it, after that advance's record: the
    replay queues it when the test did (the record keeps ``sent``), not once that advance is over."""
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        sim.send("order/placed", {"orderId": "o1"}, delay="30s")
        sim.advance("10s")
        sim.send("order/placed", {"orderId": "o2"}, id="o2", delay="5m")
        sim.advance("2h")
    assert [r.data["sent"] for r in sim.trace.of("event") if r.data["origin"] == "input"] == [T0, T0 + 10 * SECOND]
    trace = sim.trace
    if through_file:
        trace = jobsim.Trace.load(sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False))
    result = jobsim.Simulation.replay(trace, shop())
    assert result.same, result.report()
    assert starts(result.simulation) == [("order-placed", 30), ("order-placed", 310), ("remind", 3630),
                                         ("remind", 3910)]  # fmt: skip
    again = jobsim.Simulation.replay(result.simulation.trace, shop())  # the replay's own trace keeps `sent`
    assert again.same, again.report()


def test_a_replay_gives_job_codes_delayed_sends_the_ids_they_had_after_a_tests_delayed_send():
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        sim.send("order/placed", {"orderId": "o1"}, delay="30s")  # an id given by jobsim, re-sent with it
        sim.advance("2h")
    result = jobsim.Simulation.replay(sim.trace, shop())
    assert result.same, result.report()
    ids = [[e.id for e in s.events if e.name == "order/remind"] for s in (sim, result.simulation)]
    assert ids[0] == ids[1] and len(ids[0]) == 1


def test_a_replay_sends_a_delayed_event_before_the_advance_the_test_called_next_at_that_instant():
    """Two advances begin at one instant: the delayed send came between them, and its zero delay
    makes it arrive in the second, after the run the first advance started."""
    with jobsim.Simulation(shop(), start=START, profile="quirrel") as sim:
        sim.send("order/placed", {"orderId": "o1"})
        sim.advance("0s")
        sim.send("order/placed", {"orderId": "o2"}, delay="0s")
        sim.advance("0s")
    result = jobsim.Simulation.replay(sim.trace, shop())
    assert result.same, result.report()
    recorded, replayed = ([(r.kind, r.data.get("orderId") or r.data.get("data", {}).get("orderId")) for r in s.trace
                           if r.kind in ("event", "attempt", "advance")] for s in (sim, result.simulation))  # fmt: skip
    assert recorded == replayed == [("event", "o1"), ("advance", None), ("attempt", None),
                                    ("advance", None), ("event", "o2"), ("attempt", None)]  # fmt: skip


def test_a_delayed_sends_id_is_claimed_when_it_is_made_as_a_queue_add_claims_its_job_id(tmp_path):
    """BullMQ ignores an add whose ``jobId`` is taken, whatever the job's state: the id belongs to
    the delayed job from its add, so the plain send made meanwhile is the duplicate (jobsim used to
    run it at once and drop the delayed one on arrival), and so is a second delayed send."""
    with jobsim.Simulation(shop(), start=START, profile="bullmq") as sim:
        assert sim.send(jobsim.Event("order/remind", {"orderId": "late"}, id="r1"), delay="2d") == ["r1"]
        sim.advance("1h")
        sim.send(jobsim.Event("order/remind", {"orderId": "now"}, id="r1"))  # the id is taken: dropped
        sim.advance("25h")  # past the bus's 24 h window: still taken while the delayed job is pending
        sim.send(jobsim.Event("order/remind", {"orderId": "again"}, id="r1"), delay="1m")
        sim.run_until_idle()
        assert [(r.output, (r.start_ns - T0) // SECOND) for r in sim.runs("remind")] == [("late", 2 * 86_400)]
        assert [e.data["orderId"] for e in sim.bus.dropped] == ["now", "again"]
        timeline = sim.timeline()
        # the second came 26 h after the id was claimed: not "duplicate id within 24h", which it said
        assert timeline.count("id='r1' dropped: a delayed send of that id is still pending") == 2, timeline
        sim.advance_to(sim.runs("remind")[0].started_at + datetime.timedelta(hours=23))
        sim.send(jobsim.Event("order/remind", {"orderId": "window"}, id="r1"))  # delivered: BullMQ keeps the job
        assert "id='r1' dropped: duplicate id: the job it named is kept, so the id stays taken" in sim.timeline()
        sim.send(jobsim.Event("order/remind", {"orderId": "fresh"}, id="r2"), delay="1m")  # a free id: claimed
        sim.run_until_idle()
        assert [r.output for r in sim.runs("remind")] == ["late", "fresh"]
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False)
    dropped = jobsim.Trace.load(path).of("event.dropped")
    assert [(r.data.get("pending"), r.data.get("taken")) for r in dropped] == [
        (True, None), (True, None), (None, "kept")]
    result = jobsim.Simulation.replay(path, shop())
    assert result.same, result.report()
    assert [r.output for r in result.simulation.runs("remind")] == ["late", "fresh"]
