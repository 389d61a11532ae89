"""batch=: per-key batches that run when full or `timeout` after their first event."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Batch
from jobsim._time import MS, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def offset(ns):
    """Virtual ns -> milliseconds since the start of the simulation."""
    return (ns - T0) // MS


def batched_app(batch, seen=None):
    app = jobsim.App("a")

    @app.function("digest", on="note/send", batch=batch)
    def digest(ctx):
        if seen is not None:
            seen.append([e.data["i"] for e in ctx.events])
        return {"size": len(ctx.events), "first": ctx.event.data["i"]}

    return app


def send_at(sim, plan):
    """Send `(ms offset, data)` pairs in order, each at its virtual time."""
    for ms, data in plan:
        sim.advance_to(to_datetime(T0 + ms * MS))
        sim.send("note/send", data)


def test_250_events_for_3_users_over_10s_split_into_per_user_batches_of_at_most_100():
    # Event i arrives at i*40ms (the last at 9.96 s); users: u1 gets i%5 in {0,1,2} (150 events),
    # u2 gets i%5 == 3 (50), u3 gets i%5 == 4 (50).
    users = {0: "u1", 1: "u1", 2: "u1", 3: "u2", 4: "u3"}
    plan = [(i * 40, {"i": i, "userId": users[i % 5]}) for i in range(250)]
    app = batched_app(Batch(max_size=100, timeout="30s", key="event.data.userId"))

    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, plan)
        sim.run_until_idle()

    u1 = [i for i in range(250) if i % 5 < 3]
    got = [(r.event.data["userId"], offset(r.start_ns), [e.data["i"] for e in r.events]) for r in sim.runs("digest")]
    assert got == [
        ("u1", 6_600, u1[:100]),  # the 100th u1 event (i=165) fills the batch at 6.6 s
        ("u2", 30_120, [i for i in range(250) if i % 5 == 3]),  # first u2 event at 120 ms, + 30 s
        ("u3", 30_160, [i for i in range(250) if i % 5 == 4]),
        ("u1", 36_640, u1[100:]),  # a new u1 batch opened by i=166 at 6.64 s
    ]
    assert all(r.status == "completed" for r in sim.runs("digest"))
    batches = [(r.data["size"], r.data["why"], r.data["key"]) for r in sim.trace.of("batch")]
    assert batches == [(100, "full", "u1"), (50, "timeout", "u2"), (50, "timeout", "u3"), (50, "timeout", "u1")]


def test_a_lone_event_waits_exactly_its_timeout():
    app = batched_app(Batch(max_size=100, timeout="30s"))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(1_234, {"i": 0})])
        sim.advance("29.999s")
        assert sim.runs("digest") == []
        sim.advance("1ms")
        (run,) = sim.runs("digest")
    assert offset(run.start_ns) == 31_234 and run.status == "completed"
    assert run.output == {"size": 1, "first": 0}


def test_the_timeout_starts_at_the_first_event_not_the_last():
    app = batched_app(Batch(max_size=10, timeout="10s"))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0}), (9_000, {"i": 1}), (9_999, {"i": 2}), (10_000, {"i": 3})])
        sim.run_until_idle()
    runs = sim.runs("digest")
    assert [(offset(r.start_ns), [e.data["i"] for e in r.events]) for r in runs] == [
        (10_000, [0, 1, 2]),  # the event at exactly 10 s is too late for the first batch
        (20_000, [3]),
    ]


def test_a_full_batch_runs_at_once_and_ctx_events_keeps_arrival_order():
    seen = []
    app = batched_app(Batch(max_size=3, timeout="1m"), seen)
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 7}), (5, {"i": 3}), (6, {"i": 9})])
        sim.advance(0)
        (run,) = sim.runs("digest")
        assert offset(run.start_ns) == 6 and run.status == "completed"
    assert seen == [[7, 3, 9]] and run.event.data["i"] == 7


def test_events_failing_the_batch_if_run_at_once_unbatched():
    app = batched_app(Batch(max_size=5, timeout="10s", if_="event.data.vip != true"))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0}), (1_000, {"i": 1, "vip": True}), (2_000, {"i": 2})])
        sim.run_until_idle()
    got = [(offset(r.start_ns), [e.data["i"] for e in r.events]) for r in sim.runs("digest")]
    assert got == [(1_000, [1]), (10_000, [0, 2])]


def test_an_event_whose_batch_if_gives_no_bool_runs_at_once():
    """runner.go ``initialize``: an event is batched only if ``EvaluateBoolean(EventBatch.If)`` gives true
    without error; a non-bool result (here the string "gold") is ErrInvalidResult (expressions.go :
    booleanEvaluator), so that event runs at once, alone, like one whose ``if`` is false."""
    app = batched_app(Batch(max_size=5, timeout="10s", if_="event.data.tier"))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0, "tier": "gold"}), (1_000, {"i": 1, "tier": True}), (2_000, {"i": 2, "tier": True})])
        sim.run_until_idle()
    got = [(offset(r.start_ns), [e.data["i"] for e in r.events]) for r in sim.runs("digest")]
    assert got == [(0, [0]), (11_000, [1, 2])]


def test_a_batchs_run_is_never_rate_limited_but_an_unbatched_event_is():
    """executor.go ``RetrieveAndScheduleBatch`` schedules a batch's run with ``PreventRateLimit: true``
    ("Batching does not work with rate limiting"), and runner.go ``initialize`` appends a batched event without
    calling Schedule; an event the batch's ``if`` keeps out goes through ``Initialize`` -> Schedule, rate limit
    included. idempotency= is that rate limit: three batches with key "a" all run; of the two unbatched "a"
    events the second is skipped."""
    app = jobsim.App("a")

    @app.function("digest", on="go", batch=Batch(max_size=2, timeout="10s", if_="event.data.batch == true"),
                  idempotency="event.data.k")
    def digest(ctx):
        return [event.data["i"] for event in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        for i in range(6):
            sim.send("go", {"i": i, "k": "a", "batch": True})
        sim.send("go", {"i": 6, "k": "a", "batch": False})
        sim.send("go", {"i": 7, "k": "a", "batch": False})
        sim.run_until_idle()
    assert [(r.status, r.output) for r in sim.runs("digest")] == [
        ("completed", [0, 1]), ("completed", [2, 3]), ("completed", [4, 5]), ("completed", [6]), ("skipped", None)]


def test_an_event_sent_by_a_step_joins_a_batch_at_the_steps_virtual_time():
    app = jobsim.App("a")

    @app.function("producer", on="go")
    def producer(ctx):
        ctx.step.run("wait", lambda: __import__("time").sleep(2))
        ctx.step.send_event("emit", [jobsim.Event("note/send", {"i": 1})])

    @app.function("digest", on="note/send", batch=Batch(max_size=10, timeout="5s"))
    def digest(ctx):
        return len(ctx.events)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("digest")
    assert offset(run.start_ns) == 7_000  # emitted at 2 s of the producer's clock, + 5 s


# -- properties ------------------------------------------------------------------------------


def expected_batches(plan, max_size, timeout_ms):
    """A plain model of Inngest's batching: [(start ms, key, [i, ...])], sorted by start."""
    open_, done = {}, []
    for ms, data in plan:
        key = data["k"]
        batch = open_.get(key)
        if batch is not None and ms >= batch[0] + timeout_ms:  # its timeout fired first
            done.append((batch[0] + timeout_ms, key, batch[1]))
            batch = None
        if batch is None:
            batch = open_[key] = (ms, [])
        batch[1].append(data["i"])
        if len(batch[1]) == max_size:
            done.append((ms, key, batch[1]))
            del open_[key]
    done += [(first + timeout_ms, key, items) for key, (first, items) in open_.items()]
    return sorted(done, key=lambda b: (b[0], b[2][0]))


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 4_000), min_size=1, max_size=60),
    keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=60, max_size=60),
    max_size=st.integers(2, 6),
    timeout_s=st.integers(1, 5),
)
def test_batching_loses_no_event_and_runs_none_twice(gaps, keys, max_size, timeout_s):
    plan, ms = [], 0
    for i, gap in enumerate(gaps):
        ms += gap
        plan.append((ms, {"i": i, "k": keys[i]}))
    seen = []
    app = batched_app(Batch(max_size=max_size, timeout=timeout_s, key="event.data.k"), seen)
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, plan)
        sim.run_until_idle()

    ran = sorted(i for batch in seen for i in batch)
    assert ran == list(range(len(plan)))  # every event, exactly once
    runs = sim.runs("digest")
    assert all(r.status == "completed" for r in runs)
    by_key = defaultdict(list)
    for run in runs:
        assert len(run.events) <= max_size
        assert len({e.data["k"] for e in run.events}) == 1
        items = [e.data["i"] for e in run.events]
        assert items == sorted(items)  # arrival order
        by_key[run.event.data["k"]].append(run)
    got = sorted(((offset(r.start_ns), r.event.data["k"], [e.data["i"] for e in r.events]) for r in runs),
                 key=lambda b: (b[0], b[2][0]))  # fmt: skip
    assert got == expected_batches(plan, max_size, timeout_s * 1_000)


def test_batch_keys_1_and_the_string_1_share_one_batch():
    app = batched_app(Batch(max_size=3, timeout="30s", key="event.data.userId"))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, [(0, {"i": 0, "userId": 1}), (10, {"i": 1, "userId": "1"}), (20, {"i": 2, "userId": 1.0})])
        sim.run_until_idle()
    assert [(offset(r.start_ns), [e.data["i"] for e in r.events]) for r in sim.runs("digest")] == [(20, [0, 1, 2])]
    assert [(r.data["why"], r.data["key"]) for r in sim.trace.of("batch")] == [("full", "1")]
