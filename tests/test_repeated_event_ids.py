"""An event whose id repeats one sent in the last 24 h: Inngest keeps it and skips only the runs it would
start (runner.go ``Initialize``: the run's idempotency key is function + event id, 24 h); the other profiles'
queues drop it whole (an add with a job id already taken is a no-op)."""

import pytest

import jobsim
from jobsim import Batch, Cancel, Concurrency, Debounce, Event, RateLimit
from jobsim._time import HOUR, SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def secs(ns):
    return (ns - T0) / SECOND


def test_a_repeated_id_resumes_a_waiting_run():
    app = jobsim.App("a")

    @app.function("checkout", on="cart/created")
    def checkout(ctx):
        done = ctx.step.wait_for_event("paid", event="cart/paid", match="data.cartId", timeout="1d")
        return None if done is None else done.data["total"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("cart/paid", {"cartId": "c0", "total": 1}, id="pay-1"))  # no wait yet
        sim.send("cart/created", {"cartId": "c1"})
        sim.advance("1h")
        sim.send(Event("cart/paid", {"cartId": "c1", "total": 42}, id="pay-1"))  # the same id, 1 h later
        sim.run_until_idle()
    (run,) = sim.runs("checkout")
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", 42, 3600)
    assert [e.id for e in sim.events if e.name == "cart/paid"] == ["pay-1", "pay-1"]
    assert sim.bus.dropped == [] and not sim.trace.of("event.dropped")


def test_a_repeated_id_cancels_a_run():
    app = jobsim.App("a")

    @app.function("remind", on="order/created", cancel_on=[Cancel("order/cancelled", match="data.orderId")])
    def remind(ctx):
        ctx.step.sleep("wait", "1h")
        return "sent"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("order/cancelled", {"orderId": "o0"}, id="c-1"))
        sim.send("order/created", {"orderId": "o1"})
        sim.advance("10m")
        sim.send(Event("order/cancelled", {"orderId": "o1"}, id="c-1"))
        sim.run_until_idle()
    (run,) = sim.runs("remind")
    assert (run.status, secs(run.end_ns)) == ("cancelled", 600)


def test_a_repeated_id_starts_no_run_of_a_function_that_ran_for_it():
    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: ctx.event.data["n"])
    app.function("refund", on="order/refunded")(lambda ctx: ctx.event.data["n"])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("order/paid", {"n": 1}, id="o1"))
        sim.advance("1h")
        sim.send(Event("order/paid", {"n": 2}, id="o1"))
        sim.send(Event("order/refunded", {"n": 3}, id="o1"))  # the key is per function: `refund` has none for o1
        sim.run_until_idle()
    first, repeat = sim.runs("pay")
    assert first.output == 1 and (repeat.status, repeat.attempts) == ("skipped", [])
    assert repeat.start_ns == repeat.end_ns == T0 + HOUR
    assert [r.output for r in sim.runs("refund")] == [3]
    (skipped,) = sim.trace.of("run.skipped")
    assert skipped.data["reason"] == "event_id" and skipped.data["key"] == "o1"
    timeline = sim.timeline()
    assert "skipped   pay#2: event id 'o1' already started a run in the last 24h" in timeline
    assert "dropped" not in timeline
    assert [e.data["n"] for e in sim.events] == [1, 2, 3]


def test_the_24h_count_from_the_run_and_a_repeat_does_not_extend_them():
    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim:
        for _ in range(3):
            sim.send(Event("order/paid", {}, id="o1"))
            sim.advance("12h")  # 0 h runs, 12 h is skipped, 24 h runs again (the key's 24 h have passed)
        sim.run_until_idle()
    assert [(r.status, secs(r.start_ns) / 3600) for r in sim.runs("pay")] == [
        ("completed", 0), ("skipped", 12), ("completed", 24)]


