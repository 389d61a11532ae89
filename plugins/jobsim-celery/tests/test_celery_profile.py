"""The ``celery`` profile for plain jobsim functions, and how a Celery app picks it."""

from __future__ import annotations

import itertools
import re

import celery
import pytest

import jobsim

pytest_plugins = ["pytester"]

START = "2025-03-01T00:00:00Z"


def test_a_celery_app_runs_under_the_celery_profile(app):
    @app.task(name="t")
    def t():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        assert sim.profile.name == "celery"


def test_plain_functions_under_the_profile_retry_only_when_asked_then_every_180s():
    japp = jobsim.App("plain")
    japp.function("once", on="go")(lambda ctx: 1 / 0)
    japp.function("thrice", on="go", retries=jobsim.Retries(attempts=3))(lambda ctx: 1 / 0)
    with jobsim.Simulation(japp, start=START, profile="celery") as sim:
        sim.send("go")
        sim.run_until_idle()
        assert len(sim.runs("once")[0].attempts) == 1
        gaps = [int((b.started_at - a.started_at).total_seconds())
                for a, b in itertools.pairwise(sim.runs("thrice")[0].attempts)]  # fmt: skip
        assert gaps == [180, 180]


def test_jobsim_profiles_celery_prints_the_profiles_rules(capsys):
    from jobsim._cli import main

    assert main(["profiles", "celery"]) == 0
    out = capsys.readouterr().out
    assert "(no documentation)" not in out  # what it printed
    assert "``celery/app/task.py``: ``default_retry_delay = 3 * 60``" in out


def test_the_profiles_fault_kinds_are_those_a_simulation_of_celery_tasks_accepts(app):
    """The profile declared no fault kinds, so ``js.faults(profile="celery")`` drew downtimes and duplicate
    deliveries, which a simulation of Celery tasks refuses: a property over "any fault" failed on the refusal."""
    from jobsim.testing import accepted_fault_kinds, check_fault_kinds

    @app.task(name="send")
    def send():
        return 1

    check_fault_kinds(lambda: jobsim.Simulation(app, start=START), "send")
    assert accepted_fault_kinds(lambda: jobsim.Simulation(app, start=START), "send") == ("fail", "crash")


def _billing(app):
    @app.task(name="bill", shared=False, bind=True, autoretry_for=(ConnectionError,), max_retries=3,
              default_retry_delay=60)
    def bill(self):
        raise ConnectionError("down")

    return bill


def test_a_profile_that_is_not_celerys_is_refused_for_a_celery_app_alone(app):
    # it was accepted and only a label: sim.profile.name was "node-cron" while the task retried on Celery's rules
    _billing(app)
    with pytest.raises(jobsim.InvalidArgument) as excinfo:
        jobsim.Simulation(app, start=START, profile="node-cron")
    assert re.sub(r" at 0x[0-9a-f]+", "", str(excinfo.value)) == (
        "profile='node-cron' cannot apply to the target <Celery tests>: a Celery app runs on Celery's rules "
        "whatever the profile (profiles choose the rules of jobsim.App functions, and there are none here: "
        "simulate it under 'celery', its own)")
    with jobsim.Simulation(app, start=START, profile="celery") as sim:
        assert sim.profile.name == "celery"


def test_with_jobsim_app_functions_too_the_profile_is_theirs_and_the_task_keeps_celerys_retries(app):
    bill = _billing(app)
    japp = jobsim.App("plain")
    japp.function("sweep", cron="*/5 * * * *")(lambda ctx: 1 / 0)
    with jobsim.Simulation(app, japp, start=START, profile="node-cron") as sim:
        assert sim.profile.name == "node-cron"
        bill.delay()
        sim.advance("6m")
    assert [len(run.attempts) for run in sim.runs("sweep")] == [1]  # node-cron: no retries
    attempts = sim.runs(bill)[0].attempts
    assert [int((b.started_at - a.started_at).total_seconds()) for a, b in itertools.pairwise(attempts)] == [60] * 3


def test_compare_gives_a_profile_that_is_not_celerys_a_row_saying_why_and_leaves_celerys_own_tasks_out():
    # every profile's row was the same Celery run, each listing celery.chord_unlock & co. with no runs
    def build():
        app = celery.Celery("shop", broker="redis://127.0.0.1:1/0", set_as_current=False)
        _billing(app)
        return app

    def play(sim):
        sim.functions["bill"].options["native"].delay()
        sim.run_until_idle()

    scenario = jobsim.Scenario(name="celery-retries", description="four attempts 60 s apart", build=build,
                               play=play, start=START)
    result = jobsim.compare(scenario, profiles=["celery", "node-cron"])
    assert result.table() == "\n".join([
        "celery-retries: four attempts 60 s apart",
        "(times in UTC, seed 0)",
        "profile    runs  done  failed  lost  dupes  emails  first done  last done",
        "---------  ----  ----  ------  ----  -----  ------  ----------  ---------",
        "celery        1     0       1     0      0       0  -           -",
        "node-cron  unsupported: a Celery app runs on Celery's rules whatever the profile (profiles choose the rules "
        "of jobsim.App functions, and there are none here: simulate it under 'celery', its own)",
    ])
    assert result.of("node-cron").function == "bill" and not result.of("node-cron").supported
    assert len(result.of("celery").simulation.runs("bill")[0].attempts) == 4


def test_the_ini_profile_is_left_out_for_a_celery_app_a_markers_is_refused(pytester: pytest.Pytester) -> None:
    """``jobsim_profile = bullmq`` in the ini is the project's default for its jobsim.App functions: a test of a
    Celery app alone runs on Celery's rules, as before; a marker's ``profile=`` is the test's own, refused."""
    pytester.makeini("[pytest]\njobsim_profile = bullmq\njobsim_start = 2025-03-01T00:00:00Z\n")
    pytester.makepyfile(test_inner_celery_ini="""
import celery
import pytest

app = celery.Celery("shop", set_as_current=False)

@app.task(name="t.ping", shared=False)
def ping():
    return "pong"

@pytest.fixture
def jobsim_app():
    return app

def test_ini(jobsim):
    ping.delay()
    jobsim.run_until_idle()
    assert jobsim.profile.name == "celery" and jobsim.runs("t.ping")[0].output == "pong"

@pytest.mark.jobsim(profile="node-cron")
def test_marker(jobsim):
    pass
""")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*Simulation(jobsim_app*profile='node-cron'*) failed: profile='node-cron' cannot "
                                 "apply to the target*"])  # fmt: skip
