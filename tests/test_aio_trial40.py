"""Async handlers that await steps through asyncio's structures (user trial S): an ``asyncio.TaskGroup`` around a
step crashed the simulation with jobsim's internal ``Suspend`` in a ``BaseExceptionGroup``; ``asyncio.wait_for``
or ``asyncio.timeout`` around a step made the timeout a retried step failure (``CancelledError()``), so the
handler's ``except TimeoutError`` never ran."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

import jobsim

START = "2025-03-01T00:00:00Z"
needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup and asyncio.timeout: 3.11+")


@needs_311
def test_one_step_in_a_task_group_works_and_two_are_refused_as_steps_awaited_together():
    app = jobsim.App("tg")

    @app.function("one", on="go", retries=0)
    async def one(ctx):
        async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
            task = group.create_task(ctx.step.run("a", lambda: 1))
        return task.result() + await ctx.step.run("b", lambda: 2)

    @app.function("two", on="go", retries=0)
    async def two(ctx):
        async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
            group.create_task(ctx.step.run("a", lambda: 1))
            group.create_task(ctx.step.run("b", lambda: 2))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (one_run,), (two_run,) = sim.runs("one"), sim.runs("two")
    assert (one_run.status, one_run.output, list(one_run.steps)) == ("completed", 3, ["a", "b"])
    assert two_run.status == "failed" and isinstance(two_run.error, jobsim.StepMisuse)
    assert "step 'b' of function 'two' was called after step 'a' ended the request" in str(two_run.error)


def _payments_app(wrap: str) -> jobsim.App:
    app = jobsim.App("pay")

    async def charge():
        async with httpx.AsyncClient() as client:
            return (await client.post("https://payments.example.com/charges")).json()

    @app.function("pay", on="go", retries=jobsim.Retries(attempts=2, backoff="constant", min="1s"))
    async def pay(ctx):
        try:
            if wrap == "wait_for":
                return await asyncio.wait_for(ctx.step.run("charge", charge), timeout=5)
            async with asyncio.timeout(5):  # type: ignore[attr-defined]
                return await ctx.step.run("charge", charge)
        except asyncio.TimeoutError:  # TimeoutError itself from 3.11 on
            return "gave up"

    return app


@needs_311  # Task.cancelling tells a timeout's cancellation from one the step's code raised
@pytest.mark.parametrize("wrap", ["wait_for", "timeout"])
def test_a_timeout_around_a_step_is_the_handlers_timeout_error_not_a_step_failure(wrap):
    with jobsim.Simulation(_payments_app(wrap), start=START) as sim:
        sim.http.post("https://payments.example.com/charges").mock(
            side_effect=lambda request: jobsim.delayed("10s", 200, json={"id": "ch_1"})
        )
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("pay")
    assert (run.status, run.output, list(run.steps)) == ("completed", "gave up", [])
    assert [(a.step, a.error) for a in run.attempts] == [(None, None)]  # one attempt: no retried step
    assert (run.finished_at - run.started_at).total_seconds() == 5


def test_a_cancelled_error_the_steps_own_code_raises_still_fails_the_step():
    app = jobsim.App("own")

    async def inner():
        task = asyncio.ensure_future(asyncio.sleep(60))
        task.cancel()
        await task  # its own awaited task was cancelled: the step's error, not the handler's timeout

    @app.function("f", on="go", retries=0)
    async def f(ctx):
        try:
            await ctx.step.run("s", inner)
        except jobsim.StepError as error:
            return type(error.error).__name__

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("f")
    assert (run.status, run.output, run.steps["s"].status) == ("completed", "CancelledError", "failed")


def test_a_lone_step_in_a_gather_with_return_exceptions_is_a_step():
    """The gather returned jobsim's internal Suspend as the step's result, and the run failed on it."""
    app = jobsim.App("g")

    @app.function("f", on="go", retries=0)
    async def f(ctx):
        return await asyncio.gather(ctx.step.run("a", lambda: 1), return_exceptions=True)

    @app.function("g", on="go", retries=0)
    async def g(ctx):
        results = await asyncio.gather(ctx.step.run("charge", lambda: "ok"), return_exceptions=True)
        if not any(isinstance(r, Exception) for r in results):  # jobsim's Suspend is none
            await ctx.step.run("receipt", lambda: "sent")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,), (other,) = sim.runs("f"), sim.runs("g")
    assert (run.status, run.output, list(run.steps)) == ("completed", [1], ["a"])
    # the gather caught the step's end, so the next step came after it in the same request
    assert other.status == "failed"
    assert "'receipt' of function 'g' was called after step 'charge' ended the request" in str(other.error)


def test_a_step_given_a_called_function_or_a_coroutine_returning_lambda_says_so():
    app = jobsim.App("m")

    async def charge(order):
        return order

    @app.function("called", on="go", retries=0)
    async def called(ctx):
        return await ctx.step.run("charge", charge(1))

    @app.function("lambda", on="go", retries=0)
    def via_lambda(ctx):
        return ctx.step.run("charge", lambda: charge(1))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (first,), (second,) = sim.runs("called"), sim.runs("lambda")
    assert "charge(...) was called here" in str(first.error)
    assert "ctx.step.run(step_id, charge, *args)" in str(first.error)
    assert "<lambda> returned a coroutine (" in str(second.error)
    assert "charge(...), which never ran" in str(second.error)