def test_only_the_last_24h_of_ids_are_kept_and_they_still_skip_repeats():
    # every run's (function, event id) was kept for good: a replayed week held a week of them, where only the
    # last 24 h can skip a run
    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: ctx.event.data["n"])
    app.function("ship", on="order/paid", concurrency=[Concurrency(limit=5)])(lambda ctx: ctx.event.data["n"])
    hours = 7 * 24
    with jobsim.Simulation(app, start=START) as sim:
        for n in range(hours):
            sim.send(Event("order/paid", {"n": n}, id=f"o{n}"))
            sim.advance("1h")
        ids = sim.engine.run_ids
        assert sorted(ids) == sorted((fn, f"o{n}") for fn in ("pay", "ship") for n in range(hours - 24, hours))
        sim.send(Event("order/paid", {"n": "a day later"}, id=f"o{hours - 24}"))  # made its runs 24 h ago: runs
        sim.send(Event("order/paid", {"n": "23 h later"}, id=f"o{hours - 23}"))  # 23 h ago: skipped
        sim.run_until_idle()
    for fn in ("pay", "ship"):
        runs = sim.runs(fn)
        assert [(r.status, r.output) for r in runs[hours:]] == [("completed", "a day later"), ("skipped", None)]
        assert {r.status for r in runs[:hours]} == {"completed"}


def test_a_repeated_id_joins_a_batch_and_a_debounce():
    app = jobsim.App("a")
    app.function("batched", on="e/x", batch=Batch(max_size=2, timeout="10s"))(lambda ctx: len(ctx.events))
    app.function("quiet", on="e/x", debounce=Debounce(period="5s"))(lambda ctx: ctx.event.data["n"])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("e/x", {"n": 1}, id="same"))
        sim.send(Event("e/x", {"n": 2}, id="same"))  # appended and debounced as any event (internal ids)
        sim.run_until_idle()
    assert [r.output for r in sim.runs("batched")] == [2]
    assert [r.output for r in sim.runs("quiet")] == [2]


def test_a_repeat_within_30_min_passes_the_rate_limit_untouched():
    app = jobsim.App("a")
    app.function("alert", on="e/x", rate_limit=RateLimit(limit=1, period="1h"))(lambda ctx: ctx.event.id)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("e/x", {}, id="a"))
        sim.advance("10m")
        sim.send(Event("e/x", {}, id="a"))  # within 30 min: skipped for its id, the limit is not counted
        sim.advance("40m")
        sim.send(Event("e/x", {}, id="a"))  # 50 min: counted first, and over the limit (1 per hour)
        sim.run_until_idle()
    reasons = [r.data["reason"] for r in sim.trace.of("run.skipped")]
    assert reasons == ["event_id", "rate_limit"]


OTHERS = ["bullmq", "trigger.dev", "quirrel", "agenda"]


@pytest.mark.parametrize("profile", OTHERS)
def test_queues_drop_a_repeated_id_whole(profile):
    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: ctx.event.data["n"])
    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.send(Event("order/paid", {"n": 1}, id="o1"))
        sim.send(Event("order/paid", {"n": 2}, id="o1"))  # the first job not run yet: taken on every queue
        sim.run_until_idle()
    assert [r.output for r in sim.runs("pay")] == [1]
    assert [e.data["n"] for e in sim.events] == [1] and [e.data["n"] for e in sim.bus.dropped] == [2]
    assert not sim.trace.of("run.skipped")
    why = {"bullmq": ": the job it named is kept, so the id stays taken", "agenda": ": the job it named is kept, so "
           "the id stays taken", "quirrel": ": the job it named has not run yet",
           "trigger.dev": " within 30 days, and the run it started did not fail"}[profile]  # fmt: skip
    assert f"event     order/paid id='o1' dropped: duplicate id{why}" in sim.timeline()


def test_a_repeated_id_in_singleton_cancel_mode_cancels_the_holder_then_is_skipped():
    """executor.go ``schedule``: singletons are handled "prior to creating state" (in cancel mode ``e.Cancel``
    runs on the holder there), and the repeat's skip comes after, when ``smv2.Create`` finds the run's
    idempotency key (``state.ErrIdentifierExists``): the holder is cancelled and no run replaces it."""
    app = jobsim.App("a")

    @app.function("sync", on="user/updated", singleton=jobsim.Singleton(mode="cancel"))
    def sync(ctx):
        ctx.step.sleep("wait", "1h")
        return "synced"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send(Event("user/updated", {"n": 1}, id="u-1"))
        sim.advance("10m")
        sim.send(Event("user/updated", {"n": 2}, id="u-1"))
        sim.run_until_idle()
    first, second = sim.runs("sync")
    assert (first.status, secs(first.end_ns)) == ("cancelled", 600)
    assert (second.status, secs(second.end_ns)) == ("skipped", 600)
    (skip,) = sim.trace.of("run.skipped")
    assert skip.data["reason"] == "event_id"


