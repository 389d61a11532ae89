"""The pytest plugin, end to end with ``pytester``: the output people read is pinned here."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
from _reportsection import section

import jobsim

pytest_plugins = ["pytester"]

APP = """
import pytest
import jobsim

app = jobsim.App("t")

@app.function("hello", on="hello")
def hello(ctx):
    return ctx.step.run("greet", lambda: "hi")

@pytest.fixture
def jobsim_app():
    return app
"""

HTTP_APP = """
import httpx
import pytest
import jobsim

app = jobsim.App("t")

@app.function("ping", on="ping", retries=0)
def ping(ctx):
    return ctx.step.run("post", lambda: httpx.post("https://hooks.example.com/x").status_code)

@pytest.fixture
def jobsim_app():
    return app
"""

HAS_HTTP_SINK = importlib.util.find_spec("jobsim._http") is not None
needs_http_sink = pytest.mark.skipif(not HAS_HTTP_SINK, reason="the HTTP sink (jobsim/_http.py) has not landed yet")



# -- jobsim_app ------------------------------------------------------------------------------
def test_missing_jobsim_app_says_how_to_provide_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(jobsim):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_x*",
            "jobsim: the `jobsim` fixture needs to know what to simulate: define a fixture named "
            "jobsim_app in conftest.py returning what you would pass to jobsim.Simulation: your jobsim.App, "
            "a backend's app (a Celery app, jobsim_celery.CeleryTarget(app, ...)) or a list of targets, e.g.",
            "",
            "    @pytest.fixture",
            "    def jobsim_app():",
            "        from myproject.jobs import app",
            "        return app",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")  # no traceback into the plugin


def test_jobsim_app_may_return_a_list_of_targets(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP.replace("return app", "return [app]"))
    pytester.makepyfile(
        """
        def test_x(jobsim):
            jobsim.send("hello")
            jobsim.advance("1s")
            assert [r.output for r in jobsim.runs("hello")] == ["hi"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


# -- the fixture -----------------------------------------------------------------------------
def test_fixture_gives_a_started_simulation_and_closes_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest
        from conftest import app

        seen = []

        def test_first(jobsim):
            assert jobsim.seed == 0
            assert app._simulation is jobsim
            jobsim.send("hello")
            jobsim.advance("1s")
            assert [r.status for r in jobsim.runs("hello")] == ["completed"]
            seen.append(jobsim)

        def test_second(jobsim):
            assert app._simulation is jobsim
            assert seen[0] is not jobsim and "closed" in repr(seen[0])
            assert jobsim.runs("hello") == []
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


@needs_http_sink
def test_a_conftest_jobsim_fixture_wrapping_the_plugins_gives_every_test_shared_routes(
        pytester: pytest.Pytester) -> None:
    # the README's "Setup every test needs": override `jobsim` by requesting it by name
    pytester.makeconftest(HTTP_APP + """
@pytest.fixture
def jobsim(jobsim):
    jobsim.http.post("https://hooks.example.com/x").respond(204)
    return jobsim
""")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(start="2025-03-09T06:00:00Z")
        def test_shared_route_and_marker(jobsim):
            assert jobsim.now.isoformat() == "2025-03-09T06:00:00+00:00"
            jobsim.send("ping")
            jobsim.run_until_idle()
            assert jobsim.runs("ping")[0].output == 204

        def test_a_route_declared_again_replaces_the_answer(jobsim):
            jobsim.http.post("https://hooks.example.com/x").respond(202)
            jobsim.send("ping")
            jobsim.run_until_idle()
            assert jobsim.runs("ping")[0].output == 202
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_the_fixture_shadowing_the_module_is_named_when_a_test_reaches_for_a_module_name(
        pytester: pytest.Pytester) -> None:
    # inside `def test_x(jobsim)`, `jobsim.timeout()` is looked up on the Simulation
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        def test_x(jobsim):
            with pytest.raises(AttributeError) as caught:
                jobsim.timeout()
            assert str(caught.value) == (
                "'Simulation' object has no attribute 'timeout': in a test that takes the `jobsim` "
                "fixture, `jobsim` is the simulation, not the module; import the name instead: "
                "`from jobsim import timeout`")
            with pytest.raises(AttributeError, match="^'Simulation' object has no attribute 'nope'$"):
                jobsim.nope
            assert getattr(jobsim, "Event", None) is None and not hasattr(jobsim, "_private")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failed_run_is_not_a_test_failure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        def test_x(jobsim):
            jobsim.fail("hello", times=10)
            jobsim.send("hello")
            jobsim.run_until_idle()
            assert jobsim.runs("hello")[0].status == "failed"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_bad_simulation_options_fail_the_test_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(tz="Mars/Olympus_Mons")
        def test_tz(jobsim):
            pass

        @pytest.mark.jobsim(sede=3)
        def test_typo(jobsim):
            pass

        @pytest.mark.jobsim(3)
        def test_positional(jobsim):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "jobsim: Simulation(jobsim_app, tz='Mars/Olympus_Mons') failed: "
            "tz='Mars/Olympus_Mons' is not valid: no such IANA time zone; "
            "expected e.g. 'America/New_York' or 'UTC'",
            "jobsim: @pytest.mark.jobsim got unknown option(s) sede (did you mean seed=?); "
            "it accepts start, tz, seed, profile, functions, exclude_functions, max_chain, random_streams, "
            "allow_unmatched_http",
            "jobsim: @pytest.mark.jobsim takes keyword arguments only, got (3,); "
            "usage: @pytest.mark.jobsim(*, start=None, tz=None, seed=None, profile=None, functions=None, "
            "exclude_functions=None, max_chain=None, random_streams=None, allow_unmatched_http=False)",
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")


def test_the_marker_takes_every_simulation_keyword(pytester):
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(random_streams="shared", max_chain=7)
        def test_options(jobsim):
            assert (jobsim.random_streams, jobsim.max_chain) == ("shared", 7)

        @pytest.mark.jobsim(random_stream="shared")
        def test_typo(jobsim):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["jobsim: @pytest.mark.jobsim got unknown option(s) random_stream (did you mean "
                                 "random_streams=?); it accepts start, tz, seed, profile, functions, "
                                 "exclude_functions, max_chain, random_streams, allow_unmatched_http"])


