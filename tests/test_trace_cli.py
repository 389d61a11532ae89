"""The trace commands: output people read, and exit codes CI uses (0 same, 1 differs, 2 bad input)."""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from _imports import import_from
from _traceapp import build, record

from jobsim._cli import main
from jobsim.traces import load


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    sim = record(build())
    return {"redacted": sim.trace.save(folder / "rec.jobsim.jsonl"),
            "raw": sim.trace.save(folder / "raw.jobsim.jsonl", redact=False),
            "gz": sim.trace.save(folder / "rec.jobsim.jsonl.gz")}  # fmt: skip


@pytest.fixture
def app_module(tmp_path, monkeypatch):
    """Write ``<unique>.py`` defining ``app = build(**changes)``; returns its --app spec."""
    import_from(tmp_path, monkeypatch)

    def write(**changes):
        name = f"cliapp_{abs(hash((str(tmp_path), repr(changes))))}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(f"""
            from _traceapp import build
            app = build(**{changes!r})
        """))
        return f"{path}:app"

    return write


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_of_the_same_code_exits_0(recording, app_module, capsys):
    code, out, err = run(capsys, "replay", recording["gz"], "--app", app_module())
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"jobsim replay of {recording['gz']}"
    spec = app_module()
    assert lines[1] == f"app: {spec} from {spec.rpartition(':')[0]}"  # which code ran: a module may shadow another
    assert lines[-1] == ("same: 3 function(s), recorded and replayed agree on runs, outputs, emails, http, events, "
                         "timing")


def test_replay_of_changed_code_exits_1_with_the_first_divergence(recording, app_module, capsys):
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"), "--compare", "http")
    assert code == 1
    assert "  DIFFERS  welcome  http: http call #1 of run #1 at 2025-03-03T10:00:00.000+01:00: differs" in out
    assert '                        request.body.json.plan: recorded "free"' in out
    assert '                                                replayed "pro"' in out
    assert out.splitlines()[-1] == "DIFFERS: 1 of 3 function(s) (http 1)"
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"), "--compare", "http",
                       "--ignore", "http:request.body.json.plan")  # fmt: skip
    assert code == 0


def test_ignore_patterns_joined_by_commas_are_refused_saying_to_repeat_the_flag(recording, app_module, capsys):
    """--compare takes commas, so a user writes --ignore a:x,b:y too: that one pattern matched nothing, and a
    regression it was meant to hide made CI fail with only a note about kind 'a:x,b'."""
    code, out, err = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"),
                         "--ignore", "http:request.body.json.plan,email:subject")  # fmt: skip
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: ignore='http:request.body.json.plan,email:subject' holds 2 KIND:PATH patterns "
                   "joined by commas, one pattern it would never match; give each its own: --ignore "
                   "http:request.body.json.plan --ignore email:subject (ignore=[...] in Python)\n")
    code, _, err = run(capsys, "diff", recording["redacted"], recording["raw"], "--ignore", "email:subject, *:**.ts")
    assert code == 2 and "--ignore email:subject --ignore '*:**.ts'" in err
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"), "--compare", "http",
                       "--ignore", "http:request.body.json.plan", "--ignore", "email:subject")  # fmt: skip
    assert code == 0, out
    # a comma inside one pattern's path is still a path
    assert run(capsys, "diff", recording["redacted"], recording["redacted"], "--ignore", "email:a,b")[0] == 0


def test_an_ignore_that_names_a_comparison_as_its_kind_gives_the_pattern_meant(recording, app_module, capsys):
    """'outputs:plan' (the comparison's name, as the report prints 'outputs: run #1') matched nothing with the
    hint 'the kinds there: advance, attempt, ...', which names no output; 'events:data.email' was told 'did you
    mean event?', and 'event:data.email' matched nothing either (an event's data is under 'ce')."""
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"),
                       "--compare", "outputs,events", "--ignore", "outputs:plan", "--ignore", "events:data.email")
    assert code == 1
    lines = out.splitlines()
    assert ("note: --ignore 'outputs:plan' matched nothing: no record of kind 'outputs' is in either trace; outputs "
            "are compared from 'run.end' records: --ignore run.end:output.plan") in lines
    assert ("note: --ignore 'events:data.email' matched nothing: no record of kind 'events' is in either trace; "
            "events are compared from 'event' records: --ignore event:ce.data.email") in lines
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"),
                       "--compare", "outputs,events", "--ignore", "run.end:output.plan",
                       "--ignore", "event:ce.data.email")  # what the notes said to write: it works
    assert code == 0 and "matched nothing" not in out, out


def test_an_ignore_that_names_a_kind_and_no_field_says_how_to_write_it(recording, app_module, capsys):
    """'--ignore email' reads as a field called 'email' in every record: it matched nothing, the changed emails were
    still compared, and the note gave no clue why."""
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(subject="Yo {name}"),
                       "--ignore", "email")  # fmt: skip
    assert code == 1
    assert ("note: --ignore 'email' matched nothing: 'email' is read as a field of that name in every record; "
            "--ignore takes KIND:PATH, a field of a kind of record (email:subject, http:request.headers.date); to "
            "compare no emails at all, leave 'emails' out of --compare") in out.splitlines()
    _, out, _ = run(capsys, "diff", recording["redacted"], recording["redacted"], "--ignore", "nosuchfield")
    assert "note: --ignore 'nosuchfield' matched nothing" in out.splitlines()  # a field name: no hint about kinds


def test_a_run_that_fails_in_the_replay_shows_the_error_it_failed_with(recording, app_module, capsys):
    """'status: recorded "completed" / replayed "failed"' left the reader to rerun the code to learn why."""
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(fails=True), "--compare", "runs")
    assert code == 1
    block = out[out.index("  DIFFERS  welcome"):].splitlines()[:5]
    assert block == [
        "  DIFFERS  welcome   runs: run #1 at 2025-03-03T10:00:00.000+01:00: differs",
        '                         status: recorded "completed"',
        '                                 replayed "failed"',
        "                                 error: recorded (none)",
        '                                        replayed "RuntimeError: mail is broken today"',
    ]
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(fails=True), "--compare", "runs",
                       "--format", "json")  # fmt: skip
    first = json.loads(out)["comparison"]["functions"]["welcome"]["first"]
    assert (first["path"], first["errors"]) == ("status", [None, "RuntimeError: mail is broken today"])
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(plan="pro"), "--compare", "http",
                       "--format", "json")  # fmt: skip
    assert json.loads(out)["comparison"]["functions"]["welcome"]["first"]["errors"] is None  # not a run's status


def test_ignoring_every_field_keeps_runs_in_place_unless_the_placing_fields_are_named(recording, app_module, capsys):
    """'*:**' ignores fields, not records: a run only the recording has (the failing welcome starts no audit)
    still differs, as in the API; naming '*:function' and '*:run' too places no record in a run: nothing differs."""
    app = app_module(fails=True)
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app, "--compare", "runs", "--ignore", "*:**")
    assert code == 1
    assert "  DIFFERS  audit    runs: run #1 at 2025-03-03T11:00:10.000+01:00: missing from the replay" in out
    assert "  same     welcome" in out  # its status and error ignored
    assert '{"event":null,"status":null}' in out  # the ignored status: it read "None", as if a run's status were
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app, "--compare", "runs", "--ignore", "*:**",
                       "--ignore", "*:function", "--ignore", "*:run")  # fmt: skip
    assert code == 0, out
    assert "DIFFERS" not in out


def test_replay_as_json_and_saved(recording, app_module, capsys, tmp_path):
    out_file = tmp_path / "replayed.jobsim.jsonl"
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module(subject="Yo {name}"),
                       "--format", "json", "--out", out_file)  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["app"]["file"].endswith(".py") and data["app"]["spec"].endswith(":app")
    assert data["same"] is False and data["comparison"]["functions"]["welcome"]["first"]["path"] == "subject"
    assert out_file.exists()


def test_timing_tolerance_option(recording, app_module, capsys):
    spec = app_module(retry_min="11s")
    assert run(capsys, "replay", recording["raw"], "--app", spec, "--compare", "timing")[0] == 1
    assert run(capsys, "replay", recording["raw"], "--app", spec, "--compare", "timing", "--tolerance", "1s")[0] == 0


@pytest.mark.parametrize(("app", "message"), [
    ("no_such_module_xyz", "jobsim: error: cannot import 'no_such_module_xyz'"),
    ("_traceapp:nothing", "jobsim: error: '_traceapp' has no nothing attribute to simulate"),
])  # fmt: skip
def test_a_missing_app_exits_2(recording, capsys, app, message):
    code, out, err = run(capsys, "replay", recording["redacted"], "--app", app)
    assert code == 2 and out == "" and err.startswith(message)


def test_a_bad_trace_exits_2(capsys, tmp_path, app_module):
    bad = tmp_path / "bad.jobsim.jsonl"
    bad.write_text('{"k":"header","format":"jobsim-trace","version":3,"start":0}\n')
    code, _, err = run(capsys, "replay", bad, "--app", app_module())
    assert code == 2 and f"{bad}:1: trace format version 3 is newer than this jobsim" in err
    code, _, err = run(capsys, "diff", bad, bad)
    assert code == 2 and "is newer than this jobsim" in err
    code, _, err = run(capsys, "replay", tmp_path / "gone.jobsim.jsonl", "--app", app_module())
    assert code == 2 and err.strip() == f"jobsim: error: {tmp_path / 'gone.jobsim.jsonl'}: no such file"


def test_replay_requires_the_app_option(recording, capsys):
    with pytest.raises(SystemExit) as info:
        main(["replay", str(recording["raw"])])
    assert info.value.code == 2
    assert "the following arguments are required: --app" in capsys.readouterr().err


def test_diff_exit_codes_and_report(recording, capsys, tmp_path):
    code, out, _ = run(capsys, "diff", recording["redacted"], recording["gz"])
    assert code == 0 and out.splitlines()[-1].startswith("same: 3 function(s), A and B agree")
    other = record(build(subject="Hi {name}")).trace.save(tmp_path / "other.jobsim.jsonl")
    code, out, _ = run(capsys, "diff", recording["redacted"], other)
    assert code == 1
    assert out.splitlines()[:2] == [f"jobsim diff  A: {recording['redacted']}", f"             B: {other}"]
    assert "  DIFFERS  welcome  emails: email #1 of run #1 at 2025-03-03T10:00:10.000+01:00: differs" in out
    assert "                    also differs: http (http call #3 of run #1)" in out
    code, out, _ = run(capsys, "diff", recording["redacted"], other, "--format", "json", "--compare", "emails")
    assert code == 1 and json.loads(out)["functions"]["welcome"]["first"]["mode"] == "emails"


def test_import_then_replay_events(capsys, tmp_path, app_module):
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "id": "e1",
                                     "data": {"email": "real.person@gmail.com", "name": "Real Person"}}) + b"\n")
    code, out, _ = run(capsys, "import", events, "-o", tmp_path / "prod.jobsim.jsonl")
    assert code == 0 and out.strip() == f"jobsim import: 1 inngest event(s) from {events} -> " \
                                        f"{tmp_path / 'prod.jobsim.jsonl'} (redacted)"
    assert b"real.person@gmail.com" not in (tmp_path / "prod.jobsim.jsonl").read_bytes()

    def crm_up(spec):
        module = spec.rpartition(":")[0]
        with open(module, "a") as f:
            f.write("def jobsim_setup(sim):\n    from _traceapp import routes\n    routes(sim)\n")
        return spec

    code, out, _ = run(capsys, "replay", events, "--app", crm_up(app_module()), "--compare", "runs")
    assert code == 0 and "nothing to compare: the trace holds input events only" in out
    assert "  welcome: 1 completed" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2\n")
    code, _, err = run(capsys, "import", bad, "-o", tmp_path / "x.jobsim.jsonl")
    assert code == 2 and "the file is a JSON array that does not parse" in err


def test_a_warning_about_the_input_is_printed_before_the_replay_runs_not_after(capsys, tmp_path, app_module):
    """A warning about the file (here: an id given twice) was held back until the replay ended, however long
    that took (Ctrl-C lost it)."""
    events = tmp_path / "prod.jsonl"
    line = orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "id": "e1",
                         "data": {"email": "a@example.com", "name": "A"}}) + b"\n"  # fmt: skip
    events.write_bytes(line * 2)
    spec = app_module()
    with open(spec.rpartition(":")[0], "a") as f:
        f.write("import sys\ndef jobsim_setup(sim):\n    print('setup ran', file=sys.stderr)\n")
    code, _, err = run(capsys, "replay", events, "--app", spec, "--compare", "runs")
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith(f"jobsim: warning: {events}: 1 event id(s) are given more than once")
    assert lines[1] == "setup ran"


def test_import_skip_invalid_imports_the_rest_and_lists_what_it_skipped(capsys, tmp_path):
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n"
                       + b'{"name": "user/created", "data": {"email"\n')  # fmt: skip
    code, _, err = run(capsys, "import", events, "-o", tmp_path / "t.jobsim.jsonl")
    assert code == 2 and err.startswith(f"jobsim: error: {events}:2: malformed line: ")
    assert "to import the other events and list the lines skipped: jobsim import --skip-invalid" in err
    code, out, err = run(capsys, "import", events, "-o", tmp_path / "t.jobsim.jsonl", "--skip-invalid")
    assert code == 0 and out.startswith(f"jobsim import: 1 inngest event(s) from {events}, 1 invalid line(s) skipped")
    assert err.startswith(f"jobsim: warning: skipped 1 invalid line(s): {events}:2: malformed line: ")


def test_scan_exit_codes(recording, capsys, tmp_path):
    code, out, _ = run(capsys, "scan", recording["redacted"], recording["gz"])
    assert code == 0 and out.startswith("jobsim scan: no secret-looking values in ")
    code, out, err = run(capsys, "scan", recording["raw"])
    assert code == 1
    lines = out.splitlines()
    assert f"{recording['raw']}:5: http (seq 3) url: secret query parameter 'api_key' has a value ('k3y-'… 14 chars)" \
        in lines
    assert f"{recording['raw']}:5: http (seq 3) request.headers.authorization: secret header 'authorization' has a " \
           "value ('Bear'… 39 chars)" in lines
    assert any("response.headers.set-cookie: secret header 'set-cookie'" in line for line in lines)
    assert not any("@gmail.com" in line for line in lines)
    assert err.startswith(f"jobsim scan: {len(lines)} secret-looking value(s) in 1 file(s)")
    code, out, _ = run(capsys, "scan", recording["raw"], "--pii")
    assert code == 1 and "an email address at a real domain (personal data) ('ada.'… 22 chars)" in out
    junk = tmp_path / "junk.jobsim.jsonl"
    junk.write_text("{\n{}\n")
    code, _, err = run(capsys, "scan", junk)
    assert code == 2 and "junk.jobsim.jsonl: line 1 is not JSON: scanned as text, nothing in the file" in err


def test_scan_of_a_cut_gzip_reports_its_readable_lines_or_exits_2(recording, capsys, tmp_path):
    lines = recording["raw"].read_bytes().splitlines(keepends=True)
    for name, body, code_expected in (("leaky", lines[0] + b"".join(lines[1:]) * 400, 1),
                                      ("clean", lines[0] + b'{"k":"advance","seq":0,"at":1,"until":2}\n' * 20000, 2)):
        data = gzip.compress(body)
        cut = tmp_path / f"{name}.jobsim.jsonl.gz"
        cut.write_bytes(data[: len(data) // 2])
        code, out, err = run(capsys, "scan", cut)
        assert code == code_expected, err
        if code == 1:
            assert err.startswith(f"jobsim: warning: {cut}: the gzip stream is damaged or cut off after line ")
            assert "; the lines before it were scanned, the rest could not be\njobsim scan: " in err
            assert "secret header 'authorization' has a value" in out
        else:
            assert err.startswith(f"jobsim: error: {cut}: the gzip stream is damaged or cut off after line ")
            assert err.rstrip().endswith("but the rest could not be scanned") and out == ""


def test_redact_writes_a_copy_that_scans_clean(recording, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("JOBSIM_REDACT_KEY", raising=False)
    out_file = tmp_path / "clean.jobsim.jsonl"
    code, out, err = run(capsys, "redact", recording["raw"], out_file)
    assert code == 0 and out.startswith("jobsim redact: ")
    assert "public built-in key" in err and "set JOBSIM_REDACT_KEY" in err
    assert run(capsys, "scan", out_file, "--pii")[0] == 0


def test_redact_and_import_say_nothing_of_keys_with_a_secret_key_or_without_pseudonyms(recording, capsys, tmp_path,
                                                                                        monkeypatch):  # fmt: skip
    monkeypatch.delenv("JOBSIM_REDACT_KEY", raising=False)
    code, _, err = run(capsys, "redact", recording["raw"], tmp_path / "a.jobsim.jsonl", "--no-pseudonyms")
    assert code == 0 and "built-in key" not in err
    monkeypatch.setenv("JOBSIM_REDACT_KEY", "team secret")
    code, _, err = run(capsys, "redact", recording["raw"], tmp_path / "b.jobsim.jsonl")
    assert code == 0 and "built-in key" not in err
    events = tmp_path / "events.jsonl"
    events.write_text('{"name": "user/created", "data": {"email": "ada@gmail.com"}, "id": "e1", "ts": 0}\n')
    code, _, err = run(capsys, "import", events, "-o", tmp_path / "c.jobsim.jsonl")
    assert code == 0 and "built-in key" not in err
    monkeypatch.delenv("JOBSIM_REDACT_KEY")
    code, _, err = run(capsys, "import", events, "-o", tmp_path / "d.jobsim.jsonl")
    assert code == 0 and "public built-in key" in err
    code, _, err = run(capsys, "import", events, "-o", tmp_path / "e.jobsim.jsonl", "--no-redact")
    assert code == 0 and "built-in key" not in err


def test_show_prints_the_timeline_the_simulation_printed(capsys, tmp_path):
    sim = record(build())
    path = sim.trace.save(tmp_path / "raw.jobsim.jsonl.gz", redact=False)
    code, out, _ = run(capsys, "show", path)
    assert code == 0 and out == sim.timeline() + "\n"
    code, out, _ = run(capsys, "show", path, "--tz", "UTC")
    assert out.splitlines()[0] == "jobsim timeline · UTC · seed 7 · profile inngest"
    code, _, err = run(capsys, "show", path, "--tz", "Mars/Olympus")
    assert code == 2 and "--tz='Mars/Olympus' is not valid" in err


@pytest.mark.parametrize("command", [
    ["scan", "{bad}"], ["diff", "{bad}", "{bad}"], ["show", "{bad}"], ["import", "{bad}", "-o", "{out}"],
    ["replay", "{bad}", "--app", "{app}"],
])  # fmt: skip
def test_a_damaged_gzip_file_exits_2_naming_it(command, capsys, tmp_path, app_module):
    bad = tmp_path / "bad.jobsim.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    values = {"bad": str(bad), "out": str(tmp_path / "out.jsonl"), "app": app_module()}
    assert main([part.format(**values) for part in command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jobsim: error: ") and "bad.jobsim.jsonl.gz" in err and "gzip stream" in err


def test_an_app_module_that_fails_to_import_exits_2_with_its_error(recording, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "broken_app_mod.py").write_text("x = (\n")
    assert main(["replay", str(recording["redacted"]), "--app", f"{tmp_path / 'broken_app_mod.py'}:app"]) == 2
    err = capsys.readouterr().err
    assert "importing 'broken_app_mod' failed: SyntaxError" in err and "fix that module" in err


def test_writing_into_a_missing_folder_exits_2(recording, capsys, tmp_path):
    out = tmp_path / "no" / "such" / "copy.jobsim.jsonl"
    assert main(["redact", str(recording["raw"]), str(out)]) == 2
    # checked before the file is read and redacted, as replay's --out and run's --save are
    assert capsys.readouterr().err == (f"jobsim: error: OUT {str(out)!r}: folder {str(out.parent)!r} does not exist; "
                                       "create it or save elsewhere (checked before redacting)\n")


@pytest.mark.parametrize("command", [
    ["show", "{bad}"], ["diff", "{bad}", "{good}"], ["replay", "{bad}", "--app", "{app}"], ["redact", "{bad}", "{out}"],
])  # fmt: skip
def test_a_trace_with_a_bad_header_is_reported_as_a_trace(command, recording, capsys, tmp_path, app_module):
    """A first line that is a jobsim record but not the header is a broken trace, not a file of events."""
    bad = tmp_path / "bad.jobsim.jsonl"
    bad.write_text('{"k":"event","seq":0,"at":0}\n')
    values = {"bad": str(bad), "good": str(recording["raw"]), "out": str(tmp_path / "out.jsonl"), "app": app_module()}
    assert main([part.format(**values) for part in command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jobsim: error: {bad}:1: not a jobsim trace: the first line must be the header "), err


def test_importing_a_trace_says_it_is_one(recording, capsys, tmp_path):
    assert main(["import", str(recording["raw"]), "-o", str(tmp_path / "x.jobsim.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"jobsim: error: {recording['raw']}:1: this is a jobsim trace already, not a file of "
                           "events to import: replay, diff or show it as it is")


@pytest.mark.parametrize("command", [["show", "{cut}"], ["redact", "{cut}", "{out}"], ["diff", "{cut}", "{cut}"]])
def test_a_cut_off_trace_warns_once_in_jobsims_words(command, recording, capsys, tmp_path):
    cut = tmp_path / "cut.jobsim.jsonl"
    cut.write_bytes(recording["raw"].read_bytes()[:-30])
    values = {"cut": str(cut), "out": str(tmp_path / "out.jsonl")}
    assert main([part.format(**values) for part in command]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "cut off" in line]
    assert len(lines) == len(set(command) & {"{cut}"}) * (2 if command[0] == "diff" else 1), err
    assert all(line.startswith(f"jobsim: warning: {cut}: line ") for line in lines), err
    assert "TraceWarning" not in err and "reader.batches()" not in err


def test_redact_takes_the_file_of_events_scan_flagged(capsys, tmp_path):
    """`scan` ends with "redact them: jobsim redact TRACE OUT"; on a file of events redact used to
    refuse it ("not a jobsim trace"). It now writes the redacted trace `import` would."""
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "id": "e1",
                                     "data": {"email": "real.person@gmail.com"}}) + b"\n")  # fmt: skip
    code, _, err = run(capsys, "scan", "--pii", events)
    assert code == 1 and "redact them: `jobsim redact TRACE OUT`" in err
    out = tmp_path / "prod.jobsim.jsonl"
    code, text, _ = run(capsys, "redact", events, out)
    assert code == 0 and text.startswith(f"jobsim redact: 1 records -> {out}")
    assert b"real.person@gmail.com" not in out.read_bytes()
    assert run(capsys, "scan", "--pii", out)[0] == 0


# -- replay --functions / --exclude-functions ----------------------------------------------------------------


@pytest.fixture(scope="module")
def without_digest(tmp_path_factory):
    """A recording made with exclude_functions=["digest"] (its noon cron job): its header's left_out is ['digest']."""
    path = record(build(), exclude_functions=["digest"]).trace.save(tmp_path_factory.mktemp("sel") / "s.jobsim.jsonl")
    assert orjson.loads(path.read_bytes().splitlines()[0])["left_out"] == ["digest"]
    return path


