"""cancel_on=, timeout=, Timeouts(start=, finish=) and on_failure=."""

import time

import jobsim
from jobsim import Cancel, NonRetriableError, Throttle, Timeouts
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def secs(ns):
    return (ns - T0) / SECOND


def reminder_app(**options):
    app = jobsim.App("a")

    @app.function("remind", on="order/created", **options)
    def remind(ctx):
        ctx.step.sleep("wait", "1h")
        ctx.step.run("send", lambda: "sent")
        return ctx.event.data["orderId"]

    return app


# -- cancel_on ------------------------------------------------------------------------------


def test_a_matching_event_cancels_a_sleeping_run_and_not_the_others():
    app = reminder_app(cancel_on=[Cancel("order/cancelled", match="data.orderId")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})
        sim.advance("10m")
        sim.send("order/cancelled", {"orderId": "o1"})
        sim.send("order/cancelled", {"orderId": "o3"})  # matches no run
        sim.run_until_idle()
    o1, o2 = sim.runs("remind")
    assert (o1.status, secs(o1.end_ns)) == ("cancelled", 600)
    assert "send" not in o1.steps and o1.error is None
    assert (o2.status, o2.output, secs(o2.end_ns)) == ("completed", "o2", 3600)
    assert secs(sim.kernel.now) == 3600  # the cancelled run's wake-up timer is gone
    (record,) = sim.trace.of("cancel")
    assert record.data["reason"] == "cancel_on" and record.data["event"] == "order/cancelled"
    assert "cancel    remind#1 by event order/cancelled" in sim.timeline()


def test_a_waiting_run_is_cancelled_and_its_wait_never_resolves():
    app = jobsim.App("a")

    @app.function("checkout", on="cart/created", cancel_on=[Cancel("cart/deleted", match="data.cartId")])
    def checkout(ctx):
        return ctx.step.wait_for_event("paid", event="cart/paid", timeout="1d", match="data.cartId")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/created", {"cartId": "c1"})
        sim.advance("1m")
        sim.send("cart/deleted", {"cartId": "c1"})
        sim.send("cart/paid", {"cartId": "c1"})
        sim.run_until_idle()
    (run,) = sim.runs("checkout")
    assert run.status == "cancelled" and secs(run.end_ns) == 60
    assert list(sim.engine.waiters.get("cart/paid", [])) == []
    assert sim.trace.of("wait.end") == []


def test_a_run_cancelled_before_its_first_request_is_named_in_the_timeline():
    app = reminder_app(cancel_on=[Cancel("order/cancelled", match="data.orderId")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})
        sim.send("order/cancelled", {"orderId": "o2"})  # the same instant: o2's run has not run a request yet
        sim.run_until_idle()
    o1, o2 = sim.runs("remind")
    assert (o1.status, secs(o1.end_ns)) == ("completed", 3600)
    assert (o2.status, secs(o2.end_ns), o2.attempts) == ("cancelled", 0, [])
    (record,) = sim.trace.of("cancel")
    assert record.data["n"] == 2
    timeline = sim.timeline()
    assert "cancel    remind#2 by event order/cancelled" in timeline
    assert "run       remind#2 cancelled" in timeline


def test_a_cancel_without_match_or_if_cancels_every_live_run():
    app = reminder_app(cancel_on=[Cancel("shop/closed")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})
        sim.advance("1m")
        sim.send("shop/closed", {})
        sim.send("order/created", {"orderId": "o3"})  # created after the event: no look-back
        sim.run_until_idle()
    assert [(r.status, secs(r.end_ns)) for r in sim.runs("remind")] == [
        ("cancelled", 60), ("cancelled", 60), ("completed", 3660),
    ]  # fmt: skip


