"""The engine's model: replay, memoization, per-step retries, sleeps, waits, fan-out."""

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import json
import sys
import time
import warnings

import httpx
import pytest
from _deep import nested
from _imports import import_from
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Event, InvalidArgument, JobsimError, NonRetriableError, Retries, RetryAfterError, StepError
from jobsim._time import HOUR, MINUTE, SECOND, instant_ns, iso

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
FAST = Retries(attempts=3, backoff="exponential", min="1s", max="1h")


def at(run_or_ns, *, base=T0):
    ns = run_or_ns if isinstance(run_or_ns, int) else run_or_ns.start_ns
    return (ns - base) / SECOND


class Flaky:
    """Fails the first `failures` calls, then returns `value`."""

    def __init__(self, failures, value="ok", error=RuntimeError):
        self.failures, self.value, self.error, self.calls = failures, value, error, []

    def __call__(self, *args):
        self.calls.append(dt.datetime.now(dt.timezone.utc))
        if len(self.calls) <= self.failures:
            raise self.error(f"failure {len(self.calls)}")
        return self.value


def simulate(app, **kwargs):
    kwargs.setdefault("start", START)
    return jobsim.Simulation(app, **kwargs)


def test_completed_step_is_memoized_and_code_outside_steps_repeats():
    app = jobsim.App("a")
    charge, ship, body = Flaky(0, {"charged": 10}), Flaky(1), []

    @app.function("order", on="order/paid", retries=FAST)
    def order(ctx):
        body.append(ctx.attempt)  # outside any step: runs on every request
        receipt = ctx.step.run("charge", charge)
        ctx.step.run("ship", ship)
        return receipt

    with simulate(app) as sim:
        sim.send("order/paid", {"id": 1})
        sim.run_until_idle()
    run = sim.runs("order")[0]
    assert run.status == "completed" and run.output == {"charged": 10}
    assert len(charge.calls) == 1  # never repeated, though the handler ran 4 times
    assert body == [0, 0, 1, 0]  # charge, ship fails, ship retried, return
    assert run.steps["charge"].output == {"charged": 10}


def test_each_step_has_its_own_retry_counter():
    app = jobsim.App("a")
    first, second = Flaky(2), Flaky(2)

    @app.function("two-steps", on="go", retries=FAST)
    def two(ctx):
        ctx.step.run("first", first)
        ctx.step.run("second", second)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("two-steps")[0]
    # 3 attempts allowed: each step fails twice and still succeeds, with its own counter
    assert run.status == "completed"
    assert [(a.step, a.number) for a in run.attempts] == [
        ("first", 0), ("first", 1), ("first", 2), ("second", 0), ("second", 1), ("second", 2), (None, 0),
    ]
    assert [at(a.start_ns) for a in run.attempts] == [0, 1, 3, 3, 4, 6, 6]
    assert [a.number for a in run.steps["second"].attempts] == [0, 1, 2]


def test_error_outside_steps_retries_the_function_from_the_top():
    app = jobsim.App("a")
    seen = []

    @app.function("body", on="go", retries=FAST)
    def body(ctx):
        seen.append(ctx.attempt)
        if ctx.attempt < 2:
            raise ValueError("not yet")
        return "done"

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("body")[0]
    assert run.output == "done" and seen == [0, 1, 2]
    assert [at(a.start_ns) for a in run.attempts] == [0, 1, 3]
    assert isinstance(run.attempts[0].error, ValueError)
    assert "raise ValueError(\"not yet\")" in run.attempts[0].traceback


def test_a_step_first_reached_after_the_body_failed_inherits_the_body_s_attempt_counter():
    """Inngest's queue-item model (semantics §1.2): the retried request that re-runs the body executes the
    first new step it reaches, so that step starts at the body's attempt number, backs off from there and has
    what is left of the budget; the request after it completes starts at 0 again."""
    app = jobsim.App("a")
    charge, seen = Flaky(3), []

    @app.function("order", on="go", retries=Retries(attempts=4, backoff="exponential", min="10s"))
    def order(ctx):
        seen.append(("body", ctx.attempt))
        if ctx.attempt == 0 and len(seen) == 1:
            raise ConnectionError("db down")  # outside any step, before the first one
        with contextlib.suppress(StepError):  # 'charge' used up its attempts: ship anyway
            ctx.step.run("charge", lambda: (seen.append(("charge", ctx.attempt)), charge())[1])
        return ctx.step.run("ship", lambda: seen.append(("ship", ctx.attempt)))

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("order")[0]
    # 'charge' fails 3 times: with a counter of its own (0..3) it would succeed at its 4th call
    assert len(charge.calls) == 3 and run.steps["charge"].status == "failed"
    assert [(a.step, a.number, at(a.start_ns)) for a in run.attempts] == [
        (None, 0, 0), ("charge", 1, 10), ("charge", 2, 30), ("charge", 3, 70), ("ship", 0, 70), (None, 0, 70),
    ]
    assert [entry for entry in seen if entry[0] != "body"] == [("charge", 1), ("charge", 2), ("charge", 3), ("ship", 0)]
    assert run.status == "completed"


def test_exhausted_step_raises_step_error_in_the_handler_which_may_catch_it():
    app = jobsim.App("a")

    flaky, flaky_key = Flaky(5), Flaky(5, error=KeyError)

    @app.function("catches", on="go", retries=Retries(attempts=2, min="1s"))
    def catches(ctx):
        try:
            ctx.step.run("flaky", flaky)
        except StepError as exc:
            return {"fallback": str(exc.error)}

    @app.function("gives-up", on="go", retries=Retries(attempts=2, min="1s"))
    def gives_up(ctx):
        ctx.step.run("flaky", flaky_key)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("catches")[0].output == {"fallback": "failure 2"}
    failed = sim.runs("gives-up")[0]
    assert failed.status == "failed" and isinstance(failed.error, KeyError)
    assert failed.steps["flaky"].status == "failed"
    assert len(failed.steps["flaky"].attempts) == 2


def test_non_retriable_fails_at_once_and_retry_after_sets_the_delay():
    app = jobsim.App("a")

    @app.function("nope", on="go", retries=FAST)
    def nope(ctx):
        ctx.step.run("s", Flaky(9, error=NonRetriableError))

    calls = []

    def later():
        calls.append(time.time())
        if len(calls) == 1:
            raise RetryAfterError("90s")
        if len(calls) == 2:
            raise RetryAfterError(dt.datetime(2025, 3, 1, 1, 0, tzinfo=dt.timezone.utc))
        return "ok"

    @app.function("later", on="go", retries=FAST)
    def later_fn(ctx):
        return ctx.step.run("s", later)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    nope_run = sim.runs("nope")[0]
    assert nope_run.status == "failed" and len(nope_run.attempts) == 2  # step attempt + the handler seeing it
    assert [c - T0 / SECOND for c in calls] == [0, 90, 3600]
    assert sim.runs("later")[0].output == "ok"


def test_reused_step_ids_get_index_suffixes():
    app = jobsim.App("a")

    @app.function("loop", on="go")
    def loop(ctx):
        return [ctx.step.run("fetch", lambda i=i: i * 10) for i in range(3)]

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("loop")[0]
    assert list(run.steps) == ["fetch", "fetch:1", "fetch:2"]
    assert run.output == [0, 10, 20]


def test_an_explicit_id_that_a_reuse_would_take_is_probed_past_as_inngest_js_does():
    """inngest-py's counter gave the explicit 'a:1' the second 'a''s key: its code never ran, its output was the
    other step's (user trial J). The JS SDK probes for a free index (``resolveStepIdCollision``), as here."""
    app = jobsim.App("a")

    @app.function("after", on="go")
    def after(ctx):
        return [ctx.step.run("a", lambda: "first"), ctx.step.run("a", lambda: "second"),
                ctx.step.run("a:1", lambda: "explicit"), ctx.step.run("a", lambda: "third")]  # fmt: skip

    @app.function("before", on="go")
    def before(ctx):
        return [ctx.step.run("a:1", lambda: "explicit"), ctx.step.run("a", lambda: "first"),
                ctx.step.run("a", lambda: "second"), ctx.step.sleep("a", "1s"), ctx.step.run("a", lambda: "last")]

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    first, second = sim.runs("after")[0], sim.runs("before")[0]
    assert first.output == ["first", "second", "explicit", "third"]
    assert list(first.steps) == ["a", "a:1", "a:1:1", "a:2"]
    assert second.output == ["explicit", "first", "second", None, "last"]
    assert list(second.steps) == ["a:1", "a", "a:2", "a:3", "a:4"]


def test_sleep_and_sleep_until_suspend_in_virtual_time():
    app = jobsim.App("a")
    stamps = []

    @app.function("sleepy", on="go")
    def sleepy(ctx):
        ctx.step.sleep("nap", "24h")
        ctx.step.run("mark", lambda: stamps.append(dt.datetime.now(dt.timezone.utc)))
        ctx.step.sleep_until("until", "2025-03-05T09:00:00Z")
        ctx.step.sleep_until("past", "2020-01-01T00:00:00Z")  # in the past: no wait
        return iso(instant_ns(dt.datetime.now(dt.timezone.utc)))

    with simulate(app) as sim:
        sim.send("go")
        sim.advance("23h59m")
        assert sim.runs("sleepy")[0].status == "sleeping"
        sim.run_until_idle()
    run = sim.runs("sleepy")[0]
    assert stamps == [dt.datetime(2025, 3, 2, tzinfo=dt.timezone.utc)]
    assert run.output == "2025-03-05T09:00:00.000Z"
    assert run.finished_at == dt.datetime(2025, 3, 5, 9, tzinfo=dt.timezone.utc)


def test_wait_for_event_matches_on_a_field_after_the_wait_starts():
    app = jobsim.App("a")

    @app.function("abandoned-cart", on="cart/updated")
    def cart(ctx):
        done = ctx.step.wait_for_event("wait", event="cart/completed", match="data.cartId", timeout="24h")
        return None if done is None else done.data["total"]

    with simulate(app) as sim:
        sim.send("cart/completed", {"cartId": "c1", "total": 1})  # before the wait: no look-back
        sim.send("cart/updated", {"cartId": "c1"})
        sim.send("cart/updated", {"cartId": "c2"})
        sim.advance("1h")
        sim.send("cart/completed", {"cartId": "c1", "total": 42})
        sim.send("cart/completed", {"cartId": "c9", "total": 7})
        sim.run_until_idle()
    c1, c2 = sim.runs("abandoned-cart")
    assert c1.output == 42 and at(c1.end_ns) == 3600
    assert c2.output is None and at(c2.end_ns) == 24 * 3600  # timed out
    assert c1.steps["wait"].status == "completed"


def test_wait_for_event_with_an_expression():
    app = jobsim.App("a")

    @app.function("upgrade", on="trial/started")
    def upgrade(ctx):
        got = ctx.step.wait_for_event(
            "paid", event="billing/paid", timeout="7d",
            if_exp="event.data.userId == async.data.userId && async.data.plan == 'pro'",
        )
        return got and got.data["plan"]

    with simulate(app) as sim:
        sim.send("trial/started", {"userId": "u1"})
        sim.advance("1s")
        sim.send("billing/paid", {"userId": "u1", "plan": "basic"})
        sim.send("billing/paid", {"userId": "u2", "plan": "pro"})
        sim.send("billing/paid", {"userId": "u1", "plan": "pro"})
        sim.run_until_idle()
    assert sim.runs("upgrade")[0].output == "pro"


@pytest.mark.parametrize(("expression", "data"), [
    ("async.data.msg == 'hi!'", {"msg": "hi!"}),  # `!` was rewritten to `not` inside the string
    ("async.data.flag == 'true'", {"flag": "true"}),  # 'true' became 'True'
    ("async.data.kind == 'null' && async.data.n == 1", {"kind": "null", "n": 1}),
    ('async.data.op == "a && b || c"', {"op": "a && b || c"}),
    ("async.data.topic == 'async.jobs'", {"topic": "async.jobs"}),  # 'async.' became '_async.'
    ("async.data.tags[0] == 'vip' && async.data.tags[1] == 'eu'", {"tags": ["vip", "eu"]}),  # list index: None
    ("async.data.delta == -5 && async.data.rate > -0.5", {"delta": -5, "rate": 0.25}),  # a negative number: refused
])  # fmt: skip
def test_if_exp_reads_string_literals_list_indexes_and_negative_numbers_as_cel_does(expression, data):
    # each of these never matched (or was refused): the wait timed out with no error, the cancellation never came
    app = jobsim.App("a")

    @app.function("waiter", on="start", retries=0)
    def waiter(ctx):
        return ctx.step.wait_for_event("w", event="candidate", timeout="1h", if_exp=expression) is not None

    with simulate(app) as sim:
        sim.send("start")
        sim.advance("1s")
        sim.send("candidate", {key: "x" for key in data})  # no match
        sim.send("candidate", data)
        sim.run_until_idle()
    run = sim.runs("waiter")[0]
    assert (run.status, run.output, at(run.end_ns)) == ("completed", True, 1)


def test_if_exp_list_index_out_of_range_or_on_a_non_list_is_no_match():
    from jobsim._expr import compile_expression

    match = compile_expression("async.data.tags[2] == 'x' || async.data.name[0] == 'A'")
    assert not match(jobsim.Event("e"), jobsim.Event("c", {"tags": ["x"], "name": "Ada"}))
    same = compile_expression("event.data.tags[1] == async.data.tags[0]")
    assert same(jobsim.Event("e", {"tags": [0, 7]}), jobsim.Event("c", {"tags": [7]}))
    assert not same(jobsim.Event("e", {"tags": [0, 7]}), jobsim.Event("c", {"tags": [8]}))


@pytest.mark.parametrize(("expression", "holds"), [
    # pkg/expressions/unknown.go handleUnknownCall: a path that reaches nothing is an unknown, not null
    ("event.data.userId == async.data.userId", False),  # two unknowns are not equal
    ("event.data.userId == null", True),  # an unknown equals null
    ("event.data.userId != async.data.userId", True),
    ("event.data.userId != null", False),
    ("event.data.missing < 5", True),  # an unknown is less than anything ...
    ("5 < event.data.missing", False),  # ... and greater than nothing
    ("event.data.missing >= 5", False),
    ("!event.data.missing", False),  # a call on an unknown is false
    ("async.data.tags[3] == null", True),  # past a list's end: unknown too
    # runtimeUnknownCall: null against another type; == fails, an ordering compares the type's zero
    ("event.data.nothing == 0", False),
    ("event.data.nothing != ''", True),
    ("event.data.nothing < 5", True),  # 0 < 5
    ("event.data.nothing > -1", True),  # 0 > -1
    ("event.data.nothing == null", True),
])  # fmt: skip
def test_if_exp_treats_a_missing_field_as_inngest_does(expression, holds):
    from jobsim._expr import compile_expression

    event, candidate = jobsim.Event("e", {"nothing": None}), jobsim.Event("c", {"tags": [1]})
    assert compile_expression(expression)(event, candidate) is holds


def test_a_match_on_a_field_both_events_lack_never_resolves_the_wait():
    app = jobsim.App("a")

    @app.function("waiter", on="start", retries=0)
    def waiter(ctx):
        return ctx.step.wait_for_event("w", event="candidate", timeout="1h", if_exp="event.data.userId == "
                                       "async.data.userId") is not None  # fmt: skip

    with simulate(app) as sim:
        sim.send("start", {})
        sim.advance("1s")
        sim.send("candidate", {})  # no userId on either: Inngest does not match them
        sim.run_until_idle()
    assert sim.runs("waiter")[0].output is False


def test_fan_out_runs_every_subscribed_function():
    app = jobsim.App("a")
    for name in ("welcome", "crm", "analytics", "slack", "trial"):
        app.function(name, on=["user/signup", "user/imported"])(lambda ctx: ctx.function_id)
    with simulate(app) as sim:
        sim.send("user/signup", {"id": 1})
        sim.send("user/imported", {"id": 2})
        sim.run_until_idle()
    assert [len(sim.runs(name)) for name in ("welcome", "crm", "analytics", "slack", "trial")] == [2] * 5
    assert {r.output for r in sim.runs()} == {"welcome", "crm", "analytics", "slack", "trial"}


