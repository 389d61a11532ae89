"""``jobsim run``/``compare``/``profiles``: bad arguments exit 2 with one line in jobsim's words, not a traceback."""

from __future__ import annotations

import io
import sys
import textwrap

import pytest

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
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
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


def test_a_target_without_a_module_exits_2(module, capsys):
    code, out, err = run(capsys, "run", ":app")
    assert (code, out) == (2, "")
    assert err == "jobsim: error: ':app' names no module before ':'; give e.g. app.jobs:app or a folder\n"


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "1e300", "4000000"])
def test_a_bad_number_of_days_is_named_as_days(module, capsys, days):
    # 1e300 used to be reported in seconds (--days=8.64e+304), 4000000 raised OverflowError with a traceback
    code, out, err = run(capsys, "run", module, "--days", days)
    assert (code, out) == (2, "")
    assert err == (f"jobsim: error: --days={float(days)!r} is not valid: expected a number of days from 0 to "
                   "3,652,059 (virtual time ends at 9999-12-31)\n")


def test_days_that_run_past_the_year_9999_exit_2_naming_the_end(module, capsys):
    code, out, err = run(capsys, "run", module, "--days", "3000000")
    assert (code, out) == (2, "")
    assert err.startswith("jobsim: error: --days=3000000.0 is not valid: a span that ends by 9999-12-31T23:59:59.999Z")


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
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
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
