"""The pytest plugin used the ways real projects use it: marker levels, leaks, Hypothesis, clocks, trace files.

Each test here pins a fix from a review of the plugin as its users meet it (pytester
runs, like ``tests/test_pytest_plugin.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import tempfile

import pytest
from _reportsection import section

import jobsim
from jobsim._cli import main as jobsim_main

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



# -- which marker is the closest -------------------------------------------------------------
def test_a_parameter_sets_marker_overrides_the_tests_own(pytester: pytest.Pytester) -> None:
    """pytest lists a test's decorators before its pytest.param marks (pytest issue #10406)."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(seed=1, tz="Europe/Paris")
        @pytest.mark.parametrize("seed, tz", [
            (1, "Europe/Paris"),
            pytest.param(5, "Europe/Paris", marks=pytest.mark.jobsim(seed=5)),
            pytest.param(1, "Asia/Tokyo", marks=[pytest.mark.jobsim(tz="Asia/Tokyo")]),
        ])
        def test_p(jobsim, seed, tz):
            assert (jobsim.seed, str(jobsim.tz)) == (seed, tz)
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_subclass_marker_overrides_its_base_classes(pytester: pytest.Pytester) -> None:
    """pytest lists a base class's marks before its subclass's (pytest issue #14329)."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(seed=2, tz="Europe/Paris")
        class TestBase:
            def test_inherited(self, jobsim, request):
                expected = {"TestBase": 2, "TestSub": 11, "TestSubSub": 12}[request.cls.__name__]
                assert (jobsim.seed, str(jobsim.tz)) == (expected, "Europe/Paris")

        class TestSub(TestBase):
            pytestmark = pytest.mark.jobsim(seed=11)

        @pytest.mark.jobsim(seed=12)
        class TestSubSub(TestSub):
            pass
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_two_markers_at_one_level_giving_an_option_two_values_fail_naming_both(pytester: pytest.Pytester) -> None:
    """Which of two stacked markers is "closer" pytest does not define consistently (#7597): jobsim does not guess."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(seed=4)
        @pytest.mark.jobsim(seed=3)
        def test_stacked(jobsim):
            pass

        @pytest.mark.jobsim(seed=3, start="2025-03-01T00:00:00Z")
        @pytest.mark.jobsim(seed=3, tz="Asia/Tokyo")
        def test_stacked_agreeing(jobsim):  # the same value twice, other options merged
            assert (jobsim.seed, str(jobsim.tz), jobsim.now.day) == (3, "Asia/Tokyo", 1)

        class TestList:
            pytestmark = [pytest.mark.jobsim(tz="UTC"), pytest.mark.jobsim(tz="Europe/Paris")]

            def test_listed(self, jobsim):
                pass

            @pytest.mark.jobsim(tz="Asia/Tokyo")
            def test_overridden(self, jobsim):  # the class's markers are wrong for every test of it
                pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")  # the lines below come in the file's order
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_stacked _*",
            "jobsim: two @pytest.mark.jobsim markers on test_stacked give seed= different values, 3 and 4; keep one "
            "(a marker closer to the test overrides one farther out: pytest.param(marks=...), then the test, "
            "its class, its module)",
            "*_ ERROR at setup of TestList.test_listed _*",
            "jobsim: two @pytest.mark.jobsim markers on class TestList give tz= different values, 'UTC' and "
            "'Europe/Paris'; keep one*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_markers_a_conftest_hook_adds_are_defaults_the_tests_own_override(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        APP
        + """
def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.jobsim(tz="Asia/Tokyo", seed=8))
"""
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jobsim(tz="Europe/Paris")
        def test_own(jobsim):
            assert (str(jobsim.tz), jobsim.seed) == ("Europe/Paris", 8)

        def test_default(jobsim):
            assert (str(jobsim.tz), jobsim.seed) == ("Asia/Tokyo", 8)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_marker_on_a_test_without_the_fixture_warns_that_it_does_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP + "\n@pytest.fixture\ndef orders(jobsim):\n    return jobsim\n")
    pytester.makepyfile(
        """
        import pytest
        import jobsim
        from conftest import app

        pytestmark = pytest.mark.jobsim(tz="Europe/Paris")  # a module's marker: no warning for its other tests

        @pytest.mark.jobsim(seed=3)
        def test_own_simulation():
            with jobsim.Simulation(app) as sim:
                assert sim.seed == 0

        @pytest.mark.jobsim(seed=3)
        def test_through_a_fixture(orders):
            assert orders.seed == 3

        @pytest.mark.jobsim(seed=4)
        def test_through_getfixturevalue(request):  # the marker is used: no warning
            assert request.getfixturevalue("jobsim").seed == 4

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_a_marker_on_a_test_without_the_fixture_warns_that_it_does_nothing.py:7: PytestWarning: "
            "jobsim: @pytest.mark.jobsim on test_own_simulation does nothing: the test does not use the `jobsim` "
            "fixture, and the marker only configures that fixture's simulation (a Simulation the test builds "
            "itself takes its options as arguments: jobsim.Simulation(app, seed=3))",
            "*1 warning*",
        ]
    )



def test_the_unused_marker_warning_shows_the_markers_own_options_as_simulation_arguments(
        pytester: pytest.Pytester) -> None:
    # it used to show `jobsim.Simulation(app, seed=3)` whatever the marker said
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest
        import jobsim
        from conftest import app

        @pytest.mark.jobsim(seed=1, tz="Europe/Paris", allow_unmatched_http=True)
        def test_own_simulation():
            with jobsim.Simulation(app) as sim:
                assert sim.seed == 0

        @pytest.mark.jobsim(allow_unmatched_http=True)
        def test_no_simulation_option():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*on test_own_simulation does nothing: *takes its options as arguments: "
            "jobsim.Simulation(app, tz='Europe/Paris', seed=1))",
            "*on test_no_simulation_option does nothing: *takes its options as arguments: "
            "jobsim.Simulation(app, seed=3))",
        ]
    )


def test_a_marker_on_a_test_whose_jobsim_fixture_is_the_projects_own_warns(pytester: pytest.Pytester) -> None:
    """A project fixture named `jobsim` that never requests the plugin's: the marker was ignored without a word."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_shop="""
        import pytest
        import jobsim as js

        shop = js.App("shop")
        shop.function("f", on="x")(lambda ctx: None)

        @pytest.fixture
        def jobsim():
            with js.Simulation(shop, seed=9) as sim:
                yield sim

        @pytest.mark.jobsim(seed=3)
        def test_shadowed(jobsim):
            assert jobsim.seed == 9
        """,
        test_layers="""
        import pytest

        @pytest.fixture
        def jobsim(jobsim):  # the documented override: builds on the plugin's, no warning
            return jobsim

        @pytest.mark.jobsim(seed=3)
        def test_layered(jobsim):
            assert jobsim.seed == 3
        """,
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*test_shop.py:12: PytestWarning: jobsim: @pytest.mark.jobsim on test_shadowed does nothing: the "
        "`jobsim` fixture this test gets is the one defined at test_shop.py:7, which does not request "
        "jobsim's own, and the marker only configures jobsim's. Rename that fixture, or build it on jobsim's: "
        "`def jobsim(jobsim): ...` receives the plugin's simulation, marker applied",
        "*1 warning*",
    ])

# -- Hypothesis ------------------------------------------------------------------------------
def test_a_given_test_using_the_fixture_fails_at_setup_naming_the_strategy_to_use(pytester: pytest.Pytester) -> None:
    pytest.importorskip("hypothesis")
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest
        from hypothesis import HealthCheck, given, settings, strategies as st

        @given(st.integers())
        def test_shares(jobsim, n):
            pass

        @pytest.mark.jobsim(profile="bullmq", start="2025-03-01T00:00:00Z", functions=["hello"], max_chain=50,
                            random_streams="shared")
        @given(st.integers())
        def test_shares_marked(jobsim, n):
            pass

        @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=5)
        @given(st.integers())
        def test_shares_on_purpose(jobsim, n):
            jobsim.send("hello")
            jobsim.run_until_idle()
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=2)
    # the test's marker options, which the strategy takes too: the suggestion left them out (max_chain= and
    # random_streams= too, until simulations() took them)
    result.stdout.fnmatch_lines([
        "    @given(sim=js.simulations(app, start='2025-03-01T00:00:00Z', profile='bullmq', functions=[[]'hello'], "
        "max_chain=50, random_streams='shared'), ...)",
        "    def test_shares_marked(sim, ...):",
    ], consecutive=True)  # fmt: skip
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_shares _*",
            "jobsim: test_shares is a Hypothesis @given test, and the `jobsim` fixture is one simulation for the "
            "whole test: every example would share it (its clock only moves forward, its runs and outbox pile up). "
            "Draw a fresh simulation for each example instead:",
            "",
            "    from jobsim import strategies as js",
            "",
            "    @given(sim=js.simulations(app), ...)",
            "    def test_shares(sim, ...):",
            "        with sim:",
            "            ...",
            "",
            "(To share one simulation across the examples after all, suppress Hypothesis's "
            "HealthCheck.function_scoped_fixture.)",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*FailedHealthCheck*")
    result.stdout.no_fnmatch_line("*- jobsim -*")  # no seed or timeline of a simulation that never was


def test_a_marker_on_a_given_test_without_the_fixture_points_to_the_strategy(pytester: pytest.Pytester) -> None:
    """The warning showed `jobsim.Simulation(app, ...)`: built in a @given test, one simulation per example is
    what js.simulations() draws, with every one of the marker's options."""
    pytest.importorskip("hypothesis")
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
        import pytest
        from hypothesis import given, settings
        from jobsim import strategies as js
        from conftest import app

        @pytest.mark.jobsim(seed=1, max_chain=50, random_streams="shared")
        @settings(max_examples=2, database=None)
        @given(sim=js.simulations(app))
        def test_draws(sim):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*PytestWarning: jobsim: @pytest.mark.jobsim on test_draws does nothing: the test does not use the `jobsim` "
        "fixture, and the marker only configures that fixture's simulation (the simulations a @given test draws "
        "take them as arguments: js.simulations(app, seed=1, max_chain=50, random_streams='shared'))",
    ])  # fmt: skip