def test_duplicate_event_ids_are_dropped_while_the_job_is_kept_on_bullmq():
    """BullMQ keeps every job (removeOnComplete/removeOnFail unset): an add with a jobId taken is a no-op for as
    long as the job exists. jobsim dropped it for 24 h on every queue profile."""
    app = jobsim.App("a")
    app.function("pay", on="order/paid")(lambda ctx: None)
    with simulate(app, profile="bullmq") as sim:  # Inngest keeps them: test_repeated_event_ids.py
        sim.send(Event("order/paid", {"o": 1}, id="pay-o1"))
        sim.advance("23h")
        sim.send(Event("order/paid", {"o": 1}, id="pay-o1"))
        sim.advance("30d")
        sim.send(Event("order/paid", {"o": 1}, id="pay-o1"))  # a month later: still taken
        sim.run_until_idle()
    assert len(sim.runs("pay")) == 1 and len(sim.bus.dropped) == 2
    assert [e.ts for e in sim.events] == [T0 // 10**6]
    assert "dropped: duplicate id: the job it named is kept, so the id stays taken" in sim.timeline()


@pytest.mark.parametrize(("profile", "fail", "second", "later"), [
    # Quirrel: an id dedupes only while its job is in the queue; once run, the id is free again
    ("quirrel", False, ["completed", "completed"], 3),
    ("quirrel", True, ["failed", "completed"], 3),
    # Trigger.dev: the key returns the existing run for 30 days, unless that run failed
    ("trigger.dev", False, ["completed"], 1),
    ("trigger.dev", True, ["failed", "completed"], 2),
    # Agenda (unique(), insertOnly): the job's document is kept after it ran
    ("agenda", False, ["completed"], 1),
    ("agenda", True, ["failed"], 1),
])  # fmt: skip
def test_a_repeated_event_id_follows_each_queues_own_rule(profile, fail, second, later):
    """semantics.md §4.1 (Quirrel, 'exists in the queue'), §3.3 (Trigger.dev, shouldIdempotencyKeyBeCleared):
    every queue profile dropped a repeated id for exactly 24 h, whatever its first run did."""
    app = jobsim.App("a")

    @app.function("pay", on="order/paid")
    def pay(ctx):
        if ctx.event.data.get("fail"):
            raise jobsim.NonRetriableError("card declined")

    with simulate(app, profile=profile) as sim:
        sim.send(Event("order/paid", {"fail": fail}, id="job-1"))
        sim.advance("1h")
        sim.send(Event("order/paid", {}, id="job-1"))
        sim.advance("1h")
        assert [run.status for run in sim.runs("pay")] == second
        sim.advance("25h")  # past 24 h: the rule, not a day, decides
        sim.send(Event("order/paid", {}, id="job-1"))
        sim.advance("1h")
        assert len(sim.runs("pay")) == later


def test_send_event_and_app_send_reach_the_bus_once():
    app = jobsim.App("a")
    received = []

    flaky = Flaky(1)

    @app.function("producer", on="go", retries=FAST)
    def producer(ctx):
        ctx.step.send_event("notify", [{"name": "note", "data": {"n": 1}}])
        ctx.step.run("flaky", flaky)

    @app.function("consumer", on="note")
    def consumer(ctx):
        received.append(ctx.event.data)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert received == [{"n": 1}]  # memoized: not sent again by later requests
    assert [e.name for e in sim.events] == ["go", "note"]


def test_invoke_returns_the_other_functions_output():
    app = jobsim.App("a")

    @app.function("price", on="price/compute")
    def price(ctx):
        ctx.step.sleep("think", "5m")
        return ctx.event.data["qty"] * 3

    @app.function("checkout", on="cart/checkout")
    def checkout(ctx):
        return ctx.step.invoke("total", function=price, data={"qty": 4})

    with simulate(app) as sim:
        sim.send("cart/checkout")
        sim.run_until_idle()
    run = sim.runs("checkout")[0]
    assert run.output == 12 and at(run.end_ns) == 300
    assert sim.runs("price")[0].event.name == "inngest/function.invoked"


def test_a_failed_invoke_raises_one_step_error_around_the_invoked_runs_own_error():
    # the invoke step stored StepError(key, error) and the handler got StepError(key, that): "step 'total'
    # failed: StepError: step 'total' failed: ValueError: ..." in the timeline, and an uncaught one failed
    # the caller with the wrapper instead of the step's original error, as step.run failures do
    app = jobsim.App("a")
    caught = []

    @app.function("price", on="price/compute", retries=0)
    def price(ctx):
        raise ValueError("no price for sku-9")

    @app.function("checkout", on="cart/checkout", retries=0)
    def checkout(ctx):
        try:
            ctx.step.invoke("total", function=price, data={})
        except StepError as exc:
            caught.append((str(exc), exc.error))
        return ctx.step.invoke("again", function=price, data={})

    with simulate(app) as sim:
        sim.send("cart/checkout")
        sim.run_until_idle()
    (message, error), *replays = caught  # the memoized failure is raised again on each later request
    assert all(m == message for m, _ in replays)
    assert message == "step 'total' failed: ValueError: no price for sku-9" and isinstance(error, ValueError)
    run = sim.runs("checkout")[0]
    assert run.status == "failed" and type(run.error) is ValueError
    assert "attempt 0 failed: StepError: step 'again' failed: ValueError: no price for sku-9\n" in sim.timeline()


def test_async_handlers_sleep_in_virtual_time():
    app = jobsim.App("a")

    async def fetch():
        await asyncio.sleep(25)
        return time.time()

    @app.function("async-job", on="go")
    async def job(ctx):
        stamp = await ctx.step.run("fetch", fetch)
        await ctx.step.sleep("pause", "1h")
        return stamp

    with simulate(app) as sim:
        sim.send("go")
        started = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - started < 10  # nothing really slept (25 s); generous: 2 shared CI cores
    run = sim.runs("async-job")[0]
    assert run.output == T0 / SECOND + 25
    assert at(run.end_ns) == 3625


def test_an_event_loop_sync_job_code_starts_itself_sleeps_in_virtual_time():
    # asyncio.run(...) in a sync handler (an async SDK called from sync code) got a real loop: its
    # asyncio.sleep(30) waited 30 real seconds and spent no virtual time
    app = jobsim.App("a")
    kept = []

    async def fetch(seconds):
        await asyncio.sleep(seconds)
        return time.time()

    @app.function("sync-job", on="go")
    def job(ctx):
        ran = ctx.step.run("run", lambda: asyncio.run(fetch(30)))
        loop = asyncio.new_event_loop()
        kept.append(loop)
        return [ran, ctx.step.run("loop", lambda: loop.run_until_complete(fetch(1.5)))]

    with simulate(app) as sim:
        sim.send("go")
        started = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - started < 10  # nothing really slept (31.5 s); generous: 2 shared CI cores
    run = sim.runs("sync-job")[0]
    assert run.output == [T0 / SECOND + 30, T0 / SECOND + 31.5] and at(run.end_ns) == 31.5
    assert asyncio.new_event_loop is asyncio.events.new_event_loop  # put back after the driving call
    kept.append(asyncio.new_event_loop())
    assert type(kept[-1]) is not type(kept[0])
    kept.pop().close()
    kept.pop(0).close()
    started = time.perf_counter()  # a loop job code kept is a real one again outside its simulation's driving calls
    assert kept[-1].run_until_complete(fetch(0.05)) > T0 / SECOND + 10**6 and time.perf_counter() - started >= 0.05
    for loop in kept:
        loop.close()


def test_sync_job_code_runs_outside_the_loop_of_an_async_test_that_drives_the_simulation():
    # driven from a coroutine (a pytest-asyncio test), asyncio.run in a sync handler raised "asyncio.run()
    # cannot be called from a running event loop": on a worker, job code runs in no loop
    app = jobsim.App("a")
    outer = []

    async def nap():
        await asyncio.sleep(3)
        return asyncio.get_running_loop() is not outer[0]

    @app.function("sync-job", on="go", retries=0)
    def job(ctx):
        return ctx.step.run("nap", lambda: asyncio.run(nap()))

    async def test_body():
        outer.append(asyncio.get_running_loop())
        with simulate(app) as sim:
            sim.send("go")
            sim.run_until_idle()
        assert asyncio.get_running_loop() is outer[0]  # the test's loop is its own again
        return sim

    sim = asyncio.run(test_body())
    run = sim.runs("sync-job")[0]
    assert (run.status, run.error, run.output, at(run.end_ns)) == ("completed", None, True, 3)


def test_a_sleep_imported_by_name_spends_virtual_time_too_and_is_real_again_after(tmp_path, monkeypatch):
    # `from time import sleep` (in job code, or a library's retry helper) kept the builtin itself, which
    # patching the time module does not reach: it slept an hour in real time
    (tmp_path / "napper.py").write_text("from time import sleep\nimport time\n\n"
                                        "def nap(seconds):\n    sleep(seconds)\n    return time.time()\n")  # fmt: skip
    import_from(tmp_path, monkeypatch)
    monkeypatch.syspath_prepend(str(tmp_path))
    import napper

    app = jobsim.App("a")
    app.function("slow", on="go")(lambda ctx: ctx.step.run("work", napper.nap, 3600))
    with simulate(app) as sim:
        sim.send("go")
        started = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - started < 10  # not the real hour; generous: 2 shared CI cores
    assert sim.runs("slow")[0].output == T0 / SECOND + 3600
    assert napper.sleep is time.sleep  # the builtin again, outside the driving call


def test_a_monotonic_imported_by_name_in_job_code_measures_virtual_waits(tmp_path, monkeypatch):
    # `from time import monotonic` in the application kept the builtin, which patching the time module does not
    # reach: a virtual hour's sleep measured as 0 s. The standard library's own (threading, queue) stays real.
    import queue
    import threading

    (tmp_path / "timer.py").write_text("import time\nfrom time import monotonic, monotonic_ns\n\n"
                                       "def timed(seconds):\n    a, b = monotonic(), monotonic_ns()\n"
                                       "    time.sleep(seconds)\n    return monotonic() - a, monotonic_ns() - b\n")
    (tmp_path / "dropped.py").write_text("")
    import_from(tmp_path, monkeypatch)
    monkeypatch.syspath_prepend(str(tmp_path))
    import dropped  # noqa: F401

    app = jobsim.App("a")
    app.function("timed", on="go")(lambda ctx: ctx.step.run("work", sys.modules["timer"].timed, 3600))
    with simulate(app) as sim:
        sim.advance("1s")  # the bridge looks at the modules; then one goes and one comes: as many as it saw
        del sys.modules["dropped"]
        import timer

        sim.send("go")
        sim.run_until_idle()
    seconds, ns = sim.runs("timed")[0].output
    assert (seconds, ns) == (pytest.approx(3600.0), 3600 * SECOND)
    assert timer.monotonic is time.monotonic and timer.monotonic_ns is time.monotonic_ns  # the builtins again
    assert threading._time is queue.time is time.monotonic  # never rebound


def test_time_sleep_in_job_code_spends_virtual_time_without_blocking():
    app = jobsim.App("a")

    @app.function("slow", on="go")
    def slow(ctx):
        return ctx.step.run("work", lambda: (time.sleep(3600), dt.date.today().isoformat())[1])

    with simulate(app) as sim:
        sim.send("go")
        started = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - started < 10  # not the real hour; generous: 2 shared CI cores
        assert dt.date.today() != dt.date(2025, 3, 1)  # the test itself sees the real clock
    run = sim.runs("slow")[0]
    assert run.output == "2025-03-01"
    assert run.steps["work"].attempts[0].end_ns - T0 == HOUR


def test_inngest_default_backoff_uses_the_table_and_seeded_jitter():
    app = jobsim.App("a")
    flaky = Flaky(99)
    app.function("f", on="go")(lambda ctx: ctx.step.run("s", flaky))
    with simulate(app, seed=5) as sim:
        sim.send("go")
        sim.run_until_idle()
    starts = [a.start_ns for a in sim.runs("f")[0].attempts if a.step == "s"]
    gaps = [(b - a) / SECOND for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5  # Inngest: 4 retries, 5 attempts
    for gap, base in zip(gaps, (15, 30, 60, 120), strict=True):
        assert base <= gap < base + 30


def run_history(seed):
    app = jobsim.App("a")
    flaky = Flaky(3)
    app.function("f", on="go")(lambda ctx: ctx.step.run("s", flaky))
    with simulate(app, seed=seed) as sim:
        for i in range(5):
            sim.send("go", {"i": i})
        sim.run_until_idle()
    return [(r.id, [(a.step, a.number, a.start_ns) for a in r.attempts]) for r in sim.runs()]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31))
def test_same_seed_same_history(seed):
    assert run_history(seed) == run_history(seed)


def test_different_seeds_give_different_jitter():
    assert run_history(1) != run_history(2)


def test_sim_fail_injects_faults_into_a_step_or_the_function():
    app = jobsim.App("a")

    @app.function("process-order", on="order", retries=Retries(attempts=5, min="1s", max="10m"))
    def process(ctx):
        ctx.step.run("reserve-inventory", lambda: "reserved")
        return "ok"

    with simulate(app) as sim:
        sim.fail("process-order", step="reserve-inventory", times=2)
        sim.fail("process-order", times=1, error=ConnectionError("db down"))
        sim.send("order")
        sim.run_until_idle()
    run = sim.runs("process-order")[0]
    assert run.status == "completed"
    errors = [(a.step, type(a.error).__name__) for a in run.attempts if a.error]
    injected = ("reserve-inventory", "InjectedFault")
    assert errors == [(None, "ConnectionError"), injected, injected]
    assert "injected by sim.fail() into step 'reserve-inventory' of 'process-order'" in str(run.attempts[1].error)


def _order_app():
    app = jobsim.App("a")

    @app.function("order", on="order", retries=Retries(attempts=3, min="1s", max="1m"))
    def order(ctx):
        ctx.step.sleep("wait", "1h")
        ctx.step.run("charge", lambda: "charged")

    return app


