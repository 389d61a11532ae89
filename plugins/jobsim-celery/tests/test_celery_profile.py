"""The ``celery`` profile for plain jobsim functions, and how a Celery app picks it."""

from __future__ import annotations

import itertools

import jobsim

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
