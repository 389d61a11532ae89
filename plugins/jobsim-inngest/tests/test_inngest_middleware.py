"""inngest-py middleware runs per request, in the SDK's hook order (execution_lib/v0.py, function.py)."""

from __future__ import annotations

import datetime as dt
import re
import types

import inngest
import pytest
from inngest_support import Flaky, event, simulate

import jobsim


def recorder(log: list[str], tag: str) -> type[inngest.MiddlewareSync]:
    class Recorder(inngest.MiddlewareSync):
        def transform_input(self, ctx, function, steps):  # type: ignore[no-untyped-def]
            log.append(f"{tag}.transform_input:{steps.size}")

        def before_execution(self) -> None:
            log.append(f"{tag}.before_execution")

        def after_execution(self) -> None:
            log.append(f"{tag}.after_execution")

        def transform_output(self, result):  # type: ignore[no-untyped-def]
            log.append(f"{tag}.transform_output:{result.step.id if result.step else 'fn'}")

        def before_response(self) -> None:
            log.append(f"{tag}.before_response")

    return Recorder


def test_hooks_run_per_request_in_the_sdks_order_client_middleware_first():
    log: list[str] = []
    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[recorder(log, "c")])

    @client.create_function(
        fn_id="order", trigger=inngest.TriggerEvent(event="go"), middleware=[recorder(log, "f")]
    )
    def order(ctx: inngest.ContextSync) -> str:
        log.append("body")
        ctx.step.run("charge", lambda: log.append("charge") or 1)
        ctx.step.sleep("wait", dt.timedelta(seconds=5))
        return "done"

    with simulate(order, client) as sim:
        client.send_sync(event("go"))
        sim.run_until_idle()
    assert sim.runs(order)[0].output == "done"
    first = ["c.transform_input:0", "f.transform_input:0", "c.before_execution", "f.before_execution", "body",
             "charge", "f.after_execution", "c.after_execution", "f.transform_output:charge",
             "c.transform_output:charge", "c.before_response", "f.before_response"]  # fmt: skip
    # memos are replayed before before_execution: it runs when the last memo is reached
    second = ["c.transform_input:1", "f.transform_input:1", "body", "c.before_execution", "f.before_execution",
              "f.after_execution", "c.after_execution", "f.transform_output:wait", "c.transform_output:wait",
              "c.before_response", "f.before_response"]  # fmt: skip
    third = ["c.transform_input:2", "f.transform_input:2", "body", "c.before_execution", "f.before_execution",
             "f.after_execution", "c.after_execution", "f.transform_output:fn", "c.transform_output:fn",
             "c.before_response", "f.before_response"]  # fmt: skip
    assert log == first + second + third


class Envelope(inngest.MiddlewareSync):
    """Wraps step and function outputs; unwraps memos and decodes the event on the way in."""

    def transform_input(self, ctx, function, steps):  # type: ignore[no-untyped-def]
        ctx.event.data["card"] = ctx.event.data["card"][::-1]
        for memo in steps.values():
            if isinstance(memo.data, dict) and "sealed" in memo.data:
                memo.data = memo.data["sealed"]

    def transform_output(self, result):  # type: ignore[no-untyped-def]
        if result.has_output():
            result.output = {"sealed": result.output}


def test_transformed_outputs_are_memoized_and_transformed_memos_are_replayed():
    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Envelope])
    seen = []

    @client.create_function(fn_id="order", trigger=inngest.TriggerEvent(event="go"))
    def order(ctx: inngest.ContextSync) -> int:
        amount = ctx.step.run("charge", lambda: 42)
        seen.append((ctx.event.data["card"], amount))
        ctx.step.sleep("wait", 1000)
        return amount

    with simulate(order, client) as sim:
        client.send_sync(event("go", card="4321"))
        sim.run_until_idle()
    run = sim.runs(order)[0]
    assert run.steps["charge"].output == {"sealed": 42}  # as the server stores it
    assert seen == [("1234", 42), ("1234", 42)]  # the handler reads the unsealed memo
    assert run.output == {"sealed": 42}


def test_a_raising_hook_fails_the_request_and_it_is_retried():
    calls = []

    class Flaky_(inngest.MiddlewareSync):
        def before_response(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("telemetry down")

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Flaky_])
    charge = Flaky(0, 7)

    @client.create_function(fn_id="order", trigger=inngest.TriggerEvent(event="go"))
    def order(ctx: inngest.ContextSync) -> int:
        return ctx.step.run("charge", charge)  # type: ignore[no-any-return]

    with simulate(order, client, seed=1) as sim:
        client.send_sync(event("go"))
        sim.run_until_idle()
    run = sim.runs(order)[0]
    assert run.output == 7
    assert len(charge.calls) == 2  # the first request's output was lost with its response