def test_there_is_no_look_back():
    app = reminder_app(cancel_on=[Cancel("order/cancelled", match="data.orderId")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/cancelled", {"orderId": "o1"})  # before the run exists
        sim.send("order/created", {"orderId": "o1"})
        sim.run_until_idle()
    assert sim.runs("remind")[0].status == "completed"


def test_the_event_that_starts_a_run_does_not_cancel_it():
    app = jobsim.App("a")

    @app.function("latest", on="doc/saved", cancel_on=[Cancel("doc/saved", match="data.doc")])
    def latest(ctx):
        ctx.step.sleep("settle", "1m")
        return ctx.event.data["v"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc/saved", {"doc": "d", "v": 1})
        sim.advance("10s")
        sim.send("doc/saved", {"doc": "d", "v": 2})  # cancels run 1, starts run 2
        sim.run_until_idle()
    assert [(r.status, r.output) for r in sim.runs("latest")] == [("cancelled", None), ("completed", 2)]


def test_a_cancellation_expires_after_its_timeout():
    app = reminder_app(cancel_on=[Cancel("order/cancelled", match="data.orderId", timeout="5m")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})
        sim.advance("5m")
        sim.send("order/cancelled", {"orderId": "o1"})  # at exactly 5 min: still listening
        sim.advance("1s")
        sim.send("order/cancelled", {"orderId": "o2"})  # too late
        sim.run_until_idle()
    assert [r.status for r in sim.runs("remind")] == ["cancelled", "completed"]


def test_a_cancellation_without_timeout_listens_365_days():
    """executor.go (the ``range req.Function.Cancel`` loop): ``expires := now + consts.CancelTimeout``
    (24 h x 365) unless ``timeout`` is set, and a pause is expired once ``Expires.Before(now)``: an event at
    exactly 365 d still cancels, one a second later does not (a run may sleep up to 366 d)."""
    app = jobsim.App("a")

    @app.function("remind", on="order/created",
                  cancel_on=[Cancel("order/cancelled", match="data.orderId")])
    def remind(ctx):
        ctx.step.sleep("wait", "366d")
        return ctx.event.data["orderId"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})
        sim.advance("365d")
        sim.send("order/cancelled", {"orderId": "o1"})
        sim.advance("1s")
        sim.send("order/cancelled", {"orderId": "o2"})
        sim.run_until_idle()
    assert [(r.status, secs(r.end_ns) / 86_400) for r in sim.runs("remind")] == [
        ("cancelled", 365), ("completed", 366)]


def test_cancel_with_an_if_expression():
    cancel = Cancel("order/updated", if_exp="event.data.orderId == async.data.orderId && async.data.void")
    app = reminder_app(cancel_on=[cancel])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.advance("1m")
        sim.send("order/updated", {"orderId": "o1", "void": False})
        assert sim.runs("remind")[0].status == "sleeping"
        sim.send("order/updated", {"orderId": "o1", "void": True})
        sim.run_until_idle()
    assert sim.runs("remind")[0].status == "cancelled"


def test_an_if_expression_cancels_only_when_it_gives_the_bool_true():
    """Inngest evaluates a cancellation's ``if`` with its boolean evaluator (pkg/expressions/expressions.go :
    booleanEvaluator.Evaluate): a result that is not a bool is ErrInvalidResult, no match. ``&&``/``||`` on
    non-bools are JS-like and give an operand's *value* (unknown.go : evalTruthyLogical); ``!`` on a string has
    no overload (an error); a comparison error inside ``||`` is falsy, not fatal."""
    cases = [
        ("async.data.reason", {"reason": "fraud"}, "sleeping"),  # a string, not true
        ("async.data.reason && async.data.note", {"reason": "fraud", "note": "x"}, "sleeping"),  # gives "x"
        ("async.data.reason || async.data.void", {"reason": "fraud", "void": True}, "sleeping"),  # gives "fraud"
        ("async.data.missing || async.data.void", {"void": True}, "cancelled"),  # unknown is falsy: gives true
        ("!async.data.reason", {"reason": ""}, "sleeping"),  # !'' is an error, not true
        ("async.data.n < 'a' || async.data.void", {"n": 1, "void": True}, "cancelled"),  # 1 < 'a' errs: falsy
        ("!async.data.void", {"void": False}, "cancelled"),
    ]
    for if_exp, data, status in cases:
        app = reminder_app(cancel_on=[Cancel("order/updated", if_exp=if_exp)])
        with jobsim.Simulation(app, start=START) as sim:
            sim.send("order/created", {"orderId": "o1"})
            sim.advance("1m")
            sim.send("order/updated", data)
            assert (if_exp, sim.runs("remind")[0].status) == (if_exp, status)


def test_a_queued_run_is_cancelled_before_it_starts():
    app = reminder_app(throttle=Throttle(limit=1, period="1h"),
                       cancel_on=[Cancel("order/cancelled", match="data.orderId")])  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})  # throttled until 01:00
        sim.advance("1m")
        sim.send("order/cancelled", {"orderId": "o2"})
        sim.run_until_idle()
    o1, o2 = sim.runs("remind")
    assert o1.status == "completed" and (o2.status, o2.attempts) == ("cancelled", [])



