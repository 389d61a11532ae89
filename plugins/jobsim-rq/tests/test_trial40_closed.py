"""An enqueue after the simulation closed: the queue was simulated, so it refuses instead of writing to Redis.

While the simulation runs, RQ's ``Queue`` methods are replaced on the class; at the close RQ's are back, and
``queue.enqueue(...)`` on the same (module-level) queue wrote the job to its real Redis -- where a worker may run
it -- or failed with ``redis.ConnectionError`` after redis-py's retries. Now each queue the simulation ran
refuses (``jobsim_rq/_closed.py``) until ``jobsim_rq.release(queue)``.
"""

from __future__ import annotations

import datetime as dt
import re

import jobsim_rq
import pytest
import redis
import rq_log
from rq import Queue
from rq.job import Job

import jobsim
from jobsim.errors import InvalidArgument, JobsimError

START = "2025-03-01T00:00:00Z"

WRITES = {
    "enqueue_call": lambda q: q.enqueue(rq_log.always_fails),
    "enqueue_at": lambda q: q.enqueue_at(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), rq_log.always_fails),
    "enqueue_at ": lambda q: q.enqueue_in(dt.timedelta(seconds=5), rq_log.always_fails),  # enqueue_in: enqueue_at
    "enqueue_many": lambda q: q.enqueue_many([Queue.prepare_data(rq_log.always_fails)]),
    "enqueue_job": lambda q: q.enqueue_job(Job.create(rq_log.always_fails, connection=q.connection)),
    "empty": lambda q: q.empty(),
    "delete": lambda q: q.delete(),
}


def refusal(queue: Queue, name: str, where: str) -> str:
    return (
        f"RQ queue {queue.name!r} was simulated, and its simulation has closed (<Simulation at "
        f"2025-03-01T00:00:00.000Z seed=0 profile='rq' functions=['rq_log.always_fails'] closed>, started at "
        f"{__file__}:LINE in FUNCTION): Queue.{name} would write to its real Redis ({where}), where a worker "
        "may run the job. Enqueue inside the `with` block; to use this queue with its real Redis after the "
        "simulation, call jobsim_rq.release(queue) first"
    )


def check_refused(queue: Queue, where: str) -> None:
    for name, write in WRITES.items():
        with pytest.raises(JobsimError) as info:
            write(queue)
        message = re.sub(r":\d+ in \w+\)", ":LINE in FUNCTION)", str(info.value))
        assert message == refusal(queue, name.strip(), where), name


def simulate(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(rq_log.always_fails)
        sim.run_until_idle()


@pytest.mark.live
def test_an_enqueue_after_the_close_does_not_reach_the_live_redis(redis_url):
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/15")  # a db of its own, emptied
    client.flushdb()
    queue = Queue("trial40", connection=client)
    try:
        with jobsim.Simulation(queue, start=START) as sim:
            queue.enqueue(rq_log.always_fails)
            sim.run_until_idle()
        check_refused(queue, f"127.0.0.1:{client.connection_pool.connection_kwargs['port']}/15")
        assert client.keys() == []

        jobsim_rq.release(queue)  # the real Redis, on purpose
        job = queue.enqueue(rq_log.always_fails)
        assert client.lrange("rq:queue:trial40", 0, -1) == [job.id.encode()]
    finally:
        client.flushdb()


def test_nothing_connects_either(queue, connects):
    simulate(queue)
    check_refused(queue, "127.0.0.1:1/0")
    assert connects == []


def test_a_queue_a_job_was_enqueued_through_refuses_too(queue, connects):
    """Not given to the simulation (a worker reads its name), but the simulation ran its enqueue."""
    with jobsim.Simulation(jobsim_rq.Worker("default"), start=START) as sim:
        queue.enqueue(rq_log.always_fails)
        sim.run_until_idle()
    with pytest.raises(JobsimError, match=r"^RQ queue 'default' was simulated, and its simulation has closed"):
        queue.enqueue(rq_log.always_fails)
    assert connects == []


def test_a_later_simulation_takes_the_queues_calls(queue):
    simulate(queue)
    with jobsim.Simulation(queue, start=START) as sim:  # given to it
        job = queue.enqueue(rq_log.always_fails)
        sim.run_until_idle()
        assert sim.runs(rq_log.always_fails)[0].id == job.id
    with jobsim.Simulation(jobsim_rq.Worker("default"), start=START) as sim:  # not given: its patches take it
        job = queue.enqueue(rq_log.always_fails)
        sim.run_until_idle()
        assert sim.runs(rq_log.always_fails)[0].id == job.id
    with pytest.raises(JobsimError, match=r"was simulated, and its simulation has closed"):
        queue.enqueue(rq_log.always_fails)


def test_release_wants_a_queue(queue):
    with pytest.raises(InvalidArgument, match=r"^queue=.* is not valid: an rq.Queue"):
        jobsim_rq.release(queue.connection)
