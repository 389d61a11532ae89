"""Every step type of inngest-py's ctx.step, sync and async, on jobsim's engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import inngest
import inngest.experimental
import pydantic
import pytest
from inngest_support import Flaky, event, now_s, secs, simulate, utc

import jobsim


def trigger(name: str = "go") -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event=name)


# -- step.run: memoization, replay --------------------------------------------------------------
def test_step_run_memoizes_outputs_and_code_outside_steps_runs_every_request(client):
    charge, ship, body = Flaky(0, {"charged": 10}), Flaky(1, "shipped"), []

    @client.create_function(fn_id="order", trigger=trigger("order/paid"))
    def order(ctx: inngest.ContextSync) -> dict:
        body.append(ctx.attempt)
        receipt = ctx.step.run("charge", charge, ctx.event.data["id"])
        return {"receipt": receipt, "ship": ctx.step.run("ship", ship)}

    with simulate([order], client) as sim:
        sim.send("order/paid", {"id": 1})
        sim.run_until_idle()
    run = sim.runs("shop-order")[0]
    assert run.status == "completed" and run.output == {"receipt": {"charged": 10}, "ship": "shipped"}
    assert len(charge.calls) == 1  # memoized, though the handler ran 4 times
    assert body == [0, 0, 1, 0]  # charge; ship fails; ship retried (attempt 1); return
    assert run.steps["charge"].output == {"charged": 10}


def test_a_reused_id_is_indexed_by_inngest_pys_counter_alone_an_explicit_id_colliding(client):
    """inngest-py's ``_parse_step_id`` counts each id: the explicit 'a:1' after two 'a' is the second's key, so
    its code never runs and it returns the second's output (jobsim's own engine probes past it, as the JS SDK)."""

    @client.create_function(fn_id="ids", trigger=trigger())
    def ids(ctx: inngest.ContextSync) -> list:
        return [ctx.step.run("a", lambda: "first"), ctx.step.run("a", lambda: "second"),
                ctx.step.run("a:1", lambda: "explicit"), ctx.step.run("a", lambda: "third")]  # fmt: skip

    with simulate([ids], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-ids")[0]
    assert run.output == ["first", "second", "second", "third"] and list(run.steps) == ["a", "a:1", "a:2"]


def test_every_request_reads_the_event_as_sent_nested_data_too(client):
    """The executor sends each request the stored event: a change made inside a completed step is gone."""
    seen = []

    def enrich(ctx: inngest.ContextSync) -> str:
        ctx.event.data["items"].append("gift")
        ctx.event.data["vip"] = True
        return "ok"

    @client.create_function(fn_id="order", trigger=trigger("order/paid"))
    def order(ctx: inngest.ContextSync) -> None:
        ctx.step.run("enrich", enrich, ctx)
        ctx.step.sleep("pause", dt.timedelta(minutes=1))
        seen.append(dict(ctx.event.data, items=list(ctx.event.data["items"])))

    with simulate(order, client) as sim:
        sim.send("order/paid", {"id": 1, "items": ["mug"]})
        sim.run_until_idle()
    assert seen == [{"id": 1, "items": ["mug"]}]
    assert sim.runs("shop-order")[0].event.data == {"id": 1, "items": ["mug"]}


def test_integers_past_53_bits_come_back_as_the_server_hands_them_on(client):
    """json.dumps writes the digits, but the server writes each request through JCS: the nearest double. jobsim
    failed such a run (orjson's 64-bit limit)."""
    big = 2**64 + 1

    @client.create_function(fn_id="ledger", trigger=trigger())
    def ledger(ctx: inngest.ContextSync) -> dict:
        balance = ctx.step.run("balance", lambda: {"cents": big})
        ctx.step.sleep("later", dt.timedelta(minutes=1))
        return {"balance": balance, "debt": -(2**80)}

    @client.create_function(fn_id="ledger-async", trigger=trigger())
    async def ledger_async(ctx: inngest.Context) -> int:
        return await ctx.step.run("balance", lambda: big) + 1

    with simulate([ledger, ledger_async], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs(ledger)[0].output == {"balance": {"cents": 2**64}, "debt": -(2**80)}
    assert sim.runs(ledger_async)[0].output == 2**64  # the step's 2**64 plus one: the output's double again
    assert sim.runs(ledger)[0].steps["balance"].output == {"cents": 2**64}


def test_event_data_and_step_outputs_come_as_jcs_writes_them_sorted_keys_integral_floats_as_ints(client):
    """The server writes each request through JCS (driver.go: MarshalV1 -> jcs.Transform): keys sorted, 1.0 as 1,
    so inngest-py's json reads an int. jobsim handed the function its keys as written and 1.0 as a float."""
    seen = []

    @client.create_function(fn_id="prices", trigger=trigger())
    def prices(ctx: inngest.ContextSync) -> dict:
        totals = ctx.step.run("totals", lambda: {"net": 10.0, "gross": 12.5, "tax": -0.0})
        seen.append([(k, type(v)) for d in (ctx.event.data, totals) for k, v in d.items()])
        return totals

    with simulate(prices, client) as sim:
        sim.send("go", {"qty": 2.0, "price": 1.5})
        sim.run_until_idle()
    assert seen == [[("price", float), ("qty", int), ("gross", float), ("net", int), ("tax", int)]]
    assert sim.runs(prices)[0].output == {"gross": 12.5, "net": 10, "tax": 0}


def test_async_step_run_awaits_async_and_sync_bodies(client):
    async def fetch(n):
        return n * 2

    @client.create_function(fn_id="calc", trigger=trigger())
    async def calc(ctx: inngest.Context) -> list:
        a = await ctx.step.run("async-body", fetch, 21)
        b = await ctx.step.run("sync-body", lambda: "plain")
        return [a, b]

    with simulate(calc) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("shop-calc")[0].output == [42, "plain"]


def test_an_async_step_called_without_await_fails_the_attempt_naming_it(client):
    charged = []

    @client.create_function(fn_id="order", trigger=trigger(), retries=0)
    async def order(ctx: inngest.Context) -> str:
        ctx.step.run("charge", charged.append, 1)  # no await: inngest-py's coroutine never runs
        await ctx.step.sleep("wait", dt.timedelta(hours=1))
        return "done"

    @client.create_function(fn_id="group", trigger=trigger())
    async def group(ctx: inngest.Context) -> tuple:
        return await ctx.group.parallel((lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2)))

    with simulate([order, group]) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs(order)[0]
    assert run.status == "failed" and charged == []
    assert str(run.error).startswith("step 'charge' was called without `await` in async function 'shop-order'")
    assert sim.runs(group)[0].output == [1, 2]


def test_async_steps_awaited_together_are_refused_before_the_second_steps_code_runs(client):
    """asyncio.gather/create_task of two new steps: the first ends the request, so the second's code ran and
    lost its result (the core refuses it since "Async steps awaited together..."; the plugin's steps too)."""
    ran = []

    def charge():
        ran.append("charge")
        return 1

    async def ship():
        ran.append("ship")
        return 2

    @client.create_function(fn_id="gathered", trigger=trigger())
    async def gathered(ctx: inngest.Context) -> list:
        return list(await asyncio.gather(ctx.step.run("charge", charge), ctx.step.run("ship", ship)))

    @client.create_function(fn_id="notified", trigger=trigger())
    async def notified(ctx: inngest.Context) -> list:
        return list(await asyncio.gather(
            ctx.step.run("charge", charge), ctx.step.send_event("notify", inngest.Event(name="order/shipped"))))

    @client.create_function(fn_id="tasks", trigger=trigger())
    async def tasks(ctx: inngest.Context) -> list:
        first = asyncio.create_task(ctx.step.run("charge", charge))
        second = asyncio.create_task(ctx.step.run("ship", ship))
        return [await first, await second]

    for function, second in ((gathered, "ship"), (notified, "notify"), (tasks, "ship")):
        ran.clear()
        with simulate(function) as sim:
            sim.send("go")
            sim.run_until_idle()
        run = sim.runs(function)[0]
        assert run.status == "failed" and type(run.error) is jobsim.StepMisuse
        assert len(run.attempts) == 1 and ran == ["charge"]  # not retried; the second step's code never ran
        assert str(run.error).startswith(
            f"step {second!r} of function {function.id!r} was called after step 'charge' ended the request")
        assert "ctx.group.parallel(" in str(run.error)
        assert [e.name for e in sim.events] == ["go", "inngest/function.failed"]  # order/shipped never sent


def test_an_unawaited_group_or_sleep_names_what_to_await(client):
    @client.create_function(fn_id="group", trigger=trigger(), retries=0)
    async def group(ctx: inngest.Context) -> None:
        ctx.group.parallel((lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2)))

    @client.create_function(fn_id="nap", trigger=trigger(), retries=0)
    async def nap(ctx: inngest.Context) -> None:
        ctx.step.sleep("cool-off", dt.timedelta(hours=1))

    with simulate([group, nap]) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert str(sim.runs(group)[0].error) == (
        "ctx.group.parallel([...]) was called without `await` in async function 'shop-group', so its code never "
        "ran: write `await ctx.group.parallel(...)` (every ctx.step method of an async handler is awaited)"
    )
    assert str(sim.runs(nap)[0].error).endswith("write `await ctx.step.sleep(...)` (every ctx.step method of an "
                                                "async handler is awaited)")


