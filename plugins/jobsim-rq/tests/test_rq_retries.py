"""Retries as RQ 3.0.0 makes them: the enqueue-time rule, the returned-Retry rule, timeouts, callbacks."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from rq import Retry, get_current_job
from rq.callbacks import Callback
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException

import jobsim

SECOND = 1_000_000_000

START = "2025-03-01T00:00:00Z"
LOG: list[Any] = []


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()


def fails(label: str) -> None:
    job = get_current_job()
    assert job is not None
    LOG.append(("attempt", label, time.time() - 1740787200, job.get_status(), job.retries_left))
    raise ValueError(f"{label} failed")


def fails_twice(label: str) -> str:
    job = get_current_job()
    assert job is not None
    if job.retries_left != 1:  # Retry(max=3): attempts see retries_left 3, 2, then 1
        raise ValueError("not yet")
    return f"{label} done"


def slow(seconds: float) -> str:
    time.sleep(seconds)
    LOG.append("after sleep")  # never reached when the death penalty fires during the sleep
    return "slept"


def asks_for_retry(label: str) -> Any:
    job = get_current_job()
    assert job is not None
    LOG.append((label, time.time() - 1740787200, job.number_of_retries))
    return Retry(max=4, interval=[10, 30])


def failure_callback(job: Any, connection: Any, typ: type, value: BaseException, tb: Any) -> None:
    LOG.append(("on_failure", time.time() - 1740787200, typ.__name__, str(value), job.retries_left,
                job.get_status(), tb is not None))  # fmt: skip


def success_callback(job: Any, connection: Any, result: Any) -> None:
    LOG.append(("on_success", time.time() - 1740787200, result, job.get_status(), connection is job.connection))


def broken_failure_callback(job: Any, connection: Any, *exc_info: Any) -> None:
    raise RuntimeError("callback broke")


def broken_success_callback(job: Any, connection: Any, result: Any) -> None:
    raise RuntimeError("success callback broke")


def starts(run: jobsim.Run) -> list[float]:
    return [(a.start_ns - run.start_ns) / SECOND for a in run.attempts]


def test_enqueue_time_retry_repeats_the_first_interval(queue):
    """``get_retry_interval``: index = max(len(intervals) - retries_left, 0) (rq/job.py:1760-1773)."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(fails, "x", retry=Retry(max=5, interval=[10, 30, 60]))
        sim.run_until_idle()
        [run] = sim.runs(fails)
        assert run.id == job.id and run.status == "failed"
        assert starts(run) == [0, 10, 20, 30, 60, 120]  # delays 10, 10, 10, 30, 60
        assert [a.number for a in run.attempts] == [0, 1, 2, 3, 4, 5]
        assert [type(a.error) for a in run.attempts] == [ValueError] * 6
        assert [entry[4] for entry in LOG] == [5, 4, 3, 2, 1, 0]
        assert {entry[3] for entry in LOG} == {JobStatus.STARTED}
        assert job.get_status() == JobStatus.FAILED and job.retries_left == 0
        retries = [r for r in sim.trace.records if r.kind == "retry"]
        assert [r.data["delay"] // SECOND for r in retries] == [10, 10, 10, 30, 60]
        assert [r.data["retries_left"] for r in retries] == [4, 3, 2, 1, 0]


def test_a_single_interval_and_the_default_interval(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, "int", retry=Retry(max=2, interval=5))
        queue.enqueue(fails, "zero", retry=Retry(max=2))
        sim.run_until_idle()
    by_label: dict[str, list[float]] = {}
    for _, label, at, *_ in LOG:
        by_label.setdefault(label, []).append(at)
    assert by_label == {"int": [0, 5, 10], "zero": [0, 0, 0]}  # interval 0: re-enqueued at once (rq/job.py:1797-1799)


def test_without_retry_a_failure_is_final(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(fails, "once")
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs(fails)
        assert len(run.attempts) == 1 and run.status == "failed" and isinstance(run.error, ValueError)


def test_a_job_that_succeeds_on_a_retry_finishes(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(fails_twice, "y", retry=Retry(max=3, interval=[1, 2]))
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == "y done"
        [run] = sim.runs(fails_twice)
        assert run.status == "completed" and run.output == "y done"
        assert starts(run) == [0, 1, 2]
        assert job.retries_left == 1


def test_returned_retry_repeats_the_last_interval_and_stops_at_max(queue):
    """``Retry.get_interval``: index = min(len(intervals) - 1, count) (rq/job.py:1957-1981); max checked by
    ``handle_job_retry`` (rq/worker/base.py:1429)."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(asks_for_retry, "r")
        sim.run_until_idle()
        assert [(at, n) for _, at, n in LOG] == [(0, None), (10, 1), (40, 2), (70, 3), (100, 4)]
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs(asks_for_retry)
        assert run.status == "failed" and "maximum retry attempts" in str(run.error)
        retries = [r for r in sim.trace.records if r.kind == "retry"]
        assert [r.data["delay"] // SECOND for r in retries] == [10, 30, 30, 30]


def test_job_timeout_raises_rqs_exception_at_the_deadline_and_counts_as_a_failure(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(slow, 100, job_timeout=30, retry=Retry(max=1, interval=5),
                            on_failure=Callback(failure_callback))  # fmt: skip
        sim.run_until_idle()
        [run] = sim.runs(slow)
        assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == [0, 35]
        assert [(a.end_ns - a.start_ns) // SECOND for a in run.attempts] == [30, 30]
        assert all(type(a.error) is JobTimeoutException for a in run.attempts)
        assert str(run.error) == "Task exceeded maximum timeout value (30 seconds)"
        assert "after sleep" not in LOG
        assert [entry[:5] for entry in LOG] == [
            ("on_failure", 30, "JobTimeoutException", "Task exceeded maximum timeout value (30 seconds)", 1),
            ("on_failure", 65, "JobTimeoutException", "Task exceeded maximum timeout value (30 seconds)", 0),
        ]
        assert job.get_status() == JobStatus.FAILED


def swallows_timeouts(naps: int) -> str:
    for _ in range(naps):
        try:
            time.sleep(100)
        except Exception as exc:  # a broad handler in job code catches RQ's JobTimeoutException too
            LOG.append((type(exc).__name__, time.time() - 1740787200))
    return "done"


def test_the_death_penalty_fires_once(queue):
    """RQ arms ``signal.alarm(timeout)`` once (``rq/timeouts.py:61-70``): job code that catches the
    ``JobTimeoutException`` runs on, unbounded, until it returns. (Each later sleep raised it again, at once.)"""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(swallows_timeouts, 4, job_timeout=150)
        sim.run_until_idle()
        assert LOG == [("JobTimeoutException", 150)]
        [run] = sim.runs(swallows_timeouts)
        assert [(a.end_ns - a.start_ns) // SECOND for a in run.attempts] == [350]  # 100 + 50, then 2 x 100 more
        assert job.get_status() == JobStatus.FINISHED and job.return_value() == "done"


def test_job_timeout_defaults_and_formats(queue):
    """Default 180 s (``Queue.DEFAULT_TIMEOUT``); strings parsed by RQ; -1 is no limit."""
    with jobsim.Simulation(queue, start=START) as sim:
        default = queue.enqueue(slow, 181)
        text = queue.enqueue(slow, 90, job_timeout="1m")
        unlimited = queue.enqueue(slow, 86_400, job_timeout=-1)
        within = queue.enqueue(slow, 179)
        sim.run_until_idle()
        assert [j.get_status() for j in (default, text, unlimited, within)] == [
            JobStatus.FAILED, JobStatus.FAILED, JobStatus.FINISHED, JobStatus.FINISHED]  # fmt: skip
        runs = sim.runs(slow)
        assert [str(r.error) for r in runs[:2]] == ["Task exceeded maximum timeout value (180 seconds)",
                                                   "Task exceeded maximum timeout value (60 seconds)"]  # fmt: skip
        # one worker: each job starts when the previous one ends
        assert [(r.attempts[0].start_ns - runs[0].start_ns) // SECOND for r in runs] == [0, 180, 240, 86_640]


def test_failure_callback_runs_on_every_failed_attempt_with_rqs_arguments(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, "cb", retry=Retry(max=2, interval=[3]), on_failure=Callback(failure_callback))
        sim.run_until_idle()
    callbacks = [entry for entry in LOG if entry[0] == "on_failure"]
    # (job, connection, type, value, traceback), before the retry decision: retries_left not yet decremented
    assert callbacks == [
        ("on_failure", 0, "ValueError", "cb failed", 2, JobStatus.FAILED, True),
        ("on_failure", 3, "ValueError", "cb failed", 1, JobStatus.FAILED, True),
        ("on_failure", 6, "ValueError", "cb failed", 0, JobStatus.FAILED, True),
    ]


def test_a_failing_failure_callback_replaces_the_error(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, "z", on_failure=Callback(broken_failure_callback))
        sim.run_until_idle()
        [run] = sim.runs(fails)
        assert isinstance(run.error, RuntimeError) and str(run.error) == "callback broke"


def test_success_callback_and_a_failing_one(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        good = queue.enqueue(slow, 4, on_success=Callback(success_callback))
        bad = queue.enqueue(slow, 1, on_success=Callback(broken_success_callback), retry=Retry(max=1),
                            on_failure=Callback(failure_callback))  # fmt: skip
        sim.run_until_idle()
        assert good.get_status() == JobStatus.FINISHED
        # raised inside perform_job's try: the job fails (and is retried), the failure callback runs
        assert bad.get_status() == JobStatus.FAILED
        [_, bad_run] = sim.runs(slow)
        assert len(bad_run.attempts) == 2 and str(bad_run.error) == "success callback broke"
    assert LOG[:2] == ["after sleep", ("on_success", 4, "slept", JobStatus.FINISHED, True)]
    failures = [entry[:5] for entry in LOG if isinstance(entry, tuple) and entry[0] == "on_failure"]
    assert failures == [("on_failure", 5, "RuntimeError", "success callback broke", 1),
                        ("on_failure", 6, "RuntimeError", "success callback broke", 0)]  # fmt: skip


def test_a_callback_has_its_own_timeout(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(slow, 1, on_success=Callback(slow_callback, timeout=10))
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs(slow)
        assert type(run.error) is JobTimeoutException and str(run.error).endswith("(10 seconds)")
        assert (run.attempts[0].end_ns - run.attempts[0].start_ns) // SECOND == 11


def slow_callback(job: Any, connection: Any, result: Any) -> None:
    time.sleep(60)


def test_enqueue_at_front_on_retry(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, "front", retry=Retry(max=1, enqueue_at_front=True))
        queue.enqueue(fails, "back-1")
        queue.enqueue(fails, "back-2")
        sim.run_until_idle()
    assert [entry[1] for entry in LOG] == ["front", "front", "back-1", "back-2"]


def test_retry_without_front_goes_to_the_back(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, "first", retry=Retry(max=1))
        queue.enqueue(fails, "second")
        sim.run_until_idle()
    assert [entry[1] for entry in LOG] == ["first", "second", "first"]


def sleeps_then_fails(seconds: int) -> None:
    time.sleep(seconds)
    raise ValueError("after the sleep")


def test_an_immediate_retry_of_a_job_that_spends_time(queue):
    """Interval 0: re-enqueued when the attempt ends (5 s) and taken by the worker then."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(sleeps_then_fails, 5, retry=Retry(max=1))
        sim.advance("3s")
        [run] = sim.runs(sleeps_then_fails)
        assert job.get_status() == JobStatus.STARTED and run.status == "running"
        sim.advance("4s")  # 7 s: the second attempt (5 s to 10 s) is running
        assert job.get_status() == JobStatus.STARTED and run.status == "running"
        sim.advance("3s")
        assert job.get_status() == JobStatus.FAILED and run.status == "failed"
        assert [((a.start_ns - run.start_ns) // SECOND, (a.end_ns - run.start_ns) // SECOND) for a in run.attempts] == [
            (0, 5), (5, 10)]  # fmt: skip


def test_the_same_seed_gives_the_same_trace(queue):
    def story(seed: int) -> list[tuple]:
        with jobsim.Simulation(queue, start=START, seed=seed) as sim:
            queue.enqueue(fails, "s", retry=Retry(max=2, interval=[3, 9]), on_failure=Callback(failure_callback))
            queue.enqueue_in(dt.timedelta(seconds=4), slow, 2)
            sim.run_until_idle()
            return [(r.kind, r.at, sorted(r.data.items())) for r in sim.trace.records]

    assert story(5) == story(5)
    assert story(5) != story(6)  # job ids (and so run ids) follow the seed
