"""``jobsim run``/``compare``/``profiles``: bad arguments exit 2 with one line in jobsim's words, not a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _imports import import_from

import jobsim
from jobsim._cli import main

MODULE = """
import jobsim

app = jobsim.App("t")

@app.function("hello", on="hello")
def hello(ctx):
    return "hi"

def jobsim_traffic(sim):
    sim.send("hello", {"name": "Zoë Ångström"})

def needs_an_argument(name):
    return app

def broken_factory():
    raise RuntimeError("no database")
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    """``<tmp>/cliapp_x.py``, importable by name from the current folder."""
    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    name = f"cliapp_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    return name


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("attribute", "message"), [
    ("needs_an_argument", "{m}:needs_an_argument is a callable that needs arguments (name); "
                          "name a jobsim.App, or a function taking none that returns one"),
    ("broken_factory", "calling {m}:broken_factory() failed: RuntimeError: no database"),
])  # fmt: skip
def test_a_factory_that_cannot_be_called_exits_2(module, capsys, attribute, message):
    code, out, err = run(capsys, "run", f"{module}:{attribute}")
    assert (code, out) == (2, "")
    assert err == f"jobsim: error: {message.format(m=module)}\n"


@pytest.mark.parametrize("command", [["run"], ["replay", "week.jobsim.jsonl", "--app"]])
def test_a_target_that_is_one_function_of_the_app_names_the_app_to_give(module, capsys, command):
    # an @app.function is callable, so it was taken for a factory and called with no ctx: "calling
    # m:hello() failed: TypeError: hello() missing 1 required positional argument: 'ctx'"
    code, out, err = run(capsys, *command, f"{module}.py:hello")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module}:hello is function 'hello' of app 't' (what @app.function returned), "
                   f"not an app to simulate; name its app: {module}.py:app (with --functions hello to simulate it "
                   "alone)\n")


def test_a_target_without_a_module_exits_2(module, capsys):
    code, out, err = run(capsys, "run", ":app")
    assert (code, out) == (2, "")
    assert err == "jobsim: error: ':app' names no module before ':'; give e.g. app.jobs:app or a folder\n"


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "1e300", "4000000", "-0.5e1", "1_000_000_0"])
def test_a_bad_number_of_days_is_named_as_days(module, capsys, days):
    # 1e300 used to be reported in seconds (--days=8.64e+304), 4000000 raised OverflowError with a traceback;
    # the value is echoed as typed, as the other flags' are (it was -1.0 for -1, -5.0 for -0.5e1)
    code, out, err = run(capsys, "run", module, "--days", days)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: --days={days!r} is not valid: expected a number of days from 0 to "
                   "3,652,059 (virtual time ends at 9999-12-31)\n")


def test_days_that_are_no_number_are_refused_by_argparse_as_before(module, capsys):
    with pytest.raises(SystemExit) as done:
        run(capsys, "run", module, "--days", "week")
    out, err = capsys.readouterr()
    assert (done.value.code, out) == (2, "")
    assert err.endswith("jobsim run: error: argument --days: invalid float value: 'week'\n")


def test_days_that_run_past_the_year_9999_exit_2_naming_the_end(module, capsys):
    code, out, err = run(capsys, "run", module, "--days", "3000000")
    assert (code, out) == (2, "")
    assert err.startswith("jobsim: error: --days='3000000' is not valid: a span that ends by 9999-12-31T23:59:59.999Z")


@pytest.mark.usefixtures("from_the_root")
def test_compare_checks_the_timeline_profile_before_simulating(capsys):
    code, out, err = run(capsys, "compare", "examples/scenarios", "--profiles", "inngest,bullmq",
                         "--timeline", "agenda")  # fmt: skip
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --timeline='agenda' is not valid: one of the compared profiles "
                   "'inngest', 'bullmq'\n")  # fmt: skip


@pytest.mark.parametrize("argv", [["run", "{m}"], ["profiles", "bullmq"]])
def test_an_ascii_terminal_gets_escapes_not_a_crash(module, capsys, monkeypatch, argv):
    """``PYTHONIOENCODING=ascii`` (or LANG=C on old Pythons): timelines hold '·', names hold 'ë'."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main([a.format(m=module) for a in argv]) == 0
    stdout.flush()
    text = stdout.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert "\\xb7" in text or "\\xa7" in text
    if argv[0] == "run":
        assert "Zo\\xeb \\xc5ngstr\\xf6m" in text


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("path", ["gone.py", "gone/jobs", "gone/jobs.py:app"])
def test_a_missing_file_is_named_as_a_file(module, capsys, command, path):
    code, out, err = run(capsys, command, path)
    assert (code, out) == (2, "")
    assert err == f"jobsim: error: {path.partition(':')[0]}: no such file or folder\n"


# -- --functions / --exclude-functions ---------------------------------------------------------------------

SELECTABLE = """
import jobsim

app = jobsim.App("sel")

@app.function("hello", on="hello")
def hello(ctx):
    return "hi"

@app.function("report", cron="0 9 * * *")
def report(ctx):
    return "reported"

@app.function("audit", on="hello")
def audit(ctx):
    return "audited"

jobsim_options = {"start": "2026-03-02T00:00:00Z", "exclude_functions": ["audit"]}

def jobsim_traffic(sim):
    sim.send("hello", {"name": "Ada"})
"""


@pytest.fixture
def selectable(tmp_path, monkeypatch):
    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    name = f"cliselect_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SELECTABLE))
    return name


def table(out):
    """The summary's rows: function -> runs."""
    rows = out.split("\n\n")[-1].splitlines()[2:-2]
    return {row.split()[0]: int(row.split()[1]) for row in rows}


def test_run_without_flags_keeps_the_modules_selection(selectable, capsys):
    code, out, _ = run(capsys, "run", selectable, "--days", "1")
    assert code == 0 and table(out) == {"hello": 1, "report": 1}


@pytest.mark.parametrize(("flags", "runs"), [
    (["--functions", "hello"], {"hello": 1}),
    (["--functions", " audit , hello,audit"], {"hello": 1, "audit": 1}),  # the module left audit out: the flag wins
    (["--exclude-functions", "report"], {"hello": 1, "audit": 1}),
    (["--exclude-functions", "hello,audit"], {"report": 1}),
])  # fmt: skip
def test_run_simulates_what_the_flags_select(selectable, capsys, flags, runs):
    code, out, err = run(capsys, "run", selectable, "--days", "1", *flags)
    assert (code, err) == (0, "") and table(out) == runs
    timeline = out.split("\n\n")[0]
    assert ("report" in timeline) == ("report" in runs)  # a left-out cron job never ticks


