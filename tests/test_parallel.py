"""Parallel steps: planned together, each a request with its own retries, joined by mode."""

import asyncio
import contextlib
import datetime as dt
import time

import pytest

import jobsim
from jobsim import InvalidArgument, Retries, RetryAfterError, StepError, invariants
from jobsim._records import Attempt
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
FAST = Retries(attempts=3, backoff="constant", min="10s")


def secs(ns):
    return (ns - T0) / SECOND


def work(log, name, seconds, failures=0):
    """A step body that takes `seconds` of virtual time and fails its first `failures` calls."""

    def body():
        log.append((name, round(secs(time.time_ns()))))
        time.sleep(seconds)
        if sum(1 for n, _ in log if n == name) <= failures:
            raise RuntimeError(f"{name} failed")
        return name.upper()

    return body


def run_one(app, **kwargs):
    sim = jobsim.Simulation(app, start=START, **kwargs)
    with sim:
        sim.send("go")
        sim.run_until_idle()
    return sim, sim.runs()[0]


def test_steps_start_together_and_each_retries_on_its_own_counter():
    app, log, after = jobsim.App("a"), [], []

    @app.function("f", on="go", retries=FAST)
    def f(ctx):
        out = ctx.step.parallel(
            [
                lambda: ctx.step.run("a", work(log, "a", 3, failures=2)),
                lambda: ctx.step.run("b", work(log, "b", 5)),
            ]
        )
        after.append(secs(ctx.step.now))
        return list(out)

    sim, run = run_one(app)
    assert run.status == "completed" and run.output == ["A", "B"]
    # a: 0-3 fails, +10s -> 13-16 fails, +10s -> 26-29 ok; b runs 0-5 beside it. Three failures
    # in one function would exhaust attempts=3 if the counter were shared: it is per step.
    assert log == [("a", 0), ("b", 0), ("a", 13), ("a", 26)]
    assert [(a.step, a.number) for a in run.steps["a"].attempts] == [("a", 0), ("a", 1), ("a", 2)]
    assert secs(run.end_ns) == 29 and after == [29]
    assert [r.data["steps"] for r in sim.trace.of("parallel")] == [["a", "b"]]


def test_wait_mode_joins_all_before_a_chained_step_race_mode_does_not():
    def build(mode):
        app, log = jobsim.App("a"), []

        @app.function("f", on="go")
        def f(ctx):
            def chain():
                first = ctx.step.run("a1", work(log, "a1", 1))
                return first + ctx.step.run("a2", work(log, "a2", 1))

            return list(ctx.step.parallel([chain, lambda: ctx.step.run("b", work(log, "b", 10))], mode=mode))

        return app, log

    app, log = build("wait")
    _, run = run_one(app)
    assert log == [("a1", 0), ("b", 0), ("a2", 10)] and secs(run.end_ns) == 11 and run.output == ["A1A2", "B"]
    app, log = build("race")
    _, run = run_one(app)
    assert log == [("a1", 0), ("b", 0), ("a2", 1)] and secs(run.end_ns) == 10 and run.output == ["A1A2", "B"]


def test_sleep_wait_and_invoke_are_armed_side_by_side():
    app = jobsim.App("a")

    @app.function("child", on="never/sent")
    def child(ctx):
        ctx.step.sleep("nap", "30s")
        return ctx.event.data["n"] * 2

    @app.function("f", on="go")
    def f(ctx):
        _, got, doubled = ctx.step.parallel(
            [
                lambda: ctx.step.sleep("pause", "1m"),
                lambda: ctx.step.wait_for_event("approval", event="approved", timeout="1h"),
                lambda: ctx.step.invoke("double", function="child", data={"n": 21}),
            ]
        )
        return {"got": got and got.data, "doubled": doubled}

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.advance("10s")
        sim.send("approved", {"by": "ada"})
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.output == {"got": {"by": "ada"}, "doubled": 42}
    assert secs(run.end_ns) == 60  # the longest of 60 s, 10 s and 30 s
    assert {k: secs(s.end_ns) for k, s in run.steps.items()} == {"pause": 60, "approval": 10, "double": 30}