# -- a simulation left running -----------------------------------------------------------------
def test_a_simulation_a_test_leaves_running_is_closed_and_named(pytester: pytest.Pytester) -> None:
    """Left running, it held its app: every later test simulating it failed, far from the cause."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_leak="""
        import pytest
        import jobsim
        from conftest import app

        @pytest.fixture(scope="module")
        def shared():
            with jobsim.Simulation(app, seed=8) as sim:  # outlives each test on purpose: not a leak
                yield sim

        def test_leaks():
            sim = jobsim.Simulation(app, seed=3).start()
            sim.send("hello")

        def test_fixture_after_it(jobsim):
            jobsim.send("hello")
            jobsim.run_until_idle()

        def test_own_after_it():
            with jobsim.Simulation(app):
                pass

        def test_shared_once(shared):
            shared.send("hello")

        def test_shared_twice(shared):
            shared.run_until_idle()
            assert len(shared.runs("hello")) == 1
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=5, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "test_leak.py::test_leaks",
            "  test_leak.py:10: PytestWarning: jobsim: test_leaks never closed the simulation it started, "
            "<Simulation at 2025-01-01T00:00:00.000Z seed=3 profile='inngest' functions=['hello'] running>; "
            "jobsim closed it after the test. A running one keeps its apps, so every later test simulating them "
            "would fail with 'already running in another simulation'. Close it in the test: "
            "`with jobsim.Simulation(app) as sim:` or `sim.close()`.",
        ]
    )


