"""A job with a huge ``attempts`` stops the simulation with a clear budget error, never a hang."""

from __future__ import annotations

import jobsim_bullmq
import pytest
from bullmq_support import START, run

import jobsim


async def poll(job, token):
    raise ConnectionError("not yet")


def test_retrying_a_billion_times_stops_at_the_attempt_budget(worker_for, queue, monkeypatch):
    monkeypatch.setattr(jobsim_bullmq, "MAX_ATTEMPTS_PER_RUN", 50)
    with jobsim.Simulation(worker_for(poll), start=START) as sim:
        run(queue.add("poll", {}, {"attempts": 10**9, "backoff": {"type": "fixed", "delay": 1000}}))
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        said = str(info.value)
        assert said.startswith("job 'q' (id 1) asked to retry after 50 attempts, the last at ")
        assert "(a huge attempts)" in said and "Give it fewer attempts" in said
        assert "raise jobsim_bullmq.MAX_ATTEMPTS_PER_RUN (now 50)" in said
        assert len(sim.runs("q")[0].attempts) == 50


def test_a_run_that_ends_within_the_budget_is_not_stopped(worker_for, queue, monkeypatch):
    monkeypatch.setattr(jobsim_bullmq, "MAX_ATTEMPTS_PER_RUN", 3)
    with jobsim.Simulation(worker_for(poll), start=START) as sim:
        run(queue.add("poll", {}, {"attempts": 3, "backoff": 1000}))
        sim.run_until_idle()
        (r,) = sim.runs("q")
        assert r.status == "failed" and len(r.attempts) == 3


def test_the_budget_is_10_000_attempts():
    assert jobsim_bullmq.MAX_ATTEMPTS_PER_RUN == 10_000


def test_an_earlier_attempts_error_no_longer_holds_its_job(worker_for, queue):
    """Each attempt's ``Job`` carries the stack trace of every earlier failure (no ``stackTraceLimit``): kept alive
    by each attempt's error (its frames' ``job``), a job retried n times held n(n-1)/2 traces (1.4 GB at 2,000
    attempts). The earlier attempts' errors let their jobs go; their text and traceback stay."""
    import gc
    import weakref

    seen = []

    async def failing(job, token):
        seen.append(weakref.ref(job))
        raise ConnectionError(f"not yet ({job.attemptsMade})")

    with jobsim.Simulation(worker_for(failing), start=START) as sim:
        run(queue.add("poll", {}, {"attempts": 4, "backoff": 1000}))
        sim.run_until_idle()
        (r,) = sim.runs("q")
        gc.collect()
        assert len(seen) == 4 and r.status == "failed"
        assert [ref() is None for ref in seen[:3]] == [True, True, True]
        assert [str(a.error) for a in r.attempts] == [f"not yet ({n})" for n in range(4)]
        for attempt in r.attempts:
            assert attempt.traceback.startswith("Traceback (most recent call last):\n")
            assert 'raise ConnectionError(f"not yet ({job.attemptsMade})")' in attempt.traceback
            assert attempt.traceback.endswith(f"ConnectionError: {attempt.error}\n")
        assert r.error is r.attempts[-1].error


def test_releasing_an_earlier_attempts_error_leaves_a_suspended_generator_running(worker_for, queue):
    """An earlier attempt's error can carry the frame of a generator (or coroutine) that caught it and is still
    suspended: the user's, kept alive. ``frame.clear()`` on it (``traceback.clear_frames``, Python 3.10-3.12)
    closes that generator: the third attempt's ``next(errors)`` raised StopIteration ("coroutine raised
    StopIteration"), the user's generator finalized behind their back."""
    closed = []

    def failures():
        try:
            while True:
                try:
                    raise ConnectionError("down")
                except ConnectionError as exc:
                    yield exc  # suspended here, in the frame that caught exc: a frame of exc's traceback
        finally:
            closed.append(True)

    errors = failures()

    async def failing(job, token):
        raise next(errors)

    with jobsim.Simulation(worker_for(failing), start=START) as sim:
        run(queue.add("poll", {}, {"attempts": 3, "backoff": 1000}))
        sim.run_until_idle()
        (r,) = sim.runs("q")
        assert [str(a.error) for a in r.attempts] == ["down", "down", "down"]
        assert closed == [] and errors.gi_frame is not None


def test_the_last_attempts_error_keeps_its_frames_when_an_earlier_attempts_error_chains_to_it(worker_for, queue):
    """A breaker that re-raises the error that opened it: attempt 1 fails with ``opened``, attempt 2 with an error
    ``from opened``, attempt 3 with ``opened`` again. Releasing attempt 2's error (and its cause) when attempt 3
    ended cleared ``opened``'s frames -- the last attempt's, ``run.error``'s own: its ``job`` local was gone."""
    opened, jobs = [], []

    async def failing(job, token):
        jobs.append(job)
        if job.attemptsMade == 0:
            opened.append(ConnectionError("down"))
            raise opened[0]
        if job.attemptsMade == 1:
            raise RuntimeError("circuit open") from opened[0]
        raise opened[0]

    with jobsim.Simulation(worker_for(failing), start=START) as sim:
        run(queue.add("poll", {}, {"attempts": 3, "backoff": 1000}))
        sim.run_until_idle()
        (r,) = sim.runs("q")
        assert r.status == "failed" and r.error is opened[0]
        tb = r.error.__traceback__
        while tb.tb_frame.f_code is not failing.__code__:
            tb = tb.tb_next
        assert len(jobs) == 3 and tb.tb_frame.f_locals.get("job") is jobs[2]  # the last attempt's frame, whole
