"""Bad input the fuzz cases (``test_bad_input_fuzz.py``) cannot judge by its type: the message people read.

Each of these was accepted, or failed from deep inside, before: a trigger given twice
ran the function twice per event, a wildcard trigger never ran it, a delay or offset
past the year 9999 was an ``IndexError``/``OverflowError``, and a value whose ``repr``
raises broke the message quoting it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from _innerruns import quiet_inner_run  # noqa: F401 (a fixture, used by name)

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
        jobsim.profile("inngest", process_every=_BrokenRepr())
    assert str(info.value).startswith("profile 'inngest' takes no options, got process_every=<_BrokenRepr object "
                                      "(its repr raised RuntimeError)>; profiles that take options: 'agenda', "
                                      "'node-cron'")


@pytest.mark.usefixtures("quiet_inner_run")
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
    result = pytester.runpytest("-p", "no:cacheprovider")
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