def test_under_w_error_each_warning_is_that_tests_error_and_the_session_goes_on(pytester: pytest.Pytester) -> None:
    """Warned at collection or after the protocol, ``-W error`` made them an INTERNALERROR that ended the run."""
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_w="""
        import pytest
        import jobsim
        from conftest import app

        @pytest.mark.jobsim(seed=3)
        def test_marked_without_the_fixture():
            pass

        def test_leaks():
            jobsim.Simulation(app).start()

        def test_after(jobsim):
            pass
        """
    )
    result = pytester.runpytest("-W", "error::pytest.PytestWarning", "-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_marked_without_the_fixture _*",
            "E   pytest.PytestWarning: jobsim: @pytest.mark.jobsim on test_marked_without_the_fixture does nothing: *",
            "*_ ERROR at teardown of test_leaks _*",
            "E   pytest.PytestWarning: jobsim: test_leaks never closed the simulation it started, *",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


# -- the test's own freezegun or time-machine ---------------------------------------------------
CLOCK_APP = """
import datetime as dt
import time
import pytest
import jobsim

app = jobsim.App("c")

@app.function("clock", on="clock")
def clock(ctx):
    time.sleep(5)
    return ctx.step.run("read", lambda: [dt.datetime.now(dt.timezone.utc).isoformat(), time.time()])

@pytest.fixture
def jobsim_app():
    return app
"""


def test_the_tests_own_frozen_or_travelled_clock_around_driving_calls(pytester: pytest.Pytester) -> None:
    """time-machine refused to start under freezegun: every driving call raised from deep inside jobsim."""
    pytest.importorskip("freezegun")
    pytester.makeconftest(CLOCK_APP)
    pytester.makepyfile(
        """
        import datetime as dt
        import freezegun
        import pytest
        import time_machine

        VIRTUAL = ["2025-01-01T00:00:05+00:00", 1735689605.0]
        FROZEN = dt.datetime(2030, 6, 1, tzinfo=dt.timezone.utc)

        @pytest.mark.jobsim(start="2025-01-01T00:00:00Z")
        def test_freezegun(jobsim):
            with freezegun.freeze_time("2030-06-01"):
                jobsim.send("clock")
                jobsim.advance("1m")
                assert dt.datetime.now(dt.timezone.utc) == FROZEN  # the test's frozen time, back after the call
            assert jobsim.runs("clock")[0].output == VIRTUAL

        @pytest.mark.jobsim(start="2025-01-01T00:00:00Z")
        @freezegun.freeze_time("2030-06-01", tick=True)
        def test_freezegun_ticking_decorator(jobsim):
            jobsim.send("clock")
            jobsim.run_until_idle()
            assert jobsim.runs("clock")[0].output == VIRTUAL

        @pytest.mark.jobsim(start="2025-01-01T00:00:00Z")
        def test_time_machine(jobsim, time_machine):
            time_machine.move_to(FROZEN, tick=False)
            jobsim.send("clock")
            jobsim.advance("1m")
            assert dt.datetime.now(dt.timezone.utc) == FROZEN
            assert jobsim.runs("clock")[0].output == VIRTUAL
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_anyio_tests_on_both_backends_drive_async_jobs(pytester: pytest.Pytester) -> None:
    pytest.importorskip("anyio")
    pytest.importorskip("trio")
    pytester.makeconftest(
        """
        import asyncio
        import pytest
        import jobsim

        app = jobsim.App("a")

        @app.function("nap", on="nap")
        async def nap(ctx):
            await asyncio.sleep(30)
            return await ctx.step.run("done", lambda: "rested")

        @pytest.fixture
        def jobsim_app():
            return app

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
        """
    )
    pytester.makepyfile(
        """
        import datetime as dt
        import pytest

        @pytest.mark.anyio
        @pytest.mark.jobsim(start="2025-01-01T00:00:00Z")
        async def test_nap(jobsim):
            jobsim.send("nap")
            jobsim.run_until_idle()
            [run] = jobsim.runs("nap")
            assert (run.status, run.output) == ("completed", "rested")
            # the replay runs the 30 s sleep again before the memoized step: 60 s in all
            assert run.finished_at == dt.datetime(2025, 1, 1, 0, 1, tzinfo=dt.timezone.utc)
        """
    )
    pytester.runpytest("-p", "anyio").assert_outcomes(passed=2)


def test_a_missing_attribute_of_the_fixture_shows_the_tests_line_not_jobsims(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile("def test_x(jobsim):\n    jobsim.timeout('1s')\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [">       jobsim.timeout('1s')", "E       AttributeError: *`from jobsim import timeout`"]
    )
    result.stdout.no_fnmatch_line("*def __getattr__*")


def test_with_on_the_fixture_says_it_is_started_already(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile("def test_x(jobsim):\n    with jobsim as sim:\n        pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E *jobsim.errors.JobsimError: this simulation is running already: use it as it is (the `jobsim` "
         "fixture's is started for the test and closed after it, as `jobsim run` starts the one it gives "
         "jobsim_traffic), or create a new Simulation for another run"]
    )  # fmt: skip


def test_a_seed_option_out_of_range_is_one_usage_error_not_one_error_per_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile("def test_a(jobsim): pass\n\ndef test_b(jobsim): pass\n")
    result = pytester.runpytest(f"--jobsim-seed={1 << 64}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*argument --jobsim-seed: 18446744073709551616: a seed is an int within 64 bits, -2**63 to 2**64 - 1"]
    )
    pytester.runpytest(f"--jobsim-seed={(1 << 64) - 1}").assert_outcomes(passed=2)  # the bound itself is a seed


# -- --jobsim-trace-dir ----------------------------------------------------------------------------
FAILING = "def test_fails(jobsim):\n    jobsim.send('hello')\n    jobsim.run_until_idle()\n    assert False\n"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("afile", "{root}/afile is a file, not a folder; give a folder (made when the first test fails)"),
        ("afile/traces", "{root}/afile is a file, not a folder; give a folder (made when the first test fails)"),
        ("", "is empty; give the folder to save failing tests' traces in"),
    ],
    ids=["a-file", "under-a-file", "empty"],
)
def test_a_trace_dir_that_cannot_be_made_is_a_usage_error_before_any_test(
    pytester: pytest.Pytester, given: str, problem: str
) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(FAILING)
    (pytester.path / "afile").write_text("not a folder")
    result = pytester.runpytest(f"--jobsim-trace-dir={given}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: jobsim: --jobsim-trace-dir={given!r}*" + problem.format(root=pytester.path)])


def test_a_trace_dir_nobody_can_write_in_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(FAILING)
    locked = pytester.mkdir("locked")
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: object, **kwargs: object) -> str:
        if kwargs.get("dir") == str(locked):
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)  # as root, chmod would not stop it
    result = pytester.runpytest_inprocess("--jobsim-trace-dir=locked/traces")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: jobsim: --jobsim-trace-dir='locked/traces': cannot make a folder in {locked} (Permission denied); "
         "give a folder you can write in"]
    )  # fmt: skip
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_trace_dir_where_even_root_cannot_make_folders_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """os.access said root could write in /proc: the first failing test's trace was lost instead."""
    pytester.makeconftest(APP)
    pytester.makepyfile(FAILING)
    result = pytester.runpytest("--jobsim-trace-dir=/proc/jobsim-traces")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: jobsim: --jobsim-trace-dir='/proc/jobsim-traces': cannot make a folder in "
                                 "/proc (*); give a folder you can write in"])


