"""A Retry given at enqueue whose interval list is empty: RQ's worker would raise IndexError at the first retry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rq import Queue, Retry, get_current_job

import jobsim

START = "2025-03-01T00:00:00Z"
LOG: list[Any] = []


def fails() -> None:
    raise ValueError("down")


def asks_for_an_immediate_retry() -> Any:
    job = get_current_job()
    assert job is not None
    LOG.append((time.time() - 1740787200, job.number_of_retries))
    return Retry(max=2, interval=[])  # a returned Retry reads [] as 0 s (Retry.get_interval, rq/job.py:1975-1976)


@pytest.mark.parametrize("interval", [[], ()])
def test_an_enqueue_time_retry_with_no_interval_is_refused_at_the_enqueue(queue, interval):
    """``Job.get_retry_interval`` indexes the list (rq/job.py:1772-1773): ``[][0]`` in the work horse."""
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"retry=Retry\(max=2, interval=\[\].*at least one interval"
                           r".*IndexError.*interval=0"):  # fmt: skip
            queue.enqueue(fails, retry=Retry(max=2, interval=interval))
        with pytest.raises(jobsim.InvalidArgument, match="at least one interval"):
            queue.enqueue_in(__import__("datetime").timedelta(seconds=5), fails, retry=Retry(max=1, interval=[]))
        with pytest.raises(jobsim.InvalidArgument, match="at least one interval"):
            queue.enqueue_many([Queue.prepare_data(fails, retry=Retry(max=1, interval=[]))])
        sim.run_until_idle()
        assert sim.runs() == []


def test_a_returned_retry_with_no_interval_still_retries_at_once(queue):
    LOG.clear()
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(asks_for_an_immediate_retry)
        sim.run_until_idle()
    assert LOG == [(0, None), (0, 1), (0, 2)]


def test_a_created_job_with_no_retry_interval_is_refused_at_enqueue_job_with_the_same_message(queue):
    """``Job.create(..., retry=Retry(interval=[]))`` then ``queue.enqueue_job(job)`` went around the enqueue's
    refusal: RQ raised a bare IndexError from ``Job.get_retry_interval`` at the job's first failure."""
    from rq.job import Job

    said = (f"RQ refused the job '{__name__}.fails' on queue 'default': retry=Retry(max=2, interval=[], "
            "enqueue_at_front=False) is not valid: a Retry with at least one interval: RQ takes the job's retry "
            "interval from the list (Job.get_retry_interval, rq/job.py:1760-1773) and raises IndexError at its "
            "first failure on an empty one; Retry(max=..., interval=0) retries at once")  # fmt: skip
    when = __import__("datetime").datetime(2025, 3, 1, 0, 5, tzinfo=__import__("datetime").timezone.utc)
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(jobsim.InvalidArgument) as enqueued:
            queue.enqueue(fails, retry=Retry(max=2, interval=[]))
        for put in (queue.enqueue_job, lambda job: queue.schedule_job(job, when)):
            job = Job.create(fails, connection=queue.connection, retry=Retry(max=2, interval=[]))
            with pytest.raises(jobsim.InvalidArgument) as created:
                put(job)
            assert str(created.value) == str(enqueued.value) == said
        sim.run_until_idle()
        assert sim.runs() == []
