"""Importing real traffic: Inngest events and CloudEvents into a replayable trace."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import warnings

import orjson
import pytest

import jobsim
from jobsim import traces
from jobsim._time import MS, SECOND, instant_ns
from jobsim.errors import TraceError, TraceWarning

T0 = instant_ns("2025-06-01T12:00:00Z")


def app() -> jobsim.App:
    shop = jobsim.App("import")

    @shop.function("on-signup", on="user/created", retries=jobsim.Retries(attempts=2, min="1m"))
    def on_signup(ctx):
        ctx.step.sleep("later", "1h")
        return ctx.step.run("greet", lambda: f"hi {ctx.event.data['email']}")

    @shop.function("on-order", on="order/paid")
    def on_order(ctx):
        return ctx.event.data["amount"] * 2

    return shop


def write(path, *events, gz=False):
    data = b"".join(orjson.dumps(e) + b"\n" for e in events)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_inngest_events_become_input_records_at_their_times(tmp_path):
    path = write(tmp_path / "events.jsonl",
                 {"name": "order/paid", "data": {"amount": 21}, "id": "o1", "ts": T0 // MS + 5000},
                 {"name": "user/created", "data": {"email": "ada@example.com"}, "ts": T0 // MS, "v": "2024-01-01.1",
                  "user": {"id": "u1"}})  # fmt: skip
    with pytest.warns(TraceWarning, match=r"1 event\(s\) come before the line above them in time \(the first: line 2"):
        trace = traces.import_events(path)
    assert trace.header["start"] == T0 and trace.header["source"] == {"import": "inngest", "file": "events.jsonl",
                                                                      "events": 2}  # fmt: skip
    first, second = trace.records
    assert (first.at, first.data["name"], first.data["v"], first.data["user"]) == (T0, "user/created", "2024-01-01.1",
                                                                                  {"id": "u1"})  # fmt: skip
    assert first.data["attributes"] == {"jobsim:synthid": True} and len(first.data["id"]) == 26
    assert (second.at, second.data["id"], second.data["origin"]) == (T0 + 5 * SECOND, "o1", "input")


def test_cloudevents_lines_and_batches(tmp_path):
    ce = {"specversion": "1.0", "id": "evt-1", "source": "/shop/api", "type": "order/paid",
          "time": "2025-06-01T14:00:00.250+02:00", "datacontenttype": "application/json", "data": {"amount": 4},
          "dataversion": "v2", "traceparent": "00-abc-def-01"}  # fmt: skip
    lines = traces.import_events(write(tmp_path / "ce.jsonl", ce))
    batch_path = tmp_path / "batch.json"
    batch_path.write_text(json.dumps([ce]))
    batch = traces.import_events(batch_path)
    for trace in (lines, batch):
        (record,) = trace.records
        assert record.at == T0 + 250 * 1_000_000
        assert record.data == {"name": "order/paid", "id": "evt-1", "data": {"amount": 4}, "ts": T0 // MS + 250,
                               "v": "v2", "attributes": {"traceparent": "00-abc-def-01"}, "origin": "input",
                               "source": "/shop/api"}  # fmt: skip
    saved = lines.save(tmp_path / "ce.jobsim.jsonl")
    ce_line = orjson.loads(saved.read_bytes().splitlines()[1])["ce"]
    assert ce_line == {**ce, "time": "2025-06-01T12:00:00.250Z"}  # the same CloudEvent, in UTC


def test_events_without_time_follow_the_one_before_and_the_start_can_be_given(tmp_path):
    path = write(tmp_path / "mixed.jsonl", {"name": "user/created", "data": {"email": "a@example.com"}},
                 {"name": "order/paid", "data": {"amount": 1}, "ts": T0 // MS + 60_000},
                 {"name": "order/paid", "data": {"amount": 2}}, gz=True)  # fmt: skip
    trace = traces.import_events(path, start="2025-06-01T11:00:00Z", tz="Europe/Paris", seed=3)
    assert [r.at - T0 for r in trace] == [-3600 * SECOND, 60 * SECOND, 60 * SECOND]
    assert (trace.header["tz"], trace.header["seed"]) == ("Europe/Paris", 3)
    with pytest.raises(jobsim.InvalidArgument, match=r"start=2025-06-01T12:05:00\.000Z is after the first event"):
        traces.import_events(path, start="2025-06-01T12:05:00Z")


def test_replaying_imported_events_runs_today_s_code_and_reports_its_runs(tmp_path):
    path = write(tmp_path / "events.jsonl",
                 {"name": "user/created", "data": {"email": "ada@example.com"}, "ts": T0 // MS},
                 {"name": "order/paid", "data": {"amount": 21}, "ts": T0 // MS + 1000, "id": "o1"},
                 {"name": "order/paid", "data": {"amount": 21}, "ts": T0 // MS + 2000, "id": "o1"})  # fmt: skip
    with pytest.warns(TraceWarning, match=r"1 event id\(s\) are given more than once \(the first: 'o1' on lines 2, 3"):
        result = jobsim.Simulation.replay(path, app())
    assert result.same and result.comparison is None and result.inputs == 3
    sim = result.simulation
    # the repeated id starts no run, as on Inngest
    assert [(r.status, r.output) for r in sim.runs("on-order")] == [("completed", 42), ("skipped", None)]
    (signup,) = sim.runs("on-signup")
    assert (signup.status, signup.finished_at - signup.started_at) == ("completed", dt.timedelta(hours=1))
    assert result.report().splitlines()[-2:] == ["  on-signup: 1 completed", "  on-order: 1 completed, 1 skipped"]
    baseline = result.save(tmp_path / "baseline.jobsim.jsonl")
    again = jobsim.Simulation.replay(baseline, app())
    assert again.same and again.comparison is not None


@pytest.mark.parametrize(("line", "message"), [
    (b'{"data": {}}', r"events.jsonl:1: neither an Inngest event \(a non-empty 'name'\) nor a CloudEvent"),
    (b'{"name": "x", "data": [1]}', r":1: the event's data must be a JSON object, got list"),
    (b'{"name": "x", "ts": "yesterday"}', r":1: 'ts' must be milliseconds since the epoch"),
    (b'{"specversion": "0.3", "id": "1", "source": "/s", "type": "t"}', r"specversion '0.3' is not supported"),
    (b'{"specversion": "1.0", "id": "1", "type": "t"}', r"a CloudEvent needs a non-empty string 'source'"),
    (b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data_base64": "AA=="}', r"binary data"),
    (b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "time": "noon"}', r"time 'noon' is not an RFC"),
    (b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "ext": {"nested": 1}}',
     r"extension attribute 'ext' holds dict .*put structured values into 'data'"),
    (b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "Trace-Id": "a"}',
     r"extension attribute 'Trace-Id' is not a CloudEvents 1.0 name"),
    (b'{"name": "x"', r":1: malformed line"),
    (b"", r"no events in the file"),
])  # fmt: skip
def test_bad_event_files_name_the_line(tmp_path, line, message):
    path = tmp_path / "events.jsonl"
    path.write_bytes(line + b"\n")
    with pytest.raises(TraceError, match=message):
        traces.import_events(path)


def test_format_can_be_forced_and_unknown_inngest_fields_are_ignored_with_a_warning(tmp_path):
    path = write(tmp_path / "events.jsonl", {"name": "order/paid", "data": {}, "received_at": 1, "ts": T0 // MS})
    with pytest.raises(TraceError, match="not a CloudEvent: it has no 'specversion'"):
        traces.import_events(path, format="cloudevents")
    with pytest.warns(TraceWarning, match=r"fields Inngest events do not have were ignored: 'received_at' \(first on"):
        traces.import_events(path, format="inngest")
    with pytest.raises(jobsim.InvalidArgument, match="format='csv' is not valid"):
        traces.import_events(path, format="csv")


def test_a_trace_file_passed_as_events_is_simply_loaded(tmp_path):
    shop = app()
    with jobsim.Simulation(shop, start=T0 // SECOND) as sim:
        sim.send("order/paid", {"amount": 1})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jobsim.Simulation.replay(path, app()).same


def test_invalid_lines_stop_the_import_naming_the_way_past_them_or_are_skipped_and_listed(tmp_path):
    """A production export holds a few bad lines; the error says how to import the rest, and
    ``skip_invalid`` does, listing each skipped line (it used to stop at the first, no way past)."""
    good = [{"name": "order/paid", "data": {"n": n}, "id": f"e{n}", "ts": T0 // MS + n * 1000} for n in range(3)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([orjson.dumps(good[0]), b'{"name": "order/paid", "data": {"n"', orjson.dumps(good[1]),
                                 b'{"data": {}}', orjson.dumps(good[2])]) + b"\n")  # fmt: skip
    with pytest.raises(TraceError, match=r"events.jsonl:2: malformed line: .*; to import the other events and list "
                                         r"the lines skipped: jobsim import --skip-invalid"):
        traces.import_events(path)
    with pytest.warns(TraceWarning) as caught:
        trace = traces.import_events(path, skip_invalid=True)
    assert [r.data["data"]["n"] for r in trace.records] == [0, 1, 2]
    assert trace.header["source"]["skipped"] == 2 and trace.header["source"]["events"] == 3
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"skipped 2 invalid line(s): {path}:2: malformed line: ")
    assert f"; {path}:4: neither an Inngest event (a non-empty 'name') nor a CloudEvent" in message
    with pytest.raises(TraceError, match=r"no events in the file: .*\(1 invalid line\(s\) skipped, the first: .*:1: "):
        (tmp_path / "bad.jsonl").write_bytes(b"not json\n")
        traces.import_events(tmp_path / "bad.jsonl", skip_invalid=True)


def test_events_out_of_time_order_and_repeated_ids_are_said_once_each(tmp_path):
    """A production export is rarely sorted and often holds retried sends: the import says what it
    changes (the order) and what the replay will drop (repeats), instead of doing either silently."""
    path = write(tmp_path / "events.jsonl",
                 *[{"name": "order/paid", "data": {"n": n}, "id": key, "ts": T0 // MS + ms}
                   for n, (key, ms) in enumerate([("a", 0), ("b", 5000), ("c", 2000), ("a", 6000), ("d", 1000),
                                                  ("b", 7000)])])  # fmt: skip
    with pytest.warns(TraceWarning) as caught:
        trace = traces.import_events(path)
    assert [str(w.message).removeprefix(f"{path}: ") for w in caught] == [
        "2 event(s) come before the line above them in time (the first: line 3, 2025-06-01T12:00:02.000Z, after "
        "2025-06-01T12:00:05.000Z); they are replayed in time order",
        "2 event id(s) are given more than once (the first: 'a' on lines 1, 4); Inngest starts no run for a repeat "
        "within 24 h of the first (it still resumes waits and cancels runs), so a replay runs it once",
    ]
    assert trace.warnings == [str(w.message).removeprefix(f"{path}: ") for w in caught]
    assert [r.data["data"]["n"] for r in trace.records] == [0, 4, 2, 1, 3, 5]
    in_order = write(tmp_path / "sorted.jsonl", {"name": "order/paid", "data": {}, "id": "x", "ts": T0 // MS},
                     {"name": "order/paid", "data": {}, "ts": T0 // MS}, {"name": "order/paid", "data": {}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ids the import makes up never count as repeats
        assert len(traces.import_events(in_order).records) == 3


def test_a_repeated_id_whose_later_line_is_earlier_in_time_says_which_line_is_replayed(tmp_path):
    """'on lines 3, 1' read as a typo: the event of line 3 comes first in time, so line 1's starts no run."""
    path = write(tmp_path / "events.jsonl",
                 *[{"name": "order/paid", "data": {"n": n, "amount": n}, "id": "c1", "ts": T0 // MS + ms}
                   for n, ms in enumerate([5000, 3000, 1000])])  # fmt: skip
    with pytest.warns(TraceWarning) as caught:
        trace = traces.import_events(path)
    assert str(caught[-1].message).removeprefix(f"{path}: ") == (
        "1 event id(s) are given more than once (the first: 'c1' on lines 3, 2, 1: line 3, the earliest in time, "
        "is the one that starts runs); Inngest starts no run for a repeat within 24 h of the first (it still resumes "
        "waits and cancels runs), so a replay runs it once")  # fmt: skip
    result = jobsim.Simulation.replay(trace, app())
    runs = [(run.event.data["n"], run.status) for run in result.simulation.runs("on-order")]
    assert runs == [(2, "completed"), (1, "skipped"), (0, "skipped")]


def test_an_id_repeated_more_than_24_h_later_is_no_repeat_the_replay_drops(tmp_path):
    """A repeat within 24 h of the run its id started starts none (``FlowRuntime.repeated``): a daily
    event that reuses its id is run every day, and the import must not say it runs once."""
    day = 24 * 3600 * 1000
    path = write(tmp_path / "events.jsonl",
                 *[{"name": "order/paid", "data": {"n": n}, "id": key, "ts": T0 // MS + ms}
                   for n, (key, ms) in enumerate([("daily", 0), ("daily", day), ("daily", 2 * day + 1000),
                                                  ("daily", 2 * day + 5000)])])  # fmt: skip
    with pytest.warns(TraceWarning) as caught:
        traces.import_events(path)
    assert [str(w.message).removeprefix(f"{path}: ") for w in caught] == [
        "1 event id(s) are given more than once (the first: 'daily' on lines 3, 4); Inngest starts no run for a "
        "repeat within 24 h of the first (it still resumes waits and cancels runs), so a replay runs it once",
    ]
    daily = [{"name": "order/paid", "data": {}, "id": "daily", "ts": T0 // MS + k * day} for k in range(3)]
    spaced = write(tmp_path / "daily.jsonl", *daily)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(traces.import_events(spaced).records) == 3


def test_a_byte_order_mark_and_crlf_line_ends_are_read(tmp_path):
    """Windows tools write a UTF-8 BOM first and CRLF line ends: the export imports, and replays as events."""
    path = tmp_path / "events.jsonl"
    events = [{"name": "order/paid", "data": {"amount": n}, "id": f"o{n}", "ts": T0 // MS + n} for n in (1, 2)]
    lines = [orjson.dumps(event) for event in events]
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n\r\n")
    trace = traces.import_events(path)
    assert [(r.at, r.data["id"], r.data["data"]) for r in trace.records] == [
        (T0 + MS, "o1", {"amount": 1}), (T0 + 2 * MS, "o2", {"amount": 2})]  # fmt: skip
    assert trace.warnings == [] and not trace.truncated
    result = jobsim.Simulation.replay(path, app())
    assert [run.output for run in result.simulation.runs("on-order")] == [2, 4]


def test_an_export_cut_off_mid_line_keeps_the_events_before_it(tmp_path):
    events = [{"name": "order/paid", "data": {"amount": n}, "id": f"o{n}", "ts": T0 // MS + n} for n in range(3)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + b'{"name":"order/paid","da')
    with pytest.warns(TraceWarning, match=r"events\.jsonl: line 4 is cut off \(the export did not finish\): the "
                                          r"events before it were imported"):  # fmt: skip
        trace = traces.import_events(path)
    assert [r.data["id"] for r in trace.records] == ["o0", "o1", "o2"] and trace.truncated
    assert trace.warnings == ["line 4 is cut off (the export did not finish): the events before it were imported"]
    path.write_bytes(path.read_bytes() + b"\n")  # a whole line that is not JSON: malformed, as before
    with pytest.raises(TraceError, match=r"events\.jsonl:4: malformed line"):
        traces.import_events(path)


def test_a_gzip_export_cut_off_mid_stream_keeps_the_lines_it_holds(tmp_path):
    import os

    events = [{"name": "order/paid", "data": {"amount": n, "noise": os.urandom(48).hex()}, "id": f"o{n}",
               "ts": T0 // MS + n} for n in range(2000)]  # fmt: skip
    whole = gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in events))
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.warns(TraceWarning, match=r"events\.jsonl\.gz: the gzip stream ends early after line (\d+) \(.*\): "
                                          r"the events before it were imported"):  # fmt: skip
        trace = traces.import_events(path)
    kept = [r.data["id"] for r in trace.records]
    assert 500 < len(kept) < 1500 and kept == [f"o{n}" for n in range(len(kept))] and trace.truncated
    assert trace.warnings[0].startswith(f"the gzip stream ends early after line {len(kept)} (")
    path.write_bytes(whole[:15])  # nothing readable: an error, not an empty trace
    with pytest.raises(TraceError, match=r"events\.jsonl\.gz: the gzip stream is damaged or cut off"):
        traces.import_events(path)


def test_a_gzip_export_with_a_bad_crc_is_an_error_not_a_cut_off_stream(tmp_path):
    """It was imported with 'the gzip stream ends early' as a warning: its events may not be what was written."""
    path = write(tmp_path / "events.jsonl.gz", *({"name": "order/paid", "data": {"n": n}, "id": f"o{n}",
                                                  "ts": T0 // MS + n} for n in range(3)), gz=True)  # fmt: skip
    data = bytearray(path.read_bytes())
    data[-8] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"events\.jsonl\.gz: the file is damaged: its gzip stream fails its check "
                                         r"after line 3 \(CRC check failed"):  # fmt: skip
        traces.import_events(path)


def test_a_cloudevent_s_base64_json_data_is_decoded_other_binary_data_is_refused_saying_why(tmp_path):
    import base64

    def encoded(value: object) -> str:
        return base64.b64encode(orjson.dumps(value)).decode()

    base = {"specversion": "1.0", "source": "/prod", "type": "order/paid", "time": "2025-06-01T12:00:00Z"}
    path = write(tmp_path / "ce.jsonl",
                 {**base, "id": "a", "datacontenttype": "application/json", "data_base64": encoded({"amount": 4})},
                 {**base, "id": "b", "datacontenttype": "application/cloudevents+json; charset=utf-8",
                  "data_base64": encoded({"amount": 5})})  # fmt: skip
    trace = traces.import_events(path)
    assert [(r.data["id"], r.data["data"]) for r in trace.records] == [("a", {"amount": 4}), ("b", {"amount": 5})]
    result = jobsim.Simulation.replay(path, app())
    assert [run.output for run in result.simulation.runs("on-order")] == [8, 10]
    for event, message in [
        ({"datacontenttype": "application/octet-stream", "data_base64": "AAEC/w=="},
         r"bad\.jsonl:1: the CloudEvent carries binary data \(data_base64, datacontenttype "
         r"'application/octet-stream'\); an Inngest event's data is a JSON object, so only a JSON content type"),
        ({"datacontenttype": "application/json", "data_base64": "not base64!"}, r"is not base64 of JSON"),
        ({"datacontenttype": "application/json", "data_base64": encoded([1])}, r"holds JSON list"),
        ({"datacontenttype": "application/json", "data_base64": encoded({}), "data": {}}, r"both 'data' and"),
    ]:  # fmt: skip
        write(tmp_path / "bad.jsonl", {**base, "id": "x", **event})
        with pytest.raises(TraceError, match=message):
            traces.import_events(tmp_path / "bad.jsonl")


def test_a_saved_replay_of_imported_events_keeps_their_fakes_and_replays_the_same(tmp_path):
    """README: "save that replay as the baseline the next replays compare with"."""
    shop = jobsim.App("baseline")

    @shop.function("note", on="user/created")
    def note(ctx):
        data = ctx.event.data
        return f"Dear {data['name']}, we call {data['phone']} at {data['address']}"

    write(tmp_path / "events.jsonl", {"name": "user/created", "ts": T0 // MS, "id": "u1", "data": {
        "email": "ada@gmail.com", "name": "Ada Lovelace", "phone": "(415) 555-0100", "address": "12 Main St"}})
    imported = traces.import_events(tmp_path / "events.jsonl").save(tmp_path / "imported.jobsim.jsonl")
    fakes = jobsim.Trace.load(imported).records[0].data["data"]
    assert fakes["name"] != "Ada Lovelace" and fakes["phone"] != "(415) 555-0100"
    baseline = jobsim.Simulation.replay(imported, shop).save(tmp_path / "baseline.jobsim.jsonl")
    saved = jobsim.Trace.load(baseline)
    assert saved.records[0].data["data"] == fakes  # not faked a second time
    (end,) = saved.of("run.end")
    assert end.data["output"] == f"Dear {fakes['name']}, we call {fakes['phone']} at {fakes['address']}"
    assert jobsim.Simulation.replay(baseline, shop).same


@pytest.mark.parametrize(("event", "message"), [
    ({"name": "x", "ts": 1_740_819_600_000_000}, r"events\.jsonl:1: 'ts' 1740819600000000 is past the years 1 to 9999 "
                                                  r"in milliseconds since the epoch \(microseconds or nanoseconds\?\)"),
    ({"name": "x", "ts": -70_000_000_000_000}, r":1: 'ts' -70000000000000 is past the years 1 to 9999 in milliseconds"),
    ({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "time": "0001-01-01T00:00:00+01:00"},
     r":1: time '0001-01-01T00:00:00\+01:00' is outside what a trace's virtual clock holds \(64-bit nanoseconds, "
     r"1677-09-21T00:12:43\.145Z to 2554-07-21T23:34:33\.709Z\); fix or drop its 'time'"),
])  # fmt: skip
def test_a_time_no_datetime_can_show_names_the_line(tmp_path, event, message):
    # a ts in microseconds was an IndexError traceback from the id jobsim gives an event without one
    with pytest.raises(TraceError, match=message):
        traces.import_events(write(tmp_path / "events.jsonl", event))


def test_a_ts_inngest_refuses_is_an_invalid_line_that_says_what_it_reads_as(tmp_path):
    """Inngest refuses a ``ts`` before 1980 or from 2100 on (``pkg/event/event.go : Validate``), so no export of
    its events holds one. A ``ts`` in seconds was imported with a warning as an event in January 1970: the
    replay then started in 1970 and simulated 55 years (a daily cron: ages) before the file's other events."""
    path = write(tmp_path / "events.jsonl", {"name": "order/paid", "data": {"amount": 1}, "ts": T0 // MS},
                 {"name": "order/paid", "data": {"amount": 2}, "ts": T0 // SECOND})  # fmt: skip
    refused = (r"events\.jsonl:2: 'ts' 1748779200 is 1970-01-21T05:46:19\.200Z in milliseconds since the epoch, "
               r"which Inngest refuses \(\"timestamp is before Jan 1, 1980\"\), so no export of its events holds it: "
               r"were these seconds\? \(as seconds, 2025-06-01T12:00:00\.000Z; multiply 'ts' by 1000\)")
    with pytest.raises(TraceError, match=refused):
        traces.import_events(path)
    late = write(tmp_path / "late.jsonl", {"name": "order/paid", "ts": T0 // MS + 4_200_000_000_000})
    with pytest.raises(TraceError, match=r"late\.jsonl:1: 'ts' \d+ is 2\d{3}-.* which Inngest refuses \(\"timestamp "
                                         r"is after Jan 1, 2100\"\), so no export of its events holds it;"):
        traces.import_events(late)
    with pytest.warns(TraceWarning, match=r"skipped 1 invalid line\(s\): .*events\.jsonl:2: 'ts' 1748779200"):
        trace = traces.import_events(path, skip_invalid=True)
    assert [r.at for r in trace.records] == [T0]
    zero = write(tmp_path / "zero.jsonl", {"name": "order/paid", "ts": T0 // MS}, {"name": "order/paid", "ts": 0})
    assert [r.at for r in traces.import_events(zero).records] == [T0, T0]  # 0: not given, as on Inngest
    for edge in (315_532_800_000, 4_102_444_799_999):  # Inngest's first and last accepted milliseconds
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert traces.import_events(write(tmp_path / "ok.jsonl", {"name": "order/paid", "ts": edge})).records[
                0].at == edge * MS  # fmt: skip


def test_a_cloudevent_s_dataversion_that_is_not_a_string_becomes_v_as_text(tmp_path):
    """CloudEvents extensions may be integers: imported as is, the replay stopped at the event (v must be text)."""
    base = {"specversion": "1.0", "source": "/prod", "type": "order/paid", "data": {"amount": 1}}
    path = write(tmp_path / "ce.jsonl", {**base, "id": "a", "time": "2025-06-01T12:00:00Z", "dataversion": 2},
                 {**base, "id": "b", "time": "2025-06-01T12:00:01Z", "dataversion": True})  # fmt: skip
    assert [r.data["v"] for r in traces.import_events(path).records] == ["2", "true"]
    result = jobsim.Simulation.replay(path, app())
    assert result.stopped is None and [run.output for run in result.simulation.runs("on-order")] == [2, 2]


def test_a_utf16_export_is_decoded(tmp_path):
    """PowerShell 5's `>` writes UTF-16 with a BOM: every line was 'malformed line'."""
    path = tmp_path / "events.jsonl"
    text = "".join(json.dumps({"name": "order/paid", "data": {"amount": n, "by": "Zoë"}, "id": f"o{n}",
                               "ts": T0 // MS + n}) + "\r\n" for n in (1, 2))  # fmt: skip
    path.write_bytes(text.encode("utf-16"))
    trace = traces.import_events(path)
    assert [(r.data["id"], r.data["data"]) for r in trace.records] == [
        ("o1", {"amount": 1, "by": "Zoë"}), ("o2", {"amount": 2, "by": "Zoë"})]  # fmt: skip
    result = jobsim.Simulation.replay(path, app())  # not taken for a trace: imported
    assert [run.output for run in result.simulation.runs("on-order")] == [2, 4]
    path.write_bytes(b"\xff\xfe{\x00\x00\xd8")  # a lone surrogate
    with pytest.raises(TraceError, match=r"events\.jsonl: the file starts as UTF-16 but does not decode as it"):
        traces.import_events(path)


def test_a_json_array_names_the_line_its_bad_item_is_on(tmp_path):
    good = {"name": "order/paid", "data": {"n": 1}, "id": "e1", "ts": T0 // MS}
    path = tmp_path / "batch.json"
    path.write_text("[\n" + json.dumps(good) + ",\n" + json.dumps({"data": {}}) + "\n]\n")  # item 2, on line 3
    with pytest.raises(TraceError, match=r"batch\.json:3: "):  # it named line 2, the item's number
        traces.import_events(path)
    with pytest.warns(TraceWarning, match=r"skipped 1 invalid line\(s\): .*batch\.json:3: "):
        trace = traces.import_events(path, skip_invalid=True)
    assert [record.data["id"] for record in trace.records] == ["e1"]


def test_a_json_array_on_one_line_names_its_bad_item_s_index(tmp_path):
    """Every item of a one-line array is on line 1: the message said only that."""
    good = {"specversion": "1.0", "id": "e1", "source": "s", "type": "order/paid", "time": "2025-03-03T00:00:00Z"}
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([good, good | {"id": "e2"}, good | {"id": "e3", "type": 5}]))
    message = (r"batch\.json:1: the array's item \[2\]: a CloudEvent needs a non-empty string 'type' "
               r"\(CloudEvents 1\.0, required attributes\)")  # fmt: skip
    with pytest.raises(TraceError, match=message + "; to import the other events"):
        traces.import_events(path)
    with pytest.warns(TraceWarning, match=r"skipped 1 invalid line\(s\): .*" + message):
        trace = traces.import_events(path, skip_invalid=True)
    assert [record.data["id"] for record in trace.records] == ["e1", "e2"]


@pytest.mark.parametrize("events", [7, 2000])
def test_a_gzip_export_cut_off_keeps_every_whole_line_it_decompresses_to(tmp_path, events):
    """A chunk read whole with ``read()`` lost what it had decompressed when the stream ended inside it:
    a small export cut off was refused ("damaged or cut off", nothing imported), a large one lost up to
    64 KiB of events before the cut, though the README says either is read as far as it goes."""
    import os
    import zlib

    lines = [orjson.dumps({"name": "order/paid", "data": {"amount": n, "noise": os.urandom(48).hex()},
                           "id": f"o{n}", "ts": T0 // MS + n}) + b"\n" for n in range(events)]  # fmt: skip
    whole = gzip.compress(b"".join(lines))
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) - 40])  # the gzip trailer and the end of the last lines are gone
    readable = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).count(b"\n")
    assert 0 < readable < events
    with pytest.warns(TraceWarning, match=rf"the gzip stream ends early after line {readable} "):
        trace = traces.import_events(path)
    assert [r.data["id"] for r in trace.records] == [f"o{n}" for n in range(readable)] and trace.truncated


def test_events_inngest_makes_itself_are_left_out_of_an_import_with_a_warning(tmp_path):
    """An export of an Inngest environment's events holds the ones Inngest made (a run's failure or end):
    imported as inputs, a function triggered by ``inngest/function.failed`` ran for yesterday's failures
    too, beside the ones today's code has; Inngest itself refuses such names from a sender."""
    shop = jobsim.App("internal")

    @shop.function("charge", on="order/paid", retries=0)
    def charge(ctx):
        raise ValueError("card declined")

    @shop.function("all-failures", on="inngest/function.failed")
    def all_failures(ctx):
        return ctx.event.data["function_id"]

    path = write(tmp_path / "events.jsonl",
                 {"name": "order/paid", "data": {"amount": 4}, "id": "o1", "ts": T0 // MS},
                 {"name": "inngest/function.failed", "data": {"function_id": "charge", "run_id": "01J"}, "id": "f1",
                  "ts": T0 // MS + 10},
                 {"specversion": "1.0", "id": "f2", "source": "inngest", "type": "inngest/function.finished",
                  "time": "2025-06-01T12:00:01Z", "data": {"function_id": "charge"}})  # fmt: skip
    with pytest.warns(TraceWarning, match=r"left out 2 event\(s\) Inngest makes itself \(1 inngest/function\.failed, "
                                          r"1 inngest/function\.finished; the first on line 2\)"):  # fmt: skip
        trace = traces.import_events(path)
    assert [r.data["name"] for r in trace.records] == ["order/paid"]
    result = jobsim.Simulation.replay(trace, shop)
    assert [run.output for run in result.simulation.runs("all-failures")] == ["charge"]


@pytest.mark.parametrize("value", ["no", 1, None])
def test_skip_invalid_takes_true_or_false_only(tmp_path, value):
    """A truthy ``skip_invalid="no"`` skipped (and so lost) the invalid lines it was meant to stop at."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"name": "order/paid", "data": {}, "ts": 1741000000000}\nnot json\n')
    with pytest.raises(jobsim.InvalidArgument) as caught:
        traces.import_events(path, skip_invalid=value)
    assert str(caught.value) == (f"skip_invalid={value!r} is not valid: True (skip invalid lines, listing them) "
                                 "or False")


# -- an export cut before its first whole event says it was cut, not that it holds nothing ----------------------

def test_a_gzip_export_cut_before_its_first_line_ends_says_so(tmp_path):
    """It read 'no events in the file', sending the reader to look for a wrong format rather than a cut download."""
    event = {"name": "order/created", "data": {"note": "x" * 400}, "id": "e1", "ts": 1740819600000}
    whole = gzip.compress(orjson.dumps(event) + b"\n")
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TraceError) as caught:
        traces.import_events(path)
    assert str(caught.value).startswith(f"{path}: no events in the file: ")
    assert str(caught.value).endswith(
        "; the gzip stream ends early before its first line ends (Compressed file ended before the end-of-stream "
        "marker was reached), before any whole event")


def test_a_plain_export_whose_only_line_is_cut_says_so(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"name": "order/created", "da')
    with pytest.raises(TraceError, match=r"no events in the file: .*; line 1 is cut off \(the export did not "
                                         r"finish\), before any whole event$"):  # fmt: skip
        traces.import_events(path)


def test_an_empty_export_is_not_called_cut(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"")
    with pytest.raises(TraceError) as caught:
        traces.import_events(path)
    assert "cut" not in str(caught.value) and "ends early" not in str(caught.value)


# -- a file of events with no time says which start it was given --------------------------------------------

def test_events_without_any_time_say_they_start_at_the_default(tmp_path):
    """A hand-written file (no 'ts') was replayed from 2025-01-01 without a word on where that date came from."""
    path = tmp_path / "events.jsonl"
    path.write_text('{"name": "order/created", "data": {}}\n{"name": "order/created", "data": {"n": 2}}\n')
    with pytest.warns(TraceWarning, match=r"events\.jsonl: no event has a time \('ts' or 'time'\): all 2 are sent at "
                                          r"2025-01-01T00:00:00\.000Z, jobsim's default start; for another, import "
                                          r"the file with `jobsim import FILE --start TIME -o TRACE`"):  # fmt: skip
        trace = traces.import_events(path)
    assert [r.at for r in trace] == [instant_ns("2025-01-01T00:00:00Z")] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a start given, or one event with a time: nothing to say
        traces.import_events(path, start="2025-06-01T00:00:00Z")
        path.write_text('{"name": "order/created", "data": {}}\n{"name": "a/b", "data": {}, "ts": 1740819600000}\n')
        traces.import_events(path)


def test_events_spanning_more_than_a_year_are_named_with_their_largest_gap(tmp_path):
    """One event dated 2099 among a day's: a replay simulated 73 years, every cron tick on the way (user trial P)."""
    path = write(tmp_path / "events.jsonl",
                 {"name": "user/created", "data": {}, "id": "a", "ts": T0 // MS},
                 {"name": "user/created", "data": {}, "id": "b", "ts": T0 // MS + 3_600_000},
                 {"name": "user/created", "data": {}, "id": "c", "ts": 4_070_908_800_000})  # fmt: skip
    with pytest.warns(TraceWarning) as caught:
        traces.import_events(path)
    assert [str(w.message).partition(": ")[2] for w in caught] == [
        "the events span 26876d12h, from line 1 (2025-06-01T12:00:00.000Z) to line 3 (2099-01-01T00:00:00.000Z), "
        "the largest gap 26876d11h between line 2 (2025-06-01T13:00:00.000Z) and line 3 (2099-01-01T00:00:00.000Z): "
        "a replay simulates all of it, with every cron tick on the way; if a timestamp there is stray, fix or drop "
        "its line, or replay with --until"]
    year = write(tmp_path / "year.jsonl", {"name": "user/created", "data": {}, "id": "a", "ts": T0 // MS},
                 {"name": "user/created", "data": {}, "id": "b", "ts": T0 // MS + 366 * 86_400_000})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traces.import_events(year)  # a year to the day: no note
