"""Steps on systems without durable steps: plain calls, checkpoints at waits (Trigger.dev), retries from the top."""

import pytest

import jobsim
from jobsim._time import iso


def trigger_app(log):
    app = jobsim.App("t")

    @app.function("child", on="child/go")
    def child(ctx):
        log.append(("child", ctx.event.data["n"]))
        return {"n": ctx.event.data["n"] * 2}

    @app.function("task", on="go", retries=jobsim.Retries(2))
    def task(ctx):
        first = ctx.step.run("a", lambda: log.append(("a", ctx.attempt)) or ctx.attempt)
        ctx.step.sleep("nap", "1h")
        got = ctx.step.invoke("kid", function="child", data={"n": 21})

        def b():
            log.append(("b", ctx.attempt, got["n"]))
            if ctx.attempt == 0:
                raise RuntimeError("b fails once")

        ctx.step.run("b", b)
        return first

    return app


def test_trigger_dev_resumes_where_it_paused_and_a_retry_starts_over():
    log = []
    with jobsim.Simulation(trigger_app(log), profile="trigger.dev", seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("task")[0]
    # 'a' ran once per attempt (not again after the sleep or the invoke); the retry ran everything again
    assert log == [("a", 0), ("child", 21), ("b", 0, 42), ("a", 1), ("child", 21), ("b", 1, 42)]
    assert run.status == "completed" and run.output == 1
    # one Attempt per attempt (Trigger.dev: attempts = retries only), each from its process's start to its end:
    # the sleep and the invoke checkpointed attempt 0 and the restored process went on with it; the retry
    # came 1 s x U[1, 2) after the failure at 01:00:00
    assert [(a.number, a.step, iso(a.start_ns)[11:23], iso(a.end_ns)[11:23]) for a in run.attempts] == [
        (0, "b", "00:00:00.000", "01:00:00.000"), (1, None, "01:00:01.573", "02:00:01.573"),
    ]  # fmt: skip
    assert run.retries == 1 and [a.number for a in run.steps["nap"].attempts] == [0, 1]  # each attempt slept


def test_inngest_memoizes_the_same_handler():
    log = []
    with jobsim.Simulation(trigger_app(log), profile="inngest", seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert log == [("a", 0), ("child", 21), ("b", 0, 42), ("b", 1, 42)]


def test_a_step_value_is_the_object_itself_not_a_json_copy():
    app = jobsim.App("o")
    seen = []

    @app.function("f", on="go")
    def f(ctx):
        value = ctx.step.run("make", lambda: {1, 2})  # a set: no JSON, no problem without a store
        seen.append(value)

    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.send("go")
        sim.advance(0)
    assert seen == [{1, 2}] and sim.runs("f")[0].status == "completed"
    assert sim.runs("f")[0].steps["make"].output is None  # nothing was stored


def test_sim_fail_makes_the_step_call_raise_and_the_handler_sees_it():
    app = jobsim.App("x")
    caught = []

    @app.function("f", on="go")
    def f(ctx):
        try:
            ctx.step.run("send", lambda: "sent")
        except jobsim.InjectedFault as exc:
            caught.append(str(exc))
            return "handled"
        return "sent"

    with jobsim.Simulation(app, profile="agenda") as sim:
        sim.fail("f", step="send")
        sim.send("go")
        sim.advance(0)
        sim.send("go")
        sim.advance(0)
    assert caught == ["injected by sim.fail() into step 'send' of 'f'"]
    assert [r.output for r in sim.runs("f")] == ["handled", "sent"]


def test_send_event_on_a_plain_call_system_sends_again_on_a_retry():
    app = jobsim.App("e")

    @app.function("f", on="go", retries=jobsim.Retries(2))
    def f(ctx):
        ctx.step.send_event("notify", {"name": "notified", "data": {"attempt": ctx.attempt}})
        if ctx.attempt == 0:
            raise RuntimeError("after sending")

    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [e.data["attempt"] for e in sim.events if e.name == "notified"] == [0, 1]


def test_an_async_handler_on_a_plain_call_system():
    app = jobsim.App("a")

    @app.function("f", on="go", retries=jobsim.Retries(2))
    async def f(ctx):
        async def work():
            if ctx.attempt == 0:
                raise RuntimeError("once")
            return "ok"

        return await ctx.step.run("work", work)

    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "completed" and run.output == "ok" and [a.step for a in run.attempts] == ["work", None]


def test_an_async_step_in_a_sync_handler_is_an_error_everywhere():
    app = jobsim.App("s")

    async def work():
        return 1

    app.function("f", on="go")(lambda ctx: ctx.step.run("w", work))
    with jobsim.Simulation(app, profile="bullmq") as sim:
        sim.send("go")
        sim.advance(0)
    assert "is async; use an `async def` handler" in str(sim.runs("f")[0].error)


@pytest.mark.parametrize("profile", ["bullmq", "quirrel", "agenda"])
def test_a_handler_runs_once_per_attempt(profile):
    app = jobsim.App("c")
    calls = []

    @app.function("f", on="go")
    def f(ctx):
        calls.append(ctx.attempt)
        for name in ("a", "b", "c"):
            ctx.step.run(name, lambda: None)

    with jobsim.Simulation(app, profile=profile) as sim:
        sim.send("go")
        sim.advance(0)
    assert calls == [0]  # Inngest would run it 4 times (one request per step, plus the last)
