"""concurrency=: at most `limit` steps executing code at once; queued work starts FIFO."""

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Concurrency
from jobsim._time import SECOND, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def secs(ns):
    return (ns - T0) / SECOND


def busy_intervals(runs):
    """(start, end) of every request that spent virtual time executing code."""
    return [(a.start_ns, a.end_ns) for r in runs for a in r.attempts if a.end_ns > a.start_ns]


def peak(intervals):
    """Most intervals overlapping at any instant; [start, end) so a slot freed at t is free at t."""
    edges = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    level = top = 0
    for _, change in edges:
        level += change
        top = max(top, level)
    return top


def test_steps_that_sleep_hold_a_slot_and_the_queue_starts_fifo():
    app = jobsim.App("a")

    @app.function("crunch", on="go", concurrency=2)
    def crunch(ctx):
        ctx.step.run("load", time.sleep, 10)
        ctx.step.run("save", time.sleep, 5)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i in range(4):
            sim.send("go", {"i": i})
        sim.run_until_idle()
    runs = sim.runs("crunch")
    table = [[(a.step, secs(a.start_ns), secs(a.end_ns)) for a in r.attempts] for r in runs]
    assert table == [
        [("load", 0, 10), ("save", 20, 25), (None, 30, 30)],
        [("load", 0, 10), ("save", 20, 25), (None, 30, 30)],
        [("load", 10, 20), ("save", 25, 30), (None, 30, 30)],
        [("load", 10, 20), ("save", 25, 30), (None, 30, 30)],
    ]  # the two later runs' "load" were queued first, so they get the slots freed at 10 s
    assert [secs(r.start_ns) for r in runs] == [0, 0, 10, 10]
    assert peak(busy_intervals(runs)) == 2


def test_sleeping_and_waiting_runs_do_not_hold_a_slot():
    app = jobsim.App("a")

    @app.function("slow", on="go", concurrency=1)
    def slow(ctx):
        kind = ctx.event.data["kind"]
        ctx.step.run("before", time.sleep, 1 if kind != "work" else 10)
        if kind == "sleep":
            ctx.step.sleep("nap", "1h")
        elif kind == "wait":
            ctx.step.wait_for_event("hold", event="never", timeout="1h")
        ctx.step.run("after", time.sleep, 1 if kind != "work" else 10)

    with jobsim.Simulation(app, start=START) as sim:
        for kind in ["sleep", "wait", "work"]:
            sim.send("go", {"kind": kind})
        sim.advance("30s")
        sleeper, waiter, worker = sim.runs("slow")
        assert (sleeper.status, waiter.status, worker.status) == ("sleeping", "waiting", "completed")
        sim.run_until_idle()
    # one slot, taken in turn: sleeper 0-1, waiter 1-2, worker 2-12, then the sleeper and the
    # waiter plan their pauses (no time) and the worker's second step runs 12-22.
    assert secs(worker.end_ns) == 22
    assert sleeper.status == waiter.status == "completed"
    assert peak(busy_intervals([sleeper, waiter, worker])) == 1


def test_concurrency_key_limits_each_key_separately():
    app = jobsim.App("a")

    @app.function("per-user", on="go", concurrency=Concurrency(1, key="event.data.user"))
    def per_user(ctx):
        ctx.step.run("work", time.sleep, 10)

    with jobsim.Simulation(app, start=START) as sim:
        for user in ["a", "a", "b", "b", "c"]:
            sim.send("go", {"user": user})
        sim.run_until_idle()
    assert [(r.event.data["user"], secs(r.start_ns)) for r in sim.runs("per-user")] == [
        ("a", 0), ("a", 10), ("b", 0), ("b", 10), ("c", 0),
    ]  # fmt: skip


def test_async_code_that_awaits_asyncio_sleep_holds_the_slot():
    app = jobsim.App("a")

    @app.function("fetch", on="go", concurrency=1)
    async def fetch(ctx):
        async def slow():
            await asyncio.sleep(3)

        await ctx.step.run("get", slow)

    with jobsim.Simulation(app, start=START) as sim:
        for _ in range(3):
            sim.send("go")
        sim.run_until_idle()
    assert [secs(r.start_ns) for r in sim.runs("fetch")] == [0, 3, 6]


def test_priority_shifts_the_concurrency_queue():
    app = jobsim.App("a")

    @app.function("job", on="go", concurrency=1, priority=lambda event: event.data["priority"])
    def job(ctx):
        ctx.step.run("work", time.sleep, 10)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i, priority in enumerate([0, 0, 5, 30]):
            sim.send("go", {"i": i, "priority": priority})
        sim.run_until_idle()
    by_start = sorted(sim.runs("job"), key=lambda r: r.start_ns)
    assert [r.output for r in by_start] == [0, 3, 2, 1]


