"""``depends_on``: deferred jobs, released when their dependencies finish (or fail, with allow_failure)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from rq import Retry
from rq.job import Dependency, JobStatus

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
SECOND = 1_000_000_000
ran: list[Any] = []


@pytest.fixture(autouse=True)
def _clear():
    ran.clear()


def step(label: str, seconds: int = 0) -> str:
    ran.append((label, (dt.datetime.now(dt.timezone.utc) - T0).total_seconds()))
    time.sleep(seconds)
    return label


def broken(label: str) -> None:
    ran.append((label, (dt.datetime.now(dt.timezone.utc) - T0).total_seconds()))
    raise RuntimeError(label)


def test_a_chain_runs_when_each_dependency_finishes(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(step, "a", 10)
        b = queue.enqueue(step, "b", 5, depends_on=a)
        c = queue.enqueue(step, "c", depends_on=[a, b])
        queue.enqueue(step, "other")
        assert b.get_status() == c.get_status() == JobStatus.DEFERRED
        assert [r.status for r in sim.runs(step)] == ["queued", "waiting", "waiting", "queued"]
        sim.advance("12s")
        assert b.get_status() == JobStatus.STARTED and c.get_status() == JobStatus.DEFERRED
        sim.run_until_idle()
        assert ran == [("a", 0), ("other", 10), ("b", 10), ("c", 15)]
        assert c.get_status() == JobStatus.FINISHED
        assert "deferred on queue 'default' until" in sim.timeline()


def test_a_finished_dependency_is_met_at_once(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(step, "a")
        sim.advance("1m")
        b = queue.enqueue(step, "b", depends_on=a.id)  # a job id works as well as a Job
        assert b.get_status() == JobStatus.QUEUED
        sim.run_until_idle()
    assert ran == [("a", 0), ("b", 60)]


def test_a_dependent_enqueued_while_its_dependency_runs_waits_for_its_end(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(step, "a", 30)
        sim.advance("10s")
        queue.enqueue(step, "b", depends_on=a)
        sim.run_until_idle()
    assert ran == [("a", 0), ("b", 30)]


def test_a_failed_dependency_keeps_its_dependents_deferred_unless_allowed(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(broken, "a", retry=Retry(max=2, interval=5))
        strict = queue.enqueue(step, "strict", depends_on=a)
        lenient = queue.enqueue(step, "lenient", depends_on=Dependency(jobs=[a], allow_failure=True))
        sim.run_until_idle()
        # dependents wait for the final failure (after two retries), not for the first failed attempt
        assert ran == [("a", 0), ("a", 5), ("a", 10), ("lenient", 10)]
        assert strict.get_status() == JobStatus.DEFERRED and lenient.get_status() == JobStatus.FINISHED
        assert [r.status for r in sim.runs(step)] == ["waiting", "completed"]


def test_dependency_enqueue_at_front(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(step, "a", 5)
        queue.enqueue(step, "back", depends_on=a)
        queue.enqueue(step, "front", depends_on=Dependency(jobs=[a], enqueue_at_front=True))
        queue.enqueue(step, "queued-1")
        queue.enqueue(step, "queued-2", 1)
        sim.run_until_idle()
    # while "a" runs, queued-1 and queued-2 wait; at 5 s "back" joins the end and "front" the front
    assert ran == [("a", 0), ("front", 5), ("queued-1", 5), ("queued-2", 5), ("back", 6)]


def test_a_scheduled_job_ignores_its_dependencies_as_rqs_scheduler_does(queue):
    """``enqueue_at``/``enqueue_in`` build the job with its dependencies but only schedule it
    (``rq/queue.py:1143-1240``); the scheduler moves it with ``_enqueue_job``, which checks none
    (``rq/scheduler.py:267``): it runs at its time even though its dependency failed."""
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(broken, "a")
        b = queue.enqueue_in(dt.timedelta(seconds=5), step, "b", depends_on=a)
        assert b.get_status() == JobStatus.SCHEDULED and b._dependency_ids == [a.id]
        sim.run_until_idle()
        assert ran == [("a", 0), ("b", 5)]
        assert a.get_status() == JobStatus.FAILED and b.get_status() == JobStatus.FINISHED
        assert "deferred" not in sim.timeline()
