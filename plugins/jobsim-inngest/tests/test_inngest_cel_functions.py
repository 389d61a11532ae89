"""CEL's functions in keys, priorities and trigger expressions, as Inngest's expression engine evaluates them
(``jobsim/_celfuncs.py``'s docstring: cel-go's stdlib and macros, Inngest's ``lowercase``/``uppercase``,
``handleUnknownCall`` for a missing operand, a CEL error for a wrong type)."""

from __future__ import annotations

import datetime as dt

import inngest
import pytest
from inngest_support import simulate
from jobsim_inngest._cel import compile_value

import jobsim

EVENT = jobsim.Event("go", {"email": "Ann@Example.COM", "tags": ["a", "b"], "title": "héllo", "n": 5,
                            "from": "shop", "plan": "pro", "m": {"k": 1}})  # fmt: skip


def _error() -> str:
    return "<error>"


@pytest.mark.parametrize(("expression", "value"), [
    ("lowercase(event.data.email)", "ann@example.com"),
    ("uppercase(event.data.plan)", "PRO"),
    ("size(event.data.tags)", 2),
    ("event.data.title.size()", 5),  # code points
    ("size(event.data.missing)", 0),  # handleUnknownCall
    ("event.data.title.startsWith('hé')", True),
    ("event.data.title.endsWith('x')", False),
    ("event.data.title.contains('ll')", True),
    ("event.data.title.matches('l+o$')", True),
    ("event.data.missing.contains('x')", False),
    ("lowercase(event.data.missing)", False),  # a call on an unknown: false
    ("has(event.data.email)", True),
    ("has(event.data.missing)", False),  # unknown, false once it is the result (cel.go : eval)
    ("event.data.plan in ['pro', 'max']", True),
    ("'k' in event.data.m", True),
    ("event.data.missing in ['pro']", False),
    ("event.data.from + '-' + lowercase(event.data.email)", "shop-ann@example.com"),
    ("double(event.data.n) - 1.0", 4.0),
    ("has(event.data.region) ? event.data.region : 'none'", "none"),  # unknown: a falsy condition
    ("has(event.data.plan) ? lowercase(event.data.plan) : 'none'", "pro"),
    ("size(event.data.tags) > 1 ? 'many' : 'few'", "many"),
    ("'b' in event.data.tags ? 1 : 0", 1),
    # a wrong type at evaluation: a CEL error, the option's on_error
    ("size(event.data.n)", "<error>"),
    ("lowercase(event.data.n)", "<error>"),
    ("event.data.n.startsWith('5')", "<error>"),
    ("'a' in event.data.title", "<error>"),
    ("event.data.title.matches(event.data.plan + '(?=x)')", "<error>"),  # a lookahead: RE2 has none
])  # fmt: skip
def test_key_values(expression, value):
    got = compile_value(expression, "key", _error)(EVENT)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("expression", "message"), [
    ("size(1)", "no overload of size for a int"),
    ("'a' in 1", "no overload of in for a int"),
    ("1.startsWith('a')", "no overload of startsWith for a int"),
    ("lower(event.data.a)", r"unknown function lower\(\)"),
    ("event.data.tags.exists(t, t == 'a')", "jobsim reads no macro"),
    ("event.data.a == 'x'", "a CEL key"),  # a comparison belongs in a conditional
    ("'a' 'b'", "two string literals side by side"),
    ("event.data.in", r"'\.in' is a syntax error in CEL"),
    ("event.data.a + if", "'if' is a reserved word in CEL"),
])  # fmt: skip
def test_keys_refused(expression, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        compile_value(expression, "key")


def test_python_keywords_are_field_names_in_keys():
    assert compile_value("event.data.from", "key")(EVENT) == "shop"
    assert compile_value("event.data.class", "key")(jobsim.Event("go", {"class": "gold"})) == "gold"
    assert compile_value("event.data.import + event.data.lambda", "key")(
        jobsim.Event("go", {"import": "a", "lambda": "b"})) == "ab"


def test_a_lowercased_key_shares_one_limit_and_a_failing_key_is_the_options_own(client):
    @client.create_function(fn_id="keyed", trigger=inngest.TriggerEvent(event="go"),
                            throttle=inngest.Throttle(limit=1, period=60_000, key="lowercase(event.data.email)"),
                            rate_limit=inngest.RateLimit(limit=1, period=dt.timedelta(minutes=1),
                                                         key="lowercase(event.data.email)"))  # fmt: skip
    def keyed(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(keyed, client) as sim:
        flow = sim.functions["shop-keyed"].flow
        assert flow.throttle.key_fn(jobsim.Event("go", {"email": "A@X"})) == "a@x"
        assert flow.throttle.key_fn(jobsim.Event("go", {"email": 5})) == "false"  # an error: false, ignored
        with pytest.raises(jobsim._expr.Unevaluable):  # rate limit: an error schedules no run
            flow.rate_limit.key_fn(jobsim.Event("go", {"email": 5}))
        sim.send("go", data={"email": "A@X"})
        sim.send("go", data={"email": "a@x"})  # the same key: the rate limit skips it
        sim.run_until_idle()
    assert [run.status for run in sim.runs(keyed)] == ["completed", "skipped"]


def test_trigger_expressions_with_cel_functions(client):
    @client.create_function(fn_id="vip", trigger=inngest.TriggerEvent(
        event="order", expression="'vip' in event.data.tags && event.data.email.endsWith('@example.com') "
                                  "&& size(event.data.items) > 1 && !has(event.data.test)"))  # fmt: skip
    def vip(ctx: inngest.ContextSync) -> str:
        return "vip"

    with simulate(vip, client) as sim:
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "items": [1, 2]})  # !has: unknown
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "items": [1, 2], "test": False})
        sim.send("order", data={"tags": ["x"], "email": "a@example.com", "items": [1, 2], "test": False})
        sim.send("order", data={"tags": ["vip"], "email": 7, "items": [1, 2], "test": False})  # a CEL error
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "items": [1], "test": False})
        sim.run_until_idle()
    assert len(sim.runs(vip)) == 0  # has() of a present field is true, so !has() false; of a missing one unknown

    @client.create_function(fn_id="vip2", trigger=inngest.TriggerEvent(
        event="order", expression="'vip' in event.data.tags && event.data.email.endsWith('@example.com') "
                                  "&& size(event.data.items) > 1 && event.data.from == 'web'"))  # fmt: skip
    def vip2(ctx: inngest.ContextSync) -> str:
        return "vip"

    with simulate(vip2, client) as sim:
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "items": [1, 2], "from": "web"})
        sim.send("order", data={"tags": ["x"], "email": "a@example.com", "items": [1, 2], "from": "web"})
        sim.send("order", data={"tags": ["vip"], "email": 7, "items": [1, 2], "from": "web"})
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "items": [1], "from": "web"})
        sim.send("order", data={"tags": ["vip"], "email": "a@example.com", "from": "web"})  # size(missing) is 0
        sim.run_until_idle()
    assert len(sim.runs(vip2)) == 1


