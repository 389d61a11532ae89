"""Live conformance of ``Queue.enqueue_many``: the same batch on a real Redis, run by RQ's ``SimpleWorker`` in burst
mode in this process, returns the same jobs in the same order and runs them in the order the simulation predicts."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker

import jobsim

pytestmark = pytest.mark.live

RAN: list[str] = []


def record(label: str) -> None:
    RAN.append(label)


def batch(queue: Queue) -> tuple[Any, list[Any]]:
    first = queue.enqueue(record, "first")
    return first, queue.enqueue_many([
        Queue.prepare_data(record, ("c",), depends_on="id-b", job_id="id-c"),
        Queue.prepare_data(record, ("a",), job_id="id-a"),
        Queue.prepare_data(record, ("b",), depends_on="id-a", job_id="id-b"),
        Queue.prepare_data(record, ("d",), depends_on=first, job_id="id-d", at_front=True),
        Queue.prepare_data(record, ("e",), job_id="id-e", at_front=True),
    ])  # fmt: skip


def outcome(queue: Queue, first: Any, jobs: list[Any]) -> tuple[list[str], list[str], list[str]]:
    ids = [job.id if job.id != first.id else "first" for job in jobs]
    statuses = [str(job.get_status().value) for job in jobs]
    queued = ["first" if job_id == first.id else job_id for job_id in queue.job_ids]
    return ids, statuses, queued


def test_enqueue_many_on_a_real_worker_matches_the_simulation(redis_url):
    RAN.clear()
    with jobsim.Simulation(Queue("default", connection=redis.Redis(host="127.0.0.1", port=1)),
                           start="2025-03-01T00:00:00Z") as sim:  # fmt: skip
        queue = Queue("default", connection=redis.Redis(host="127.0.0.1", port=1))
        first, jobs = batch(queue)
        predicted = outcome(queue, first, jobs)
        sim.run_until_idle()
    predicted_ran, RAN[:] = list(RAN), []

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        queue = Queue("default", connection=client)
        first, jobs = batch(queue)
        assert outcome(queue, first, jobs) == predicted
        SimpleWorker([queue], connection=client).work(burst=True)
        assert RAN == predicted_ran == ["e", "first", "a", "d", "b", "c"]
    finally:
        client.flushdb()
        client.close()
