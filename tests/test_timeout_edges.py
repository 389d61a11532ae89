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
