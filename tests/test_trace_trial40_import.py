"""User trial 40, the import and save side: a CloudEvent time the virtual clock cannot hold, CloudEvents identity
(source + id) in the import's repeat warning, and ints past 64 bits kept exact through import, save and load."""

from __future__ import annotations

import json
import warnings

import orjson
import pytest

import jobsim
from jobsim import traces
from jobsim._cli import main
from jobsim._time import MS, instant_ns
from jobsim.errors import TraceError, TraceWarning

T0 = instant_ns("2025-06-01T12:00:00Z")
BIG = 123456789012345678901234567890


def write(path, *events):
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def cloudevent(ident, source, n, time="2025-06-01T12:00:00Z"):
    return {"specversion": "1.0", "id": ident, "source": source, "type": "order/created", "time": time,
            "data": {"n": n}}  # fmt: skip


def caught_import(path, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TraceWarning)
        trace = traces.import_events(path, **options)
    return trace, [str(w.message) for w in caught]


# -- 1. a time the virtual clock cannot hold ---------------------------------------------------------
@pytest.mark.parametrize("time", ["0001-01-01T00:00:00Z", "1600-01-01T00:00:00Z", "2600-01-01T00:00:00Z"])
def test_a_cloudevent_time_a_trace_cannot_hold_is_an_invalid_line_the_import_skips(tmp_path, time):
    path = write(tmp_path / "events.jsonl", cloudevent("a", "/shop", 1), cloudevent("z", "/shop", 2, time),
                 cloudevent("b", "/shop", 3, "2025-06-01T12:00:01Z"))  # fmt: skip
    reason = (f"time {time!r} is outside what a trace's virtual clock holds (64-bit nanoseconds, "
              "1677-09-21T00:12:43.145Z to 2554-07-21T23:34:33.709Z); fix or drop its 'time' (an event without one "
              "is sent at the time of the event before it)")  # fmt: skip
    with pytest.raises(TraceError) as raised:
        traces.import_events(path)
    assert str(raised.value) == (f"{path}:2: {reason}; to import the other events and list the lines skipped: jobsim "
                                 "import --skip-invalid (import_events(..., skip_invalid=True))")  # fmt: skip
    trace, messages = caught_import(path, skip_invalid=True)  # the whole import failed, at save, with skip_invalid
    assert [r.data["data"]["n"] for r in trace.records] == [1, 3]
    assert messages == [f"skipped 1 invalid line(s): {path}:2: {reason}"]
    loaded = traces.load(trace.save(tmp_path / "t.jobsim.jsonl"))
    assert [r.data["data"]["n"] for r in loaded.records] == [1, 3]


def test_a_cloudevent_before_1970_that_a_trace_holds_is_imported(tmp_path):
    path = write(tmp_path / "events.jsonl", cloudevent("a", "/shop", 1, "1969-07-20T20:17:40Z"))
    trace, _ = caught_import(path)
    (record,) = traces.load(trace.save(tmp_path / "t.jobsim.jsonl")).records
    assert record.at == instant_ns("1969-07-20T20:17:40Z") < 0


def test_jobsim_import_skip_invalid_writes_the_rest_when_a_time_is_go_s_zero_time(capsys, tmp_path):
    zero = cloudevent("z", "/shop", 2, "0001-01-01T00:00:00Z")
    path = write(tmp_path / "events.jsonl", cloudevent("a", "/shop", 1), zero)
    out = tmp_path / "t.jobsim.jsonl"
    code = main(["import", str(path), "-o", str(out), "--no-redact", "--skip-invalid"])
    stdout, stderr = capsys.readouterr()
    assert code == 0 and "1 invalid line(s) skipped" in stdout
    assert f"{path}:2: time '0001-01-01T00:00:00Z' is outside what a trace's virtual clock holds" in stderr
    assert len(traces.load(out)) == 1


# -- 2. CloudEvents identity: source + id ------------------------------------------------------------
def test_the_same_id_from_another_source_is_no_repeat_the_same_source_is(tmp_path):
    path = write(tmp_path / "events.jsonl", cloudevent("a1", "/shop", 1), cloudevent("a1", "/billing", 2))
    _, messages = caught_import(path)
    assert messages == []  # "1 event id(s) are given more than once (the first: 'a1' on lines 1, 2)"
    path = write(tmp_path / "again.jsonl", cloudevent("a1", "/shop", 1), cloudevent("a1", "/billing", 2),
                 cloudevent("a1", "/shop", 3, "2025-06-01T12:00:01Z"))  # fmt: skip
    _, messages = caught_import(path)
    assert messages == [f"{path}: 1 event id(s) are given more than once (the first: 'a1' from source '/shop' on "
                        "lines 1, 3); Inngest starts no run for a repeat within 24 h of the first (it still resumes "
                        "waits and cancels runs), so a replay runs it once"]  # fmt: skip


def test_inngest_events_keep_the_id_rule(tmp_path):
    path = write(tmp_path / "events.jsonl", *({"name": "order/paid", "data": {}, "id": "o1", "ts": T0 // MS + n}
                                              for n in range(2)))  # fmt: skip
    _, messages = caught_import(path)
    assert messages == [f"{path}: 1 event id(s) are given more than once (the first: 'o1' on lines 1, 2); Inngest "
                        "starts no run for a repeat within 24 h of the first (it still resumes waits and cancels "
                        "runs), so a replay runs it once"]  # fmt: skip


# -- 4. ints past 64 bits ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["lines", "array"])
def test_an_int_past_64_bits_round_trips_import_save_load_and_replay(tmp_path, shape):
    events = [{"name": "order/paid", "data": {"n": BIG, "l": [-(2**64), 2**64 - 1]}, "id": "e1", "ts": T0 // MS},
              {"name": "order/paid", "data": {"n": 1}, "id": "e2", "ts": T0 // MS + 1000}]  # fmt: skip
    path = tmp_path / "events.jsonl"
    if shape == "array":  # json: orjson refuses to write such an int
        path.write_text(json.dumps(events))
    else:
        path.write_text("".join(json.dumps(event) + "\n" for event in events))
    trace, _ = caught_import(path)
    want = events[0]["data"]
    assert trace.records[0].data["data"] == want and type(trace.records[0].data["data"]["n"]) is int
    for redact in (False, True):
        saved = trace.save(tmp_path / f"t{redact}.jobsim.jsonl", redact=redact)
        lines = saved.read_bytes().splitlines()
        assert [b'"wide":true' in line for line in lines] == [False, True, False, False]  # only the line with one
        loaded = traces.load(saved)
        assert loaded.records[0].data["data"] == want and type(loaded.records[0].data["data"]["n"]) is int
    sent = []
    app = jobsim.App("t40")

    @app.function("on-paid", on="order/paid")
    def on_paid(ctx):
        pass

    jobsim.Simulation.replay(saved, app, deliver=lambda sim, event: (sent.append(event.data), sim.send(event)))
    assert sent[0] == want and type(sent[0]["n"]) is int