def test_a_step_whose_code_is_still_running_when_the_run_is_cancelled_keeps_no_result():
    """The step's code spends 60 s (``time.sleep``) and the cancel comes at 10 s: Inngest discards the late
    response, so the step is ``cancelled`` at 10 s with no output (it was recorded ``completed`` with its output,
    or ``retrying`` for a failure, ended at 60 s in a run cancelled at 10 s); a step that ended before stays."""
    for ends in ("returns", "raises"):
        app = jobsim.App("a")

        @app.function("f", on="go", retries=2, cancel_on=[Cancel("stop", match="data.id")])
        def f(ctx, ends=ends):
            ctx.step.run("quick", lambda: "quick")

            def work():
                time.sleep(60)
                if ends == "raises":
                    raise RuntimeError("late")
                return "late"

            return ctx.step.run("work", work)

        with jobsim.Simulation(app, start=START) as sim:
            sim.send("go", {"id": 1})
            sim.advance("10s")
            sim.send("stop", {"id": 1})
            sim.run_until_idle()
        (run,) = sim.runs("f")
        assert (run.status, secs(run.end_ns)) == ("cancelled", 10)
        quick, late = run.steps["quick"], run.steps["work"]
        assert (quick.status, quick.output) == ("completed", "quick")
        assert (late.status, late.output, late.error, secs(late.end_ns)) == ("cancelled", None, None, 10)


# -- timeouts ---------------------------------------------------------------------------------


def test_timeout_cancels_a_run_that_exceeds_it():
    app = reminder_app(timeout="10m")
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.run_until_idle()
    (run,) = sim.runs("remind")
    assert (run.status, secs(run.end_ns)) == ("cancelled", 600)
    assert sim.trace.of("cancel")[0].data["reason"] == "timeout"


def test_a_run_within_its_timeout_completes_and_leaves_no_timer_behind():
    app = reminder_app(timeout="2h")
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.run_until_idle()
        assert secs(sim.kernel.now) == 3600
    assert sim.runs("remind")[0].status == "completed"


def test_a_step_running_past_the_timeout_cancels_the_run_at_the_deadline():
    app = jobsim.App("a")

    @app.function("slow", on="go", timeout="10m")
    def slow(ctx):
        ctx.step.run("crunch", time.sleep, 20 * 60)
        return "done"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("slow")
    assert (run.status, secs(run.end_ns)) == ("cancelled", 600)
    (attempt,) = run.attempts
    assert attempt.step == "crunch" and isinstance(attempt.error, TimeoutError)
    assert str(attempt.error) == "the run exceeded its timeout of 10m"


def test_an_event_before_the_deadline_cancels_a_run_whose_step_will_run_past_it():
    """The request ran past the timeout, decided as it began (00:30): the run was cancelled then, for 01:00, so
    the cancel_on event at 00:40 and a singleton's new run at 00:40 found it over (two runs of a singleton ran
    at once)."""
    def build(**options):
        app = jobsim.App("a")

        @app.function("remind", on="cart/created", retries=0, timeout="1h", **options)
        def remind(ctx):
            ctx.step.sleep("wait", "30m")
            ctx.step.run("slow-send", time.sleep, 45 * 60)
            return "sent"

        return app

    for options, second in (({"cancel_on": [Cancel("cart/completed", match="data.cartId")]}, "cart/completed"),
                            ({"singleton": jobsim.Singleton(key="event.data.cartId", mode="cancel")}, "cart/created")):
        with jobsim.Simulation(build(**options), start=START) as sim:
            sim.send("cart/created", {"cartId": "c2"})
            sim.advance("40m")
            sim.send(second, {"cartId": "c2"})
            sim.run_until_idle()
        first = sim.runs("remind")[0]
        assert (first.status, secs(first.end_ns)) == ("cancelled", 2400)
        reason = "cancel_on" if second == "cart/completed" else "singleton"
        assert sim.trace.of("cancel")[0].data["reason"] == reason
        assert not first.attempts[1:]  # the slow step's attempt never reported: no timeout error either


