"""Flow control at its edges, on the Inngest profile: exact virtual instants read from inngest/inngest's source.

Each test names the file and function its expected instants come from (reference/semantics.md §1.3).
"""

import time

import jobsim
from jobsim import Batch, Cancel, Concurrency, Debounce, RateLimit
from jobsim._time import MS, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
JOB_MS = 1_050  # debounce.go: the job that starts a debounced run is enqueued at ttl + 50 ms + 1 s


def at(sim, ms):
    sim.advance_to(to_datetime(T0 + ms * MS))


def ms(ns):
    return (ns - T0) // MS


def test_a_batch_runs_at_its_timeout_and_an_event_at_that_instant_opens_the_next():
    """executor.go ``AppendAndScheduleBatch``: the first event (append.lua ``new``) schedules the batch job at
    ``now + timeout``; a full batch (``len >= batchLimit``) starts at once. An event 1 ms before the timeout
    joins; one at the very instant finds the batch already started (jobsim runs due timers before a send at
    the same instant; on Inngest the two race) and opens the next batch, whose own timeout starts then."""
    app = jobsim.App("a")

    @app.function("digest", on="go", batch=Batch(max_size=3, timeout="10s"))
    def digest(ctx):
        return [event.data["i"] for event in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {"i": 0})
        at(sim, 9_999)
        sim.send("go", {"i": 1})
        at(sim, 10_000)
        for i in (2, 3, 4):  # the third fills the new batch at once
            sim.send("go", {"i": i})
        sim.send("go", {"i": 5})
        sim.run_until_idle()
    assert [(ms(r.start_ns), r.output) for r in sim.runs("digest")] == [
        (10_000, [0, 1]), (10_000, [2, 3, 4]), (20_000, [5])]
    assert [r.data["why"] for r in sim.trace.of("batch")] == ["timeout", "full", "timeout"]


def test_a_debounce_event_at_the_end_of_the_period_still_extends_it():
    """debounce.go / updateDebounce.lua: the pointer lives ``ttl`` = the period; an event while it lives
    replaces the stored event and pushes the job to ``now + ttl + 1.05 s``; Redis keeps a key until *after*
    its expiry instant, so an event at exactly 10 s still extends, and one at 10.001 s starts a new debounce
    while the first job (due 11.05 s) still runs with the first event."""
    app = jobsim.App("a")

    @app.function("sync", on="go", debounce=Debounce(period="10s"))
    def sync(ctx):
        return ctx.event.data["i"]

    results = []
    for second_ms in (10_000, 10_001):
        with jobsim.Simulation(app, start=START) as sim:
            sim.send("go", {"i": 0})
            at(sim, second_ms)
            sim.send("go", {"i": 1})
            sim.run_until_idle()
        results.append([(ms(r.start_ns), r.output) for r in sim.runs("sync")])
    assert results == [[(20_000 + JOB_MS, 1)], [(10_000 + JOB_MS, 0), (20_001 + JOB_MS, 1)]]


def test_a_rate_limit_window_opens_exactly_at_the_emission_interval():
    """ratelimit_lua.go ``RateLimit``: burst = int(limit / 10) = 0 for limit 2, emission e = 1 min / 2 = 30 s;
    ratelimit.lua allows a start iff ``floor((dvt - (tat - now)) / e) > 0``, i.e. ``tat - now <= e·burst``:
    at 0 s (TAT -> 30 s), not at 29.999 s, again at exactly 30 s (TAT -> 60 s), not at 59.999 s."""
    app = jobsim.App("a")

    @app.function("alert", on="go", rate_limit=RateLimit(limit=2, period="1m"))
    def alert(ctx):
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i, when in enumerate([0, 29_999, 30_000, 59_999, 60_000]):
            at(sim, when)
            sim.send("go", {"i": i})
        sim.run_until_idle()
    assert [(ms(r.start_ns), r.status) for r in sim.runs("alert")] == [
        (0, "completed"), (29_999, "skipped"), (30_000, "completed"), (59_999, "skipped"), (60_000, "completed")]