def _unfired(arm, *, send=True):
    """The FaultWarning messages closing a simulation gives after ``arm(sim)`` and a run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with simulate(_order_app()) as sim:
            arm(sim)
            if send:
                sim.send("order")
            sim.run_until_idle()
    return [str(w.message) for w in caught if w.category is jobsim.FaultWarning]


def test_a_fault_aimed_at_a_step_it_can_never_reach_warns_when_the_simulation_closes():
    assert _unfired(lambda sim: sim.fail("order", step="chrage")) == [
        "sim.fail('order', step='chrage') never fired: no step of that id ran (a typo?); its steps that ran: "
        "'charge', 'wait'"
    ]
    assert _unfired(lambda sim: sim.fail("order", step="wait", times=2)) == [
        "sim.fail('order', step='wait') never fired: it is a sleep step, which runs no code (sim.fail reaches "
        "step.run and step.send_event steps)"
    ]


def test_a_fault_that_fired_or_whose_function_never_ran_does_not_warn():
    def used(sim):
        sim.fail("order", step="charge", times=2)

    def more_than_the_retries_reach(sim):
        sim.fail("order", step="charge", times=5)  # 3 attempts fail, the run fails: 2 left, not a mistake

    assert _unfired(used) == []
    assert _unfired(more_than_the_retries_reach) == []
    assert _unfired(lambda sim: sim.fail("order", step="chrage"), send=False) == []  # nothing ran: no verdict
    assert _unfired(lambda sim: sim.fail("order", times=3), send=False) == []


@settings(max_examples=3, database=None)
@given(step=st.sampled_from(["refund", "wait"]))
def test_inside_hypothesis_only_a_step_that_runs_no_code_warns(step):
    expected = ["sim.fail('order', step='wait') never fired"] if step == "wait" else []
    assert [message.split(":")[0] for message in _unfired(lambda sim: sim.fail("order", step=step))] == expected


@settings(max_examples=1, database=None)
@given(st.just("chrage"))
def test_inside_hypothesis_a_step_one_typo_from_one_that_ran_fails_at_close(step):
    with pytest.raises(InvalidArgument, match=r"^sim.fail\('order', step='chrage'\) never fired: no step of that "
                       r"id ran, but 'charge' did \(a typo\?\)"):  # fmt: skip
        _unfired(lambda sim: sim.fail("order", step=step))


def test_runaway_function_stops_with_a_budget_error_naming_it():
    app = jobsim.App("a")
    app.function("ping", on="ping")(lambda ctx: app.send("ping"))
    with simulate(app, max_chain=2_000) as sim:
        sim.send("ping")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
    assert "without virtual time moving" in str(info.value)
    assert "ping: 1 item(s) pending" in str(info.value)


def _never_idle(app, before, max_time):
    """The BudgetExceeded message of run_until_idle(max_time=) after ``before(sim)``."""
    with simulate(app) as sim:
        before(sim)
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time=max_time)
    return str(info.value)


def test_run_until_idle_reports_work_past_the_horizon():
    app = jobsim.App("a")
    app.function("slow", on="go")(lambda ctx: ctx.step.sleep("long", "30d"))
    assert _never_idle(app, lambda sim: sim.send("go"), "7d").startswith(
        "run_until_idle(max_time='7d') reached 2025-03-08T00:00:00.000Z with 1 item(s) of work still pending:\n"
        "  slow: next at 2025-03-31T00:00:00.000Z"
    )


def test_run_until_idle_names_cron_runs_that_outlast_their_interval():
    """Each tick's run sleeps 25 m on a 10 m cron: one is always in flight, so the call is never idle. The
    message said "a run sleeping or retrying past the horizon"; it names the overlap and what to do."""
    app = jobsim.App("a")
    app.function("sweep", cron="*/10 * * * *")(lambda ctx: ctx.step.sleep("nap", "25m"))
    message = _never_idle(app, lambda sim: sim.advance("10m"), "1h")
    assert "Cron runs overlap" in message and "past the horizon" not in message
    assert ("  'sweep' ('*/10 * * * *'): 3 runs in flight, started from 2025-03-01T00:50:00.000Z to "
            "2025-03-01T01:10:00.000Z\n") in message
    assert message.endswith("stop at a time instead (sim.advance('1h'), sim.advance_to(...)), or make the runs "
                            "shorter than the interval.")


def test_with_the_default_horizon_overlapping_cron_runs_stop_it_after_7_days():
    """An every-minute cron whose runs sleep 90 s simulated 366 days (527,000 runs, 38 s) before it said so."""
    app = jobsim.App("a")
    app.function("poll", cron="* * * * *")(lambda ctx: ctx.step.sleep("cool-down", "90s"))
    with simulate(app) as sim:
        sim.advance("1m")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        assert iso(sim.now_ns()) == "2025-03-08T00:01:00.000Z"
        assert len(sim.runs("poll")) == 7 * 24 * 60 + 1
        sim.advance("1m")  # the simulation goes on
    assert str(info.value).startswith(
        "run_until_idle() stopped at 2025-03-08T00:01:00.000Z, 7d after it began, never having been idle, rather "
        "than simulate the rest of its default max_time='366d':\nCron runs overlap:")
    assert str(info.value).endswith("\nPass max_time= to wait longer all the same.")


def test_a_max_time_given_is_simulated_whole_and_a_week_of_other_work_is_no_overlap():
    app = jobsim.App("a")
    app.function("poll", cron="0 * * * *")(lambda ctx: ctx.step.sleep("cool-down", "90m"))
    message = _never_idle(app, lambda sim: sim.advance("1h"), "10d")  # given: all 10 days
    assert message.startswith("run_until_idle(max_time='10d') reached 2025-03-11T01:00:00.000Z")
    app = jobsim.App("b")
    app.function("slow", on="go")(lambda ctx: ctx.step.sleep("long", "30d"))
    app.function("tick", cron="0 * * * *")(lambda ctx: "quick")
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()  # 30 days, never idle: a sleep, not cron runs, so on to its end
        assert [run.status for run in sim.runs("slow")] == ["completed"]


def _stopped(app, send):
    with simulate(app) as sim:
        send(sim)
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        return sim, str(info.value)


def test_with_the_default_horizon_work_that_grows_over_two_weeks_stops_it():
    """Runs made faster than they finish (a backend's periodic task outlasting its interval on one worker, here
    a daily cron's ten jobs throttled to one every 3 h, eight a day): it simulated the year, then blamed a sleep."""
    app = jobsim.App("a")
    app.function("feed", cron="0 0 * * *")(lambda ctx: ctx.step.send_event("jobs", [Event("job")] * 10))
    app.function("job", on="job", throttle=jobsim.Throttle(limit=1, period="3h"))(lambda ctx: "done")
    sim, message = _stopped(app, lambda sim: sim.advance("1d"))  # the first tick: one job done, nine queued
    assert iso(sim.now_ns()) == "2025-03-16T00:00:00.000Z"  # two windows of growth: 7 and 14 days in
    assert message.startswith("run_until_idle() stopped at 2025-03-16T00:00:00.000Z, 14d after it began, never "
                              "having been idle, rather than simulate the rest of its default max_time='366d':\n"
                              "Work piles up: the runs not finished grew from 9 to 23 to 37 over the last two 7d "
                              "windows (most: 'job' 37), so runs are made faster than they finish")
    assert "(most: 'job' " in message and message.endswith("\nPass max_time= to wait longer all the same.")


def test_runs_that_start_more_of_their_own_than_finish_stop_it_two_days_in():
    """A throttled function that sends its own event twice: each second one run ends and two are made. The
    7-day rule stopped it 14 days in, after 2.4 million runs and a minute; the runs' causes say it two days in."""
    app = jobsim.App("a")

    @app.function("loop", on="tick", throttle=jobsim.Throttle(limit=1, period="8s"))
    def loop(ctx):
        app.send([Event("tick"), Event("tick")])

    sim, message = _stopped(app, lambda sim: sim.send("tick"))
    assert iso(sim.now_ns()) == "2025-03-03T00:00:00.000Z"
    assert message.startswith(
        "run_until_idle() stopped at 2025-03-03T00:00:00.000Z, 2d after it began, never having been idle, rather "
        "than simulate the rest of its default max_time='366d':\nRuns multiply: the runs not finished grew from 1 "
        "to 10,802 to 21,602 over the last two days, 21,602 of them started by a run of their own function, "
        "directly or not ('loop' 21,602): each run starts more of its own")
    assert message.endswith("or have each run start fewer.\nPass max_time= to wait longer all the same.")


def test_two_functions_starting_each_other_multiply_too_and_a_runs_own_spread_stops_it_early(monkeypatch):
    monkeypatch.setattr(jobsim._simulation, "_SELF_BACKLOG", 100)  # fewer runs, the same rule
    app = jobsim.App("a")
    app.function("ping", on="ping")(lambda ctx: app.send([Event("pong"), Event("pong")]))
    app.function("pong", on="pong", throttle=jobsim.Throttle(limit=1, period="10m"))(lambda ctx: app.send("ping"))
    sim, message = _stopped(app, lambda sim: sim.send("ping"))
    assert "2d after it began" in message
    assert "Runs multiply: the runs not finished grew from 1 to 147 to 291 " in message
    assert "291 of them started by a run of their own function, directly or not ('pong' 291)" in message

    app = jobsim.App("b")

    @app.function("spread", on="tick")
    def spread(ctx):  # each run starts two more a day later
        ctx.step.sleep("wait", "1d")
        ctx.step.send_event("more", [jobsim.Event("tick"), jobsim.Event("tick")])
        ctx.step.sleep("linger", "3d")

    sim, message = _stopped(app, lambda sim: sim.send("tick"))
    assert "Runs multiply: " in message and "('spread' " in message
    assert iso(sim.now_ns()) == "2025-03-07T00:00:00.000Z"  # before the 7-day rule's two windows


def test_a_large_fan_out_that_drains_and_a_crawl_that_ends_are_waited_for():
    """Neither rule mistakes finite work for a pile-up: 12,000 runs made by one run (not of their own function),
    one every 20 s for almost three days; a throttled crawl that sends its own event for each link, 65,535 pages
    in three days: its backlog grew over both days, the second far less (its last level has no links)."""
    app = jobsim.App("a")
    app.function("fan", on="go")(lambda ctx: ctx.step.send_event("all", [Event("one")] * 12_000))
    app.function("one", on="one", throttle=jobsim.Throttle(limit=1, period="20s"))(lambda ctx: "sent")
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
        assert len(sim.runs("one")) == 12_000 and iso(sim.now_ns()) == "2025-03-03T18:39:40.000Z"

    app = jobsim.App("b")

    @app.function("crawl", on="page", throttle=jobsim.Throttle(limit=1, period="4s"))
    def crawl(ctx):
        depth = ctx.event.data["depth"]
        if depth < 15:
            app.send([Event("page", {"depth": depth + 1})] * 2)

    with simulate(app) as sim:
        sim.send("page", {"depth": 0})
        sim.run_until_idle()
        assert len(sim.runs("crawl")) == 2**16 - 1 and iso(sim.now_ns()) == "2025-03-04T00:48:56.000Z"


def test_work_that_drains_slowly_is_waited_for_to_its_end():
    """A backlog that only shrinks is no pile-up: 300 runs at one at a time, 1 h each, finish 12.5 days in."""
    app = jobsim.App("a")
    app.function("slow", on="go", concurrency=1)(lambda ctx: ctx.step.run("work", lambda: time.sleep(3600)))
    with simulate(app) as sim:
        for _ in range(300):
            sim.send("go")
        sim.run_until_idle()
        assert [run.status for run in sim.runs("slow")] == ["completed"] * 300


def test_cron_runs_that_do_not_overlap_reach_idle_and_other_pending_work_keeps_the_old_words():
    app = jobsim.App("a")
    app.function("sweep", cron="*/10 * * * *")(lambda ctx: ctx.step.sleep("nap", "5m"))
    app.function("slow", on="go")(lambda ctx: ctx.step.sleep("long", "30d"))
    with simulate(app) as sim:
        sim.advance("10m")
        sim.run_until_idle()  # the 00:10 run ends at 00:15
        assert iso(sim.now_ns()) == "2025-03-01T00:15:00.000Z"
        sim.send("go")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time="1h")
    assert "Cron runs overlap" not in str(info.value) and "past the horizon" in str(info.value)


@pytest.mark.parametrize("handler_first", [True, False])
def test_a_function_named_as_another_ones_failure_handler_is_refused(handler_first):
    """sim.runs("charge-failure") gave the runs of both, and sim.fail("charge-failure") aimed at either."""
    app = jobsim.App("a")
    declare = [lambda: app.function("charge", on="go", on_failure=lambda ctx: None)(lambda ctx: None),
               lambda: app.function("charge-failure", on="other")(lambda ctx: None)]
    for make in declare if handler_first else declare[::-1]:
        make()
    with pytest.raises(InvalidArgument, match=r"^function id 'charge-failure' is taken by the on_failure handler of "
                       r"function 'charge', and another function is declared with it"):  # fmt: skip
        simulate(app)
    other = jobsim.App("b")
    other.function("charge-failure", on="other")(lambda ctx: None)  # no on_failure on 'charge': its own name
    other.function("charge", on="go")(lambda ctx: None)
    simulate(other).close()


def test_on_failure_runs_once_with_the_error_and_the_original_event():
    app = jobsim.App("a")
    seen = []

    def alert(ctx):
        seen.append((ctx.event.name, ctx.event.data["error"]["message"], ctx.event.data["event"]["data"]))

    @app.function("charge", on="go", retries=Retries(attempts=2, min="1s"), on_failure=alert)
    def charge(ctx):
        raise RuntimeError("card declined")

    with simulate(app) as sim:
        sim.send("go", {"order": 7})
        sim.run_until_idle()
    assert seen == [("inngest/function.failed", "card declined", {"order": 7})]
    assert sim.runs("charge-failure")[0].status == "completed"


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")  # 3.12+: job code still calls it
def test_handlers_see_virtual_wall_clock():
    app = jobsim.App("a")

    @app.function("clock", on="go")
    def clock(ctx):
        return [dt.datetime.now(dt.timezone.utc).isoformat(), dt.datetime.utcnow().isoformat(), time.time()]

    with simulate(app) as sim:
        sim.advance("90m")
        sim.send("go")
        sim.advance("0s")
    assert sim.runs("clock")[0].output == ["2025-03-01T01:30:00+00:00", "2025-03-01T01:30:00", T0 / SECOND + 5400]


def test_the_real_wall_clock_is_read_while_travelling_and_while_not():
    from jobsim._wallclock import WallClock

    real = dt.datetime.now(dt.timezone.utc)
    assert abs(WallClock.real_now() - real) < dt.timedelta(seconds=5)  # not travelling: time-machine's hatch refuses
    app = jobsim.App("a")
    seen = []

    @app.function("clock", on="go")
    def clock(ctx):
        seen.append(WallClock.real_now())

    with simulate(app) as sim:
        sim.send("go")
        sim.advance("0s")
    assert abs(seen[0] - real) < dt.timedelta(seconds=5)  # in 2025 virtually, today really


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda sim: sim.fail("nope"), "function_id='nope' is not valid: one of the simulated function ids: 'f'"),
        (lambda sim: sim.fail("f", step=3), "step=3 is not valid: a step id (a non-empty string)"),
        (lambda sim: sim.fail("f", times=0), "times=0 is not valid: an int >= 1"),
        (lambda sim: sim.advance("-5s"), "by='-5s' is not valid: expected a duration"),
        (lambda sim: sim.advance_to("2020-01-01T00:00:00Z"), "time can't go backwards"),
        (lambda sim: sim.send(42), "event=42 is not valid"),
        (lambda sim: sim.send("go", [1]), "data=[1] is not valid: event data is a mapping"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with simulate(app) as sim, pytest.raises(InvalidArgument) as info:
        call(sim)
    assert message in str(info.value)


def test_a_wait_for_an_event_name_no_event_can_have_fails_the_attempt_instead_of_timing_out():
    # Event refuses a blank name, so a wait for '  ' could only time out, a day later and silently
    app = jobsim.App("a")
    app.function("f", on="go", retries=Retries(attempts=2, min="1s"))(
        lambda ctx: ctx.step.wait_for_event("w", event="  ", timeout="1d"))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, at(run.end_ns)) == ("failed", 0)  # at once, without the retry that would fail the same way
    assert str(run.error) == "event='  ' is not valid: the name of the event to wait for"
    assert type(run.error) is jobsim.StepMisuse


def test_step_id_must_be_a_string_and_steps_cannot_nest():
    app = jobsim.App("a")
    app.function("bad-id", on="go")(lambda ctx: ctx.step.run(7, lambda: 1))
    app.function("nested", on="go")(lambda ctx: ctx.step.run("outer", lambda: ctx.step.run("inner", lambda: 1)))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    bad, nested = sim.runs("bad-id")[0], sim.runs("nested")[0]
    assert "step_id=7 is not valid: a step id is a non-empty string" in str(bad.error)
    # Raised inside the outer step, it fails that step for good at once (inngest-py: STEP_NESTED,
    # is_retriable=False), though the function has its default retries; the handler then fails with it.
    outer, body = nested.attempts
    assert (nested.status, outer.step, body.step) == ("failed", "outer", None)
    assert (at(outer.start_ns), at(body.start_ns)) == (0, 0)
    assert "steps cannot be nested" in str(outer.error)
    assert isinstance(body.error, StepError) and body.error.error is outer.error is nested.error
    assert isinstance(nested.error, jobsim.StepMisuse)
    assert isinstance(nested.error, InvalidArgument) and isinstance(nested.error, NonRetriableError)


@pytest.mark.parametrize("profile", ["trigger.dev", "bullmq", "agenda"])  # steps as plain calls
def test_a_nested_step_is_not_retried_on_systems_without_durable_steps_either(profile):
    app = jobsim.App("a")
    app.function("nested", on="go", retries=Retries(3))(
        lambda ctx: ctx.step.run("outer", lambda: ctx.step.run("inner", lambda: 1))
    )
    with simulate(app, profile=profile) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("nested")
    assert (run.status, len(run.attempts), type(run.error)) == ("failed", 1, jobsim.StepMisuse)


def test_declaration_errors():
    app = jobsim.App("a")
    with pytest.raises(InvalidArgument, match="has no trigger"):
        app.function("x")
    with pytest.raises(InvalidArgument, match="tz= applies to cron="):
        app.function("x", on="e", tz="UTC")
    app.function("x", on="e")(lambda ctx: None)
    with pytest.raises(InvalidArgument, match="already declared"):
        app.function("x", on="e")
    with pytest.raises(JobsimError, match="not in a running simulation"):
        app.send("e")


