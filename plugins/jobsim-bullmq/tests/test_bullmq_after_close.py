"""A queue a simulation ran refuses bullmq's Redis calls after the simulation closed (they would reach its real
Redis, or hang retrying the connection), until ``jobsim_bullmq.release``; a new simulation of it still runs."""

from __future__ import annotations

import re

import pytest
from bullmq_support import START, run

import jobsim
from jobsim.errors import JobsimError


async def _ok(job, token):
    return job.data


def test_queue_add_after_the_close_is_refused_naming_the_simulation(worker_for, queue, connects):
    worker = worker_for(_ok)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("in-sim", {}))
        sim.run_until_idle()
    line = test_queue_add_after_the_close_is_refused_naming_the_simulation.__code__.co_firstlineno + 2
    message = (r"BullMQ queue 'q' was run by a simulation that has closed \(<Simulation .* closed>, started at "
               rf".*test_bullmq_after_close\.py:{line} in test_queue_add_after_the_close_is_refused_naming_the_"
               r"simulation\): bullmq would send addJob to its real Redis \(127\.0\.0\.1:1/0\)\. Call it inside the "
               r"`with` block, or build the queue anew; to use this queue with its real Redis after the simulation, "
               r"call jobsim_bullmq\.release\(queue\) first$")  # fmt: skip
    with pytest.raises(JobsimError, match=message):
        run(queue.add("after-close", {"order": 42}))
    with pytest.raises(JobsimError, match="bullmq would send getCounts"):
        run(queue.getJobCounts())
    assert connects == []


def test_a_new_simulation_of_the_same_queue_runs_and_release_gives_it_back(worker_for, queue, connects):
    import jobsim_bullmq

    worker = worker_for(_ok)
    for n in range(2):
        with jobsim.Simulation(worker, start=START) as sim:
            job = run(queue.add("again", {"n": n}))
            sim.run_until_idle()
            assert sim.bullmq.state(job.id) == "completed"
    jobsim_bullmq.release(queue)
    assert not [name for name, value in vars(queue.backend).items() if getattr(value, "_jobsim_closed", False)]
    with pytest.raises(jobsim.errors.InvalidArgument, match=re.escape("obj=42")):
        jobsim_bullmq.release(42)


@pytest.mark.parametrize(("call", "name"), [
    (lambda queue: queue.getJobs(["completed"]), "getJobs"),
    (lambda queue: queue.rateLimit(1000), "rateLimit"),
    (lambda queue: queue.setGlobalConcurrency(2), "setGlobalConcurrency"),
    (lambda queue: queue.getGlobalRateLimit(), "getGlobalRateLimit"),
])  # fmt: skip
def test_queue_methods_that_use_the_raw_client_are_refused_after_the_close_too(worker_for, queue, connects, call,
                                                                               name):
    # they skip the backend (queue.client, backend.scripts), so the backend's refusals did not reach them
    worker = worker_for(_ok)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.setGlobalConcurrency(3))  # the only call in the simulation: the queue is noted by it
        sim.run_until_idle()
    with pytest.raises(JobsimError, match=rf"^BullMQ queue 'q' was run by a simulation that has closed .*: bullmq "
                       rf"would send {name} to its real Redis \(127\.0\.0\.1:1/0\)\. "):  # fmt: skip
        run(call(queue))
    assert connects == []


class _Client:
    """A stand-in for a queue's raw redis-py client: what bullmq's own ``getGlobalConcurrency`` reads."""

    async def hget(self, key, field):
        return b"7"


def test_another_queue_keeps_bullmqs_raw_client_methods_and_release_gives_them_back(worker_for, queue, connects):
    import jobsim_bullmq
    from bullmq import Queue

    worker = worker_for(_ok)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("in-sim", {}))
        sim.run_until_idle()
    other = Queue("other", {"connection": "redis://127.0.0.1:1"})
    other.client = _Client()
    assert run(other.getGlobalConcurrency()) == 7  # bullmq's own method, on a queue no simulation ran
    queue.client = _Client()
    with pytest.raises(JobsimError, match="bullmq would send getGlobalConcurrency"):
        run(queue.getGlobalConcurrency())
    jobsim_bullmq.release(queue)
    assert run(queue.getGlobalConcurrency()) == 7
    assert connects == []