def test_a_priority_expression_converts_the_event_number_as_cel_int_does():
    """Inngest's Priority.run must give an int (pkg/inngest/function.go : RunPriorityFactor: a double is
    "returned non-int", which executor.go ``schedule`` ignores, leaving factor 0); event numbers are JSON doubles
    (pkg/event/event.go, encoding/json), so the expression converts: int(30.9) = 30 (toward zero), int("45") = 45,
    int("high") / int(missing) are errors (0), 50000 clamps to consts.PriorityFactorMax = 43200. Queued together
    at 1 s behind a 100 s run, they start in order of 1 s - factor, FIFO on ties."""
    app = jobsim.App("a")

    @app.function("job", on="go", concurrency=1, priority="int(event.data.p)")
    def job(ctx):
        ctx.step.run("work", time.sleep, 100 if ctx.event.data["i"] == "first" else 1)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {"i": "first"})
        sim.advance("1s")
        for name, p in [("a", 30.9), ("b", "45"), ("c", "high"), ("d", None), ("e", 50_000), ("f", -7.9)]:
            sim.send("go", {"i": name} if p is None else {"i": name, "p": p})
        sim.run_until_idle()
    started = sorted((secs(r.start_ns), r.output) for r in sim.runs("job"))
    assert started == [(0, "first"), (100, "e"), (101, "b"), (102, "a"), (103, "c"), (104, "d"), (105, "f")]


def test_a_runs_next_step_goes_ahead_of_newer_runs_waiting_for_the_slot():
    """pkg/execution/queue/item.go ``QueueItem.Score``: a queue item due now is scored by its *run's* creation
    time (the run ID's ms) less the priority factor, "to prioritize finishing older function runs"; the finished
    step's next item is enqueued before its lease ends. Limit 1, two 10 s steps per run, runs created at 0, 1
    and 2 s: run 0 does both steps (0-20 s) before run 1 starts; before, its second step queued behind runs 1
    and 2 (0-10, 10-20, 20-30, then 30-40)."""
    app = jobsim.App("a")

    @app.function("job", on="go", concurrency=1)
    def job(ctx):
        ctx.step.run("one", time.sleep, 10)
        ctx.step.run("two", time.sleep, 10)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i in range(3):
            sim.send("go", {"i": i})
            sim.advance("1s")
        sim.run_until_idle()
    steps = [(r.output, secs(r.steps["one"].start_ns), secs(r.steps["two"].start_ns)) for r in sim.runs("job")]
    assert steps == [(0, 0, 10), (1, 20, 30), (2, 40, 50)]


def test_a_wake_up_scheduled_more_than_2s_ahead_keeps_its_own_time():
    """queue/item.go ``QueueItem.Score``/``RequiresPromotionJob``: only an item due within
    consts.FutureAtLimit (2 s) of its enqueueing is scored by its run's age; a longer sleep's wake-up keeps
    its own time (job promotion is off by default, queue/enqueue.go). Limit 1; run A: a 10 s step, a sleep,
    a 10 s step; runs B and C (created at 1 and 2 s): one 10 s step. A 2 s sleep wakes at 12 s with A's age
    (0 s) and goes first at 20 s; a 5 s sleep wakes at 15 s scored 15 s, behind B's last request and C."""
    def story(nap):
        app = jobsim.App("a")

        @app.function("job", on="go", concurrency=1)
        def job(ctx):
            ctx.step.run("one", time.sleep, 10)
            if ctx.event.data["i"] == "A":
                ctx.step.sleep("nap", nap)
                ctx.step.run("two", time.sleep, 10)
            return ctx.event.data["i"]

        with jobsim.Simulation(app, start=START) as sim:
            for i in "ABC":
                sim.send("go", {"i": i})
                sim.advance("1s")
            sim.run_until_idle()
        return sorted((secs(r.steps[key].start_ns), r.output) for r in sim.runs("job") for key in r.steps
                      if key != "nap")  # fmt: skip

    assert story("2s") == [(0, "A"), (10, "B"), (20, "A"), (30, "C")]
    assert story("5s") == [(0, "A"), (10, "B"), (20, "C"), (30, "A")]


def test_a_run_resumed_by_an_event_keeps_its_age():
    """A wait resolved by an event enqueues the run's next item then, due at once, so it is scored by the run's
    age (QueueItem.Score); only the wait's timeout item was enqueued ahead. Limit 1; run A: a 10 s step, a wait
    resolved at 15 s, a 10 s step; B and C (created 1 and 2 s): one 10 s step. A's second step goes at 20 s,
    ahead of C."""
    app = jobsim.App("a")

    @app.function("job", on="go", concurrency=1)
    def job(ctx):
        ctx.step.run("one", time.sleep, 10)
        if ctx.event.data["i"] == "A":
            ctx.step.wait_for_event("ok", event="ok", timeout="1h")
            ctx.step.run("two", time.sleep, 10)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i in "ABC":
            sim.send("go", {"i": i})
            sim.advance("1s")
        sim.advance_to(to_datetime(T0 + 15 * SECOND))
        sim.send("ok")
        sim.run_until_idle()
    steps = sorted((secs(r.steps[key].start_ns), r.output) for r in sim.runs("job") for key in ("one", "two")
                   if key in r.steps)  # fmt: skip
    assert steps == [(0, "A"), (10, "B"), (20, "A"), (30, "C")]