def test_sim_requires_start_and_unserializable_output_fails_clearly():
    app = jobsim.App("a")
    app.function("obj", on="go")(lambda ctx: ctx.step.run("s", object))
    sim = simulate(app)
    with pytest.raises(JobsimError, match=r"sim.send\(\) needs a running simulation"):
        sim.send("go")
    with sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("obj")[0]
    assert run.status == "failed"
    assert "cannot be stored as JSON" in str(run.attempts[0].error)
    assert MINUTE


def test_an_async_function_in_a_sync_step_run_fails_the_step_saying_how_to_fix_it():
    app = jobsim.App("a")

    async def fetch():
        return 1

    @app.function("f", on="go", retries=0)
    def f(ctx):
        return ctx.step.run("fetch", fetch)

    with jobsim.Simulation(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = str(sim.runs("f")[0].error)
    assert "step 'fetch'" in error and "is async; use an `async def` handler" in error


def test_the_bus_stamps_the_senders_copy_keeping_every_field_of_the_event():
    import dataclasses

    from jobsim._events import Bus

    as_made = dict(name="order/paid", data={"orderId": "o1"}, user={"id": "u1"}, v="2025-01-01.1")
    given = Event(**as_made)
    stamped = Bus().accept(given, 1_741_000_000_123_000_000)
    assert stamped is given  # the sender's own copy (Simulation._emit makes one of every event): stamped in place
    assert stamped == Event(**as_made, id=stamped.id, ts=1_741_000_000_123)
    assert [f.name for f in dataclasses.fields(Event)] == ["name", "data", "id", "user", "ts", "v"]
    assert stamped.id is not None and len(stamped.id) == 26


def test_an_event_a_test_sends_is_not_changed_by_sending_it():
    app = jobsim.App("a")
    app.function("f", on="order/paid")(lambda ctx: ctx.event.id)
    given = Event("order/paid", {"orderId": "o1"}, user={"id": "u1"})
    with simulate(app) as sim:
        ids = sim.send(given) + sim.send([given]) + app.send(given)
        sim.run_until_idle()
    assert given == Event("order/paid", {"orderId": "o1"}, user={"id": "u1"})  # no id, no ts stamped on it
    sent = sim.events
    assert [e.id for e in sent] == ids and len(set(ids)) == 3 and all(e is not given for e in sent)
    assert all(e.data is not given.data and e.user is not given.user for e in sent)
    assert [r.output for r in sim.runs("f")] == ids


# -- found by the core audit: each test failed before its fix ----------------------------------------


def test_an_invoke_resumes_the_caller_when_the_invoked_run_ends_on_its_own_clock():
    app = jobsim.App("a")

    @app.function("slow", on="slow/never")
    def slow(ctx):
        time.sleep(5)  # the invoked run's code spends 5 s: it ends at +5 s, not at +0
        return ctx.event.data["n"]

    @app.function("caller", on="go")
    def caller(ctx):
        one = ctx.step.invoke("one", function=slow, data={"n": 1})
        return [one, ctx.step.invoke("two", function=slow, data={"n": 2})]

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("caller")[0]
    assert run.output == [1, 2]
    assert [(at(child), at(child.end_ns)) for child in sim.runs("slow")] == [(0, 5), (5, 10)]
    assert at(run.steps["one"].end_ns) == 5 and at(run.steps["two"].end_ns) == 10 and at(run.end_ns) == 10


def test_a_failure_is_announced_when_the_run_failed_not_when_its_request_began():
    app = jobsim.App("a")
    seen = []

    def alert(ctx):
        seen.append(("on_failure", at(instant_ns(dt.datetime.now(dt.timezone.utc))), ctx.event.ts))

    @app.function("boom", on="go", on_failure=alert)
    def boom(ctx):
        time.sleep(5)
        raise NonRetriableError("card declined")

    @app.function("watch", on="inngest/function.failed")
    def watch(ctx):
        seen.append(("watch", at(instant_ns(dt.datetime.now(dt.timezone.utc))), ctx.event.ts))

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert at(sim.runs("boom")[0].end_ns) == 5
    t5 = (T0 + 5 * SECOND) // 1_000_000
    assert sorted(seen) == [("on_failure", 5, t5), ("watch", 5, t5)]
    assert [e.ts for e in sim.events if e.name == "inngest/function.failed"] == [t5]


def test_sent_event_data_is_a_json_copy_taken_at_send_time():
    app = jobsim.App("a")
    received = []

    @app.function("f", on="go")
    def f(ctx):
        received.append(ctx.event.data)

    with simulate(app) as sim:
        payload = {"n": 0, "at": dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc), 7: "seven"}
        for n in range(3):  # one dict reused for three sends: three distinct events, as on Inngest
            payload["n"] = n
            sim.send("go", payload)
        sim.send(Event("go", {"n": 3}, user={"id": "u1"}))
        sim.run_until_idle()
        with pytest.raises(InvalidArgument, match=r"data=\{'tags': \{'a'\}\} is not valid: event data must be JSON"):
            sim.send("go", {"tags": {"a"}})
        with pytest.raises(InvalidArgument, match=r"user=.* is not valid: event user must be JSON"):
            sim.send(Event("go", {}, user={"obj": object()}))
    assert [r["n"] for r in received] == [0, 1, 2, 3]
    assert received[0] == {"n": 0, "at": "2025-03-01T00:00:00+00:00", "7": "seven"}
    assert [e.data["n"] for e in sim.events] == [0, 1, 2, 3] and sim.events[3].user == {"id": "u1"}
    assert len(sim.events) == 4  # refused events never reached the bus


def test_event_data_past_53_bit_ints_reaches_job_code_as_inngests_server_hands_it_on(tmp_path):
    # an int past 64 bits was refused (orjson's TypeError), where inngest-py sends its digits and the server takes
    # the event: it reads every number into a float64 (pkg/event/event.go: Data map[string]any) and writes each
    # request's events through JCS (driver.go: MarshalV1, jcs.Transform), JavaScript's number format -- digits
    # below 1e21, an exponent from there -- so job code gets the nearest double, an int or from 1e21 a float
    app = jobsim.App("a")
    seen = []

    @app.function("f", on="go")
    def f(ctx):
        seen.append((copy.deepcopy(ctx.event.data), ctx.event.user))
        ctx.event.data["l"].append("changed")  # the next request gets a fresh copy: its own list
        ctx.step.sleep("later", "1m")

    data = {"n": 10**30, "neg": -(2**70), "k": 10**20 + 1, "s": 2**53 + 1, "exact": 2**53, "l": [2**64 - 1, 1.5],
            2**70: "key"}
    want = {"n": 1e30, "neg": -float(2**70), "k": 10**20, "s": 2**53, "exact": 2**53, "l": [2**64, 1.5],
            str(2**70): "key"}
    with simulate(app) as sim:
        sim.send("go", data, user={"id": 10**25})
        sim.run_until_idle()
        with pytest.raises(InvalidArgument, match=r"past a float64's range .* send it as a string"):
            sim.send("go", {"n": 10**400})
    assert seen == [(want, {"id": 1e25})] * 2
    assert [type(seen[0][0][k]) for k in want] == [float, float, int, int, int, list, str]
    assert list(seen[0][0]) == sorted(want)  # JCS sorts the keys
    assert sim.events[0].data == want and len(sim.events) == 1
    for redact in (False, True):  # a trace holds an int past 64 bits as a float, as orjson and JSON.parse read it
        path = sim.trace.save(tmp_path / f"t{redact}.jsonl", redact=redact)
        (event,) = [r for r in jobsim.Trace.load(path) if r.kind == "event"]
        assert event.data["data"] == {**want, "k": 1e20, "l": [float(2**64), 1.5]}


def test_an_empty_data_dict_is_copied_at_send_time_too():
    """``{}`` is copied like any other data: the test's dict and the sent event never share one object."""
    app = jobsim.App("a")

    @app.function("f", on="go")
    def f(ctx):
        ctx.event.data["touched"] = True

    with simulate(app) as sim:
        payload: dict = {}
        sim.send("go", payload)
        sim.send({"name": "go", "data": payload})
        sim.send(Event("go", payload))
        payload["later"] = 1  # the test reuses its dict after sending
        sim.run_until_idle()
    assert payload == {"later": 1}  # job code did not write into the test's dict
    assert [e.data for e in sim.events] == [{}] * 3  # neither the test's change nor job code's reached an event


@pytest.mark.parametrize("flow", [{}, {"concurrency": 1}])  # runs started by the engine, and by flow control
def test_each_run_gets_its_own_copy_of_the_event_that_started_it(flow):
    """Fan-out: one function changing ``ctx.event.data`` changes neither the others' nor the record of the send."""
    app = jobsim.App("a")
    seen = []

    @app.function("mutate", on="signup", **flow)
    def mutate(ctx):
        ctx.event.data["plan"] = "changed"
        ctx.event.data["tags"].append("mutated")
        ctx.event.user["id"] = "someone else"

    @app.function("read", on="signup")
    def read(ctx):
        seen.append((dict(ctx.event.data), list(ctx.event.data["tags"]), dict(ctx.event.user)))

    with simulate(app) as sim:
        sim.send({"name": "signup", "data": {"plan": "pro", "tags": ["a"]}, "user": {"id": "u1"}})
        sim.run_until_idle()
    assert seen == [({"plan": "pro", "tags": ["a"]}, ["a"], {"id": "u1"})]
    assert (sim.events[0].data, sim.events[0].user) == ({"plan": "pro", "tags": ["a"]}, {"id": "u1"})
    (record,) = sim.trace.of("event")
    assert (record.data["data"], record.data["user"]) == ({"plan": "pro", "tags": ["a"]}, {"id": "u1"})


@pytest.mark.parametrize("handler", ["sync", "async"])
def test_each_request_reads_the_event_as_sent_so_a_change_inside_a_step_is_gone_later(handler):
    """Inngest hands every request the stored event: data set inside a completed step (which never
    runs again) is not there in later requests. Code relying on it works nowhere but in a shared copy."""
    app = jobsim.App("a")
    seen = []

    def body(ctx):
        seen.append((ctx.attempt, json.loads(json.dumps(ctx.event.data))))
        if ctx.event.data.get("vip"):  # only ever true inside the request that set it
            seen.append("vip")

    def enrich(ctx):
        ctx.event.data["vip"] = True
        ctx.event.data["tags"].append("enriched")
        ctx.events[0].user["id"] = "changed"
        return "done"

    if handler == "sync":

        @app.function("order", on="order/placed", retries=Retries(attempts=2, min="1s"))
        def order(ctx):
            body(ctx)
            ctx.step.run("enrich", enrich, ctx)
            body(ctx)
            ctx.step.wait_for_event("paid", event="order/paid", match="data.orderId", timeout="1h")
            body(ctx)
    else:

        @app.function("order", on="order/placed", retries=Retries(attempts=2, min="1s"))
        async def order(ctx):
            body(ctx)
            await ctx.step.run("enrich", enrich, ctx)
            body(ctx)
            await ctx.step.wait_for_event("paid", event="order/paid", match="data.orderId", timeout="1h")
            body(ctx)

    with simulate(app) as sim:
        sim.send({"name": "order/placed", "data": {"orderId": "o1", "tags": ["a"]}, "user": {"id": "u1"}})
        sim.advance("1m")
        sim.send("order/paid", {"orderId": "o1"})  # matches the order as sent, whatever job code changed
        sim.run_until_idle()
    sent = {"orderId": "o1", "tags": ["a"]}
    assert seen == [(0, sent)] * 6  # 1 + 2 + 3 bodies over three requests, never "vip"
    run = sim.runs("order")[0]
    assert run.status == "completed" and run.steps["paid"].output["data"] == {"orderId": "o1"}
    assert (run.event.data, run.event.user) == (sent, {"id": "u1"})  # the run's event is the one sent
    assert sim.events[0].data == sent


def test_job_code_sending_non_json_data_fails_that_attempt_clearly():
    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        ctx.step.send_event("note", {"name": "note", "data": {"when": object()}})

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "failed" and "event data must be JSON" in str(run.error)
    assert [e.name for e in sim.events] == ["go", "inngest/function.failed"]


def test_a_ctx_step_kept_past_its_request_refuses_new_steps():
    app = jobsim.App("a")
    kept = []

    @app.function("f", on="go")
    def f(ctx):
        kept.append(ctx.step)
        return 1

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
        with pytest.raises(JobsimError, match=r"step 'later' was called on the ctx.step of a request that has ended"):
            kept[0].run("later", lambda: 2)


@pytest.mark.parametrize(
    ("after", "message", "retried"),
    [
        ("soonish", "after='soonish' is not valid: a str is a duration ('90s') or a Retry-After header's value",
         True),  # a header's value: data, retried
        (-5, "after=-5 is not valid", False),  # code's mistakes: MisbuiltError, the run fails at once
        (dt.datetime(2025, 3, 1, 0, 5), "after=datetime.datetime(2025, 3, 1, 0, 5) is not valid: expected an aware",
         False),
    ],
)
def test_a_bad_retry_after_fails_the_attempt_instead_of_the_simulation(after, message, retried):
    with pytest.raises(InvalidArgument, match="is not valid"):
        RetryAfterError(after)
    app = jobsim.App("a")

    @app.function("f", on="go", retries=FAST)
    def f(ctx):
        if ctx.attempt == 0:
            raise RetryAfterError(after)
        return "ok"

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()  # raised InvalidArgument out of the engine before the fix
    run = sim.runs("f")[0]
    assert message in str(run.attempts[0].error)
    if retried:
        assert run.status == "completed"
        assert [a.started_at.second for a in run.attempts] == [0, 1]  # retried with FAST backoff: 1 s
    else:
        assert (run.status, len(run.attempts)) == ("failed", 1)


