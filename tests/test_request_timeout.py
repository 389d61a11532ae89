"""Inngest's 2 h cap on one request (``consts.MaxFunctionTimeout``; ``jobsim/_reqtimeout.py``): a request whose
code spends longer fails at its start + 2 h, retried; its code runs on, and what it returned is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

import jobsim
from jobsim._time import HOUR, MINUTE, SECOND, instant_ns
from jobsim._timeline import BUILTIN_KINDS, render_trace

START = "2026-03-01T12:00:00Z"
T0 = instant_ns(START)


def to_ns(moment: Any) -> int:
    return instant_ns(moment)
INNGEST_TEXT = 'error performing request: Post "<serve URL>": context deadline exceeded'


def _sim(spend: Any, attempts: int = 3, profile: Any = "inngest", body: bool = False) -> tuple[jobsim.Simulation,
                                                                                                list[int]]:
    """A function whose step (or, with ``body``, the code before its step) sleeps ``spend(attempt)`` seconds."""
    app = jobsim.App("t")
    calls: list[int] = []

    @app.function("slow", on="go", retries=jobsim.Retries(attempts=attempts))
    def slow(ctx: Any) -> Any:
        def work() -> str:
            calls.append(ctx.attempt)
            time.sleep(spend(ctx.attempt))
            return f"worked on attempt {ctx.attempt}"

        if body:
            time.sleep(spend(ctx.attempt))
            calls.append(ctx.attempt)
            return "returned"
        try:
            return ctx.step.run("work", work)
        except jobsim.StepError:  # never: Inngest fails the run, it hands the handler no step error for a timeout
            return "caught"

    sim = jobsim.Simulation(app, start=START, seed=7, profile=profile)
    with sim:
        sim.send("go", {})
        sim.run_until_idle()
    return sim, calls


def test_a_step_that_sleeps_3h_fails_its_attempt_at_2h_with_inngests_error_and_is_retried() -> None:
    sim, calls = _sim(lambda attempt: 3 * HOUR // SECOND if attempt == 0 else 60)
    (run,) = sim.runs("slow")
    assert run.status == "completed" and run.output == "worked on attempt 1"
    first, second, _returned = run.attempts
    assert isinstance(first.error, jobsim.RequestTimedOut) and not isinstance(first.error, jobsim.NonRetriableError)
    assert str(first.error).startswith(INNGEST_TEXT + " (Inngest stops waiting for a request after 2h; step 'work' "
                                       "ran 3h, to 2026-03-01T15:00:00.000Z")
    assert (first.error.step, first.error.limit_ns, first.error.spent_ns) == ("work", 2 * HOUR, 3 * HOUR)
    assert first.step == "work" and to_ns(first.started_at) == T0 and to_ns(first.finished_at) == T0 + 2 * HOUR
    # retried from the 2 h instant with Inngest's table (15 s + U[0, 30 s)), while the first code still runs
    assert T0 + 2 * HOUR + 15 * SECOND <= to_ns(second.started_at) < T0 + 2 * HOUR + 45 * SECOND
    assert second.error is None and calls == [0, 1]  # the step's code ran twice: its output was not memoized
    (record,) = sim.trace.of("request.timeout")
    assert record.at == T0 + 2 * HOUR
    assert record.data == {"function": "slow", "run": run.id, "step": "work", "attempt": 0, "limit": 2 * HOUR,
                           "until": T0 + 3 * HOUR, "dropped": "done"}  # fmt: skip
    assert "timeout   slow#1 step 'work' attempt 0: no answer after 2h" in sim.timeline()


def test_a_step_of_1h59m_completes_and_one_of_exactly_2h_too() -> None:
    for seconds in (HOUR * 2 - MINUTE, 2 * HOUR):
        sim, calls = _sim(lambda attempt, s=seconds: s // SECOND)
        (run,) = sim.runs("slow")
        assert run.status == "completed" and [a.error for a in run.attempts] == [None, None] and calls == [0]
        assert not sim.trace.of("request.timeout")


def test_when_the_retries_are_used_up_the_run_fails_with_it_and_the_handler_never_sees_a_step_error() -> None:
    sim, calls = _sim(lambda attempt: 3 * HOUR // SECOND, attempts=2)
    (run,) = sim.runs("slow")
    assert run.status == "failed" and isinstance(run.error, jobsim.RequestTimedOut) and calls == [0, 1]
    assert run.steps["work"].status == "failed" and run.steps["work"].error is run.error
    assert to_ns(run.finished_at) == to_ns(run.attempts[1].started_at) + 2 * HOUR
    assert [r.data["attempt"] for r in sim.trace.of("request.timeout")] == [0, 1]


def test_code_outside_steps_past_the_cap_loses_its_return_value_and_the_body_is_retried() -> None:
    sim, calls = _sim(lambda attempt: 3 * HOUR // SECOND if attempt == 0 else 1, body=True)
    (run,) = sim.runs("slow")
    assert run.status == "completed" and run.output == "returned" and calls == [0, 1]
    assert run.attempts[0].step is None and run.attempts[0].error.step is None  # type: ignore[union-attr]
    assert sim.trace.of("request.timeout")[0].data["dropped"] == "returned"


def test_side_effects_stand_and_send_event_is_not_memoized() -> None:
    app = jobsim.App("t")

    @app.function("notify", on="go", retries=2)
    def notify(ctx: Any) -> Any:
        if ctx.attempt == 0:
            time.sleep(3 * 60 * 60)  # code outside steps, then a new step: one request
        return ctx.step.send_event("announce", {"name": "announced", "data": {}})

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sim.send("go", {})
        sim.run_until_idle()
    (run,) = sim.runs("notify")
    assert run.status == "completed"
    sent = [e for e in sim.events if e.name == "announced"]
    assert len(sent) == 2  # the timed-out request sent it (at its code's end), and its retry sent it again
    assert run.output == {"ids": [sent[1].id]}
    assert run.attempts[0].step == "announce" and isinstance(run.attempts[0].error, jobsim.RequestTimedOut)
    assert sent[0].ts == (T0 + 3 * HOUR) // 1_000_000  # sent as its code ended, past the cap


def test_an_async_handler_times_out_the_same_way() -> None:
    app = jobsim.App("t")

    @app.function("slow", on="go", retries=2)
    async def slow(ctx: Any) -> Any:
        async def work() -> int:
            await asyncio.sleep(3 * 3600 if ctx.attempt == 0 else 0)
            return ctx.attempt

        return await ctx.step.run("work", work)

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sim.send("go", {})
        sim.run_until_idle()
    (run,) = sim.runs("slow")
    assert run.output == 1 and isinstance(run.attempts[0].error, jobsim.RequestTimedOut)


def test_the_cap_is_a_profile_field_that_users_set() -> None:
    inngest = jobsim.profile("inngest")
    assert inngest.request_timeout_ns == 2 * HOUR
    assert all(jobsim.profile(name).request_timeout_ns is None for name in ("bullmq", "trigger.dev", "agenda"))
    half = jobsim.profile("inngest", request_timeout="30m")
    assert half.name == "inngest(request_timeout=30m)" and half.request_timeout_ns == 30 * MINUTE
    assert jobsim.profile("inngest", request_timeout="2h") is inngest
    sim, _ = _sim(lambda attempt: 31 * 60, attempts=1, profile=half)
    assert sim.runs("slow")[0].status == "failed" and "after 30m" in str(sim.runs("slow")[0].error)
    sim, _ = _sim(lambda attempt: 31 * 60, attempts=1, profile="inngest(request_timeout=1h)")
    assert sim.runs("slow")[0].status == "completed"
    for unlimited in (jobsim.profile("inngest", request_timeout=None), "inngest(request_timeout=none)"):
        sim, _ = _sim(lambda attempt: 30 * HOUR // SECOND, attempts=1, profile=unlimited)
        assert sim.runs("slow")[0].status == "completed"
    assert dataclasses.replace(inngest, request_timeout_ns=HOUR).request_timeout_ns == HOUR


@pytest.mark.parametrize("value", ["soon", 0, -5, "0s", True, [1]])
def test_a_bad_request_timeout_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(jobsim.InvalidArgument, match=r"request_timeout=.* is not valid: a duration such as '30m'"):
        jobsim.profile("inngest", request_timeout=value)


def test_bad_profile_fields_and_options_are_refused() -> None:
    with pytest.raises(jobsim.InvalidArgument, match="profile 'inngest' has no option 'request_timout'; it takes "
                                                     "request_timeout"):
        jobsim.profile("inngest", request_timout="1h")
    base = jobsim.profile("bullmq")
    with pytest.raises(jobsim.InvalidArgument, match=r"request_timeout_ns='1h' is not valid: Profile.request_"
                                                     r"timeout_ns must be an int >= 1 of nanoseconds, or None"):
        dataclasses.replace(jobsim.profile("inngest"), request_timeout_ns="1h")
    with pytest.raises(jobsim.InvalidArgument, match=r"request_timeout_ns=3600000000000 is not valid: Profile"
                                                     r".request_timeout_ns must be None on a profile without "
                                                     r"durable steps .*max_duration_ns"):
        dataclasses.replace(base, request_timeout_ns=HOUR)


def test_the_trace_round_trips_the_timeout(tmp_path: Path) -> None:
    sim, _ = _sim(lambda attempt: 3 * HOUR // SECOND, attempts=2)
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    loaded = jobsim.Trace.load(path)
    kinds = ("request.timeout", "attempt", "retry", "run.end")
    assert [(r.at, r.kind, r.data) for r in loaded.of(*kinds)] == [(r.at, r.kind, r.data) for r in sim.trace.of(*kinds)]
    (failed,) = [r for r in loaded.of("attempt") if r.data.get("error")][:1]
    assert failed.data["error"].startswith("RequestTimedOut: " + INNGEST_TEXT)
    shown = render_trace(loaded, dt.timezone.utc, seed=7, profile="inngest", kinds=BUILTIN_KINDS)
    assert "no answer after 2h, the request is failed" in shown and "the step's output is dropped" in shown
    again, _ = _sim(lambda attempt: 3 * HOUR // SECOND, attempts=2)  # deterministic: the same trace again
    assert [(r.at, r.kind, r.data) for r in again.trace] == [(r.at, r.kind, r.data) for r in sim.trace]


def test_a_timed_out_request_gives_its_concurrency_slot_back_at_the_cap() -> None:
    # Inngest requeues the request's queue item when it gives up on it: the slot is free at +2 h, not when
    # the abandoned code ends at +3 h
    app = jobsim.App("t")

    @app.function("one-at-a-time", on="go", retries=0, concurrency=jobsim.Concurrency(limit=1))
    def one(ctx: Any) -> None:
        ctx.step.run("work", lambda: time.sleep(3 * 3600 if ctx.event.data["slow"] else 1))

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sim.send("go", {"slow": True})
        sim.send("go", {"slow": False})
        sim.run_until_idle()
    slow, quick = sim.runs("one-at-a-time")
    assert slow.status == "failed" and to_ns(slow.finished_at) == T0 + 2 * HOUR
    assert quick.status == "completed" and to_ns(quick.attempts[0].started_at) == T0 + 2 * HOUR


@pytest.mark.parametrize("mode", ["wait", "race"])
def test_a_parallel_step_past_the_cap_is_retried_on_its_own_request(mode: str) -> None:
    app = jobsim.App("t")

    @app.function("par", on="go", retries=1)
    def par(ctx: Any) -> Any:
        def slow() -> str:
            time.sleep(3 * 3600 if ctx.attempt == 0 else 5)
            return "slow"

        return ctx.step.parallel([lambda: ctx.step.run("a", slow), lambda: ctx.step.run("b", lambda: "quick")],
                                 mode=mode)

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sim.send("go", {})
        sim.run_until_idle()
    (run,) = sim.runs("par")
    assert run.status == "completed" and run.output == ["slow", "quick"]
    timed_out = [a for a in run.attempts if a.error is not None]
    assert [(a.step, a.number, to_ns(a.finished_at)) for a in timed_out] == [("a", 0, T0 + 2 * HOUR)]
    assert isinstance(timed_out[0].error, jobsim.RequestTimedOut)


def test_a_loop_that_never_returns_is_said_to_be_stopped_by_the_budget_not_to_have_returned(tmp_path: Path) -> None:
    """``while not ready(): time.sleep(1)`` on the default profile: the request timed out at 2 h and jobsim's budget
    stopped the code 250,000 sleeps in; the error said "what it returned is lost" and named no BudgetExceeded."""
    app = jobsim.App("loop")

    @app.function("poll", on="go", retries=0)
    def poll(ctx: Any) -> None:
        while True:
            time.sleep(1)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = sim.runs("poll")[0].error
    assert isinstance(error, jobsim.errors.RequestTimedOut)
    assert isinstance(error.__cause__, jobsim.errors.BudgetExceeded)
    assert "what it returned is lost" not in str(error)
    assert "where jobsim stopped it, since it never returned" in str(error) and "Bound the loop" in str(error)
    line = next(line for line in sim.timeline().splitlines() if "timeout   poll#1" in line)
    assert line.endswith("where jobsim's budget stops it (BudgetExceeded: it never returned, a loop that never ends?)")
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    shown = render_trace(jobsim.Trace.load(path), dt.timezone.utc, seed=0, profile="inngest", kinds=BUILTIN_KINDS)
    assert shown.count("where jobsim's budget stops it") == 1