@pytest.mark.parametrize(("flags", "message"), [
    (["--functions", "nope,hello"],
     "--functions 'nope,hello': 'nope' is not a function of the app; known function ids: 'hello', 'report', 'audit'"),
    (["--exclude-functions", "hello,nope,gone"],
     "--exclude-functions 'hello,nope,gone': 'nope', 'gone' are not a function of the app; known function ids: "
     "'hello', 'report', 'audit'"),
    (["--functions", "hello,,report"],
     "--functions='hello,,report' is not valid: comma-separated function ids such as 'send-welcome,daily-report', "
     "with no empty item"),
    (["--functions", " "],
     "--functions=' ' is not valid: comma-separated function ids such as 'send-welcome,daily-report', "
     "with no empty item"),
    (["--functions", "hello", "--exclude-functions", "report"],
     "--functions 'hello' and --exclude-functions 'report' were both given: give --functions (the ones to "
     "simulate) or --exclude-functions (the ones to leave out), not both"),
    (["--exclude-functions", "audit,report,hello"],
     "--exclude-functions 'audit,report,hello' leaves out every function of the app ('hello', 'report', 'audit'): "
     "leave at least one to simulate"),
])  # fmt: skip
def test_a_bad_selection_exits_2_naming_the_id_and_the_known_ids(selectable, capsys, flags, message):
    code, out, err = run(capsys, "run", selectable, *flags)
    assert (code, out) == (2, "")
    assert err == f"jobsim: error: {message}\n"


def test_the_readme_selection_commands_print_what_it_shows(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Command line\n", 1)[1].split("\n### ", 1)[0]
    block = section.split("`--functions a,b` and `--exclude-functions c`", 1)[1].split("```\n", 2)[1]
    first, second = block.split("$ jobsim ")[1:]
    command, shown = first.split("\n", 1)
    assert main(command.split()) == 0
    assert capsys.readouterr().out == shown
    command, shown = second.split("\n", 1)
    assert main(command.split("#")[0].split()) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", shown)


# -- a demanding first use: each mistake is one line naming the fix, exit 2 (130 for Ctrl-C) ---------------


def write_module(tmp_path, monkeypatch, source, name=None):
    """``<tmp>/<name>.py`` holding ``source``, importable by name from the current folder."""
    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    name = name or f"cliuse_{abs(hash((str(tmp_path), source)))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    module = write_module(tmp_path, monkeypatch, MODULE + "\ndef jobsim_traffic(sim):\n    raise KeyboardInterrupt\n")
    assert run(capsys, "run", module, "--save", tmp_path / "t.jobsim.jsonl") == (130, "", "jobsim: interrupted\n")
    assert list(tmp_path.glob("t.jobsim.jsonl*")) == []


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"jobsim {__import__('jobsim').__version__}\n"


@pytest.mark.parametrize(("argv", "last"), [
    (["run", "{m}", "--no-timline"], "jobsim run: error: unrecognized arguments: --no-timline (--no-timline: did you "
                                     "mean --no-timeline?); `jobsim run --help` lists its options"),
    (["replay", "t.jsonl", "--app", "{m}", "--tolerence=1s"],
     "jobsim replay: error: unrecognized arguments: --tolerence=1s (--tolerence: did you mean --tolerance?); "
     "`jobsim replay --help` lists its options"),
    (["profiles", "inngest", "extra"],
     "jobsim profiles: error: unrecognized arguments: extra; `jobsim profiles --help` lists its options"),
    (["run", "{m}", "--until", "3d"],  # was "(--until: did you mean --functions?)"
     "jobsim run: error: unrecognized arguments: --until 3d (--until is an option of `jobsim replay`); "
     "`jobsim run --help` lists its options"),
    (["run", "{m}", "--tolerance=1s"],
     "jobsim run: error: unrecognized arguments: --tolerance=1s (--tolerance is an option of `jobsim replay` and "
     "`jobsim diff`); `jobsim run --help` lists its options"),
])  # fmt: skip
def test_a_flag_the_command_lacks_is_named_with_the_commands_usage(module, capsys, argv, last):
    # argparse blamed the top-level parser: its usage, 'jobsim: error: unrecognized arguments: --no-timline'
    with pytest.raises(SystemExit) as done:
        main([a.format(m=module) for a in argv])
    out, err = capsys.readouterr()
    assert (done.value.code, out) == (2, "")
    assert err.startswith(f"usage: jobsim {argv[0]} ") and err.splitlines()[-1] == last


@pytest.mark.usefixtures("from_the_root")
def test_compare_names_an_attribute_the_module_lacks(capsys):
    code, out, err = run(capsys, "compare", "examples/scenarios/outage.py:nosuch")
    assert (code, out) == (2, "")  # was an AttributeError traceback
    assert err == ("jobsim: error: 'examples.scenarios.outage' has no nosuch attribute; name its jobsim.Scenario "
                   "(or a list of them), or leave out ':nosuch' to use its `scenario` or `scenarios`\n")


@pytest.mark.usefixtures("from_the_root")
def test_compare_refuses_a_profile_named_twice(capsys):
    code, out, err = run(capsys, "compare", "examples/scenarios/outage.py", "--profiles", "inngest,bullmq,inngest")
    assert (code, out) == (2, "")  # it printed the inngest rows twice
    assert err == ("jobsim: error: --profiles='inngest,bullmq,inngest' is not valid: each profile named once "
                   "('inngest' is named more than once)\n")


SCENARIOS = """
import jobsim

def build():
    app = jobsim.App("s")
    app.function("tick", cron="0 9 * * *")(lambda ctx: 1)
    return app

def broken_build():
    raise RuntimeError("no database")

def play(sim):
    sim.advance("1d")

def broken_metric(sim, function):
    return {}["emails"]

bad_build = jobsim.Scenario(name="bb", description="", build=broken_build, play=play, start="2025-03-03T00:00:00Z")
bad_metric = jobsim.Scenario(name="bm", description="", build=build, play=play, start="2025-03-03T00:00:00Z",
                             metrics={"emails": broken_metric})
"""


@pytest.mark.parametrize(("attribute", "message"), [
    ("bad_build", "scenario 'bb' raised RuntimeError: no database while building its targets under profile "
                  "'bullmq' (seed 0); fix its build()"),
    ("bad_metric", "scenario 'bm' raised KeyError: 'emails' while measuring 'emails' of 'tick' under profile "
                   "'bullmq' (seed 0); fix its metrics['emails']"),
])  # fmt: skip
def test_a_scenario_whose_own_code_raises_exits_2_naming_it(tmp_path, monkeypatch, capsys, attribute, message):
    module = write_module(tmp_path, monkeypatch, SCENARIOS)
    code, out, err = run(capsys, "compare", f"{module}.py:{attribute}", "--profiles", "bullmq")
    assert (code, out, err) == (2, "", f"jobsim: error: {message}\n")  # were tracebacks, exit 1


@pytest.mark.parametrize(("options", "message"), [
    ("{'strat': '2025-01-01T00:00:00Z'}", "{m}.jobsim_options: 'strat' is not a Simulation option; accepted: "
                                          "start, seed, profile, tz, max_chain, functions, exclude_functions, "
                                          "random_streams"),
    ("['start']", "{m}.jobsim_options=['start'] is not valid: a dict of Simulation keyword arguments, such as "
                  "{{'start': '2025-03-03T00:00:00Z', 'tz': 'America/New_York'}}"),
])  # fmt: skip
def test_jobsim_options_are_checked(tmp_path, monkeypatch, capsys, options, message):
    module = write_module(tmp_path, monkeypatch, MODULE + f"\njobsim_options = {options}\n")
    code, out, err = run(capsys, "run", module)
    assert (code, out, err) == (2, "", f"jobsim: error: {message.format(m=module)}\n")  # were a TypeError, ValueError


def test_a_traffic_hook_that_raises_is_one_line_naming_its_line(tmp_path, monkeypatch, capsys):
    source = MODULE.replace('    sim.send("hello", {"name": "Zoë Ångström"})', '    sim.send("hello")\n    {}["row"]')
    module = write_module(tmp_path, monkeypatch, source)
    line = source.splitlines().index('    {}["row"]') + 1
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == f"jobsim: error: {module}.jobsim_traffic() failed: KeyError: 'row' ({module}.py, line {line}); " \
                  "fix it and run again\n"


def test_a_traffic_hook_that_starts_or_closes_the_simulation_is_named(tmp_path, monkeypatch, capsys):
    """`with sim:` in the hook was a bare "running already" error, and sim.close() blamed a call the hook
    never made ("sim.advance_to() needs a running simulation")."""
    traffic = '    sim.send("hello", {"name": "Zoë Ångström"})'
    source = MODULE.replace(traffic, '    with sim:\n        sim.send("hello")')
    module = write_module(tmp_path, monkeypatch, source)
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err.startswith(f"jobsim: error: {module}.jobsim_traffic() failed: JobsimError: this simulation is running "
                          "already")  # fmt: skip
    line = source.splitlines().index("    with sim:") + 1
    assert err.endswith(f"({module}.py, line {line}); fix it and run again\n")
    source = MODULE.replace(traffic, '    sim.advance("1m")\n    sim.close()')
    module = write_module(tmp_path, monkeypatch, source)
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module}.jobsim_traffic() closed the simulation (sim.close()); jobsim run starts "
                   "it and closes it after --days: the hook only sends and drives it\n")


