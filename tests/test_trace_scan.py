"""``jobsim scan``: what counts as a secret left in a trace, and what does not."""

from __future__ import annotations

import gzip

import orjson
import pytest

from jobsim import traces
from jobsim._secrets import MARKER
from jobsim.errors import InvalidArgument

HEADER = {"k": "header", "format": "jobsim-trace", "version": 1, "start": 0}


def scan_lines(tmp_path, *records, pii=False, gz=False, header=HEADER):
    data = b"".join(orjson.dumps(r) + b"\n" for r in (header, *records))
    path = tmp_path / ("t.jobsim.jsonl.gz" if gz else "t.jobsim.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    return [(f.line, f.path, f.reason) for f in traces.scan(path, pii=pii)]


def record(**fields):
    return {"k": "x.custom", "seq": 0, "at": 0, **fields}


@pytest.mark.parametrize(("fields", "found"), [
    ({"headers": {"X-Api-Key": "abc"}}, [(2, "headers.X-Api-Key", "secret header 'x-api-key' has a value")]),
    ({"headers": {"Authorization": MARKER, "Accept": "*/*"}}, []),
    ({"db": {"password": "hunter2"}}, [(2, "db.password", "field 'password' is named like a secret and has a value")]),
    ({"db": {"password": ""}}, []),
    ({"card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030}},
     [(2, "card.number", "field 'number' of a payment card (beside its expiry or CVC) has a value")]),
    ({"order": {"number": "4242424242424242", "total": 12}}, []),  # an order number: no card beside it
    ({"note": "use sk_test_4eC39HqLyjWDarjtT1zdp7dc"}, [(2, "note", "looks like a stripe")]),
    ({"url": "https://u:p4ss@host/x"}, [(2, "url", "looks like a url credentials")]),
    ({"url": "redis://:p4ss@cache:6379"}, [(2, "url", "looks like a url credentials")]),
    ({"error": "401 for sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz012345"},
     [(2, "error", "looks like a model provider key (OpenAI, Anthropic)")]),
    ({"url": "https://api.example.com/x?access_token=abc&page=2"},
     [(2, "url", "secret query parameter 'access_token' has a value")]),
    ({"blob": "q8Zr2LmX7vKp4TsW9yBn3HcJ6dFg1QeA"},
     [(2, "blob", "a long random-looking string (an API key or token?)")]),
    ({"id": "q8Zr2LmX7vKp4TsW9yBn3HcJ6dFg1QeA"}, []),  # ids are random by design
    ({"run": "06ANPEYAG00017HQF6WQYJKW2M", "uuid": "6513270e-269e-4d37-b2a7-4de452e6b438"}, []),
    ({"doc": "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/500"}, []),
    ({"to": ["ada@gmail.com", "bob@example.com"]}, []),
    ({"proxy": "Bearer%20abcdefghijklmnop1234"}, [(2, "proxy", "looks like a bearer")]),
    ({"url": "https://x.io/r?cb=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0000%2FB0000%2FXXXXXXXX"},
     [(2, "url", "looks like a slack webhook")]),
    ({"raw": '"{\\"Api-Key\\": \\"nested2xSECRETvalue42\\"}"'},  # JSON encoded twice
     [(2, "raw.Api-Key", "field 'Api-Key' is named like a secret and has a value")]),
])  # fmt: skip
def test_findings(tmp_path, fields, found):
    assert scan_lines(tmp_path, record(**fields)) == found


def test_personal_data_only_when_asked(tmp_path):
    rec = record(to=["ada@gmail.com", "bob@example.com"])
    assert scan_lines(tmp_path, rec) == []
    assert scan_lines(tmp_path, rec, pii=True) == [(2, "to[0]", "an email address at a real domain (personal data)")]


def test_gzip_and_a_cut_off_last_line_are_scanned_too(tmp_path):
    assert scan_lines(tmp_path, record(headers={"Cookie": "s=1"}), gz=True) == [
        (2, "headers.Cookie", "secret header 'cookie' has a value")]
    path = tmp_path / "cut.jobsim.jsonl"
    path.write_bytes(orjson.dumps(HEADER) + b'\n{"k":"x","seq":0,"at":0,"auth":"Bearer abcdefghijklmnop')
    (finding,) = traces.scan(path)
    assert (finding.line, finding.reason, finding.preview) == (2, "looks like a bearer", "('Bear'… 23 chars)")


def _cut_gzip(tmp_path, records):
    """A gzip trace cut in half: the first lines decompress, then the stream ends early."""
    data = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in (HEADER, *records)))
    path = tmp_path / "cut.jobsim.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_cut_gzip_reports_what_its_readable_lines_hold_and_warns_of_the_rest(tmp_path):
    leak = record(headers={"Cookie": "s=1"})
    path = _cut_gzip(tmp_path, [leak] * 3000)
    with pytest.warns(traces.TraceWarning, match=r"cut\.jobsim\.jsonl\.gz: the gzip stream is damaged or cut off "
                                                 r"after line \d+ .*; the lines before it were scanned"):
        findings = traces.scan(path)
    assert 100 < len(findings) < 3000
    assert {f.reason for f in findings} == {"secret header 'cookie' has a value"}
    assert [f.line for f in findings] == list(range(2, len(findings) + 2))


