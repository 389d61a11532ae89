"""Trial 40's findings on redaction: email addresses with RFC 5322 characters or a quoted local part kept in part
in clear, names mixing scripts or written in lower case, lists of IP addresses faked as one, and payment-card and
one-time-code fields kept in clear (and passed by ``jobsim scan --pii``)."""

from __future__ import annotations

import orjson
import pytest

from jobsim import Redaction, traces
from jobsim._secrets import MARKER, classify_key

HEADER = {"k": "header", "format": "jobsim-trace", "version": 1, "start": 0}


def _redact(data: dict, policy: Redaction | None = None) -> dict:
    """An event's data as a save writes it (both passes of one redactor)."""
    redactor = (policy or Redaction(key="trial40")).redactor()
    redactor.learn("event", {"id": "e1", "data": data})
    return redactor.apply("event", {"id": "e1", "data": data})["data"]


def _scan(tmp_path, data: dict, *, pii: bool = False) -> list[tuple[str, str, str]]:
    path = tmp_path / "t.jobsim.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (HEADER, {"k": "x.custom", "seq": 0, "at": 0, **data})))
    return [(f.path, f.reason, f.preview) for f in traces.scan(path, pii=pii)]


# -- 1. email addresses with RFC 5322 characters ------------------------------------------------------------------
ADDRESSES = ["o'brien@gmail.com", "a!b#c$d&e*f=g?h^i`j{k|l}m~n@gmail.com", '"john doe"@gmail.com',
             "ann+tag@gmail.com"]  # fmt: skip


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_with_rfc_5322_characters_maps_whole_to_one_fake(address):
    alone = _redact({"msg": address})["msg"]
    local = address.rpartition("@")[0]
    assert alone.count("@") == 1 and alone.endswith(("@example.com", "@example.net", "@example.org"))
    assert local not in alone and alone.partition("@")[0].replace("_", "").replace(".", "").isalnum()
    for around in ("{}", "mail {} now", "'{}'", "<{}>", "mailto:{}", "**{}**", "`{}`", "<{}>, Bob"):
        text = around.format(address)
        assert _redact({"msg": text})["msg"] == around.format(alone), text
        assert local not in _redact({"msg": text})["msg"]


def test_a_query_parameter_before_an_address_stays_and_the_address_is_faked_alone():
    alone = _redact({"msg": "ada@gmail.com"})["msg"]
    out = _redact({"url": "https://x.io/u?id=7&to=ada@gmail.com&cc=ada%40gmail.com"})["url"]
    assert out == f"https://x.io/u?id=7&to={alone}&cc={alone.replace('@', '%40')}"


def test_scan_reports_such_an_address_whole(tmp_path):
    for address in ("o'brien@gmail.com", '"john doe"@gmail.com'):
        assert _scan(tmp_path, {"msg": f"write to '{address}'"}, pii=True) == [
            ("msg", "an email address at a real domain (personal data)", f"({address[:4]!r}… {len(address)} chars)")
        ]
    assert _scan(tmp_path, {"url": "https://x.io/?to=ann@gmail.com"}, pii=True) == [
        ("url", "an email address at a real domain (personal data)", "('ann@'… 13 chars)")
    ]


# -- 2. and 3. names mixing scripts, names in lower case ----------------------------------------------------------
@pytest.mark.parametrize("name", ["Ada 李", "李 Lovelace", "李小龙 Bruce Lee", "Bruce Lee 李小龙", "ada Lovelace"])
def test_every_word_of_a_name_at_a_name_field_is_faked_whatever_its_script(name):
    out = _redact({"email": "someone@gmail.com", "name": name})["name"]
    out_full = _redact({"full_name": name})["full_name"]
    for word in name.split():
        assert word not in out.split() and word not in out_full.split(), (name, out, out_full)
    assert "李" not in out + out_full


def test_a_cjk_word_of_a_mixed_name_is_faked_in_free_text_too():
    out = _redact({"full_name": "李小龙 Bruce Lee", "note": "Welcome, 李小龙!"})
    assert "李小龙" not in out["note"] and out["note"] == f"Welcome, {out['full_name'].split()[0]}!"


def test_one_person_is_faked_as_one_whatever_the_case_a_name_is_written_in():
    fakes = [_redact({"full_name": name})["full_name"] for name in ("Ada Lovelace", "ada lovelace", "ADA LOVELACE")]
    assert fakes[0] != "Ada Lovelace" and fakes[0].istitle()
    assert fakes[1] == fakes[0].lower() and fakes[2] == fakes[0].upper()
    redactor = Redaction(key="trial40").redactor()  # met in one trace, in either order
    for name in ("ada lovelace", "Ada Lovelace"):
        redactor.learn("event", {"id": "e", "data": {"full_name": name}})
    assert [redactor.apply("event", {"id": "e", "data": {"full_name": n}})["data"]["full_name"]
            for n in ("Ada Lovelace", "ada lovelace")] == fakes[:2]  # fmt: skip