def test_the_modules_seed_is_used_unless_seed_is_given(tmp_path, monkeypatch, capsys):
    module = write_module(tmp_path, monkeypatch, MODULE + "\njobsim_options = {'seed': 5}\n")
    code, out, _ = run(capsys, "run", module, "--days", "0")
    assert code == 0 and out.startswith("jobsim timeline · UTC · seed 5 · ")  # --seed's default 0 replaced it
    code, out, _ = run(capsys, "run", module, "--days", "0", "--seed", "-2")
    assert code == 0 and out.startswith("jobsim timeline · UTC · seed -2 · ")


def test_an_unwritable_save_path_exits_2_before_simulating(module, capsys, tmp_path, monkeypatch):
    code, out, err = run(capsys, "run", module, "--save", tmp_path)
    assert (code, out) == (2, "")  # it simulated, printed the summary, then failed to write
    assert err == (f"jobsim: error: --save {str(tmp_path)!r} is a folder; give a file in it, such as "
                   f"{str(tmp_path / 'run.jobsim.jsonl')!r} (checked before simulating)\n")
    folder = tmp_path / "locked"
    folder.mkdir()
    monkeypatch.setattr("jobsim._cli.os.access", lambda path, mode: Path(path) != folder)  # as a non-root user sees it
    code, out, err = run(capsys, "run", module, "--save", folder / "t.jsonl")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: --save {str(folder / 't.jsonl')!r}: cannot write into folder {str(folder)!r} "
                   "(permission denied); save elsewhere (checked before simulating)\n")


def test_a_start_that_is_not_iso_is_named_as_start(module, capsys):
    code, out, err = run(capsys, "run", module, "--start", "yesterday")
    assert (code, out) == (2, "")  # was "start='yesterday' ... or seconds since the epoch", which the flag refuses
    assert err == ("jobsim: error: --start='yesterday' is not valid: an ISO 8601 time such as 2025-03-01T09:00:00Z "
                   "or 2025-03-01T09:00:00-05:00 (without an offset: in --tz)\n")


def test_a_bad_tz_is_named_as_the_flag(module, capsys, tmp_path):
    (tmp_path / "ev.jsonl").write_text('{"name": "hello", "data": {}, "ts": 1740787200000}\n')
    for argv in (["run", module, "--tz", "Mars/Base"], ["import", "ev.jsonl", "-o", "t.jsonl", "--tz", "Mars/Base"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")  # was "tz='Mars/Base'", the keyword of the API under the flag
        assert err == ("jobsim: error: --tz='Mars/Base' is not valid: no such IANA time zone; expected e.g. "
                       "'America/New_York' or 'UTC'\n")


@pytest.mark.parametrize(("argv", "flag", "value"), [
    (["diff", "t.jsonl", "t.jsonl", "--tolerance", "soon"], "--tolerance", "'soon'"),
    (["diff", "t.jsonl", "t.jsonl", "--tolerance", "-1s"], "--tolerance", "'-1s'"),
    (["replay", "t.jsonl", "--app", "{m}", "--until", "-5m"], "--until", "'-5m'"),
    (["replay", "t.jsonl", "--app", "{m}", "--until", "later"], "--until", "'later'"),
])  # fmt: skip
def test_a_bad_duration_flag_is_named_as_the_flag(module, capsys, tmp_path, argv, flag, value):
    (tmp_path / "ev.jsonl").write_text('{"name": "hello", "data": {}, "ts": 1740787200000}\n')
    assert run(capsys, "import", "ev.jsonl", "-o", "t.jsonl", "--no-redact")[0] == 0
    code, out, err = run(capsys, *(a.format(m=module) for a in argv))
    assert (code, out) == (2, "")  # was "tolerance=..." / "until=...", replay()'s keywords
    hint = f"; a length of time is never negative: '{value[2:]}, if that length was meant" if "-" in value else ""
    assert err == (f"jobsim: error: {flag}={value} is not valid: expected a duration such as '500ms', '30s', '5m', "
                   f"'1h30m', '7d', '2 weeks', a timedelta, or a number of seconds, not negative{hint}\n")


def test_a_bad_compare_mode_is_named_as_the_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ev.jsonl").write_text('{"name": "hello", "data": {}, "ts": 1740787200000}\n')
    assert run(capsys, "import", "ev.jsonl", "-o", "t.jsonl", "--no-redact")[0] == 0
    code, out, err = run(capsys, "diff", "t.jsonl", "t.jsonl", "--compare", "run")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --compare='run' is not valid: one or more of runs, outputs, emails, http, events, "
                   "timing (or 'all') (did you mean 'runs' for 'run'?)\n")
    code, out, err = run(capsys, "diff", "t.jsonl", "t.jsonl", "--compare", "runs,email,colour")
    assert err == ("jobsim: error: --compare='runs,email,colour' is not valid: one or more of runs, outputs, emails, "
                   "http, events, timing (or 'all') (did you mean 'emails' for 'email'?)\n")


@pytest.mark.parametrize("sends", [1, 400])  # one block read line by line; blocks read whole, then line by line
def test_strict_prints_only_the_error_for_an_unknown_kind(module, capsys, tmp_path, sends):
    import jobsim

    app = jobsim.App("t")
    app.function("hello", on="hello")(lambda ctx: "hi")
    with jobsim.Simulation(app) as sim:
        for _ in range(sends):
            sim.send("hello")
        sim.record("acme.audit", note="a kind no plugin declares")
        sim.run_until_idle()
    sim.trace.save(tmp_path / "t.jsonl", redact=False)
    line = next(n for n, text in enumerate((tmp_path / "t.jsonl").read_text().splitlines(), 1) if "acme.audit" in text)
    for argv in (["diff", "t.jsonl", "t.jsonl", "--strict"], ["replay", "t.jsonl", "--app", module, "--strict"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert err.startswith(f"jobsim: error: t.jsonl:{line}: unknown record kind 'acme.audit' "
                              "(strict=True); known kinds: advance, ") and err.count("\n") == 1  # no warning first
    code, out, err = run(capsys, "diff", "t.jsonl", "t.jsonl")
    assert code == 0 and err == (f"jobsim: warning: t.jsonl: 1 record(s) of unknown kind 'acme.audit' "
                                 f"(first on line {line}) were read as generic records; install the plugin that "
                                 "declares the kind to draw them in timelines\n") * 2


def test_run_examples_away_from_the_sources_says_where_the_examples_are(capsys, tmp_path, monkeypatch):
    # an installed wheel holds no examples/: it said only "cannot import 'examples' (No module named 'examples')"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd()) and not
                                      (Path(p or ".") / "examples" / "__init__.py").is_file()])  # fmt: skip
    for name in [name for name in sys.modules if name == "examples" or name.startswith("examples.")]:
        monkeypatch.delitem(sys.modules, name)
    code, out, err = run(capsys, "run", "examples")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: cannot import 'examples': the seed scenarios are the examples/ folder of jobsim's "
                   "repository and sdist, not part of the installed package; run `jobsim run examples` from the "
                   "root of either\n")
    code, out, err = run(capsys, "run", "examples_x")  # any other module: as before
    assert err == ("jobsim: error: cannot import 'examples_x' (No module named 'examples_x'); give a module path "
                   "like 'app.jobs' or a folder\n")


