"""Inngest.send/send_sync go to jobsim's bus inside a simulation, and never to the network."""

from __future__ import annotations

import datetime as dt
import socket

import inngest
import pytest
from inngest_support import event, now_s, secs, simulate

import jobsim

ORIGINAL_SEND, ORIGINAL_SEND_SYNC = inngest.Inngest.send, inngest.Inngest.send_sync


class SocketOpened(Exception):
    """Raised by the guard: something tried to reach the network."""


@pytest.fixture
def no_network(monkeypatch):
    """Every way to open a connection records the attempt and raises."""
    attempts: list[object] = []

    def guard(*args, **kwargs):
        attempts.append(args[:1])
        raise SocketOpened(f"a socket was opened: {args[:1]}")

    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket, "getaddrinfo", guard)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: guard(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: guard(address))
    return attempts


def test_sends_from_functions_and_tests_reach_the_bus_and_no_socket_opens(client, no_network):
    received = []

    @client.create_function(fn_id="signup", trigger=inngest.TriggerEvent(event="user/created"))
    def signup(ctx: inngest.ContextSync) -> list:
        ctx.step.sleep("settle", 60_000)
        return client.send_sync(event("crm/sync", user=ctx.event.data["user"]))

    @client.create_function(fn_id="audit", trigger=inngest.TriggerEvent(event="crm/sync"))
    async def audit(ctx: inngest.Context) -> list:
        return await client.send([event("audit/logged", n=1), event("audit/logged", n=2)])

    @client.create_function(fn_id="count", trigger=inngest.TriggerEvent(event="audit/logged"))
    def count(ctx: inngest.ContextSync) -> None:
        received.append((ctx.event.data["n"], now_s()))

    with simulate([signup, audit, count], client) as sim:
        ids = client.send_sync(event("user/created", user="ada"))  # from the test itself
        sim.run_until_idle()
        assert sim.http.calls == []  # never reached httpx either
    assert no_network == []
    assert [(e.name, secs(e.ts * 1_000_000)) for e in sim.events] == [
        ("user/created", 0), ("crm/sync", 60), ("audit/logged", 60), ("audit/logged", 60)
    ]  # fmt: skip
    assert ids == [sim.events[0].id]
    assert sim.runs("shop-signup")[0].output == [sim.events[1].id]
    assert sim.runs("shop-audit")[0].output == [e.id for e in sim.events[2:]]
    assert received == [(1, 60), (2, 60)]


def test_the_patch_is_removed_when_the_simulation_closes(client, no_network):
    fn = client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="x"))(lambda ctx: None)
    with simulate(fn):
        assert inngest.Inngest.send_sync is not ORIGINAL_SEND_SYNC
    assert inngest.Inngest.send_sync is ORIGINAL_SEND_SYNC and inngest.Inngest.send is ORIGINAL_SEND
    with pytest.raises(SocketOpened):  # the control: outside a simulation the real client dials out
        client.send_sync(event("x"))
    assert len(no_network) == 1


def test_a_client_alone_routes_sends_from_a_jobsim_app(client, no_network):
    app = jobsim.App("legacy")

    @app.function("notify", on="order/paid")
    def notify(ctx):
        return client.send_sync(event("email/send", order=ctx.event.data["order"]))

    with simulate(app, client) as sim:
        sim.send("order/paid", {"order": 7})
        sim.run_until_idle()
    assert [e.name for e in sim.events] == ["order/paid", "email/send"] and no_network == []


def test_with_two_simulations_an_event_goes_to_the_one_running_the_code(client):
    def build():
        one = inngest.Inngest(app_id="one", is_production=False)

        @one.create_function(fn_id="relay", trigger=inngest.TriggerEvent(event="ping"))
        def relay(ctx: inngest.ContextSync) -> None:
            one.send_sync(event("pong"))

        return relay

    first, second = simulate(build()), simulate(build())
    with first, second:
        first.send("ping")
        first.run_until_idle()  # the job code runs in `first`: its pong lands there
        client.send_sync(event("from-test"))  # test code: the simulation started last
    assert [e.name for e in first.events] == ["ping", "pong"]
    assert [e.name for e in second.events] == ["from-test"]
    assert inngest.Inngest.send_sync is ORIGINAL_SEND_SYNC


