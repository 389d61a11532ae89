"""Redaction: secrets never reach a file; personal data does, as stable keyed fakes."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest
from _traceapp import CRM_TOKEN, RESEND_KEY, build, record

import jobsim
from jobsim import Redaction
from jobsim._secrets import MARKER, classify_key, drop_secrets, secret_header

SECRETS = (CRM_TOKEN, RESEND_KEY, "k3y-in-the-url", "abc123secret")
PEOPLE = ("ada.lovelace@gmail.com", "grace@navy.mil", "Ada", "Lovelace", "Grace", "Hopper", "+44 20 7946 0018")


@pytest.fixture(scope="module")
def recorded() -> jobsim.Simulation:
    return record(build())


def saved(sim: jobsim.Simulation, tmp_path, name: str = "r.jobsim.jsonl", **options) -> tuple[str, list[dict]]:
    path = sim.trace.save(tmp_path / name, **options)
    text = path.read_text()
    return text, [orjson.loads(line) for line in text.splitlines()]


def test_secrets_are_dropped_from_requests_responses_urls_and_errors(recorded, tmp_path):
    text, lines = saved(recorded, tmp_path)
    for secret in SECRETS:
        assert secret not in text, secret
    crm = next(line for line in lines if line["k"] == "http" and line.get("status") == 200 and "crm" in line["url"])
    assert crm["url"] == f"https://crm.example.com/contacts?api_key={MARKER}&source=web"
    assert crm["request"]["headers"]["authorization"] == MARKER
    assert crm["request"]["headers"]["x-request-source"] == "jobs"  # not a secret: kept
    assert crm["response"]["headers"]["set-cookie"] == MARKER
    error = next(line for line in lines if line["k"] == "attempt" and "error" in line)["error"]
    assert f"contacts?api_key={MARKER}&source=web" in error


def test_personal_data_maps_to_the_same_fake_everywhere(recorded, tmp_path):
    text, lines = saved(recorded, tmp_path)
    for value in PEOPLE:
        assert value not in text, value
    first = lines[1]["ce"]["data"]
    fake_email, fake_name = first["email"], first["name"]
    assert re.fullmatch(r"[a-z][a-z0-9._]*@example\.(com|net|org)", fake_email)
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", fake_name) and fake_name != "Ada Lovelace"
    assert first["phone"] != "+44 20 7946 0018" and any(c.isdigit() for c in first["phone"])
    email = next(line for line in lines if line["k"] == "email")
    assert email["to"] == [fake_email]
    assert email["subject"] == f"Welcome, {fake_name}!"  # free text: the same words, the same fakes
    assert email["text"].startswith(f"Hi {fake_name}, ")
    resend = next(line for line in lines if line["k"] == "http" and line["url"].endswith("/emails"))
    assert resend["request"]["body"]["json"]["to"] == [fake_email]
    repeat = [line for line in lines if line["k"] == "event" and line["ce"]["id"] == "signup-ada"][1]
    assert repeat["ce"]["data"] == {"email": fake_email, "name": fake_name}
    outputs = [line["output"] for line in lines if line["k"] == "run.end" and line["function"] == "welcome"]
    assert outputs[0]["email"] == fake_email


def test_reserved_and_kept_domains_stay(recorded, tmp_path):
    _, lines = saved(recorded, tmp_path)
    email = next(line for line in lines if line["k"] == "email")
    assert email["sender"] == "hello@acme.test"  # .test is reserved (RFC 2606): nobody's address
    _, kept = saved(recorded, tmp_path, "kept.jobsim.jsonl", redact=Redaction(keep_domains=("navy.mil",)))
    grace = next(line for line in kept if line["k"] == "event" and line["ce"]["id"] == "signup-grace")
    assert grace["ce"]["data"]["email"] == "grace@navy.mil"
    assert grace["ce"]["data"]["name"] != "Grace Hopper"


def test_the_in_memory_trace_keeps_what_happened(recorded, tmp_path):
    saved(recorded, tmp_path)
    first = recorded.trace.records[0]
    assert first.data["data"]["email"] == "ada.lovelace@gmail.com"
    call = next(r for r in recorded.trace.of("http"))
    assert CRM_TOKEN in call.data["call"].request.headers["authorization"]


def test_same_key_same_fakes_other_key_other_fakes(recorded, tmp_path, monkeypatch):
    a, _ = saved(recorded, tmp_path, "a.jobsim.jsonl")
    b, _ = saved(recorded, tmp_path, "b.jobsim.jsonl")
    assert a == b
    monkeypatch.setenv("JOBSIM_REDACT_KEY", "team secret")
    c, lines = saved(recorded, tmp_path, "c.jobsim.jsonl")
    assert c != a
    info = lines[0]["redaction"]
    assert info["key"] == "env" and info["pii"] == "pseudonymized" and info["key_fp"].startswith("scrypt:")
    assert "team secret" not in c
    d, _ = saved(recorded, tmp_path, "d.jobsim.jsonl", redact=Redaction(key="team secret"))
    assert d.replace('"key":"given"', '"key":"env"') == c


def test_without_pseudonyms_personal_data_stays_and_secrets_still_go(recorded, tmp_path):
    text, lines = saved(recorded, tmp_path, redact=Redaction(pseudonymize=False))
    assert "ada.lovelace@gmail.com" in text and "Ada Lovelace" in text
    for secret in SECRETS:
        assert secret not in text
    assert lines[0]["redaction"] == {"policy": "jobsim/1", "secrets": "dropped", "pii": "kept"}


def test_redact_false_writes_everything(recorded, tmp_path):
    text, _ = saved(recorded, tmp_path, redact=False)
    assert CRM_TOKEN in text and "ada.lovelace@gmail.com" in text


def test_re_redacting_a_redacted_trace_changes_nothing(recorded, tmp_path):
    first = recorded.trace.save(tmp_path / "a.jobsim.jsonl")
    again = jobsim.Trace.load(first).save(tmp_path / "b.jobsim.jsonl")
    assert again.read_bytes() == first.read_bytes()


def test_custom_field_rules(tmp_path):
    app = jobsim.App("custom")

    @app.function("f", on="go")
    def f(ctx):
        return ctx.event.data

    with jobsim.Simulation(app) as sim:
        sim.send("go", {"nickname": "Ada", "ssn": "123-45-6789", "customerRef": "cus_1", "email": "x@corp.io",
                        "password": "hunter2", "name": "Widget", "note": "call Ada"})  # fmt: skip
        sim.run_until_idle()
    policy = Redaction(fields={"customer_ref": "drop", "password": "keep"})
    _, lines = saved(sim, tmp_path, redact=policy)
    data = lines[1]["ce"]["data"]
    assert data["ssn"] == MARKER and data["customerRef"] == MARKER and data["password"] == "hunter2"
    assert data["nickname"] != "Ada" and data["note"] == f"call {data['nickname']}"
    assert data["name"] != "Widget"  # a plain name beside an email is a person's name
    assert lines[0]["redaction"]["fields"] == {"customer_ref": "drop", "password": "keep"}  # as written (trial 38)


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # only the event's record is read
def test_a_plain_name_without_an_email_beside_it_is_not_a_person(tmp_path):
    app = jobsim.App("products")

    @app.function("f", on="go")
    def f(ctx):
        return None

    with jobsim.Simulation(app) as sim:
        sim.send("go", {"items": [{"name": "Organic Cotton Tee", "sku": "tee"}], "tags": [{"name": "category"}]})
    _, lines = saved(sim, tmp_path)
    assert lines[1]["ce"]["data"] == {"items": [{"name": "Organic Cotton Tee", "sku": "tee"}],
                                      "tags": [{"name": "category"}]}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abc.def-ghi_123", f"Authorization: Bearer {MARKER}"),
    ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc here", f"key {MARKER} here"),
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXX", f"https://hooks.slack.com/services/{MARKER}"),
    ("postgres://admin:s3cret@db.internal/app", f"postgres://{MARKER}@db.internal/app"),
    ("aws AKIAIOSFODNN7EXAMPLE", f"aws {MARKER}"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     f"jwt {MARKER}"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", MARKER),
    ("the key-0123456789abcdef0123456789abcdef", f"the {MARKER}"),
    ("nothing to see: sk_ is a prefix, Bearer alone too", "nothing to see: sk_ is a prefix, Bearer alone too"),
    ("authorization: bearer abcdefghijklmnop", f"authorization: bearer {MARKER}"),
    ("Token verification failed", "Token verification failed"),
    ("Authorization: Token 9f8e7d6c5b4a", f"Authorization: Token {MARKER}"),
    ("redis://:s3cretpass@cache:6379/0", f"redis://{MARKER}@cache:6379/0"),  # no user name
    ("openai sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz012345 failed", f"openai {MARKER} failed"),
    ("key=sk-ant-api03-Ab3dEfGh1jKlMn0pQrStUvWx", f"key={MARKER}"),
    ("risk-free desk-top task-manager sk-short", "risk-free desk-top task-manager sk-short"),
    ("glpat-Ab3dEfGh1jKlMn0pQrSt", MARKER),
    ("//registry.npmjs.org/:_authToken=npm_Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789",
     f"//registry.npmjs.org/:_authToken={MARKER}"),
    ("hf_Ab3dEfGh1jKlMn0pQrStUvWxYz012345", MARKER),
    ("X-Shopify-Access-Token shpat_0123456789abcdef0123456789abcdef", f"X-Shopify-Access-Token {MARKER}"),
    ("POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
     f"POST https://api.telegram.org/bot{MARKER}/sendMessage"),
    # outside a /bot URL, and an AWS secret key by its label: both were kept, and jobsim scan flagged the saved trace
    ("Bot token: 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX", f"Bot token: 123456789:{MARKER}"),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     f"export AWS_SECRET_ACCESS_KEY={MARKER}\n"),
    ('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', f'aws_secret_access_key = "{MARKER}"'),
    ("at 12:00 it said Error:Access denied", "at 12:00 it said Error:Access denied"),
    ("AccountName=acme;AccountKey=Ab3dEfGh1jKlMn0pQrStUvWx+/Yz0123==;EndpointSuffix=core.windows.net",
     f"AccountName=acme;AccountKey={MARKER};EndpointSuffix=core.windows.net"),
    # percent- and form-encoded: a header value passed in a URL or a form body, a webhook URL as a callback
    ("/proxy?auth=Bearer%20abcdefghijklmnop1234&x=1", f"/proxy?auth=Bearer%20{MARKER}&x=1"),
    ("header=Authorization&value=Bearer+abcdefghijklmnop1234", f"header=Authorization&value=Bearer+{MARKER}"),
    ("cb=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0000%2FB0000%2FXXXXXXXX&y=2",
     f"cb=https%3A%2F%2Fhooks.slack.com%2Fservices%2F{MARKER}&y=2"),
    ("plan=basic+monthly&tier=basic plan", "plan=basic+monthly&tier=basic plan"),
])  # fmt: skip
def test_credential_patterns_in_free_text(text, expected):
    assert drop_secrets(text) == expected


def test_a_form_bodys_fields_named_as_secret_json_fields_are_dropped():
    """passwd, passphrase, private_key, ssn and card_number were kept in a form body or a query string, though
    dropped as JSON fields: the two lists of names differed."""
    from jobsim._secrets import QUERY_PARAM, query_repl

    body = ("passwd=opensesame99&passphrase=correct-horse&private_key=pk_9f8e7d6c5b4a3928&ssn=123-45-6789&"
            "card_number=4242424242424242&plan=basic")
    assert QUERY_PARAM.sub(query_repl, body) == (
        f"passwd={MARKER}&passphrase={MARKER}&private_key={MARKER}&ssn={MARKER}&card_number={MARKER}&plan=basic")


@pytest.mark.parametrize(("name", "secret"), [
    ("Authorization", True), ("Cookie", True), ("Set-Cookie", True), ("X-Api-Key", True),
    ("X-Shopify-Access-Token", True), ("X-Hub-Signature-256", True), ("X-Stripe-Client-Key", True),
    ("Content-Type", False), ("X-Request-Id", False), ("Accept", False),
    ("api_key", True), ("x_api_key", True), ("x-auth", True), ("Authentication", True), ("X-Custom-Auth", True),
])  # fmt: skip
def test_secret_header_names(name, secret):
    assert secret_header(name) is secret


@pytest.mark.parametrize(("key", "action"), [
    ("password", "drop"), ("client_secret", "drop"), ("apiKey", "drop"), ("refresh-token", "drop"),
    ("email", "email"), ("billingEmail", "email"), ("firstName", "name"), ("last_name", "name"), ("name", "name?"),
    ("phoneNumber", "phone"), ("shippingAddress", "address"), ("emailAddress", "email"), ("ip_address", "ip"),
    ("userName", "username"), ("orderId", None), ("tokens_used", None), ("key", None),
])  # fmt: skip
def test_field_name_rules(key, action):
    assert classify_key(key) == action


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fields": {"ssn": "hash"}}, r"fields\['ssn'\]='hash' is not valid: one of 'drop', 'email'"),
    ({"key": ""}, "key='' is not valid"),
    ({"headers": "authorization"}, "headers='authorization' is not valid: a tuple of header names"),
    ({"pseudonymize": "yes"}, "pseudonymize='yes' is not valid"),
    # these raised TypeError ('NoneType' object is not iterable) or failed only at save (Faker([]))
    ({"headers": None}, "headers=None is not valid: a tuple of header names"),
    ({"keep_headers": 3}, "keep_headers=3 is not valid: a tuple of header names"),
    ({"keep_domains": b"acme.com"}, "keep_domains=b'acme.com' is not valid: a tuple of domain names"),
    ({"locale": []}, r"locale=\[\] is not valid: a Faker locale name"),
    ({"locale": 10**30}, "locale=1000000000000000000000000000000 is not valid: a Faker locale name"),
])  # fmt: skip
def test_bad_policies(kwargs, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        Redaction(**kwargs)


def test_a_form_body_and_step_ids_leak_nothing(tmp_path):
    """A form-encoded token request (the secret is its first field) and a step id built from an
    email: the saved file holds neither, and ``jobsim scan`` finds nothing left."""
    import httpx

    from jobsim import traces

    app = jobsim.App("oauth")

    @app.function("token", on="go")
    def token(ctx):
        email = ctx.event.data["email"]
        ctx.step.sleep(f"wait-for-{email}", "1s")
        return ctx.step.run(f"call-{email}", lambda: httpx.post(
            "https://auth.example.com/oauth/token",
            content="client_secret=cs_live_abcdef0123456789&grant_type=password&password=hunter22",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).status_code)

    with jobsim.Simulation(app) as sim:
        sim.http.post("https://auth.example.com/oauth/token").respond(200, json={"access_token": "x"})
        sim.send("go", {"email": "ada.l@gmail.com"})
        sim.run_until_idle()
    path = tmp_path / "oauth.jobsim.jsonl"
    sim.trace.save(path)
    text = path.read_text()
    assert "cs_live_abcdef0123456789" not in text and "hunter22" not in text
    assert "ada.l@gmail.com" not in text
    assert traces.scan(path) == []


def test_key_fingerprint_is_a_slow_hash_not_a_plain_digest():
    """The header names the key by an scrypt digest: a short team phrase cannot be found by hashing guesses."""
    import hashlib

    from jobsim._pseudonyms import key_fingerprint

    fp = key_fingerprint(b"team secret")
    assert fp == key_fingerprint(b"team secret") != key_fingerprint(b"team secreT")
    expected = hashlib.scrypt(b"team secret", salt=b"jobsim redaction key fingerprint", n=1 << 14, r=8, p=1, dklen=8)
    assert fp == "scrypt:" + expected.hex()
    plain = {hashlib.sha256(prefix + b"team secret").hexdigest()[:16] for prefix in (b"", b"jobsim-redaction-key\0")}
    assert fp.split(":")[1] not in plain


def test_the_text_cache_starts_afresh_when_full_and_results_stay_right(monkeypatch):
    """One-off strings (event ids, errors) must not fill the cache for good: when full it is cleared."""
    import jobsim._redacttext as text_module

    monkeypatch.setattr(text_module, "_CACHE_ENTRIES", 50)
    redactor = Redaction(key="k").redactor()
    for i in range(120):
        assert redactor.text(f"evt_{i}") == f"evt_{i}"
        assert len(redactor._texts) <= 50
    secret = "Authorization: Bearer sk_live_0123456789abcdef"
    assert redactor.text(secret) == "Authorization: Bearer [redacted]"
    assert redactor._texts[secret] == "Authorization: Bearer [redacted]" and "evt_0" not in redactor._texts


def test_one_patched_cache_size_bounds_the_text_and_the_structure_caches(monkeypatch):
    """``_redacttext._CACHE_ENTRIES`` bounds ``_structures`` (HTTP headers and bodies, by their JSON) too: the
    ``_redact`` split had left that cache reading its own copy of the constant, which a patch did not reach."""
    import jobsim._redact  # noqa: F401 -- imported before the patch, as a whole run of the tests has it
    import jobsim._redacttext as text_module

    monkeypatch.setattr(text_module, "_CACHE_ENTRIES", 50)
    redactor = Redaction(key="k").redactor()
    for i in range(120):
        record = {"response": {"body": {"json": {"n": i, "token": "sk_live_0123456789abcdef"}}}}
        assert redactor.apply("http", record)["response"]["body"]["json"] == {"n": i, "token": "[redacted]"}
        assert 0 < len(redactor._structures) <= 50
    assert len(redactor._structures) == 120 % 50


# -- phone numbers in free text ------------------------------------------------------------------
PHONES = ("+1 415 555 0100", "(415) 555-0100", "+44 20 7946 0958", "+14155550100", "415-555-0100",
          "1-800-555-0199", "415.555.0100", "+49 (0)30 1234567", "+1 (415) 555-0100 x123")  # fmt: skip


def field_fake(redactor, value: str) -> str:
    return redactor.apply("x.custom", {"phone": value})["phone"]


@pytest.mark.parametrize("phone", PHONES)
def test_a_phone_number_in_free_text_gets_the_fake_its_field_would(phone):
    redactor = Redaction(key="k").redactor()
    fake = field_fake(Redaction(key="k").redactor(), phone)
    assert fake != phone and any(c.isdigit() for c in fake)
    for template in ("Your code was sent to {}.", "{}", "call me at {}, thanks", "tel:{}", "From: {}\nHi"):
        assert redactor.text(template.format(phone)) == template.format(fake), template
    assert field_fake(redactor, phone) == fake


def test_a_phone_number_in_a_url_stays_a_url():
    """Twilio-style ``To=%2B14155550100``: the fake of the decoded number, encoded again."""
    from urllib.parse import quote_plus

    redactor = Redaction(key="k").redactor()
    fake = field_fake(redactor, "+14155550100")
    url = "https://api.twilio.com/Messages.json?To=%2B14155550100&PageSize=20"
    assert redactor.text(url) == f"https://api.twilio.com/Messages.json?To={quote_plus(fake)}&PageSize=20"


@pytest.mark.parametrize("text", [
    "2025-03-01T09:00:00.000Z", "2025-03-01", "2025-03-01T09:00:00+01:00", "09:00:00.123456",
    "at 1740819600000000000", "1740819600000000000", "06AN1VRJG00017HQF6WQYJKW2M", "run 06ANPEYAG00017HQF6WQYJKW2M",
    "6513270e-269e-4d37-b2a7-4de452e6b438", "12345678-1234-1234-1234-123456789012", "user_00042", "order 1234567890",
    "$1,234.56", "EUR 1.234.567,89", "+1234.56", "balance +1234567.89", "-415.55", "1h 30m 15s", "500ms",
    "took 1.500s", "delay 1000000000", "v1.2.3", "192.168.100.200", "10.0.0.1:8080", "page=2&per_page=100",
    "seq 14, records 5738", "+1 attempt", "sha256:9f86d081884c7d659a2feaa0c55ad015", "2025-03-01 09:00:00",
    "20250301-090000-0001", "+0100", "1-2-3",
])  # fmt: skip
def test_numbers_that_are_not_phone_numbers_stay(text):
    assert Redaction(key="k").redactor().text(text) == text


def test_free_text_phones_stay_without_pseudonyms_and_when_kept():
    assert Redaction(pseudonymize=False).redactor().text("call +1 415 555 0100") == "call +1 415 555 0100"
    assert Redaction(key="k").redactor(keep={"+1 415 555 0100"}).text("call +1 415 555 0100") == "call +1 415 555 0100"


def sms_app() -> jobsim.App:
    import httpx

    app = jobsim.App("sms")

    @app.function("notify", on="order/shipped")
    def notify(ctx):
        phone = ctx.event.data["phone"]
        return ctx.step.run("sms", lambda: httpx.post(
            "https://api.sms.example/send", json={"to": phone, "body": f"Shipped! Questions? Reply or call {phone}."},
        ).json()["status"])

    return app


def test_phone_numbers_in_bodies_and_errors_leave_no_trace_and_replay_equal(tmp_path):
    from jobsim import traces

    with jobsim.Simulation(sms_app(), start="2025-03-01T09:00:00Z") as sim:
        sim.http.post("https://api.sms.example/send").respond(
            200, json={"status": "queued", "note": "delivered to (415) 555-0100 via +44 20 7946 0958"})
        sim.send("order/shipped", {"phone": "+1 415 555 0100"})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "sms.jobsim.jsonl")
    text = path.read_text()
    for phone in ("+1 415 555 0100", "(415) 555-0100", "+44 20 7946 0958"):
        assert phone not in text, phone
    lines = [orjson.loads(line) for line in text.splitlines()]
    fake = next(line for line in lines if line["k"] == "event")["ce"]["data"]["phone"]
    call = next(line for line in lines if line["k"] == "http")
    assert call["request"]["body"]["json"]["body"] == f"Shipped! Questions? Reply or call {fake}."
    assert traces.scan(path, pii=True) == []  # its phone numbers are the fakes redaction wrote
    trace = jobsim.Trace.load(path)
    assert jobsim.Simulation.replay(trace, sms_app()).same
    assert trace.save(tmp_path / "again.jobsim.jsonl").read_bytes() == path.read_bytes()


def test_the_free_text_phones_of_a_loaded_trace_are_looked_for_only_when_a_phone_number_turns_up(
        tmp_path, monkeypatch):
    """Re-saving a redacted trace keeps the fakes its free text got; finding them reads every record,
    so it happens only once a phone number is met, and a trace without any never pays for it."""
    import jobsim._redactkept as kept_module

    searched: list[int] = []
    real = kept_module._phones_in
    monkeypatch.setattr(kept_module, "_phones_in", lambda data: searched.append(1) or real(data))
    app = jobsim.App("inbox")

    @app.function("noop", on="nothing/happens")
    def noop(ctx):
        return None

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.send("user/created", {"email": "ada@gmail.com", "note": "ordered 2025-03-01, paid 129.90"})
    quiet = sim.trace.save(tmp_path / "quiet.jobsim.jsonl")
    assert jobsim.Trace.load(quiet).save(tmp_path / "quiet2.jobsim.jsonl").read_bytes() == quiet.read_bytes()
    assert searched == []
    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.send("sms/received", {"body": "call me at +1 415 555 0100", "n": 1})
        sim.send("sms/received", {"body": "or (415) 555-0100", "n": 2})
    loud = sim.trace.save(tmp_path / "loud.jobsim.jsonl")
    assert "555-0100" not in loud.read_text() and "555 0100" not in loud.read_text()
    assert jobsim.Trace.load(loud).save(tmp_path / "loud2.jobsim.jsonl").read_bytes() == loud.read_bytes()
    assert len(searched) == sum(1 for _ in loud.read_text().splitlines()) - 2  # each record once: not header, end


def test_names_and_email_addresses_beyond_ascii_are_pseudonymized_whole(tmp_path):
    app = jobsim.App("intl")

    @app.function("greet", on="user/created")
    def greet(ctx):
        data = ctx.event.data
        return {"msg": f"Hallo {data['name']}, wir schreiben an {data['email']}"}

    with jobsim.Simulation(app) as sim:
        sim.send("user/created", {"email": "zoë.ångström@gmail.com", "name": "Zoë Ångström",
                                  "contact": "josé.garcía@gmail.com / ann@müller.de"})  # fmt: skip
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for value in ("Zo", "Ångström", "ström", "josé", "garcí", "müller"):
        assert value not in text, value
    data = lines[1]["ce"]["data"]
    assert re.fullmatch(r"[a-z][a-z0-9._]*@example\.(com|net|org)", data["email"])
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", data["name"])
    assert re.fullmatch(r"\S+@example\.(com|net|org) / \S+@example\.(com|net|org)", data["contact"])
    output = next(line for line in lines if line["k"] == "run.end")["output"]
    assert output == {"msg": f"Hallo {data['name']}, wir schreiben an {data['email']}"}  # the same fakes in free text


def test_client_addresses_in_proxy_headers_get_the_fakes_ip_fields_get(tmp_path):
    app = jobsim.App("proxy")

    @app.function("forward", on="signup")
    def forward(ctx):
        return ctx.step.run("post", lambda: httpx.post(
            "https://crm.example.com/leads", json={"email": ctx.event.data["email"]},
            headers={"X-Forwarded-For": f"{ctx.event.user['ip']}, 198.51.100.7", "X-Real-IP": ctx.event.user["ip"]},
        ).status_code)  # fmt: skip

    with jobsim.Simulation(app) as sim:
        sim.http.post("https://crm.example.com/leads").respond(200, headers={"X-Client-IP": "192.0.2.44"})
        sim.send("signup", {"email": "ada@gmail.com"}, user={"ip": "203.0.113.5"})
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for ip in ("203.0.113.5", "198.51.100.7", "192.0.2.44"):
        assert ip not in text, ip
    fake = lines[1]["user"]["ip"]
    call = next(line for line in lines if line["k"] == "http")
    forwarded, proxy = call["request"]["headers"]["x-forwarded-for"].split(", ")
    assert forwarded == call["request"]["headers"]["x-real-ip"] == fake
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", proxy) and re.fullmatch(r"\d+\.\d+\.\d+\.\d+",
                                                                       call["response"]["headers"]["x-client-ip"])
    path = tmp_path / "r.jobsim.jsonl"
    assert jobsim.Trace.load(path).save(tmp_path / "again.jobsim.jsonl").read_text() == text  # fakes stay fakes
    assert jobsim.Simulation.replay(path, app).same


def test_names_in_free_text_are_found_possessive_in_capitals_and_with_an_apostrophe(tmp_path):
    app = jobsim.App("shipping")

    @app.function("notify", on="order/shipped")
    def notify(ctx):
        name = ctx.event.data["name"]
        first = name.split()[0]
        return f"{name}'s order shipped. {name.upper()} / {first}\u2019s cart / Hi {first}!"

    with jobsim.Simulation(app) as sim:
        sim.send("order/shipped", {"email": "ada@gmail.com", "name": "Ada Lovelace"})
        sim.send("order/shipped", {"email": "sean@gmail.com", "name": "Seán O'Brien-Smith"})
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for value in ("Ada", "ADA", "Lovelace", "LOVELACE", "Seán", "SEÁN", "Brien", "BRIEN", "Smith", "SMITH"):
        assert value not in text, value
    names = [line["ce"]["data"]["name"] for line in lines if line["k"] == "event"]
    outputs = [line["output"] for line in lines if line["k"] == "run.end"]
    for name, output in zip(names, outputs, strict=True):
        first = name.split()[0]
        assert output == f"{name}'s order shipped. {name.upper()} / {first}\u2019s cart / Hi {first}!"
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", names[1])  # "O'Brien-Smith" is one surname, faked whole


def test_percent_encoded_email_addresses_in_forms_and_urls_get_the_fake_encoded(tmp_path):
    app = jobsim.App("forms")

    @app.function("subscribe", on="user/created")
    def subscribe(ctx):
        data = ctx.event.data
        ctx.step.run("form", lambda: httpx.post("https://lists.example.com/subscribe",
                                                data={"email": data["email"], "list": "news"}).status_code)
        ctx.step.run("find", lambda: httpx.get("https://crm.example.com/find", params={"q": data["email"]}).status_code)

    with jobsim.Simulation(app) as sim:
        sim.http.post("https://lists.example.com/subscribe").respond(200)
        sim.http.get(url__startswith="https://crm.example.com/find").respond(200)
        sim.send("user/created", {"email": "ada.l+news@gmail.com"})
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    assert "gmail" not in text and "ada.l" not in text
    fake = lines[1]["ce"]["data"]["email"]
    form, find = (line for line in lines if line["k"] == "http")
    assert form["request"]["body"]["text"] == f"email={fake.replace('@', '%40')}&list=news"
    assert find["url"] == f"https://crm.example.com/find?q={fake.replace('@', '%40')}"
    assert jobsim.Simulation.replay(tmp_path / "r.jobsim.jsonl", app).same
    from jobsim import traces

    raw = sim.trace.save(tmp_path / "raw.jobsim.jsonl", redact=False)
    found = {(f.kind, f.path) for f in traces.scan(raw, pii=True)}
    assert {("http", "request.body.text"), ("http", "url")} <= found  # scan --pii finds them encoded too


def test_display_names_of_addresses_are_names(tmp_path):
    """Mail APIs take 'Grace Hopper <grace@navy.mil>': the address was faked and the name kept in clear."""
    app = jobsim.App("mailer")

    @app.function("confirm", on="order/placed")
    def confirm(ctx):
        to = ctx.event.data["to"]
        return ctx.step.run("mail", lambda: httpx.post("https://api.resend.com/emails", json={
            "from": "Acme <hi@acme.test>", "to": [to], "subject": f"Order for {to.split(' <')[0]}", "text": "Thanks",
        }).status_code)  # fmt: skip

    with jobsim.Simulation(app) as sim:
        sim.send("order/placed", {"to": "Grace Hopper <grace@navy.mil>"})
        sim.send("order/placed", {"to": '"Alan Turing" <alan@gmail.com>, Ada <ada@example.com>'})
        sim.send("order/placed", {"to": '"Lovelace, Augusta" <augusta@gmail.com>'})  # the surname was kept
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for value in ("Grace", "Hopper", "Alan", "Turing", "navy.mil", "gmail", "Lovelace", "Augusta"):
        assert value not in text, value
    first, second, third = (line["ce"]["data"]["to"] for line in lines if line["k"] == "event")
    assert re.fullmatch(r'"[A-Z][a-z]+, [A-Z][a-z]+" <\S+@example\.(com|net|org)>', third)
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ <\S+@example\.(com|net|org)>", first)
    assert re.fullmatch(r'"[A-Z][a-z]+ [A-Z][a-z]+" <\S+@example\.(com|net|org)>, Ada <ada@example\.com>', second)
    sent = [line["request"]["body"]["json"] for line in lines if line["k"] == "http"]
    assert [body["to"] for body in sent] == [[first], [second], [third]]
    assert sent[0]["subject"] == f"Order for {first.split(' <')[0]}" and sent[0]["from"] == "Acme <hi@acme.test>"
    path = tmp_path / "r.jobsim.jsonl"
    assert jobsim.Trace.load(path).save(tmp_path / "again.jobsim.jsonl").read_text() == text
    assert jobsim.Simulation.replay(path, app).same


def test_display_names_in_an_smtp_message_s_headers_are_names(tmp_path):
    """smtplib's To/From headers hold 'Linus Torvalds <...>', while the email record's ``to`` holds the bare
    address: the address was faked and the name kept in clear, in the header, the subject and the body."""
    import smtplib
    from email.message import EmailMessage

    customers = {"c1": "Linus Torvalds <linus@linux-foundation.org>"}  # the app's database, not the event
    app = jobsim.App("mailer")

    @app.function("invoice", on="invoice/due")
    def invoice(ctx):
        msg = EmailMessage()
        msg["From"], msg["To"] = "Billing <billing@acme.test>", customers[ctx.event.data["customer"]]
        msg["Subject"] = "Invoice for Linus"
        msg.set_content("Dear Linus Torvalds,\nyour invoice is attached.")
        with smtplib.SMTP("smtp.acme.test", 587) as smtp:
            smtp.send_message(msg)

    with jobsim.Simulation(app) as sim:
        sim.send("invoice/due", {"customer": "c1"})
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for value in ("Linus", "Torvalds", "linux-foundation"):
        assert value not in text, value
    email = next(line for line in lines if line["k"] == "email")
    name = email["headers"]["To"].split(" <")[0]
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", name) and email["subject"] == f"Invoice for {name.split()[0]}"
    assert email["headers"]["From"] == "Billing <billing@acme.test>"  # a reserved domain's sender is no person
    assert jobsim.Trace.load(tmp_path / "r.jobsim.jsonl").save(tmp_path / "again.jobsim.jsonl").read_text() == text


def test_json_kept_as_a_string_is_redacted_inside(tmp_path):
    """A webhook's raw body or a queue message is often JSON in a string: its secrets and people were kept."""
    import json

    app = jobsim.App("hooks")

    @app.function("relay", on="webhook/received")
    def relay(ctx):
        body = json.loads(ctx.event.data["raw"])
        return f"relayed for {body['customer']['name']}"

    raw = json.dumps({"api_key": "abc123def456", "customer": {"email": "ada@gmail.com", "name": "Ada Lovelace"},
                      "items": [1, 2]})  # fmt: skip
    with jobsim.Simulation(app) as sim:
        sim.send("webhook/received", {"raw": raw, "note": "[not json]", "list": "[1, 2]"})
        sim.run_until_idle()
    text, lines = saved(sim, tmp_path)
    for value in ("abc123def456", "ada@gmail.com", "Ada", "Lovelace"):
        assert value not in text, value
    data = lines[1]["ce"]["data"]
    body = json.loads(data["raw"])
    assert body["api_key"] == MARKER and body["items"] == [1, 2]
    assert re.fullmatch(r"[a-z][a-z0-9._]*@example\.(com|net|org)", body["customer"]["email"])
    assert (data["note"], data["list"]) == ("[not json]", "[1, 2]")  # unchanged: left as written
    output = next(line for line in lines if line["k"] == "run.end")["output"]
    assert output == f"relayed for {body['customer']['name']}"  # the same fake in free text
    path = tmp_path / "r.jobsim.jsonl"
    assert jobsim.Trace.load(path).save(tmp_path / "again.jobsim.jsonl").read_text() == text
    assert jobsim.Simulation.replay(path, app).same
    from jobsim import traces

    raw_path = sim.trace.save(tmp_path / "raw.jobsim.jsonl", redact=False)
    assert {(f.path, f.reason) for f in traces.scan(raw_path, pii=True)} == {
        ("ce.data.raw.api_key", "field 'api_key' is named like a secret and has a value"),
        ("ce.data.raw.customer.email", "an email address at a real domain (personal data)")}  # fmt: skip


