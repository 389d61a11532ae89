"""Live conformance: a failing job with ``Retry(max=3, interval=[1, 2])`` on real RQ and Redis vs the simulation.

Run with the rest of the suite (marker ``live``); skipped, with the reason, when
``redis-server`` is not installed. The worker is RQ's ``SimpleWorker`` with its
scheduler (``work(with_scheduler=True)``) in a subprocess; Redis is started on a free
loopback port and stopped by pid (``conftest.py``).

Checked against the simulation's prediction: the same sequence of attempts and
failure callbacks (the callback runs after *every* failed attempt, retried or not),
the same ``retries_left`` seen by each, the same final status; and the retry interval
RQ chose each time. Real delays are noisy by design: the scheduler scores a job in
whole seconds (``rq/registry.py:650``) and polls once a second (``rq/scheduler.py:62``),
so a real gap between attempts is within ``TOLERANCE`` of the predicted one. The
interval itself is checked exactly: while the job waits, the test reads its score in
the ``ScheduledJobRegistry``; with ``t`` the instant the failure callback ran, the
integer interval ``I`` satisfies ``score <= t + I < score + 1``, which only one
integer does.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
import rq_live_jobs
from rq import Queue, Retry
from rq.callbacks import Callback
from rq.job import Job, JobStatus

import jobsim

SECOND = 1_000_000_000

pytestmark = pytest.mark.live

TOLERANCE = 1.3  # seconds per gap: up to 1 s earlier (whole-second scores), up to 1 s later (the 1 s poll), plus slack
SLACK = 0.2  # seconds between the failure callback and RQ writing the score


def enqueue(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.always_fails, "a", retry=Retry(max=3, interval=[1, 2]),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def predicted() -> tuple[list[dict], Job]:
    import redis

    rq_live_jobs.LOCAL.clear()
    queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(queue, start="2025-03-01T00:00:00Z") as sim:
        job = enqueue(queue)
        sim.run_until_idle()
    return list(rq_live_jobs.LOCAL), job


def observed(redis_url: str, worker) -> tuple[list[dict], Job, dict[float, int]]:
    """The real run's log and final job, and each score the job had in the ScheduledJobRegistry."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        job = enqueue(queue)
        key = queue.scheduled_job_registry.key
        scores: dict[float, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            worker.check()
            score = client.zscore(key, job.id)
            if score is not None:
                scores.setdefault(score, len(scores))
            if job.get_status() in (JobStatus.FAILED, JobStatus.FINISHED):
                break
            time.sleep(0.005)
        time.sleep(0.3)  # nothing more should arrive
        log = [json.loads(raw) for raw in client.lrange(rq_live_jobs.LOG_KEY, 0, -1)]
        job.refresh()
        return log, job, scores
    finally:
        client.close()


def shape(log: list[dict]) -> list[tuple]:
    return [(e["kind"], e["label"], e["retries_left"], e.get("error")) for e in log]


def test_the_simulation_predicts_rqs_retry_intervals():
    log, job = predicted()
    t0 = log[0]["t"]
    attempts = [round(e["t"] - t0, 3) for e in log if e["kind"] == "attempt"]
    # enqueue-time Retry: index = max(len(intervals) - retries_left, 0): 1 (first repeats), 1, 2
    assert attempts == [0, 1, 2, 4]
    assert shape(log) == [
        ("attempt", "a", 3, None), ("on_failure", "a", 3, "ValueError: a failed"),
        ("attempt", "a", 2, None), ("on_failure", "a", 2, "ValueError: a failed"),
        ("attempt", "a", 1, None), ("on_failure", "a", 1, "ValueError: a failed"),
        ("attempt", "a", 0, None), ("on_failure", "a", 0, "ValueError: a failed"),
    ]  # fmt: skip
    assert job.get_status(refresh=False) == JobStatus.FAILED and job.retries_left == 0


def test_the_real_worker_does_what_the_simulation_predicts(redis_url, rq_worker):
    expected, sim_job = predicted()
    real, real_job, scores = observed(redis_url, rq_worker)
    print("observed", real, scores)
    assert shape(real) == shape(expected)
    assert [e["status"] for e in real if e["kind"] == "attempt"] == ["started"] * 4
    assert real_job.get_status() == sim_job.get_status(refresh=False) == JobStatus.FAILED
    assert real_job.retries_left == sim_job.retries_left == 0

    def gaps(log: list[dict]) -> list[float]:
        starts = [e["t"] for e in log if e["kind"] == "attempt"]
        return [b - a for a, b in itertools.pairwise(starts)]

    sim_gaps = gaps(expected)
    assert sim_gaps == [1, 1, 2]
    for real_gap, sim_gap in zip(gaps(real), sim_gaps, strict=True):
        assert abs(real_gap - sim_gap) <= TOLERANCE, (gaps(real), sim_gaps)

    # the interval RQ chose after each retried failure, read from the score it wrote
    failures = [e["t"] for e in real if e["kind"] == "on_failure"][:3]
    intervals = {}
    for score, nth in scores.items():
        t = failures[nth]
        chosen = [i for i in range(0, 10) if score <= t + i + SLACK and t + i < score + 1]
        assert len(chosen) == 1, (score, t, chosen)
        intervals[nth] = chosen[0]
    assert intervals, "the job was never seen waiting in the ScheduledJobRegistry"
    assert all(intervals[n] == round(sim_gaps[n]) for n in intervals), (intervals, sim_gaps)
