"""A job whose ``executor=`` alias the scheduler does not have is removed unrun at its first due time (APScheduler
only logs it): the simulation warns when it closes (``jobsim.UnreadQueueWarning``), as for a queue no worker reads."""

from __future__ import annotations

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def tick():
    return "tick"


def test_a_job_on_a_misspelt_executor_warns_with_the_fix(scheduler):
    scheduler.add_job(tick, "interval", minutes=1, id="t1", executor="defualt")
    scheduler.add_job(tick, "interval", minutes=1, id="ok")
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance("3m")
        assert [(u.queue, u.name, u.id) for u in sim.apscheduler.unconsumed] == [("defualt", "t1", "t1")]
    assert [str(w.message) for w in caught if w.category is jobsim.UnreadQueueWarning] == [
        "jobsim-apscheduler: 1 job(s) (1 of job 't1') were due on executor 'defualt', which the scheduler does not "
        "have (its executors: 'default'; did you mean 'default'?), so APScheduler logged an error and removed them "
        "from the job store, never run. Give the job an executor the scheduler has (add_job(..., executor="
        "'default')), or add one named 'defualt' (scheduler.add_executor(ThreadPoolExecutor(), alias='defualt')); "
        "sim.apscheduler.unconsumed lists them. An executor this test leaves unread on purpose: "
        "sim.leave_unread('defualt')"
    ]


def test_jobs_on_executors_the_scheduler_has_and_one_not_due_yet_do_not_warn(scheduler, quiet):
    scheduler.add_job(tick, "interval", minutes=1, id="ok")
    scheduler.add_job(tick, "interval", minutes=10, id="later", executor="defualt")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance("3m")
        assert sim.apscheduler.unconsumed == [] and len(sim.runs("ok")) == 3


def test_error_filter_turns_it_into_a_failure(scheduler, quiet):
    scheduler.add_job(tick, "interval", minutes=1, id="t1", executor="defualt")
    with pytest.raises(jobsim.PendingWorkWarning, match="executor 'defualt'"), jobsim.Simulation(scheduler) as sim:
        sim.advance("1m")


def test_leave_unread_silences_the_alias(scheduler, quiet):
    scheduler.add_job(tick, "interval", minutes=1, id="t1", executor="defualt")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.leave_unread("defualt")
        sim.advance("1m")


def test_remove_executor_of_an_unknown_alias_is_no_removed_job(scheduler):
    """``scheduler.remove_executor("nope")`` looks the alias up too, and raises ``KeyError`` to the test, as
    APScheduler does: no job was due on it, none was removed, so nothing warns, and the timeline does not say a job
    was removed (before, it said "job '?' is due on executor 'nope' ... removes the job"), even with a job due on
    that alias at that instant, which ``_process_jobs`` then removes, saying so once."""
    scheduler.add_job(tick, "interval", minutes=1, id="ok")
    scheduler.add_job(tick, "date", run_date=START, id="astray", executor="nope")
    with pytest.warns(jobsim.UnreadQueueWarning, match="job\\(s\\) \\(1 of job 'astray'\\)"), jobsim.Simulation(
        scheduler, start=START
    ) as sim:
        with pytest.raises(KeyError):
            scheduler.remove_executor("nope")
        sim.advance("1m")
        assert [u.id for u in sim.apscheduler.unconsumed] == ["astray"] and len(sim.runs("ok")) == 1
    assert [r.data["jobs"] for r in sim.trace if r.kind == "apscheduler.no_executor"] == [["astray"]]
    assert sim.timeline().count("does not exist") == 1