def test_send_middleware_sees_client_sends_and_step_send_event():
    sent: list[tuple[str, str]] = []

    class Stamp(inngest.MiddlewareSync):
        def before_send_events(self, events):  # type: ignore[no-untyped-def]
            for e in events:
                e.data["stamped"] = True

        def after_send_events(self, result):  # type: ignore[no-untyped-def]
            sent.extend(("after", i) for i in result.ids)

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Stamp])

    @client.create_function(fn_id="relay", trigger=inngest.TriggerEvent(event="go"))
    def relay(ctx: inngest.ContextSync) -> list[str]:
        return ctx.step.send_event("fwd", inngest.Event(name="next", data={}))

    with simulate(relay, client) as sim:
        ids = client.send_sync(event("go"))
        sim.run_until_idle()
    go, nxt = sim.events
    assert go.data == {"stamped": True} and nxt.data == {"stamped": True}
    assert sent == [("after", ids[0]), ("after", nxt.id)]
    assert sim.runs(relay)[0].output == [nxt.id]


def test_async_middleware_on_a_sync_function_is_refused_with_the_fix():
    class Timing(inngest.Middleware):
        async def before_execution(self) -> None:
            return None

    client = inngest.Inngest(app_id="shop", is_production=False)
    fn = client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"), middleware=[Timing])(
        lambda ctx: None
    )
    with simulate(fn, client) as sim:
        client.send_sync(event("go"))
        sim.run_until_idle()
    (run,) = sim.runs(fn)
    assert run.status == "failed" and len(run.attempts) == 1
    assert str(run.error) == (
        "inngest function 'shop-m' is not async but its middleware Timing is an inngest.Middleware with async hooks "
        "(transform_input, before_execution, after_execution, transform_output, before_response, before_send_events, "
        "after_send_events); inngest-py fails every request of such a function ('encountered async middleware in "
        "non-async context'): subclass inngest.MiddlewareSync with plain `def` hooks for sync functions, or make the "
        "function `async def`"
    )


def test_an_async_hook_on_a_sync_middleware_made_by_a_factory_is_refused_too():
    class Half(inngest.MiddlewareSync):
        async def before_response(self) -> None:  # type: ignore[override]
            return None

    client = inngest.Inngest(app_id="shop", is_production=False)
    fn = client.create_function(
        fn_id="m", trigger=inngest.TriggerEvent(event="go"), middleware=[lambda c, r: Half(c, r)]
    )(lambda ctx: None)
    with simulate(fn, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs(fn)
    assert run.status == "failed" and len(run.attempts) == 1
    assert "its middleware Half is middleware with async hooks (before_response);" in str(run.error)


def test_async_function_awaits_async_middleware():
    log: list[str] = []

    class Timing(inngest.Middleware):
        async def before_execution(self) -> None:
            log.append("before")

        async def transform_output(self, result):  # type: ignore[no-untyped-def]
            if result.step is None:
                result.output = result.output * 2

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Timing])

    @client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"))
    async def fn(ctx: inngest.Context) -> int:
        return await ctx.step.run("one", lambda: 21)  # type: ignore[no-any-return]

    with simulate(fn, client) as sim:
        sim.send("go")  # client.send_sync would refuse the async middleware, as in inngest-py
        sim.run_until_idle()
    assert sim.runs(fn)[0].output == 42 and log == ["before", "before"]


def test_function_middleware_without_its_client_is_refused():
    client = inngest.Inngest(app_id="shop", is_production=False)
    fn = client.create_function(
        fn_id="audit-me", trigger=inngest.TriggerEvent(event="x"), middleware=[recorder([], "f")]
    )(lambda ctx: None)
    with pytest.raises(jobsim.InvalidArgument, match=r"has middleware \(Recorder\) but the simulation has no client"):
        jobsim.Simulation(fn).start()