def test_the_bus_keeps_a_day_of_ids_on_profiles_that_drop_repeats():
    # a replayed week held every event id the bus had met, where only the last 24 h can drop a repeat (the rule
    # of a plugin's profile unless it says another: BullMQ's own keeps its jobs, and their ids, for ever)
    import dataclasses

    from jobsim._profiles import profile

    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: ctx.event.data["n"])
    hours = 7 * 24
    day_rule = dataclasses.replace(profile("bullmq"), repeated_ids="drop")
    with jobsim.Simulation(app, start=START, profile=day_rule) as sim:
        for n in range(hours):
            sim.send(Event("order/paid", {"n": n}, id=f"o{n}"))
            sim.advance("1h")
        assert sorted(sim.bus._seen) == sorted(f"o{n}" for n in range(hours - 24, hours))
        sim.send(Event("order/paid", {"n": "a day later"}, id=f"o{hours - 24}"))  # taken 24 h ago: accepted
        sim.send(Event("order/paid", {"n": "23 h later"}, id=f"o{hours - 23}"))  # 23 h ago: dropped
        sim.run_until_idle()
    assert [r.output for r in sim.runs("pay")[hours:]] == ["a day later"]
    assert [e.data["n"] for e in sim.bus.dropped] == ["23 h later"]


def test_a_delayed_send_holding_its_id_past_a_day_is_let_in():
    # its claim outlived the bus's day of ids: letting it in looked the id up where it had been forgotten
    app = jobsim.App("a")
    app.function("remind", on="cart/remind")(lambda ctx: ctx.event.data["n"])
    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:
        sim.send(Event("cart/remind", {"n": "in 2 days"}, id="r1"), delay="2d")
        for n in range(3):
            sim.advance("20h")
            sim.send(Event("cart/tick", {}, id=f"t{n}"))  # ids noted meanwhile push the claim's note out
        sim.send(Event("cart/remind", {"n": "copy"}, id="r1"))  # the claim still holds: a duplicate
        sim.run_until_idle()
    assert [r.output for r in sim.runs("remind")] == ["in 2 days"]
    assert [e.data["n"] for e in sim.bus.dropped] == ["copy"]


def test_quirrel_frees_an_id_once_its_job_ran_and_holds_ids_of_jobs_queued_after_the_first_repeat():
    # the runs of an id are indexed at its first repeat; ids of runs started after that must be found as well
    app = jobsim.App("a")
    app.function("remind", on="cart/remind")(lambda ctx: ctx.event.data["n"])
    with jobsim.Simulation(app, start=START, profile="quirrel") as sim:
        sim.send(Event("cart/remind", {"n": 1}, id="a"), delay="1h")
        sim.send(Event("cart/remind", {"n": 2}, id="a"))  # its job is queued: dropped
        sim.advance("2h")
        sim.send(Event("cart/remind", {"n": 3}, id="b"), delay="1h")  # started after the index was built
        sim.send(Event("cart/remind", {"n": 4}, id="b"))  # dropped: b's job is queued
        sim.send(Event("cart/remind", {"n": 5}, id="a"))  # a's job ran: let in
        sim.run_until_idle()
    assert sorted(r.output for r in sim.runs("remind")) == [1, 3, 5]
    assert [e.data["n"] for e in sim.bus.dropped] == [2, 4]


def test_trigger_dev_frees_an_id_whose_run_failed_only():
    app = jobsim.App("a")

    @app.function("pay", on="order/paid", retries=jobsim.Retries(attempts=1))
    def pay(ctx):
        if ctx.event.data["fail"]:
            raise RuntimeError("declined")
        return ctx.event.data["n"]

    with jobsim.Simulation(app, start=START, profile="trigger.dev") as sim:
        sim.send(Event("order/paid", {"n": 1, "fail": True}, id="a"))
        sim.run_until_idle()
        sim.send(Event("order/paid", {"n": 2, "fail": False}, id="b"))
        sim.run_until_idle()
        sim.send(Event("order/paid", {"n": 3, "fail": False}, id="a"))  # a's run failed: let in
        sim.send(Event("order/paid", {"n": 4, "fail": False}, id="b"))  # b's run completed: dropped
        sim.send(Event("order/paid", {"n": 5, "fail": False}, id="a"))  # a's second run did not fail: dropped
        sim.run_until_idle()
    assert [(r.status, r.output) for r in sim.runs("pay")] == [("failed", None), ("completed", 2), ("completed", 3)]
    assert [e.data["n"] for e in sim.bus.dropped] == [4, 5]