def test_sending_something_that_is_not_an_inngest_event_is_named(client):
    fn = client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="x"))(lambda ctx: None)
    with simulate(fn), pytest.raises(jobsim.InvalidArgument) as info:
        client.send_sync({"name": "x"})
    assert str(info.value) == (
        "events={'name': 'x'} is not valid: "
        "inngest.Event(name=..., data={...}) or a list of them, as inngest-py accepts"
    )


def test_sim_send_takes_an_inngest_event_as_client_send_would_send_it(client):
    """sim.send(inngest.Event(...)) was refused as "not ... an Event": the plugin converts it (hook jobsim_event),
    encoded as inngest-py encodes it (a datetime in pydantic's JSON mode), with its id; a list of them too."""
    import datetime as dt

    @client.create_function(fn_id="paid", trigger=inngest.TriggerEvent(event="order/paid"))
    def paid(ctx: inngest.ContextSync) -> dict:
        return ctx.event.data

    with simulate(paid, client) as sim:
        first = inngest.Event(name="order/paid", data={"order": 1}, id="pay-1")
        first.data["at"] = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)  # set after validation, as apps do
        assert sim.send(first) == ["pay-1"]
        sim.send([inngest.Event(name="order/paid", data={"order": 2})])
        with pytest.raises(jobsim.InvalidArgument, match=r"^pass either an event or a name with data, not both$"):
            sim.send(inngest.Event(name="order/paid"), {"order": 3})
        sim.run_until_idle()
    assert [r.output for r in sim.runs(paid)] == [{"order": 1, "at": "2025-03-01T00:00:00Z"}, {"order": 2}]
    assert sim.events[0].id == "pay-1"


def test_a_repeated_event_id_starts_no_second_run_but_stays_on_the_bus_as_on_inngest(client):
    fn = client.create_function(fn_id="pay", trigger=inngest.TriggerEvent(event="order/paid"))(lambda ctx: None)
    with simulate(fn) as sim:
        paid = inngest.Event(name="order/paid", data={"order": 1}, id="pay-1")
        assert client.send_sync([paid, paid]) == ["pay-1", "pay-1"]
        sim.run_until_idle()
    assert [r.status for r in sim.runs("shop-pay")] == ["completed", "skipped"]
    assert [e.id for e in sim.events] == ["pay-1", "pay-1"] and sim.bus.dropped == []


