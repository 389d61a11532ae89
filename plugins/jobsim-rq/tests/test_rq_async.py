"""``async def`` job functions: RQ runs them with ``asyncio.run`` (rq/job.py:1540-1541); here on virtual time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rq import Retry, get_current_job
from rq.callbacks import Callback
from rq.job import JobStatus
from rq_log import LOG, SECOND, START, T0

import jobsim


async def waits(label: str, seconds: float) -> str:
    job = get_current_job()
    assert job is not None
    LOG.append((label, "start", time.time() - T0, job.get_status(refresh=False)))
    await asyncio.sleep(seconds)
    LOG.append((label, "woke", time.time() - T0))
    return f"{label} waited {seconds}"


async def fans_out() -> list[float]:
    async def one(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return time.time() - T0

    return list(await asyncio.gather(one(3), one(1), one(2)))  # concurrent: 3 s in all, not 6


async def sleeps_blocking(seconds: float) -> float:
    time.sleep(seconds)  # a blocking call in async code still spends virtual time
    await asyncio.sleep(0)
    return time.time() - T0


async def overruns(label: str) -> None:
    LOG.append((label, "start", time.time() - T0))
    try:
        await asyncio.sleep(10)
        LOG.append((label, "woke", time.time() - T0))  # never: the death penalty fires at 2 s
    finally:
        LOG.append((label, "finally", time.time() - T0))


async def bounded_wait() -> str:
    try:
        await asyncio.wait_for(asyncio.sleep(60), timeout=5)
    except asyncio.TimeoutError:
        return f"gave up at {time.time() - T0}"
    return "slept"


def on_failure(job: Any, connection: Any, typ: type, value: BaseException, tb: Any) -> None:
    LOG.append(("on_failure", time.time() - T0, typ.__name__, str(value), job.retries_left))


async def async_callback(job: Any, connection: Any, result: Any) -> None:
    LOG.append("never awaited")


def test_asyncio_sleep_spends_virtual_time_and_keeps_the_worker_busy(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        real = time.monotonic()
        first = queue.enqueue(waits, "a", 30)
        second = queue.enqueue(waits, "b", 5)
        sim.advance("10s")
        assert first.get_status() == JobStatus.STARTED and sim.runs(waits)[0].status == "running"
        assert second.get_status() == JobStatus.QUEUED  # one worker, busy with the first job for 30 s
        sim.run_until_idle()
        assert time.monotonic() - real < 10  # no real sleeping (was 35 s of it); generous: 2 shared CI cores
        assert LOG == [("a", "start", 0, JobStatus.STARTED), ("a", "woke", 30),
                       ("b", "start", 30, JobStatus.STARTED), ("b", "woke", 35)]  # fmt: skip
        runs = sim.runs(waits)
        assert [(a.start_ns - runs[0].start_ns, a.end_ns - runs[0].start_ns) for r in runs for a in r.attempts] == [
            (0, 30 * SECOND), (30 * SECOND, 35 * SECOND)]  # fmt: skip
        assert first.return_value() == "a waited 30" and second.get_status() == JobStatus.FINISHED
        assert sim.now_ns() == (T0 + 35) * SECOND


def test_concurrent_sleeps_overlap_and_blocking_sleep_counts(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        gathered = queue.enqueue(fans_out)
        blocking = queue.enqueue(sleeps_blocking, 4)
        bounded = queue.enqueue(bounded_wait)
        sim.run_until_idle()
        assert gathered.return_value() == [3, 1, 2]  # each child woke at its own virtual instant
        assert blocking.return_value() == 7  # started at 3 s, time.sleep(4)
        assert bounded.return_value() == "gave up at 12.0"  # asyncio.wait_for's 5 s timeout, virtual too


def test_job_timeout_fires_at_the_virtual_deadline_inside_an_async_job(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(overruns, "t", job_timeout=2, retry=Retry(max=1, interval=3),
                            on_failure=Callback(on_failure))  # fmt: skip
        sim.run_until_idle()
    error = "Task exceeded maximum timeout value (2 seconds)"
    # asyncio.run's clean-up cancels the job's task: its finally runs, at the deadline
    expected = [("t", "start", 0), ("t", "finally", 2), ("on_failure", 2, "JobTimeoutException", error, 1),
                ("t", "start", 5), ("t", "finally", 7), ("on_failure", 7, "JobTimeoutException", error, 0)]  # fmt: skip
    assert expected == LOG
    run = sim.runs(overruns)[0]
    assert [((a.start_ns - run.start_ns) // SECOND, (a.end_ns - run.start_ns) // SECOND) for a in run.attempts] == [
        (0, 2), (5, 7)]  # fmt: skip
    assert run.status == "failed" and job.get_status(refresh=False) == JobStatus.FAILED


def test_a_coroutine_callback_is_refused_as_rq_refuses_it(queue):
    """``execute_success_callback`` raises TypeError for a coroutine function (``rq/callbacks.py:37-38``)
    inside ``perform_job``'s try: the job fails."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(waits, "c", 1, on_success=Callback(async_callback))
        sim.run_until_idle()
    assert job.get_status(refresh=False) == JobStatus.FAILED
    assert str(sim.runs(waits)[0].error) == "Coroutine success callbacks are not supported"
    assert "never awaited" not in LOG


async def cleans_up(label: str) -> None:
    try:
        LOG.append((label, "start", time.time() - T0))
        await asyncio.sleep(10)
    finally:
        LOG.append((label, "finally", time.time() - T0))
        await asyncio.sleep(1)  # a dead horse runs nothing more: this await is where it ends
        LOG.append((label, "cleaned", time.time() - T0))


def test_a_stopped_async_job_never_runs_again_and_the_outer_loop_is_kept(queue):
    async def in_an_async_test() -> Any:
        outer = asyncio.get_running_loop()
        with jobsim.Simulation(queue, start=START) as sim:
            killed = queue.enqueue(cleans_up, "killed")
            sim.rq.stop(killed, at="2025-03-01T00:00:02Z")
            timed_out = queue.enqueue(cleans_up, "timed out", job_timeout=3)
            sim.run_until_idle()
        assert asyncio.get_running_loop() is outer  # the test's own loop is running again
        return killed, timed_out

    killed, timed_out = asyncio.run(in_an_async_test())
    # the killed job's task is closed at the kill: nothing of it runs during the next job; after a
    # timeout asyncio.run's clean-up goes on (SIGALRM fires once)
    assert LOG == [("killed", "start", 0), ("killed", "finally", 2), ("timed out", "start", 2),
                   ("timed out", "finally", 5), ("timed out", "cleaned", 6)]  # fmt: skip
    assert killed.get_status(refresh=False) == JobStatus.STOPPED
    assert timed_out.get_status(refresh=False) == JobStatus.FAILED


def test_perform_outside_the_worker_uses_real_asyncio(queue):
    from rq.job import Job

    job = Job.create(waits, args=("d", 0), connection=queue.connection)
    with jobsim.Simulation(queue, start=START):
        assert job.perform() == "d waited 0"  # not a simulated job: RQ's own asyncio.run