@pytest.mark.parametrize("pseudonymize", [True, False])
def test_json_encoded_twice_is_redacted_inside_and_stays_encoded_twice(tmp_path, pseudonymize):
    """``json.dumps`` of a body that already was JSON: a string literal holding JSON, in data and in a header."""
    import json

    import httpx

    inner = json.dumps({"api_key": "nested2xSECRETvalue42", "email": "ada@gmail.com"})
    app = jobsim.App("hooks")

    @app.function("relay", on="webhook/received")
    def relay(ctx):
        httpx.post("https://relay.example.com/in", headers={"X-Payload": json.dumps(inner)}, json={"ok": 1})

    with jobsim.Simulation(app) as sim:
        sim.http.post("https://relay.example.com/in").respond(204)
        sim.send("webhook/received", {"raw": json.dumps(inner), "quoted": '"plain words"'})
        sim.run_until_idle()
    text = sim.trace.save(tmp_path / "r.jobsim.jsonl", redact=jobsim.Redaction(pseudonymize=pseudonymize)).read_text()
    assert "nested2xSECRETvalue42" not in text
    assert ("ada@gmail.com" not in text) is pseudonymize
    lines = [json.loads(line) for line in text.splitlines()]
    data = lines[1]["ce"]["data"]
    assert json.loads(json.loads(data["raw"]))["api_key"] == MARKER  # still JSON encoded twice
    assert data["quoted"] == '"plain words"'
    http = next(line for line in lines if line["k"] == "http")
    assert json.loads(json.loads(http["request"]["headers"]["x-payload"]))["api_key"] == MARKER
    from jobsim import traces

    assert traces.scan(tmp_path / "r.jobsim.jsonl") == []


