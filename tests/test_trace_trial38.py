"""Trial 38 of traces: what a user found between recording, saving, loading, importing and replaying."""

from __future__ import annotations

import base64
import gzip
import warnings

import httpx
import orjson
import pytest

import jobsim
from jobsim import traces
from jobsim.errors import InvalidArgument, TraceError


def _app() -> jobsim.App:
    app = jobsim.App("shop")

    @app.function("charge", on="order/paid")
    def charge(ctx):
        ctx.step.run("call", lambda: httpx.post("https://api.example.org/x", json={"a": 1}).json())
        return {"id": ctx.event.id, "amount": ctx.event.data.get("amount"), "ok": True}

    return app


def _ids() -> jobsim.App:
    app = jobsim.App("shop")

    @app.function("charge", on="order/paid")
    def charge(ctx):
        return {"id": ctx.event.id}

    return app


def _recorded() -> jobsim.Simulation:
    with jobsim.Simulation(_app(), start="2025-03-01T09:00:00Z") as sim:
        sim.http.post("https://api.example.org/x").respond(200, json={"ok": True})
        sim.send("order/paid", {"amount": 2})
        sim.run_until_idle()
    return sim


def _lines(path) -> list[dict]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return [orjson.loads(line) for line in raw.splitlines()]


# 1. in memory vs loaded ------------------------------------------------------------------------
def test_record_saved_gives_the_fields_a_loaded_trace_holds(tmp_path):
    sim = _recorded()
    loaded = traces.load(sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False))
    http = sim.trace.of("http")[0]
    assert "call" in http.data and "request" not in http.data  # lean in memory: the HttpCall, summarized on save
    assert isinstance(sim.trace.of("run.end")[0].data["output"], bytes)
    assert [(r.seq, r.at, r.kind, r.saved()) for r in sim.trace] == [(r.seq, r.at, r.kind, r.data) for r in loaded]
    assert sim.trace.of("http")[0].saved()["elapsed"] == 0 and sim.trace.of("run.end")[0].saved()["output"]["ok"]
    assert all(r.saved() == r.data for r in loaded)  # a loaded record is saved fields already


# 2. a loaded trace's of() --------------------------------------------------------------------
def test_a_loaded_trace_refuses_a_kind_nothing_writes_as_sim_trace_does(tmp_path):
    sim = _recorded()
    loaded = traces.load(sim.trace.save(tmp_path / "t.jobsim.jsonl"))
    for trace in (sim.trace, loaded):
        with pytest.raises(InvalidArgument, match=r"did you mean 'retry'\?"):
            trace.of("retries")
        assert trace.of("retry") == []


# 3. sim.record of jobsim's own kinds -----------------------------------------------------------
def test_a_record_of_a_builtin_kind_without_its_fields_is_refused_when_made_not_on_load(tmp_path):
    with jobsim.Simulation(_app()) as sim:
        with pytest.raises(InvalidArgument, match=r"^sim\.record\('http'\) got field\(s\) \['foo'\]: a 'http' "
                                                  r"record needs the field\(s\) method, url .*'myapp\.http'"):
            sim.record("http", foo=1)
        with pytest.raises(InvalidArgument, match=r"a 'retry' record needs the field\(s\) .*next_at"):
            sim.record("retry", function="f", run="r", attempt=1)
        sim.record("http", method="GET", url="https://a.test/", status=200)  # has them: saved, loaded
        sim.record("shop.http", foo=1)  # a kind of its own: anything
    loaded = traces.load(sim.trace.save(tmp_path / "t.jobsim.jsonl"))
    assert [r.data["url"] for r in loaded.of("http")] == ["https://a.test/"]
    assert [r.data for r in loaded.of("shop.http")] == [{"foo": 1}]


