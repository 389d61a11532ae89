"""Stopping a running job: ``send_stop_job_command`` and ``on_stopped``, as RQ 3.0.0's (forking) worker does.

``handle_stop_job_command`` kills the work horse of the job the worker is running
(``rq/command.py``, ``Worker.kill_horse``); ``_handle_stopped_job`` runs ``on_stopped`` and
``handle_job_failure`` marks the job ``stopped`` with no retry (``rq/worker/worker_classes.py:139-166``,
``rq/worker/base.py:734-798``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import redis
from rq import Queue, Retry, get_current_job
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation
from rq.job import Dependency, Job, JobStatus
from rq_log import LOG, SECOND, START, T0

import jobsim
from jobsim.errors import UnsupportedFeature


def export(label: str) -> str:
    LOG.append((label, "fetch", time.time() - T0))
    time.sleep(3)
    LOG.append((label, "render", time.time() - T0))  # never reached when stopped at 2 s
    time.sleep(3)
    return "exported"


def stops_itself(label: str) -> str:
    job = get_current_job()
    assert job is not None
    LOG.append((label, "start", time.time() - T0))
    time.sleep(1)
    send_stop_job_command(job.connection, job.id)  # reaches the worker now; the horse dies as it goes on
    LOG.append((label, "sent", time.time() - T0))
    try:
        time.sleep(5)
    except Exception:
        LOG.append((label, "caught"))  # a killed process runs no handler: HorseKilled is no Exception
    LOG.append((label, "after", time.time() - T0))
    return "done"


def stops_another(job_id: str) -> None:
    send_stop_job_command(Queue("default", connection=redis.Redis(port=1)).connection, job_id)


def on_stopped(job: Any, connection: Any) -> None:
    LOG.append(("on_stopped", time.time() - T0, job.get_status(refresh=False), connection is job.connection))


def on_failure(job: Any, connection: Any, *exc_info: Any) -> None:
    LOG.append(("on_failure", time.time() - T0))


def broken_on_stopped(job: Any, connection: Any) -> None:
    raise RuntimeError("stopped callback broke")


def note(label: str) -> None:
    LOG.append((label, time.time() - T0))


def test_a_planned_stop_kills_the_job_at_its_instant(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(export, "e", retry=Retry(max=3, interval=1), on_stopped=Callback(on_stopped),
                            on_failure=Callback(on_failure))  # fmt: skip
        after = queue.enqueue(note, "next")
        sim.rq.stop(job, at="2025-03-01T00:00:02Z")
        sim.advance("1s")
        assert job.get_status() == JobStatus.STARTED
        sim.run_until_idle()
        # killed 2 s in, during the first sleep: no "render", no failure callback, no retry
        assert LOG == [("e", "fetch", 0), ("on_stopped", 2, JobStatus.STARTED, True), ("next", 2)]
        assert job.get_status() == JobStatus.STOPPED and job.is_stopped and job.retries_left == 3
        assert after.get_status() == JobStatus.FINISHED  # the worker is free at the kill
        [run] = sim.runs(export)
        assert run.status == "cancelled" and run.end_ns == (T0 + 2) * SECOND and len(run.attempts) == 1
        assert str(run.attempts[0].error) == "Job stopped by user, work-horse terminated."
        text = sim.timeline()
        assert f"{__name__}.export#1 stopped: stop-job killed its work horse" in text
        assert f"run       {__name__}.export#1 cancelled" in text


def test_send_stop_job_command_from_the_job_itself(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(stops_itself, "s", on_stopped=Callback(broken_on_stopped))
        sim.run_until_idle()
    # the command is sent at 1 s; the next sleep crosses it and the horse dies there
    assert LOG == [("s", "start", 0), ("s", "sent", 1)]
    assert job.get_status(refresh=False) == JobStatus.STOPPED  # a raising on_stopped is logged and swallowed
    assert sim.runs(stops_itself)[0].end_ns == (T0 + 1) * SECOND


def test_a_stop_for_a_job_the_worker_is_not_running_is_ignored(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        waiting = queue.enqueue(note, "waiting")
        with pytest.raises(InvalidJobOperation, match="Job is not currently executing"):
            send_stop_job_command(queue.connection, waiting.id)  # RQ's own check: no worker_name yet
        sim.run_until_idle()
        send_stop_job_command(queue.connection, waiting.id)  # it ran: the worker is not running it now
        planned = queue.enqueue_in(dt.timedelta(seconds=10), export, "late")
        sim.rq.stop(planned, at="2025-03-01T00:00:05Z")  # it starts at 10 s: ignored at 5 s
        queue.enqueue(stops_another, waiting.id)  # from job code: the worker is running the sender
        sim.run_until_idle()
        assert waiting.get_status() == JobStatus.FINISHED and planned.get_status() == JobStatus.FINISHED
        assert sim.timeline().count("ignored: the worker is not running it") == 3


def test_a_stop_after_the_body_already_ran_is_refused_not_ignored(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(export, "late")
        sim.advance("2s")
        assert job.get_status() == JobStatus.STARTED
        with pytest.raises(UnsupportedFeature, match=r"running since .* sim\.rq\.stop\(job, at="):
            send_stop_job_command(queue.connection, job.id)
        with pytest.raises(UnsupportedFeature, match="nothing can stop it part-way now"):
            sim.rq.stop(job)
        with pytest.raises(jobsim.InvalidArgument, match="in the past"):
            sim.rq.stop(job, at="2025-03-01T00:00:01Z")
        with pytest.raises(jobsim.InvalidArgument, match="job="):
            sim.rq.stop("no-such-job")


def test_a_stopped_job_goes_to_failed_ttl_and_keeps_its_dependents_deferred(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(export, "e", failure_ttl=60)
        child = queue.enqueue(note, "child", depends_on=Dependency(jobs=[job], allow_failure=True))
        sim.rq.stop(job.id, at="2025-03-01T00:00:01Z")
        sim.run_until_idle()
        assert child.get_status() == JobStatus.DEFERRED  # stopped is neither finished nor failed
        assert Job.fetch(job.id, connection=queue.connection) is job
        sim.advance("60s")
        with pytest.raises(InvalidJobOperation, match="failure_ttl=60"):
            job.get_status()


def test_other_worker_commands_are_refused(queue):
    from rq.command import send_shutdown_command

    with jobsim.Simulation(queue, start=START), pytest.raises(UnsupportedFeature, match="'shutdown' is not simulated"):
        send_shutdown_command(queue.connection, "jobsim-rq")


def test_a_stop_or_crash_planned_after_the_simulation_closed_is_refused_not_silently_dropped(queue):
    """Nothing runs after the close: sim.rq.stop(...) and sim.rq.crash_worker(...) were accepted and did nothing."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(export, "a")
        sim.run_until_idle()
    later = "2025-03-01T01:00:00Z"
    with pytest.raises(jobsim.JobsimError, match=r"sim\.rq\.stop\(\) needs a simulation that is not closed"):
        sim.rq.stop(job, at=later)
    with pytest.raises(jobsim.JobsimError, match=r"sim\.rq\.crash_worker\(\) needs a simulation that is not closed"):
        sim.rq.crash_worker(at=later)
    with pytest.raises(jobsim.JobsimError, match=r"sim\.crash_worker\(\) needs a simulation that is not closed"):
        sim.crash_worker(at=later)