def test_a_plain_name_beside_a_phone_or_a_street_address_is_a_person_s(tmp_path):
    app = jobsim.App("sms")

    @app.function("text", on="order/shipped")
    def text(ctx):
        return f"Hi {ctx.event.data['recipient']['name']}, your order shipped"

    with jobsim.Simulation(app) as sim:
        sim.send("order/shipped", {"recipient": {"name": "Ada Lovelace", "phone": "+1 415 555 0100"}})
        sim.send("order/shipped", {"recipient": {"name": "Grace Hopper", "address": "12 Main St"}})
        sim.run_until_idle()
    text_, lines = saved(sim, tmp_path)
    for value in ("Ada", "Lovelace", "Grace", "Hopper"):
        assert value not in text_, value
    names = [line["ce"]["data"]["recipient"]["name"] for line in lines if line["k"] == "event"]
    outputs = [line["output"] for line in lines if line["k"] == "run.end"]
    assert outputs == [f"Hi {name}, your order shipped" for name in names]


@pytest.mark.parametrize("pseudonymize", [True, False])
def test_a_card_number_is_dropped_when_its_object_is_a_card_and_only_then(pseudonymize):
    redactor = Redaction(key="k", pseudonymize=pseudonymize).redactor()
    data = {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "brand": "visa"},
            "paymentMethod": {"PAN": 4000056655665556, "expiry": "12/30"},
            "order": {"number": "4242424242424242"}, "page": {"number": 3}}  # fmt: skip
    out = redactor.apply("x.custom", data)
    assert out["card"] == {"number": MARKER, "exp_month": 12, "exp_year": 2030, "brand": "visa"}
    assert out["paymentMethod"] == {"PAN": MARKER, "expiry": "12/30"}
    assert out["order"] == {"number": "4242424242424242"} and out["page"] == {"number": 3}