def test_the_marker_options_are_the_simulation_keywords():
    import inspect

    from jobsim._testoptions import SIMULATION_OPTIONS

    keywords = [n for n, p in inspect.signature(jobsim.Simulation).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert sorted(SIMULATION_OPTIONS) == sorted(keywords)  # a new Simulation keyword is a marker option too


def test_app_already_running_elsewhere_fails_the_test_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import jobsim
        from conftest import app

        def test_x(request):
            with jobsim.Simulation(app):
                request.getfixturevalue("jobsim")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_x _*",
            "jobsim: Simulation(jobsim_app) failed: app 't' is already running in another simulation "
            "(<Simulation at 2025-01-01T00:00:00.000Z seed=0 profile='inngest' functions=[[]'hello'] running>, "
            "started at */test_app_already_running_elsewhere_fails_the_test_clearly.py:5 in test_x); "
            "close that one first (*",
        ],
        consecutive=True,
    )


def test_a_wider_fixtures_simulation_holding_the_app_is_named_where_it_started(pytester: pytest.Pytester) -> None:
    """Every later test of the module failed with 'already running in another simulation', naming no culprit."""
    pytester.makeconftest(APP)
    pytester.makepyfile(test_wide="""
        import pytest
        import jobsim
        from conftest import app

        @pytest.fixture(scope="module")
        def shared():
            with jobsim.Simulation(app) as sim:
                yield sim

        def test_shared(shared):
            pass

        def test_own(jobsim):
            pass
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "jobsim: Simulation(jobsim_app) failed: app 't' is already running in another simulation (<Simulation * "
        "running>, started at */test_wide.py:7 in shared); close that one first (one a module- or session-scoped "
        "fixture keeps holds its apps until its scope ends: give it an App of its own, or build it per test)",
    ])  # fmt: skip


def test_marker_is_registered_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.jobsim(*, start=None, tz=None, seed=None, profile=None, functions=None, "
            "exclude_functions=None, max_chain=None, random_streams=None, allow_unmatched_http=False): options of "
            "the simulation*"
        ]
    )
    pytester.makeconftest(APP)
    pytester.makepyfile("import pytest\n@pytest.mark.jobsim(seed=1)\ndef test_x(jobsim): pass\n")
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_the_fixtures_warnings_at_close_point_at_the_test_not_at_pytest(pytester: pytest.Pytester) -> None:
    """They pointed at ``_pytest/fixtures.py: next(it)``, the teardown that closed the simulation."""
    pytester.makeconftest(APP)
    pytester.makepyfile(test_warns="""
        import pytest

        def test_other(jobsim):
            pass

        def test_sends_only(jobsim):
            jobsim.send("hello")

        def test_fault_typo(jobsim):
            jobsim.fail("hello", step="greeet")
            jobsim.send("hello")
            jobsim.advance("1m")
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines([
        "test_warns.py::test_sends_only",
        "  *test_warns.py:6: PendingWorkWarning: the simulation closed at * with 1 item(s) of work due*",
        "    def test_sends_only(jobsim):",
        "test_warns.py::test_fault_typo",
        "  *test_warns.py:9: FaultWarning: sim.fail('hello', step='greeet') never fired: no step of that id ran*",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("*_pytest/fixtures.py*")
    erred = pytester.runpytest("-p", "no:randomly", "-W", "error::jobsim.PendingWorkWarning")
    erred.assert_outcomes(passed=3, errors=1)  # the test concerned, at its teardown


# -- the report section ----------------------------------------------------------------------
FAILING = """
import pytest

@pytest.mark.jobsim(seed=7)
def test_fails(jobsim):
    jobsim.send("hello", {"name": "ada"})
    jobsim.advance("1s")
    assert jobsim.runs("hello")[0].output == "bye"

def test_passes(jobsim):
    jobsim.send("hello")
    jobsim.advance("1s")
"""

TIMELINE_7 = [
    "jobsim timeline · UTC · seed 7 · profile inngest",
    "------------------------------------------------",
    '2025-01-01 00:00:00.000 UTC  event     hello {"name":"ada"}',
    "2025-01-01 00:00:00.000 UTC  run       hello#1 started by hello",
    "2025-01-01 00:00:00.000 UTC  run       hello#1 completed",
]


def test_failing_test_gets_seed_reproduction_line_and_timeline(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_report.py").write_text(FAILING)
    result = pytester.runpytest("tests")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- jobsim -*",
            "seed 7 · reproduce with:",
            "    pytest 'tests/test_report.py::test_fails' --jobsim-seed=7",
            "",
            *TIMELINE_7,
        ],
        consecutive=True,
    )
    assert section(result, "test_fails") == [
        "seed 7 · reproduce with:",
        "    pytest 'tests/test_report.py::test_fails' --jobsim-seed=7",
        "",
        *TIMELINE_7,
    ]
    assert result.stdout.str().count("- jobsim -") == 1  # not for the passing test


FAILING_JOBS = """
import pytest
import jobsim as js

app = js.App("t")

def address(user):
    return user["email"]

@app.function("welcome", on="user/created", retries=1)
def welcome(ctx):
    return ctx.step.run("send", address, ctx.event.data)

@app.function("audit", on="user/created", retries=0)
def audit(ctx):
    raise RuntimeError("audit log is full")

@pytest.fixture
def jobsim_app():
    return app

def test_welcome(jobsim):
    jobsim.send("user/created", {"name": "ada"})
    jobsim.send("user/created", {"name": "bob"})
    jobsim.run_until_idle()
    assert jobsim.runs("welcome")[0].status == "completed"
"""


def test_a_failing_tests_section_ends_with_where_its_failed_runs_raised(pytester: pytest.Pytester) -> None:
    # the timeline said `welcome#1 failed: KeyError: 'email'`, never where: one had to print attempt.traceback
    path = pytester.makepyfile(test_jobs=FAILING_JOBS)
    lines = section(pytester.runpytest(), "test_welcome")
    tail = lines[lines.index("welcome#1 failed in step 'send', attempt 1:"):]
    assert tail == [
        "welcome#1 failed in step 'send', attempt 1:",
        "    Traceback (most recent call last):",
        f'      File "{path}", line 7, in address',
        '        return user["email"]',
        *(["               ~~~~^^^^^^^^^"] if tail[4].strip().startswith("~") else []),  # 3.11+ marks the spot
        "    KeyError: 'email'",
        "audit#1 failed in its body, attempt 0:",
        "    Traceback (most recent call last):",
        f'      File "{path}", line 15, in audit',
        '        raise RuntimeError("audit log is full")',
        "    RuntimeError: audit log is full",
        "welcome#2 failed in step 'send', attempt 1:",
        "    Traceback (most recent call last):",
        f'      File "{path}", line 7, in address',
        '        return user["email"]',
        *(["               ~~~~^^^^^^^^^"] if tail[4].strip().startswith("~") else []),
        "    KeyError: 'email'",
        "… and 1 more failed run(s): see run.attempts[-1].traceback",
    ]
    assert lines[lines.index(tail[0]) - 1] == ""  # after the timeline, set apart


def test_reproduction_line_quotes_parametrized_ids(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_p="""
        import pytest

        @pytest.mark.parametrize("who", ["o'hara"])
        def test_p(jobsim, who):
            assert False
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["    pytest 'test_p.py::test_p?o'\\''hara?' --jobsim-seed=0"])


def test_section_is_in_the_tests_time_zone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(tz="America/New_York", start="2025-03-09T01:59:59")
        def test_dst(jobsim):
            jobsim.advance("1s")
            jobsim.send("hello")
            assert False
        """
    )
    result = pytester.runpytest()
    head = "jobsim timeline · America/New_York · seed 0 · profile inngest"
    assert section(result, "test_dst")[3:6] == [
        head,
        "-" * len(head),
        "2025-03-09 03:00:00.000 EDT  event     hello {}",  # 1 s after 01:59:59 EST
    ]


def test_long_timeline_is_shortened_unless_very_verbose(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        def test_busy(jobsim):
            for i in range(100):
                jobsim.send("hello", {"i": i})
            jobsim.advance("1s")
            assert False
        """
    )
    lines = section(pytester.runpytest(), "test_busy")
    assert len(lines) == 3 + 2 + 20 + 1 + 80
    assert lines[25] == "… 200 more entries (-vv shows them all) …"
    assert lines[-1] == "2025-01-01 00:00:00.000 UTC  run       hello#100 completed"
    assert len(section(pytester.runpytest("-vv"), "test_busy")) == 3 + 2 + 300


def test_timeline_option_prints_passing_tests_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_report=FAILING)
    quiet = pytester.runpytest()
    quiet.stdout.no_fnmatch_line("*jobsim timelines*")
    result = pytester.runpytest("--jobsim-timeline")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= jobsim timelines =*",
            "*_ test_passes _*",
            "seed 0 · reproduce with:",
            "    pytest 'test_report.py::test_passes' --jobsim-seed=0",
            "",
            "jobsim timeline · UTC · seed 0 · profile inngest",
            "------------------------------------------------",
            "2025-01-01 00:00:00.000 UTC  event     hello {}",
        ],
        consecutive=True,
    )
    # -rP prints the section of passing tests itself: the summary does not repeat it
    both = pytester.runpytest("--jobsim-timeline", "-rP")
    both.stdout.no_fnmatch_line("*jobsim timelines*")
    both.stdout.fnmatch_lines(["*= PASSES =*", "*_ test_passes _*", "*- jobsim -*"])


# -- seeds, markers, ini ---------------------------------------------------------------------
MARKED = """
import pytest

pytestmark = pytest.mark.jobsim(seed=3, tz="Europe/Paris")

def test_module(jobsim):
    assert (jobsim.seed, str(jobsim.tz)) == ({module_seed}, "Europe/Paris")

@pytest.mark.jobsim(seed=7)
def test_function(jobsim):
    assert (jobsim.seed, str(jobsim.tz)) == ({function_seed}, "Europe/Paris")

@pytest.mark.jobsim(tz="Asia/Tokyo")
class TestClass:
    def test_class(self, jobsim):
        assert (jobsim.seed, str(jobsim.tz)) == ({module_seed}, "Asia/Tokyo")

    @pytest.mark.jobsim(seed=9, tz="UTC")
    def test_method(self, jobsim):
        assert (jobsim.seed, jobsim.tz.tzname(None)) == ({method_seed}, "UTC")
"""


def test_closest_marker_wins_per_keyword(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(MARKED.format(module_seed=3, function_seed=7, method_seed=9))
    pytester.runpytest().assert_outcomes(passed=4)


def test_seed_option_overrides_every_marker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(MARKED.format(module_seed=11, function_seed=11, method_seed=11))
    pytester.runpytest("--jobsim-seed=11").assert_outcomes(passed=4)


def test_seed_option_shows_in_the_reproduction_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_report=FAILING)
    result = pytester.runpytest("--jobsim-seed=42")
    assert section(result, "test_fails")[:2] == [
        "seed 42 · reproduce with:",
        "    pytest 'test_report.py::test_fails' --jobsim-seed=42",
    ]


def test_seed_option_must_be_an_int(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--jobsim-seed=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --jobsim-seed: invalid int value: 'abc'"])


def test_ini_options_are_defaults_that_markers_override(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        jobsim_start = 2025-06-01T09:00:00
        jobsim_tz = Europe/Paris
        jobsim_profile = inngest
        """
    )
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        def test_ini(jobsim):
            assert jobsim.now.isoformat() == "2025-06-01T07:00:00+00:00"  # 09:00 in Paris
            assert (str(jobsim.tz), jobsim.profile.name) == ("Europe/Paris", "inngest")

        @pytest.mark.jobsim(tz="UTC")
        def test_marker(jobsim):
            assert jobsim.now.isoformat() == "2025-06-01T09:00:00+00:00"
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_profile_with_options_in_the_ini_file_and_in_a_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njobsim_profile = agenda(process_every=1s)\n")
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        def test_ini(jobsim):
            assert (jobsim.profile.name, jobsim.profile.poll_ns) == ("agenda(process_every=1s)", 10**9)

        @pytest.mark.jobsim(profile="agenda(process_every=250ms)")
        def test_marker(jobsim):
            assert jobsim.profile.poll_ns == 250 * 10**6
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("jobsim_tz", "Mars/Base",
         "no such IANA time zone; expected e.g. 'America/New_York' or 'UTC'"),
        ("jobsim_start", "yesterday",
         "expected an aware datetime, an ISO 8601 string with an offset or 'Z' "
         "(e.g. '2025-03-01T09:00:00-05:00'), or seconds since the epoch"),
        ("jobsim_profile", "celeryx",
         "one of 'agenda', *'bullmq', *'inngest', 'node-cron', 'quirrel', *'trigger.dev', 'vercel-cron', "
         "'vercel-cron-hobby' (a profile that takes options also as NAME(option=value), e.g. "
         "'agenda(process_every=1s)')*"),  # then "; did you mean 'celery'?" where jobsim-celery is installed
        ("jobsim_profile", "agenda(process_every=0s)",
         "process_every='0s' is not valid: a duration greater than zero in whole milliseconds, such as '5s' "
         "(Agenda's default), '1s' or '500ms' (Agenda's processEvery)"),
    ],
)  # fmt: skip
def test_bad_ini_value_is_a_usage_error_naming_the_key(
    pytester: pytest.Pytester, key: str, value: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{key} = {value}\n")
    pytester.makepyfile("def test_x(): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: jobsim: ini option {key}={value!r} is not valid: {message}"])


