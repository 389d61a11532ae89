"""What meets a timeout at its very instant: waits and invokes time out first, Cancel(timeout=) still cancels."""

import jobsim

START = "2025-03-01T00:00:00Z"


def test_an_event_or_a_child_end_at_exactly_the_timeout_comes_too_late_but_still_cancels():
    app = jobsim.App("t")

    @app.function("wait", on="go")
    def wait(ctx):
        return ctx.step.wait_for_event("pay", event="paid", timeout="10m") is not None

    @app.function("sender", on="go")
    def sender(ctx):
        ctx.step.sleep("s", "10m")
        ctx.step.send_event("paid", {"name": "paid", "data": {}})  # at 00:10:00, the instant of every timeout

    @app.function("cancelled", on="go", cancel_on=[jobsim.Cancel("paid", timeout="10m")])
    def cancelled(ctx):
        ctx.step.sleep("hold", "1h")

    @app.function("slow", on="slow")
    def slow(ctx):
        ctx.step.sleep("z", "10m")
        return "done"

    @app.function("invoker", on="go")
    def invoker(ctx):
        try:
            return ctx.step.invoke("i", function=slow, data={}, timeout="10m")
        except jobsim.StepError as error:
            return str(error)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("wait")[0].output is False
    assert sim.runs("invoker")[0].output.endswith("timed out") and sim.runs("slow")[0].status == "completed"
    assert sim.runs("cancelled")[0].status == "cancelled"


def test_an_invoke_that_times_out_has_a_timeline_line_and_a_trace_record_of_its_own():
    """As a wait's timeout has (``wait ... timed out``): the caller's line said only that it completed, later."""
    app = jobsim.App("t")

    @app.function("child", on="child")
    def child(ctx):
        ctx.step.sleep("long", "2h")

    @app.function("caller", on="go")
    def caller(ctx):
        try:
            ctx.step.invoke("call", function=child, data={}, timeout="1h")
        except jobsim.StepError:
            return "gave up"

    with jobsim.Simulation(app, start=START, tz="UTC") as sim:
        sim.send("go")
        sim.run_until_idle()
    (record,) = sim.trace.of("invoke.timeout")
    (caller_run,), (child_run,) = sim.runs("caller"), sim.runs("child")
    assert record.data == {"function": "caller", "run": caller_run.id, "step": "call", "target": "child",
                           "child": child_run.id}  # fmt: skip
    assert "2025-03-01 01:00:00.000 UTC  invoke    caller#1 step 'call' timed out waiting for child#1" in (
        sim.timeline().splitlines()
    )
    assert sim.runs("child")[0].status == "completed"  # it runs on: Inngest does not cancel it


def test_an_invoke_whose_child_ends_in_time_has_no_timeout_record():
    app = jobsim.App("t")
    app.function("child", on="child")(lambda ctx: "done")
    app.function("caller", on="go")(lambda ctx: ctx.step.invoke("call", function="child", data={}, timeout="1h"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("caller")[0].output == "done" and sim.trace.of("invoke.timeout") == []