def test_a_retry_after_header_value_is_read_as_http_says():
    """``RetryAfterError(response.headers["Retry-After"])``: delay-seconds or an HTTP-date (RFC 9110 §10.2.3);
    "120" was refused as a bare number and the retry fell back to the backoff."""
    app = jobsim.App("a")
    headers = ["120", "Sat, 01 Mar 2025 01:00:00 GMT"]

    @app.function("f", on="go", retries=FAST)
    def f(ctx):
        if ctx.attempt < len(headers):
            raise RetryAfterError(headers[ctx.attempt])
        return "ok"

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "completed"
    assert [(a.start_ns - T0) // SECOND for a in run.attempts] == [0, 120, 3600]
    assert RetryAfterError("120").after == "120"  # kept as given
    with pytest.raises(InvalidArgument, match="after='Sat, 01 Mar 2025 99:00:00 GMT' is not valid"):
        RetryAfterError("Sat, 01 Mar 2025 99:00:00 GMT")


def test_a_retry_after_http_date_is_read_in_all_three_forms_rfc_9110_names():
    """RFC 9110 §5.6.7: a recipient accepts the obsolete RFC 850 and asctime forms too (urllib3's Retry does);
    asctime, which has no zone, is GMT whatever the simulation's tz. It was refused as not a duration, and the
    retry fell back to the backoff."""
    app = jobsim.App("a")
    headers = ["Saturday, 01-Mar-25 00:02:00 GMT", "Sat Mar  1 00:05:00 2025", "Sat, 01 Mar 2025 00:10:00 +0000"]

    @app.function("f", on="go", retries=Retries(attempts=4))
    def f(ctx):
        if ctx.attempt < len(headers):
            raise RetryAfterError(headers[ctx.attempt])
        return "ok"

    with simulate(app, tz="America/New_York") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert [(a.start_ns - T0) // SECOND for a in run.attempts] == [0, 120, 300, 600]
    with pytest.raises(InvalidArgument) as caught:
        RetryAfterError("soon")
    assert str(caught.value) == (
        "after='soon' is not valid: a str is a duration ('90s') or a Retry-After header's value: delay-seconds "
        "('120') or an HTTP-date in any of its three forms ('Wed, 21 Oct 2025 07:28:00 GMT', 'Wednesday, "
        "21-Oct-25 07:28:00 GMT', 'Wed Oct 21 07:28:00 2025'); as a duration: expected a duration such as "
        "'500ms', '30s', '5m', '1h30m', '7d', '2 weeks', a timedelta, or a number of seconds, not negative")


def test_handlers_and_triggers_of_the_wrong_shape_are_refused_at_declaration():
    app = jobsim.App("a")
    with pytest.raises(InvalidArgument, match=r"handler=.* a function callable with one positional argument, ctx"):
        app.function("none", on="go")(lambda: None)
    with pytest.raises(InvalidArgument, match=r"missing a required argument: 'payload'"):
        app.function("two", on="go")(lambda ctx, payload: None)
    with pytest.raises(InvalidArgument, match=r"on_failure=.* a function callable with one positional argument"):
        app.function("f", on="go", on_failure=lambda: None)
    with pytest.raises(InvalidArgument, match=r"on=3 is not valid: a non-empty string or a list of them"):
        app.function("f", on=3)
    with pytest.raises(InvalidArgument, match=r"cron=5 is not valid: a non-empty string or a list of them"):
        app.function("f", cron=5)
    app.function("extra", on="go")(lambda ctx, *args, retries=3: None)  # still callable as handler(ctx)
    app.function("method", on="go")(Flaky(0).__call__)
    assert set(app.functions) == {"extra", "method"}


def test_driving_time_refuses_instants_a_datetime_cannot_show():
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with pytest.raises(InvalidArgument, match="max_chain=0 is not valid: an int >= 1"):
        simulate(app, max_chain=0)
    with simulate(app) as sim:
        with pytest.raises(InvalidArgument, match=r"by=1e\+30 is not valid: a duration that ends by 9999-12-31"):
            sim.advance(1e30)
        with pytest.raises(InvalidArgument, match=r"at=nan is not valid"):
            sim.advance_to(float("nan"))
        with pytest.raises(InvalidArgument, match="max_items=0 is not valid"):
            sim.advance("1h", max_items=0)
        sim.run_until_idle(max_time=1e30)  # "no limit": idle at once
        assert sim.now == dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)  # still usable
        sim.advance("1h")
    with pytest.raises(JobsimError, match=r"sim.fail\(\) needs a simulation that is not closed"):
        sim.fail("f")


def test_an_event_job_code_sends_after_spending_time_exists_from_then():
    app = jobsim.App("a")

    @app.function("short-wait", on="go")
    def short_wait(ctx):
        return ctx.step.wait_for_event("paid", event="paid", timeout="5s")  # times out at +5 s

    @app.function("late-wait", on="go")
    def late_wait(ctx):
        ctx.step.sleep("first", "10s")
        paid = ctx.step.wait_for_event("paid", event="paid", timeout="1h")  # waits from +10 s
        return None if paid is None else paid.data

    @app.function("payer", on="go")
    def payer(ctx):
        time.sleep(20)  # outside steps: the request began at +0, the event is sent at +20 s
        app.send("paid", {"n": 1})

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    short, late = sim.runs("short-wait")[0], sim.runs("late-wait")[0]
    assert short.output is None and at(short.end_ns) == 5
    assert late.output == {"n": 1} and at(late.end_ns) == 20
    assert [(e.name, (e.ts - T0 // 1_000_000) / 1000) for e in sim.events] == [("go", 0), ("paid", 20)]


def test_retry_after_error_survives_copy_and_pickle_with_its_delay():
    import copy
    import pickle

    for error in (RetryAfterError("90s"), RetryAfterError(dt.timedelta(minutes=2), "slow down")):
        for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
            assert (type(clone), clone.after, str(clone)) == (RetryAfterError, error.after, str(error))


def test_steps_awaited_together_are_pointed_to_step_parallel():
    app = jobsim.App("a")

    @app.function("gather", on="go", retries=0)
    async def gather(ctx):
        return await asyncio.gather(ctx.step.run("a", asyncio.sleep, 1), ctx.step.run("b", asyncio.sleep, 2))

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = str(sim.runs("gather")[0].error)
    assert "step 'b' was called inside another step ('a' was running)" in error
    assert "nor awaited together (asyncio.gather, create_task): use ctx.step.parallel([...])" in error


@pytest.mark.parametrize("kind", ["run", "sleep", "send_event", "create_task"])
def test_steps_awaited_together_whose_code_does_not_overlap_are_refused_too(kind):
    # gather starts every step's coroutine: the first new step ends the request, yet the loop still runs the
    # second one's code before the handler returns. That result was thrown away and the next request ran the
    # code again: 'b' charged twice, a second send_event sent twice, two sleeps slept one after the other
    app, charged, sent = jobsim.App("a"), [], []

    async def step(key):
        if kind == "sleep":
            return await ctx_of[0].step.sleep(key, "1m")
        if kind == "send_event":
            return await ctx_of[0].step.send_event(key, {"name": f"sent/{key}"})
        return await ctx_of[0].step.run(key, lambda: charged.append(key) or key)

    ctx_of = []

    @app.function("f", on="go", retries=3)
    async def f(ctx):
        ctx_of[:] = [ctx]
        if kind == "create_task":
            later = asyncio.create_task(step("b"))
            first = await step("a")
            return first, await later
        return await asyncio.gather(step("a"), step("b"))

    @app.function("listener", on="sent/b")
    def listener(ctx):
        sent.append(ctx.event.name)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, type(run.error), len(run.attempts)) == ("failed", jobsim.StepMisuse, 1)  # not retried
    assert str(run.error).startswith("step 'b' of function 'f' was called after step 'a' ended the request: steps "
                                     "awaited together (asyncio.gather, create_task) would all run in it")
    assert str(run.error).endswith("use ctx.step.parallel([...]) to run steps side by side, or await them one "
                                   "after another")
    assert "b" not in charged and sent == []  # refused before its code ran: nothing done twice


def test_a_stored_step_read_in_a_task_after_a_new_step_ended_the_request_is_fine():
    app, calls = jobsim.App("a"), []

    @app.function("f", on="go", retries=0)
    async def f(ctx):
        calls.append(1)
        if len(calls) == 1:
            await ctx.step.run("b", lambda: "B")
        return await asyncio.gather(ctx.step.run("a", lambda: "A"), ctx.step.run("b", lambda: "again"))

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, run.output, list(run.steps)) == ("completed", ["A", "B"], ["b", "a"])


def test_job_code_cannot_drive_the_simulation_it_runs_in():
    app = jobsim.App("a")
    sims = []

    @app.function("driver", on="go", retries=0)
    def driver(ctx):
        sims[0].advance("1h")  # re-entered the kernel: the clock jumped an hour inside one request

    with simulate(app) as sim:
        sims.append(sim)
        sim.send("go")
        sim.run_until_idle()
        assert sim.now == dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    error = str(sim.runs("driver")[0].error)
    assert error.startswith("sim.advance() was called from job code (function 'driver'); drive time from the test")


def test_job_code_cannot_close_the_simulation_it_runs_in():
    # sim.close() from job code closed the simulation in the middle of its driving call: the virtual loop
    # went with it, so another run of the same advance failed with an unrelated "Event loop is closed"
    app = jobsim.App("a")
    sims = []

    @app.function("closer", on="go", retries=0)
    def closer(ctx):
        sims[0].close()

    @app.function("later", on="go", retries=0)
    async def later(ctx):
        await ctx.step.sleep("s", "1m")
        await asyncio.sleep(5)
        return "done"

    with simulate(app) as sim:
        sims.append(sim)
        sim.send("go")
        sim.advance("1h")
        assert [(run.function_id, run.status) for run in sim.runs()] == [("closer", "failed"), ("later", "completed")]
        assert sim.runs("later")[0].end_ns - sim.runs("later")[0].start_ns == 65 * 10**9
        sim.advance("1s")  # still running
    error = str(sim.runs("closer")[0].error)
    assert error.startswith("sim.close() was called from job code (function 'closer'); close the simulation from "
                            "the test")


@pytest.mark.parametrize("match", ["orderId", "payload.orderId", "data.order id", "data..orderId"])
def test_a_match_path_outside_the_event_is_refused_instead_of_never_matching(match):
    app = jobsim.App("a")
    app.function("f", on="go", retries=0)(lambda ctx: ctx.step.wait_for_event("paid", event="paid", match=match,
                                                                             timeout="1h"))
    with simulate(app) as sim:
        sim.send("go", {"orderId": "o1"})
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "failed" and at(run.end_ns) == 0  # not a silent 1 h wait
    assert str(run.error).startswith(f"match={match!r} is not valid: expected a dotted path into the event")
    with pytest.raises(InvalidArgument, match=r"match='orderId' is not valid"):
        jobsim.Cancel("order/cancelled", match="orderId")


def test_the_timeline_reads_in_time_order_when_job_code_spends_time():
    app = jobsim.App("a")

    @app.function("slow", on="go", retries=FAST)
    def slow(ctx):
        time.sleep(10)  # the failure, and the retry decision, come at +10 s
        raise RuntimeError("down")

    @app.function("quick", on="go")
    def quick(ctx):
        return "ok"

    with simulate(app, tz="UTC") as sim:
        sim.send("go")
        sim.advance("5s")  # slow's request starts at 0 and is written first, up to its retry at +10 s
    lines = sim.timeline().splitlines()[2:]
    stamps = [line[:23] for line in lines]
    assert stamps == sorted(stamps)
    texts = [line[29:] for line in lines]
    assert texts.index("run       quick#1 completed") < texts.index(
        "retry     slow#1 attempt 1 at 00:00:11 (+1s)"
    )


@pytest.mark.parametrize("profile", ["inngest", "trigger.dev"])  # durable steps, and steps as plain calls
def test_an_async_step_called_without_await_fails_the_attempt_naming_it(profile):
    app = jobsim.App("a")
    charged = []

    @app.function("order", on="order", retries=Retries(attempts=2, min="1s", max="1s"))
    async def order(ctx):
        ctx.step.run("charge", charged.append, 1)  # no await: the coroutine never runs
        await ctx.step.sleep("wait", "1h")
        return "done"

    @app.function("fine", on="order")
    async def fine(ctx):
        first = await ctx.step.run("a", lambda: 1)
        both = await ctx.step.parallel([lambda: ctx.step.run("b", lambda: 2), lambda: ctx.step.run("c", lambda: 3)])
        return [first, *both]

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the coroutine is closed: no "never awaited" warning
        with simulate(app, profile=profile) as sim:
            sim.send("order")
            sim.run_until_idle()
    run = sim.runs("order")[0]
    assert run.status == "failed" and charged == []
    assert [str(a.error) for a in run.attempts] == [  # a mistake in the code: 1 attempt, though 2 were allowed
        "step 'charge' was called without `await` in async function 'order', so its code never ran: write "
        "`await ctx.step.run(...)` (every ctx.step method of an async handler is awaited)"
    ]
    assert isinstance(run.error, jobsim.StepMisuse)
    assert sim.runs("fine")[0].output == [1, 2, 3]


def test_a_missing_await_keeps_the_handlers_own_error_and_its_no_retry():
    """The handler raised after skipping a step: its NonRetriableError still stops retries, and is the cause."""
    app = jobsim.App("a")

    @app.function("order", on="order", retries=Retries(attempts=3, min="1s", max="1s"))
    async def order(ctx):
        ctx.step.run("charge", lambda: 1)  # no await
        raise NonRetriableError("card declined")

    with simulate(app) as sim:
        sim.send("order")
        sim.run_until_idle()
    run = sim.runs("order")[0]
    assert (run.status, len(run.attempts)) == ("failed", 1)
    assert isinstance(run.error, NonRetriableError) and str(run.error).startswith("step 'charge' was called without")
    assert repr(run.error.__cause__) == "NonRetriableError('card declined')"


@pytest.mark.parametrize("where", ["handler", "step", "async step"])
def test_a_refusal_met_by_job_code_stops_the_simulation_instead_of_failing_the_attempt(where):
    """``UnsupportedFeature`` (here Inngest's lack of a delayed send) is no job error: no retry works
    around it, so the driving call raises it rather than the attempt failing and retrying in silence."""
    app = jobsim.App("a")
    calls = []

    def later():
        calls.append(where)
        return app.send("reminder", {}, delay="1h")

    if where == "handler":
        app.function("f", on="go")(lambda ctx: later())
    elif where == "step":
        app.function("f", on="go")(lambda ctx: ctx.step.run("remind", later))
    else:

        @app.function("f", on="go")
        async def f(ctx):
            return await ctx.step.run("remind", later)

    with simulate(app) as sim:
        sim.send("go")
        with pytest.raises(jobsim.UnsupportedFeature, match=r"Inngest cannot send an event later") as info:
            sim.run_until_idle()
    assert (info.value.system, info.value.feature) == ("Inngest", "send.delay")
    assert calls == [where]  # raised on the first attempt: no retry ran
    (run,) = sim.runs("f")
    assert run.attempts == [] and run.status == "running"  # cut short, not a failure of the job


def test_a_refusal_in_another_systems_job_code_stops_the_simulation_too():
    app = jobsim.App("a")
    app.function("f", cron="* * * * *")(lambda ctx: app.send("reminder", {}, delay="1h"))
    with simulate(app, profile="node-cron") as sim:
        with pytest.raises(jobsim.UnsupportedFeature, match=r"node-cron cannot send an event later"):
            sim.advance("2m")
        assert sim.now_ns() == instant_ns(START) + MINUTE  # the first tick's run raised it
    (run,) = sim.runs("f")
    assert run.attempts == [] and run.status == "running"


THREAD_FIX = "call steps from the handler's own thread; for concurrency use ctx.step.parallel([...])"


def thread_message(step, thread, function="f"):
    return (
        f"step {step!r} of function {function!r} was called from thread {thread!r}, not the thread running the "
        f"handler, so its request would end in that thread and the step be lost: {THREAD_FIX}"
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_step_called_from_a_thread_the_handler_starts_fails_the_attempt():
    """The thread's exception is never collected: the attempt fails anyway, naming the step."""
    import threading

    app = jobsim.App("a")
    ran, after = [], []

    @app.function("f", on="go", retries=Retries(attempts=2, min="1s", max="1s"))
    def f(ctx):
        worker = threading.Thread(target=lambda: ctx.step.run("x", ran.append, 1), name="worker")
        worker.start()
        worker.join()
        after.append(ctx.attempt)  # the handler goes on, unaware
        return "done"

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, ran, after) == ("failed", [], [0])  # not retried: a retry would lose the step again
    assert "x" not in run.steps
    assert [str(a.error) for a in run.attempts] == [thread_message("x", "worker")]
    assert [at(a.start_ns) for a in run.attempts] == [0]
    assert isinstance(run.error, JobsimError)


def test_a_step_in_a_thread_pool_raises_where_the_handler_collects_the_future():
    from concurrent.futures import ThreadPoolExecutor

    app = jobsim.App("a")
    seen = []

    @app.function("f", on="go", retries=0)
    def f(ctx):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
            future = pool.submit(ctx.step.run, "x", lambda: 1)
            try:
                return future.result()
            except JobsimError as exc:
                seen.append(str(exc))
                raise

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    expected = thread_message("x", "pool_0")
    assert seen == [expected]
    assert (run.status, str(run.error), len(run.attempts)) == ("failed", expected, 1)


def test_a_thread_step_error_the_handler_swallows_still_fails_the_attempt():
    """Catching the error (or never asking the future) does not make the lost step count as done."""
    from concurrent.futures import ThreadPoolExecutor

    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
            pool.submit(ctx.step.run, "x", lambda: 1)  # the future is dropped
        ctx.step.run("own", lambda: 2)  # a step of the handler's own thread ends the request normally...
        return "done"

    @app.function("g", on="go", retries=0)
    def g(ctx):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool, contextlib.suppress(JobsimError):
            pool.submit(ctx.step.sleep, "nap", "1h").result()
        raise NonRetriableError("gave up")

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    f_run, g_run = sim.runs("f")[0], sim.runs("g")[0]
    assert (f_run.status, str(f_run.error)) == ("failed", thread_message("x", "pool_0"))
    assert list(f_run.steps) == []  # ...but the attempt failed: 'own' is not stored, and reruns on a retry
    assert g_run.status == "failed" and isinstance(g_run.error, NonRetriableError)  # the handler's no-retry holds
    assert str(g_run.error) == thread_message("nap", "pool_0", "g")
    assert repr(g_run.error.__cause__) == "NonRetriableError('gave up')"


def test_steps_on_the_handlers_own_thread_and_stored_steps_read_from_threads_are_fine():
    """A step whose result is stored returns it on any thread: nothing runs, nothing is lost (see the README)."""
    from concurrent.futures import ThreadPoolExecutor

    app = jobsim.App("a")
    requests, charged = [], []

    @app.function("f", on="go", retries=0)
    def f(ctx):
        requests.append(1)
        if len(requests) == 1:  # the first request stores 'charge' from the handler's thread
            receipt = ctx.step.run("charge", lambda: charged.append(1) or {"charged": 10})
        else:  # later requests read it from a pool thread
            with ThreadPoolExecutor(max_workers=1) as pool:
                receipt = pool.submit(ctx.step.run, "charge", lambda: charged.append(2)).result()
        ctx.step.sleep("nap", "1m")
        return receipt

    @app.function("g", on="go")
    async def g(ctx):  # an async handler runs on one thread: unaffected
        first = await ctx.step.run("a", lambda: 1)
        both = await ctx.step.parallel([lambda: ctx.step.run("b", lambda: 2), lambda: ctx.step.run("c", lambda: 3)])
        return [first, *both]

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, run.output, at(run.end_ns)) == ("completed", {"charged": 10}, 60)
    assert (charged, len(requests)) == ([1], 3)
    assert list(run.steps) == ["charge", "nap"]
    assert sim.runs("g")[0].output == [1, 2, 3]


def test_a_step_called_from_a_thread_inside_a_steps_code_fails_the_attempt():
    """Not 'nested steps' (which would blame the step's code and retry it): the thread is the mistake."""
    from concurrent.futures import ThreadPoolExecutor

    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        def fan_out():
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
                return pool.submit(ctx.step.run, "inner", lambda: 1).result()

        return ctx.step.run("outer", fan_out)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, str(run.error), list(run.steps)) == ("failed", thread_message("inner", "pool_0"), [])
    assert [a.step for a in run.attempts] == [None]


