"""ctx.step.race: Promise.race over steps in Inngest's race mode: the run goes on when the first callable ends."""


import jobsim
from jobsim import InvalidArgument, StepError, StepMisuse
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def at(ns):
    """Seconds after START."""
    return (ns - T0) // SECOND


def approval_app(after="0s"):
    app, seen = jobsim.App("docs"), []

    @app.function("approve", on="doc/submitted")
    def approve(ctx):
        approval = ctx.step.race([
            lambda: ctx.step.wait_for_event("approval", event="doc/approved", timeout="1h"),
            lambda: ctx.step.sleep("deadline", "10m"),
        ])  # fmt: skip
        seen.append(approval and approval.data["by"])
        if after != "0s":
            ctx.step.sleep("after", after)
        return ctx.step.run("decide", lambda: "approved" if approval else "escalated")

    return app, seen


def test_the_run_goes_on_when_the_first_ends_not_the_last():
    """The approval at 1 min wins over the 10 min deadline: `decide` runs at 1 min (parallel(mode='race') waited
    for the deadline, as it returns every output)."""
    app, seen = approval_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc/submitted")
        sim.advance("1m")
        sim.send("doc/approved", {"by": "ada"})
        sim.run_until_idle()
    run = sim.runs("approve")[0]
    assert (run.status, run.output, at(run.end_ns)) == ("completed", "approved", 60)
    assert at(run.steps["decide"].attempts[0].start_ns) == 60 and set(seen) == {"ada"}  # code outside steps repeats
    assert run.steps["deadline"].status == "sleeping"  # disarmed when the run ended: its timer never fires
    assert sim.kernel.idle and [at(r.at) for r in sim.trace if r.kind == "run.end"] == [60]


def test_the_deadline_wins_when_nothing_comes_and_the_wait_is_disarmed_with_the_run():
    app, seen = approval_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc/submitted")
        sim.run_until_idle()
        sim.advance("2h")
        sim.send("doc/approved", {"by": "late"})  # after the run: resumes nothing
        sim.run_until_idle()
    run = sim.runs("approve")[0]
    assert (run.output, at(run.end_ns), set(seen)) == ("escalated", 600, {None})
    assert run.steps["approval"].status == "waiting" and not sim.trace.of("wait.end")


def test_the_winner_stays_the_winner_when_a_loser_ends_later():
    """The wait times out at 1 h while the run sleeps after the race: that ends a step of the group, so a request
    replays the handler, and the race gives the deadline's output again (not the wait's None, chosen anew)."""
    app, seen = approval_app(after="2h")
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc/submitted")
        sim.run_until_idle()
    run = sim.runs("approve")[0]
    assert (run.output, at(run.end_ns)) == ("escalated", 600 + 7200)
    assert run.steps["approval"].status == "completed" and len(seen) >= 3 and set(seen) == {None}
    assert [at(a.start_ns) for a in run.steps["decide"].attempts] == [7800]


def test_at_one_instant_the_earlier_in_the_list_wins_on_every_request():
    app, seen = jobsim.App("a"), []

    @app.function("tie", on="go")
    def tie(ctx):
        winner = ctx.step.race([lambda: ctx.step.sleep("b", "1m") or "b", lambda: ctx.step.sleep("a", "1m") or "a"])
        seen.append(winner)
        ctx.step.sleep("later", "1h")
        return winner

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("tie")[0].output == "b" and len(seen) == 3 and set(seen) == {"b"}


def test_code_steps_each_run_and_the_step_after_the_race_runs_once():
    app, ran = jobsim.App("a"), []

    @app.function("quote", on="go")
    def quote(ctx):
        best = ctx.step.race([
            lambda: ctx.step.run("slow", lambda: ran.append("slow") or __import__("time").sleep(5) or "slow"),
            lambda: ctx.step.run("fast", lambda: ran.append("fast") or __import__("time").sleep(2) or "fast"),
        ])  # fmt: skip
        return ctx.step.run("book", lambda: ran.append(f"book {best}") or best)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("quote")[0]
    assert (run.output, at(run.end_ns)) == ("fast", 2)
    assert sorted(ran) == ["book fast", "fast", "slow"]  # the loser ran too; its result came after the run ended