def notes(out):
    return [line for line in out.splitlines() if line.startswith("note: ")]


def test_replay_without_flags_leaves_out_what_the_recording_left_out(without_digest, app_module, capsys):
    code, out, _ = run(capsys, "replay", without_digest, "--app", app_module())
    assert code == 0, out
    assert notes(out) == ["note: the recording left out 'digest' (functions=/exclude_functions=): so does the replay"]


def test_an_explicit_selection_replaces_the_recorded_one_and_the_report_says_so(without_digest, app_module, capsys):
    code, out, _ = run(capsys, "replay", without_digest, "--app", app_module(), "--exclude-functions", "digest")
    assert code == 0, out
    assert notes(out) == ["note: selection given (exclude_functions=['digest'], --exclude-functions digest): the "
                          "replay simulates 'welcome', 'audit' and leaves out 'digest', instead of the recording's "
                          "selection, which left out 'digest'"]  # fmt: skip
    # selecting every function runs the noon digest, which the recording never ran: that is a difference
    code, out, _ = run(capsys, "replay", without_digest, "--app", app_module(), "--functions", "welcome,digest,audit",
                       "--compare", "runs")  # fmt: skip
    assert code == 1
    assert notes(out) == ["note: selection given (functions=['welcome', 'digest', 'audit'], --functions "
                          "welcome,digest,audit): the replay simulates 'welcome', 'digest', 'audit' and leaves out "
                          "nothing, instead of the recording's selection, which left out 'digest'"]  # fmt: skip
    assert "  DIFFERS  digest   runs: run #1 at 2025-03-03T13:00:00.000+01:00: only in the replay" in out
    assert out.splitlines()[-1] == "DIFFERS: 1 of 3 function(s) (runs 1)"