def test_a_cut_gzip_whose_readable_lines_are_clean_is_never_reported_clean(tmp_path):
    path = _cut_gzip(tmp_path, [record(n=i) for i in range(5000)])
    with pytest.raises(traces.TraceError, match=r"after line \d+ .*: the lines before it hold no secret-looking "
                                                r"value, but the rest could not be scanned"):
        traces.scan(path)
    path.write_bytes(gzip.compress(b"x" * 100_000)[:30])  # damaged before its first line
    with pytest.raises(traces.TraceError, match="the gzip stream is damaged or cut off"):
        traces.scan(path)


def test_values_are_masked_in_findings(tmp_path):
    path = tmp_path / "t.jobsim.jsonl"
    path.write_bytes(orjson.dumps(record(password="correct horse battery staple")) + b"\n")
    (finding,) = traces.scan(path)
    assert str(finding) == "1: x.custom (seq 0) password: field 'password' is named like a secret and has a value " \
                           "('corr'… 28 chars)"
    assert "horse" not in str(finding)


def test_phone_numbers_are_personal_data_unless_the_trace_pseudonymized_them(tmp_path):
    rec = record(body="Reply or call +1 415 555 0100 or (415) 555-0101", at_ns="1740819600000000000",
                 when="2025-03-01T09:00:00+01:00", run="06ANPEYAG00017HQF6WQYJKW2M")
    assert scan_lines(tmp_path, rec) == []
    found = (2, "body", "a phone number (personal data)")
    assert scan_lines(tmp_path, rec, pii=True) == [found, found]
    pseudonymized = {**HEADER, "redaction": {"policy": "jobsim/1", "pii": "pseudonymized"}}
    assert scan_lines(tmp_path, rec, pii=True, header=pseudonymized) == []


def test_a_line_that_is_not_json_is_scanned_as_text_with_the_lines_after_it(tmp_path):
    """An export with a line cut short mid-file: the scan stopped there (exit 2) and reported
    nothing, not even the secrets on the lines before it. Now every line is scanned."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"name":"a","data":{"email":"ada@gmail.com"}}\n'
                     b'{"name":"b","data":{"auth":"Bearer abcdefghijklmnop\n'
                     b'{"name":"c","data":{"password":"hunter2"}}\n')  # fmt: skip
    with pytest.warns(traces.TraceWarning, match=r"events\.jsonl: line 2 is not JSON, scanned as text"):
        findings = traces.scan(path, pii=True)
    assert [(f.line, f.reason) for f in findings] == [
        (1, "an email address at a real domain (personal data)"), (2, "looks like a bearer"),
        (3, "field 'password' is named like a secret and has a value")]  # fmt: skip
    path.write_bytes(b'{"name":"a","data":{}}\nnot json\n{"name":"b","data":{"n":1\n')
    with pytest.raises(traces.TraceError, match=r"events\.jsonl: lines 2, 3 are not JSON: scanned as text, nothing "
                                                r"in the file looks secret, but a secret-named field is only told"):
        traces.scan(path)


def test_internationalized_email_addresses_are_personal_data(tmp_path):
    rec = record(note="from zoë@gmail.com and ann@müller.de, not bob@例え.test")
    assert scan_lines(tmp_path, rec, pii=True) == [(2, "note", "an email address at a real domain (personal data)")] * 2


def test_a_utf16_file_is_not_scanned_as_text_but_refused_saying_how_to_convert_it(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"name": "a", "data": {"password": "hunter2"}}\n', encoding="utf-16")
    with pytest.raises(traces.TraceError, match=r"events\.jsonl: the file is UTF-16 \(as PowerShell 5's > writes it\), "
                                                r"not UTF-8 JSON Lines: convert it"):  # fmt: skip
        traces.scan(path)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_pii_takes_true_or_false_only(tmp_path, value):
    """A truthy ``pii="no"`` looked for personal data too; a falsy ``0`` or ``None`` passed silently."""
    with pytest.raises(InvalidArgument) as caught:
        scan_lines(tmp_path, record(to="ada@gmail.com"), pii=value)
    assert str(caught.value) == (f"pii={value!r} is not valid: True (also email addresses at real domains and phone "
                                 "numbers) or False")