def test_a_sync_function_cannot_run_an_async_step_body(client):
    """inngest-py passes the coroutine on as the step's output, and the response cannot be serialized: the
    request fails (OutputUnserializableError), retried as any error, never a StepError the function catches."""

    async def fetch():
        return 1

    caught = []

    @client.create_function(fn_id="calc", trigger=trigger(), retries=1)
    def calc(ctx: inngest.ContextSync) -> None:
        try:
            ctx.step.run("x", fetch)
        except inngest.StepError as error:
            caught.append(error)

    with simulate(calc) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-calc")[0]
    assert caught == [] and run.status == "failed" and len(run.attempts) == 2
    assert type(run.error).__name__ == "OutputUnserializableError"
    assert str(run.error).startswith('"x" returned unserializable data (jobsim: ')
    assert "is async, so the step returned its coroutine" in str(run.error)
    assert "use an `async def` Inngest function and `await ctx.step.run(...)`" in str(run.error)


# -- sleeps --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_sleep_takes_int_milliseconds_or_timedelta_and_sleep_until_a_datetime(client, kind):
    wakes = []
    if kind == "sync":

        @client.create_function(fn_id="nap", trigger=trigger())
        def nap(ctx: inngest.ContextSync) -> None:
            ctx.step.sleep("ms", 90_000)  # ints are milliseconds in inngest-py
            wakes.append(now_s())
            ctx.step.sleep("td", dt.timedelta(hours=1))
            wakes.append(now_s())
            ctx.step.sleep_until("until", utc("2025-03-02T09:00:00Z"))
            wakes.append(now_s())
            ctx.step.sleep_until("past", utc("2025-01-01T00:00:00Z"))  # in the past: no wait
            wakes.append(now_s())

    else:

        @client.create_function(fn_id="nap", trigger=trigger())
        async def nap(ctx: inngest.Context) -> None:
            await ctx.step.sleep("ms", 90_000)
            wakes.append(now_s())
            await ctx.step.sleep("td", dt.timedelta(hours=1))
            wakes.append(now_s())
            await ctx.step.sleep_until("until", utc("2025-03-02T09:00:00Z"))
            wakes.append(now_s())
            await ctx.step.sleep_until("past", utc("2025-01-01T00:00:00Z"))
            wakes.append(now_s())

    with simulate(nap) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sorted(set(wakes)) == [90, 3690, 118800]  # 00:01:30, 01:01:30, next day 09:00
    assert wakes[-1] == 118800 and sim.runs("shop-nap")[0].status == "completed"