def _chain_budget_error(app: jobsim.App, first: str, **options) -> tuple[jobsim.Simulation, str]:
    with simulate(app, **options) as sim:
        sim.send(first)
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_items=20_000)  # bounded even if the chain were not caught
    return sim, str(info.value)


def test_a_function_retriggering_itself_after_a_sleep_stops_after_max_chain_runs():
    app = jobsim.App("a")

    @app.function("loop", on="tick")
    def loop(ctx):
        ctx.step.sleep("pause", "1s")
        ctx.step.send_event("again", jobsim.Event("tick"))

    with simulate(app, max_chain=50) as sim:
        sim.send("tick")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_items=20_000)  # bounded even if the chain were not caught
        with pytest.raises(jobsim.BudgetExceeded, match="a chain of 51 runs"):  # still stuck, not silently resumed
            sim.advance("1h")
    message = str(info.value)
    assert len(sim.runs("loop")) == 52  # 51 chained after the test's own; the 52nd never ran
    assert sim.runs("loop")[-1].attempts == []
    assert sim.kernel.processed < 300  # stopped at once, not after max_items (5,000,000) items
    assert message.startswith("run-away simulation: a chain of 51 runs, each started by the run before (an event")
    assert "from 2025-03-01T00:00:00.000Z to 2025-03-01T00:00:51.000Z" in message
    assert "... -> loop -> loop" in message and "Simulation(max_chain=...)" in message


def test_a_chain_through_two_functions_and_through_invoke_counts_too():
    app = jobsim.App("a")
    app.function("ping", on="ping")(lambda ctx: (ctx.step.sleep("s", "1m"), app.send("pong")))
    app.function("pong", on="pong")(lambda ctx: (ctx.step.sleep("s", "1m"), app.send("ping")))
    _, message = _chain_budget_error(app, "ping", max_chain=20)
    assert "a chain of 21 runs" in message and "ping -> pong -> ping -> pong" in message

    app = jobsim.App("b")

    @app.function("deeper", on="dig")
    def deeper(ctx):
        ctx.step.sleep("s", "1h")
        return ctx.step.invoke("down", function=deeper, data={})

    _, message = _chain_budget_error(app, "dig", max_chain=30)
    assert "a chain of 31 runs" in message and "deeper -> deeper" in message


def test_a_finite_chain_within_the_budget_runs_to_its_end():
    app = jobsim.App("a")

    @app.function("countdown", on="count", throttle=jobsim.Throttle(limit=5, period="1m"))
    def countdown(ctx):
        n = ctx.event.data["n"]
        ctx.step.sleep("pause", "1m")
        if n:
            ctx.step.send_event("next", jobsim.Event("count", {"n": n - 1}))
        return n

    with simulate(app, max_chain=40) as sim:
        sim.send("count", {"n": 40})  # 40 runs after the first: exactly the budget
        sim.send("count", {"n": 3})  # another chain: chains are counted apart
        sim.run_until_idle(max_items=20_000)  # bounded even if the chain were not caught
    assert [run.output for run in sim.runs("countdown")].count(0) == 2
    with simulate(app, max_chain=40) as sim:
        sim.send("count", {"n": 41})
        with pytest.raises(jobsim.BudgetExceeded, match="a chain of 41 runs"):  # flow-controlled runs count too
            sim.run_until_idle(max_items=20_000)  # bounded even if the chain were not caught


def test_events_a_test_sends_start_no_chain():
    app = jobsim.App("a")
    app.function("tick", on="tick")(lambda ctx: ctx.step.sleep("s", "1s"))
    with simulate(app, max_chain=3) as sim:
        for _ in range(10):
            sim.send("tick")
            sim.advance("2s")
    assert len(sim.runs("tick")) == 10


def test_ctx_has_a_public_type_for_annotating_handlers():
    # a team running mypy --strict writes `def handler(ctx: jobsim.Context) -> ...`
    app = jobsim.App("typed")
    seen = []

    @app.function("sync", on="go")
    def sync(ctx: jobsim.Context) -> str:
        seen.append(type(ctx))
        return ctx.step.run("a", lambda: ctx.event.name)

    @app.function("async", on="go")
    async def asynchronous(ctx: jobsim.Context) -> str:
        seen.append(type(ctx))
        return await ctx.step.run("a", lambda: ctx.function_id)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [r.output for r in sim.runs()] == ["go", "async"]
    assert seen and all(kind is jobsim.Context for kind in seen)
    assert "Context" in jobsim.__all__


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: jobsim.Event.coerce({}), "event={} is not valid: an event dict needs a 'name'"),
        (lambda: jobsim.Event.coerce({"data": {"x": 1}}), "event={'data': {'x': 1}} is not valid: an event dict needs"),
        (lambda: jobsim.Event("e", user="ada"), "user='ada' is not valid: the event's user is a mapping"),
        (lambda: jobsim.Event("e", v=10**30), "v=1000000000000000000000000000000 is not valid: the event's version"),
        (lambda: jobsim.Event("e", ts=10**30), "ts=1000000000000000000000000000000 is not valid: milliseconds"),
    ],
)  # fmt: skip
def test_malformed_events_are_refused_when_made(make, message):
    # each used to fail later: a TypeError from Event(**{}), a ValueError from dict('ada') at the send,
    # an OverflowError or orjson TypeError from the timeline and trace.save
    with pytest.raises(InvalidArgument) as info:
        make()
    assert str(info.value).startswith(message)


def test_another_librarys_event_no_plugin_converts_is_named_as_not_jobsims():
    # "an Event" was all the message said, to a test that had passed an Event (another library's)
    Foreign = type("Event", (), {"__module__": "billing.events"})
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with simulate(app) as sim:
        with pytest.raises(InvalidArgument) as info:
            sim.send(Foreign())
        with pytest.raises(InvalidArgument) as plain:
            sim.send(3)
    assert str(info.value).endswith(
        "is not valid: an event name with data, a jobsim.Event, or a dict like {'name': ..., 'data': ...} "
        "(billing.events.Event is not jobsim.Event, and no installed jobsim plugin converts it: send "
        "jobsim.Event(name, data) or {'name': ..., 'data': ...})"
    )
    assert str(plain.value) == (
        "event=3 is not valid: an event name with data, a jobsim.Event, or a dict like {'name': ..., 'data': ...}")


def test_sending_a_dict_without_a_name_is_an_invalid_argument_from_a_test_or_a_step():
    app = jobsim.App("a")
    app.function("f", on="go", retries=1)(lambda ctx: ctx.step.send_event("s", {"data": {}}))
    with jobsim.Simulation(app) as sim:
        with pytest.raises(InvalidArgument, match="an event dict needs a 'name'"):
            sim.send({})
        sim.send("go")
        sim.run_until_idle()
        error = sim.runs("f")[0].error
        assert isinstance(error, InvalidArgument) and "an event dict needs a 'name'" in str(error)


def test_a_misspelt_keyword_of_send_is_named_as_sends_own():
    # sim.send("go", dealy="1h") raised "TypeError: Event.__init__() got an unexpected keyword argument 'dealy'",
    # a class the test never called, with no hint that delay= was meant
    app = jobsim.App("a")
    app.function("f", on="go", retries=0)(lambda ctx: ctx.step.run("s", lambda: app.send("later", tss=5)))
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^sim\.send\(\) got an unknown keyword argument dealy='1h' \(did "
                                                  r"you mean delay=\?\); accepted: data, delay, id, user, ts, v$"):
            sim.send("go", dealy="1h")
        with pytest.raises(InvalidArgument, match=r"^sim\.send\(\) got an unknown keyword argument colour='red'; "):
            sim.send("go", {"x": 1}, colour="red")
        assert sim.send("go", id="g1", ts=sim.now_ns() // 10**6) == ["g1"]
        sim.run_until_idle()
    assert str(sim.runs("f")[0].error) == ("app.send() got an unknown keyword argument tss=5 (did you mean ts=?); "
                                           "accepted: data, delay, id, user, ts, v")


def test_a_function_of_another_app_is_named_as_such():
    # sim.runs(other_app_fn) said "function_id=<jobsim function 'f' of app 'o'> is not valid: one of the simulated
    # function ids: 'f'", listing the very id it refused
    app, other = jobsim.App("shop"), jobsim.App("billing")
    app.function("f", on="go")(lambda ctx: None)
    theirs = other.function("f", on="go")(lambda ctx: None)
    message = (r"^function_id=<jobsim function 'f' of app 'billing'> is not valid: it is a function of app "
               r"'billing', which this simulation does not run \(it runs 'shop'\); pass that app to "
               r"Simulation\(\.\.\.\) too, or name one of the simulated function ids: 'f'$")
    with jobsim.Simulation(app) as sim, pytest.raises(InvalidArgument, match=message):
        sim.runs(theirs)


def test_time_past_the_last_datetime_fails_the_attempt_not_the_simulation():
    # invoke(timeout=10**30 s) and time.sleep(1e20) pushed work past 9999-12-31, and run_until_idle's
    # report of it raised OverflowError formatting the date
    app = jobsim.App("a")
    app.function("caller", on="go", retries=1)(lambda ctx: ctx.step.invoke("i", function="callee", timeout=10**30))
    app.function("callee", on="callee")(lambda ctx: None)
    app.function("sleeper", on="go", retries=1)(lambda ctx: time.sleep(1e20))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        assert str(sim.runs("caller")[0].error).startswith("a sleep or wait of 11574074074074074074074074d")
        assert str(sim.runs("sleeper")[0].error).startswith(
            "job code tried to spend 1157407407407407d7h23m53s150ms857216ns of virtual time from "
        )
        assert all(isinstance(run.error, InvalidArgument) for run in sim.runs())


def test_a_seed_past_64_bits_is_refused_where_the_trace_header_could_not_hold_it():
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    message = r"^seed=1000000000000000000000000000000 is not valid: an int within 64 bits"
    with pytest.raises(InvalidArgument, match=message):
        jobsim.Simulation(app, seed=10**30)  # trace.save raised orjson's TypeError at the end of the test
    assert jobsim.Simulation(app, seed=2**64 - 1).seed == 2**64 - 1


# -- job code that fails in unusual ways ----------------------------------------------------------------------
async def _async_body(boom):
    boom()


def _raising(where, boom):
    """A handler that runs ``boom`` in its body or in a step, sync or async."""
    if where == "body":
        return lambda ctx: boom()
    if where == "step":
        return lambda ctx: ctx.step.run("s", boom)
    if where == "async body":
        async def body(ctx):
            boom()
        return body

    async def in_step(ctx):
        return await ctx.step.run("s", boom)
    return in_step


def _started(attempts):
    return [(a.started_at - dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)).total_seconds() for a in attempts]


@pytest.mark.parametrize("where", ["body", "step", "async body", "async step"])
@pytest.mark.parametrize("error", [SystemExit, GeneratorExit, asyncio.CancelledError])
def test_system_exit_generator_exit_and_a_cancelled_task_in_job_code_fail_the_attempt(where, error):
    # sys.exit() in a helper, a closed generator, a cancelled task: a real worker's attempt ends and is
    # retried. They are BaseExceptions, and escaped the simulation from sim.run_until_idle(), leaving the
    # run 'running' forever
    def boom():
        raise error(3) if error is SystemExit else error()

    app = jobsim.App("a")
    app.function("f", on="go", retries=FAST, on_failure=lambda ctx: ctx.event.data["error"])(_raising(where, boom))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "failed" and type(run.error) is error
    failures = [a for a in run.attempts if not isinstance(a.error, StepError)]
    assert [type(a.error) for a in failures] == [error] * 3
    assert _started(failures) == [0.0, 1.0, 3.0]  # FAST: retried after 1 s, then 2 s
    # the server's reading of the answer: a step's failure let through is not retried ("NonRetriableError"),
    # and an empty message is replaced by that driver error (DriverResponse.StandardError)
    driver = "NonRetriableError" if where.endswith("step") else "invalid status code: 500"
    assert sim.runs("f-failure")[0].output == {"error": driver, "name": error.__name__,
                                               "message": "3" if error is SystemExit else driver}  # fmt: skip
    assert f"attempt 2 failed: {error.__name__}" in sim.timeline()


def test_keyboard_interrupt_and_other_base_exceptions_stop_the_test_as_they_should():
    # Ctrl-C cannot be told from job code raising KeyboardInterrupt, and pytest.fail()/skip() inside a
    # handler raise BaseExceptions of their own: those must reach the test, not become failed attempts
    class Abort(BaseException):
        pass

    for error in (KeyboardInterrupt, Abort):
        app = jobsim.App("a")
        app.function("f", on="go")(lambda ctx, error=error: ctx.step.run("s", Flaky(1, error=error)))
        with simulate(app) as sim:
            sim.send("go")
            with pytest.raises(error):
                sim.run_until_idle()
    with simulate(app) as sim, pytest.raises(InvalidArgument) as info:
        sim.fail("f", error=KeyboardInterrupt)  # an injected one would stop the test run instead of failing
    assert str(info.value) == (
        "error=<class 'KeyboardInterrupt'> is not valid: an exception instance or class (an Exception, or "
        "SystemExit, GeneratorExit, asyncio.CancelledError); a KeyboardInterrupt raised in job code is not a failed "
        "attempt: it stops the test run (see jobsim._checks.JOB_ERRORS)"
    )


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text for this one")


def test_an_exception_whose_str_raises_is_a_failed_attempt_with_a_placeholder_text(tmp_path):
    # its text is needed for the attempt's trace record, StepError's message, the failure event: the
    # RuntimeError from __str__ escaped the simulation while the attempt was recorded
    app = jobsim.App("a")
    app.function("body", on="go", retries=1)(lambda ctx: Flaky(9, error=Unprintable)())
    app.function("step", on="go", retries=1)(lambda ctx: ctx.step.run("s", Flaky(9, error=Unprintable)))
    with simulate(app) as sim:
        sim.fail("body", error=Unprintable())  # its fault.armed trace record describes it too
        sim.send("go")
        sim.run_until_idle()
    assert [type(run.error) for run in sim.runs()] == [Unprintable, Unprintable]
    assert str(sim.runs("step")[0].attempts[-1].error) == "step 's' failed: Unprintable: <exception str() failed>"
    assert "body#1 function body attempt 0 failed: Unprintable: <exception str() failed>" in sim.timeline()
    failed = [e.data for e in sim.events if e.name == "inngest/function.failed"]
    assert [d["result"] for d in failed] == [{"name": "Unprintable", "message": "<exception str() failed>"}] * 2
    sim.trace.save(tmp_path / "t.jobsim.jsonl")
    assert repr(sim.runs("body")[0]).endswith(", error=Unprintable('<exception str() failed>'))")  # it raised