def test_each_parallel_step_takes_a_concurrency_slot():
    app, log = jobsim.App("a"), []

    @app.function("f", on="go", concurrency=1)
    def f(ctx):
        ctx.step.parallel([lambda k=k: ctx.step.run(k, work(log, k, 4)) for k in ("a", "b", "c")])

    _, run = run_one(app)
    assert log == [("a", 0), ("b", 4), ("c", 8)] and secs(run.end_ns) == 12


def test_a_step_that_fails_for_good_raises_step_error_after_the_group():
    app, log, seen = jobsim.App("a"), [], []

    @app.function("f", on="go", retries=Retries(attempts=2, backoff="constant", min="1s"))
    def f(ctx):
        try:
            ctx.step.parallel(
                [
                    lambda: ctx.step.run("bad", work(log, "bad", 1, failures=9)),
                    lambda: ctx.step.run("good", work(log, "good", 1)),
                ]
            )
        except StepError as exc:
            seen.append(exc.step_id)
            return "recovered"

    _, run = run_one(app)
    assert run.output == "recovered" and seen == ["bad"]
    assert log == [("bad", 0), ("good", 0), ("bad", 2)]  # the good step ran once, never again


def test_cancelling_a_run_disarms_every_step_of_its_group():
    app = jobsim.App("a")

    @app.function("f", on="go", cancel_on=[jobsim.Cancel("stop")])
    def f(ctx):
        ctx.step.parallel(
            [
                lambda: ctx.step.sleep("s1", "1h"),
                lambda: ctx.step.sleep("s2", "2h"),
                lambda: ctx.step.wait_for_event("w", event="never", timeout="3h"),
            ]
        )

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.advance("5m")
        sim.send("stop")
        sim.run_until_idle()
        assert sim.kernel.idle and list(sim.engine.waiters["never"]) == []
    run = sim.runs("f")[0]
    assert run.status == "cancelled" and secs(sim.kernel.now) == 300


def test_async_handlers_await_the_group():
    app, log = jobsim.App("a"), []

    @app.function("f", on="go")
    async def f(ctx):
        async def slow(name):
            log.append((name, round(secs(time.time_ns()))))
            await asyncio.sleep(3)
            return name

        out = await ctx.step.parallel([lambda: ctx.step.run("x", slow, "x"), lambda: ctx.step.run("y", slow, "y")])
        return list(out)

    _, run = run_one(app)
    assert run.output == ["x", "y"] and log == [("x", 0), ("y", 0)] and secs(run.end_ns) == 3


def test_memoized_group_returns_outputs_without_running_again():
    app, log = jobsim.App("a"), []

    @app.function("f", on="go")
    def f(ctx):
        pair = ctx.step.parallel(
            [lambda: ctx.step.run("a", work(log, "a", 1)), lambda: ctx.step.run("b", work(log, "b", 1))]
        )
        ctx.step.sleep("later", "1m")
        return [*pair, ctx.step.run("c", work(log, "c", 1))]

    _, run = run_one(app)
    assert run.output == ["A", "B", "C"] and [n for n, _ in log] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("callables", "mode", "message"),
    [
        ("ab", "wait", "callables='ab' is not valid: a list or tuple of callables"),
        ([1], "wait", "every item must be callable; 1 is not"),
        ([], "fast", "mode='fast' is not valid: 'wait' (continue when every step ended) or 'race' (after each)"),
    ],
)
def test_bad_arguments_are_named(callables, mode, message):
    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        ctx.step.parallel(callables, mode=mode)

    _, run = run_one(app)
    assert isinstance(run.error, InvalidArgument) and message in str(run.error)


