"""The test's ``add_job`` only wakes the scheduler, as ``sim.send`` only queues (``jobsim.PendingWorkWarning``).

``scheduler.add_job(report)`` and then ``assert sim.mail.outbox == []`` passed for the wrong reason: the job's
run time had come, but the scheduler's turn that runs it never did, and nothing said so (the other backend
plugins' enqueues warned). Both scheduler kinds: a ``BackgroundScheduler`` wakes through a kernel timer of its
own, an ``AsyncIOScheduler`` through jobsim's event loop.
"""

from __future__ import annotations

import pytest

import jobsim

START = "2025-06-01T00:30:00Z"
NEVER_RAN = r"1 item\(s\) of work due that never ran \(report \(apscheduler job\)\)"


def report() -> str:
    return "sent"


async def report_async() -> str:
    return "sent"


@pytest.fixture(params=["background", "asyncio"])
def kind(request):
    return request.param


@pytest.fixture
def make(scheduler, aio, kind):
    """The scheduler under test, with a job that fires on the hour, and the job function it runs."""
    chosen, job = (scheduler, report) if kind == "background" else (aio, report_async)
    chosen.add_job(job, "cron", minute=0, id="hourly")
    return chosen, job


def test_a_job_the_test_added_due_now_and_never_drove_warns(make):
    scheduler, job = make
    with pytest.warns(jobsim.PendingWorkWarning, match=NEVER_RAN), jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance(0)
        scheduler.add_job(job, id="report")
        assert sim.runs("report") == []  # passes: nothing ran yet


def test_a_job_due_when_the_simulation_starts_and_never_driven_warns(make):
    scheduler, job = make
    scheduler.add_job(job, id="report")  # pending: the simulation starts the scheduler, its run time is now
    with pytest.warns(jobsim.PendingWorkWarning, match=NEVER_RAN), jobsim.Simulation(scheduler, start=START):
        pass


@pytest.mark.parametrize("how", ["driven", "later", "paused", "paused after", "removed"])
def test_a_job_driven_due_later_or_held_back_does_not_warn(quiet, make, how):
    scheduler, job = make
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance(0)
        if how == "driven":
            scheduler.add_job(job, id="report")
            sim.advance(0)
            assert [run.status for run in sim.runs("report")] == ["completed"]
        elif how == "later":  # due later: the test's business, as a delayed sim.send
            scheduler.add_job(job, "date", run_date="2025-06-01T05:00:00Z", id="report")
        elif how == "paused":  # a paused scheduler's turn runs nothing: advance(0) would not run it either
            scheduler.pause()
            scheduler.add_job(job, id="report")
        elif how == "paused after":
            scheduler.add_job(job, id="report")
            scheduler.pause()
        else:
            scheduler.add_job(job, id="report")
            scheduler.remove_job("report")


def test_a_job_that_job_code_adds_is_not_the_tests(quiet, scheduler):
    """Inside a driving call the scheduler's next turn is the simulation's own business."""

    def add_follow_up() -> None:
        scheduler.add_job(report, id="report")

    scheduler.add_job(add_follow_up, "date", run_date="2025-06-01T01:00:00Z", id="adder")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance_to("2025-06-01T01:00:00Z")
        assert [run.status for run in sim.runs("adder")] == ["completed"]