def test_a_selection_can_leave_out_what_the_recording_ran(recording, app_module, capsys):
    code, out, _ = run(capsys, "replay", recording["gz"], "--app", app_module(), "--exclude-functions", "digest",
                       "--format", "json")  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["notes"][0] == ("selection given (exclude_functions=['digest'], --exclude-functions digest): the "
                                "replay simulates 'welcome', 'audit' and leaves out 'digest', instead of the "
                                "recording's selection, which left out nothing")  # fmt: skip
    assert set(data["runs"]) == {"welcome", "audit"}
    assert [f for f, c in data["comparison"]["functions"].items() if not c["same"]] == ["digest"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--functions", "welcome,nope"],
     "--functions 'welcome,nope': 'nope' is not a function of the app; known function ids: 'welcome', 'digest', "
     "'audit'"),
    (["--exclude-functions", ""],
     "--exclude-functions='' is not valid: comma-separated function ids such as 'send-welcome,daily-report', "
     "with no empty item"),
])  # fmt: skip
def test_replay_with_a_bad_selection_exits_2(without_digest, app_module, capsys, flags, message):
    code, out, err = run(capsys, "replay", without_digest, "--app", app_module(), *flags)
    assert (code, out) == (2, "") and err == f"jobsim: error: {message}\n"