def test_a_handler_that_changes_its_steps_between_requests_is_reported():
    app, calls = jobsim.App("a"), []

    @app.function("f", on="go", retries=0)
    def f(ctx):
        calls.append(1)
        if len(calls) > 1:  # not deterministic: a step appears before the group on replay
            ctx.step.run("surprise", lambda: 1)
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2)])

    _, run = run_one(app)
    assert run.status == "failed"
    assert "found step 'surprise' while running step 'a' of a parallel group" in str(run.error)


def test_a_step_still_running_when_its_run_is_cancelled_leaves_no_trace_after_the_cancel():
    app, log = jobsim.App("a"), []

    @app.function("f", on="go", cancel_on=[jobsim.Cancel("stop")])
    def f(ctx):
        ctx.step.parallel([lambda: ctx.step.run("slow", work(log, "slow", 600, failures=1))])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.advance("1m")
        sim.send("stop")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "cancelled" and secs(run.end_ns) == 60 and log == [("slow", 0)]
    assert [r.kind for r in sim.trace if r.at > run.end_ns] == []  # its failure at 600 s is ignored


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("mode", ["wait", "race"])
def test_without_durable_steps_a_group_runs_in_order_and_its_waits_checkpoint_one_at_a_time(is_async, mode):
    # regression (found by tests/test_fuzz_combinations.py): on Trigger.dev a group holding a sleep was planned as
    # Inngest plans one, the checkpoint never held its sleeps, and every resume planned them again: the run slept
    # forever (1,054,082 attempts before run_until_idle's 366-day horizon)
    app = jobsim.App("td")
    log = []

    if is_async:
        @app.function("nap", on="go")
        async def nap(ctx):
            return list(await ctx.step.parallel([lambda: ctx.step.sleep("short", "1s"),
                                                 lambda: ctx.step.run("a", work(log, "a", 0)),
                                                 lambda: ctx.step.sleep("long", "60s")], mode=mode))
    else:
        @app.function("nap", on="go")
        def nap(ctx):
            return list(ctx.step.parallel([lambda: ctx.step.sleep("short", "1s"),
                                           lambda: ctx.step.run("a", work(log, "a", 0)),
                                           lambda: ctx.step.sleep("long", "60s")], mode=mode))

    with jobsim.Simulation(app, start=START, profile="trigger.dev") as sim:
        sim.send("go")
        sim.run_until_idle(max_time="1h")  # it looped: BudgetExceeded here
    run = sim.runs()[0]
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", [None, "A", None], 61)
    # one attempt, checkpointed at each sleep (Trigger.dev counts attempts = retries only); the sleeps' step
    # records keep the stretches that led to them
    assert [(a.step, secs(a.start_ns), secs(a.end_ns)) for a in run.attempts] == [(None, 0, 61)]
    assert [(k, [secs(a.start_ns) for a in s.attempts]) for k, s in run.steps.items() if s.kind == "sleep"] == [
        ("short", [0]), ("long", [1])]
    assert log == [("a", 1)]  # a plain call, run once: the checkpoint holds it across the second sleep
    assert sim.trace.of("parallel") == []


def race_then(after, *more):
    """A race-mode group of two instant steps, then ``after`` (and ``more``) in sequence: both steps end at
    0 s, so two continuation requests start at 0 s, one per finished step (as Inngest enqueues them)."""
    app = jobsim.App("race")

    @app.function("fan", on="go", retries=FAST)
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        out = ctx.step.run("after", after)
        for key, body in more:
            out = ctx.step.run(key, body)
        return out

    return run_one(app)