def test_naive_datetimes_are_local_time_which_is_utc_inside_the_simulation(client, monkeypatch):
    """inngest-py reads naive datetimes as local time (``astimezone``); jobsim's wall clock runs
    job code in UTC whatever the machine's zone, so ``datetime.now() + delta`` stays exact."""
    import time as time_module

    monkeypatch.setenv("TZ", "America/New_York")
    time_module.tzset()
    try:

        @client.create_function(fn_id="nap", trigger=trigger())
        def nap(ctx: inngest.ContextSync) -> None:
            ctx.step.sleep_until("naive", dt.datetime(2025, 3, 1, 9, 0))
            ctx.step.sleep_until("later", dt.datetime.now() + dt.timedelta(minutes=30))

        with simulate(nap) as sim:
            sim.send("go")
            sim.run_until_idle()
        assert secs(sim.runs("shop-nap")[0].end_ns) == 9 * 3600 + 1800
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()


# -- wait_for_event ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_wait_for_event_returns_an_inngest_event_or_none_at_the_timeout(client, kind):
    got = []
    expr = "event.data.cart == async.data.cart && async.data.total > 100"
    if kind == "sync":

        @client.create_function(fn_id="cart", trigger=trigger("cart/opened"))
        def cart(ctx: inngest.ContextSync) -> None:
            got.append(ctx.step.wait_for_event("paid", event="cart/paid", if_exp=expr, timeout=dt.timedelta(hours=1)))

    else:

        @client.create_function(fn_id="cart", trigger=trigger("cart/opened"))
        async def cart(ctx: inngest.Context) -> None:
            got.append(await ctx.step.wait_for_event("paid", event="cart/paid", if_exp=expr, timeout=3_600_000))

    with simulate(cart) as sim:
        sim.send("cart/opened", {"cart": "c1"})
        sim.send("cart/opened", {"cart": "c2"})
        sim.advance("10m")
        sim.send("cart/paid", {"cart": "c1", "total": 50})  # fails the condition
        sim.send("cart/paid", {"cart": "c1", "total": 150}, id="pay-1")
        sim.run_until_idle()
    runs = sim.runs("shop-cart")
    hit = next(g for g in got if g is not None)
    assert isinstance(hit, inngest.Event) and hit.data == {"cart": "c1", "total": 150} and hit.id == "pay-1"
    assert hit.name == "cart/paid" and hit.ts == 600_000 + runs[0].start_ns // 1_000_000
    assert [secs(r.end_ns) for r in runs] == [600, 3600]  # c1 at 10 min; c2 timed out after 1 h
    assert got.count(None) == 1