def test_a_builtin_record_added_without_its_fields_is_refused_on_save_not_on_load(tmp_path):
    with jobsim.Simulation(_app()) as sim:
        sim.trace.add(sim.now_ns(), "http", {"foo": 1})  # past sim.record's check (a plugin's own trace.add)
    with pytest.raises(InvalidArgument, match=r"^a 'http' record needs the field\(s\) method, url, so the trace "
                                              r"could not be read back: .*'myapp\.http'"):
        sim.trace.save(tmp_path / "t.jobsim.jsonl")
    assert not (tmp_path / "t.jobsim.jsonl").exists() and not list(tmp_path.iterdir())  # no .part left either


def test_check_record_names_the_missing_fields_for_sim_record():
    from jobsim._trace import check_record

    with pytest.raises(InvalidArgument, match=r"^sim\.record\('http'\) got field\(s\) \['foo'\]: a 'http' record "
                                              r"needs the field\(s\) method, url"):
        check_record("http", {"foo": 1})
    check_record("http", {"method": "GET", "url": "https://a.test/"})
    check_record("shop.http", {"foo": 1})


# 4. data_base64 in a trace's event -------------------------------------------------------------
def _with_event_ce(tmp_path, sim, **ce_changes):
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False)
    lines = _lines(path)
    ce = lines[1]["ce"]
    ce.update(ce_changes)
    for key, value in list(ce.items()):
        if value is None:
            del ce[key]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_a_trace_event_s_data_base64_is_read_as_its_data(tmp_path):
    sim = _recorded()
    encoded = base64.b64encode(b'{"amount": 7}').decode()
    path = _with_event_ce(tmp_path, sim, data=None, data_base64=encoded,
                          datacontenttype="application/cloudevents+json; charset=utf-8")  # fmt: skip
    event = traces.load(path).of("event")[0].data
    assert event["data"] == {"amount": 7} and "attributes" not in event
    assert event["datacontenttype"] == "application/cloudevents+json; charset=utf-8"
    replayed = jobsim.Simulation.replay(path, _app())
    assert replayed.simulation.runs("charge")[0].output["amount"] == 7


@pytest.mark.parametrize(("changes", "message"), [
    ({"datacontenttype": "application/octet-stream", "data_base64": "AAEC/w=="}, r"carries binary data"),
    ({"data_base64": base64.b64encode(b"[1]").decode()}, r"holds JSON list"),
    ({"data_base64": "not base64!"}, r"is not base64 of JSON"),
    ({"data_base64": base64.b64encode(b"{}").decode(), "data": {}}, r"both 'data' and 'data_base64'"),
])  # fmt: skip
def test_a_trace_event_s_bad_data_base64_names_its_line(tmp_path, changes, message):
    sim = _recorded()
    path = _with_event_ce(tmp_path, sim, **{"data": None, **changes})
    with pytest.raises(TraceError, match=rf"t\.jobsim\.jsonl:2: .*{message}"):
        traces.load(path)


# 5. a damaged gzip stream ----------------------------------------------------------------------
def test_a_flipped_byte_in_a_gzip_trace_is_damage_not_a_malformed_line(tmp_path):
    sim = _recorded()
    raw = bytearray(sim.trace.save(tmp_path / "t.jobsim.jsonl.gz").read_bytes())
    for where in (len(raw) // 2, 40):  # mid-stream, and in the header line
        flipped = bytearray(raw)
        flipped[where] ^= 0xFF
        path = tmp_path / f"flip{where}.jobsim.jsonl.gz"
        path.write_bytes(bytes(flipped))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(TraceError, match=r"the (file|gzip stream) is damaged") as info:
                traces.load(path)
        assert str(path) in str(info.value) and "malformed" not in str(info.value)


def test_a_malformed_line_in_a_sound_gzip_trace_is_still_named(tmp_path):
    sim = _recorded()
    lines = sim.trace.save(tmp_path / "t.jobsim.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "bad.jobsim.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join([*lines[:2], b"{not json\n", *lines[2:]])))
    with pytest.raises(TraceError, match=r"bad\.jobsim\.jsonl\.gz:3: malformed line"):
        traces.load(path)


