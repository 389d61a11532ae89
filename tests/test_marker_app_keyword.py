"""``@pytest.mark.jobsim(app=app)``, the first guess of many users, says where the app goes instead.

Without a ``jobsim_app`` fixture the marker's ``app=`` went unmentioned (the advice read as if the user had given
nothing); with one, the marker's ``app`` was an unknown option listed beside the accepted ones, with no word on
where the app is chosen."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MODULE = """
import pytest
import jobsim

app = jobsim.App("shop")

@app.function("hello", on="x/y")
def hello(ctx):
    return 1

@pytest.mark.jobsim({keyword}=app, seed=3)
def test_marked(jobsim):
    pass
"""

ADVICE = ("the app to simulate is not a marker option: it comes from a fixture named jobsim_app (in conftest.py, "
          "or in a test module for that module's tests) returning it")


@pytest.mark.parametrize("keyword", ["app", "targets"])
def test_a_marker_given_the_app_without_a_jobsim_app_fixture(pytester: pytest.Pytester, keyword: str) -> None:
    pytester.makepyfile(test_marker_app_no_fixture=MODULE.format(keyword=keyword))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        f"jobsim: @pytest.mark.jobsim({keyword}=...) does not choose what to simulate (the marker takes "
        "Simulation's options only); instead, the `jobsim` fixture needs to know what to simulate: define a "
        "fixture named jobsim_app in conftest.py *",
        "    def jobsim_app():",
    ])  # fmt: skip
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


def test_a_marker_given_the_app_beside_a_jobsim_app_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef jobsim_app():\n    from test_marker_app_fixture "
                          "import app\n    return app\n")  # fmt: skip
    pytester.makepyfile(test_marker_app_fixture=MODULE.format(keyword="app"))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"jobsim: @pytest.mark.jobsim got unknown option(s) app; it accepts *; {ADVICE}"])


def test_other_unknown_options_get_no_app_advice(pytester: pytest.Pytester) -> None:
    fixture = "@pytest.fixture\ndef jobsim_app():\n    return app\n\n@pytest.mark.jobsim"
    pytester.makepyfile(test_marker_app_other=MODULE.format(keyword="sede").replace("@pytest.mark.jobsim", fixture))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["jobsim: @pytest.mark.jobsim got unknown option(s) sede (did you mean seed=?)*"])
    result.stdout.no_fnmatch_line("*not a marker option*")