def test_lower_case_particles_of_a_name_stay():
    out = _redact({"full_name": "Ludwig van Beethoven"})["full_name"]
    assert out.split()[1] == "van" and "Ludwig" not in out and "Beethoven" not in out


# -- 4. lists of IP addresses ---------------------------------------------------------------------------------------
def test_each_ip_address_of_a_list_gets_its_own_fake():
    one, two = (_redact({"ip": ip})["ip"] for ip in ("10.0.0.1", "192.168.1.7"))
    assert one != two and "10.0.0.1" not in (one, two)
    assert _redact({"ips": ["10.0.0.1", "192.168.1.7"]})["ips"] == [one, two]
    assert _redact({"ip": "10.0.0.1, 192.168.1.7"})["ip"] == f"{one}, {two}"
    assert _redact({"client_ips": "10.0.0.1 192.168.1.7"})["client_ips"] == f"{one} {two}"


# -- 6. payment-card and one-time-code fields ---------------------------------------------------------------------
SECRET_FIELDS = ["cc_number", "card_number", "ccNum", "cvv", "cvv2", "cvc", "pin", "PIN", "pin_code", "otp",
                 "otp_code", "one_time_code", "totp", "mfa_code"]  # fmt: skip
NOT_SECRETS = ["pinned", "spin", "options", "otp_enabled", "opinion", "pincode_hint", "shipping", "topic"]


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_card_and_one_time_code_fields_are_dropped_and_scan_flags_them(tmp_path, field):
    assert _redact({field: "4242424242424242", "id": 7})[field] == MARKER
    assert _redact({field: 123456})[field] == MARKER
    assert _scan(tmp_path, {"form": {field: "123456"}}) == [
        (f"form.{field}", f"field {field!r} is named like a secret and has a value", "('1'… 6 chars)")
    ]


@pytest.mark.parametrize("field", NOT_SECRETS)
def test_names_that_only_contain_them_are_no_secrets(tmp_path, field):
    assert classify_key(field) != "drop"
    assert _redact({field: "on top"})[field] == "on top"
    assert _scan(tmp_path, {"form": {field: "on top"}}) == []


def test_a_flag_or_none_at_a_secret_field_is_no_secret(tmp_path):
    data = {"pin": True, "otp": False, "password": None, "cvv": True}
    assert _redact(data) == data
    assert _scan(tmp_path, {"form": data}) == []


@pytest.mark.parametrize("kind", ["invoke.timeout", "request.timeout"])
def test_the_step_id_of_a_timeout_record_is_redacted_as_other_steps_are(tmp_path, kind):
    """A step id may embed a user's email (``f"call-{email}"``): the records of a step name it as its other records
    do, redacted alike."""
    import jobsim

    app = jobsim.App("a")

    @app.function("child", on="child/go")
    def child(ctx):
        ctx.step.sleep("long", "3h")

    @app.function("parent", on="go", retries=0)
    def parent(ctx):
        step = f"call {ctx.event.data['email']}"
        if kind == "invoke.timeout":
            ctx.step.invoke(step, function="child", data={}, timeout="1h")
        else:
            import time

            ctx.step.run(step, time.sleep, 3 * 3600)  # past Inngest's 2 h request limit

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {"email": "ada.lovelace@gmail.com"})
        sim.run_until_idle()
    assert sim.trace.of(kind)
    path = sim.trace.save(tmp_path / "t.jsonl")
    text = path.read_text()
    assert "ada.lovelace" not in text and f'"k":"{kind}"' in text


def test_the_error_of_a_refused_record_is_redacted_as_an_attempts_is(tmp_path):
    """A refusal names the step it met (``(step 'nap ada@...')``): its ``refused`` record is redacted alike."""
    import jobsim
    from jobsim.errors import UnsupportedFeature

    app = jobsim.App("a")

    @app.function("f", on="go")
    def f(ctx):
        ctx.step.sleep(f"nap {ctx.event.data['email']}", "1h")

    with jobsim.Simulation(app, profile="bullmq", start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {"email": "ada.lovelace@gmail.com"})
        with pytest.raises(UnsupportedFeature, match=r"ada\.lovelace@gmail\.com"):
            sim.run_until_idle()
        (record,) = sim.trace.of("refused")
        assert "(step 'nap ada.lovelace@gmail.com')" in record.data["error"]
        path = sim.trace.save(tmp_path / "t.jsonl")
    (line,) = [line for line in path.read_text().splitlines() if '"k":"refused"' in line]
    assert "ada.lovelace" not in line and "(step 'nap " in line and "BullMQ cannot run function 'f'" in line
