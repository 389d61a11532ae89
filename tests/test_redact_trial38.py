"""Trial 38's findings on redaction and ``jobsim scan``: a dropped value quoted in a URL's path, ordinary words
rewritten as names, lower-case full names, Stripe ids and Telegram tokens, ``label: value`` secrets in errors,
scan's false alarms on jobsim's own output, and ``Redaction`` options that did nothing."""

from __future__ import annotations

import urllib.parse

import httpx
import orjson
import pytest

import jobsim
from jobsim import Redaction, traces
from jobsim._secrets import MARKER, drop_secrets, find_secrets

START = "2025-03-01T09:00:00Z"


def _lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


def _output(path) -> object:
    return next(line for line in _lines(path) if line["k"] == "run.end")["output"]


# -- 1. a dropped value quoted in a URL's path, or percent-encoded --------------------------------------------
KEY = "Kq7Wm2Xp9Rt4Vz8Ln3"
TOKEN = "sess+Tok/123==abcdefXYZ"


def _echoing_app() -> jobsim.App:
    app = jobsim.App("echo")

    @app.function("f", on="hook/in", retries=0)
    def f(ctx):
        key = ctx.event.data["api_key"]
        ctx.step.run("usage", lambda: httpx.get(f"https://api.example.org/v1/keys/{key}/usage").status_code)
        tok = ctx.step.run("login", lambda: httpx.post("https://auth.example.org/login").json()["session_token"])
        quoted, encoded = httpx.URL(f"https://x/{tok}").path, urllib.parse.quote(tok, safe="")
        ctx.step.run("use", lambda: httpx.get(f"https://api.example.org/v1/sessions/{tok}/items?cursor={encoded}"
                                              f"&c2={quoted}").status_code)
        return {"note": f"key {key}.json and path /keys/{key}/usage", "enc": urllib.parse.quote(tok)}

    return app


def test_a_dropped_value_quoted_in_a_url_path_or_percent_encoded_is_dropped_there_too(tmp_path):
    with jobsim.Simulation(_echoing_app(), start=START) as sim:
        sim.http.get(url__regex=r"https://api\.example\.org/v1/.*").respond(200)
        sim.http.post("https://auth.example.org/login").respond(200, json={"session_token": TOKEN})
        sim.send("hook/in", {"api_key": KEY})
        sim.run_until_idle()
    assert sim.runs("f")[0].status == "completed"
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    text = path.read_text()
    for quoted in (KEY, TOKEN, "sess%2BTok%2F123%3D%3DabcdefXYZ", "sess%2BTok/123%3D%3DabcdefXYZ"):
        assert quoted not in text, quoted
    urls = [line["url"] for line in _lines(path) if line["k"] == "http"]
    assert f"https://api.example.org/v1/keys/{MARKER}/usage" in urls  # the path's other segments stay
    assert _output(path)["note"] == f"key {MARKER}.json and path /keys/{MARKER}/usage"
    assert traces.scan(path) == []


def test_a_url_path_that_only_shares_a_part_with_a_dropped_value_stays():
    redactor = Redaction().redactor()
    redactor._learn_secret("abcd1234/efgh5678")  # a secret holding a slash: its tokens and their parts
    assert redactor.text("https://h/x/abcd1234/efgh5678/y") == f"https://h/x/{MARKER}/y"
    assert redactor.text("https://h/x/abcd1234/other/y") == "https://h/x/abcd1234/other/y"  # not the whole value


# -- 2. ordinary words are not names; 3. lower-case full names are ----------------------------------------------
def _remind(text: str) -> jobsim.App:
    app = jobsim.App("remind")

    @app.function("remind", on="user/signup")
    def remind(ctx):
        name = ctx.event.data["name"]
        return {"text": text.format(name=name, first=name.split()[0]), "slug": name.lower().replace(" ", "-"),
                "search": name.lower(), "upper": name.upper()}

    return app


def test_a_names_words_that_are_ordinary_words_stay_words_and_the_trace_replays_equal(tmp_path):
    app = _remind("Hello {name}! Mark your calendar: the sale starts in June. Hi {first}, Status: OK.")
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/signup", {"name": "June Mark", "email": "june@gmail.com"})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "p.jobsim.jsonl")
    fake = next(line for line in _lines(path) if line["k"] == "event")["ce"]["data"]["name"]
    first, last = fake.split()
    assert _output(path)["text"] == (f"Hello {fake}! Mark your calendar: the sale starts in June. "
                                     f"Hi {first}, Status: OK.")
    assert _output(path)["slug"] == f"{first.lower()}-{last.lower()}"  # 3: the slug and the lower-case name faked
    assert _output(path)["search"] == fake.lower() and _output(path)["upper"] == fake.upper()
    assert "june mark" not in path.read_text() and "june-mark" not in path.read_text()
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), app)
    assert result.same, result.report()