def test_a_throttled_run_keeps_its_age_in_the_concurrency_queue():
    """The throttle holds the start item, enqueued at the run's creation, where it is: once let through, it is
    scored by its run's age (QueueItem.Score), however long it was held. One slot shared by two functions
    (account scope): y (created 0 s) holds it to 30 s; x runs are throttled to 1 per 10 s: x#1 (created 1 s)
    passes at once, x#2 (created 2 s) at 11 s; y#2 is created at 5 s. From 30 s: x#1, x#2 (age 2 s), y#2 (5 s)."""
    app = jobsim.App("a")
    shared = Concurrency(1, key='"api"', scope="account")

    @app.function("x", on="x", concurrency=shared, throttle=jobsim.Throttle(limit=1, period="10s"))
    def x(ctx):
        ctx.step.run("call", time.sleep, 10)

    @app.function("y", on="y", concurrency=shared)
    def y(ctx):
        ctx.step.run("call", time.sleep, 30 if ctx.event.data["i"] == 0 else 10)

    with jobsim.Simulation(app, start=START) as sim:
        for at, name, i in [(0, "y", 0), (1, "x", 1), (2, "x", 2), (5, "y", 2)]:
            sim.advance_to(to_datetime(T0 + at * SECOND))
            sim.send(name, {"i": i})
        sim.run_until_idle()
    calls = sorted((secs(r.steps["call"].start_ns), f"{fn}#{r.event.data['i']}") for fn in "xy" for r in sim.runs(fn))
    assert calls == [(0, "y#0"), (30, "x#1"), (40, "x#2"), (50, "y#2")]


def test_a_queued_run_is_visible_as_queued():
    app = jobsim.App("a")

    @app.function("one", on="go", concurrency=1)
    def one(ctx):
        ctx.step.run("work", time.sleep, 60)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.send("go")
        sim.advance("30s")
        assert [r.status for r in sim.runs("one")] == ["running", "queued"]
        sim.run_until_idle()
    assert "queued    one#2 waits for a concurrency slot" in sim.timeline()


@settings(max_examples=50, deadline=None)
@given(
    jobs=st.lists(
        st.tuples(
            st.integers(0, 20),  # arrives at (s)
            st.lists(st.integers(1, 15), min_size=1, max_size=3),  # step durations (s)
            st.integers(0, 10),  # a step.sleep between the steps (s), 0 = none
        ),
        min_size=1,
        max_size=12,
    ),
    limit=st.integers(1, 4),
)
def test_concurrency_never_exceeds_its_limit_at_any_instant(jobs, limit):
    app = jobsim.App("a")

    @app.function("job", on="go", concurrency=limit)
    def job(ctx):
        durations, nap = ctx.event.data["durations"], ctx.event.data["nap"]
        for k, seconds in enumerate(durations):
            ctx.step.run(f"s{k}", time.sleep, seconds)
            if nap:
                ctx.step.sleep(f"nap{k}", nap)

    with jobsim.Simulation(app, start=START) as sim:
        for arrive, durations, nap in sorted(jobs):
            sim.advance_to(jobsim._time.to_datetime(T0 + arrive * SECOND))
            sim.send("go", {"durations": durations, "nap": nap})
        sim.run_until_idle()
    runs = sim.runs("job")
    assert all(r.status == "completed" for r in runs)
    intervals = busy_intervals(runs)
    assert len(intervals) == sum(len(d) for _, d, _ in jobs)  # each step ran once, for its time
    assert peak(intervals) <= limit


def test_concurrency_keys_1_and_the_string_1_share_one_slot_and_so_do_callable_keys():
    app = jobsim.App("a")

    @app.function("by-path", on="go", concurrency=Concurrency(1, key="event.data.user"))
    def by_path(ctx):
        ctx.step.run("work", time.sleep, 10)

    @app.function("by-callable", on="go", concurrency=Concurrency(1, key=lambda event: event.data["user"]))
    def by_callable(ctx):
        ctx.step.run("work", time.sleep, 10)

    with jobsim.Simulation(app, start=START) as sim:
        for user in [1, "1", 1.0, True, "true"]:
            sim.send("go", {"user": user})
        sim.run_until_idle()
    for name in ("by-path", "by-callable"):
        assert [secs(r.start_ns) for r in sim.runs(name)] == [0, 10, 20, 0, 10]


def test_a_run_whose_next_step_takes_its_own_freed_slot_at_once_records_no_wait():
    """Run 1's second step came as its first freed the slot, with run 2 waiting: it was queued and granted at the
    same instant, and each of its steps wrote "waits for a concurrency slot" though it never waited."""
    app = jobsim.App("a")

    @app.function("render", on="go", concurrency=1)
    def render(ctx):
        ctx.step.run("a", time.sleep, 10)
        ctx.step.run("b", time.sleep, 10)
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.advance("1s")
        sim.send("go")
        sim.run_until_idle()
    first, second = sim.runs("render")
    assert [(r.data["n"], secs(r.at)) for r in sim.trace.of("run.queued")] == [(2, 1)]  # the one real wait
    assert [secs(a.start_ns) for a in first.attempts] == [0, 10, 20]  # run 1 never waited
    assert [secs(a.start_ns) for a in second.attempts] == [20, 30, 40]
