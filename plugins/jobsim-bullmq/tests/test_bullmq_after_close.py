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