# -- send_event -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_send_event_sends_once_and_returns_the_ids(client, kind):
    flaky = Flaky(2)
    ids = []
    if kind == "sync":

        @client.create_function(fn_id="signup", trigger=trigger("user/created"))
        def signup(ctx: inngest.ContextSync) -> None:
            ids.append(ctx.step.send_event("welcome", [event("email/send", to="ada"), event("crm/add", who="ada")]))
            ctx.step.run("flaky", flaky)

    else:

        @client.create_function(fn_id="signup", trigger=trigger("user/created"))
        async def signup(ctx: inngest.Context) -> None:
            ids.append(
                await ctx.step.send_event("welcome", [event("email/send", to="ada"), event("crm/add", who="ada")])
            )
            await ctx.step.run("flaky", flaky)

    @client.create_function(fn_id="mailer", trigger=trigger("email/send"))
    def mailer(ctx: inngest.ContextSync) -> str:
        return ctx.event.data["to"]

    with simulate([signup, mailer], client) as sim:
        sim.send("user/created")
        sim.run_until_idle()
    assert [e.name for e in sim.events] == ["user/created", "email/send", "crm/add"]  # once, despite 2 retries
    assert ids[-1] == [e.id for e in sim.events[1:]] and all(i == ids[-1] for i in ids)
    assert [r.output for r in sim.runs("shop-mailer")] == ["ada"]


