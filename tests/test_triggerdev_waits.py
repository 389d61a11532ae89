"""Trigger.dev: a time-based wait keeps the run's concurrency slot until it is checkpointed.

docs/queue-concurrency.mdx, "Short time-based waits keep their slot": only executing runs
count against a queue's limit, and a run waiting on ``wait.for``/``wait.until`` stays
executing until it is checkpointed, 60 seconds into the wait. A shorter wait holds the slot
for all of it; a longer one gives it back at 60 s and asks for one again as it wakes.
``triggerAndWait`` (``ctx.step.invoke``) checkpoints as it reaches the wait.
"""

import dataclasses
import datetime as dt
import time

import pytest

import jobsim
from jobsim import Concurrency

START = "2026-03-02T00:00:00Z"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
T0_NS = int(T0.timestamp()) * 10**9


def _s(when):
    return round((when - T0).total_seconds())


def _queue(profile, pause, work=0, jobs=2, gap="1s"):
    """``jobs`` runs of one task with ``concurrencyLimit: 1``: each sleeps ``pause``, then works ``work``."""
    app = jobsim.App("waits")

    @app.function("task", on="go", concurrency=Concurrency(1))
    def task(ctx):
        ctx.step.sleep("pause", pause)
        ctx.step.run("work", time.sleep, work)
        return ctx.event.data["n"]

    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        for n in range(jobs):
            sim.send("go", {"n": n})
            sim.advance(gap)
        sim.run_until_idle()
    return sim


def _spans(sim):
    """Each run as (its first instant executing, its end), in seconds from the start."""
    return [(_s(r.started_at), _s(r.finished_at)) for r in sorted(sim.runs("task"), key=lambda r: r.event.data["n"])]


@pytest.mark.parametrize("seconds", [30, 60])
def test_a_wait_of_up_to_60_s_holds_the_slot_for_all_of_it(seconds):
    # the second run, sent at 1 s, starts only when the first ends: the first never gave its slot back
    assert _spans(_queue("trigger.dev", f"{seconds}s")) == [(0, seconds), (seconds, 2 * seconds)]


def test_the_same_short_wait_frees_the_slot_at_once_on_inngest():
    # Inngest's sleep is a new request later: the slot is free while the run sleeps
    assert _spans(_queue("inngest", "30s")) == [(0, 30), (1, 31)]


def test_a_longer_wait_gives_the_slot_back_60_s_in_and_queues_for_it_on_waking():
    # run 0 sleeps 0..300 s, holding its slot until 60 s; run 1 (sent at 1 s) starts then, sleeps to 360 s
    # holding the slot until 120 s; run 0 wakes at 300 s and takes the free slot, working 100 s to 400 s;
    # run 1 wakes at 360 s, finds the slot taken, and works from 400 s to 500 s
    sim = _queue("trigger.dev", "5m", work=100)
    assert _spans(sim) == [(0, 400), (60, 500)]
    queued = [(r.data["n"], (r.at - T0_NS) // 10**9) for r in sim.trace
              if r.kind == "run.queued" and r.data["reason"] == "concurrency"]  # fmt: skip
    assert queued == [(2, 1), (2, 360)]  # run 1 (the function's 2nd) at 1 s, and again as it wakes


def test_a_short_wait_does_not_lose_its_place_to_a_queued_run():
    # three runs; run 0 sleeps 10 s and works 5 s: runs 1 and 2 wait for the slot, and run 0 goes on from its
    # wait at 10 s without queueing behind them
    sim = _queue("trigger.dev", "10s", work=5, jobs=3)
    assert _spans(sim) == [(0, 15), (15, 30), (30, 45)]


def test_trigger_and_wait_checkpoints_at_once_and_frees_the_slot():
    app = jobsim.App("invoke")

    @app.function("parent", on="go", concurrency=Concurrency(1))
    def parent(ctx):
        return ctx.step.invoke("child", function="child", data={})

    @app.function("child", on="never")
    def child(ctx):
        time.sleep(30)
        return "done"

    with jobsim.Simulation(app, start=START, profile="trigger.dev") as sim:
        sim.send("go", {})
        sim.advance("1s")
        sim.send("go", {})
        sim.run_until_idle()
    starts = sorted(_s(r.started_at) for r in sim.runs("parent"))
    assert starts == [0, 1]  # the second parent ran while the first waited on its child


def test_a_run_ending_asleep_with_its_slot_gives_it_back():
    """A profile whose sleeps keep the slot, with cancellation: a run cancelled mid-sleep frees its slot."""
    holding = dataclasses.replace(jobsim.profile("inngest"), name="inngest-holding", sleep_holds_slot_ns=60 * 10**9)
    app = jobsim.App("cancel")

    @app.function("task", on="go", concurrency=Concurrency(1), cancel_on=[jobsim.Cancel("stop", match="data.n")])
    def task(ctx):
        ctx.step.sleep("pause", "30s")
        return ctx.event.data["n"]

    with jobsim.Simulation(app, start=START, profile=holding) as sim:
        sim.send("go", {"n": 0})
        sim.send("go", {"n": 1})
        sim.advance("10s")
        sim.send("stop", {"n": 0})
        sim.run_until_idle()
    first, second = sorted(sim.runs("task"), key=lambda r: r.event.data["n"])
    assert first.status == "cancelled"
    assert (_s(second.started_at), second.status) == (10, "completed")


def test_the_profile_field_is_checked():
    with pytest.raises(jobsim.InvalidArgument, match="sleep_holds_slot_ns"):
        dataclasses.replace(jobsim.profile("inngest"), name="bad", sleep_holds_slot_ns="60s")
