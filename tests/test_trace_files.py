"""Trace files: the format on disk, round trips, gzip, streaming, and every way a file can be bad."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path
from unittest import mock

import orjson
import pytest
from _traceapp import START, build, record
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import _tracereader, traces
from jobsim._codec import decode, encode, ms_to_rfc3339, rfc3339_ns
from jobsim._time import SECOND, instant_ns
from jobsim.errors import TraceError, TraceWarning

T0 = instant_ns(START)


@pytest.fixture(scope="module")
def recorded() -> jobsim.Simulation:
    return record(build())


def lines_of(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write_lines(path: Path, *objects: object, raw_tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objects) + raw_tail)
    return path


HEADER = {"k": "header", "format": "jobsim-trace", "version": 1, "start": T0, "tz": "UTC", "seed": 0,
          "profile": "inngest"}  # fmt: skip


# -- the format -------------------------------------------------------------------------------------
def test_the_header_says_where_the_trace_comes_from(recorded, tmp_path):
    path = recorded.trace.save(tmp_path / "run.jobsim.jsonl", redact=False)
    header = lines_of(path)[0]
    assert header == {
        "k": "header", "format": "jobsim-trace", "version": 1, "minor": 2, "jobsim": jobsim.__version__,
        "start": T0, "start_time": "2025-03-03T09:00:00.000Z", "tz": "Europe/Berlin", "seed": 7,
        "profile": "inngest", "clock": "ns", "apps": ["traced"], "functions": ["welcome", "digest", "audit"],
        "redaction": {"policy": None, "secrets": "kept", "pii": "kept"},
    }  # fmt: skip


def test_every_record_has_kind_seq_and_virtual_time_and_the_file_ends_with_counts(recorded, tmp_path):
    lines = lines_of(recorded.trace.save(tmp_path / "run.jobsim.jsonl", redact=False))
    body, end = lines[1:-1], lines[-1]
    assert [line["seq"] for line in body] == list(range(len(recorded.trace)))
    assert all(isinstance(line["at"], int) and line["at"] >= T0 for line in body)
    assert [line["k"] for line in body] == [r.kind for r in recorded.trace]
    assert end["k"] == "end" and end["seq"] == len(body) and end["records"] == len(body)
    assert end["at"] == T0 + 8 * 3600 * SECOND - 30 * 60 * SECOND  # 30m, then run_until_idle, then 6h
    # the repeated id is an event (Inngest keeps it) whose welcome run is skipped
    assert end["counts"]["event"] == 5 and "event.dropped" not in end["counts"] and end["counts"]["retry"] == 2
    assert end["counts"]["run.skipped"] == 1


def test_an_input_event_is_a_cloudevent_with_inngest_fields_mapped(recorded, tmp_path):
    lines = lines_of(recorded.trace.save(tmp_path / "run.jobsim.jsonl", redact=False))
    first = lines[1]
    assert first == {
        "k": "event", "seq": 0, "at": T0, "origin": "input",
        "ce": {"specversion": "1.0", "id": "signup-ada", "source": "/jobsim/input", "type": "user/created",
               "time": "2025-03-03T09:00:00.000Z", "datacontenttype": "application/json",
               "data": {"email": "ada.lovelace@gmail.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0018"}},
    }  # fmt: skip
    emitted = next(line for line in lines if line["k"] == "event" and line["origin"] == "job")
    assert emitted["function"] == "welcome" and emitted["ce"]["source"] == "/jobsim/functions/welcome"
    assert emitted["ce"]["type"] == "user/welcomed" and emitted["at"] == T0 + 3610 * SECOND
    repeat = [line for line in lines if line["k"] == "event" and line["ce"]["id"] == "signup-ada"][1]
    assert (repeat["origin"], repeat["at"]) == ("input", T0 + 1800 * SECOND)


def test_a_retry_carries_its_next_time_and_http_and_email_their_summaries(recorded, tmp_path):
    lines = lines_of(recorded.trace.save(tmp_path / "run.jobsim.jsonl", redact=False))
    retry = next(line for line in lines if line["k"] == "retry")
    assert (retry["at"], retry["next_at"], retry["delay"], retry["attempt"]) == (T0, T0 + 10 * SECOND, 10 * SECOND, 1)
    http = next(line for line in lines if line["k"] == "http")
    assert http["status"] == 500 and http["elapsed"] == 0
    sent = {"email": "ada.lovelace@gmail.com", "name": "Ada Lovelace", "plan": "free"}
    assert http["request"]["body"] == {"json": sent}
    assert http["request"]["headers"]["content-type"] == "application/json"
    assert http["response"] == {"status": 500, "headers": {"content-type": "application/json"},
                                "body": {"json": {"error": "down"}}}  # fmt: skip
    email = next(line for line in lines if line["k"] == "email")
    assert {k: email[k] for k in ("provider", "sender", "to", "subject", "text")} == {
        "provider": "resend", "sender": "hello@acme.test", "to": ["ada.lovelace@gmail.com"],
        "subject": "Welcome, Ada Lovelace!", "text": "Hi Ada Lovelace, your contact id is 1.",
    }  # fmt: skip
    end = next(line for line in lines if line["k"] == "run.end" and line["function"] == "welcome")
    assert end["output"] == {"contact": 1, "email": "ada.lovelace@gmail.com", "plan": "free"}


def test_what_a_replay_needs_is_recorded_advances_and_armed_faults(recorded, tmp_path):
    lines = lines_of(recorded.trace.save(tmp_path / "run.jobsim.jsonl", redact=False))
    advances = [(line["at"] - T0, line["until"] - T0, line["idle"]) for line in lines if line["k"] == "advance"]
    assert advances[:2] == [(0, 1800 * SECOND, False), (1800 * SECOND, 1800 * SECOND, False)]
    assert advances[2][2] is True  # run_until_idle
    armed = next(line for line in lines if line["k"] == "fault.armed")
    assert armed == {"k": "fault.armed", "seq": armed["seq"], "at": T0 + 1800 * SECOND, "fault": "fail",
                     "function": "audit",
                     "step": "log", "times": 1,
                     "error": {"type": "TimeoutError", "module": "builtins", "message": "audit log slow"}}  # fmt: skip


# -- round trips ------------------------------------------------------------------------------------
def test_save_then_load_gives_the_same_records_and_saving_again_the_same_bytes(recorded, tmp_path):
    first = recorded.trace.save(tmp_path / "a.jobsim.jsonl", redact=False)
    loaded = jobsim.Trace.load(first)
    assert len(loaded) == len(recorded.trace) and loaded.complete and not loaded.truncated
    assert loaded.warnings == [] and loaded.header["seed"] == 7 and loaded.end["records"] == len(loaded)
    assert [(r.seq, r.at, r.kind) for r in loaded] == [(r.seq, r.at, r.kind) for r in recorded.trace]
    assert loaded.of("retry")[0].data["at"] == T0 + 10 * SECOND  # the in-memory name of next_at
    second = loaded.save(tmp_path / "b.jobsim.jsonl", redact=False)
    assert second.read_bytes() == first.read_bytes()


def test_gzip_by_suffix_or_argument_reads_back_and_is_byte_stable(recorded, tmp_path):
    plain = recorded.trace.save(tmp_path / "a.jobsim.jsonl")
    gz = recorded.trace.save(tmp_path / "a.jobsim.jsonl.gz")
    forced = recorded.trace.save(tmp_path / "forced.trace", compress=True)
    assert gz.read_bytes()[:2] == b"\x1f\x8b" and forced.read_bytes() == gz.read_bytes()
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    assert recorded.trace.save(tmp_path / "again.jobsim.jsonl.gz").read_bytes() == gz.read_bytes()  # mtime 0
    assert len(jobsim.Trace.load(forced)) == len(recorded.trace)
    assert not list(tmp_path.glob("*.part"))


def test_records_stream_without_loading_the_file(recorded, tmp_path):
    path = recorded.trace.save(tmp_path / "a.jobsim.jsonl.gz")
    stream = traces.iter_records(path)
    first = next(stream)
    assert (first.seq, first.kind, first.data["name"]) == (0, "event", "user/created")
    stream.close()
    with traces.TraceReader(path) as reader:
        assert reader.header["tz"] == "Europe/Berlin"
        kinds = [record.kind for record in reader]
    assert kinds == [r.kind for r in recorded.trace] and reader.records == len(kinds)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20).filter(str.strip)
timestamps = st.integers(0, 253_402_300_799_999)  # ms: year 1970 to 9999
event_data = st.fixed_dictionaries(
    {"name": names, "id": st.text(min_size=1, max_size=30), "data": st.dictionaries(st.text(max_size=8), json_values,
                                                                                      max_size=4),
     "ts": timestamps, "origin": st.sampled_from(["input", "job", "system"])},
    optional={"v": st.text(max_size=10), "user": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
              "source": st.just("https://shop.example.com/api"),
              "attributes": st.fixed_dictionaries({"traceparent": st.text(max_size=10)})},
).map(lambda d: d if d["origin"] != "job" else {**d, "function": "f", "run": "r1"})  # fmt: skip
plain_kinds = st.sampled_from(["run.start", "attempt", "sleep", "wait", "cron", "http", "email", "run.end", "x.custom"])
plain_data = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in ("k", "seq", "at")), json_values,
                             max_size=5)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["event", "event.dropped"]), data=event_data, seq=st.integers(0, 10**9),
       at=st.integers(-(2**62), 2**62))  # fmt: skip
def test_codec_round_trip_of_events(kind, data, seq, at):
    line = orjson.loads(orjson.dumps(encode(seq, at, kind, data)))
    assert (line.pop("k"), line.pop("seq"), line.pop("at")) == (kind, seq, at)
    assert decode(kind, line) == data


@settings(max_examples=300, deadline=None)
@given(kind=plain_kinds, data=plain_data, seq=st.integers(0, 10**9), at=st.integers(-(2**62), 2**62),
       next_at=st.integers(0, 2**62))  # fmt: skip
def test_codec_round_trip_of_other_records(kind, data, seq, at, next_at):
    required = {"run.start": ("function", "run"), "attempt": ("function", "run", "attempt"),
                "sleep": ("function", "run", "until"), "wait": ("function", "run", "event", "until"),
                "cron": ("function", "cron"), "http": ("method", "url"), "email": ("to", "subject"),
                "run.end": ("function", "run", "status")}.get(kind, ())  # fmt: skip
    # the fields a reader type-checks (a wrong type is refused by name: test_trace_reader.py) keep their type
    checked = ("function", "run", "method", "url", "request", "response", "lost")
    data = {**{name: "x" for name in required}, **{key: value for key, value in data.items() if key not in checked}}
    line = orjson.loads(orjson.dumps(encode(seq, at, kind, data)))
    assert (line.pop("k"), line.pop("seq"), line.pop("at")) == (kind, seq, at)
    assert decode(kind, line) == data
    retry = {"function": "f", "run": "r", "attempt": 1, "at": next_at, "delay": 5}
    encoded = encode(seq, at, "retry", retry)
    assert encoded["next_at"] == next_at and encoded["at"] == at
    assert decode("retry", {k: v for k, v in encoded.items() if k not in ("k", "seq", "at")}) == retry


@settings(max_examples=200, deadline=None)
@given(ms=timestamps)
def test_event_times_round_trip_through_rfc3339(ms):
    text = ms_to_rfc3339(ms)
    assert text.endswith("Z") and len(text) == 24
    assert rfc3339_ns(text) == ms * 1_000_000


@pytest.mark.parametrize(("text", "ns"), [
    ("2025-03-03T09:00:00Z", T0),
    ("2025-03-03t09:00:00z", T0),
    ("2025-03-03 10:00:00+01:00", T0),
    ("2025-03-03T04:00:00.5-05:00", T0 + SECOND // 2),
    ("2025-03-03T09:00:00.123456789Z", T0 + 123_456_789),
    ("2016-12-31T23:59:60Z", instant_ns("2017-01-01T00:00:00Z")),  # a leap second lands on the next one
    ("2025-03-03T09:00:00.1234567891234Z", T0 + 123_456_789),  # RFC 3339 allows more digits: past ns, dropped
    ("2025-03-03T09:00:00.123-23:59", T0 + 123_000_000 + 23 * 3600 * SECOND + 59 * 60 * SECOND),
])  # fmt: skip
def test_rfc3339_parsing(text, ns):
    assert rfc3339_ns(text) == ns


@pytest.mark.parametrize("text", ["2025-03-03", "2025-03-03T09:00:00", "2025-02-30T00:00:00Z", 1741000000, None])
def test_rfc3339_rejects_what_is_not_one(text):
    with pytest.raises(ValueError, match=r"RFC 3339|not a valid date"):
        rfc3339_ns(text)


def test_plugin_records_round_trip_and_reserved_field_names_are_refused(tmp_path):
    app = build()
    with jobsim.Simulation(app, start=START) as sim:
        sim.record("billing.invoice", invoice="inv_1", lines=[{"sku": "a", "qty": 2}])
        with pytest.raises(jobsim.InvalidArgument, match=r"field\(s\) \['at'\].*'k', 'seq' and 'at' are taken"):
            sim.record("billing.invoice", at=3)
        with pytest.raises(jobsim.InvalidArgument, match="kind='header' is not valid"):
            sim.record("header", x=1)
    with pytest.warns(TraceWarning, match=r"1 record\(s\) of unknown kind 'billing.invoice' \(first on line 2\)"):
        loaded = jobsim.Trace.load(sim.trace.save(tmp_path / "p.jobsim.jsonl", redact=False))
    (invoice,) = loaded.of("billing.invoice")
    assert invoice.data == {"invoice": "inv_1", "lines": [{"sku": "a", "qty": 2}]}


# -- bad files ----------------------------------------------------------------------------------------
def test_a_missing_file(tmp_path):
    with pytest.raises(TraceError, match=r"nope\.jobsim\.jsonl: no such file"):
        jobsim.Trace.load(tmp_path / "nope.jobsim.jsonl")


def test_an_empty_file(tmp_path):
    path = tmp_path / "empty.jobsim.jsonl"
    path.write_bytes(b"")
    with pytest.raises(TraceError, match="the file is empty: a jobsim trace starts with its header line"):
        jobsim.Trace.load(path)


@pytest.mark.parametrize(("first", "message"), [
    (b"hello\n", r":1: not a jobsim trace: the first line is not JSON"),
    (b'{"k":"event","seq":0,"at":0}\n', r":1: not a jobsim trace: the first line must be the header "
                                        r"\{\"k\":\"header\",\"format\":\"jobsim-trace\",\"version\":1,\.\.\.\}"),
    (b'{"name":"user/created","data":{}}\n', r"this looks like a file of events.*`jobsim replay`.*`jobsim import`"),
    (b'{"k":"header","format":"jobsim-trace","version":"1","start":0}\n', r":1: the header's format version must be "
                                                                          r"an integer, got '1'"),
    (b'{"k":"header","format":"jobsim-trace","version":1}\n', r":1: the header has no 'start'"),
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"seed":"7"}\n', r"'seed' must be an int, got '7'"),
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"minor":"1"}\n', r"'minor' must be an int, got '1'"),
    # accepted unchecked: a random_streams of another spelling was replayed as the default, silently
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"random_streams":"nope"}\n',
     r":1: the header's 'random_streams' must be 'function' or 'shared', got 'nope'"),
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"left_out":"x"}\n',
     r":1: the header's 'left_out' must be a list of strings \(ids\), got 'x'"),
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"apps":1}\n',
     r":1: the header's 'apps' must be a list of strings \(ids\), got 1"),
    (b'{"k":"header","format":"jobsim-trace","version":1,"start":0,"clock":"ms"}\n',
     r":1: the header's 'clock' must be 'ns', got 'ms'"),
])  # fmt: skip
def test_a_bad_header(tmp_path, first, message):
    path = tmp_path / "bad.jobsim.jsonl"
    path.write_bytes(first)
    with pytest.raises(TraceError, match=message):
        jobsim.Trace.load(path)


def test_a_newer_major_version_is_refused_with_the_upgrade_hint(tmp_path):
    path = write_lines(tmp_path / "new.jobsim.jsonl", {**HEADER, "version": 2})
    opened = []
    real_open = _tracereader.open_trace

    def tracked(source):
        opened.append(real_open(source))
        return opened[-1]

    with mock.patch.object(_tracereader, "open_trace", tracked), pytest.raises(TraceError) as info:
        jobsim.Trace.load(path)
    assert [f.closed for f in opened] == [True]  # a refused header leaves no file open
    assert str(info.value) == (f"{path}:1: trace format version 2 is newer than this jobsim ({jobsim.__version__}) "
                               "reads (version 1); upgrade jobsim: reinstall it from a newer checkout of its "
                               "repository (pip install -U jobsim would install PyPI's jobsim, another project)")
    assert (info.value.path, info.value.line) == (str(path), 1)


def test_a_newer_minor_version_and_unknown_fields_are_read(tmp_path):
    path = write_lines(tmp_path / "minor.jobsim.jsonl", {**HEADER, "minor": 7, "future": {"x": 1}},
                       {"k": "run.start", "seq": 0, "at": T0, "function": "f", "run": "r", "n": 1, "later": True},
                       {"k": "end", "seq": 1, "at": T0, "records": 1})  # fmt: skip
    loaded = jobsim.Trace.load(path)
    assert loaded.header["future"] == {"x": 1} and loaded.records[0].data["later"] is True


@pytest.mark.parametrize(("line", "message"), [
    (b'{"k":"run.start","seq":0,"at":1,"function"\n', r":3: malformed line: .*'\{\"k\":\"run.start\",\"seq\":0"),
    (b"[1, 2]\n", r":3: each line must be a JSON object, got '\[1, 2\]'"),
    (b'{"k":"run.start","at":1}\n', r":3: a record needs 'k' \(a string\), 'seq' and 'at' \(integers\)"),
    (b'{"k":"run.end","seq":5,"at":1,"function":"f","run":"r"}\n',
     r":3: a 'run.end' record needs the field\(s\) status"),
    (b'{"k":"event","seq":5,"at":1,"ce":{"type":"x"}}\n', r":3: the CloudEvent has no string 'id' attribute"),
    (b'{"k":"run.start","seq":0,"at":1,"function":"f","run":"r"}\n', r":3: seq 0 does not follow seq 0"),
])  # fmt: skip
def test_a_corrupt_line_is_an_error_with_its_line_number(tmp_path, line, message):
    path = write_lines(tmp_path / "corrupt.jobsim.jsonl", HEADER,
                       {"k": "run.start", "seq": 0, "at": T0, "function": "f", "run": "r"},
                       raw_tail=line + orjson.dumps({"k": "end", "seq": 9, "at": T0}) + b"\n")  # fmt: skip
    with pytest.raises(TraceError, match=message):
        jobsim.Trace.load(path)


def test_a_record_after_the_end_line_is_an_error(tmp_path):
    path = write_lines(tmp_path / "late.jobsim.jsonl", HEADER, {"k": "end", "seq": 0, "at": T0, "records": 0},
                       {"k": "run.start", "seq": 1, "at": T0, "function": "f", "run": "r"})  # fmt: skip
    with pytest.raises(TraceError, match=r":3: a record follows the 'end' line"):
        jobsim.Trace.load(path)


def test_an_unknown_record_kind_is_a_generic_record_unless_strict(tmp_path):
    path = write_lines(tmp_path / "kinds.jobsim.jsonl", HEADER,
                       {"k": "celery.task", "seq": 0, "at": T0, "task": "add", "args": [1, 2]},
                       {"k": "celery.task", "seq": 1, "at": T0, "task": "mul"},
                       {"k": "end", "seq": 2, "at": T0, "records": 2})  # fmt: skip
    with pytest.warns(TraceWarning, match=r"2 record\(s\) of unknown kind 'celery.task' \(first on line 2\) were read "
                                          "as generic records"):  # fmt: skip
        loaded = jobsim.Trace.load(path)
    assert [r.data["task"] for r in loaded] == ["add", "mul"]
    assert loaded.warnings == ["2 record(s) of unknown kind 'celery.task' (first on line 2) were read as generic "
                               "records; install the plugin that declares the kind to draw them in timelines"]
    with pytest.raises(TraceError, match=r":2: unknown record kind 'celery.task' \(strict=True\); known kinds: adv"):
        jobsim.Trace.load(path, strict=True)


def test_a_cut_off_last_line_is_reported_not_fatal(recorded, tmp_path):
    whole = recorded.trace.save(tmp_path / "whole.jobsim.jsonl", redact=False).read_bytes()
    lines = whole.splitlines(keepends=True)
    cut = tmp_path / "cut.jobsim.jsonl"
    cut.write_bytes(b"".join(lines[:20]) + lines[20][:37])
    with pytest.warns(TraceWarning, match=r"line 21 is cut off \(the recording did not finish\); the records before"):
        loaded = jobsim.Trace.load(cut)
    assert len(loaded) == 19 and loaded.truncated and not loaded.complete


def test_a_missing_end_line_is_reported(recorded, tmp_path):
    whole = recorded.trace.save(tmp_path / "whole.jobsim.jsonl", redact=False).read_bytes()
    path = tmp_path / "noend.jobsim.jsonl"
    path.write_bytes(b"".join(whole.splitlines(keepends=True)[:10]))
    with pytest.warns(TraceWarning, match=r"no 'end' line after line 10: the recording may have stopped early"):
        loaded = jobsim.Trace.load(path)
    assert len(loaded) == 9 and not loaded.complete and not loaded.truncated


def test_a_cut_off_gzip_stream_keeps_what_was_read(recorded, tmp_path):
    data = recorded.trace.save(tmp_path / "whole.jobsim.jsonl.gz").read_bytes()
    path = tmp_path / "cut.jobsim.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = jobsim.Trace.load(path)
    assert loaded.truncated and 0 < len(loaded) < len(recorded.trace)
    assert any("the gzip stream ends early" in str(w.message) or "cut off" in str(w.message) for w in caught)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"redact": "yes"}, "redact='yes' is not valid: a jobsim.Redaction, True"),
    ({"compress": "gzip"}, "compress='gzip' is not valid: True"),
])  # fmt: skip
def test_bad_save_arguments(recorded, tmp_path, kwargs, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        recorded.trace.save(tmp_path / "x.jobsim.jsonl", **kwargs)
    with pytest.raises(jobsim.InvalidArgument, match="path=42 is not valid"):
        recorded.trace.save(42)


spliced_kinds = st.sampled_from(["attempt", "run.start", "advance", "sleep", "retry", "event"]) | st.text(
    st.sampled_from('ab.%"\\é_-'), min_size=1, max_size=6
).filter(lambda k: k not in ("header", "end") and k not in traces_builtin())
odd_data = st.dictionaries(st.text(max_size=4).filter(lambda k: k not in ("k", "seq", "at")) | st.integers(0, 9),
                           json_values, max_size=4)  # fmt: skip


def traces_builtin():
    from jobsim._codec import BUILTIN

    return BUILTIN


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(spliced_kinds, odd_data, st.integers(-(2**62), 2**62),
                               st.none() | json_values.map(orjson.dumps)), max_size=6))  # fmt: skip
def test_the_writer_s_spliced_lines_are_what_encoding_each_record_gives(rows, tmp_path_factory):
    """Lines are written as bytes ('{"k":..,"seq":..,"at":..,' + the fields' JSON), outputs verbatim:
    byte for byte what orjson gives for the whole line, for odd kind names, empty fields and int keys."""
    from jobsim._codec import canonical

    trace = jobsim.Trace()
    for kind, data, at, output in rows:
        if kind == "event":
            data = {"name": "e", "id": "x", "data": {"k": 1}, "ts": 0, "origin": "input"}
        elif output is not None:
            kind, data = "run.end", {"function": "f", "run": "r", "status": "completed", "output": output}
        trace.add(at, kind, data)
    path = tmp_path_factory.mktemp("splice") / "t.jobsim.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        trace.save(path, redact=False)
    written = path.read_bytes().splitlines(keepends=True)[1:-1]
    assert len(written) == len(rows)
    for seq, ((at, kind, data), line) in enumerate(zip(trace._rows, written, strict=True)):
        expected = orjson.dumps(encode(seq, at, kind, canonical(kind, data)),
                                option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)  # fmt: skip
        assert line == expected


def test_the_writer_writes_as_it_goes_whatever_the_kinds(monkeypatch, tmp_path):
    """A trace of events only (lines with their own layout) is flushed a buffer at a time too, not held whole."""
    from jobsim import _tracefile, _tracelines

    monkeypatch.setattr(_tracelines, "_BUFFER", 4096)
    trace = jobsim.Trace()
    for i in range(200):
        trace.add(i, "event", {"name": "e", "id": f"e{i}", "data": {"i": i}, "ts": 0, "origin": "input"})
    writes: list[int] = []

    class Counting:
        def write(self, data: bytes) -> None:
            writes.append(len(data))

    _tracefile.write(trace, Counting(), None)  # type: ignore[arg-type]
    assert len(writes) > 5 and max(writes) < 2 * 4096


@pytest.mark.parametrize("where", ["missing/x.jobsim.jsonl", "."])
def test_saving_where_no_file_can_be_written_is_a_trace_error_naming_it(recorded, tmp_path, where):
    # a FileNotFoundError / IsADirectoryError from open(... '.part') used to escape as is
    target = tmp_path / where
    with pytest.raises(TraceError, match=f"^{target}: cannot write it: "):
        recorded.trace.save(target)
    assert list(tmp_path.iterdir()) == []  # no '.part' file left behind


@pytest.mark.parametrize("bad", [None, b"x.jobsim.jsonl", "", "a\x00b.jsonl", 3])
def test_paths_that_are_not_paths_are_invalid_arguments_for_every_reader(recorded, bad):
    # None and bytes raised TypeError from pathlib in scan/import_events; a NUL, ValueError from open()
    for call in (jobsim.Trace.load, lambda p: list(traces.iter_records(p)), traces.scan, traces.import_events,
                 recorded.trace.save):
        with pytest.raises(jobsim.InvalidArgument, match=r"^path=.* is not valid: a file path"):
            call(bad)


def test_a_plugin_record_json_cannot_hold_is_a_trace_error_naming_it(tmp_path):
    # an int past 64 bits in sim.record(...) raised orjson's TypeError from trace.save (and from the timeline)
    with jobsim.Simulation(build(), start=START) as sim:
        sim.record("acme.audit", amount=10**30)
    assert sim.timeline().splitlines()[-1].endswith("acme.audit {'amount': 1000000000000000000000000000000}")
    target = tmp_path / "x.jobsim.jsonl"
    with pytest.raises(TraceError, match=f"^{target}: record 0 of kind 'acme.audit' cannot be written as JSON"):
        sim.trace.save(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", [Path("/"), "."])
def test_a_path_with_no_file_name_is_refused(recorded, where):
    # Path('/') raised ValueError("has an empty name") from with_name('.part')
    with pytest.raises(jobsim.InvalidArgument, match=r"^path=.* is not valid: a file path ending in a file name"):
        recorded.trace.save(where)


@pytest.mark.parametrize("name", ["jobs.py", "JOBS.PY", "gui.pyw", "jobs.pyi"])
def test_saving_over_python_code_is_refused_as_the_command_line_refuses_it(recorded, tmp_path, monkeypatch, name):
    """``sim.trace.save("jobs.py")`` replaced the code with the trace; only ``--save jobs.py`` was refused."""
    monkeypatch.chdir(tmp_path)
    code = tmp_path / name
    code.write_text("app = None\n")
    stem = name.rsplit(".", 1)[0]
    for path, what in [(name, "which the trace would replace"), (tmp_path / f"new{name}", "not a trace file")]:
        shown = str(path)
        fix = f"{shown.rsplit('.', 1)[0]}.jobsim.jsonl"
        with pytest.raises(jobsim.InvalidArgument) as info:
            recorded.trace.save(path)
        assert str(info.value) == f"path={shown!r} names a Python file, {what}; give a trace file, such as {fix!r}"
    assert code.read_text() == "app = None\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written, no '.part' left
    assert recorded.trace.save(f"{stem}.py.jobsim.jsonl").exists()  # a trace file named after the code is fine


@pytest.mark.parametrize(("start", "at"), [("1600-01-01T00:00:00Z", "starts at 1600-01-01T00:00:00.000Z"),
                                           ("2600-01-01T00:00:00Z", "starts at 2600-01-01T00:00:00.000Z")])
def test_a_simulation_outside_what_a_trace_file_holds_is_named_when_saved(tmp_path, start, at):
    # the header's start (nanoseconds past 64 bits) raised orjson's bare "TypeError: Integer exceeds 64-bit range"
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start=start) as sim:
        sim.send("go")
        sim.advance("1s")
    target = tmp_path / "t.jobsim.jsonl"
    with pytest.raises(TraceError) as info:
        sim.trace.save(target)
    assert str(info.value) == (
        f"{target}: the simulation {at}, outside what a trace file holds: virtual time is written as 64-bit "
        "nanoseconds, from 1677-09-21T00:12:43.145Z to 2554-07-21T23:34:33.709Z; start and advance the simulation "
        "within them to save its trace"
    )
    assert not target.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_a_simulation_that_advances_past_what_a_trace_file_holds_is_named_when_saved(tmp_path):
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start="2554-07-21T00:00:00Z") as sim:
        sim.trace.save(tmp_path / "early.jobsim.jsonl")  # within: saved
        sim.advance("1d")
    with pytest.raises(TraceError, match=r"the simulation ends at 2554-07-22T00:00:00\.000Z, outside what a trace"):
        sim.trace.save(tmp_path / "late.jobsim.jsonl")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: traces.from_cloudevent(3), "'ce' must be a CloudEvents JSON object, not int"),
    (lambda: traces.from_cloudevent({"type": "a", "id": "1", "time": 3}), "time 3 is not an RFC 3339 timestamp"),
    (lambda: traces.to_cloudevent(None), "data=None is not valid: an event's fields as Event.to_dict() gives them"),
    (lambda: traces.to_cloudevent({"name": "a", "data": {}}), "data={'name': 'a', 'data': {}} is not valid"),
    (lambda: traces.to_cloudevent({"name": "a", "id": "1", "ts": "soon"}), "'ts': 'soon'} is not valid: an event's "),
])  # fmt: skip
def test_the_cloudevent_converters_refuse_what_they_cannot_convert_with_invalid_argument(call, message):
    # to_cloudevent raised TypeError/KeyError; from_cloudevent a bare ValueError (InvalidArgument is one too)
    with pytest.raises(jobsim.InvalidArgument) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize("strict", ["no", 1, None])
def test_strict_is_a_bool_not_anything_truthy(recorded, tmp_path, strict):
    # strict='no' read the file strictly (and strict=None leniently), silently
    path = recorded.trace.save(tmp_path / "t.jobsim.jsonl")
    for read in (lambda: jobsim.Trace.load(path, strict=strict), lambda: list(traces.iter_records(path, strict=strict)),
                 lambda: traces.compare(path, path, strict=strict)):
        with pytest.raises(jobsim.InvalidArgument, match=rf"^strict={strict!r} is not valid: True \(unknown record "
                                                         r"kinds are errors\) or False \(warnings\)$"):
            read()


def test_trace_of_takes_kinds_as_separate_strings(recorded):
    assert [r.kind for r in recorded.trace.of("retry")] == ["retry"] * len(recorded.trace.of("retry")) != []
    with pytest.raises(jobsim.InvalidArgument, match=r"^kinds=\(\['retry', 'attempt'\],\) is not valid: record kinds "
                                                     r"as separate strings: trace\.of\('attempt', 'retry'\)$"):
        recorded.trace.of(["retry", "attempt"])  # matched nothing: []


def test_trace_of_refuses_a_kind_no_simulation_writes_instead_of_matching_nothing(recorded, tmp_path):
    # sim.trace.of("retries") was [] whatever happened, so `assert not sim.trace.of("retries")` could never fail
    with pytest.raises(jobsim.InvalidArgument, match=r"^kinds='retries' is not valid: a record kind jobsim or an "
                                                     r"installed plugin writes \(did you mean 'retry'\?\); known "
                                                     r"kinds: 'advance', "):
        recorded.trace.of("attempt", "retries")
    assert recorded.trace.of("wait.end", "cron.missed") == []  # known kinds this story has none of
    app = jobsim.App("custom")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app) as sim:
        sim.record("acme.audit", note="a kind no plugin declares")  # written, so it is a kind this trace has
        assert [r.data["note"] for r in sim.trace.of("acme.audit")] == ["a kind no plugin declares"]
    loaded = traces.load(recorded.trace.save(tmp_path / "t.jobsim.jsonl"))
    with pytest.raises(jobsim.InvalidArgument, match=r"^kinds='retries' is not valid: .*\(did you mean 'retry'\?\) "
                                                     r"or one this loaded trace holds; known kinds: 'advance', "):
        loaded.of("retries")  # was [], silently, where sim.trace.of("retries") said what was wrong
    assert loaded.of("wait.end") == []
    # a kind of a plugin this process lacks is known from the file's own records
    with pytest.warns(TraceWarning, match="unknown kind 'acme.audit'"):
        other = traces.load(sim.trace.save(tmp_path / "u.jobsim.jsonl"))
    assert [r.data["note"] for r in other.of("acme.audit")] == ["a kind no plugin declares"]


@pytest.mark.parametrize("offset", ["+24:00", "-25:00", "+05:60", "+9999"])
def test_rfc3339_rejects_an_offset_that_is_not_a_time_of_day(offset):
    with pytest.raises(ValueError, match=rf"time '2025-03-03T09:00:00\{offset[0]}{offset[1:3]}:?{offset[-2:]}' has "
                                         r"offset .*, not a valid one \(hours 00-23, minutes 00-59\)"):
        rfc3339_ns(f"2025-03-03T09:00:00{offset}")


@pytest.mark.parametrize("name", ["jobs.py.", "jobs.py ", "jobs.py. .", "JOBS.PY.", "gui.Pyw  ", "jobs.pyi..."])
def test_a_python_file_named_with_trailing_dots_or_spaces_is_refused_on_every_system(recorded, tmp_path,
                                                                                    monkeypatch, name):
    """Windows drops a name's trailing dots and spaces: ``save("jobs.py.")`` writes ``jobs.py`` there, over the code
    (and on Linux it made a file a Windows checkout of the folder cannot tell from the code)."""
    monkeypatch.chdir(tmp_path)
    code = name.rstrip(". ")
    (tmp_path / code).write_text("app = None\n")
    stem = code.rsplit(".", 1)[0]
    for path, prefix, what in [(name, "", "which the trace would replace"), (f"new{name}", "new", "not a trace file")]:
        windows = f"({prefix + code!r} on Windows, which drops a name's trailing dots and spaces)"
        with pytest.raises(jobsim.InvalidArgument) as info:
            recorded.trace.save(path)
        assert str(info.value) == (f"path={path!r} names a Python file, {what} {windows}; give a trace file, such as "
                                   f"{prefix + stem + '.jobsim.jsonl'!r}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [code]  # nothing written, no '.part' left