def test_race_mode_runs_a_step_after_the_group_in_each_finished_steps_request():
    # Inngest: a race-mode step's end enqueues its own discovery (job ID per finished step, never coalesced), and
    # the SDK runs the one new step inline in each; a failure retries that request's queue item. So 'after' fails
    # in the first request and runs again at once in the second, which completes the run; the first request's
    # retry (due at 10 s) finds the run over. See README "Parallel steps" and jobsim/_parallel.py.
    log = []
    sim, run = race_then(work(log, "after", 0, failures=1))
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", "AFTER", 0)
    assert log == [("after", 0), ("after", 0)]
    assert [(a.step, a.number, secs(a.start_ns), a.error is None) for a in run.attempts[2:]] == [
        ("after", 0, 0, False), ("after", 0, 0, True), (None, 0, 0, True)]
    assert [(secs(r.at), r.data["attempt"], secs(r.data["at"])) for r in sim.trace.of("retry")] == [(0, 1, 10)]


def test_race_mode_gives_each_request_its_own_retry_chain():
    # each request's queue item retries on its own counter (attempts=3, 10 s apart): 'after' runs twice at 0 s and
    # at 10 s, then the first chain's last attempt fails it for good at 20 s and the second chain's request, due at
    # 20 s too, replays that stored failure and fails the run
    log = []
    _, run = race_then(work(log, "after", 0, failures=9))
    assert log == [("after", 0), ("after", 0), ("after", 10), ("after", 10), ("after", 20)]
    assert [(a.step, a.number, secs(a.start_ns)) for a in run.attempts[2:]] == [
        ("after", 0, 0), ("after", 0, 0), ("after", 1, 10), ("after", 1, 10), ("after", 2, 20), (None, 2, 20)]
    assert (run.status, str(run.error), secs(run.end_ns)) == ("failed", "after failed", 20)


def test_race_mode_requests_that_overlap_see_a_step_only_once_it_ended():
    # 'after' fails at once in the first request (retry at 10 s) and takes 20 s in the second. The retry at 10 s
    # must not see the result that exists only at 20 s: it runs 'after' a third time (10-30 s, attempt 1). The
    # second request's result at 20 s carries the run on ('next' runs once, 20-120 s); the third's, at 30 s, is a
    # duplicate: Inngest keeps the first saved output and dedupes its discovery by job ID.
    calls, log = [], []

    def after():
        calls.append(round(secs(time.time_ns())))
        if len(calls) == 1:
            raise RuntimeError("after failed")
        time.sleep(20)
        return f"call {len(calls)}"

    _, run = race_then(after, ("next", work(log, "next", 100)))
    assert calls == [0, 0, 10] and log == [("next", 20)]
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", "NEXT", 120)
    assert run.steps["after"].output == "call 2" and secs(run.steps["after"].end_ns) == 20
    assert [(a.step, a.number, secs(a.start_ns), secs(a.end_ns)) for a in run.attempts[2:]] == [
        ("after", 0, 0, 0), ("after", 0, 0, 20), ("after", 1, 10, 30), ("next", 0, 20, 120), (None, 0, 120, 120)]


def test_race_mode_a_late_success_after_a_saved_final_failure_keeps_the_failure_and_continues_once_more():
    # attempts=2: the first request fails 'after' at 0 s and for good at 10 s; the handler catches the StepError
    # and runs 'next' (10-110 s). The second request's call of 'after' succeeds only at 20 s: Inngest keeps the saved
    # failure, but the discovery that success enqueues has a job ID the failure's ('<run>-<step>-failure') did not
    # take, so the run is continued once more: 'next' runs again at 20 s, and the first to end (110 s) wins
    calls, log = [], []

    def after():
        calls.append(round(secs(time.time_ns())))
        if len(calls) == 2:
            time.sleep(20)
            return "late"
        raise RuntimeError("after failed")

    app = jobsim.App("race")

    @app.function("fan", on="go", retries=Retries(attempts=2, backoff="constant", min="10s"))
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        with contextlib.suppress(StepError):
            ctx.step.run("after", after)
        return ctx.step.run("next", work(log, "next", 100))

    _, run = run_one(app)
    assert calls == [0, 0, 10] and log == [("next", 10), ("next", 20)]
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", "NEXT", 110)
    assert (run.steps["after"].status, str(run.steps["after"].error)) == ("failed", "after failed")
    assert [(a.number, secs(a.start_ns), secs(a.end_ns), a.error is None) for a in run.steps["after"].attempts] == [
        (0, 0, 0, False), (1, 10, 10, False), (0, 0, 20, True)]