def test_a_trace_dir_under_home_and_outside_the_run_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``--jobsim-trace-dir=~/traces`` is not expanded by the shell (it follows ``=``); a folder
    outside the one pytest ran in is shown whole, not as ``../../..``."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    pytester.makeconftest(APP)
    pytester.makepyfile(test_x=FAILING)
    result = pytester.runpytest("--jobsim-trace-dir=~/traces")
    result.assert_outcomes(failed=1)
    saved = home / "traces" / "test_x.py--test_fails.jobsim.jsonl"
    assert section(result, "test_fails")[2] == f"trace saved to {saved}"
    assert saved.exists() and not (pytester.path / "~").exists()


def test_the_replay_line_names_the_module_of_the_app_and_replays(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        jobs="""
        import jobsim

        app = jobsim.App("t")

        @app.function("hello", on="hello")
        def hello(ctx):
            return ctx.step.run("greet", lambda: "hi")
        """
    )
    pytester.mkpydir("shop")
    (pytester.path / "shop" / "jobs.py").write_text(
        "import jobsim\n\nshop_app = jobsim.App('shop')\n\n"
        "@shop_app.function('order', on='order')\ndef order(ctx):\n    return 1\n"
    )
    pytester.makeconftest(
        """
        import pytest
        import jobs
        import shop.jobs

        @pytest.fixture
        def jobsim_app(request):
            return {"jobs": jobs.app, "shop": shop.jobs.shop_app, "both": [jobs.app, shop.jobs.shop_app]}[request.param]
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.parametrize("jobsim_app", ["jobs", "shop", "both"], indirect=True)
        def test_fails(jobsim):
            jobsim.send("hello")
            jobsim.run_until_idle()
            assert False
        """
    )
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=3)
    replays = {test: section(result, f"test_fails\\[{test}\\]")[3] for test in ("jobs", "shop", "both")}
    assert replays["jobs"].endswith(" --app jobs.py:app")
    assert replays["shop"].endswith(" --app shop.jobs:shop_app")  # a package's module: by its dotted name
    assert replays["both"].endswith(" --app MODULE:APP")  # two apps: the user says which module holds both
    command = replays["jobs"].split("replay it: jobsim ")[1].split()
    monkeypatch.chdir(pytester.path)
    capsys.readouterr()
    assert jobsim_main(command) == 0, capsys.readouterr().out
    assert "same: 1 function(s)" in capsys.readouterr().out