def test_a_file_that_is_not_python_exits_2(module, capsys, tmp_path):
    (tmp_path / "README.md").write_text("# hi\n")
    code, out, err = run(capsys, "run", "README.md")
    assert (code, out) == (2, "")  # was "cannot import 'README.md' (No module named 'README')"
    assert err == ("jobsim: error: README.md: not a Python file; give a .py file, a package folder or a module "
                   "name such as app.jobs\n")


def test_a_file_in_a_package_is_imported_with_its_package(tmp_path, monkeypatch, capsys):
    """``jobsim run src/shop/jobs.py``, as the README advises, with a relative import in jobs.py."""
    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    package = tmp_path / "src" / f"shopreview_{abs(hash(str(tmp_path)))}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("GREETING = 'hi'\n")
    (package / "jobs.py").write_text(MODULE.replace("import jobsim\n", "import jobsim\nfrom .models import GREETING\n"))
    code, out, err = run(capsys, "run", package / "jobs.py", "--no-timeline", "--days", "1")
    assert (code, err) == (0, ""), err  # was "attempted relative import with no known parent package"
    assert out.splitlines()[2].split() == ["hello", "1", "1", "0", "0", "0", "0", "0"]
    assert sys.modules[f"{package.name}.jobs"].GREETING == "hi"


def test_a_package_already_imported_through_a_symlink_is_the_same_package(tmp_path, monkeypatch, capsys):
    """The package's module was loaded by a path through a symlink: it is still the file's package."""
    import importlib

    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    package = tmp_path / "real" / f"shoplink_{abs(hash(str(tmp_path)))}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("GREETING = 'hi'\n")
    (package / "jobs.py").write_text(MODULE.replace("import jobsim\n", "import jobsim\nfrom .models import GREETING\n"))
    (tmp_path / "link").symlink_to(tmp_path / "real")
    sys.path.insert(0, str(tmp_path / "link"))
    importlib.import_module(package.name)  # its __file__ is under link/, not real/
    code, out, err = run(capsys, "run", package / "jobs.py", "--no-timeline", "--days", "1")
    assert (code, err) == (0, ""), err  # was "attempted relative import with no known parent package"
    assert out.splitlines()[2].split() == ["hello", "1", "1", "0", "0", "0", "0", "0"]


def test_a_package_named_like_a_loaded_module_is_imported_alone(tmp_path, monkeypatch, capsys):
    """A folder ``json/`` holding jobs.py: ``json`` is the standard library's, so jobs.py is imported by itself."""
    import_from(tmp_path, monkeypatch)
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "__init__.py").write_text("")
    (tmp_path / "json" / f"jobs_{abs(hash(str(tmp_path)))}.py").write_text(MODULE)
    code, out, err = run(capsys, "run", next((tmp_path / "json").glob("jobs_*.py")), "--no-timeline", "--days", "1")
    assert (code, err) == (0, "") and out.splitlines()[2].split()[:2] == ["hello", "1"]


def test_a_file_named_like_a_loaded_module_is_refused_by_name(tmp_path, monkeypatch, capsys):
    """``jobsim run jobs/calendar.py`` imported the standard library's calendar (already loaded) and then said
    it had no app, suggesting ``calendar:attribute``, which names the same wrong module."""
    import_from(tmp_path, monkeypatch)
    (tmp_path / "calendar.py").write_text(MODULE)
    code, out, err = run(capsys, "run", tmp_path / "calendar.py", "--no-timeline", "--days", "1")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {tmp_path / 'calendar.py'}: it would import as 'calendar', which is already "
                   f"the module {sys.modules['calendar'].__file__} in this process; rename the file (or put it in a "
                   "package)\n")