# -- a demanding first use of the trace commands --------------------------------------------------------------


def test_replay_checks_out_before_replaying(recording, app_module, capsys, tmp_path):
    code, out, err = run(capsys, "replay", recording["raw"], "--app", app_module(), "--out", tmp_path)
    assert (code, out) == (2, "")  # it replayed, then failed to save, and the report was never printed
    assert err == (f"jobsim: error: --out {str(tmp_path)!r} is a folder; give a file in it, such as "
                   f"{str(tmp_path / 'run.jobsim.jsonl')!r} (checked before replaying)\n")
    code, out, err = run(capsys, "replay", recording["raw"], "--app", app_module(), "--out", tmp_path / "no" / "x")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: --out {str(tmp_path / 'no' / 'x')!r}: folder {str(tmp_path / 'no')!r} does not "
                   "exist; create it or save elsewhere (checked before replaying)\n")


def test_a_deliver_hook_that_raises_exits_2_as_a_setup_hook_does(recording, app_module, capsys):
    """It was caught as the replay stopping (STOPPED: JobsimError: ..., exit 1): the replayed code's doing."""
    spec = app_module()
    path = Path(spec.rpartition(":")[0])
    path.write_text(path.read_text() + "def jobsim_deliver(sim, event):\n    raise KeyError('tenant')\n")
    module, line = path.stem, len(path.read_text().splitlines())
    code, out, err = run(capsys, "replay", recording["raw"], "--app", spec)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module}.jobsim_deliver() failed: KeyError: 'tenant' ({module}.py, line {line}); "
                   "fix it and run again\n")


