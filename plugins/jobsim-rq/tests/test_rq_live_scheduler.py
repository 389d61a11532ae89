"""Live conformance of the scheduler's order: jobs due in the same whole second are queued by job id (the
``ScheduledJobRegistry`` is a sorted set: ``ZRANGEBYSCORE`` returns equal scores by member), not in the order
they were scheduled. A real Redis and RQ's ``SimpleWorker`` in burst mode with its scheduler, in this process."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import redis
from rq import Queue, SimpleWorker

import jobsim

pytestmark = pytest.mark.live

RAN: list[str] = []


def record(label: str) -> None:
    RAN.append(label)


def schedule_three(queue: Queue, second: dt.datetime) -> None:
    """Three jobs due in ``second``, scheduled in the order c, a, b (c asked for the latest instant)."""
    for label, micros in (("c", 900_000), ("a", 0), ("b", 500_000)):
        queue.enqueue_at(second.replace(microsecond=micros), record, label, job_id=f"id-{label}")


def test_jobs_due_in_the_same_second_are_queued_by_id_on_a_real_scheduler(redis_url):
    RAN.clear()
    with jobsim.Simulation(Queue("default", connection=redis.Redis(host="127.0.0.1", port=1)),
                           start="2025-03-01T00:00:00Z") as sim:  # fmt: skip
        schedule_three(Queue("default", connection=redis.Redis(host="127.0.0.1", port=1)),
                       dt.datetime(2025, 3, 1, 0, 0, 5, tzinfo=dt.timezone.utc))  # fmt: skip
        sim.run_until_idle()
    predicted, RAN[:] = list(RAN), []

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        queue = Queue("default", connection=client)
        second = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=2)
        schedule_three(queue, second)
        assert len(queue.scheduled_job_registry) == 3
        time.sleep(max(0.0, (second - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.1)
        SimpleWorker([queue], connection=client).work(burst=True, with_scheduler=True)  # enqueues due jobs, runs them
        assert RAN == predicted == ["a", "b", "c"]
    finally:
        client.flushdb()
        client.close()