def test_run_and_attempt_reprs_show_a_multi_line_error_on_one_line():
    request = httpx.Request("POST", "https://crm.example.com/contacts")
    error = httpx.HTTPStatusError("Server error '503 Service Unavailable'\nFor more information check: ...",
                                  request=request, response=httpx.Response(503, request=request))  # fmt: skip
    app = jobsim.App("a")

    def crm():
        raise error

    app.function("sync", on="go", retries=0)(lambda ctx: ctx.step.run("crm", crm))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("sync")[0]
    for shown in (repr(run), repr(run.attempts[0])):
        assert "\n" not in shown
    assert repr(run.attempts[0]).endswith(
        "error=HTTPStatusError(\"Server error '503 Service Unavailable'\\nFor more information check: ...\"))"
    )


class HttpError(Exception):
    """An exception whose __init__ takes other arguments than its message: copy.copy cannot rebuild it."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


def test_sim_fail_injects_an_exception_whose_init_takes_other_arguments():
    # each attempt raised copy.copy(error), which called HttpError('HTTP 503') and failed the attempt with
    # "TypeError: missing 1 required positional argument" instead of the error the test asked for
    app = jobsim.App("a")
    app.function("f", on="go", retries=FAST)(lambda ctx: ctx.step.run("call", lambda: "ok"))
    given = HttpError(503, "busy")
    with simulate(app) as sim:
        sim.fail("f", step="call", times=2, error=given)
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    raised = [a.error for a in run.attempts if a.error is not None]
    assert run.status == "completed" and run.output == "ok"
    assert [(type(e), str(e), e.status, e.body) for e in raised] == [(HttpError, "HTTP 503", 503, "busy")] * 2
    assert raised[0] is not given and raised[1] is not raised[0]  # each attempt raises its own copy
    with simulate(app) as sim, pytest.raises(InvalidArgument) as info:
        sim.fail("f", error=HttpError)  # a class is built with one message: this one cannot be
    assert str(info.value) == (
        "error=<class 'test_engine.HttpError'> is not valid: an exception instance or class (an Exception, or "
        "SystemExit, GeneratorExit, asyncio.CancelledError) that jobsim can raise once per attempt; "
        "HttpError('injected by sim.fail()') raised TypeError: HttpError.__init__() missing 1 required positional "
        "argument: 'body': pass an instance instead"
    )


def test_an_output_nested_too_deep_or_too_big_to_show_fails_with_a_short_message():
    # the message quoted the value with repr: 2,000 levels raised RecursionError out of the engine (a
    # returned value) or as the step's error; a big set filled the message with all of it
    app = jobsim.App("a")
    app.function("returns", on="go")(lambda ctx: nested())
    app.function("step", on="go")(lambda ctx: ctx.step.run("s", lambda: nested()))
    app.function("big", on="go")(lambda ctx: set(range(10_000)))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    errors = {run.function_id: run.error for run in sim.runs()}
    assert all(type(e).__name__ == "UnserializableOutput" for e in errors.values())
    assert str(errors["returns"]).startswith(
        "function 'returns' returned <dict object (its repr raised RecursionError)>, which cannot be stored as JSON "
        "(Recursion limit reached)"
    )
    assert str(errors["step"]).startswith("step 's' returned <dict object (its repr raised RecursionError)>")
    assert "... (58,890 characters), which cannot be stored as JSON" in str(errors["big"])
    assert len(str(errors["big"])) < 1300


def test_inngest_requests_hand_job_code_events_and_step_outputs_as_jcs_writes_them():
    # job code got event data, step outputs, a wait's event and an invoked run's output with their keys in the
    # order they were written and 1.0 as a float; Inngest writes every request to the SDK through JCS
    # (driver.go: MarshalV1 -> jcs.Transform: events, events[], steps), which sorts each object's keys by UTF-16
    # code units and prints a number as JavaScript does (1.0 -> 1, -0.0 -> 0), so inngest-py's json reads ints
    app = jobsim.App("a")
    seen = []
    data = {"b": 1.0, "a": {"z": -0.0, "y": [2.0, 1.5, 1e21]}, "a\uff00": 1, "a\U0001F600": 2, "c": 1e20}
    keys = ["a", "a\U0001F600", "a\uff00", "b", "c"]  # U+1F600 is D83D DE00 in UTF-16: before U+FF00

    def shape(value):  # keys in order, and every number's type
        if isinstance(value, dict):
            return [(k, shape(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [shape(v) for v in value]
        return (type(value).__name__, value)

    @app.function("child", on="never/sent")
    def child(ctx):
        return {"y": 3.0, "x": 4}

    @app.function("f", on="go")
    def f(ctx):
        out = ctx.step.run("out", lambda: {"q": 5.0, "p": [6.0, -0.0]})
        scalar = ctx.step.run("scalar", lambda: 7.0)
        got = ctx.step.wait_for_event("w", event="more", timeout="1h")
        invoked = ctx.step.invoke("i", function=child, data={"n": 8.0, "m": 1})
        seen.append(shape([ctx.event.data, out, scalar, got.data, invoked]))

    want = shape([
        {"a": {"y": [2, 1.5, 1e21], "z": 0}, "a\U0001F600": 2, "a\uff00": 1, "b": 1, "c": 10**20},
        {"p": [6, 0], "q": 5}, 7, {"a": 1, "b": 2}, {"x": 4, "y": 3},
    ])
    assert [k for k, _ in want[0]] == keys
    with simulate(app) as sim:
        sim.send("go", data)
        sim.advance("1m")
        sim.send("more", {"b": 2.0, "a": 1})
        sim.run_until_idle()
    assert seen == [want], seen
    run = sim.runs("f")[0]
    assert run.status == "completed", run.error
    # a run's own output is no request, nor is the event as the bus keeps it
    assert shape(sim.runs("child")[0].output) == [("y", ("float", 3.0)), ("x", ("int", 4))]
    assert shape(sim.events[0].data) == shape(data)


def test_jcs_is_inngests_alone_other_profiles_hand_data_as_written():
    # BullMQ, Trigger.dev, Quirrel and Agenda pass a job's payload through JSON.stringify / their own store: no JCS
    app = jobsim.App("a")
    seen = []

    @app.function("f", on="go")
    def f(ctx):
        seen.append([(k, type(v)) for k, v in ctx.event.data.items()])
        return {"y": 1.0}

    for profile in ("bullmq", "trigger.dev", "quirrel", "agenda"):
        with simulate(app, profile=profile) as sim:
            sim.send("go", {"b": 1.0, "a": 2})
            sim.run_until_idle()
        assert seen.pop() == [("b", float), ("a", int)], profile
        assert type(sim.runs("f")[0].output["y"]) is float


def test_jcs_canonical_sorts_utf16_and_prints_numbers_as_javascript():
    from jobsim._events import canonical
    from jobsim._steps import as_requested, dump, load

    value = {"\uffff": 1.0, "\U00010000": -0.0, "e": [1e20, 1e21, 0.5, 2**60], "d": {"b": True, "a": None}}
    assert list(canonical(value)) == ["d", "e", "\U00010000", "\uffff"]  # D800 DC00 before FFFF
    assert canonical(value)["d"] == {"a": None, "b": True} and list(canonical(value)["d"]) == ["a", "b"]
    assert [type(v) for v in canonical(value)["e"]] == [int, float, float, int]
    assert type(canonical(value)["\uffff"]) is int and canonical(value)["\U00010000"] == 0
    assert value["\uffff"] == 1.0 and type(value["\uffff"]) is float  # a new value
    stored = dump(value, "x")
    assert load(as_requested(stored)) == canonical(value)
    assert list(load(as_requested(stored))) == list(canonical(value))
    plain = dump([1, "a.b", "ü"], "x")
    assert as_requested(plain) is plain  # nothing JCS would change: no copy
    wide = dump({"b": 2**70, "a": 2.0}, "x")  # an int past 64 bits: kept as the server's double writes it
    assert shape_of(load(as_requested(wide))) == [("a", int), ("b", float)]


def shape_of(value):
    return [(k, type(v)) for k, v in value.items()]


def test_integers_past_53_bits_come_back_as_the_doubles_inngests_jcs_pass_makes(tmp_path):
    # orjson refused ints past 64 bits (the run failed with UnserializableOutput), and ints past 53 bits came back
    # exact; the server keeps a step's raw JSON (opcode.go: GeneratorOpcode.Data json.RawMessage) but writes every
    # request to the SDK through JCS (driver.go: MarshalV1 -> jcs.Transform), a number as a JavaScript double:
    # digits below 1e21, an exponent from there -- as event data reaches job code
    big, seen = 2**64 + 1, []
    app = jobsim.App("a")

    @app.function("sum", on="never/sent")
    def total(ctx):
        return {"big": -(2**70), "n": 7, 2**65: "key", "odd": 2**53 + 1}

    @app.function("steps", on="go")
    def steps(ctx):
        x = ctx.step.run("x", lambda: big)
        nested = ctx.step.run("nested", lambda: {"l": [big, 1.5, "s"], "t": (2**100,)})
        seen.append((x, nested))
        ctx.step.sleep("later", "1m")
        return [x, ctx.step.invoke("sum", function=total, data={})]

    @app.function("huge", on="go")
    def huge(ctx):
        return ctx.step.run("x", lambda: 10**400)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("steps")[0]
    assert run.status == "completed", run.error
    want = {"big": -float(2**70), "n": 7, str(2**65): "key", "odd": 2**53}  # an int key is written as a string
    assert run.output == [2**64, want] and type(run.output[0]) is int  # 2**64 + 1's double, below 1e21: digits
    assert seen[-1] == (2**64, {"l": [2**64, 1.5, "s"], "t": [float(2**100)]}) and len(seen) == 3
    assert type(seen[-1][1]["t"][0]) is float  # past 1e21: JCS's exponent form, which json reads as a float
    assert run.steps["nested"].output == {"l": [2**64, 1.5, "s"], "t": [float(2**100)]}
    failed = sim.runs("huge")[0]
    assert failed.status == "failed" and "past a float64's range" in str(failed.error)
    assert str(failed.error).startswith("step 'x' returned 1000")  # named though only an error makes the name
    for redact in (False, True):  # a trace holds 2**64 as orjson and JavaScript's JSON.parse read it: a float
        path = sim.trace.save(tmp_path / f"t{redact}.jsonl", redact=redact)
        ends = [r for r in jobsim.Trace.load(path) if r.kind == "run.end" and r.data["function"] != "huge"]
        assert [r.data["output"] for r in ends] == [want, [float(2**64), want]]  # the invoked run ends first


def test_a_callable_object_with_an_async_call_is_an_async_handler_and_generators_are_refused():
    # an object whose __call__ is async was driven as a sync handler: its coroutine was the run's
    # output (never awaited); a generator function's body never ran, its generator became the output
    class Job:
        async def __call__(self, ctx):
            await asyncio.sleep(5)
            return "done"

    app = jobsim.App("a")
    app.function("job", on="go")(Job())
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("job")[0]
    assert (run.status, run.output, at(run.end_ns)) == ("completed", "done", 5.0)

    def generator(ctx):
        yield ctx.step.run("s", lambda: 1)

    async def async_generator(ctx):
        yield 1

    for handler in (generator, async_generator):
        with pytest.raises(InvalidArgument, match=rf"^handler=<function .*{handler.__name__} at 0x\w+> is not valid: "
                           r"a function callable with one positional argument, ctx; e\.g\. `def job\(ctx\):`, not a "
                           r"generator function: calling it runs none of its body"):
            app.function(handler.__name__, on="go")(handler)
        with pytest.raises(InvalidArgument, match=r"^on_failure=.* not a generator function"):
            app.function("f", on="go", on_failure=handler)


def test_a_function_declared_after_the_simulation_was_built_is_refused_not_silently_never_run():
    # the simulation takes an app's functions when it is built: one declared later never ran, and the
    # events it was declared for started nothing, without a word
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    sim = simulate(app)
    app.function("late", on="go")(lambda ctx: None)
    with pytest.raises(JobsimError) as info:
        sim.start()
    assert str(info.value) == (
        "function(s) 'late' were declared on app 'a' after this Simulation was built from it, so it does not have "
        "them and they would never run: declare every function before building the Simulation, or build a new one"
    )
    with simulate(app) as sim:  # a new one has it
        with pytest.raises(JobsimError, match=r"^function 'later' was declared on app 'a' while it runs in a "
                                              r"simulation, which took the app's functions when it was built"):
            app.function("later", on="go")(lambda ctx: None)
        sim.send("go")
        sim.run_until_idle()
    assert [run.function_id for run in sim.runs()] == ["f", "late"]
    assert "later" not in app.functions
    with simulate(app, exclude_functions=["late"]):  # left out on purpose: not a late one
        pass


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_loop_that_sleeps_forever_fails_its_attempt_instead_of_running_to_the_year_9999(kind, monkeypatch):
    # `while not ready(): time.sleep(1)` spent virtual time a second at a time until 9999-12-31: hours of
    # real time for a test that looked hung. The budget is 250,000 spends an attempt; 1,000 here, for speed
    from jobsim import _simulation

    assert _simulation.MAX_SPENDS == 250_000
    monkeypatch.setattr(_simulation, "MAX_SPENDS", 1000)

    def poll(ctx):
        while True:
            time.sleep(1)

    async def poll_async(ctx):
        while True:
            await asyncio.sleep(1)

    app = jobsim.App("a")
    app.function("poll", on="go", retries=Retries(attempts=2, min="1s"))(poll if kind == "sync" else poll_async)
    app.function("bounded", on="go")(lambda ctx: [time.sleep(1) for _ in range(1000)] and "done")
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("poll")[0]
    assert (run.status, [type(a.error) for a in run.attempts]) == ("failed", [jobsim.BudgetExceeded] * 2)
    assert str(run.error) == (
        f"job code of function 'poll' (run {run.id}) spent virtual time 1,000 times in one attempt (time.sleep, "
        "asyncio.sleep, jobsim.delayed), from 2025-03-01T00:16:41.000Z to 2025-03-01T00:33:21.000Z: a loop waiting "
        "for something that never comes? Bound the loop (or sleep longer between checks)"
    )
    assert sim.runs("bounded")[0].output == "done"  # as many as the budget allows is fine


def test_an_app_given_twice_or_a_function_id_in_two_apps_is_named():
    """``jobsim_app`` returning ``[app, app]`` said "function id 'f' is declared twice (two apps or targets)"."""
    shop, billing = jobsim.App("shop"), jobsim.App("billing")
    shop.function("f", on="go")(lambda ctx: None)
    billing.function("f", on="go")(lambda ctx: None)
    with pytest.raises(InvalidArgument, match=r"^Simulation\(\) got the app 'shop' twice; give each app once$"):
        jobsim.Simulation([shop, shop])
    with pytest.raises(InvalidArgument, match=r"^function id 'f' is declared in app 'shop' and in app 'billing'; a "
                                              r"simulation's function ids must be unique: rename one$"):  # fmt: skip
        jobsim.Simulation(shop, billing)


def test_a_leftover_task_raising_when_cancelled_fails_the_attempt_and_the_callers_loop_is_kept():
    app = jobsim.App("a")

    @app.function("spawn", on="go", retries=0)
    async def spawn(ctx):
        async def stubborn():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                raise SystemExit(3) from None

        asyncio.get_running_loop().create_task(stubborn())  # never awaited: cancelled when the request ends
        await asyncio.sleep(0)

    async def test_body():
        outer = asyncio.get_running_loop()
        with simulate(app) as sim:
            sim.send("go")
            sim.run_until_idle()
        assert asyncio.get_running_loop() is outer  # was lost: the cancellation's SystemExit skipped its restore
        return sim

    sim = asyncio.run(test_body())
    assert repr(sim.runs("spawn")[0].error) == "SystemExit(3)"


@settings(max_examples=500, deadline=None)
@given(ms=st.integers(-62_135_596_800_000, 253_402_300_799_999), counter=st.integers(1, 1 << 41))
def test_ulid_is_the_128_bit_value_in_crockford_base32(ms, counter):
    """Ids are written from their two parts; the text is the 128-bit value's, 5 bits a character."""
    from jobsim._events import _CROCKFORD, ulid

    value = (ms << 80) | (counter * 0x9E3779B97F4A7C15 & ((1 << 80) - 1))
    expected = "".join(_CROCKFORD[value >> shift & 31] for shift in range(125, -1, -5))  # before 1970 too
    assert ulid(ms, counter) == expected