def test_a_repeated_event_id_resumes_a_wait_and_cancels_a_run_and_is_keyed_per_function(client):
    """runner.go: a repeat is stored and matched against waits and cancellations (pauses); only
    ``Initialize`` skips, by function + event id, so a function whose `if` refused the first runs."""
    @client.create_function(fn_id="cart", trigger=inngest.TriggerEvent(event="cart/opened"))
    def cart(ctx: inngest.ContextSync) -> object:
        paid = ctx.step.wait_for_event("paid", event="cart/paid", if_exp="event.data.cart == async.data.cart",
                                       timeout=dt.timedelta(hours=1))
        return None if paid is None else paid.data["total"]

    @client.create_function(fn_id="remind", trigger=inngest.TriggerEvent(event="cart/opened"),
                            cancel=[inngest.Cancel(event="cart/paid", if_exp="event.data.cart == async.data.cart")])
    def remind(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("wait", dt.timedelta(hours=2))
        return "reminded"

    @client.create_function(fn_id="big", trigger=inngest.TriggerEvent(event="cart/paid",
                                                                       expression="event.data.total > 100"))
    def big(ctx: inngest.ContextSync) -> object:
        return ctx.event.data["total"]

    with simulate(cart, remind, big) as sim:
        client.send_sync(inngest.Event(name="cart/paid", data={"cart": "c0", "total": 5}, id="pay-1"))
        client.send_sync(inngest.Event(name="cart/opened", data={"cart": "c1"}))
        sim.advance("10m")
        client.send_sync(inngest.Event(name="cart/paid", data={"cart": "c1", "total": 150}, id="pay-1"))
        sim.run_until_idle()
    (waited,) = sim.runs("shop-cart")
    (reminded,) = sim.runs("shop-remind")
    assert (waited.status, waited.output, secs(waited.end_ns)) == ("completed", 150, 600)
    assert (reminded.status, secs(reminded.end_ns)) == ("cancelled", 600)
    assert [r.output for r in sim.runs("shop-big")] == [150]  # its `if` was false for the first: no run for pay-1


def test_a_simulation_without_inngest_functions_refuses_sends_instead_of_reaching_the_event_api(client, no_network):
    """A test that forgot to pass its inngest-py functions: send/send_sync would POST the events to the client's
    event API (a running dev server would start real runs; Cloud with is_production=True). Refused, naming the
    fix; a simulation given the functions routes them to its bus as before."""
    import asyncio
    import re

    @client.create_function(fn_id="welcome", trigger=inngest.TriggerEvent(event="user/created"))
    def welcome(ctx: inngest.ContextSync) -> str:
        return "sent"

    app = jobsim.App("signup")

    @app.function(id="signup", on="form/submitted")
    def signup(ctx):
        return client.send_sync(event("user/created", user="ada"))

    message = (rf"^inngest client {client.app_id!r} is not part of this simulation: send(_sync)? would send "
               r"\['user/created'\] to its real event API \(http.*\)\. This simulation runs no inngest-py function: "
               r"pass the functions \(and their client\), e\.g\. jobsim\.Simulation\(\[fn, \.\.\.\], "
               r"client\)")  # fmt: skip
    with jobsim.Simulation(app) as sim:
        with pytest.raises(jobsim.JobsimError, match=message):
            client.send_sync(event("user/created", user="ada"))
        with pytest.raises(jobsim.JobsimError, match=message):
            asyncio.run(client.send([event("user/created", user="ada")]))
        sim.send("form/submitted", {})
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("signup")[0].error))  # the function's own failure
    assert no_network == []
    assert (inngest.Inngest.send, inngest.Inngest.send_sync) == (ORIGINAL_SEND, ORIGINAL_SEND_SYNC)
    with jobsim.Simulation(app, welcome, client) as sim:  # passed: both run
        sim.send("form/submitted", {})
        sim.run_until_idle()
        assert [r.output for r in sim.runs(welcome)] == ["sent"]
    assert (inngest.Inngest.send, inngest.Inngest.send_sync) == (ORIGINAL_SEND, ORIGINAL_SEND_SYNC)


def test_event_and_invoke_data_are_encoded_as_inngest_py_encodes_them(client):
    """inngest-py sends event and invoke data through pydantic's JSON mode (``to_dict``): a UTC datetime
    ends in "Z", a Decimal and a timedelta become strings, a set a list — where jobsim alone refused some."""
    import datetime as dt
    import decimal

    seen = []

    @client.create_function(fn_id="callee", trigger=inngest.TriggerEvent(event="never/sent"))
    def callee(ctx: inngest.ContextSync) -> dict:
        return ctx.event.data

    @client.create_function(fn_id="caller", trigger=inngest.TriggerEvent(event="go"))
    def caller(ctx: inngest.ContextSync) -> None:
        seen.append(ctx.event.data)
        seen.append(ctx.step.invoke("i", function=callee, data={
            "at": dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc), "price": decimal.Decimal("1.50"),
            "wait": dt.timedelta(seconds=90), "tags": {"a"},
        }))  # fmt: skip

    with simulate([caller, callee], client) as sim:
        event = inngest.Event(name="go", data={})
        event.data["at"] = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)  # set after validation, as apps do
        client.send_sync(event)
        sim.run_until_idle()
    assert seen[0] == {"at": "2025-03-01T00:00:00Z"}
    assert seen[-1].pop("_inngest")["fn_id"] == "shop-callee"  # the server's invoke metadata (test_inngest_steps)
    assert seen[-1] == {"at": "2025-03-01T12:00:00Z", "price": "1.50", "wait": "PT1M30S", "tags": ["a"]}