def test_a_step_ending_exactly_at_the_deadline_is_in_time():
    # Inngest cancels once the time since the start exceeds the timeout (`validate.go :
    # checkFinishTimeout`): a response at the deadline, and a request due at it, still count
    app = jobsim.App("a")

    @app.function("slow", on="go", timeout="10m")
    def slow(ctx):
        ctx.step.run("crunch", time.sleep, 10 * 60)
        ctx.step.run("report", lambda: "sent")
        return "done"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("slow")
    assert (run.status, run.output, secs(run.end_ns)) == ("completed", "done", 600)
    assert [(a.step, a.error) for a in run.attempts] == [("crunch", None), ("report", None), (None, None)]
    assert sim.trace.of("cancel") == []


def test_a_run_starting_exactly_at_timeouts_start_is_in_time():
    app = reminder_app(throttle=Throttle(limit=1, period="1h"), timeouts=Timeouts(start="1h"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})  # starts at 01:00, the start deadline itself
        sim.run_until_idle()
    assert [(r.status, secs(r.start_ns)) for r in sim.runs("remind")] == [("completed", 0), ("completed", 3600)]


def test_timeouts_start_cancels_a_run_that_waits_too_long_to_start():
    app = reminder_app(throttle=Throttle(limit=1, period="1h"), timeouts=Timeouts(start="30m"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})  # would start at 01:00
        sim.run_until_idle()
    o1, o2 = sim.runs("remind")
    assert o1.status == "completed"
    assert (o2.status, secs(o2.end_ns)) == ("cancelled", 1800)
    assert "did not start within timeouts.start" in sim.timeline()


def test_timeouts_finish_counts_from_the_first_start_not_from_the_queue():
    app = reminder_app(throttle=Throttle(limit=1, period="1h"), timeouts=Timeouts(finish="90m"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/created", {"orderId": "o1"})
        sim.send("order/created", {"orderId": "o2"})  # starts at 01:00, sleeps until 02:00
        sim.run_until_idle()
    assert [(r.status, secs(r.start_ns), secs(r.end_ns)) for r in sim.runs("remind")] == [
        ("completed", 0, 3600), ("completed", 3600, 7200),
    ]  # fmt: skip


# -- on_failure -------------------------------------------------------------------------------


def test_on_failure_is_called_once_with_the_error_and_the_original_event():
    calls = []

    def alert(ctx):
        calls.append(ctx.event.data)
        return "alerted"

    app = jobsim.App("a")

    @app.function("charge", on="order/paid", retries=2, on_failure=alert, concurrency=5)
    def charge(ctx):
        ctx.step.run("card", lambda: (_ for _ in ()).throw(RuntimeError("card declined")))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/paid", {"orderId": "o1"}, id="evt-1")
        sim.run_until_idle()
    (run,) = sim.runs("charge")
    assert run.status == "failed" and len(run.attempts) == 4  # 3 attempts of the step, then the body
    (data,) = calls
    assert data["function_id"] == "charge" and data["run_id"] == run.id
    # the step's failure, let through the handler (a StepError: not retried, "NonRetriableError")
    assert data["error"] == {"error": "NonRetriableError", "name": "RuntimeError", "message": "card declined"}
    assert data["event"]["name"] == "order/paid" and data["event"]["data"] == {"orderId": "o1"}
    assert data["event"]["id"] == "evt-1"
    (handler_run,) = sim.runs("charge-failure")
    assert handler_run.status == "completed" and handler_run.output == "alerted"


def test_on_failure_is_not_called_for_a_run_that_recovers_or_is_cancelled():
    calls = []
    app = jobsim.App("a")
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("once")

    @app.function("sync", on="go", retries=1, on_failure=calls.append,
                  cancel_on=[Cancel("stop")])  # fmt: skip
    def sync(ctx):
        ctx.step.run("call", flaky)
        if ctx.event.data.get("nap"):
            ctx.step.sleep("nap", "1h")
        if ctx.event.data.get("fail"):
            raise NonRetriableError("nope")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {})
        sim.send("go", {"nap": True, "fail": True})
        sim.advance("10m")
        sim.send("stop")
        sim.run_until_idle()
    assert [r.status for r in sim.runs("sync")] == ["completed", "cancelled"]
    assert calls == []