def test_help_says_what_exclude_functions_leaves_out(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    # was "simulate all of the target's functions (instead of its jobsim_options' selection) but these"
    assert ("--exclude-functions IDS comma-separated function ids: simulate all of the target's functions but these "
            "(instead of its jobsim_options' selection)") in help_text


def test_traffic_that_plays_past_the_days_asked_for_says_so(tmp_path, monkeypatch, capsys):
    # `jobsim run examples --days 1` printed a week of runs, as if --days had been read, and said nothing
    import_from(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "week.py").write_text(textwrap.dedent("""
        import jobsim

        app = jobsim.App("w")
        app.function("hello", on="hello")(lambda ctx: "hi")

        def jobsim_traffic(sim):
            for day in range(3):
                sim.send("hello")
                sim.advance("1d")
    """))
    code, out, err = run(capsys, "run", "week.py", "--no-timeline", "--days", "1", "--start", "2025-03-01T00:00:00Z")
    assert code == 0 and "\nhello        3          3" in out
    assert err == ("jobsim: note: week.jobsim_traffic played until 2025-03-04T00:00:00.000Z, past the end --days 1 "
                   "asked for (2025-03-02T00:00:00.000Z): the run covers all the traffic played\n")
    code, out, err = run(capsys, "run", "week.py", "--no-timeline", "--days", "3", "--start", "2025-03-01T00:00:00Z")
    assert (code, err) == (0, "")  # the traffic ended where --days does


@pytest.mark.parametrize(("start", "days"), [("0001-01-01T00:00:00Z", "0.001"), ("9999-12-30T00:00:00Z", "1.9")])
def test_a_start_at_the_ends_of_the_calendar_is_one_line(tmp_path, monkeypatch, capsys, start, days):
    """A New York cron at year 1 (its wall time is year 0) or ticking past 9999: datetime overflows."""
    source = MODULE + '\napp.function("nightly", cron="0 9 * * *", tz="America/New_York")(lambda ctx: 1)\n'
    module = write_module(tmp_path, monkeypatch, source)
    code, out, err = run(capsys, "run", module, "--start", start, "--days", days)
    assert (code, out) == (2, "")  # was an OverflowError traceback, exit 1
    assert err == ("jobsim: error: a time falls outside the years 1 to 9999 that a datetime can show (date value out "
                   "of range); start further from those years, or simulate fewer --days\n")


@pytest.mark.usefixtures("from_the_root")
def test_a_profile_that_cannot_run_the_scenario_keeps_the_columns_aligned(capsys):
    code, out, _ = run(capsys, "compare", "examples/scenarios/outage.py", "--profiles", "inngest,vercel-cron-hobby")
    assert code == 0
    lines = out.splitlines()[2:]
    assert lines[0].startswith("profile            function        runs")  # the width of 'vercel-cron-hobby'
    assert [line.index("-report") if "daily-report" in line else None for line in lines] == [
        None, None, 24, None, 24, None]  # the unsupported row's function sat two columns left of the others


def test_run_simulates_under_the_profile_given_and_saves_it_in_the_trace(module, capsys, tmp_path):
    from jobsim import Trace

    (tmp_path / "profiled.py").write_text(textwrap.dedent("""
        import jobsim

        app = jobsim.App("p")

        @app.function("job", on="go", retries=2)
        def job(ctx):
            if ctx.attempt == 0:
                raise RuntimeError("boom")
            return "ok"

        def jobsim_traffic(sim):
            sim.send("go", {})
    """))  # fmt: skip
    code, out, err = run(capsys, "run", "profiled.py", "--profile", "bullmq", "--days", "0.001", "--save", "b.jsonl")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "jobsim timeline · UTC · seed 0 · profile bullmq"
    assert "job#1 attempt 1 at 00:00:00 (+0s)" in out  # BullMQ retries at once (no backoff); Inngest waits
    assert Trace.load(tmp_path / "b.jsonl").header["profile"] == "bullmq"
    code, out, err = run(capsys, "run", "profiled.py", "--profile", "agenda(process_every=1s)", "--days", "0.001")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "jobsim timeline · UTC · seed 0 · profile agenda(process_every=1s)"
    code, out, err = run(capsys, "run", "profiled.py", "--profile", "bullmqq")
    assert (code, out) == (2, "")
    assert err.startswith("jobsim: error: --profile='bullmqq' is not valid: one of 'agenda', ")


@pytest.mark.parametrize("command", [
    ["replay", "week.jsonl", "--app", "examples"],
    ["import", "events.jsonl", "-o", "out.jsonl"],
])
def test_an_unknown_profile_of_replay_or_import_is_named_as_the_flag_typed(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.jsonl").write_text('{"name": "go", "data": {}, "ts": 1740960000000}\n')
    code, out, err = run(capsys, *command, "--profile", "bullmqq")
    assert (code, out) == (2, "")
    assert err.startswith("jobsim: error: --profile='bullmqq' is not valid: one of 'agenda', ")  # was profile=


# -- the audit of session 21: what a first-time user's slip did to their files and their runs ---------------------


def test_save_refuses_a_python_file_it_would_write_the_trace_over(module, capsys, tmp_path):
    """``jobsim run jobs --save jobs.py`` replaced the module's code with the trace, exit 0."""
    source = (tmp_path / f"{module}.py").read_bytes()
    code, out, err = run(capsys, "run", module, "--save", f"{module}.py")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: --save '{module}.py' names a Python file, which the trace would replace; give a "
                   f"trace file, such as '{module}.jobsim.jsonl' (checked before simulating)\n")
    assert (tmp_path / f"{module}.py").read_bytes() == source
    code, out, err = run(capsys, "run", module, "--save", "new.py")  # refused too, but it replaces nothing
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --save 'new.py' names a Python file, not a trace file; give a trace file, such "
                   "as 'new.jobsim.jsonl' (checked before simulating)\n")
    assert not (tmp_path / "new.py").exists()


def test_save_refuses_a_python_file_named_with_a_trailing_dot_or_space(module, capsys, tmp_path):
    """``--save jobs.py.`` (or ``"jobs.py "``) is ``jobs.py`` on Windows, which drops trailing dots and spaces."""
    source = (tmp_path / f"{module}.py").read_bytes()
    for given in (f"{module}.py.", f"{module}.py "):
        code, out, err = run(capsys, "run", module, "--save", given)
        assert (code, out) == (2, "")
        assert err == (f"jobsim: error: --save {given!r} names a Python file, which the trace would replace "
                       f"({given.rstrip('. ')!r} on Windows, which drops a name's trailing dots and spaces); give a "
                       f"trace file, such as '{module}.jobsim.jsonl' (checked before simulating)\n")
    assert (tmp_path / f"{module}.py").read_bytes() == source
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(module)) == [f"{module}.py"]


def test_an_empty_save_is_refused_not_skipped(module, capsys, tmp_path):
    """``--save "$TRACE"`` with the variable unset simulated, printed and saved nothing, exit 0."""
    code, out, err = run(capsys, "run", module, "--save", "", "--no-redact")
    assert (code, out, err) == (2, "", "jobsim: error: --save '' names no file; give one, such as "
                                       "'run.jobsim.jsonl'\n")
    assert list(tmp_path.glob("*.jsonl*")) == []


def test_a_dash_output_is_refused_as_it_means_standard_input_as_an_input(module, capsys, tmp_path):
    """An input of ``-`` is standard input; an output of ``-`` wrote a file named ``-`` that the next
    command (``jobsim show -``) would not read."""
    code, out, err = run(capsys, "run", module, "--save", "-", "--no-redact")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --save - would write a file named '-', while '-' as an input means standard "
                   "input; give a file name, such as 'run.jobsim.jsonl' (or ./- for that file)\n")
    assert not (tmp_path / "-").exists()
    code, out, err = run(capsys, "run", module, "--save", "./-", "--no-redact")
    assert code == 0 and (tmp_path / "-").exists()