@pytest.mark.parametrize(("name", "text", "kept", "gone"), [
    ("Grace Hopper", "Grace period ends. Hopper called. Dear Grace, thanks. Slow for Grace", ["Grace period"],
     ["Hopper", "Dear Grace", "for Grace"]),  # mid-sentence, capitalised: the name
    ("Grace Hopper", "Grace", [], ["Grace"]),  # a value that is the word alone: the name
    ("Will May", "Order for Will May: ships in May. MAY is busy. Status: OK", ["ships in May", "MAY is"], ["Will May"]),
    ("Ok Us", "Status: OK. Call US. Ok Us paid.", ["Status: OK", "Call US"], ["Ok Us"]),
    ("Ada Lovelace", "Ada's invoice; ADA LOVELACE paid; ada lovelace; ada_lovelace; Adam stays", ["Adam stays"],
     ["Ada's", "ADA", "ada lovelace", "ada_lovelace", "Lovelace", "LOVELACE"]),
    ("Al Green", "Also Al's order. AL GREEN paid. al green too. Green tea.", ["Green tea", "Also"],
     ["Al's", "AL GREEN", "al green"]),
])  # fmt: skip
def test_names_in_free_text_are_replaced_where_they_are_names(tmp_path, name, text, kept, gone):
    app = jobsim.App("n")

    @app.function("f", on="a/b")
    def f(ctx):
        return ctx.event.data["text"]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("a/b", {"name": name, "email": "x@gmail.com", "text": text})
        sim.run_until_idle()
    out = _output(sim.trace.save(tmp_path / "n.jobsim.jsonl"))
    for word in kept:
        assert word in out, (word, out)
    for word in gone:
        assert word not in out, (word, out)


def test_a_lower_case_full_name_is_scanned_clean_after_redaction(tmp_path):
    with jobsim.Simulation(_remind("{name}"), start=START) as sim:
        sim.send("user/signup", {"name": "Ada Lovelace", "email": "ada@gmail.com"})
        sim.run_until_idle()
    text = sim.trace.save(tmp_path / "l.jobsim.jsonl").read_text()
    assert "ada lovelace" not in text and "ada-lovelace" not in text and "ADA LOVELACE" not in text


# -- 4. Stripe ids are ids; Telegram tokens of every real length are secrets ------------------------------------
def test_stripe_object_ids_are_not_flagged_and_stripe_secrets_still_are(tmp_path):
    path = tmp_path / "s.jsonl"
    ids = ["pi_3MtwBwLkdIwHu7ix28a3tqPa", "cus_NffrFeUfNV2Hib4yKx9zQ7Lp", "evt_1NG8Du2eZvKYlo2CUI79vXWy",
           "ch_3MmlLrLkdIwHu7ix0snN0B15", "in_1MtHbELkdIwHu7ixl4OzzPMv"]
    path.write_text(orjson.dumps({"k": "run.end", "seq": 1, "output": ids}).decode() + "\n")
    assert traces.scan(path) == []
    path.write_text(orjson.dumps({"k": "run.end", "seq": 1, "output": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}).decode())
    assert [f.reason for f in traces.scan(path)] == ["looks like a stripe"]


@pytest.mark.parametrize("token", [
    "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # 34 after the colon: Telegram's docs' length
    "123456789:AA-bcdefghijklmnopqrstuvwxyz0123456",  # 35: BotFather's
    "987654321:AAF-abcdefghijklmnopqrstuvwxyz012345",  # 36
])
def test_telegram_bot_tokens_of_the_real_lengths_are_dropped(token):
    assert drop_secrets(f"bot token is {token}") == f"bot token is {token.split(':')[0]}:{MARKER}"


# -- 5. label: value in error messages ---------------------------------------------------------------------
@pytest.mark.parametrize("template", [
    "api_key: {V}", "password: {V}", "x-api-key: {V}", "client_secret='{V}'", "apiKey: {V}", "token {V}",
    "access token is {V}", "{{'api_key': '{V}'}}", 'Secret="{V}"', "PASSWORD: {V}", "refresh_token = '{V}'",
])
def test_a_value_after_a_secret_label_is_dropped_and_flagged(template, tmp_path):
    value = "Zq8Xw7Cv6Bn5Mm4L01"
    message = template.format(V=value)
    assert value not in drop_secrets(message) and MARKER in drop_secrets(message)
    assert [name for name, _ in find_secrets(message)] == ["secret label"]