# -- invoke -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_invoke_runs_another_function_and_returns_its_output(client, kind):
    @client.create_function(fn_id="price", trigger=trigger("never/sent"))
    def price(ctx: inngest.ContextSync) -> dict:
        ctx.step.sleep("think", dt.timedelta(seconds=30))
        return {"sku": ctx.event.data["sku"], "cents": 1299, "invoked_by": ctx.event.name}

    if kind == "sync":

        @client.create_function(fn_id="quote", trigger=trigger())
        def quote(ctx: inngest.ContextSync) -> list:
            a = ctx.step.invoke("by-fn", function=price, data={"sku": "a"})
            b = ctx.step.invoke_by_id("by-id", function_id="price", data={"sku": "b"})
            return [a, b]

    else:

        @client.create_function(fn_id="quote", trigger=trigger())
        async def quote(ctx: inngest.Context) -> list:
            a = await ctx.step.invoke("by-fn", function=price, data={"sku": "a"})
            b = await ctx.step.invoke_by_id("by-id", app_id="shop", function_id="price", data={"sku": "b"})
            return [a, b]

    with simulate([quote, price], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-quote")[0]
    assert run.output == [
        {"sku": "a", "cents": 1299, "invoked_by": "inngest/function.invoked"},
        {"sku": "b", "cents": 1299, "invoked_by": "inngest/function.invoked"},
    ]
    assert secs(run.end_ns) == 60  # two invocations of 30 s, one after the other


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_invoke_sends_v_and_the_invoked_run_reads_the_servers_invoke_metadata(client, kind):
    """NewInvocationEvent (pkg/event/invoke.go): the payload's data and v, plus data._inngest, whose
    correlation_id is '<run id>.<the step's hashed id>' (handleGeneratorInvokeFunction); inngest-py's Event
    has no `v`, so job code reads it nowhere but the run's event."""
    from inngest._internal import transforms

    @client.create_function(fn_id="price", trigger=inngest.TriggerEvent(event="never/sent"))
    def price(ctx: inngest.ContextSync) -> dict:
        return dict(ctx.event.data)

    if kind == "sync":

        @client.create_function(fn_id="quote", trigger=inngest.TriggerEvent(event="go"))
        def quote(ctx: inngest.ContextSync) -> object:
            return ctx.step.invoke("by-fn", function=price, data={"sku": "a"}, v="2025-01-01.1")

    else:

        @client.create_function(fn_id="quote", trigger=inngest.TriggerEvent(event="go"))
        async def quote(ctx: inngest.Context) -> object:
            return await ctx.step.invoke_by_id("by-fn", function_id="price", data={"sku": "a"}, v="2025-01-01.1")

    with simulate([quote, price], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    (parent,) = sim.runs("shop-quote")
    (child,) = sim.runs("shop-price")
    assert child.event.v == "2025-01-01.1"
    output = parent.output
    meta = output.pop("_inngest")
    assert output == {"sku": "a"}
    assert meta["correlation_id"] == f"{parent.id}.{transforms.hash_step_id('by-fn')}"
    assert (meta["fn_id"], meta["name"]) == ("shop-price", "by-fn")


def test_invoke_deserializes_with_the_functions_output_type_and_invoke_by_id_does_not():
    """step_sync.py: ``invoke`` passes the output through ``_deserialize(output, function._output_type)``;
    ``invoke_by_id`` returns it as stored."""
    client = inngest.Inngest(app_id="shop", is_production=False, serializer=inngest.PydanticSerializer())
    seen = []

    @client.create_function(fn_id="bill", trigger=trigger("never/sent"), output_type=Receipt)
    def bill(ctx: inngest.ContextSync) -> Receipt:
        return Receipt(total=ctx.event.data["total"])

    @client.create_function(fn_id="quote", trigger=trigger())
    def quote(ctx: inngest.ContextSync) -> None:
        seen.append(ctx.step.invoke("by-fn", function=bill, data={"total": 1}))
        seen.append(ctx.step.invoke_by_id("by-id", function_id="bill", data={"total": 2}))

    with simulate([quote, bill], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert seen[-2:] == [Receipt(total=1), {"total": 2}]


def test_invoke_of_another_apps_function_names_the_function_inngest_py_would_invoke():
    """``step.invoke(function=fn)`` builds ``<calling app>-<fn's local id>``: another app's ``fn`` is not invoked."""
    shop = inngest.Inngest(app_id="shop", is_production=False)
    billing = inngest.Inngest(app_id="billing", is_production=False)

    @billing.create_function(fn_id="charge", trigger=trigger("never/sent"))
    def charge(ctx: inngest.ContextSync) -> int:
        return 1

    @shop.create_function(fn_id="order", trigger=trigger(), retries=0)
    def order(ctx: inngest.ContextSync) -> int:
        return ctx.step.invoke("pay", function=charge)  # type: ignore[no-any-return]

    @shop.create_function(fn_id="order-by-id", trigger=trigger())
    def order_by_id(ctx: inngest.ContextSync) -> object:
        return ctx.step.invoke_by_id("pay", app_id="billing", function_id="charge")

    with simulate([order, order_by_id, charge], shop, billing) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = sim.runs(order)[0].error
    assert isinstance(error, jobsim.InvalidArgument)
    assert str(error) == (
        "step.invoke(function=...) of 'billing-charge' from app 'shop': inngest-py invokes 'shop-charge' (the "
        "calling client's app id with the function's id), not 'billing-charge'; for a function of app 'billing' "
        "use step.invoke_by_id(..., app_id='billing', function_id='charge')"
    )
    assert sim.runs(order_by_id)[0].output == 1


def test_invoke_timeout_and_failure_surface_as_step_error(client):
    seen = []

    @client.create_function(fn_id="slow", trigger=trigger("never/sent"))
    def slow(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("long", dt.timedelta(hours=2))

    @client.create_function(fn_id="broken", trigger=trigger("never/sent"), retries=0)
    def broken(ctx: inngest.ContextSync) -> None:
        raise ValueError("no stock")

    @client.create_function(fn_id="caller", trigger=trigger())
    def caller(ctx: inngest.ContextSync) -> list:
        for step_id, fn in (("slow", slow), ("broken", broken)):
            try:
                ctx.step.invoke(step_id, function=fn, timeout=dt.timedelta(minutes=5))
            except inngest.StepError as exc:
                seen.append((step_id, exc.name, exc.message, round(now_s())))
        return "handled"

    with simulate([caller, slow, broken]) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("shop-caller")[0].output == "handled"
    assert seen[-2:] == [("slow", "TimeoutError", "invoked function 'shop-slow' timed out", 300),
                         ("broken", "ValueError", "no stock", 300)]  # fmt: skip


def test_invoking_a_function_outside_the_simulation_is_named(client):
    @client.create_function(fn_id="elsewhere", trigger=trigger("x"))
    def elsewhere(ctx):
        return 1

    @client.create_function(fn_id="caller", trigger=trigger(), retries=0)
    def caller(ctx: inngest.ContextSync) -> None:
        ctx.step.invoke("call", function=elsewhere)

    with simulate(caller) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = sim.runs("shop-caller")[0].error
    assert isinstance(error, jobsim.InvalidArgument)
    assert "step.invoke: function 'shop-elsewhere' is not part of this simulation" in str(error)


def test_invoking_an_unknown_function_lists_20_ids_and_guesses_the_one_meant(client):
    """The simulated ids are cut at 20 (``listed_ids``); the one a misspelt id meant may be past the cut."""
    many = [client.create_function(fn_id=f"f{n:02}", trigger=trigger("never"))(lambda ctx: None) for n in range(23)]
    welcome = client.create_function(fn_id="send-welcome-email", trigger=trigger("never"))(lambda ctx: None)
    misspelt = client.create_function(fn_id="send-welcom-email", trigger=trigger("never"))(lambda ctx: None)

    @client.create_function(fn_id="caller", trigger=trigger(), retries=0)
    def caller(ctx: inngest.ContextSync) -> None:
        ctx.step.invoke("call", function=misspelt)

    with simulate([*many, welcome, caller]) as sim:
        sim.send("go")
        sim.run_until_idle()
    listed = ", ".join(repr(f"shop-f{n:02}") for n in range(20))
    assert str(sim.runs("shop-caller")[0].error) == (
        "step.invoke: function 'shop-send-welcom-email' is not part of this simulation; pass it to "
        f"jobsim.Simulation([...]) too (simulated: {listed}, ... and 5 more (did you mean 'shop-send-welcome-email'?))"
    )


def test_invoking_a_function_the_test_left_out_says_how_to_select_it(client):
    @client.create_function(fn_id="charge", trigger=trigger("charge"))
    def charge(ctx):
        return 1

    @client.create_function(fn_id="caller", trigger=trigger(), retries=3)
    def caller(ctx: inngest.ContextSync) -> None:
        ctx.step.invoke("call", function=charge)

    with simulate([caller, charge], exclude_functions=[charge]) as sim:
        sim.send("go")
        sim.send("charge")  # on the bus, no run
        sim.run_until_idle()
    assert list(sim.functions) == ["shop-caller"]
    [run] = sim.runs("shop-caller")
    assert str(run.error) == (
        "function='shop-charge': function 'shop-charge' is not simulated, exclude_functions=['shop-charge'] left it "
        "out; take 'shop-charge' out of exclude_functions= to simulate it (in jobsim.Simulation(...) or "
        "@pytest.mark.jobsim(...))"
    )
    assert len(run.attempts) == 1  # not retried: retrying cannot bring the function in


# -- group.parallel -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_group_parallel_runs_steps_side_by_side_each_with_its_own_retries(client, kind):
    a, b = Flaky(3, "A"), Flaky(0, "B")
    if kind == "sync":

        @client.create_function(fn_id="fan", trigger=trigger(), retries=3)
        def fan(ctx: inngest.ContextSync) -> list:
            out = ctx.group.parallel((lambda: ctx.step.run("a", a), lambda: ctx.step.run("b", b)))
            return [*out, ctx.step.run("after", lambda: now_s())]

    else:

        @client.create_function(fn_id="fan", trigger=trigger(), retries=3)
        async def fan(ctx: inngest.Context) -> list:
            out = await ctx.group.parallel((lambda: ctx.step.run("a", a), lambda: ctx.step.run("b", b)))
            return [*out, await ctx.step.run("after", lambda: now_s())]

    with simulate(fan, seed=5) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-fan")[0]
    assert run.status == "completed" and run.output[:2] == ["A", "B"]
    assert b.calls == [0] and len(a.calls) == 4  # a used all 4 attempts on its own counter
    assert run.output[2] == a.calls[-1]  # "after" ran once both had ended
    assert [x.number for x in run.steps["a"].attempts] == [0, 1, 2, 3]


def test_a_step_after_a_group_runs_inline_without_a_request_to_plan_it(client):
    """The group's plan sets ForceStepPlan (disable_immediate_execution); for request version 2, which
    inngest-py's answers carry, force_step_plan.go : maybeResetForceStepPlan clears it before the discovery
    request after the group, so "c" runs in that request: plan, a, b, discovery running c, the return."""
    seen = {"top": 0, "after": 0}

    @client.create_function(fn_id="fan", trigger=trigger())
    def fan(ctx: inngest.ContextSync) -> str:
        seen["top"] += 1
        ctx.group.parallel((lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2)))
        seen["after"] += 1
        ctx.step.run("c", lambda: 3)
        return "done"

    with simulate(fan) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("shop-fan")[0].output == "done" and seen == {"top": 5, "after": 2}


def test_group_parallel_race_mode_lets_a_chain_advance_alone(client):
    log = []

    @client.create_function(fn_id="fan", trigger=trigger())
    def fan(ctx: inngest.ContextSync) -> None:
        def chain():
            ctx.step.run("a1", lambda: log.append(("a1", now_s())))
            ctx.step.run("a2", lambda: log.append(("a2", now_s())))

        ctx.group.parallel((chain, lambda: ctx.step.sleep("b", 60_000)), parallel_mode=inngest.ParallelMode.RACE)

    with simulate(fan) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert log == [("a1", 0), ("a2", 0)] and secs(sim.runs("shop-fan")[0].end_ns) == 60


def test_step_parallel_does_not_exist_in_inngest_py_and_says_where_it_is(client):
    @client.create_function(fn_id="fan", trigger=trigger(), retries=0)
    def fan(ctx: inngest.ContextSync) -> None:
        ctx.step.parallel((lambda: 1,))

    with simulate(fan) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = sim.runs("shop-fan")[0].error
    assert isinstance(error, AttributeError)
    assert str(error).startswith("inngest-py 0.5 has no step.parallel; run steps in parallel with ctx.group.parallel(")


# -- ctx --------------------------------------------------------------------------------------------
def test_ctx_is_inngest_pys_context_with_event_events_attempt_and_run_id(client):
    seen = []

    @client.create_function(
        fn_id="digest", trigger=trigger("note"), batch_events=inngest.Batch(max_size=3, timeout=dt.timedelta(minutes=1))
    )
    def digest(ctx: inngest.ContextSync) -> None:
        seen.append((type(ctx), ctx.event, ctx.events, ctx.attempt, ctx.run_id))

    with simulate(digest) as sim:
        sim.send([jobsim.Event("note", {"n": n}, id=f"n{n}") for n in (1, 2, 3)])
        sim.run_until_idle()
    ctx_type, first, events, attempt, run_id = seen[0]
    assert ctx_type is inngest.ContextSync and attempt == 0 and run_id == sim.runs("shop-digest")[0].id
    assert isinstance(first, inngest.Event) and first.id == "n1" and [e.data["n"] for e in events] == [1, 2, 3]
    assert first.ts == sim.events[0].ts


def test_ctx_logger_is_silent_while_memoized_steps_replay(client, caplog):
    @client.create_function(fn_id="chatty", trigger=trigger())
    def chatty(ctx: inngest.ContextSync) -> None:
        ctx.logger.info("before a")
        ctx.step.run("a", lambda: None)
        ctx.logger.info("between")
        ctx.step.run("b", lambda: None)
        ctx.logger.info("after b")

    caplog.set_level(logging.INFO, logger="inngest")
    with simulate(chatty, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    # three requests: [before a, a], [between, b], [after b]: each line logged once, as on Inngest
    assert [r.getMessage() for r in caplog.records if r.name.startswith("inngest")] == [
        "before a",
        "between",
        "after b",
    ]


def test_experimental_step_decorator_becomes_a_step(client):
    calls = []

    @inngest.experimental.step("lookup")
    def lookup(n):
        calls.append(n)
        return n + 1

    @client.create_function(fn_id="deco", trigger=trigger())
    def deco(ctx: inngest.ContextSync) -> int:
        value = lookup(1)
        ctx.step.sleep("pause", 1000)
        return value

    with simulate(deco) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-deco")[0]
    assert run.output == 2 and calls == [1] and "lookup" in run.steps


class Receipt(pydantic.BaseModel):
    total: int


def test_output_type_goes_through_the_clients_serializer():
    client = inngest.Inngest(app_id="shop", is_production=False, serializer=inngest.PydanticSerializer())
    seen = []

    @client.create_function(fn_id="bill", trigger=trigger(), output_type=Receipt)
    def bill(ctx: inngest.ContextSync) -> Receipt:
        receipt = ctx.step.run("make", lambda: Receipt(total=5), output_type=Receipt)
        ctx.step.sleep("pause", 1000)
        seen.append(receipt)
        return receipt

    with simulate(bill, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("shop-bill")[0].output == {"total": 5}  # stored as JSON
    assert seen[-1] == Receipt(total=5)  # replayed through the serializer


def test_bad_step_arguments_are_named(client):
    @client.create_function(fn_id="bad", trigger=trigger(), retries=0)
    def bad(ctx: inngest.ContextSync) -> None:
        ctx.step.wait_for_event("w", event="x", timeout=500)  # ms: below inngest-py's 1 s minimum

    with simulate(bad) as sim:
        sim.send("go")
        sim.run_until_idle()
    error = sim.runs("shop-bad")[0].error
    assert isinstance(error, jobsim.InvalidArgument)
    assert str(error) == (
        "timeout=500 is not valid: inngest-py requires a whole number of seconds, at least 1 s (ints are milliseconds)"
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's step raises
def test_step_misuse_names_inngest_pys_parallel_api(client):
    """jobsim's own message points at ``ctx.step.parallel``, which inngest-py 0.5 does not have."""
    import threading

    @client.create_function(fn_id="nested", trigger=trigger(), retries=0)
    def nested(ctx: inngest.ContextSync) -> None:
        ctx.step.run("outer", lambda: ctx.step.run("inner", lambda: 1))

    @client.create_function(fn_id="threaded", trigger=trigger(), retries=0)
    def threaded(ctx: inngest.ContextSync) -> None:
        worker = threading.Thread(target=lambda: ctx.step.run("t", lambda: 1))
        worker.start()
        worker.join()

    with simulate([nested, threaded], client) as sim:
        sim.send("go")
        sim.run_until_idle()
    for fn in (nested, threaded):
        message = str(sim.runs(fn)[0].error)
        assert "ctx.group.parallel((lambda: ctx.step.run(...), ...)) (inngest-py has no step.parallel)" in message
        assert "ctx.step.parallel(" not in message


def test_a_timeout_is_what_inngest_py_sends_whole_milliseconds(client):
    """``to_duration_str`` takes ``int(total_seconds() * 1000)``: 1 s and 500 µs is sent as "1s"."""
    @client.create_function(fn_id="waiter", trigger=trigger())
    def waiter(ctx: inngest.ContextSync) -> None:
        ctx.step.wait_for_event("w", event="never", timeout=dt.timedelta(seconds=1, microseconds=500))

    with simulate(waiter, client) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert secs(sim.runs(waiter)[0].end_ns) == 1


def test_a_step_output_past_4_mib_fails_the_request_and_is_retried(client):
    """Inngest's server refuses the answer (``GeneratorOpcode.Validate``, ``consts.MaxStepOutputSize``)."""
    calls = []

    def big() -> str:
        calls.append(1)
        return "x" * (5 * 1024 * 1024)

    @client.create_function(fn_id="calc", trigger=trigger(), retries=1)
    def calc(ctx: inngest.ContextSync) -> int:
        return len(ctx.step.run("big", big))

    with simulate(calc) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-calc")[0]
    assert run.status == "failed" and len(run.attempts) == 2 and len(calls) == 2
    assert isinstance(run.error, jobsim.StepOutputTooLarge) and run.error.step == "big"
