"""A TriggerEvent expression or an if_exp Inngest's CEL would refuse (Python's spellings) is refused, and bools
are not numbers, as in CEL: no event starts a run, or resolves a wait, on Python's reading."""

from __future__ import annotations

import datetime as dt

import inngest
import pytest
from inngest_support import simulate

import jobsim


def test_a_trigger_expression_in_python_spelling_is_refused_when_the_simulation_starts(client):
    @client.create_function(fn_id="vip", trigger=inngest.TriggerEvent(
        event="order", expression="event.data.tier == 'gold' and event.data.amount > 100"))
    def vip(ctx: inngest.ContextSync) -> str:
        return "vip"

    with pytest.raises(jobsim.InvalidArgument, match=r"'shop-vip'.*'and' is Python, not CEL.*CEL writes '&&'"):
        simulate(vip, client).start()


def test_a_bool_field_does_not_equal_one(client):
    @client.create_function(fn_id="flagged", trigger=inngest.TriggerEvent(event="order",
                                                                          expression="event.data.rush == 1"))
    def flagged(ctx: inngest.ContextSync) -> str:
        return "rush"

    @client.create_function(fn_id="waits", trigger=inngest.TriggerEvent(event="start"))
    def waits(ctx: inngest.ContextSync) -> object:
        paid = ctx.step.wait_for_event("paid", event="paid", if_exp="async.data.amount > 0",
                                       timeout=dt.timedelta(minutes=1))  # fmt: skip
        return None if paid is None else paid.data

    with simulate(flagged, waits, client) as sim:
        sim.send("order", data={"rush": True})
        sim.send("start")
        sim.advance("1s")
        sim.send("paid", data={"amount": True})  # a bool: CEL has no '>' for it and a number
        sim.run_until_idle()
    assert sim.runs(flagged) == []
    assert sim.runs(waits)[0].output is None  # timed out


def test_cel_words_inside_a_key_literal_are_data(client):
    """The key parser turned ``true``/``false``/``null`` into Python's everywhere, inside string literals too:
    ``"-null-"`` became ``-None-`` and ``"false"`` became ``False``."""
    @client.create_function(fn_id="keyed", trigger=inngest.TriggerEvent(event="go"),
                            concurrency=[inngest.Concurrency(limit=1, key='event.data.org + "-null-true"')],
                            throttle=inngest.Throttle(limit=1, period=60_000, key='"false"'))  # fmt: skip
    def keyed(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(keyed, client) as sim:
        flow = sim.functions["shop-keyed"].flow
        event = jobsim.Event("go", {"org": "acme"})
        assert flow.concurrency[0].key_fn(event) == "acme-null-true"
        assert flow.throttle.key_fn(event) == "false"


def test_a_key_in_python_spelling_is_refused(client):
    @client.create_function(fn_id="keyed", trigger=inngest.TriggerEvent(event="go"),
                            rate_limit=inngest.RateLimit(limit=1, period=dt.timedelta(minutes=1), key="None"))
    def keyed(ctx: inngest.ContextSync) -> None:
        return None

    with pytest.raises(jobsim.InvalidArgument, match=r"'None' is Python, not CEL.*CEL writes 'null'"):
        simulate(keyed, client).start()
