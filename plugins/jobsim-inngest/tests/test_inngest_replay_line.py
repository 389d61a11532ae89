"""A failing pytest test of inngest-py functions names the module that holds them in its replay line, as a test of a
``jobsim.App`` does: it said ``--app MODULE:APP`` for every inngest-py test, a placeholder to fill."""

from __future__ import annotations

import inngest  # noqa: F401 (imported here, before the in-process inner runs: see below)
import pytest

from jobsim._cli import main as jobsim_main

# An inner run that imported inngest first took it away again when it ended (pytester restores sys.modules), while
# jobsim_inngest kept that run's classes: the next run's fresh inngest.TriggerEvent was then "not valid: inngest.
# TriggerEvent or TriggerCron" (seen under xdist, where this module's tests can be a worker's first use of inngest)

pytest_plugins = ["pytester"]

JOBS = """
import inngest

client = inngest.Inngest(app_id="shop", is_production=False)


@client.create_function(fn_id="charge", trigger=inngest.TriggerEvent(event="invoice/created"))
def charge(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("charge", lambda: "charged")
"""

BILLING = JOBS + """

@client.create_function(fn_id="audit", trigger=inngest.TriggerEvent(event="invoice/created"))
def audit(ctx: inngest.ContextSync) -> str:
    return "logged"


functions = [charge, audit, client]
"""

CONFTEST = """
import pytest

import billing.jobs
import jobs

TARGETS = {
    "one": lambda: [jobs.charge, jobs.client],
    "listed": lambda: [billing.jobs.charge, billing.jobs.audit, billing.jobs.client],
    "unlisted": lambda: [billing.jobs.charge, billing.jobs.audit],
    "part": lambda: [billing.jobs.charge, billing.jobs.client],
}


@pytest.fixture
def jobsim_app(request):
    return TARGETS[request.param]()
"""

TEST = """
import pytest


@pytest.mark.parametrize("jobsim_app", ["one", "listed", "part"], indirect=True)
def test_fails(jobsim):
    jobsim.send("invoice/created", {"id": "in_1"})
    jobsim.run_until_idle()
    assert False
"""


def test_the_replay_line_names_the_module_of_the_inngest_py_functions(pytester, monkeypatch, capsys):
    pytester.makepyfile(jobs=JOBS)
    pytester.mkpydir("billing")
    (pytester.path / "billing" / "jobs.py").write_text(BILLING)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_x=TEST)
    result = pytester.runpytest("--jobsim-trace-dir=traces", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    replays = [line.strip() for line in result.outlines if line.strip().startswith("replay it: jobsim replay")]
    assert [line.split(" --app ")[1] for line in replays] == [
        "jobs.py:charge",  # the one function (a top-level module by its file, as for a jobsim.App)
        "billing.jobs:functions",  # a package's list of them all (and their client)
        "billing.jobs:charge",  # one of the module's functions: that one, not the list, which has another
    ]
    monkeypatch.chdir(pytester.path)
    for line in replays:
        capsys.readouterr()
        assert jobsim_main(line.removeprefix("replay it: jobsim ").split()) == 0, capsys.readouterr().out
        assert "same: " in capsys.readouterr().out


@pytest.mark.parametrize("target", ["unlisted"])
def test_functions_no_attribute_holds_together_keep_the_placeholder(pytester, target):
    pytester.makepyfile(jobs=JOBS)
    pytester.mkpydir("billing")
    (pytester.path / "billing" / "jobs.py").write_text(BILLING.replace("functions = [charge, audit, client]", ""))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_x=TEST.replace('["one", "listed", "part"]', f"[{target!r}]"))
    result = pytester.runpytest("--jobsim-trace-dir=traces", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert any(line.strip().endswith(" --app MODULE:APP") for line in result.outlines)