def test_a_hook_error_still_goes_through_transform_output_and_before_response():
    """``CallResult(err)``: function.py runs transform_output and before_response on it too."""
    log: list[str] = []
    calls: list[int] = []

    class Broken(inngest.MiddlewareSync):
        def transform_input(self, ctx, function, steps):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("vault sealed")

        def transform_output(self, result):  # type: ignore[no-untyped-def]
            log.append(f"transform_output:{type(result.error).__name__}:{result.has_output() and result.output}")

        def before_response(self) -> None:
            log.append("before_response")

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Broken])

    @client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"))
    def fn(ctx: inngest.ContextSync) -> str:
        log.append("body")
        return "ok"

    with simulate(fn, client, seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs(fn)
    assert run.output == "ok" and len(run.attempts) == 2
    assert str(run.attempts[0].error) == "vault sealed"
    assert log == ["transform_output:RuntimeError:False", "before_response",
                   "body", "transform_output:NoneType:ok", "before_response"]  # fmt: skip


def test_transform_output_gets_a_steps_output_before_json_encoding():
    """inngest-py encodes what the middleware leaves: a datetime made JSON there is stored; left alone, it fails."""

    class Iso(inngest.MiddlewareSync):
        def transform_output(self, result):  # type: ignore[no-untyped-def]
            if isinstance(result.output, dt.datetime):
                result.output = result.output.isoformat()

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Iso])
    when = dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)

    @client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"))
    def fn(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("when", lambda: when)  # type: ignore[no-any-return]

    with simulate(fn, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs(fn)
    assert run.output == "2025-03-01T12:00:00+00:00" and run.steps["when"].output == run.output


def test_unserializable_step_output_left_by_the_middleware_fails_the_request_and_is_retried():
    seen: list[object] = []

    class Look(inngest.MiddlewareSync):
        def transform_output(self, result):  # type: ignore[no-untyped-def]
            seen.append(result.output)

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Look])

    @client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"), retries=1)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("tags", lambda: {"a"})

    with simulate(fn, client, seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs(fn)
    assert run.status == "failed" and len(run.attempts) == 2
    assert isinstance(run.error, inngest._internal.errors.OutputUnserializableError)
    assert str(run.error) == '"tags" returned unserializable data'
    assert seen == [{"a"}, {"a"}]  # the middleware saw the set itself, as in inngest-py


def test_step_info_names_the_op_and_opts_and_a_last_failing_attempt():
    infos: list[tuple[str, str, object]] = []

    class Look(inngest.MiddlewareSync):
        def transform_output(self, result):  # type: ignore[no-untyped-def]
            if result.step is not None:
                infos.append((result.step.id, result.step.op.value, result.step.opts))

    client = inngest.Inngest(app_id="shop", is_production=False, middleware=[Look])

    @client.create_function(fn_id="m", trigger=inngest.TriggerEvent(event="go"), retries=1)
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.wait_for_event("paid", event="pay", if_exp="async.data.x == 1", timeout=dt.timedelta(minutes=1))
        ctx.step.run("boom", Flaky(5))

    with simulate(fn, client, seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert infos == [
        ("paid", "WaitForEvent", {"if": "async.data.x == 1", "timeout": "1m"}),
        ("boom", "StepError", None),
        ("boom", "StepFailed", None),
    ]


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ({"middleware": [recorder([], "c")]}, "middleware (Recorder)"),
        ({"serializer": inngest.PydanticSerializer()}, "serializer (PydanticSerializer)"),
    ],
)
def test_a_client_with_middleware_or_serializer_left_out_of_the_simulation_is_named(extra, what):  # type: ignore[no-untyped-def]
    """Functions do not know their client: one the handler reaches (a closure here, a module global in
    an app) whose middleware or serializer would silently not run is refused with the fix."""
    original = inngest.Inngest.send_sync
    client = inngest.Inngest(app_id="shop", is_production=False, **extra)

    @client.create_function(fn_id="order", trigger=inngest.TriggerEvent(event="go"))
    def order(ctx: inngest.ContextSync) -> str:
        return client.app_id

    with pytest.raises(jobsim.InvalidArgument, match=rf"its client 'shop' is not passed to the simulation, so its "
                       rf"{re.escape(what)} would not run; pass the client too"):
        jobsim.Simulation(order).start()
    assert inngest.Inngest.send_sync is original  # nothing left patched
    with simulate(order, client) as sim:  # the fix
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs(order)[0].output == "shop"


def test_a_client_reached_through_a_module_the_handler_uses_is_named_too():
    """The common layout: the client lives in its own module (``app/clients.py``), the handler's module
    imports that module and decorates with ``@clients.inngest_client.create_function``; the handler then
    holds the module, not the client. inngest-py would run the served client's middleware on every request."""
    clients = types.ModuleType("shop_clients")
    clients.inngest_client = inngest.Inngest(  # type: ignore[attr-defined]
        app_id="shop", is_production=False, middleware=[recorder([], "c")])

    @clients.inngest_client.create_function(fn_id="order", trigger=inngest.TriggerEvent(event="go"))  # type: ignore[attr-defined]
    def order(ctx: inngest.ContextSync) -> str:
        return clients.__name__

    with pytest.raises(jobsim.InvalidArgument, match=r"its client 'shop' is not passed to the simulation, so its "
                       r"middleware \(Recorder\) would not run; pass the client too"):
        jobsim.Simulation(order).start()
    with simulate(order, clients.inngest_client) as sim:  # type: ignore[attr-defined]
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs(order)[0].output == "shop_clients"

