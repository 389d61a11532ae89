"""Inngest's lifecycle events (executor/finalize.go : finalizeEvents) and its invoke event (event/invoke.go)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

import jobsim
from jobsim import Cancel

START = "2025-03-01T00:00:00Z"
MS_PER_DAY = 86_400_000


def watched_app(listener_on: str = "inngest/function.finished") -> tuple[jobsim.App, list[dict]]:
    app = jobsim.App("shop")
    heard: list[dict] = []

    @app.function("charge", on="order/paid", retries=0)
    def charge(ctx):
        if ctx.event.data.get("fail"):
            raise ValueError("card declined")
        ctx.step.sleep("settle", "1m")
        return {"charged": ctx.event.data["cents"]}

    @app.function("watch", on=listener_on)
    def watch(ctx):
        heard.append(dict(ctx.event.data))

    return app, heard


def test_function_finished_carries_the_servers_data_for_a_completed_and_a_failed_run():
    app, heard = watched_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/paid", {"cents": 1299}, id="evt-1", ts=1740787200000)
        sim.send("order/paid", {"fail": True}, id="evt-2")
        sim.run_until_idle()
    done, failed = sim.runs("charge")
    by_run = {data["run_id"]: data for data in heard}
    assert by_run[done.id] == {
        "function_id": "charge", "run_id": done.id,
        "event": {"name": "order/paid", "data": {"cents": 1299}, "user": {}, "id": "evt-1", "ts": 1740787200000},
        "events": [{"name": "order/paid", "data": {"cents": 1299}, "id": "evt-1", "ts": 1740787200000}],
        "result": {"charged": 1299}, "_inngest": {"status": "Completed"},
    }  # fmt: skip
    # setResponse: `error` is StandardError() of the last response (Err "invalid status code: 500": the
    # error was retriable, its attempts ran out), `result` that response's body, the SDK's error
    assert by_run[failed.id]["error"] == {"error": "invalid status code: 500", "name": "ValueError",
                                          "message": "card declined"}  # fmt: skip
    assert by_run[failed.id]["result"] == {"name": "ValueError", "message": "card declined"}
    assert by_run[failed.id]["_inngest"] == {"status": "Failed"}
    # the watcher's own runs end too, but a run started by function.finished announces nothing (no loop)
    assert len(sim.runs("watch")) == 2
    names = [e.name for e in sim.events]
    assert names.count("inngest/function.finished") == 2
    # finalize.go appends function.finished, then the legacy function.failed whose id is the run's
    assert names.index("inngest/function.failed") == names.index("inngest/function.finished", 2) + 1
    (failed_event,) = [e for e in sim.events if e.name == "inngest/function.failed"]
    assert failed_event.id == failed.id and failed_event.data == by_run[failed.id]


def test_function_finished_is_published_only_when_something_hears_it():
    app = jobsim.App("shop")

    @app.function("charge", on="order/paid")
    def charge(ctx):
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/paid", {})
        sim.run_until_idle()
    assert [e.name for e in sim.events] == ["order/paid"]


def test_a_cancelled_run_announces_function_finished_and_function_cancelled():
    app, heard = watched_app("inngest/function.cancelled")

    @app.function("remind", on="cart/created", cancel_on=[Cancel("cart/deleted", match="data.cartId")])
    def remind(ctx):
        ctx.step.sleep("wait", "1h")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/created", {"cartId": "c1"})
        sim.advance("1m")
        sim.send("cart/deleted", {"cartId": "c1"})
        sim.run_until_idle()
    (run,) = sim.runs("remind")
    assert run.status == "cancelled"
    (data,) = heard
    assert data["run_id"] == run.id and data["_inngest"] == {"status": "Cancelled"}
    assert "error" not in data and "result" not in data  # the finalize response is empty on a cancel
    (cancelled,) = [e for e in sim.events if e.name == "inngest/function.cancelled"]
    assert cancelled.id == run.id


def test_the_invoke_event_carries_v_and_inngests_metadata_and_the_finished_event_its_correlation_id():
    app = jobsim.App("shop")
    finished: list[dict] = []

    @app.function("price", on="price/compute")
    def price(ctx):
        return {"event": ctx.event.data, "v": ctx.event.v}

    @app.function("checkout", on="cart/checkout")
    def checkout(ctx):
        first = ctx.step.invoke("total", function=price, data={"qty": 4}, v="2025-01-01.1")
        again = ctx.step.invoke("total", function=price, data={"qty": 5}, timeout="1h")
        return first, again

    @app.function("watch", on="inngest/function.finished")
    def watch(ctx):
        finished.append(dict(ctx.event.data))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/checkout")
        sim.run_until_idle()
    (parent,) = sim.runs("checkout")
    first, again = parent.output
    meta = first["event"].pop("_inngest")
    assert first == {"event": {"qty": 4}, "v": "2025-01-01.1"} and again["v"] is None
    sha = hashlib.sha1(b"total").hexdigest()  # the step's id as the SDKs send it
    assert meta["correlation_id"] == f"{parent.id}.{sha}" and meta["fn_id"] == "price" and meta["name"] == "total"
    invoked_ms = sim.runs("price")[0].event.ts
    year_on = int(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert meta["expire"] == year_on + invoked_ms % MS_PER_DAY  # InvokeFunctionOpts.Expires: now + 1 year
    assert sorted(meta) == ["correlation_id", "expire", "fn_id", "gid", "name", "source_app_id", "source_fn_id",
                            "source_fn_v"]  # fmt: skip
    second = again["event"]["_inngest"]
    assert second["correlation_id"] == f"{parent.id}.{hashlib.sha1(b'total:1').hexdigest()}"
    assert second["expire"] == sim.runs("price")[1].event.ts + 3_600_000 and second["name"] == "total"
    by_function = {data["function_id"]: data for data in finished if data["function_id"] == "price"}
    assert by_function["price"]["correlation_id"] in (meta["correlation_id"], second["correlation_id"])
    assert "correlation_id" not in next(d for d in finished if d["function_id"] == "checkout")


@pytest.mark.parametrize("v", [1, b"v1"])
def test_an_invoke_v_that_is_not_a_string_is_refused(v):
    app = jobsim.App("shop")

    @app.function("price", on="price/compute")
    def price(ctx):
        return 1

    @app.function("checkout", on="cart/checkout")
    def checkout(ctx):
        return ctx.step.invoke("total", function=price, v=v)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/checkout")
        sim.run_until_idle()
    (run,) = sim.runs("checkout")
    assert run.status == "failed" and "the invoked function's event version, a string" in str(run.error)


def test_a_failed_run_s_error_names_the_no_retry_answer_and_an_empty_message_takes_the_driver_s_error():
    """httpdriver.go : HandleHttpResponse sets Err "NonRetriableError" for an answer with x-inngest-no-retry
    (a NonRetriableError, or a step's failure the handler lets through: StepError is not retriable);
    StandardError() fills an empty message with Err."""
    app = jobsim.App("shop")
    heard: dict[str, dict] = {}

    @app.function("give-up", on="go", retries=3)
    def give_up(ctx):
        raise jobsim.NonRetriableError("no such card")

    @app.function("step-fails", on="go", retries=0)
    def step_fails(ctx):
        ctx.step.run("charge", lambda: 1 / 0)

    @app.function("silent", on="go", retries=0)
    def silent(ctx):
        raise KeyError()

    @app.function("watch", on="inngest/function.finished")
    def watch(ctx):
        heard[ctx.event.data["function_id"]] = dict(ctx.event.data)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert heard["give-up"]["error"] == {"error": "NonRetriableError", "name": "NonRetriableError",
                                         "message": "no such card"}  # fmt: skip
    assert heard["step-fails"]["error"] == {"error": "NonRetriableError", "name": "ZeroDivisionError",
                                            "message": "division by zero"}  # fmt: skip
    assert heard["step-fails"]["result"] == {"name": "ZeroDivisionError", "message": "division by zero"}
    assert heard["silent"]["error"] == {"error": "invalid status code: 500", "name": "KeyError",
                                        "message": "invalid status code: 500"}  # fmt: skip
    assert heard["silent"]["result"] == {"name": "KeyError", "message": ""}