PLUGIN_PROFILE = """
import dataclasses

import pytest
from jobsim import App, _plugins, hooks
from jobsim._systems import INNGEST


class Backend:
    @hooks.hookimpl
    def jobsim_profiles(self):
        return [dataclasses.replace(INNGEST, name="acme-queue", description="a backend plugin's profile")]


_plugins.register(Backend(), name="acme-queue")
app = App("a")
app.function("f", on="go")(lambda ctx: None)


@pytest.fixture
def jobsim_app():
    return app
"""


def test_a_backend_plugins_profile_is_a_valid_ini_default(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the ini check knew only the built-in profiles, so `jobsim_profile = celery` (jobsim-celery installed)
    # was a usage error although the marker and Simulation(profile="celery") take it
    monkeypatch.setenv("PYTHONPATH", str(pathlib.Path(jobsim.__file__).parent.parent))  # this jobsim, not another
    pytester.makeini("[pytest]\njobsim_profile = acme-queue\n")
    pytester.makeconftest(PLUGIN_PROFILE)
    pytester.makepyfile("def test_ini(jobsim):\n    assert jobsim.profile.name == 'acme-queue'\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    pytester.makeini("[pytest]\njobsim_profile = acme-queue(every=1s)\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: jobsim: ini option jobsim_profile='acme-queue(every=1s)' is not valid: "
                                 "profile 'acme-queue' has no option 'every'; it takes request_timeout *"])


