"""Bad input the fuzz cases (``test_bad_input_fuzz.py``) cannot judge by its type: the message people read.

Each of these was accepted, or failed from deep inside, before: a trigger given twice
ran the function twice per event, a wildcard trigger never ran it, a delay or offset
past the year 9999 was an ``IndexError``/``OverflowError``, and a value whose ``repr``
raises broke the message quoting it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

import jobsim
from jobsim import invariants, traces
from jobsim import strategies as js

pytest_plugins = ["pytester"]


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr of a half-built object")


def _app(**options: Any) -> jobsim.App:
    app = jobsim.App("v")
    app.function("f", **options)(lambda ctx: None)
    return app


@pytest.mark.parametrize(("options", "message"), [
    ({"on": ["order/placed", "order/placed"]},
     "on=['order/placed', 'order/placed'] is not valid: 'order/placed' is given twice: each such event would start "
     "the function twice; give each once"),
    ({"cron": ["0 9 * * *", "0 9 * * *"]},
     "cron=['0 9 * * *', '0 9 * * *'] is not valid: '0 9 * * *' is given twice: each of its ticks would start the "
     "function twice; give each once"),
    ({"on": "app/user.update*"},
     "on='app/user.update*' is not valid: 'app/user.update*' puts a '*' where Inngest has no wildcard: a wildcard "
     "ends the name, right after a '/' or '.', e.g. on='app/*' (every app/... event) or on='app/user.*'; mid-word "
     "and mid-pattern wildcards ('app/user.update*', 'app/*.published') are not supported"),
    ({"on": ["user/created", "report*s"]},
     "on=['user/created', 'report*s'] is not valid: 'report*s' puts a '*' where Inngest has no wildcard: a wildcard "
     "ends the name, right after a '/' or '.', e.g. on='app/*' (every app/... event) or on='app/user.*'; mid-word "
     "and mid-pattern wildcards ('app/user.update*', 'app/*.published') are not supported"),
], ids=["on twice", "cron twice", "mid-word wildcard", "star inside a name"])  # fmt: skip
def test_a_trigger_given_twice_or_a_wildcard_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(jobsim.InvalidArgument) as info:
        _app(**options)
    assert str(info.value) == message


def test_a_wildcard_trigger_runs_on_every_event_under_its_prefix() -> None:
    with jobsim.Simulation(_app(on="app/*")) as sim:  # after '/': Inngest's wildcard (tests/test_wildcard_triggers.py)
        sim.send("app/user.created")
        sim.run_until_idle()
    assert [run.status for run in sim.runs("f")] == ["completed"]


def test_a_delayed_send_past_the_year_9999_names_delay() -> None:
    with jobsim.Simulation(_app(on="e"), profile="bullmq") as sim:
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.send("e", delay=10**12)
        assert str(info.value) == (
            "delay=1000000000000 is not valid: a duration that ends by 9999-12-31T23:59:59.999Z, the last instant a "
            "datetime can show (the simulation is at 2025-01-01T00:00:00.000Z)"
        )
        assert sim.events == []  # nothing was claimed or queued


def test_replay_until_past_the_year_9999_names_until(tmp_path) -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        sim.send("e")
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.Simulation.replay(path, _app(on="e"), until=10**12)
    assert str(info.value) == (
        "until=1000000000000 is not valid: a duration that ends by 9999-12-31T23:59:59.999Z, the last instant a "
        "datetime can show (the recording ends at 2025-01-01T00:00:00.000Z)"
    )


@pytest.mark.parametrize(("piece", "message"), [
    (js.Crash(at=10**12),
     "at='11574074d1h46m40s' is not valid: an offset that ends by 9999-12-31T23:59:59.999Z, the last instant a "
     "datetime can show (offsets count from 2025-01-01T00:00:00.000Z)"),
    (js.Downtime(start="1s", end=10**12),
     "end='11574074d1h46m40s' is not valid: an offset that ends by 9999-12-31T23:59:59.999Z, the last instant a "
     "datetime can show (offsets count from 2025-01-01T00:00:00.000Z)"),
    (js.Duplicate(at=10**12),
     "at='11574074d1h46m40s' is not valid: an offset that ends by 9999-12-31T23:59:59.999Z, the last instant a "
     "datetime can show (offsets count from 2025-01-01T00:00:00.000Z)"),
    ([js.Send(after="1h", name="e"), js.Send(after=10**12, name="e")],
     "after='11574074d1h46m40s' is not valid: offsets that add up to an instant by 9999-12-31T23:59:59.999Z, the "
     "last a datetime can show (the events' offsets count from 2025-01-01T00:00:00.000Z)"),
], ids=["Crash(at)", "Downtime(end)", "Duplicate(at)", "Send(after)"])  # fmt: skip
def test_history_offsets_past_the_year_9999_are_named_before_anything_runs(piece: Any, message: str) -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        with pytest.raises(jobsim.InvalidArgument) as info:
            js.apply(sim, js.Fail(function="f"), js.Send(after=0, name="e"), piece, then=None)
        assert str(info.value) == message
        assert sim.events == [] and sim.trace.of("fault.armed") == []


def test_a_send_without_data_and_one_that_json_cannot_carry() -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        js.apply(sim, js.Send(after=0, name="e", data=None))
        assert [event.data for event in sim.events] == [{}]
    with pytest.raises(jobsim.InvalidArgument, match=r"^data=\{'s': \{1\}\} is not valid: event data must be JSON"):
        js.Send(after=0, name="e", data={"s": {1}})


@pytest.mark.parametrize("targets", ["", "  ", 3])
def test_apply_targets_must_name_what_is_simulated(targets: Any) -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"^targets=.* is not valid: how the printed reproduction "
                                                         r"names what is simulated, e.g. 'app' or 'shop.app'$"):
            js.apply(sim, js.Send(after=0, name="e"), targets=targets)
        assert sim.events == []
        # None is the default: the names a drawn simulation printed, else `app`
        assert js.apply(sim, js.Send(after=0, name="e"), targets=None).splitlines()[1].startswith(
            "with jobsim.Simulation(app, ")


@pytest.mark.parametrize("name", ["", [], {"a": 1}, 3])
def test_an_http_route_name_is_a_str(name: Any) -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"^name=.* is not valid: a non-empty str naming the route"):
            sim.http.get("https://x.test", name=name)
        assert sim.http.get("https://x.test", name="x") is sim.http["x"]


def test_invariants_refuse_a_what_that_is_not_a_str_and_quote_keys_whose_repr_raises() -> None:
    with pytest.raises(jobsim.InvalidArgument, match=r"^what=3 is not valid: a str naming the effects"):
        invariants.at_most_once([], "data.x", what=3)
    rows = [{"k": _BrokenRepr()}, {"k": 1}, {"k": 1}]
    with pytest.raises(invariants.Violation) as info:
        invariants.exactly_once(rows, key=lambda row: row["k"] if row["k"] == 1 else None, expected=[_BrokenRepr])
    assert str(info.value).splitlines()[:2] == ["exactly once per key (effect): 2 key(s) broken", "  1: 2 time(s)"]
    assert "<class '" in str(info.value)
    key = _BrokenRepr()
    with pytest.raises(invariants.Violation) as info:
        invariants.at_most_once([{"k": key, "row": _BrokenRepr()}] * 2, key=lambda row: row["k"], what="row")
    assert str(info.value).splitlines()[:2] == [
        "at most once per key (row): 1 key(s) occurred more than once",
        "  <_BrokenRepr object (its repr raised RuntimeError)>: 2 time(s)",
    ]


@pytest.mark.parametrize("emails", ["ada@example.com", 3, [{"to": ["ada@example.com"]}], (None,)])
def test_no_email_after_event_takes_emails_as_emails(emails: Any) -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        sim.send("e", {"x": 1})
        sim.run_until_idle()
    with pytest.raises(jobsim.InvalidArgument, match=r"^emails=.* is not valid: a list of jobsim.Email"):
        invariants.no_email_after_event(sim, "e", key="data.x", email_key=lambda m: m.to, emails=emails)


def test_unknown_keywords_whose_repr_raises_are_still_named() -> None:
    with jobsim.Simulation(_app(on="e")) as sim, pytest.raises(jobsim.InvalidArgument) as info:
        sim.send("e", {}, dealy=_BrokenRepr())
    assert str(info.value) == ("sim.send() got an unknown keyword argument dealy=<_BrokenRepr object (its repr raised "
                               "RuntimeError)> (did you mean delay=?); accepted: data, delay, id, user, ts, v")
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.profile("bullmq", process_every=_BrokenRepr())
    assert str(info.value).startswith("profile 'bullmq' takes no options, got process_every=<_BrokenRepr object "
                                      "(its repr raised RuntimeError)>; profiles that take options: 'agenda', "
                                      "'inngest', 'node-cron'")


def test_a_marker_value_whose_repr_raises_fails_the_test_with_jobsims_message(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        import jobsim

        app = jobsim.App("t")
        app.function("hello", on="hello")(lambda ctx: None)

        @pytest.fixture
        def jobsim_app():
            return app
        """
    )
    pytester.makepyfile(
        """
        import pytest

        class Half:
            def __repr__(self):
                raise RuntimeError("half-built")

        @pytest.mark.jobsim(seed=Half())
        def test_x(jobsim):
            pass

        @pytest.mark.jobsim(seed=Half())
        @pytest.mark.jobsim(seed=Half())
        def test_two(jobsim):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")  # the lines below: the file's order
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "jobsim: Simulation(jobsim_app, seed=<Half object (its repr raised RuntimeError)>) failed: "
        "seed=<Half object (its repr raised RuntimeError)> is not valid: an int within 64 bits",
        "jobsim: two @pytest.mark.jobsim markers on test_two give seed= different values, <Half object (its repr "
        "raised RuntimeError)> and <Half object (its repr raised RuntimeError)>; keep one*",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("*RuntimeError: half-built*")


def _recorded(tmp_path, **header: Any) -> Any:
    """A trace of a run failed by a fault, then retried, calling HTTP; its header changed as ``header`` says."""
    import httpx
    import orjson

    app = jobsim.App("v")
    app.function("f", on="e", retries=2)(lambda ctx: ctx.step.run("h", lambda: httpx.get("https://x.test").status_code))
    with jobsim.Simulation(app) as sim:
        sim.http.get("https://x.test").respond(204)
        sim.fail("f", times=1)
        sim.send("e")
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False)
    lines = path.read_bytes().splitlines()
    lines[0] = orjson.dumps({**orjson.loads(lines[0]), **header})
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, app


def test_a_header_edited_by_hand_still_replays_and_compares(tmp_path) -> None:
    # "minor": null was a TypeError in replay ('<' between None and int), "redaction": "x" an AttributeError in
    # compare; both read as absent, as the reader lets null header fields be
    path, app = _recorded(tmp_path, minor=None, redaction="x")
    assert jobsim.Simulation.replay(path, app).same
    assert traces.compare(path, path).same


def test_a_fault_armed_with_a_null_count_replays_once(tmp_path) -> None:
    import orjson

    path, app = _recorded(tmp_path)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    armed = next(line for line in lines if line["k"] == "fault.armed")
    armed["times"] = None  # was int(None): a TypeError out of the replay
    path.write_bytes(b"\n".join(map(orjson.dumps, lines)) + b"\n")
    assert jobsim.Simulation.replay(path, app).same


@pytest.mark.parametrize(("data", "fields"), [({"x": 1}, {}), (None, {"id": "o-1"})])
def test_an_event_dict_with_data_beside_it_is_refused(data: Any, fields: dict[str, Any]) -> None:
    # the dict's own data (here none) was sent and what was passed beside it dropped without a word
    message = ("pass either an event dict or a name with data, not both: put data, id, user, ts and v in the dict, "
               "e.g. {'name': 'user/created', 'data': {...}, 'id': ...}")
    with jobsim.Simulation(_app(on="e")) as sim:
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.send({"name": "e"}, data, **fields)
        assert str(info.value) == message
        assert sim.events == []


@pytest.mark.parametrize(("tz", "written"), [
    (dt.timezone(dt.timedelta(hours=5)), "UTC+05:00"),
    (dt.timezone(dt.timedelta(hours=-3, minutes=-30), "NST"), "UTC-03:30"),  # its own name: no reader knows it
    ("UTC+05:30", "UTC+05:30"),
])  # fmt: skip
def test_a_fixed_offset_zone_is_saved_as_one_a_replay_reads(tmp_path, tz: Any, written: str) -> None:
    # Simulation(tz=timezone(timedelta(hours=5))) was accepted, its trace said "tz": "UTC+05:00", and replaying that
    # trace failed with "tz='UTC+05:00' is not valid": a tz the replay's caller never gave
    import orjson

    app = _app(on="e")
    with jobsim.Simulation(app, tz=tz) as sim:
        sim.send("e")
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "t.jobsim.jsonl")
    assert orjson.loads(path.read_bytes().splitlines()[0])["tz"] == written
    assert jobsim.Simulation.replay(path, app).same


# -- the bad-input audit of session 18: each case below was a bare error, a hang or lost work before ----------------
@pytest.mark.parametrize(("profile", "delay"), [("inngest", None), ("bullmq", None), ("bullmq", "1s")])
def test_an_empty_event_id_is_no_id(profile: str, delay: str | None) -> None:
    # id='' was an idempotency key like any other: every later event sent with id='' (id=order.get("key", ""))
    # was a duplicate, its runs skipped. Inngest gives an event with ID "" a fresh one (event/legacy_types.go:
    # `if e.ID == "" { e.ID = internalID }`), BullMQ a job with jobId "" the queue's counter (addStandardJob.lua)
    app = _app(on="e")
    with jobsim.Simulation(app, profile=profile) as sim:
        ids = sim.send("e", {}, id="", delay=delay) + sim.send("e", {}, id="", delay=delay)
        if delay is None:
            ids += sim.send({"name": "e", "id": ""})
        sim.run_until_idle()
    assert all(len(i) == 26 for i in ids) and len(set(ids)) == len(ids)  # ULIDs, one per event
    assert [run.status for run in sim.runs("f")] == ["completed"] * len(ids)
    assert sim.trace.of("event.dropped") == []


_MISSPELT: list[tuple[str, Any, str, str]] = [
    # (where, call given the misspelt keyword, the keyword given, the one meant)
    ("sim.runs()", lambda s: s.runs(functon="f"), "functon", "function"),
    ("sim.timeline()", lambda s: s.timeline(tzz="UTC"), "tzz", "tz"),
    ("sim.mail.assert_sent()", lambda s: s.mail.assert_sent(subjct="x"), "subjct", "subject"),
    ("sim.mail.assert_not_sent()", lambda s: s.mail.assert_not_sent(too="x"), "too", "to"),
    ("sim.mail.find()", lambda s: s.mail.find(from_="a@x.test"), "from_", "sender"),
    ("sim.mail.sent_to()", lambda s: s.mail.sent_to(adress="a@x.test"), "adress", "address"),
    ("route.mock()", lambda s: s.http.get("https://x.test").mock(side_efect=[]), "side_efect", "side_effect"),
    ("trace.save()", lambda s: s.trace.save("t.jsonl", redct=False), "redct", "redact"),
    ("Trace.load()", lambda s: jobsim.Trace.load("t.jsonl", strct=True), "strct", "strict"),
    ("traces.load()", lambda s: traces.load("t.jsonl", strct=True), "strct", "strict"),
    ("traces.iter_records()", lambda s: traces.iter_records("t.jsonl", strct=True), "strct", "strict"),
    ("traces.compare()", lambda s: traces.compare("a", "b", tolerence="1s"), "tolerence", "tolerance"),
    ("traces.scan()", lambda s: traces.scan("t.jsonl", pi=True), "pi", "pii"),
    ("traces.import_events()", lambda s: traces.import_events("e.jsonl", fromat="inngest"), "fromat", "format"),
    ("Redaction()", lambda s: jobsim.Redaction(feilds=[]), "feilds", "fields"),
    ("Scenario()", lambda s: jobsim.Scenario(nmae="n"), "nmae", "name"),
    ("jobsim.compare()", lambda s: jobsim.compare(None, sed=1), "sed", "seed"),
    ("BullMQBackoff()", lambda s: jobsim.BullMQBackoff(typ="fixed"), "typ", "type"),
    ("TriggerDevRetry()", lambda s: jobsim.TriggerDevRetry(atempts=3), "atempts", "attempts"),
    ("QuirrelRetry()", lambda s: jobsim.QuirrelRetry(ofsets=[]), "ofsets", "offsets"),
    ("AgendaBackoff()", lambda s: jobsim.AgendaBackoff(dleay=1), "dleay", "delay"),
    ("TableBackoff()", lambda s: jobsim.TableBackoff(tabel=[1]), "tabel", "table"),
    ("invariants.exactly_once()", lambda s: invariants.exactly_once([], "data.x", expcted=[1]), "expcted", "expected"),
    ("invariants.at_least_once()", lambda s: invariants.at_least_once([], "data.x", expeted=[1]), "expeted",
     "expected"),
    ("invariants.at_most_once()", lambda s: invariants.at_most_once([], "data.x", waht="x"), "waht", "what"),
    ("invariants.no_email_after()", lambda s: invariants.no_email_after(s, "f", statuse=[]), "statuse", "statuses"),
    ("invariants.no_email_after_event()", lambda s: invariants.no_email_after_event(s, "e", key="data.x",
     email_kye=str), "email_kye", "email_key"),
    ("invariants.retries_respect_policy()", lambda s: invariants.retries_respect_policy(s, functon="f"), "functon",
     "function"),
    ("invariants.every_event_handled()", lambda s: invariants.every_event_handled(s, evnt="e"), "evnt", "event"),
    ("js.durations()", lambda s: js.durations(min_vale=1), "min_vale", "min_value"),
    ("js.instants()", lambda s: js.instants(max_vaule="2025-01-01T00:00:00Z"), "max_vaule", "max_value"),
    ("js.simulations()", lambda s: js.simulations(_app(on="e"), sed=1), "sed", "seed"),
    ("js.failure_patterns()", lambda s: js.failure_patterns(["f"], max_fault=1), "max_fault", "max_faults"),
    ("js.faults()", lambda s: js.faults(function=["f"]), "function", "functions"),
    ("js.fake_payloads()", lambda s: js.fake_payloads(local="en_US"), "local", "locale"),
    ("js.event_streams()", lambda s: js.event_streams(["e"], max_sise=1), "max_sise", "max_size"),
    ("js.histories()", lambda s: js.histories(event=None), "event", "events"),
    ("js.retry_policies()", lambda s: js.retry_policies(attempt=3), "attempt", "attempts"),
    ("js.cron_expressions()", lambda s: js.cron_expressions(zone=["UTC"]), "zone", "zones"),
    ("js.machine()", lambda s: js.machine(lambda: None, evnts=["e"]), "evnts", "events"),
    ("js.apply()", lambda s: js.apply(s, thn=None), "thn", "then"),
    ("js.Send()", lambda s: js.Send(aftr=0, name="e"), "aftr", "after"),
    ("js.EventStream()", lambda s: js.EventStream(send=()), "send", "sends"),
    ("js.History()", lambda s: js.History(event=None), "event", "events"),
    ("js.Fail()", lambda s: js.Fail(functon="f"), "functon", "function"),
    ("js.Crash()", lambda s: js.Crash(att="1s"), "att", "at"),
    ("js.Downtime()", lambda s: js.Downtime(begin="1s", end="2s"), "begin", "start"),
    ("js.Duplicate()", lambda s: js.Duplicate(time=2), "time", "times"),
]  # fmt: skip


@pytest.mark.parametrize(("where", "call", "given", "meant"), _MISSPELT, ids=[case[0] for case in _MISSPELT])
def test_a_misspelt_keyword_is_named_with_the_one_meant(where: str, call: Any, given: str, meant: str) -> None:
    # each was Python's bare TypeError ("got an unexpected keyword argument 'subjct'"), naming nothing it takes,
    # where Simulation(), sim.fail(), Retries() and the flow options already said which keyword was meant
    with jobsim.Simulation(_app(on="e")) as sim, pytest.raises(jobsim.InvalidArgument) as info:
        call(sim)
    assert re.fullmatch(rf"{re.escape(where)} got an unknown keyword argument {given}=.* \(did you mean {meant}=\?\); "
                        rf"accepted: .*\b{meant}\b.*", str(info.value)), str(info.value)
    if where.startswith("js.") and where[3].islower() and where != "js.apply()":  # a strategy: Hypothesis's own too
        assert isinstance(info.value, js.InvalidArgument)


def test_a_keyword_given_to_a_function_that_takes_none() -> None:
    with jobsim.Simulation(_app(on="e")) as sim, pytest.raises(jobsim.InvalidArgument) as info:
        sim.trace.of(kinds="attempt")
    assert str(info.value) == ("trace.of() got an unknown keyword argument kinds='attempt'; it takes no keyword "
                               "arguments")


def _sleeping(body: Any, *, is_async: bool = False) -> jobsim.Simulation:
    app = jobsim.App("v")
    if is_async:
        async def handler(ctx: Any) -> None:
            await body()
    else:
        def handler(ctx: Any) -> None:
            body()
    app.function("f", on="e", retries=0)(handler)
    with jobsim.Simulation(app) as sim:
        sim.send("e")
        sim.run_until_idle()
    return sim


_PAST_THE_END = ("a sleep past the end of virtual time (9999-12-31T23:59:59.999Z, the last instant a datetime can "
                 "show): sleep less")


@pytest.mark.parametrize(("seconds", "error", "message"), [
    ("1", TypeError, "'str' object cannot be interpreted as an integer"),
    (None, TypeError, "'NoneType' object cannot be interpreted as an integer"),
    (dt.timedelta(seconds=1), TypeError, "'datetime.timedelta' object cannot be interpreted as an integer"),
    (float("nan"), ValueError, "Invalid value NaN (not a number)"),
    (-1, ValueError, "sleep length must be non-negative"),
    (float("inf"), jobsim.InvalidArgument, f"job code called time.sleep(inf), {_PAST_THE_END}"),
    (1e300, jobsim.InvalidArgument, f"job code called time.sleep(1e+300), {_PAST_THE_END}"),
])  # fmt: skip
def test_time_sleep_in_job_code_refuses_what_cpython_refuses(seconds: Any, error: type, message: str) -> None:
    # the virtual time.sleep failed inside jobsim: "'<' not supported between instances of 'str' and 'int'",
    # "cannot convert float NaN to integer", "cannot convert float infinity to integer" (an OverflowError)
    import time

    (run,) = _sleeping(lambda: time.sleep(seconds)).runs("f")
    assert type(run.error) is error and str(run.error) == message


def test_asyncio_sleep_nan_in_job_code_is_refused_as_python_3_13_does() -> None:
    # it went on at once, as if it had not waited (a real loop before 3.13 never wakes up; 3.13 refuses it)
    import asyncio

    (run,) = _sleeping(lambda: asyncio.sleep(float("nan")), is_async=True).runs("f")
    assert type(run.error) is ValueError and str(run.error) == "Invalid delay: NaN (not a number)"


def test_an_http_route_name_no_route_has_is_named() -> None:
    with jobsim.Simulation(_app(on="e")) as sim:
        sim.http.post("https://x.test/charges", name="charge")
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.http["charges"]  # was respx's bare KeyError: 'charges'
        assert str(info.value) == ("name='charges' is not valid: the name of a route of sim.http (named: 'charge'), "
                                   "given as sim.http.post(url, name='charge')")
        assert sim.http["charge"].name == "charge"


@pytest.mark.parametrize("sent", [("order/paid", {"orderId": "o1"}), ["order/paid", {}]])
def test_a_name_and_data_sent_as_one_tuple_says_how_to_send_them(sent: Any) -> None:
    # it was read as a list of two events and refused for the second: "event={'orderId': 'o1'} is not valid:
    # unknown keys ['orderId']", which says nothing of the tuple
    with jobsim.Simulation(_app(on="order/paid")) as sim:
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.send(sent)
        assert str(info.value) == (
            f"event={sent!r} is not valid: a tuple or list is read as several events, so 'order/paid' and its data "
            "were two events, the second without a name; send a name with its data as two arguments: "
            "send('order/paid', {...})"
        )
        assert sim.events == []
        sim.send(["order/paid", {"name": "order/paid"}])  # a list of events still is one
        assert len(sim.events) == 2
        sim.run_until_idle()


@pytest.mark.parametrize(("tz", "hint"), [
    ("america/new_york", " (did you mean 'America/New_York'? zone names are case-sensitive)"),
    ("EUROPE/PARIS", " (did you mean 'Europe/Paris'? zone names are case-sensitive)"),
    ("UTC+5", " (a fixed offset is written 'UTC+05:00')"),
    ("GMT-3:30", " (a fixed offset is written 'UTC-03:30')"),
    ("+0200", " (a fixed offset is written 'UTC+02:00')"),
    ("Z", " (did you mean 'UTC'?)"),
    ("Mars/Base", ""),
])  # fmt: skip
def test_a_zone_name_in_the_wrong_case_or_an_offset_names_the_spelling_read(tz: str, hint: str) -> None:
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.Simulation(_app(on="e"), tz=tz)
    assert str(info.value) == (f"tz={tz!r} is not valid: no such IANA time zone{hint}; expected e.g. "
                               "'America/New_York' or 'UTC'")


@pytest.mark.parametrize(("name", "meant"), [
    ("Inngest", "inngest"), ("BULLMQ", "bullmq"), ("trigger-dev", "trigger.dev"), ("node_cron", "node-cron"),
    ("Vercel Cron", "vercel-cron"), ("quirel", "quirrel"), ("Agenda(process_every=1s)", "agenda"),
])  # fmt: skip
def test_a_profile_name_spelt_otherwise_names_the_profile_meant(name: str, meant: str) -> None:
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.profile(name)
    assert str(info.value).startswith(f"profile={name!r} is not valid: one of 'agenda', ")
    assert str(info.value).endswith(f"e.g. 'agenda(process_every=1s)'); did you mean {meant!r}?")
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.profile("nope")
    assert str(info.value).endswith("e.g. 'agenda(process_every=1s)')")  # nothing close: no guess


def _stepping(count: int | None, profile: str = "inngest") -> jobsim.Simulation:
    app = jobsim.App("v")

    @app.function("f", on="e", retries=3)
    def poll(ctx: Any) -> int:
        step = 0
        while count is None or step < count:  # None: a poll loop whose condition never comes true
            ctx.step.run(f"poll-{step}", lambda: None)
            step += 1
        return step

    with jobsim.Simulation(app, profile=profile) as sim:
        sim.send("e")
        sim.run_until_idle()
    return sim


def test_a_run_of_more_steps_than_inngest_allows_fails_without_retries() -> None:
    # each new step re-runs the handler from the top: an endless loop of steps never returned (4,000 steps took
    # 6 s); Inngest fails a run past 1,000 steps at once (executor.go : checkStepLimit, ErrFunctionOverflowed)
    (run,) = _stepping(None).runs("f")
    assert run.status == "failed" and len(run.steps) == 1_000
    assert str(run.error) == (
        f"step 'poll-1000' of function 'f' (run {run.id}) would be its step number 1,001: Inngest allows 1,000 steps "
        "per run (\"The function run exceeded the step limit of 1000 steps.\"), and fails the run; run a loop over "
        "many items inside one step, or send one event per item to a function of its own (fan-out)"
    )
    assert [a.error for a in run.attempts if a.error is not None] == [run.error]  # not retried
    assert [(r.status, r.output) for r in _stepping(1_000).runs("f")] == [("completed", 1_000)]
    assert jobsim.profile("inngest").max_steps == 1_000 and jobsim.profile("bullmq").max_steps is None
