"""User trial 40: trace diff of input-only files, CloudEvents identity in a replay, ints past 64 bits read exactly."""

from __future__ import annotations

import base64
import warnings

import orjson
import pytest

import jobsim
from jobsim import traces
from jobsim._cli import main
from jobsim._eventjson import exact_ints, has_wide_ints, loads_exact
from jobsim._time import MS, instant_ns
from jobsim.errors import TraceWarning

T0 = instant_ns("2025-06-01T12:00:00Z")
BIG = 123456789012345678901234567890


def write(path, *events):
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def cloudevent(ident, source, n, seconds=0, **more):
    return {"specversion": "1.0", "id": ident, "source": source, "type": "order/created",
            "time": f"2025-06-01T12:00:{seconds:02d}Z", "data": {"n": n}, **more}  # fmt: skip


def imported(tmp_path, name, *events):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        trace = traces.import_events(write(tmp_path / f"{name}.jsonl", *events))
    return trace.save(tmp_path / f"{name}.jobsim.jsonl", redact=False)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- 3. jobsim diff of two files of input events only ---------------------------------------------
def test_diff_of_two_imported_files_whose_events_differ_names_the_first_difference(capsys, tmp_path):
    a = imported(tmp_path, "a", {"name": "order/paid", "data": {"amount": 1}, "id": "e1", "ts": T0 // MS})
    b = imported(tmp_path, "b", {"name": "order/paid", "data": {"amount": 2}, "id": "e1", "ts": T0 // MS})
    code, out, _ = run(capsys, "diff", a, b)
    assert code == 1  # was 0: "nothing to compare", silent about the events
    lines = out.splitlines()
    assert lines[3] == (
        "note: neither A nor B holds a run: only their input events were compared (names, sources, data, times), "
        "and they differ; no outcome was compared: to compare outcomes, replay each into your code (jobsim replay "
        "TRACE --app MODULE --out FILE) and diff the replays' files"
    )
    assert lines[5:8] == [
        "  DIFFERS  (input events)  events: input event #1 at 2025-06-01T12:00:00.000Z: differs",
        "                               data.amount: A 1",
        "                                            B 2",
    ]
    result = traces.compare(a, b)
    assert not result.same and result.first("(input events)").path == "data.amount"


@pytest.mark.parametrize(("second", "path"), [
    ({"name": "order/paid", "data": {"amount": 1}, "ts": T0 // MS + 6000}, "at"),
    ({"name": "order/void", "data": {"amount": 1}, "ts": T0 // MS + 5000}, "name"),
    (None, ""),  # B has one event fewer
])  # fmt: skip
def test_diff_of_input_only_files_compares_names_times_and_counts(tmp_path, second, path):
    first = {"name": "order/paid", "data": {"amount": 1}, "ts": T0 // MS}
    a = imported(tmp_path, "a", first, {"name": "order/paid", "data": {"amount": 1}, "ts": T0 // MS + 5000})
    b = imported(tmp_path, "b", first, *([second] if second is not None else []))
    divergence = traces.compare(a, b).first("(input events)")
    assert divergence is not None and (divergence.path, divergence.label) == (path, "input event #2")
    if second is None:
        assert divergence.note == "missing from B"


def test_diff_of_two_equal_input_only_files_says_only_inputs_were_compared(capsys, tmp_path):
    event = {"name": "order/paid", "data": {"amount": 1}, "id": "e1", "ts": T0 // MS}
    a, b = imported(tmp_path, "a", event), imported(tmp_path, "b", event)
    code, out, _ = run(capsys, "diff", a, b)
    assert code == 0
    assert out.splitlines()[3] == (
        "note: neither A nor B holds a run: only their input events were compared (names, sources, data, times), "
        "and they are the same (1 event(s)); no outcome was compared: to compare outcomes, replay each into your "
        "code (jobsim replay TRACE --app MODULE --out FILE) and diff the replays' files"
    )


def test_an_ignored_field_of_the_input_events_is_not_compared(tmp_path):
    a = imported(tmp_path, "a", {"name": "order/paid", "data": {"amount": 1, "at": "x"}, "ts": T0 // MS})
    b = imported(tmp_path, "b", {"name": "order/paid", "data": {"amount": 1, "at": "y"}, "ts": T0 // MS})
    assert not traces.compare(a, b).same
    assert traces.compare(a, b, ignore=["event:ce.data.at"]).same


# -- 2. CloudEvents: the same id from another source is another event ----------------------------
def test_a_replay_runs_cloudevents_of_one_id_from_two_sources_as_two_events(tmp_path):
    path = write(tmp_path / "events.jsonl", cloudevent("a1", "/shop", 1), cloudevent("a1", "/billing", 2, 1),
                 cloudevent("a1", "/shop", 3, 2))  # fmt: skip
    app = jobsim.App("t40")
    seen = []

    @app.function("on-order", on="order/created")
    def on_order(ctx):
        seen.append((ctx.event.id, ctx.event.data["n"]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        result = jobsim.Simulation.replay(path, app)
    # /billing's a1 is another event (CloudEvents 1.0: source + id); /shop's second a1 is a repeat
    assert seen == [("a1", 1), ("a1@/billing", 2)]
    assert [r.status for r in result.simulation.runs("on-order")] == ["completed", "completed", "skipped"]
    assert result.notes == [
        "1 input event id(s) come from more than one source (the first: 'a1' from '/shop' and '/billing'): "
        "CloudEvents from different sources are different events, but the bus keeps one event per id, so the later "
        "source's are replayed with ids such as 'a1@/billing'"
    ]


def test_inngest_events_keep_their_id_rule_in_a_replay(tmp_path):
    path = write(tmp_path / "events.jsonl", *({"name": "order/created", "data": {"n": n}, "id": "o1",
                                               "ts": T0 // MS + n * 1000} for n in range(2)))  # fmt: skip
    app = jobsim.App("t40")

    @app.function("on-order", on="order/created")
    def on_order(ctx):
        return ctx.event.data["n"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        result = jobsim.Simulation.replay(path, app)
    assert [r.status for r in result.simulation.runs("on-order")] == ["completed", "skipped"]
    assert result.notes == []


# -- 4. ints past 64 bits ---------------------------------------------------------------------------
@pytest.mark.parametrize("number", [2**64 - 1, 2**64, 2**63, -(2**63), -(2**63) - 1, BIG, -BIG, 1740992400000000000])
def test_loads_exact_keeps_every_int_exact(number):
    text = orjson.dumps({"n": 1}).replace(b"1", str(number).encode())
    value = loads_exact(text)["n"]
    assert value == number and type(value) is int
    assert has_wide_ints(text) == (len(str(abs(number))) >= 20 or (number < 0 and len(str(-number)) >= 19))


def test_exact_ints_writes_wide_ints_as_their_digits():
    value = {"a": [BIG, -(2**64), 2**64 - 1], "b": {"c": -(2**63)}, "d": 1.5}
    assert orjson.loads(orjson.dumps(exact_ints({"d": 1}))) == {"d": 1}
    assert loads_exact(orjson.dumps(exact_ints(value))) == value


def test_a_trace_line_marked_wide_is_read_with_its_ints_exact(tmp_path):
    """The writer marks a line holding an int past 64 bits ``"wide": true``; orjson would read it as a float."""
    header = {"k": "header", "format": "jobsim-trace", "version": 1, "start": T0, "clock": "ns"}
    ce = {"specversion": "1.0", "id": "e1", "source": "/jobsim/input", "type": "order/paid",
          "time": "2025-06-01T12:00:00.000Z", "data": {"n": 1, "l": [2]}}  # fmt: skip
    plain = {"k": "event", "seq": 0, "at": T0, "origin": "input", "ce": ce}
    wide = {"k": "event", "seq": 1, "at": T0, "wide": True, "origin": "input", "ce": {**ce, "id": "e2"}}
    end = {"k": "end", "seq": 2, "at": T0, "records": 2, "counts": {"event": 2}}
    text = b"\n".join(orjson.dumps(line) for line in (header, plain, wide, end)) + b"\n"
    text = text.replace(
        b'"id":"e2","source":"/jobsim/input","type":"order/paid","time":"2025-06-01T12:00:00.000Z",'
        b'"data":{"n":1,"l":[2]}',
        b'"id":"e2","source":"/jobsim/input","type":"order/paid",'
        b'"time":"2025-06-01T12:00:00.000Z","data":{"n":%d,"l":[%d]}' % (BIG, -(2**64)),
    )
    path = tmp_path / "t.jobsim.jsonl"
    path.write_bytes(text)
    trace = traces.load(path)
    first, second = (record.data for record in trace.records)
    assert first["data"] == {"n": 1, "l": [2]}
    assert second["data"] == {"n": BIG, "l": [-(2**64)]} and type(second["data"]["n"]) is int
    assert "wide" not in second


def test_a_cloudevent_s_base64_data_keeps_an_int_past_64_bits(tmp_path):
    data = base64.b64encode(b'{"n": %d}' % BIG).decode()
    path = write(tmp_path / "events.jsonl", {"specversion": "1.0", "id": "e1", "source": "/s", "type": "t",
                                             "datacontenttype": "application/json", "data_base64": data})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        (record,) = traces.import_events(path).records
    assert record.data["data"] == {"n": BIG} and type(record.data["data"]["n"]) is int