def test_wall_clock_nesting_under_freezegun_moves_with_every_execution() -> None:
    """The nested freezegun factory follows each job's own virtual time, not only the first."""
    freezegun = pytest.importorskip("freezegun")
    app = jobsim.App("n")
    seen: list[str] = []

    @app.function("tick", on="tick")
    def tick(ctx: jobsim.Context) -> None:
        seen.append(dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S.%f"))

    with freezegun.freeze_time("2030-06-01"), jobsim.Simulation(app, start="2025-01-01T00:00:00Z") as sim:
        sim.send("tick")
        sim.advance("1s")
        sim.send("tick")
        sim.advance_to("2025-01-01T00:00:02.250Z")
        sim.send("tick")
        sim.run_until_idle()
        assert dt.datetime.now() == dt.datetime(2030, 6, 1)
    assert seen == ["00:00:00.000000", "00:00:01.000000", "00:00:02.250000"]


def test_a_run_that_never_simulates_loads_no_backend_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watching for leaked simulations must not build jobsim's plugin manager at startup: that imports every
    installed backend plugin (jobsim-celery imports Celery), 130-180 ms here, in runs that simulate nothing."""
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            from jobsim import _plugins
            assert _plugins._manager is None, "the plugin manager was built"
            assert "celery" not in sys.modules
            print("NOTHING LOADED")
        """
    )
    pytester.makepyfile("def test_plain():\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", str(pathlib.Path(jobsim.__file__).parent.parent))  # this jobsim, not another
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*NOTHING LOADED*"])