def test_ulid_pinned():
    """The ids the 128-bit version wrote (traces and timelines name runs by them)."""
    from jobsim._events import ulid

    assert ulid(1_735_689_600_000, 1) == "01JGFJJZ000009WDVSQ5ZMMZ0N"
    assert ulid(-5, 7) == "ZZZZZZZZZV0025712M29XGJS4K"
    assert ulid(253_402_300_799_999, 1 << 40 | 3) == "76EZ91ZPZZQ60JA8M25HYXYX1Z"


def test_run_ids_never_coincide_with_event_ids(tmp_path):
    # both counted from 1 through the same ulid(ms, counter): a simulation's first event and its first run had
    # one id, 01JGFJJZ000009WDVSQ5ZMMZ0N, and so did the n-th of each made in one millisecond
    app = jobsim.App("a")

    @app.function("fan", on="go")
    def fan(ctx):
        ctx.step.send_event("out", [jobsim.Event("more", {}) for _ in range(3)])

    @app.function("more", on="more")
    def more(ctx):
        return None

    with simulate(app) as sim:
        sim.send([jobsim.Event("go", {}) for _ in range(3)])
        sim.run_until_idle()
    events = [r.data["id"] for r in sim.trace if r.kind == "event"]
    runs = [run.id for run in sim.runs()]
    assert (len(events), len(runs)) == (12, 12) and len({*events, *runs}) == 24
    assert {i[:10] for i in events + runs} == {events[0][:10]}  # one millisecond: the suffixes tell them apart


def test_a_failed_step_keeps_no_request_alive():
    # the error's traceback starts in job code, and its frame's callers stop at the frame that calls
    # job code (jobsim._calls): no Step.run, handler or _request frame, no ctx, no ctx.step
    app = jobsim.App("a")

    def boom():
        raise RuntimeError("no")

    app.function("f", on="go", retries=FAST)(lambda ctx: ctx.step.run("s", boom))
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    failed = [a for a in run.attempts if a.step == "s"]
    assert [type(a.error) for a in failed] == [RuntimeError] * 3
    for attempt in failed:
        tb = attempt.error.__traceback__
        assert tb.tb_next is None and tb.tb_frame.f_code is boom.__code__
        callers, frame = [], tb.tb_frame.f_back
        while frame is not None:
            callers.append(frame.f_code.co_name)
            frame = frame.f_back
        assert callers == ["_calls"]
        assert attempt.traceback.splitlines()[1:] == [
            f'  File "{__file__}", line {boom.__code__.co_firstlineno + 1}, in boom',
            '    raise RuntimeError("no")',
            "RuntimeError: no",
        ]


def test_step_code_sees_the_exception_its_handler_is_handling():
    # sys.exc_info() and implicit chaining inside job code, as when job code was called directly
    import sys

    app = jobsim.App("a")
    seen = []

    def inside():
        seen.append(type(sys.exc_info()[1]))
        raise KeyError("k")

    @app.function("f", on="go", retries=1)
    def f(ctx):
        try:
            raise ValueError("v")
        except ValueError:
            ctx.step.run("s", inside)

    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    errors = [a.error for a in sim.runs("f")[0].attempts if a.step == "s"]
    assert seen == [ValueError, ValueError] and len(errors) == 2  # retries=1: one retry
    assert all(type(e) is KeyError and type(e.__context__) is ValueError for e in errors)


def test_steps_run_on_after_a_keyboard_interrupt_went_through_job_code():
    app = jobsim.App("a")
    calls, flaky = Flaky(1, error=KeyboardInterrupt), Flaky(1)
    app.function("f", on="go", retries=FAST)(lambda ctx: [ctx.step.run("s", calls), ctx.step.run("t", flaky)])
    with simulate(app) as sim:
        sim.send("go")
        with pytest.raises(KeyboardInterrupt):
            sim.run_until_idle()
        sim.send("go")  # the second run's step calls `calls` again: it returns now
        sim.run_until_idle()
    second = sim.runs("f")[1]
    assert second.status == "completed" and [(a.step, type(a.error)) for a in second.attempts] == [
        ("s", type(None)), ("t", RuntimeError), ("t", type(None)), (None, type(None))
    ]


def test_job_calls_made_inside_one_are_made_directly():
    from jobsim._calls import JobCalls

    calls = JobCalls()

    def outer():
        return calls.call(inner, (2,), {"k": 3})  # the generator is busy: a direct call

    def inner(a, k):
        if k:
            raise ValueError(a * k)
        return a

    ok, error = calls.call(outer, (), {})[1]
    assert ok is False and type(error) is ValueError and error.args == (6,)
    assert calls.call(inner, (5,), {"k": 0}) == (True, 5)


def test_a_record_with_a_line_break_stays_one_timeline_line():
    app = jobsim.App("t")

    @app.function("f", on="multi\nline")
    def f(ctx):
        raise ValueError("first line\r\nsecond line")

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z") as sim:
        sim.send("multi\nline")
        sim.advance("1s")
    lines = sim.timeline().splitlines()
    assert all(line.startswith("2026-03-02 ") for line in lines[2:])
    assert any("event     multi\\nline" in line for line in lines)
    assert any(line.endswith("failed: ValueError: first line") for line in lines)  # a message: its first line


def test_a_deadline_job_code_measures_with_time_monotonic_runs_out_as_its_virtual_waits_add_up():
    # tenacity's stop_after_delay and hand-written poll loops read time.monotonic(): it stayed real, so
    # the loop below called its service for 6 *real* seconds (thousands of calls) where a worker makes 6
    app = jobsim.App("a")

    @app.function("poll", on="go")
    def poll(ctx):
        calls, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline:
            calls.append(time.time())
            time.sleep(1)
        return [round(t - calls[0]) for t in calls]

    with simulate(app) as sim:
        sim.send("go")
        started = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - started < 20  # not the 60 real seconds; generous: 2 shared CI cores
    assert sim.runs("poll")[0].output == list(range(60))


@pytest.fixture
def fresh_monotonic(monkeypatch):
    """Job code's clock as in a fresh process: no earlier simulation of this worker gave it a value."""
    from jobsim import _wallclock

    monkeypatch.setattr(_wallclock, "_MONOTONIC_HIGH", [0])


def test_time_monotonic_in_job_code_moves_with_virtual_time_and_is_real_again_for_the_test(fresh_monotonic):
    app = jobsim.App("a")

    @app.function("mono", on="go")
    def mono(ctx):
        before = ctx.step.run("before", time.monotonic)
        ctx.step.sleep("pause", "1d")
        return [before, ctx.step.run("after", time.monotonic_ns) / SECOND]

    with simulate(app) as sim:
        real = time.monotonic()
        sim.send("go")
        sim.run_until_idle()
        after = time.monotonic()
    seen = sim.runs("mono")[0].output
    assert seen[0] >= real  # from the real clock, or where an earlier simulation's job code left it
    assert seen[1] - seen[0] == pytest.approx(86400, abs=1e-3)
    assert real <= after < seen[1]  # the test's own clock stayed real
    with simulate(app) as later:  # another simulation's job code never sees that clock go back
        later.send("go")
        later.run_until_idle()
    assert later.runs("mono")[0].output[0] >= seen[1]


def test_time_monotonic_in_job_code_is_not_moved_by_how_far_earlier_simulations_went(fresh_monotonic):
    # every simulation's span counted, read or not: over a suite the clock of job code went thousands of years
    # past the real one, where a double of seconds holds microseconds only (a 3 s response.elapsed read 3.000004)
    app = jobsim.App("a")

    @app.function("mono", on="go")
    def mono(ctx):
        return ctx.step.run("read", time.monotonic_ns)

    with simulate(app) as far:
        far.advance(dt.timedelta(days=365_000))
    real = time.monotonic_ns()
    with simulate(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert real <= sim.runs("mono")[0].output < real + 3600 * SECOND
    with simulate(app) as read_far:  # a value job code was given is the floor of the next simulation's clock
        read_far.advance(dt.timedelta(days=365_000))
        read_far.send("go")
        read_far.run_until_idle()
    given = read_far.runs("mono")[0].output
    assert given >= real + 365_000 * 86400 * SECOND
    with simulate(app) as later:
        later.send("go")
        later.run_until_idle()
    assert later.runs("mono")[0].output >= given


def test_time_monotonic_in_job_code_is_its_ns_converted_as_cpython_converts_them():
    # int / int rounds once: past 2**53 ns, 1 ulp under the real time.monotonic() of a smaller ns in about one
    # read of four, so a test comparing a real reading with job code's later one failed now and then (above)
    app = jobsim.App("a")

    def reads():
        pairs = []
        for _ in range(50):
            time.sleep(1.23e-7)
            pairs.append((time.monotonic(), time.monotonic_ns()))
        return pairs

    @app.function("mono", on="go")
    def mono(ctx):
        return ctx.step.run("reads", reads)

    with simulate(app) as sim:
        sim.advance("1500d")  # past 2**53 ns (104 days) the double of ns is inexact and the two roundings differ
        sim.send("go")
        sim.run_until_idle()
    pairs = sim.runs("mono")[0].output
    assert len({ns for _, ns in pairs}) == 50 and pairs[0][1] > 2**53
    assert [seconds for seconds, _ in pairs] == [float(ns) / 1e9 if ns % SECOND else float(ns // SECOND)
                                                 for _, ns in pairs]  # _PyTime_AsSecondsDouble


def test_log_records_of_job_code_count_relative_created_from_the_simulation_start(caplog):
    # relativeCreated counted from logging's real import while created was virtual: -55288269375 ms for a
    # record job code wrote at 2025-03-01 in a process started in 2026
    import logging

    app = jobsim.App("a")
    log = logging.getLogger("jobsim-test-job")

    @app.function("logs", on="go")
    def logs(ctx):
        log.warning("first")
        time.sleep(1.25)
        log.warning("later")

    made = []
    outer = logging.getLogRecordFactory()

    def tagged(*args, **kwargs):  # the test's own factory: kept for job code's records, and given back
        record = outer(*args, **kwargs)
        record.tag = "test's"
        made.append(record)
        return record

    logging.setLogRecordFactory(tagged)
    try:
        with simulate(app, start="2025-03-01T00:00:00Z") as sim:
            sim.advance("1h")
            log.warning("test code")
            sim.send("go")
            sim.run_until_idle()
        assert logging.getLogRecordFactory() is tagged
    finally:
        logging.setLogRecordFactory(outer)
    job = [r for r in caplog.records if r.getMessage() in ("first", "later")]
    assert [(r.created, r.msecs, r.relativeCreated, r.tag) for r in job] == [  # created: 3.13 divides ns by 1e9
        (1740790800.0, 0.0, 3_600_000.0, "test's"),
        (pytest.approx(1740790801.25, abs=1e-6), 250.0, 3_601_250.0, "test's")]
    own = next(r for r in caplog.records if r.getMessage() == "test code")
    assert own.relativeCreated > 0 and abs(own.created - time.time()) < 60  # the test's record: real, as made
    assert len(made) == 3


def test_a_real_event_loop_or_another_thread_in_job_code_keeps_the_real_monotonic_clock():
    import threading

    app = jobsim.App("a")

    @app.function("real", on="go")
    def real(ctx):
        loop = asyncio.SelectorEventLoop()  # a loop of its own: its timers wait in real time, and must end
        try:
            loop.run_until_complete(asyncio.sleep(0.01))
        finally:
            loop.close()
        other = []
        thread = threading.Thread(target=lambda: other.append(time.monotonic()))
        thread.start()
        thread.join()
        return [other[0], time.monotonic()]

    with simulate(app) as sim:
        # job code's clock starts where the real one was at the first driving call: read before it (read after,
        # the real clock is that much ahead, and the test failed when run alone, with no earlier simulation's
        # higher reading to start from)
        first = time.monotonic()
        sim.advance("2h")
        sim.send("go")
        started, real = time.perf_counter(), time.monotonic()
        sim.run_until_idle()
        assert time.perf_counter() - started < 30  # not the 2 h; generous: 2 shared CI cores
    other, job = sim.runs("real")[0].output
    assert abs(other - real) < 30
    assert job >= first + 7200


def test_a_run_id_is_not_its_events_id():
    """The first run and the first event of a millisecond counted 1 each: ``ctx.run_id == ctx.event.id``."""
    app = jobsim.App("ids")
    seen = []

    @app.function("f", on="go")
    def f(ctx):  # type: ignore[no-untyped-def]
        seen.append((ctx.run_id, ctx.event.id))

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {})
        sim.run_until_idle()
    ((run_id, event_id),) = seen
    assert run_id != event_id


@pytest.mark.parametrize("data", [
    {}, {"i": 1, "s": "x", "f": -0.0, "b": True, "n": None}, {"big": 2**53}, {"past": 2**53 + 1},
    {"float": 1e308}, {"nan": float("nan")}, {"é": 1}, {"s": "é"}, {"s": "\ud800"}, {1: "int key"},
    {"nested": {"a": 1}}, {"list": [1]}, {"t": (1, 2)}, {"set": {1}},
])  # fmt: skip
def test_a_runs_own_copy_of_its_event_is_what_the_json_copy_makes_of_it(data):
    # for_run copies flat JSON data with dict(); it must equal the JSON round trip it skips (or share what fails it)
    from jobsim._events import _stamped, as_sent, for_run

    event = _stamped(Event("x/y", {}), "01", 5)
    object.__setattr__(event, "data", data)
    object.__setattr__(event, "user", dict(data) if data else None)
    own = for_run(event)
    try:
        expected = as_sent(event)
    except InvalidArgument:
        assert own is event
        return
    assert own is not event and own.data is not data
    assert json.dumps(own.data) == json.dumps(expected.data) and json.dumps(own.user) == json.dumps(expected.user)
    assert [type(v) for v in own.data.values()] == [type(v) for v in expected.data.values()]


def test_a_start_that_fails_at_the_end_of_year_9999_frees_the_app():
    """The cron parser's search for the next fire time runs out of dates (``OverflowError``, which ``jobsim run``
    words as one line); the failed start left the app held by the simulation that never ran, and every later
    Simulation of it was refused."""
    app = jobsim.App("end-of-time")
    app.function("daily", on="go", cron="0 9 * * *")(lambda ctx: "ran")
    with pytest.raises(OverflowError) as info, jobsim.Simulation(app, start="9999-12-31T23:00:00Z"):
        pass
    assert isinstance(info.value, jobsim.errors.CalendarOverflow) and isinstance(info.value, jobsim.InvalidArgument)
    assert str(info.value) == ("cron '0 9 * * *': its next tick after 9999-12-31T23:00:00.000Z falls outside the years "
                               "1 to 9999 that a datetime can show (date value out of range); start the simulation "
                               "further from those years")  # a bare OverflowError before
    with jobsim.Simulation(app, start=START) as sim:  # the app is free again
        sim.advance("9h")
        assert len(sim.runs("daily")) == 1


def test_a_start_that_fails_while_wiring_functions_frees_the_apps(monkeypatch):
    app = jobsim.App("wiring")
    app.function("f", on="go")(lambda ctx: None)
    from jobsim._engine import Engine

    def broken(self, fn):
        raise RuntimeError("wiring failed")

    with monkeypatch.context() as patched:
        patched.setattr(Engine, "add_function", broken)
        with pytest.raises(RuntimeError, match="wiring failed"), jobsim.Simulation(app, start=START):
            pass
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.advance(0)
        assert [run.status for run in sim.runs("f")] == ["completed"]