def test_race_mode_retries_are_paired_with_their_failures_whatever_order_they_fit_in():
    # both requests fail 'after' at 0 s; their retries are due 10-20 s later (jitter). The first, at 10.135 s,
    # runs 'after', then 'next', which asks for 2 s (RetryAfterError) three times. The second request's retry,
    # at 12.329 s, meets 'next' as its attempt 1 and completes the run. Paired by the order they failed, the second
    # 'after' failure took the attempt at 12.135 s (it fits 10-20 s) and left 'next' attempt 0 the one at 12.329 s,
    # 2.194 s after it failed: retries_respect_policy reported a delay the run never had. Found by
    # test_fuzz_combinations (profile inngest, seed 1).
    app, calls = jobsim.App("race"), []

    def after():
        calls.append("after")
        if calls.count("after") <= 2:
            raise RuntimeError("after failed")
        return "after"

    def next_():
        calls.append("next")
        if calls.count("next") <= 3:
            raise RetryAfterError("2s", "busy")
        return "done"

    @app.function("fan", on="go", retries=Retries(attempts=5, backoff="constant", min="10s", jitter="10s"))
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        ctx.step.run("after", after)
        return ctx.step.run("next", next_)

    sim, run = run_one(app, seed=0)
    assert [(a.step, a.number, round(secs(a.start_ns), 3)) for a in run.attempts[2:]] == [
        ("after", 0, 0), ("after", 0, 0), ("after", 1, 10.135), ("next", 0, 10.135), ("next", 1, 12.135),
        ("next", 1, 12.329), ("next", 2, 14.135), (None, 0, 14.135)]
    assert (run.status, run.output) == ("completed", "done")
    invariants.retries_respect_policy(sim)
    # and a retry that really came late is still reported
    on_time = run.attempts[6]  # 'next' attempt 1 at 12.135 s, 2 s after attempt 0 failed
    run.attempts[6] = Attempt(1, "next", on_time.start_ns + SECOND, on_time.end_ns + SECOND, on_time.error)
    late = r"step 'next' attempt 1 started 2s999ms\d+ns after attempt 0 failed"
    with pytest.raises(invariants.Violation, match=late):
        invariants.retries_respect_policy(sim)


@pytest.mark.parametrize("kind", ["sleep", "wait", "invoke"])
def test_race_mode_requests_that_meet_one_sleep_wait_or_invoke_arm_it_once(kind):
    # both requests reach the same step: Inngest dedupes the sleep's queue item and the wait's/invoke's pause by
    # IDs made from the run and the step (handleGeneratorSleep / WaitForEvent / InvokeFunction), so there is one
    # timer, one waiter, one child run; 'last' runs once when it ends and retries 10 s later on its own counter
    app, log = jobsim.App("race"), []

    @app.function("child", on="never/sent")
    def child(ctx):
        log.append(("child", round(secs(time.time_ns()))))
        time.sleep(30)
        return 1

    @app.function("fan", on="go", retries=FAST)
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        if kind == "sleep":
            ctx.step.sleep("pause", "1m")
        elif kind == "wait":
            ctx.step.wait_for_event("pause", event="never", timeout="1m")
        else:
            ctx.step.invoke("pause", function="child", data={})
        return ctx.step.run("last", work(log, "last", 0, failures=1))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        assert sim.kernel.idle and list(sim.engine.waiters["never"]) == []
    run = sim.runs("fan")[0]
    resumed = 30 if kind == "invoke" else 60
    assert log == ([("child", 0)] if kind == "invoke" else []) + [("last", resumed), ("last", resumed + 10)]
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", "LAST", resumed + 10)
    assert len(sim.runs()) == (2 if kind == "invoke" else 1)
    assert [(a.number, secs(a.start_ns)) for a in run.steps["pause"].attempts] == [(0, 0), (0, 0)]