def test_the_plugin_is_the_only_module_that_imports_pytest() -> None:
    """STYLE.md: pytest is wrapped in one place (the marker merging in ``_markers.py`` reads nodes by attribute)."""
    package = pathlib.Path(jobsim.__file__).parent
    pattern = re.compile(r"^\s*(from|import) _?pytest\b", re.M)
    assert sorted(p.name for p in package.glob("*.py") if pattern.search(p.read_text())) == ["pytest_plugin.py"]


def test_a_failing_doctests_reproduction_line_collects_it(pytester: pytest.Pytester) -> None:
    """The line lacked --doctest-modules (or the text file's --doctest-glob): run as printed, it found nothing."""
    pytester.makeconftest(APP)
    doc = '''
    >>> sim = getfixture("jobsim")
    >>> _ = sim.send("hello"); sim.run_until_idle()
    >>> sim.runs("hello")[0].output
    'bye'
    '''
    pytester.makepyfile(shop=f'def greet():\n    """{doc}"""\n')
    pytester.maketxtfile(guide=doc)
    result = pytester.runpytest("--doctest-modules", "--doctest-glob=guide.txt")
    result.assert_outcomes(failed=2)
    lines = [line.strip() for line in result.outlines if "--jobsim-seed=0" in line]
    assert lines == ["pytest 'guide.txt::guide.txt' --jobsim-seed=0 --doctest-glob='guide.txt'",
                     "pytest 'shop.py::shop.greet' --jobsim-seed=0 --doctest-modules"]
    for line in lines:  # as printed, from where pytest ran: the doctest runs again (and fails again)
        args = [arg.strip("'") for arg in line.split()[1:]]
        pytester.runpytest(*args).assert_outcomes(failed=1)