def test_a_cancellation_if_with_a_function_is_refused_as_inngest_does(client):
    @client.create_function(fn_id="job", trigger=inngest.TriggerEvent(event="go"),
                            cancel=[inngest.Cancel(event="stop", if_exp="async.data.reason.contains('x')")])
    def job(ctx: inngest.ContextSync) -> None:
        return None

    with pytest.raises(jobsim.InvalidArgument, match="DefaultRestrictiveValidationPolicy"):
        simulate(job, client).start()


def test_a_wait_condition_with_functions(client):
    @client.create_function(fn_id="waits", trigger=inngest.TriggerEvent(event="start"))
    def waits(ctx: inngest.ContextSync) -> object:
        paid = ctx.step.wait_for_event("paid", event="paid", timeout=dt.timedelta(minutes=1),
                                       if_exp="async.data.sku in event.data.skus && has(async.data.amount)")
        return None if paid is None else paid.data["sku"]

    with simulate(waits, client) as sim:
        sim.send("start", data={"skus": ["a", "b"]})
        sim.advance("1s")
        sim.send("paid", data={"sku": "z", "amount": 1})
        sim.send("paid", data={"sku": "a"})  # has(): unknown
        sim.send("paid", data={"sku": "b", "amount": 1})
        sim.run_until_idle()
    assert sim.runs(waits)[0].output == "b"