def test_an_empty_tz_is_refused_not_read_as_utc(module, capsys):
    code, out, err = run(capsys, "run", module, "--tz", "")
    assert (code, out) == (2, "")
    assert err == "jobsim: error: --tz='' is not valid: expected an IANA time zone such as 'America/New_York'\n"


def test_the_trace_is_saved_even_when_the_reader_of_the_timeline_leaves(module, tmp_path):
    """``jobsim run jobs --save t.jsonl | head``: the pipe closed while the timeline printed, before the save."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(jobsim.__file__).parents[1]), str(tmp_path)])}
    with subprocess.Popen([sys.executable, "-m", "jobsim", "run", module, "--days", "30", "--save", "t.jsonl"],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # the reader left before the first line
        err = child.stderr.read()
    assert (child.returncode, err) == (141, b"")
    assert (tmp_path / "t.jsonl").read_bytes().startswith(b'{"k":"header"')


@pytest.mark.parametrize("exit_call", ["sys.exit(3)", "sys.exit('usage: jobs.py CONFIG')"])
def test_a_module_that_exits_as_it_is_imported_is_named(tmp_path, monkeypatch, capsys, exit_call):
    """A script (argparse, ``sys.exit()``) given as the target ended jobsim with its exit code and no word."""
    module = write_module(tmp_path, monkeypatch, f"import sys\n{exit_call}\n")
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: importing {module!r} called {exit_call};"
                   " put the code that runs the module as a script under `if __name__ == \"__main__\":` and run "
                   "again\n")


def test_a_factory_that_calls_sys_exit_is_named(tmp_path, monkeypatch, capsys):
    module = write_module(tmp_path, monkeypatch, "import sys\ndef make():\n    sys.exit('no config')\n")
    code, out, err = run(capsys, "run", f"{module}:make")
    assert (code, out, err) == (2, "", f"jobsim: error: calling {module}:make() failed: SystemExit: no config\n")


def test_a_module_whose_own_import_fails_is_not_said_to_be_missing(tmp_path, monkeypatch, capsys):
    """It said "cannot import 'jobs' (No module named 'stripe'); give a module path like 'app.jobs'": the
    module was found, what it imports was not."""
    module = write_module(tmp_path, monkeypatch, "import stripe_not_installed_here\n")
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: importing {module!r} failed: ModuleNotFoundError: No module named "
                   "'stripe_not_installed_here'; install what it imports, or fix that module, and run again\n")


def test_a_target_with_nothing_after_its_colon_is_refused(module, capsys):
    """``jobs:`` simulated ``jobs:app`` as if no ':' had been typed."""
    code, out, err = run(capsys, "run", f"{module}:")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: '{module}:' names no attribute after ':'; give e.g. {module}:app, or {module} "
                   "alone for its jobsim_app or app\n")


def test_compare_says_what_the_attribute_it_was_given_is(tmp_path, monkeypatch, capsys):
    """``jobsim compare jobs.py:app`` said "defines no jobsim.Scenario ... or pick one with path:attribute", which
    it had done."""
    module = write_module(tmp_path, monkeypatch, MODULE)
    code, out, err = run(capsys, "compare", f"{module}.py:needs_an_argument")
    assert (code, out) == (2, "")
    assert err.startswith(f"jobsim: error: '{module}.py:needs_an_argument' is <function needs_an_argument at ")
    assert err.endswith(">, not a jobsim.Scenario (or a list of them); name one, or leave out ':needs_an_argument' to "
                        "use the module's `scenario` or `scenarios`\n")


@pytest.mark.parametrize(("source", "target", "message"), [
    ("app = None\n", "", "{m}:app is None"),  # the attribute found by default: the message is the only place it shows
    ("jobs = 'acme'\n", ":jobs", "{m}:jobs is 'acme'"),
    ("def make():\n    return 5\n", ":make", "{m}:make() returned 5"),
])  # fmt: skip
def test_a_target_that_is_no_app_at_all_is_named_as_typed(tmp_path, monkeypatch, capsys, source, target, message):
    """It was "targets=None is not valid: a jobsim.App or a target a backend plugin adapts (...)", naming
    Simulation's argument, not the ``MODULE:ATTR`` that held it."""
    module = write_module(tmp_path, monkeypatch, source)
    code, out, err = run(capsys, "run", module + target)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {message.format(m=module)}, not an app to simulate; name a jobsim.App (or a "
                   f"backend's app that a plugin adapts) with {module}:attribute\n")


def test_a_start_the_clocks_skip_is_named_as_the_flag(module, capsys):
    """The zone's check spoke of ``start=``, an argument the user never typed."""
    code, out, err = run(capsys, "run", module, "--start", "2025-03-09T02:30:00", "--tz", "America/New_York")
    assert (code, out) == (2, "")
    assert err == ("jobsim: error: --start='2025-03-09T02:30:00' does not exist in America/New_York: the clocks skip "
                   "it that day, going from UTC-05:00 to UTC-04:00; give the instant with its offset, e.g. "
                   "'2025-03-09T03:30:00-04:00'\n")


def test_a_traffic_hook_that_calls_sys_exit_is_named_with_its_line(tmp_path, monkeypatch, capsys):
    """It ended jobsim with the hook's exit code, no word, and no trace saved."""
    source = MODULE.replace('    sim.send("hello", {"name": "Zoë Ångström"})', '    sim.send("hello")\n    sys.exit(4)')
    module = write_module(tmp_path, monkeypatch, "import sys\n" + source)
    line = ("import sys\n" + source).splitlines().index("    sys.exit(4)") + 1
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == f"jobsim: error: {module}.jobsim_traffic() failed: SystemExit: 4 ({module}.py, line {line}); " \
                  "fix it and run again\n"


@pytest.mark.usefixtures("from_the_root")
@pytest.mark.parametrize(("argv", "message"), [
    (["profiles", "nope"], "jobsim profiles NAME='nope' is not valid: one of 'agenda', "),  # was profile=
    (["compare", "examples/scenarios/outage.py", "--profiles", "inngest,nope"],
     "--profiles='inngest,nope' is not valid: profile names among 'agenda', "),  # was profiles=['inngest', 'nope']
    (["compare", "examples/scenarios/outage.py", "--profiles", "agenda(process_every=1s,process_every=2s)"],
     "--profiles='agenda(process_every=1s,process_every=2s)' is not valid: NAME(option=value, ...) with each "
     "option given once"),  # was profile=
    (["run", "examples", "--profile", "agenda(process_every=1s,process_every=2s)"],
     "--profile='agenda(process_every=1s,process_every=2s)' is not valid: NAME(option=value, ...) with each "
     "option given once"),  # was profile=
])  # fmt: skip
def test_a_bad_profile_is_named_as_the_flag_or_argument_typed(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"jobsim: error: {message}")