def _echoing_app() -> jobsim.App:
    """A CRM call whose secrets sit at secret places (query, header, cookie, password field) and are echoed
    back in the response body, the job's error and a later event."""
    app = jobsim.App("echo")

    @app.function("sync", on="go", retries=jobsim.Retries(attempts=1))
    def sync(ctx):
        response = httpx.post("https://crm.example.com/x?api_key=k3yEchoed123", json={"password": "pwEchoed0001"},
                              headers={"X-Api-Key": "hdrEchoed4567",
                                       "Cookie": "sid=cookieEchoed89; theme=darkmode1"})  # fmt: skip
        app.send("crm/rejected", {"detail": response.text})
        raise RuntimeError(f"crm said: {response.text}")

    return app


@pytest.mark.parametrize("policy", [Redaction(), Redaction(pseudonymize=False)], ids=["default", "secrets only"])
def test_a_secret_dropped_at_its_place_is_dropped_where_it_is_echoed_too(tmp_path, policy):
    # a 401 body quoting the key, the exception message and an event carrying it kept the value in clear
    secrets = ["k3yEchoed123", "hdrEchoed4567", "cookieEchoed89"] + (["pwEchoed0001"] if policy.pseudonymize else [])
    with jobsim.Simulation(_echoing_app()) as sim:
        sim.http.route(host="crm.example.com").respond(401, json={"error": "bad credentials: " + " ".join(
            ["k3yEchoed123", "hdrEchoed4567", "cookieEchoed89", "pwEchoed0001"]), "hint": "HttpOnly cookies"})
        sim.send("go")
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "echo.jsonl", redact=policy)
    text = path.read_text()
    assert [secret for secret in secrets if secret in text] == []
    assert "bad credentials: [redacted]" in text and "HttpOnly cookies" in text  # cookie attributes are no secret
    from jobsim import traces

    assert traces.scan(path) == []