def test_concurrency_keys_missing_false_and_null():
    """pkg/inngest/concurrency.go ``StepConcurrency.Evaluate``: the key is ``fmt.Sprintf("%v", val)`` of the
    CEL result, and a missing field evaluates to ``false`` (expressions/cel.go ``eval``: unknown -> false), so a
    missing field, ``false`` and the string ``"false"`` share one queue; JSON null is CEL null, printed
    ``NULL_VALUE``: a queue of its own. Limit 1, 10 s per run, all sent at 0 s."""
    app = jobsim.App("a")

    @app.function("render", on="go", concurrency=Concurrency(1, key="event.data.k"))
    def render(ctx):
        ctx.step.run("work", time.sleep, 10)
        return ctx.event.data["i"]

    with jobsim.Simulation(app, start=START) as sim:
        for i, data in enumerate([{}, {"k": False}, {"k": "false"}, {"k": None}, {"k": None}]):
            sim.send("go", {"i": i, **data})
        sim.run_until_idle()
    assert {r.output: ms(r.start_ns) // 1000 for r in sim.runs("render")} == {0: 0, 1: 10, 2: 20, 3: 0, 4: 10}


def test_cancel_on_with_if_and_timeout():
    """executor.go (the ``range req.Function.Cancel`` loop): the pause expires at ``now + timeout`` from the
    run's creation and is expired once ``Expires.Before(now)``; an event that fails the ``if`` leaves the pause
    in place. The run sleeps 1 h: a non-matching event at 1 min, a match at exactly 5 min cancels run o1;
    for o2 the match comes 1 ms after its 5 min and the run completes."""
    app = jobsim.App("a")
    cancel = Cancel("order/updated", timeout="5m", if_exp="event.data.id == async.data.id && async.data.void == true")

    @app.function("remind", on="order/created", cancel_on=[cancel])
    def remind(ctx):
        ctx.step.sleep("wait", "1h")
        return ctx.event.data["id"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"id": "o1"})
        at(sim, 1)
        sim.send("order/created", {"id": "o2"})
        at(sim, 60_000)
        sim.send("order/updated", {"id": "o1", "void": False})
        at(sim, 300_000)
        sim.send("order/updated", {"id": "o1", "void": True})
        at(sim, 300_002)
        sim.send("order/updated", {"id": "o2", "void": True})
        sim.run_until_idle()
    assert [(r.status, ms(r.end_ns)) for r in sim.runs("remind")] == [
        ("cancelled", 300_000), ("completed", 3_600_001)]


def test_batching_with_concurrency_queues_the_second_batch():
    """A full batch's run is scheduled at once (executor.go ``AppendAndScheduleBatch``, BatchFull), then its
    steps take concurrency slots like any run's: limit 1, 30 s per run, events at 0-3 s: the first batch runs
    1-31 s, the second (full at 3 s) waits for the slot and runs 31-61 s."""
    app = jobsim.App("a")

    @app.function("digest", on="go", batch=Batch(max_size=2, timeout="10s"), concurrency=1)
    def digest(ctx):
        ctx.step.run("work", time.sleep, 30)
        return [event.data["i"] for event in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        for i in range(4):
            at(sim, i * 1000)
            sim.send("go", {"i": i})
        sim.run_until_idle()
    work = [(r.output, ms(r.steps["work"].start_ns) // 1000, ms(r.end_ns) // 1000) for r in sim.runs("digest")]
    assert work == [([0, 1], 1, 31), ([2, 3], 31, 61)]


def test_a_debounced_run_can_only_be_cancelled_once_it_exists():
    """executor.go ``schedule``: a debounced event returns ErrFunctionDebounced before the run, and so its
    cancellation pauses, is created; the run made when the debounce fires (service.go ``handleDebounce``)
    sets them up then. So a cancel during the debounce period does nothing; one after the run starts
    cancels it."""
    app = jobsim.App("a")

    @app.function("remind", on="cart/updated", debounce=Debounce(period="1m", key="event.data.cart"),
                  cancel_on=[Cancel("cart/ordered", match="data.cart")])
    def remind(ctx):
        ctx.step.sleep("later", "1h")
        return ctx.event.data["cart"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/updated", {"cart": "c1"})
        sim.send("cart/updated", {"cart": "c2"})
        at(sim, 30_000)
        sim.send("cart/ordered", {"cart": "c1"})  # during the debounce: no run, no pause yet
        at(sim, 120_000)
        sim.send("cart/ordered", {"cart": "c2"})  # the run (started 61.05 s) sleeps: cancelled
        sim.run_until_idle()
    assert [(r.event.data["cart"], r.status, ms(r.end_ns)) for r in sim.runs("remind")] == [
        ("c1", "completed", 60_000 + JOB_MS + 3_600_000), ("c2", "cancelled", 120_000)]