# -- HTTP requests that matched no route -----------------------------------------------------
@needs_http_sink
def test_unmatched_http_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HTTP_APP)
    pytester.makepyfile(
        """
        import pytest

        def test_unrouted(jobsim):
            jobsim.send("ping")
            jobsim.advance("1s")
            assert jobsim.runs("ping")[0].status == "failed"  # the job saw a ConnectError

        @pytest.mark.jobsim(allow_unmatched_http=True)
        def test_allowed(jobsim):
            jobsim.send("ping")
            jobsim.advance("1s")

        def test_routed(jobsim):
            jobsim.http.post("https://hooks.example.com/x").respond(204)
            jobsim.send("ping")
            jobsim.advance("1s")
            assert jobsim.runs("ping")[0].output == 204
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_unrouted _*",
            "jobsim: 1 HTTP request matched no route (the job got httpx.ConnectError for each):",
            "  POST https://hooks.example.com/x  at 2025-01-01T00:00:00.000Z",
            "Add a route for each, e.g. jobsim.http.post('https://hooks.example.com/x').respond(200).",
            "If the test expects them, mark it @pytest.mark.jobsim(allow_unmatched_http=True).",
            "*- jobsim -*",
            "seed 0 · reproduce with:",
            "    pytest 'test_unmatched_http_fails_the_test_at_teardown.py::test_unrouted' --jobsim-seed=0",
            "",
            "jobsim timeline · UTC · seed 0 · profile inngest",
        ],
        consecutive=True,
    )


@needs_http_sink
def test_unmatched_http_of_a_failing_test_is_in_its_section(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HTTP_APP)
    pytester.makepyfile(
        test_fails="""
        def test_fails(jobsim):
            jobsim.send("ping")
            jobsim.advance("1s")
            assert jobsim.runs("ping")[0].status == "completed"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # no second report at teardown
    assert section(result, "test_fails")[2:6] == [
        "",
        "jobsim: 1 HTTP request matched no route (the job got httpx.ConnectError for each):",
        "  POST https://hooks.example.com/x  at 2025-01-01T00:00:00.000Z",
        "Add a route for each, e.g. jobsim.http.post('https://hooks.example.com/x').respond(200).",
    ]


# -- pytest-xdist and pytest-asyncio ---------------------------------------------------------
DETERMINISM = """
import os
import pathlib

import pytest
import jobsim as J

app = J.App("d")

@app.function("flaky", on="go",
              retries=J.Retries(attempts=4, min="1s", max="1m", jitter="30s"))
def flaky(ctx):
    return ctx.step.run("call", lambda: ctx.attempt)

@pytest.fixture
def jobsim_app():
    return app

@pytest.mark.parametrize("n", [pytest.param(n, marks=pytest.mark.jobsim(seed=n)) for n in range(8)])
def test_jitter(jobsim, n, request):
    jobsim.fail("flaky", step="call", times=3)
    jobsim.send("go", {"n": n})
    jobsim.run_until_idle()
    out = pathlib.Path(os.environ["JOBSIM_OUT"]) / f"{request.node.name}.txt"
    out.write_text(jobsim.timeline() + "\\n" + repr([tuple(r) for r in jobsim.trace]))

def test_fails(jobsim):
    jobsim.fail("flaky", step="call", times=3)
    jobsim.send("go")
    jobsim.run_until_idle()
    assert False
"""


def test_xdist_run_matches_serial_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_det=DETERMINISM)
    runs = {}
    for name, args in {"serial": ["-p", "no:xdist"], "xdist": ["-p", "xdist", "-n", "2"]}.items():
        out = pytester.mkdir(f"out-{name}")
        monkeypatch.setenv("JOBSIM_OUT", str(out))
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(passed=8, failed=1)
        files = {p.name: p.read_text() for p in sorted(out.iterdir())}
        runs[name] = (files, section(result, "test_fails"))
    assert len(runs["serial"][0]) == 8
    traces = {text.rsplit("\n", 1)[1] for text in runs["serial"][0].values()}
    assert len(traces) == 8  # the seed matters: jitter moved the retries
    assert runs["xdist"] == runs["serial"]
    assert any(" retry " in line for line in runs["serial"][1])


