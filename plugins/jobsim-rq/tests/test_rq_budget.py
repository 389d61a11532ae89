"""A job with a huge ``Retry(max=...)`` stops the simulation with a clear budget error, never a hang."""

from __future__ import annotations

import jobsim_rq
import pytest
from rq import Retry
from rq_log import always_fails, always_returns_retry

import jobsim

START = "2025-03-01T00:00:00Z"


def test_retrying_a_billion_times_stops_at_the_attempt_budget(queue, monkeypatch):
    monkeypatch.setattr(jobsim_rq, "MAX_ATTEMPTS_PER_RUN", 50)
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(always_fails, retry=Retry(max=10**9, interval=1))
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        said = str(info.value)
        assert said.startswith("job 'rq_log.always_fails' (id ")
        assert "asked to retry after 50 attempts, the last at 2025-03-01T00:00:4" in said
        assert "(a huge Retry(max=...), or returning Retry(...))" in said and "a smaller Retry(max=...)" in said
        assert "raise jobsim_rq.MAX_ATTEMPTS_PER_RUN (now 50)" in said
        assert len(sim.runs("rq_log.always_fails")[0].attempts) == 50


def test_a_job_returning_retry_forever_stops_at_the_attempt_budget(queue, monkeypatch):
    monkeypatch.setattr(jobsim_rq, "MAX_ATTEMPTS_PER_RUN", 50)
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(always_returns_retry)
        with pytest.raises(jobsim.BudgetExceeded, match=r"asked to retry after 50 attempts"):
            sim.run_until_idle()
        assert len(sim.runs("rq_log.always_returns_retry")[0].attempts) == 50


def test_a_run_that_ends_within_the_budget_is_not_stopped(queue, monkeypatch):
    monkeypatch.setattr(jobsim_rq, "MAX_ATTEMPTS_PER_RUN", 3)
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(always_fails, retry=Retry(max=2, interval=1))
        sim.run_until_idle()
        (run,) = sim.runs("rq_log.always_fails")
        assert run.status == "failed" and len(run.attempts) == 3


def test_the_budget_is_10_000_attempts():
    assert jobsim_rq.MAX_ATTEMPTS_PER_RUN == 10_000