@pytest.mark.parametrize("call", ["sim.send(event, delay='-5s')", "sim.send('')"])
def test_a_send_the_deliver_hook_makes_that_is_refused_exits_2_naming_the_hook(recording, app_module, capsys, call):
    """A refused ``sim.send`` (InvalidArgument) inside the hook passed through as jobsim's own error and was caught
    as the replay stopping (STOPPED: InvalidArgument: ..., exit 1): the hook's bug, named with its line, exit 2."""
    spec = app_module()
    path = Path(spec.rpartition(":")[0])
    path.write_text(path.read_text() + f"def jobsim_deliver(sim, event):\n    {call}\n")
    module, line = path.stem, len(path.read_text().splitlines())
    code, out, err = run(capsys, "replay", recording["raw"], "--app", spec)
    assert (code, out) == (2, "")
    first, _, rest = err.partition(": InvalidArgument: ")
    assert first == f"jobsim: error: {module}.jobsim_deliver() failed"
    assert rest.endswith(f" ({module}.py, line {line}); fix it and run again\n"), err
    assert "STOPPED" not in err


def test_a_setup_hook_that_raises_is_one_line_naming_its_line(recording, app_module, capsys):
    spec = app_module()
    path = Path(spec.rpartition(":")[0])
    path.write_text(path.read_text() + "def jobsim_setup(sim):\n    raise ConnectionError('seed database is down')\n")
    module, line = path.stem, len(path.read_text().splitlines())
    code, out, err = run(capsys, "replay", recording["raw"], "--app", spec)
    assert (code, out) == (2, "")  # was a ConnectionError traceback, exit 1
    assert err == (f"jobsim: error: {module}.jobsim_setup() failed: ConnectionError: seed database is down "
                   f"({module}.py, line {line}); fix it and run again\n")


@pytest.mark.parametrize(("flag", "value"), [("--tolerance", "-1s"), ("--until", "-1h")])
def test_a_negative_duration_is_refused_by_its_own_check(recording, app_module, capsys, flag, value):
    code, out, err = run(capsys, "replay", recording["raw"], "--app", app_module(), flag, value)
    assert (code, out) == (2, "")  # argparse read '-1s' as an option: "argument --tolerance: expected one argument"
    assert err == (f"jobsim: error: {flag}={value!r} is not valid: expected a duration such as '500ms', '30s', "
                   "'5m', '1h30m', '7d', '2 weeks', a timedelta, or a number of seconds, not negative; a length of "
                   f"time is never negative: {value[1:]!r}, if that length was meant\n")


def test_a_plain_number_of_seconds_is_a_duration(recording, app_module, capsys):
    """The refusal of '--tolerance 5' offered 'a number of seconds': the flag takes one now."""
    spec = app_module(retry_min="11s")
    code, out, _ = run(capsys, "replay", recording["raw"], "--app", spec, "--compare", "timing", "--tolerance", "1")
    assert code == 0 and "compared: timing (tolerance 1s)" in out
    code, out, _ = run(capsys, "diff", recording["raw"], recording["raw"], "--tolerance", "0.5")
    assert code == 0 and "(tolerance 500ms)" in out


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the file is empty: there is nothing to scan (a trace has at least its header line)"),
    (b"\x00\x01 garbage, cut", "no line is JSON: scanned as text, nothing in the file looks secret, but a "
                               "secret-named field is only told in JSON; is it a trace (JSON Lines)?"),
])  # fmt: skip
def test_scan_never_calls_a_file_it_could_not_read_clean(capsys, tmp_path, body, message):
    path = tmp_path / "t.jobsim.jsonl"
    path.write_bytes(body)
    code, out, err = run(capsys, "scan", path)
    assert (code, out) == (2, "")  # both were "jobsim scan: no secret-looking values in ...", exit 0
    assert err == f"jobsim: error: {path}: {message}\n"


def test_a_clean_pii_scan_says_it_looked_for_personal_data(recording, capsys):
    code, out, _ = run(capsys, "scan", "--pii", recording["redacted"])
    assert (code, out) == (0, f"jobsim scan: no secret-looking values or personal data in {recording['redacted']}\n")