@pytest.mark.usefixtures("from_the_root")
@pytest.mark.parametrize("argv", [
    ["run", "examples", "--profile", "agenda(process_every=1s"],
    ["compare", "examples/scenarios/outage.py", "--profiles", "inngest,agenda(process_every=1s"],  # the item named
])  # fmt: skip
def test_a_profile_whose_parenthesis_is_never_closed_is_named_so(capsys, argv):
    """It got the list of profile names, which said nothing of the '('."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {argv[-2]}='agenda(process_every=1s' is not valid: its '(' is never closed; write "
                   "NAME(option=value, ...), e.g. 'agenda(process_every=1s)'\n")


def test_run_notes_requests_no_route_answered(capsys, tmp_path, monkeypatch):
    """Only the table's failed and http columns told that every run had failed on requests no route answered."""
    module = write_module(tmp_path, monkeypatch, """
        import httpx
        import jobsim

        app = jobsim.App("calls")

        @app.function("report", on="go", retries=0)
        def report(ctx):
            httpx.get("https://analytics.shop.test/daily?day=1")

        def jobsim_traffic(sim):
            sim.send("go")
            sim.send("go")
        """)
    code, out, err = run(capsys, "run", module, "--days", "1", "--no-timeline")
    assert code == 0 and "report" in out
    assert err == ("jobsim: note: 2 HTTP request(s) matched no route and failed as on a network error (GET "
                   f"https://analytics.shop.test/daily); add routes in {module}.jobsim_traffic(sim), e.g. "
                   "sim.http.get('https://analytics.shop.test/daily').respond(200)\n")  # was sim.http.post(url)
    routed = write_module(tmp_path, monkeypatch, """
        import httpx
        import jobsim

        app = jobsim.App("calls2")

        @app.function("report", on="go", retries=0)
        def report(ctx):
            httpx.get("https://analytics.shop.test/daily")

        def jobsim_traffic(sim):
            sim.http.get("https://analytics.shop.test/daily").respond(200)
            sim.send("go")
        """)
    assert run(capsys, "run", routed, "--days", "1", "--no-timeline")[2] == ""


def test_the_route_advised_for_unmatched_requests_is_in_the_first_requests_own_method(capsys, tmp_path, monkeypatch):
    """The advice was ``sim.http.post(url)`` whatever the method; one without a helper is ``sim.http.request``."""
    module = write_module(tmp_path, monkeypatch, """
        import httpx
        import jobsim

        app = jobsim.App("calls3")

        @app.function("sync", on="go", retries=0)
        def sync(ctx):
            httpx.request("PROPFIND", "https://dav.shop.test/cal?depth=1")
            httpx.delete("https://shop.test/carts/7")

        def jobsim_traffic(sim):
            sim.send("go")
        """)
    code, _, err = run(capsys, "run", module, "--days", "1", "--no-timeline")
    assert code == 0
    assert err == ("jobsim: note: 1 HTTP request(s) matched no route and failed as on a network error (PROPFIND "
                   f"https://dav.shop.test/cal); add routes in {module}.jobsim_traffic(sim), e.g. "
                   "sim.http.request('PROPFIND', 'https://dav.shop.test/cal').respond(200)\n")
    module = write_module(tmp_path, monkeypatch, """
        import httpx
        import jobsim

        app = jobsim.App("calls4")

        @app.function("sync", on="go", retries=0)
        def sync(ctx):
            try:
                httpx.put("https://shop.test/b")
            except httpx.HTTPError:
                httpx.delete("https://shop.test/a")

        def jobsim_traffic(sim):
            sim.send("go")
        """)
    code, _, err = run(capsys, "run", module, "--days", "1", "--no-timeline")
    assert (code, err) == (0, "jobsim: note: 2 HTTP request(s) matched no route and failed as on a network error "
                              "(DELETE https://shop.test/a, PUT https://shop.test/b); add routes in "
                              f"{module}.jobsim_traffic(sim), e.g. sim.http.delete('https://shop.test/a')"
                              ".respond(200)\n")  # fmt: skip


@pytest.mark.parametrize(("target", "guess"), [
    (":ap", " (did you mean 'app'?)"), (":App", " (did you mean 'app'?)"),
    (":jobsim_ap", " (did you mean 'jobsim_app'?)"),
    (":hello_wrold", " (did you mean 'hello_world'?)"), (":nothing_like_it", ""),
    (":textwrp", ""),  # a module the target imports is no app to suggest
])  # fmt: skip
def test_an_attribute_the_module_lacks_is_answered_with_the_one_meant(tmp_path, monkeypatch, capsys, target, guess):
    """``jobs:ap`` said "'jobs' has no ap attribute", with no word of ``app``."""
    module = write_module(tmp_path, monkeypatch, "import textwrap\n" + MODULE.replace("def hello(", "def hello_world(")
                          + "\njobsim_app = app\n")  # fmt: skip
    code, out, err = run(capsys, "run", module + target)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module!r} has no {target[1:]} attribute to simulate{guess}; name one with "
                   f"{module}:attribute\n")


def test_a_module_with_no_app_but_a_backends_objects_says_how_to_name_them(tmp_path, monkeypatch, capsys):
    """inngest-py's functions are targets of their own: ``jobsim run jobs.py`` said only that no app was there."""
    write_module(tmp_path, monkeypatch, "class Function:\n    pass\n\nclass Client:\n    pass\n", name="fakesdk")
    module = write_module(tmp_path, monkeypatch, "import logging\nimport fakesdk\n\nclient = fakesdk.Client()\n"
                          "onboarding = fakesdk.Function()\nlog = logging.getLogger('x')\nLIMIT = 3\n")  # fmt: skip
    code, out, err = run(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module!r} has no jobsim_app or app attribute to simulate; name one with "
                   f"{module}:attribute. It holds objects of other libraries (client, onboarding): a backend's "
                   f"targets that are not one app (inngest-py's functions) are named one at a time "
                   f"({module}:onboarding), or all together as a list the module holds (functions = [client, "
                   f"onboarding], then {module}:functions)\n")
    plain = write_module(tmp_path, monkeypatch, "import logging\nlog = logging.getLogger('x')\n")
    assert run(capsys, "run", plain)[2] == (f"jobsim: error: {plain!r} has no jobsim_app or app attribute to "
                                            f"simulate; name one with {plain}:attribute\n")


def test_compare_answers_an_attribute_the_module_lacks_with_the_one_meant(tmp_path, monkeypatch, capsys):
    module = write_module(tmp_path, monkeypatch, "import jobsim\nscenarios = []\n")
    code, out, err = run(capsys, "compare", f"{module}:scenario")
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: {module!r} has no scenario attribute (did you mean 'scenarios'?); name its "
                   "jobsim.Scenario (or a list of them), or leave out ':scenario' to use its `scenario` or "
                   "`scenarios`\n")


# -- a conftest's `jobsim_app` fixture, and BaseExceptions (pytest.fail/skip, GeneratorExit) from the user's code ----

