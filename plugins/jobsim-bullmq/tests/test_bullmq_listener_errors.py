"""A jobsim error raised in a ``worker.on(...)`` listener stops the test, as a processor's does.

bullmq's ``EventEmitter.emit`` lets a listener's exception out into the worker's own code, which catches it:
``getNextJob``'s ``retryIfFailed`` emits ``error`` and tries again, ``processJob`` goes on. An ``active``
listener calling ``sim.advance`` made the job active, stalled and active again without end (the test hung);
a ``completed`` or ``failed`` one was swallowed and the test went on green.
"""

from __future__ import annotations

import re

import pytest
from bullmq_support import START, run

import jobsim
from jobsim.errors import JobsimError

FROM_JOB_CODE = "sim.advance() was called from job code"
FROM_OWN_CODE = "sim.advance() was called from a worker's own code while no job of it runs"


async def render(job, token):
    return f"invoice-{job.data['order']}.pdf"


async def charge(job, token):
    raise ConnectionError("gateway down")


@pytest.mark.parametrize(("event", "where"), [("active", FROM_OWN_CODE),  # getNextJob: no job's code yet
                                              ("completed", FROM_JOB_CODE)])  # processJob: the job's
def test_a_listener_that_drives_the_simulation_stops_the_test(worker_for, queue, event, where):
    sims = []
    worker = worker_for(render)
    worker.on(event, lambda job, *rest: sims[0].advance("1s"))  # "let the dashboard catch up"
    with jobsim.Simulation(worker, start=START) as sim:
        sims.append(sim)
        run(queue.add("invoice", {"order": "o-1"}))
        with pytest.raises(JobsimError, match="^" + re.escape(where)):
            sim.run_until_idle()
        assert sim.now.strftime("%H:%M:%S") == "00:00:00"


def test_a_failed_listener_that_drives_the_simulation_stops_the_test(worker_for, queue):
    sims = []
    worker = worker_for(charge)
    worker.on("failed", lambda job, error, *rest: sims[0].advance("30s"))
    with jobsim.Simulation(worker, start=START) as sim:
        sims.append(sim)
        run(queue.add("charge", {}, {"attempts": 3, "backoff": 1000}))
        with pytest.raises(JobsimError, match="^" + re.escape(FROM_JOB_CODE)):
            sim.run_until_idle()
        assert len(sim.runs("q")[0].attempts) == 1  # stopped at the first failure, not retried


def test_a_listeners_own_error_goes_to_bullmq_as_before(worker_for, queue):
    errors = []
    worker = worker_for(render)
    worker.on("completed", lambda job, *rest: errors.append("seen") or 1 / 0)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("invoice", {"order": "o-1"}))
        sim.run_until_idle()
        assert errors == ["seen"] and sim.runs("q")[0].status == "completed"


def test_a_queue_events_listener_that_drives_the_simulation_stops_the_test(worker_for, queue):
    from bullmq import QueueEvents

    sims = []
    worker = worker_for(render)
    with jobsim.Simulation(worker, start=START) as sim:
        sims.append(sim)
        events = QueueEvents("q", {"connection": "redis://localhost:6379"})
        events.on("completed", lambda args, entry_id: sims[0].advance("1s"))
        run(queue.add("invoice", {"order": "o-1"}))
        with pytest.raises(JobsimError, match=re.escape("sim.advance() was called")):
            sim.run_until_idle()
        assert sim.runs("q")[0].status == "completed"