def test_import_refuses_a_profile_no_replay_could_use(capsys, tmp_path):
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
    code, out, err = run(capsys, "import", events, "-o", tmp_path / "t.jobsim.jsonl", "--profile", "bulmq")
    assert (code, out) == (2, "")  # it wrote the file, and every replay of it failed on its header
    # the list names every registered profile, installed plugins' too (jobsim-apscheduler's 'apscheduler')
    assert err.startswith("jobsim: error: --profile='bulmq' is not valid: one of 'agenda', ")
    assert "'bullmq', " in err and "'inngest', " in err
    if "celery" in {ep.name for ep in importlib.metadata.entry_points(group="jobsim")}:  # not in .ci/run's matrix
        assert "'bullmq', 'celery', " in err  # and those of the other plugins installed
    assert not (tmp_path / "t.jobsim.jsonl").exists()


def test_import_checks_start_in_the_flags_words(capsys, tmp_path):
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
    code, out, err = run(capsys, "import", events, "-o", tmp_path / "t.jobsim.jsonl", "--start", "monday")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --start='monday' is not valid: an ISO 8601 time such as 2025-03-01T09:00:00Z or "
                   "2025-03-01T09:00:00-05:00 (without an offset: in --tz)\n")


def test_diff_of_two_event_files_compares_their_input_events(capsys, tmp_path):
    files = []
    for name in ("a", "b"):
        events = tmp_path / f"{name}.jsonl"
        events.write_bytes(orjson.dumps({"name": f"user/{name}", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
        files.append(events)
    code, out, _ = run(capsys, "diff", *files)
    assert code == 1  # was 0, "nothing to compare", of two files whose events differ
    assert out.splitlines()[3:] == [
        "note: neither A nor B holds a run: only their input events were compared (names, sources, data, times), "
        "and they differ; no outcome was compared: to compare outcomes, replay each into your code (jobsim replay "
        "TRACE --app MODULE --out FILE) and diff the replays' files",
        "",
        "  DIFFERS  (input events)  events: input event #1 at 2025-03-03T11:06:40.000Z: differs",
        '                               name: A "user/a"',
        '                                     B "user/b"',
        "",
        "DIFFERS: the input events of A and B (neither holds a run: no outcome was compared)",
    ]


def test_diff_of_events_and_a_trace_says_the_events_hold_no_runs(recording, capsys, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
    code, out, _ = run(capsys, "diff", events, recording["redacted"])
    assert code == 1 and "  DIFFERS  " in out  # each run of B is 'only in B'; the note says why
    assert out.splitlines()[4] == (
        f"note: A holds input events only (imported), no runs: every run of B is 'only in B'; to compare outcomes, "
        f"replay them into your code (jobsim replay {events} --app MODULE --out FILE) and diff FILE with B")


@pytest.mark.parametrize("command", [
    ["replay", "{trace}", "--app", "{app}", "--out", "{trace}"], ["redact", "{trace}", "{trace}"],
    ["import", "{events}", "-o", "{events}"],
])  # fmt: skip
def test_no_command_writes_over_the_file_it_reads(recording, app_module, capsys, tmp_path, command):
    trace, events = tmp_path / "rec.jobsim.jsonl", tmp_path / "prod.jsonl"
    trace.write_bytes(recording["raw"].read_bytes())  # unredacted: redact/replay would have rewritten it
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
    before = {path: path.read_bytes() for path in (trace, events)}
    argv = [part.format(trace=trace, events=events, app=app_module(plan="pro")) for part in command]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    flag, path = ("OUT", trace) if command[0] == "redact" else ("--out", Path(argv[-1]))
    assert err == (f"jobsim: error: {flag} {str(path)!r} is the file being read ({str(path)!r}): writing it would "
                   "replace the original; write to another file (and move it over the original if that is meant)\n")
    assert {path: path.read_bytes() for path in before} == before


def test_scan_of_a_folder_scans_its_trace_files_in_subfolders_too(recording, capsys, tmp_path):
    """CI scans the --jobsim-trace-dir it uploads: a folder was 'cannot read it: Is a directory'."""
    folder = tmp_path / "traces"
    (folder / "sub").mkdir(parents=True)
    clean = folder / "a.jobsim.jsonl"
    clean.write_bytes(recording["redacted"].read_bytes())
    leaky = folder / "sub" / "b.jobsim.jsonl.gz"
    leaky.write_bytes(gzip.compress(recording["raw"].read_bytes()))
    (folder / "notes.txt").write_text("Authorization: Bearer abcdefghijklmnop")  # not a trace file: not read
    code, out, err = run(capsys, "scan", folder)
    assert code == 1 and out and all(line.startswith(f"{leaky}:") for line in out.splitlines())
    assert err.startswith(f"jobsim scan: {len(out.splitlines())} secret-looking value(s) in 2 file(s)")
    leaky.unlink()
    code, out, err = run(capsys, "scan", folder, recording["gz"])
    assert (code, err) == (0, "") and out == f"jobsim scan: no secret-looking values in {clean}, {recording['gz']}\n"
    code, out, err = run(capsys, "scan", tmp_path / "traces" / "sub")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {folder / 'sub'}: a folder with no .jsonl or .jsonl.gz file in it (or in its "
                   "subfolders): nothing to scan\n")  # fmt: skip


def test_scan_reads_past_a_byte_order_mark(capsys, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"name": "user/created", "data": {"password": "hunter2"}}\n')
    code, out, err = run(capsys, "scan", path)
    assert (code, err.splitlines()[0]) == (1, "jobsim scan: 1 secret-looking value(s) in 1 file(s); redact them: "
                                              "`jobsim redact TRACE OUT` (or save traces with the default redaction)")
    assert out == (f"{path}:1: line data.password: field 'password' is named like a secret and has a value "
                   "('h'… 7 chars)\n")  # it was 'line 1 is not JSON, scanned as text', which finds no field


def test_a_replay_or_diff_of_a_cut_off_recording_says_so_in_its_report(recording, app_module, capsys, tmp_path):
    """stderr said so while loading; the report (and its JSON, which CI reads) read 'same' as if it were whole."""
    whole = recording["redacted"].read_bytes()
    cut = tmp_path / "cut.jobsim.jsonl"
    cut.write_bytes(whole[: len(whole) // 2])
    line = whole[: len(whole) // 2].count(b"\n") + 1
    note = f"the recording is incomplete (line {line} is cut off (the recording did not finish)): only what it holds"
    code, out, err = run(capsys, "replay", cut, "--app", app_module())
    assert f"note: {note} is replayed" in out.splitlines() and "cut off" in err
    code, out, _ = run(capsys, "replay", cut, "--app", app_module(), "--format", "json")
    assert f"{note} is replayed" in json.loads(out)["notes"]
    assert code == 0  # the code is unchanged: compared up to where the recording stops, the same story
    code, out, _ = run(capsys, "diff", recording["redacted"], cut)
    assert code == 0 and f"note: B is incomplete (line {line} is cut off (the recording did not finish)): only " \
        "what it holds is compared" in out.splitlines()
    code, out, _ = run(capsys, "replay", recording["redacted"], "--app", app_module())
    assert code == 0 and "incomplete" not in out


@pytest.mark.parametrize("command", [
    ["replay", "{trace}", "--app", "{app}", "--out", "{out}"], ["redact", "{trace}", "{out}"],
    ["import", "{events}", "-o", "{out}"],
])  # fmt: skip
def test_no_command_writes_a_trace_over_python_code_or_skips_an_empty_out(recording, app_module, capsys, tmp_path,
                                                                          command):
    """``--out jobs.py`` replaced the code with the trace; ``--out ""`` (an unset variable) wrote nothing, exit 0
    or 1; ``import -o FOLDER`` read the whole export before it failed to write."""
    events = tmp_path / "prod.jsonl"
    events.write_bytes(orjson.dumps({"name": "user/created", "ts": 1_741_000_000_000, "data": {}}) + b"\n")
    code_file = tmp_path / "jobs.py"
    code_file.write_text("app = None\n")
    flag = "OUT" if command[0] == "redact" else "--out"
    before = {"replay": "replaying", "redact": "redacting", "import": "importing"}[command[0]]
    for out, message in [
        (code_file, f"{flag} {str(code_file)!r} names a Python file, which the trace would replace; give a trace "
                    f"file, such as {str(tmp_path / 'jobs.jobsim.jsonl')!r} (checked before {before})"),
        ("", f"{flag} '' names no file; give one, such as 'run.jobsim.jsonl'"),
        (tmp_path, f"{flag} {str(tmp_path)!r} is a folder; give a file in it, such as "
                   f"{str(tmp_path / 'run.jobsim.jsonl')!r} (checked before {before})"),
    ]:
        argv = [part.format(trace=recording["raw"], events=events, app=app_module(), out=out) for part in command]
        assert run(capsys, *argv) == (2, "", f"jobsim: error: {message}\n")
    assert code_file.read_text() == "app = None\n"


def test_show_refuses_an_empty_tz_rather_than_showing_the_traces_own(recording, capsys):
    code, out, err = run(capsys, "show", recording["gz"], "--tz", "")
    assert (code, out) == (2, "")
    assert err == "jobsim: error: --tz='' is not valid: expected an IANA time zone such as 'America/New_York'\n"


@pytest.mark.parametrize(("field", "value", "command", "message"), [
    ("tz", "Mars/Olympus", "show", "the header's tz 'Mars/Olympus' is not valid here (no such IANA time zone; expected "
                                   "e.g. 'America/New_York' or 'UTC'); show it in another with --tz ZONE"),
    ("tz", "Mars/Olympus", "replay", "the header's tz 'Mars/Olympus' is not valid here (no such IANA time zone; "
                                     "expected e.g. 'America/New_York' or 'UTC'); update the tz database (pip install "
                                     "-U tzdata) or correct the header"),
    ("profile", "sidekiq", "replay", "the header's profile 'sidekiq' is not valid here (one of "),
])  # fmt: skip
def test_a_header_value_this_machine_cannot_use_is_named_as_the_files(recording, app_module, capsys, tmp_path, field,
                                                                      value, command, message):
    """Both were refused as ``--tz='Mars/Olympus'`` / ``tz=`` / ``profile=``, options the user never gave."""
    header, _, rest = recording["raw"].read_bytes().partition(b"\n")
    path = tmp_path / "elsewhere.jobsim.jsonl"
    path.write_bytes(orjson.dumps({**orjson.loads(header), field: value}) + b"\n" + rest)
    argv = ["show", path] if command == "show" else ["replay", path, "--app", app_module()]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"jobsim: error: {path}: {message}")
    if field == "profile":  # another profile given replaces the header's
        assert run(capsys, *argv, "--profile", "inngest")[0] in (0, 1)


@pytest.mark.parametrize("command", ["diff", "replay"])
@pytest.mark.parametrize(("pattern", "accepted"), [
    ("", "a path such as 'email:subject' or 'http:request.headers.date'"),
    ("email:", "KIND:PATH with a dotted PATH, e.g. 'run.end:output.generatedAt'"),
])  # fmt: skip
def test_a_bad_ignore_is_named_as_the_flag(recording, app_module, capsys, command, pattern, accepted):
    """It was named ``ignore=``, the Python keyword, as ``--tolerance`` and ``--compare`` no longer are."""
    argv = ["diff", recording["gz"], recording["gz"]] if command == "diff" else [
        "replay", recording["gz"], "--app", app_module()]
    code, out, err = run(capsys, *argv, "--ignore", pattern)
    assert (code, out, err) == (2, "", f"jobsim: error: --ignore={pattern!r} is not valid: {accepted}\n")


@pytest.mark.parametrize("command", ["show", "diff", "replay"])
def test_a_gzip_trace_with_a_bad_crc_exits_2_naming_it_damaged(recording, app_module, capsys, tmp_path, command):
    """It was 'the gzip stream ends early', a warning, and `show` exited 0 with what it read."""
    data = bytearray(recording["gz"].read_bytes())
    data[-8] ^= 1
    bad = tmp_path / "bad.jobsim.jsonl.gz"
    bad.write_bytes(bytes(data))
    argv = {"show": ["show", bad], "diff": ["diff", recording["gz"], bad],
            "replay": ["replay", bad, "--app", app_module()]}[command]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"jobsim: error: {bad}: the file is damaged: its gzip stream fails its check after line ")
    assert "(CRC check failed" in err  # Python 3.10-3.12 add the two CRCs
    assert err.endswith("), so what it holds is not what was written; use an undamaged copy of it\n")


def test_an_until_past_the_year_9999_is_named_as_the_flag(recording, app_module, capsys):
    """The check needs the recording's end, so replay() makes it: it was named ``until=``, the keyword."""
    code, out, err = run(capsys, "replay", recording["raw"], "--app", app_module(), "--until", "99999999999d")
    assert (code, out) == (2, "")
    assert err.startswith("jobsim: error: --until='99999999999d' is not valid: a duration that ends by "
                          "9999-12-31T23:59:59.999Z, the last instant a datetime can show (the recording ends at ")


def _stdin(monkeypatch, data: bytes) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("command", ["show", "scan", "redact", "diff"])
def test_a_trace_on_standard_input_is_read_as_dash(recording, capsys, monkeypatch, tmp_path, command):
    """``-`` was read as a file named '-': '-: no such file'."""
    _stdin(monkeypatch, recording["gz"].read_bytes())
    argv = {"show": ["show", "-"], "scan": ["scan", "-"], "redact": ["redact", "-", tmp_path / "out.jsonl"],
            "diff": ["diff", recording["gz"].name, "-"]}[command]  # fmt: skip
    monkeypatch.chdir(recording["gz"].parent)  # the other side of a diff, relative to the working folder
    code, out, err = run(capsys, *argv)
    assert code == 0 and (err == "" or err.startswith("jobsim: note: personal data was pseudonymized"))
    expected = {"show": "jobsim timeline · ", "scan": "jobsim scan: no secret-looking values in -",
                "redact": "jobsim redact: ", "diff": "jobsim diff  A: "}[command]  # fmt: skip
    assert out.startswith(expected)
    if command == "show":
        assert run(capsys, "show", recording["gz"])[1] == out


def test_events_on_standard_input_are_imported_and_errors_name_dash(capsys, monkeypatch, tmp_path):
    _stdin(monkeypatch, b'{"name": "go", "data": {}, "ts": 1740960000000}\n')
    code, out, _ = run(capsys, "import", "-", "-o", tmp_path / "out.jsonl")
    assert code == 0 and out.startswith("jobsim import: 1 inngest event(s) from - -> ")
    _stdin(monkeypatch, b'{"name": "go", "data": {}, "ts": 1740960000000}\n{"data": {}}\n')
    code, out, err = run(capsys, "import", "-", "-o", tmp_path / "out2.jsonl")
    assert (code, out) == (2, "") and err.startswith("jobsim: error: -:2: ")


@pytest.mark.parametrize("command", ["import", "redact"])
def test_standard_input_written_to_a_file_named_dash(recording, capsys, monkeypatch, tmp_path, command):
    """``./-`` writes the file named '-' (the README's advice for an output of '-'): reading standard input, the
    command was refused, that file taken for "the file being read" (``os.path.samefile('./-', '-')``)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text("an older file named -\n")
    data = {"import": b'{"name": "go", "data": {}, "ts": 1740960000000}\n', "redact": recording["gz"].read_bytes()}
    _stdin(monkeypatch, data[command])
    code, out, err = run(capsys, command, "-", *(["-o"] if command == "import" else []), "./-")
    assert code == 0 and out.startswith(f"jobsim {command}: "), err
    assert len(load(tmp_path / "-")) > 0  # a trace now, not the older file


@pytest.mark.parametrize("command", ["show", "scan", "redact", "import", "diff"])
def test_reading_standard_input_leaves_the_working_folder_alone(recording, capsys, monkeypatch, tmp_path, command):
    """``-`` was spooled into a temporary folder that became the process's working folder while it was read: code
    running meanwhile (a plugin imported from the working folder, a path relative to it) found itself elsewhere."""
    import jobsim._importing
    import jobsim._scan

    seen = []
    for module, name in ((jobsim._importing, "read_any"), (jobsim._importing, "import_events"),
                         (jobsim._scan, "scan")):  # fmt: skip
        original = getattr(module, name)

        def spy(path, *args, _original=original, **kwargs):
            seen.append((os.getcwd(), str(path)))
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    events = b'{"name": "go", "data": {}, "ts": 1740960000000}\n'
    _stdin(monkeypatch, events if command == "import" else recording["gz"].read_bytes())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl.gz").write_bytes(recording["gz"].read_bytes())
    argv = {"show": ["show", "-"], "scan": ["scan", "-"], "redact": ["redact", "-", "out.jsonl"],
            "import": ["import", "-", "-o", "out.jsonl"], "diff": ["diff", "a.jsonl.gz", "-"]}[command]  # fmt: skip
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    assert seen and all(where == str(tmp_path) for where, _ in seen), seen
    assert [shown for _, shown in seen][-1 if command != "diff" else 0] == "-"  # still named as typed


def test_a_bad_trace_on_standard_input_is_named_dash(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _stdin(monkeypatch, b'{"k": "header", "format": "jobsim-trace", "v": 1}\nnot json\n')
    code, out, err = run(capsys, "show", "-")
    assert (code, out) == (2, "") and err.startswith("jobsim: error: -:"), err
    _stdin(monkeypatch, gzip.compress(b'{"name": "go", "data": {}}\n' * 50)[:40])
    code, out, err = run(capsys, "scan", "-")
    assert (code, out) == (2, "") and err.startswith("jobsim: error: -: the gzip stream is damaged or cut off"), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["replay", "-", "--app", "examples"], "`jobsim replay` reads its trace from a file, not standard input (-): save "
                                           "it to one (`cat > trace.jsonl`) and give its path"),
    (["diff", "-", "-"], "`jobsim diff` got - (standard input) 2 times; it can be read once: give the other files by "
                         "their paths"),
])  # fmt: skip
def test_dash_where_it_cannot_be_read_is_refused_saying_why(capsys, monkeypatch, argv, message):
    _stdin(monkeypatch, b"")
    assert run(capsys, *argv) == (2, "", f"jobsim: error: {message}\n")


def test_dash_on_a_terminal_is_refused_not_waited_on(capsys, monkeypatch):
    class Terminal:
        buffer = type("Buffer", (), {"isatty": lambda self: True})()

    monkeypatch.setattr(sys, "stdin", Terminal())
    code, out, err = run(capsys, "show", "-")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: `jobsim show -` reads standard input, which is a terminal here; pipe a file into "
                   "it (`gunzip -c t.jsonl.gz | jobsim show -`) or give its path\n")


def test_dash_with_standard_input_closed_says_so(capsys, monkeypatch):
    """``jobsim show - <&-`` (or a service with no stdin): Python's sys.stdin is None; the refusal called it a
    terminal."""
    monkeypatch.setattr(sys, "stdin", None)
    code, out, err = run(capsys, "scan", "-")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: `jobsim scan -` reads standard input, which is closed here; pipe a file into it "
                   "(`gunzip -c t.jsonl.gz | jobsim scan -`) or give its path\n")


def test_dash_with_a_standard_input_that_has_no_byte_stream_says_so(capsys, monkeypatch):
    """A text stream with no ``buffer`` (an io.StringIO put in sys.stdin by a caller of main()) was named "closed";
    7bb2b33 named it "not a byte stream" with no test holding it."""
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("{}\n"))
    code, out, err = run(capsys, "show", "-")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: `jobsim show -` reads standard input, which is not a byte stream here; pipe a file "
                   "into it (`gunzip -c t.jsonl.gz | jobsim show -`) or give its path\n")