def test_a_step_that_failed_for_good_first_raises_its_step_error():
    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        try:
            return ctx.step.race([lambda: ctx.step.run("boom", lambda: 1 / 0), lambda: ctx.step.sleep("s", "1m")])
        except StepError as error:
            return f"caught {error.step_id}"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.status, run.output, at(run.end_ns)) == ("completed", "caught boom", 0)


def test_an_invoked_function_that_loses_runs_on_and_one_that_wins_gives_its_output():
    app = jobsim.App("a")

    @app.function("child", on="child/go")
    def child(ctx):
        ctx.step.sleep("work", "2m")
        return "child"

    @app.function("parent", on="go")
    def parent(ctx):
        limit = ctx.event.data["limit"]
        return ctx.step.race([lambda: ctx.step.invoke("call", function="child"),
                              lambda: ctx.step.sleep("limit", limit) or "too slow"])  # fmt: skip

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {"limit": "5m"})
        sim.send("go", {"limit": "1m"})
        sim.run_until_idle()
    assert [(r.output, at(r.end_ns)) for r in sim.runs("parent")] == [("child", 120), ("too slow", 60)]
    assert [(r.status, at(r.end_ns)) for r in sim.runs("child")] == [("completed", 120)] * 2


def test_a_callable_without_steps_wins_at_once_and_a_chain_is_one_entrant():
    app = jobsim.App("a")

    @app.function("f", on="go")
    def f(ctx):
        def chain():
            ctx.step.run("a", lambda: "a")
            ctx.step.sleep("mid", "3m")
            return ctx.step.run("b", lambda: "b")

        first = ctx.step.race([lambda: ctx.step.sleep("s", "1m"), lambda: "cached"])
        second = ctx.step.race([chain, lambda: ctx.step.sleep("t", "2m") or "timer"])
        third = ctx.step.race([chain, lambda: ctx.step.sleep("u", "9m") or "timer"])
        return [first, second, third]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.output, at(run.end_ns)) == (["cached", "timer", "b"], 120 + 180)


def test_async_handlers_await_it_and_a_race_not_awaited_is_named():
    app = jobsim.App("a")

    @app.function("f", on="go")
    async def f(ctx):
        won = await ctx.step.race([lambda: ctx.step.sleep("slow", "5m"), lambda: ctx.step.run("quick", lambda: "q")])
        await ctx.step.sleep("z", "1m")
        return won

    @app.function("g", on="go", retries=0)
    async def g(ctx):
        ctx.step.race([lambda: ctx.step.sleep("s", "1m")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert (run.output, at(run.end_ns)) == ("q", 60)
    error = sim.runs("g")[0].error
    assert isinstance(error, StepMisuse) and str(error).startswith(
        "ctx.step.race([...]) was called without `await` in async function 'g'")


def test_bad_callables_are_refused():
    app = jobsim.App("a")
    app.function("empty", on="go", retries=0)(lambda ctx: ctx.step.race([]))
    app.function("called", on="go", retries=0)(lambda ctx: ctx.step.race([ctx.step.sleep("s", "1m")]))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    empty, called = sim.runs("empty")[0].error, sim.runs("called")[0].error
    assert isinstance(empty, InvalidArgument)
    assert str(empty) == "callables=[] is not valid: at least one callable: a race of none never ends"
    assert isinstance(called, StepMisuse) and "wrap each step in a lambda" in str(called)
    typo = jobsim.App("b")
    typo.function("h", on="go", retries=0)(lambda ctx: ctx.step.rase([lambda: ctx.step.sleep("s", "1m")]))
    with jobsim.Simulation(typo, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert str(sim.runs("h")[0].error).startswith("ctx.step has no method 'rase' (did you mean ctx.step.race?)")


def test_on_a_system_whose_job_is_one_call_the_callables_run_in_turn_and_the_first_wins():
    app, ran = jobsim.App("a"), []

    @app.function("f", on="go")
    def f(ctx):
        return ctx.step.race([lambda: ctx.step.run("a", lambda: ran.append("a") or "a"),
                              lambda: ctx.step.run("b", lambda: ran.append("b") or "b")])  # fmt: skip

    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("f")[0].output == "a" and ran == ["a", "b"]
