"""Where inngest-py's own test helper, ``inngest.experimental.mocked``, gives the wrong answer.

``mocked.trigger`` re-runs the function in a loop with one attempt counter for the
whole run (``trigger.py``: ``attempt += 1`` on any error, ``FAILED`` once it reaches
``retries``), retries at once, and resolves sleeps immediately. Inngest gives every
step its own counter (each step is a queue item created with ``Attempt: 0``:
``pkg/execution/executor/executor.go``), waits the backoff table between attempts,
and sleeps for real. jobsim reproduces Inngest; these tests run the same functions
through both and pin the difference.
"""

from __future__ import annotations

import datetime as dt
import random

import inngest
from inngest.experimental import mocked
from inngest_support import Flaky, secs, simulate

from jobsim._time import MS, SECOND


def go():
    return inngest.TriggerEvent(event="go")


def test_mocked_shares_one_attempt_counter_across_steps_and_fails_a_run_inngest_completes():
    client = mocked.Inngest(app_id="shop", is_production=False)
    counters: dict[str, list[int]] = {}

    @client.create_function(fn_id="two-steps", trigger=go())  # default: 4 retries, 5 attempts
    def two_steps(ctx: inngest.ContextSync) -> str:
        def flaky(name):
            counters.setdefault(name, []).append(ctx.attempt)
            if len(counters[name]) <= 3:
                raise RuntimeError(f"{name} failed")
            return name

        return ctx.step.run("a", flaky, "a") + ctx.step.run("b", flaky, "b")

    result = mocked.trigger(two_steps, inngest.Event(name="go"), client)
    assert result.status is mocked.Status.FAILED  # wrong: each step failed only 3 times of 5 allowed
    assert counters == {"a": [0, 1, 2, 3], "b": [3, 4]}  # b started on a's counter

    counters.clear()
    with simulate(two_steps, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-two-steps")[0]
    assert run.status == "completed" and run.output == "ab"  # right: 4 attempts each, within budget
    assert counters == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]}


def test_mocked_retries_at_once_jobsim_waits_the_backoff_table():
    client = mocked.Inngest(app_id="shop", is_production=False)
    flaky = Flaky(2)
    wall: list[dt.datetime] = []

    @client.create_function(fn_id="push", trigger=go())
    def push(ctx: inngest.ContextSync) -> str:
        wall.append(dt.datetime.now(dt.timezone.utc))
        return ctx.step.run("push", flaky)

    assert mocked.trigger(push, inngest.Event(name="go"), client).status is mocked.Status.COMPLETED
    assert (wall[-1] - wall[0]) < dt.timedelta(seconds=5)  # wrong: three attempts, no backoff at all

    flaky.calls.clear()
    with simulate(push, client, seed=11) as sim:
        sim.send("go")
        sim.run_until_idle()
    rng = random.Random("jobsim:11:shop-push")  # the function's own stream of seed 11 (Simulation.rng_for)
    first = (15 * SECOND + rng.randrange(30_000) * MS) / SECOND
    second = (30 * SECOND + rng.randrange(30_000) * MS) / SECOND
    assert flaky.calls == [0, first, round(first + second, 3)]  # right: 15 s, then 30 s, + U[0, 30 s)
    assert 45 <= flaky.calls[-1] < 105


def test_mocked_resolves_sleeps_at_once_jobsim_sleeps_in_virtual_time():
    client = mocked.Inngest(app_id="shop", is_production=False)

    @client.create_function(fn_id="trial", trigger=go())
    def trial(ctx: inngest.ContextSync) -> str:
        started = ctx.step.run("start", lambda: dt.datetime.now(dt.timezone.utc).isoformat())
        ctx.step.sleep("trial-period", dt.timedelta(days=14))
        ended = ctx.step.run("end", lambda: dt.datetime.now(dt.timezone.utc).isoformat())
        return str(dt.datetime.fromisoformat(ended) - dt.datetime.fromisoformat(started))

    mocked_gap = mocked.trigger(trial, inngest.Event(name="go"), client).output
    assert mocked_gap.startswith("0:00:00")  # wrong: the 14-day trial took no time

    with simulate(trial, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-trial")[0]
    assert run.output == "14 days, 0:00:00" and secs(run.end_ns) == 14 * 86400  # right


def test_mocked_retries_a_retry_after_error_at_once_jobsim_at_the_requested_time():
    client = mocked.Inngest(app_id="shop", is_production=False)
    flaky = Flaky(1, error=lambda message: inngest.RetryAfterError(message, dt.timedelta(minutes=10)))

    @client.create_function(fn_id="api", trigger=go())
    def api(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("call", flaky)

    assert mocked.trigger(api, inngest.Event(name="go"), client).status is mocked.Status.COMPLETED
    flaky.calls.clear()
    with simulate(api, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert flaky.calls == [0, 600]