def test_jobsims_modules_stay_one_copy_after_a_pytester_test_loaded_them_first(pytester: pytest.Pytester) -> None:
    """pytester gives each test back the sys.modules it started with: the HTTP sink's modules, loaded by a
    pytester test's first simulation, were imported again by a later test while `jobsim.delayed` and the package
    kept the first copy. `delayed` then found "no simulation", and an aiohttp timeout was recorded as jobsim's
    internal `Abandoned` (this repository's README test failed after any pytester test in its xdist worker)."""
    aiohttp = pytest.importorskip("aiohttp")
    if not hasattr(aiohttp, "SocketTimeoutError"):
        pytest.skip(f"aiohttp {aiohttp.__version__} calls it ServerTimeoutError")
    pytester.makepyfile(
        """
        import aiohttp
        import jobsim

        pytest_plugins = ["pytester"]
        app = jobsim.App("quotes")

        @app.function("quote", on="quote", retries=0)
        async def quote(ctx):
            timeout = aiohttp.ClientTimeout(total=30, sock_read=5)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get("https://fedex.example.com/q"):
                pass

        def test_first_simulation_of_the_process(pytester):
            with jobsim.Simulation(app):
                pass

        def test_later():
            with jobsim.Simulation(app) as sim:
                sim.http.get("https://fedex.example.com/q").mock(side_effect=jobsim.delayed("1m", 200))
                sim.send("quote")
                sim.run_until_idle()
            assert [type(call.error).__name__ for call in sim.http.calls] == ["SocketTimeoutError"]
        """
    )
    pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_pytesters_inner_sessions_run_in_the_files_order(pytester: pytest.Pytester) -> None:
    """The root conftest's ``quiet_inner_runs``: pytest-randomly, where installed, shuffled inner sessions too
    (only there can this fail), and tests matching an inner run's lines in order failed in some orders only."""
    tests = "".join(f"def test_{i:02}():\n    ORDER.append({i})\n\n\n" for i in range(20))
    pytester.makepyfile(f"ORDER = []\n\n\n{tests}def test_last():\n    assert ORDER == list(range(20))\n")
    pytester.runpytest().assert_outcomes(passed=21)
