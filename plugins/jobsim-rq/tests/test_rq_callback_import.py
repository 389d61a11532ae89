"""A callback RQ cannot import (a typo in its dotted path, a function moved away) is handled where RQ handles it.

RQ stores a callback by name and imports it when it runs it (``Job.success_callback`` /
``failure_callback`` / ``stopped_callback``: ``import_attribute``, ``rq/job.py:540-570``),
inside ``execute_*_callback`` (``rq/callbacks.py:32-77``). So the import error is the
callback's own error: a success callback's fails the job (``perform_job``'s ``try``,
``rq/worker/base.py:1663-1676``), a failure callback's replaces the job's error
(``_finalize_failure``, ``:1634-1638``), a stopped or abandoned job's is logged and
swallowed (``rq/worker/worker_classes.py:160-163``, ``rq/registry.py:302-307``). None of
them may escape the simulated worker and stop the test.
"""

from __future__ import annotations

import time
from typing import Any

from jobsim_rq import Worker
from rq import Retry
from rq.callbacks import Callback
from rq.exceptions import AbandonedJobError
from rq.job import JobStatus
from rq_log import LOG, T0

import jobsim

START = "2025-03-01T00:00:00Z"
MISSING = "rq_log.no_such_callback"  # the module imports; the attribute is not there


def ok(label: str) -> str:
    LOG.append((label, time.time() - T0))
    return label


def boom(label: str) -> None:
    LOG.append((label, time.time() - T0))
    raise ValueError(f"{label} failed")


def slow(label: str, seconds: float) -> None:
    LOG.append((label, "start", time.time() - T0))
    time.sleep(seconds)


def on_failure(job: Any, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    LOG.append(("on_failure", exc_type.__name__, job.retries_left))


def test_a_success_callback_rq_cannot_import_fails_the_job_and_is_retried(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(ok, "a", on_success=Callback(MISSING), on_failure=Callback(on_failure),
                            retry=Retry(max=1, interval=5))  # fmt: skip
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs(ok)
        assert [a.started_at.second for a in run.attempts] == [0, 5]
        assert "no_such_callback" in str(run.error)
    assert [entry[:2] for entry in LOG if entry[0] == "on_failure"] == [("on_failure", "ValueError")] * 2


def test_a_failure_callback_rq_cannot_import_replaces_the_error(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(boom, "b", on_failure=Callback(MISSING))
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs(boom)
        assert type(run.error) is ValueError and "no_such_callback" in str(run.error)


def test_a_stopped_callback_rq_cannot_import_is_swallowed(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(slow, "s", 60, on_stopped=Callback(MISSING))
        sim.rq.stop(job, at="2025-03-01T00:00:10Z")
        sim.run_until_idle()
        assert job.get_status() == JobStatus.STOPPED
        assert sim.runs(slow)[0].status == "cancelled"


def test_an_abandoned_jobs_failure_callback_rq_cannot_import_is_swallowed(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        job = queue.enqueue(slow, "w", 50, on_failure=Callback(MISSING))
        sim.rq.crash_worker(at="2025-03-01T00:00:10Z", function=slow, restart=None)
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        assert type(sim.runs(slow)[0].error) is AbandonedJobError