def test_an_imported_cloudevent_s_source_url_loses_its_credentials(tmp_path):
    """The envelope's id, data and extensions were redacted, its ``source`` not: a webhook URL with
    ``user:password@`` in an export reached the redacted trace as it was, and ``jobsim scan`` then
    failed on the file jobsim itself had written redacted."""
    from jobsim import traces

    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps({"specversion": "1.0", "id": "e1", "type": "user/created",
                                     "source": "https://hooks:hunter2pass@hooks.shop.test/in",
                                     "time": "2025-06-01T12:00:00Z", "data": {"plan": "pro"}}) + b"\n")  # fmt: skip
    saved = traces.import_events(events).save(tmp_path / "events.jobsim.jsonl")
    text = saved.read_text()
    assert "hunter2pass" not in text and "hooks.shop.test/in" in text
    assert traces.scan(saved) == []


@pytest.mark.parametrize("name", ["李小龙", "山田 太郎", "محمد علي", "ada lovelace"])
def test_a_name_with_no_capitalised_word_is_faked_in_free_text_too(tmp_path, name):
    """A name in a script without capitals (Chinese, Japanese, Arabic) or written in lower case was
    faked whole in its ``name`` field but left as it was in the email's subject and the mail API's
    request body: the real name stayed in the redacted trace, and the trace's replay differed from it
    (the replayed subject held the fake the event now carries)."""
    app = jobsim.App("names")

    @app.function("welcome", on="user/created")
    def welcome(ctx):
        user = ctx.event.data
        ctx.step.run("mail", lambda: httpx.post("https://api.resend.com/emails", json={
            "from": "hi@acme.test", "to": [user["email"]], "subject": f"Welcome, {user['name']}!",
            "text": f"{user['name']}さん、ようこそ"}).json()["id"])  # fmt: skip

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.send("user/created", {"email": "someone@gmail.com", "name": name})
        sim.run_until_idle()
    saved = sim.trace.save(tmp_path / "names.jobsim.jsonl")
    text = saved.read_text()
    assert name not in text and orjson.dumps(name).decode()[1:-1] not in text
    fake = next(r.data["data"]["name"] for r in jobsim.Trace.load(saved) if r.kind == "event")
    assert f"Welcome, {fake}!" in text and f"{fake}さん" in text
    assert jobsim.Simulation.replay(saved, app).same