CONFTEST = """
import pytest
import jobsim

app = jobsim.App("shop")

@app.function("hello", on="hello")
def hello(ctx):
    return "hi"

@pytest.fixture
def jobsim_app():
    return app

def jobsim_traffic(sim):
    sim.send("hello")
"""


@pytest.mark.parametrize("command", [["run"], ["replay", "week.jobsim.jsonl", "--app"]])
def test_a_jobsim_app_fixture_beside_the_modules_one_app_simulates_that_app(tmp_path, monkeypatch, capsys, command):
    """The README's conftest (``@pytest.fixture def jobsim_app(): return app``): calling the fixture raised
    pytest's ``Failed`` ("Fixture called directly"), a traceback and exit 1, read as "the replay differs"."""
    module = write_module(tmp_path, monkeypatch, CONFTEST)
    code, out, err = run(capsys, "run", f"{module}.py", "--days", "1", "--save", tmp_path / "week.jobsim.jsonl")
    assert (code, err) == (0, "")
    assert "hello" in out
    if command[0] == "replay":
        code, out, err = run(capsys, *command, f"{module}.py")
        assert (code, err) == (0, "")
        assert out.endswith("\nsame: 1 function(s), recorded and replayed agree on runs, outputs, emails, http, "
                            "events, timing\n")


@pytest.mark.parametrize(("source", "target", "fix"), [
    ("", ":jobsim_app", "name the app instead: {m}.py:app"),  # named: not swapped for another
    ("admin = jobsim.App('admin')\n", "", "name the app instead: {m}.py:app or {m}.py:admin"),
    ("", "", "name the app itself, in the module that defines it (`jobsim run jobs.py:app`, or `--app jobs.py:app` "
             "for `jobsim replay`)"),
])  # fmt: skip
def test_a_jobsim_app_fixture_is_refused_naming_the_app_to_give(tmp_path, monkeypatch, capsys, source, target, fix):
    conftest = CONFTEST + source
    if not fix.startswith("name the app instead"):  # the fixture's app defined elsewhere: none in this module
        conftest = conftest.replace('app = jobsim.App("shop")', '_app = jobsim.App("shop")').replace(
            "@app.", "@_app.").replace("return app", "return _app")  # fmt: skip
    module = write_module(tmp_path, monkeypatch, conftest)
    for command in (["run"], ["replay", tmp_path / "week.jobsim.jsonl", "--app"]):
        code, out, err = run(capsys, *command, f"{module}.py{target}")
        assert (code, out) == (2, "")
        assert err == (f"jobsim: error: {module}:jobsim_app is a pytest fixture (@pytest.fixture), which only pytest "
                       f"can call, in a test that asks for it; {fix.format(m=module)}\n")


def test_a_fixture_is_told_from_a_function_without_importing_pytest():
    from jobsim._cli import _is_pytest_fixture

    def jobsim_app():
        return None

    assert _is_pytest_fixture(pytest.fixture(jobsim_app)) and not _is_pytest_fixture(jobsim_app)
    jobsim_app._pytestfixturefunction = object()  # what @pytest.fixture marked before pytest 8.4
    assert _is_pytest_fixture(jobsim_app) and not _is_pytest_fixture(jobsim.App("plain"))


def run_unskipped(capsys, *argv):
    """``run``, failing the test if pytest.skip()'s ``Skipped`` escapes jobsim: pytest would skip it, unseen."""
    try:
        return run(capsys, *argv)
    except pytest.skip.Exception as exc:
        pytest.fail(f"Skipped escaped jobsim: {exc}")


BASE_EXCEPTIONS = """
import pytest

class Stop(BaseException):
    pass

def raise_(name):
    raise {"fail": pytest.fail.Exception("no database"), "skip": pytest.skip.Exception("no network"),
           "stop": Stop("halt"), "exit": GeneratorExit("closed")}[name]
"""


@pytest.mark.parametrize(("name", "said"), [
    ("fail", "Failed: no database"), ("skip", "Skipped: no network"), ("stop", "Stop: halt"),
    ("exit", "GeneratorExit: closed"),
])  # fmt: skip
def test_a_base_exception_from_a_factory_or_hook_exits_2_in_one_line(tmp_path, monkeypatch, capsys, name, said):
    """pytest.fail()/pytest.skip() (pytest's OutcomeExceptions), a BaseException of the user's own or GeneratorExit
    ended jobsim with a traceback and exit 1, which says "a replay or diff differs": they are errors as any other."""
    module = write_module(tmp_path, monkeypatch, MODULE + BASE_EXCEPTIONS + f"""
def make():
    raise_({name!r})

def broken_hook(sim):
    raise_({name!r})
""")
    run(capsys, "run", module, "--days", "1", "--save", tmp_path / "week.jobsim.jsonl")
    line = (MODULE + BASE_EXCEPTIONS).splitlines().index("def raise_(name):") + 2
    code, out, err = run_unskipped(capsys, "run", f"{module}:make")
    assert (code, out, err) == (2, "", f"jobsim: error: calling {module}:make() failed: {said}\n")
    monkeypatch.setattr(sys.modules[module], "jobsim_traffic", sys.modules[module].broken_hook)
    code, out, err = run_unskipped(capsys, "run", module)
    assert (code, out, err) == (2, "", f"jobsim: error: {module}.jobsim_traffic() failed: {said} ({module}.py, line "
                                       f"{line}); fix it and run again\n")  # fmt: skip
    monkeypatch.setattr(sys.modules[module], "jobsim_setup", sys.modules[module].broken_hook, raising=False)
    code, out, err = run_unskipped(capsys, "replay", tmp_path / "week.jobsim.jsonl", "--app", module)
    assert (code, out, err) == (2, "", f"jobsim: error: {module}.jobsim_setup() failed: {said} ({module}.py, line "
                                       f"{line}); fix it and run again\n")  # fmt: skip


def test_a_module_that_pytest_skips_as_it_is_imported_exits_2_in_one_line(tmp_path, monkeypatch, capsys):
    """A conftest's ``pytest.importorskip()`` raised ``Skipped`` out of jobsim: a traceback and exit 1."""
    module = write_module(tmp_path, monkeypatch, "import pytest\npytest.importorskip('no_such_module_here')\n")
    code, out, err = run_unskipped(capsys, "run", module)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: importing {module!r} failed: Skipped: could not import 'no_such_module_here': "
                   "No module named 'no_such_module_here'; fix that module and run again\n")


@pytest.mark.parametrize("where", ["make", "jobsim_traffic"])
def test_ctrl_c_in_a_factory_or_hook_is_still_exit_130(tmp_path, monkeypatch, capsys, where):
    module = write_module(tmp_path, monkeypatch, MODULE + "\ndef make():\n    raise KeyboardInterrupt\n"
                          "\ndef jobsim_traffic(sim):\n    raise KeyboardInterrupt\n")  # fmt: skip
    target = f"{module}:make" if where == "make" else module
    assert run(capsys, "run", target) == (130, "", "jobsim: interrupted\n")
