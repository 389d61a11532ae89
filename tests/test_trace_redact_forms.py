"""Redaction of form bodies and query strings: the fields' names rule there as JSON fields' names do.

A person's name, phone number, street address, username or IP at a form field or query parameter named for
it (``name`` beside an ``email``, ``first_name``, ``phone``, ``address``, ...) is faked as at a JSON field,
with the same fake; ``Redaction(fields=...)`` reaches them, by the whole name or a nested field's own
(``user[nickname]``); Stripe's ``card[number]`` / ``card[cvc]`` are secrets.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

import jobsim
from jobsim import Redaction, traces
from jobsim._redact import Redactor
from jobsim._secrets import MARKER, query_field, secret_query

PERSON = {"email": "ada.lovelace@gmail.com", "name": "Ada Lovelace", "phone": "+14155550100",
          "address": "12 Analytical Row", "username": "countess_ada"}  # fmt: skip


@pytest.fixture(autouse=True)
def builtin_key(monkeypatch):
    monkeypatch.delenv("JOBSIM_REDACT_KEY", raising=False)


def _app() -> jobsim.App:
    app = jobsim.App("forms")

    @app.function("signup", on="user/created")
    def signup(ctx):
        d = ctx.event.data
        ctx.step.run("crm", lambda: httpx.post(
            "https://crm.example.org/contacts",
            params={"name": d["name"], "email": d["email"], "phone": d["phone"], "source": "web"},
            data={"first_name": d["name"].split()[0], "last_name": d["name"].split()[1], "address": d["address"],
                  "username": d["username"], "ip": "203.0.113.77", "plan": "pro"},
        ).status_code)
        return f"Welcome, {d['name'].split()[0]}!"

    return app


def _record(app: jobsim.App, **data: str) -> jobsim.Simulation:
    with jobsim.Simulation(app) as sim:
        sim.http.post(url__startswith="https://crm.example.org/contacts").respond(201)
        sim.send("user/created", {**PERSON, **data})
        sim.run_until_idle()
    return sim


def _saved(sim: jobsim.Simulation, tmp_path, **options) -> tuple[str, list[dict]]:
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl", **options)
    text = path.read_text()
    return text, [orjson.loads(line) for line in text.splitlines()]


def _form(lines: list[dict]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    http = next(line for line in lines if line["k"] == "http")
    return parse_qs(urlsplit(http["url"]).query), parse_qs(http["request"]["body"]["text"])


def test_people_in_a_query_and_a_form_body_get_the_fakes_their_json_fields_get(tmp_path):
    text, lines = _saved(_record(_app()), tmp_path)
    for value in ("Ada", "Lovelace", "4155550100", "Analytical", "countess_ada", "203.0.113.77", "gmail"):
        assert value not in text, value
    event = lines[1]["ce"]["data"]
    query, form = _form(lines)
    assert query["name"] == [event["name"]]  # decoded: "Carolyn+Alexandria" in the URL
    assert query["email"] == [event["email"]] and query["phone"] == [event["phone"]]
    assert query["source"] == ["web"]  # no rule: kept
    first, last = event["name"].split()
    assert form["first_name"] == [first] and form["last_name"] == [last]  # a name's words fake word by word
    assert form["address"] == [event["address"]] and form["username"] == [event["username"]]
    assert form["ip"] != ["203.0.113.77"] and form["plan"] == ["pro"]
    end = next(line for line in lines if line["k"] == "run.end")
    assert end["output"] == f"Welcome, {first}!"  # the name learned from the query is found in free text too
    assert traces.scan(tmp_path / "t.jobsim.jsonl", pii=True) == []


def test_fields_rules_reach_form_fields_and_query_parameters_nested_ones_too():
    redactor = Redaction(fields={"nickname": "name", "plan": "drop", "Source": "keep"}).redactor()
    text = "https://x.example.org/u?user[nickname]=Bobby+Tables&plan=gold&source=Ada&card=ok"
    out = redactor.text(text)
    query = parse_qs(urlsplit(out).query)
    assert query["plan"] == [MARKER]
    assert query["user[nickname]"] != ["Bobby Tables"] and len(query["user[nickname]"][0].split()) == 2
    assert query["source"] == ["Ada"] and query["card"] == ["ok"]  # kept, and no rule


def test_stripe_form_encoded_cards_are_secrets_and_a_plain_number_or_name_is_not():
    redactor = Redaction().redactor()
    body = "amount=2000&card[number]=4242424242424242&card[exp_month]=12&card[cvc]=314&metadata[order]=A-17"
    assert redactor.text(body) == (
        f"amount=2000&card[number]={MARKER}&card[exp_month]=12&card[cvc]={MARKER}&metadata[order]=A-17")
    assert redactor.text("number=4242424242424242&exp_month=12") == f"number={MARKER}&exp_month=12"  # a card's
    assert redactor.text("page=2&number=7") == "page=2&number=7"  # an order's, a page's
    assert redactor.text("https://files.example.org/get?name=report.pdf&v=2") == (
        "https://files.example.org/get?name=report.pdf&v=2")  # a plain name with no email, phone or address beside
    assert secret_query("card%5Bcvc%5D") and secret_query("user[password]") and not secret_query("card[brand]")
    assert [query_field(n) for n in ("card[cvc]", "a[b][line1]", "emails[]", "plain", "odd]")] == (
        ["cvc", "line1", "emails", "plain", "odd]"])


def test_a_value_keeps_its_encoding_of_spaces():
    redactor: Redactor = Redaction().redactor()
    plus = redactor.text("first_name=Ada&last_name=Byron+King")
    percent = redactor.text("first_name=Ada&last_name=Byron%20King")
    assert "+" in plus.split("last_name=")[1] and "%20" in percent.split("last_name=")[1]
    assert plus.replace("+", "%20") == percent


def test_secrets_only_keeps_people_in_forms_and_drops_the_secret_fields(tmp_path):
    app = _app()
    _, lines = _saved(_record(app), tmp_path, redact=Redaction(pseudonymize=False, fields={"plan": "drop"}))
    query, form = _form(lines)
    assert query["name"] == ["Ada Lovelace"] and form["first_name"] == ["Ada"]
    assert form["plan"] == [MARKER]


def test_a_name_only_an_error_quotes_is_faked_not_kept(tmp_path):
    """An attempt's error is not read by the first pass: a name first met there is faked as it is rewritten,
    and a save in two processes still writes one process's bytes."""
    app = jobsim.App("err")

    @app.function("lookup", on="go", retries=0)
    def lookup(ctx):
        raise RuntimeError("404 for url 'https://crm.example.org/find?name=Grace+Hopper&email=grace%40navy.mil'")

    with jobsim.Simulation(app) as sim:
        sim.send("go", {})
        sim.run_until_idle()
    text, lines = _saved(sim, tmp_path)
    assert "Grace" not in text and "Hopper" not in text and "navy.mil" not in text
    error = next(line for line in lines if line["k"] == "attempt")["error"]
    assert "name=" in error and f"name={MARKER}" not in error
    if hasattr(os, "fork"):
        two = sim.trace.save(tmp_path / "two.jobsim.jsonl", workers=2)
        assert two.read_text() == text


def test_a_redacted_trace_replays_equal_and_saves_the_same_bytes_in_two_processes(tmp_path):
    app = _app()
    sim = _record(app, name="Grace Hopper", email="grace.hopper@gmail.com")
    path = sim.trace.save(tmp_path / "one.jobsim.jsonl", workers=1)
    if hasattr(os, "fork"):
        two = sim.trace.save(tmp_path / "two.jobsim.jsonl", workers=2)
        assert two.read_bytes() == path.read_bytes()
    result = jobsim.Simulation.replay(path, app)
    assert result.same, result.report()