@pytest.mark.parametrize("is_async", [False, True])
def test_a_retry_of_one_step_is_not_failed_by_a_sibling_that_already_failed_for_good(is_async):
    # regression (found by tests/test_fuzz_combinations.py): the retry of 'b' replayed the group, met 'a''s stored
    # failure as a StepError and failed the run from b's request; b was left "retrying" and run_until_idle raised
    # BudgetExceeded with 0 items pending
    app = jobsim.App("fan")
    log = []
    retries = Retries(attempts=2, backoff="constant", min="10s")

    if is_async:
        @app.function("fan", on="go", retries=retries)
        async def fan(ctx):
            return await ctx.step.parallel([lambda: ctx.step.run("a", work(log, "a", 0, failures=2)),
                                            lambda: ctx.step.run("b", work(log, "b", 5, failures=1))])
    else:
        @app.function("fan", on="go", retries=retries)
        def fan(ctx):
            return ctx.step.parallel([lambda: ctx.step.run("a", work(log, "a", 0, failures=2)),
                                      lambda: ctx.step.run("b", work(log, "b", 5, failures=1))])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle(max_time="1h")
    run = sim.runs()[0]
    assert (run.status, str(run.error), secs(run.end_ns)) == ("failed", "a failed", 20)
    assert (run.steps["a"].status, run.steps["b"].status) == ("failed", "completed")
    assert log == [("a", 0), ("b", 0), ("a", 10), ("b", 15)]  # b: 5 s, then 10 s backoff; the run ends with b


def test_a_run_cancelled_with_a_fired_sleep_in_its_group_leaves_the_simulation_idle():
    # found by tests/test_fuzz_combinations.py: the timeout cancelled the run and its group dropped the
    # sleep timer that had already fired; run_until_idle then ran on to the next cron tick and stopped
    # there with that run left 'queued'
    app = jobsim.App("a")

    @app.function("f", on="go", cron="*/20 * * * *", timeout="30s")
    def f(ctx):
        ctx.step.parallel([lambda: ctx.step.sleep("short", "1s"), lambda: ctx.step.sleep("long", "60s")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        assert sim.now == dt.datetime(2025, 3, 1, 0, 0, 30, tzinfo=dt.timezone.utc)
        assert [run.status for run in sim.runs("f")] == ["cancelled"]
        sim.advance("20m")
        sim.run_until_idle()
        assert [run.status for run in sim.runs("f")] == ["cancelled", "cancelled"]


def test_an_async_callable_in_a_sync_handler_s_group_fails_the_attempt_and_is_closed():
    # its coroutine was the group's output, never run; the run failed later (unserializable output) and
    # Python warned "coroutine 'charge' was never awaited" in whichever test collected it
    import gc
    import warnings

    app = jobsim.App("t")

    async def charge():
        return 1

    @app.function("f", on="go", retries=Retries(attempts=2, backoff="constant", min="10s"))
    def f(ctx):
        return ctx.step.parallel([lambda: ctx.step.run("a", lambda: 1), charge])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jobsim.Simulation(app, start=START) as sim:
            sim.send("go")
            sim.run_until_idle()
        [run] = sim.runs("f")
        del sim
        gc.collect()
    message = (
        "step.parallel: the callable test_an_async_callable_in_a_sync_handler_s_group_fails_the_attempt_and_is_closed"
        ".<locals>.charge returned a coroutine, which a sync handler cannot await, so it would never run; use an "
        "`async def` handler and `await ctx.step.parallel(...)`"
    )
    assert run.status == "failed"  # at once: a retry would fail the same way (a StepMisuse, not retried)
    assert [(a.number, a.step, secs(a.start_ns), str(a.error)) for a in run.attempts] == [(0, None, 0, message)]
    assert type(run.error) is jobsim.StepMisuse
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