@pytest.mark.parametrize("text", [
    "password: required", "token expired", "Token verification failed", "the api key is missing",
    "monkey: banana12345", "primary key: 1234567890", "token_count: 12345678", "refresh_token is valid",
    "keys: abc123def456", f"api_key: {MARKER}",
])
def test_prose_around_secret_words_stays(text):
    assert drop_secrets(text) == text


# -- 6. scan of what jobsim itself wrote --------------------------------------------------------------------
def test_scan_does_not_flag_the_headers_policy_or_a_kept_headers_redacted_value(tmp_path):
    app = jobsim.App("z")

    @app.function("f", on="a/b")
    def f(ctx):
        headers = {"Authorization": "Bearer abcdefghijklmnop1234"}
        ctx.step.run("s", lambda: httpx.get("https://api.example.org/x", headers=headers).status_code)

    with jobsim.Simulation(app) as sim:
        sim.http.get("https://api.example.org/x").respond(200)
        sim.send("a/b", {})
        sim.run_until_idle()
    policy = Redaction(fields={"ssn": "drop", "api_token": "drop"}, keep_headers=("authorization",))
    path = sim.trace.save(tmp_path / "f.jobsim.jsonl", redact=policy)
    assert _lines(path)[0]["redaction"]["fields"] == {"ssn": "drop", "api_token": "drop"}  # as written
    assert "Bearer [redacted]" in path.read_text()
    assert traces.scan(path) == []
    assert Redaction.from_header(_lines(path)[0]["redaction"]).rules == {"ssn": "drop", "apitoken": "drop"}


def test_scan_still_flags_a_header_value_after_a_scheme(tmp_path):
    path = tmp_path / "h.jsonl"
    line = {"k": "http", "seq": 1, "request": {"headers": {"authorization": "Bearer x"}}}
    path.write_text(orjson.dumps(line).decode())
    assert [f.path for f in traces.scan(path)] == ["request.headers.authorization"]


# -- 7. options that did nothing ----------------------------------------------------------------------------
def test_a_dotted_field_path_is_refused_naming_the_fix():
    with pytest.raises(jobsim.InvalidArgument, match=r"field names, not paths.*\{'secret_answer': 'drop'\}"):
        Redaction(fields={"user.secret_answer": "drop"})


def test_a_locale_faker_does_not_know_is_refused_at_construction():
    with pytest.raises(jobsim.InvalidArgument, match="locale='xx_YY' is not valid"):
        Redaction(locale="xx_YY")
    assert Redaction(locale="de_DE").locale == "de_DE"


@pytest.mark.parametrize("given", ["acme.com", "@acme.com", "*.acme.com", "ACME.com."])
def test_keep_domains_take_the_usual_forms(tmp_path, given):
    assert Redaction(keep_domains=(given,)).keep_domains == ("acme.com",)
    app = jobsim.App("kd")

    @app.function("f", on="a/b")
    def f(ctx):
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("a/b", {"e1": "ada@acme.com", "e2": "bob@mail.acme.com", "e3": "eve@gmail.com"})
        sim.run_until_idle()
    text = sim.trace.save(tmp_path / "k.jobsim.jsonl", redact=Redaction(keep_domains=(given,))).read_text()
    assert "ada@acme.com" in text and "bob@mail.acme.com" in text and "eve@gmail.com" not in text


@pytest.mark.parametrize("given", ["ada@acme.com", "acme.com/x", "", "*acme.com", ".acme.com"])
def test_keep_domains_that_are_no_domain_are_refused(given):
    with pytest.raises(jobsim.InvalidArgument, match=r"keep_domains=.* is not valid: a tuple of domain names"):
        Redaction(keep_domains=(given,))


def test_an_address_in_capitals_gets_its_fake_in_capitals_and_replays_equal(tmp_path):
    app = jobsim.App("up")

    @app.function("f", on="a/b")
    def f(ctx):
        return f"mail {ctx.event.data['email'].upper()} or {ctx.event.data['email']}"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("a/b", {"email": "Will.May+shop@Gmail.com"})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "u.jobsim.jsonl")
    fake = next(line for line in _lines(path) if line["k"] == "event")["ce"]["data"]["email"]
    assert _output(path) == f"mail {fake.upper()} or {fake}"
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), app)
    assert result.same, result.report()