# 6. imported CloudEvents keep their attributes -------------------------------------------------
def test_an_imported_jobsimsynthid_attribute_and_content_type_are_the_event_s_own(tmp_path):
    source = tmp_path / "ce.jsonl"
    source.write_bytes(orjson.dumps({
        "specversion": "1.0", "id": "order-42", "source": "/shop", "type": "order/paid",
        "time": "2025-01-01T00:00:01Z", "datacontenttype": "application/vnd.shop+json", "jobsimsynthid": True,
        "data": {"amount": 2}}) + b"\n")  # fmt: skip
    trace = traces.import_events(source)
    result = jobsim.Simulation.replay(trace, _ids())
    assert result.simulation.runs("charge")[0].output["id"] == "order-42"  # not replaced by a bus-made id
    saved = trace.save(tmp_path / "t.jobsim.jsonl")
    line = _lines(saved)[1]
    assert line["ce"]["datacontenttype"] == "application/vnd.shop+json" and line["ce"]["jobsimsynthid"] is True
    assert "synthid" not in line
    again = traces.load(saved).of("event")[0].data
    assert again["datacontenttype"] == "application/vnd.shop+json" and again["attributes"] == {"jobsimsynthid": True}
    assert jobsim.Simulation.replay(saved, _ids()).simulation.runs("charge")[0].output["id"] == "order-42"


def test_an_id_jobsim_import_made_up_is_marked_beside_the_cloudevent(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(orjson.dumps({"name": "order/paid", "data": {"amount": 2}, "ts": 1735689600000}) + b"\n")
    trace = traces.import_events(source)
    made_up = trace.of("event")[0].data["id"]
    line = _lines(trace.save(tmp_path / "t.jobsim.jsonl"))[1]
    assert line["synthid"] is True and "jobsimsynthid" not in line["ce"] and "jobsim:synthid" not in line["ce"]
    assert line["ce"]["datacontenttype"] == "application/json"
    replayed = jobsim.Simulation.replay(tmp_path / "t.jobsim.jsonl", _ids()).simulation.runs("charge")[0]
    assert replayed.output["id"] != made_up  # the bus made its own, as it did


# 7. .GZ ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["t.jobsim.jsonl.GZ", "t.jobsim.jsonl.Gz", "t.jobsim.jsonl.gz"])
def test_a_gz_suffix_in_any_case_compresses(tmp_path, name):
    path = _recorded().trace.save(tmp_path / name)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert len(traces.load(path)) > 0


# 8. the replay report ---------------------------------------------------------------------------
def test_the_replayed_line_says_the_seed_and_profile_used_when_not_the_recording_s(tmp_path):
    path = _recorded().trace.save(tmp_path / "t.jobsim.jsonl")
    same = jobsim.Simulation.replay(path, _app()).report().splitlines()[2]
    assert same.startswith("replayed: ") and "seed" not in same and "profile" not in same
    other = jobsim.Simulation.replay(path, _app(), seed=5, profile="agenda").report().splitlines()[2]
    assert other.endswith(" · seed 5 · profile agenda")


def test_the_report_names_every_differing_field_of_an_output_not_only_the_first(tmp_path):
    def build(extra):
        app = jobsim.App("shop")

        @app.function("charge", on="order/paid")
        def charge(ctx):
            return {"a": 1, "b": 2, "c": 3, **extra}

        return app

    with jobsim.Simulation(build({})) as sim:
        sim.send("order/paid", {})
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace, build({"a": 9, "c": 8}), compare="outputs")
    first = result.first("charge")
    assert (first.path, first.more) == ("a", ("c",))
    assert "    and c differs too" in first.describe()
    wide = jobsim.Simulation.replay(sim.trace, build({f"k{i}": i for i in range(8)}), compare="outputs")
    assert wide.first("charge").more == ("k1", "k2", "k3", "k4", "k5", "...")
