"""A job with a huge ``max_tries`` that keeps raising ``Retry`` stops with a clear budget error, never a hang."""

from __future__ import annotations

import asyncio

import jobsim_arq
import pytest
from arq import create_pool, func
from arq_jobs import NOWHERE, START, always_retry

import jobsim


class Endless:
    functions = (func(always_retry, name="poll", max_tries=10**9),)
    redis_settings = NOWHERE


class Bounded:
    functions = (func(always_retry, name="poll", max_tries=3),)
    redis_settings = NOWHERE


def test_retrying_a_billion_times_stops_at_the_attempt_budget(monkeypatch):
    monkeypatch.setattr(jobsim_arq, "MAX_ATTEMPTS_PER_RUN", 50)
    with jobsim.Simulation(Endless, start=START) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        asyncio.run(pool.enqueue_job("poll"))
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        said = str(info.value)
        assert said.startswith("job 'poll' (id ") and "asked to retry after 50 attempts, the last at " in said
        assert "(a huge max_tries)" in said and "Give it fewer max_tries" in said
        assert "raise jobsim_arq.MAX_ATTEMPTS_PER_RUN (now 50)" in said
        assert len(sim.runs("poll")[0].attempts) == 50


def test_a_run_that_ends_within_the_budget_is_not_stopped(monkeypatch):
    monkeypatch.setattr(jobsim_arq, "MAX_ATTEMPTS_PER_RUN", 3)
    with jobsim.Simulation(Bounded, start=START) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        asyncio.run(pool.enqueue_job("poll"))
        sim.run_until_idle()
        (run,) = sim.runs("poll")
        assert run.status == "failed" and len(run.attempts) == 3


def test_the_budget_is_10_000_attempts():
    assert jobsim_arq.MAX_ATTEMPTS_PER_RUN == 10_000
