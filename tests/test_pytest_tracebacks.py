"""What pytest shows of a jobsim error: the test's line and the message, not jobsim's frames (which it keeps for
any other exception, and under ``--full-trace``)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
import jobsim

app = jobsim.App("shop")

@app.function("report", on="report.due")
def report(ctx):
    return ctx.step.run("sum", lambda: 3)

def test_a_bad_duration():
    with jobsim.Simulation(app, start="2025-03-03T09:00:00Z") as sim:
        sim.advance("24 hours please")

def test_a_bad_time_zone():
    jobsim.Simulation(app, start="2025-03-03T09:00:00", tz="America/New_Yrok")
"""


def test_a_jobsim_error_ends_at_the_test_line_without_jobsims_frames(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_tracebacks=TESTS)
    result = pytester.runpytest("-k", "bad_duration or time_zone")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        ">           sim.advance(\"24 hours please\")",
        "E           jobsim.errors.InvalidArgument: by='24 hours please' is not valid: expected a duration such as*",
        "test_inner_tracebacks.py:11: InvalidArgument",
        ">       jobsim.Simulation(app, start=\"2025-03-03T09:00:00\", tz=\"America/New_Yrok\")",
        "E       jobsim.errors.InvalidArgument: tz='America/New_Yrok' is not valid: no such IANA time zone*",
        "test_inner_tracebacks.py:14: InvalidArgument",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("*jobsim/_*.py*")


def test_a_decorator_refused_at_import_fails_the_collection_at_its_line(pytester: pytest.Pytester) -> None:
    refused = 'import jobsim\napp = jobsim.App("c")\n\n@app.function("g", cron="0 25 * * *")\ndef g(ctx):\n    pass\n'
    pytester.makepyfile(test_inner_cron_refused=refused)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["test_inner_cron_refused.py:4: in <module>",
                                 "E   jobsim.errors.InvalidArgument: cron expression '0 25 * * *': hour field '25'*"])
    result.stdout.no_fnmatch_line("*jobsim/_*.py*")


def test_full_trace_shows_jobsims_frames(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner_tracebacks=TESTS)
    result = pytester.runpytest("-k", "bad_duration", "--full-trace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*jobsim/_time.py:*: InvalidArgument"])


def test_another_exception_through_jobsim_keeps_jobsims_frames(pytester: pytest.Pytester) -> None:
    """A bug in jobsim (here: its duration parser raising a RuntimeError) must be reportable: its frames stay."""
    pytester.makepyfile(test_inner_tracebacks=TESTS + """
def test_a_parser_bug(monkeypatch):
    import jobsim._time

    def broken(value, name):
        raise RuntimeError("parser bug")

    jobsim.profile("inngest")  # the plugins' profiles are loaded first: a plugin's own durations parse as they did
    monkeypatch.setattr(jobsim._time, "_parse_duration", broken)
    test_a_bad_duration()
""")
    result = pytester.runpytest("-k", "parser_bug")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*jobsim/_time.py:*: in duration_ns", "E       RuntimeError: parser bug"])


def test_the_tests_own_request_to_a_host_without_a_route_ends_at_its_line(pytester: pytest.Pytester) -> None:
    """``httpx.get`` in the test, between driving calls: the traceback showed some 40 lines of httpx and respx."""
    pytester.makepyfile(test_inner_unrouted="""
import httpx
import jobsim

app = jobsim.App("shop")
app.function("noop", on="x")(lambda ctx: None)

def test_unrouted():
    with jobsim.Simulation(app) as sim:
        httpx.get("https://example.org/")

def test_other_error_through_httpx():
    with jobsim.Simulation(app) as sim:
        sim.http.get("https://example.org/").mock(side_effect=KeyError("route bug"))
        httpx.get("https://example.org/")
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([">           httpx.get(\"https://example.org/\")",
                                 "E           jobsim._http.UnmatchedRequest: jobsim: no route matches GET https://example.org/*",
                                 "test_inner_unrouted.py:9: UnmatchedRequest"])  # fmt: skip
    unrouted = result.stdout.str().split("test_other_error_through_httpx")[0]
    assert "httpx/_" not in unrouted and "respx/" not in unrouted
    result.stdout.fnmatch_lines(["*httpx/_client.py:*", "E*KeyError: 'route bug'"])  # another error keeps them


WARNED = """
import jobsim
import pytest

app = jobsim.App("shop")
app.function("welcome", on="user/created")(lambda ctx: ctx.step.run("send", lambda: "sent"))

@pytest.fixture
def jobsim_app():
    return app

def test_with_block():
    with jobsim.Simulation(app) as sim:
        sim.send("user/created", {"a": 1})

def test_fixture(jobsim):
    jobsim.send("user/created", {"a": 1})
"""


def test_a_warning_made_an_error_ends_at_the_with_line_or_names_the_test(pytester: pytest.Pytester) -> None:
    """``-W error::jobsim.PendingWorkWarning``: it showed ``close`` and ``_warn``'s source; in the fixture's
    teardown, where no frame is the test's, the message starts with the test's place."""
    pytester.makepyfile(test_inner_warned=WARNED)
    result = pytester.runpytest("-W", "error::jobsim.PendingWorkWarning")
    result.assert_outcomes(failed=1, passed=1, errors=1)
    result.stdout.fnmatch_lines([  # pytest shows errors first
        "*ERROR at teardown of test_fixture*",
        "E   jobsim.errors.PendingWorkWarning: test_inner_warned.py:15 (test_fixture): the simulation closed at *",
        ">       with jobsim.Simulation(app) as sim:",
        "E       jobsim.errors.PendingWorkWarning: the simulation closed at *",
        "test_inner_warned.py:12: PendingWorkWarning",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("*jobsim/_*.py*")