def test_async_test_can_drive_async_jobs(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester.makeconftest(
        """
        import asyncio
        import pytest
        import jobsim

        app = jobsim.App("a")

        @app.function("nap", on="nap")
        async def nap(ctx):
            await asyncio.sleep(3600)
            return await ctx.step.run("done", lambda: "rested")

        @pytest.fixture
        def jobsim_app():
            return app
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import datetime as dt
        import pytest

        @pytest.mark.asyncio
        async def test_async(jobsim):
            loop = asyncio.get_running_loop()
            jobsim.send("nap")
            jobsim.advance("3h")
            assert asyncio.get_running_loop() is loop
            [run] = jobsim.runs("nap")
            assert (run.status, run.output) == ("completed", "rested")
            assert run.finished_at - run.started_at >= dt.timedelta(hours=1)
            await asyncio.sleep(0.01)  # the test's own loop still runs in real time
        """
    )
    result = pytester.runpytest("--asyncio-mode=strict")
    result.assert_outcomes(passed=1)


# -- functions= / exclude_functions= -----------------------------------------------------------
SELECT_APP = """
import pytest
import jobsim

app = jobsim.App("acme")

@app.function("send-welcome-email", on="user/created")
def send_welcome_email(ctx):
    return ctx.step.run("send", lambda: "sent")

@app.function("daily-report", cron="0 9 * * *")
def daily_report(ctx):
    return ctx.step.run("build", lambda: "report")

@app.function("checkout", on="cart/checkout")
def checkout(ctx):
    return ctx.step.invoke("charge", function="charge-card")

@app.function("charge-card", on="card/charge")
def charge_card(ctx):
    return "charged"

@pytest.fixture
def jobsim_app():
    return app
"""


def test_the_marker_selects_the_functions_a_test_simulates(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SELECT_APP)
    pytester.makepyfile(
        """
        import pytest
        from conftest import daily_report

        def ran(sim):
            return [(r.function_id, r.started_at.strftime("%H:%M")) for r in sim.runs()]

        @pytest.mark.jobsim(start="2025-03-03T08:00:00Z")
        def test_every_function_by_default(jobsim):
            jobsim.send("user/created")
            jobsim.advance("1d")
            assert ran(jobsim) == [("send-welcome-email", "08:00"), ("daily-report", "09:00")]

        @pytest.mark.jobsim(start="2025-03-03T08:00:00Z", functions=["send-welcome-email"])
        def test_only(jobsim):
            jobsim.send("user/created")
            jobsim.send("cart/checkout")
            jobsim.advance("1d")
            assert ran(jobsim) == [("send-welcome-email", "08:00")]
            assert [e.name for e in jobsim.events] == ["user/created", "cart/checkout"]

        @pytest.mark.jobsim(start="2025-03-03T08:00:00Z", exclude_functions=[daily_report])
        def test_all_but_the_cron_job(jobsim):
            jobsim.send("user/created")
            jobsim.send("cart/checkout")
            jobsim.advance("1d")
            assert ran(jobsim) == [("send-welcome-email", "08:00"), ("checkout", "08:00"), ("charge-card", "08:00")]
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=3)


def test_the_closest_marker_wins_for_functions_and_exclude_functions_together(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SELECT_APP)
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.jobsim(exclude_functions=["daily-report"], seed=5)

        def test_module(jobsim):
            assert (sorted(jobsim.functions), jobsim.seed) == (["charge-card", "checkout", "send-welcome-email"], 5)

        @pytest.mark.jobsim(functions=["checkout", "charge-card"])
        def test_function(jobsim):  # no conflict with the module's exclude_functions: this one replaces it
            assert (sorted(jobsim.functions), jobsim.seed) == (["charge-card", "checkout"], 5)

        @pytest.mark.jobsim(functions=["checkout"])
        class TestClass:
            @pytest.mark.jobsim(exclude_functions=["checkout"])
            def test_method(self, jobsim):
                assert sorted(jobsim.functions) == ["charge-card", "daily-report", "send-welcome-email"]

            def test_class(self, jobsim):
                assert list(jobsim.functions) == ["checkout"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_bad_selections_fail_the_test_naming_the_value_and_the_known_ids(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SELECT_APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(functions=["send-welcome"])
        def test_unknown(jobsim):
            pass

        @pytest.mark.jobsim(functions=["checkout"], exclude_functions=["daily-report"])
        def test_both(jobsim):
            pass

        @pytest.mark.jobsim(functions=[])
        def test_empty(jobsim):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_unknown _*",
            "jobsim: Simulation(jobsim_app, functions=['send-welcome']) failed: functions=['send-welcome'] is not "
            "valid: 'send-welcome' is not among the targets' functions (name them by id, or by the object "
            "@app.function returned); known function ids: 'send-welcome-email', 'daily-report', 'checkout', "
            "'charge-card'",
            "*_ ERROR at setup of test_both _*",
            "jobsim: Simulation(jobsim_app, functions=['checkout'], exclude_functions=['daily-report']) failed: "
            "Simulation() got both functions=['checkout'] and exclude_functions=['daily-report']: give functions= "
            "(the ones to simulate) or exclude_functions= (the ones to leave out), not both",
            "*_ ERROR at setup of test_empty _*",
            "jobsim: Simulation(jobsim_app, functions=[]) failed: functions=[] is not valid: a list of function ids "
            "(str) or functions (what @app.function returns), at least one (leave functions= out, or None, to "
            "simulate every function: 'send-welcome-email', 'daily-report', 'checkout', 'charge-card')",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


def test_an_invoke_of_an_unselected_function_shows_in_the_failing_tests_timeline(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SELECT_APP)
    pytester.makepyfile(
        test_invoke="""
        import pytest

        @pytest.mark.jobsim(functions=["checkout"])
        def test_checkout(jobsim):
            jobsim.send("cart/checkout")
            jobsim.advance("1m")
            assert jobsim.runs("checkout")[0].output == "charged"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    error = ("FunctionNotSimulated: function='charge-card': function 'charge-card' is not simulated, "
             "functions=['checkout'] left it out; add 'charge-card' to functions= to simulate it")  # fmt: skip
    lines = section(result, "test_checkout")
    assert lines[5:7] == [
        "2025-01-01 00:00:00.000 UTC  event     cart/checkout {}",
        "2025-01-01 00:00:00.000 UTC  run       checkout#1 started by cart/checkout",
    ]
    assert lines[7].startswith(f"2025-01-01 00:00:00.000 UTC  attempt   checkout#1 function body attempt 0 failed: "
                               f"{error[:60]}")  # fmt: skip
    assert lines[8].startswith(f"2025-01-01 00:00:00.000 UTC  run       checkout#1 failed: {error[:60]}")
    assert not any(" retry " in line for line in lines)


@needs_http_sink
def test_the_readme_selection_example_runs_and_without_the_marker_the_report_fails_the_test(
        pytester: pytest.Pytester, readme_files) -> None:
    files = readme_files("### pytest plugin")
    assert {"jobs.py", "conftest.py", "test_jobs.py", "conftest.py, with shared routes"} <= set(files)
    pytester.makepyfile(jobs=files["jobs.py"], test_jobs=files["test_jobs.py"])
    pytester.makeconftest(files["conftest.py"])
    pytester.makepyfile(
        test_unmarked="""
        import pytest

        @pytest.mark.jobsim(start="2025-03-03T08:00:00Z")
        def test_welcome_email_unmarked(jobsim):
            jobsim.send("user/created", {"email": "ada@example.com"})
            jobsim.advance("1d")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, errors=1)  # the README's three, and the unmarked one passes then errors
    result.stdout.fnmatch_lines([
        "*_ ERROR at teardown of test_welcome_email_unmarked _*",
        "jobsim: 5 HTTP requests matched no route (the job got httpx.ConnectError for each):",
        "  GET https://analytics.acme.test/api/daily  at 2025-03-03T14:00:00.000Z",  # 09:00 in New York
    ])  # fmt: skip
    # the README's shared-routes conftest keeps the cron job in every test instead
    pytester.makeconftest(files["conftest.py, with shared routes"])
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


def test_a_pytest_before_8_is_refused_up_front_naming_the_upgrade():
    # on pytest 7.4.4 the plugin loaded, and a failing test's jobsim section was an INTERNALERROR
    # ('Config' object has no attribute 'get_verbosity')
    from jobsim.pytest_plugin import _check_pytest

    with pytest.raises(pytest.UsageError) as info:
        _check_pytest("7.4.4")
    assert str(info.value) == ("jobsim's pytest plugin needs pytest 8 or later, and this is pytest 7.4.4: "
                               "pip install -U 'pytest>=8' (or run without the plugin: pytest -p no:jobsim)")
    for version in ("8.0.0", "8.0.0rc1", "9.1.dev3+g1234", pytest.__version__):
        _check_pytest(version)


@pytest.mark.parametrize("autoload", [True, False])
def test_the_plugin_listed_in_pytest_plugins_too_is_the_one_already_loaded(pytester, autoload, monkeypatch):
    """Loaded by its entry point, the module listed again in a conftest's ``pytest_plugins`` was registered a
    second time under its own name: pluggy's ValueError and a dump of every plugin. Without autoload the line
    is what loads it."""
    if autoload:
        monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    else:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest("pytest_plugins = ['jobsim.pytest_plugin']\n" + APP)
    pytester.makepyfile(
        "def test_x(jobsim):\n"
        "    jobsim.send('hello')\n"
        "    jobsim.run_until_idle()\n"
        "    assert [run.status for run in jobsim.runs('hello')] == ['completed']\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*already registered*")


@pytest.mark.parametrize("autoload", [True, False])
def test_the_plugin_named_with_p_is_loaded_once(pytester, autoload, monkeypatch):
    """``-p jobsim.pytest_plugin`` loads the module before pytest loads the entry points, which registered it a
    second time as ``jobsim``: pluggy's ValueError. The entry point's name is blocked instead."""
    if autoload:
        monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    else:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(APP)
    pytester.makepyfile(
        "def test_x(jobsim, pytestconfig):\n"
        "    jobsim.send('hello')\n"
        "    jobsim.run_until_idle()\n"
        "    assert [run.status for run in jobsim.runs('hello')] == ['completed']\n"
        "    assert pytestconfig.pluginmanager.has_plugin('jobsim.pytest_plugin')\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "jobsim.pytest_plugin")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*already registered*")
