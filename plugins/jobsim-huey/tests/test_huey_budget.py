"""A task with a huge ``retries`` stops the simulation with a clear budget error, never a hang."""

from __future__ import annotations

import jobsim_huey
import pytest
from huey_support import START

import jobsim


def test_retrying_a_billion_times_stops_at_the_attempt_budget(redis_huey, monkeypatch):
    monkeypatch.setattr(jobsim_huey, "MAX_ATTEMPTS_PER_RUN", 50)

    @redis_huey.task(retries=10**9, retry_delay=1)
    def poll():
        raise ConnectionError("not yet")

    with jobsim.Simulation(redis_huey, start=START) as sim:
        poll()
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        said = str(info.value)
        assert said.startswith("task 'poll' (id ") and "asked to retry after 50 attempts, the last at " in said
        assert "(a huge retries)" in said and "Give it fewer retries" in said
        assert "raise jobsim_huey.MAX_ATTEMPTS_PER_RUN (now 50)" in said
        assert len(sim.runs(poll)[0].attempts) == 50


@pytest.mark.parametrize(("raised", "named"), [("RetryTask(delay=30)", "RetryTask"),
                                               ("CancelExecution(retry=True)", "CancelExecution(retry=True)")])
def test_a_task_kept_retrying_by_retrytask_names_it_as_the_cause(redis_huey, monkeypatch, raised, named):
    """retries=2 and a body raising RetryTask: Huey adds 1 to task.retries each time, so fewer retries (the
    generic advice) cannot end it; the budget error says what does."""
    from huey.exceptions import CancelExecution, RetryTask

    monkeypatch.setattr(jobsim_huey, "MAX_ATTEMPTS_PER_RUN", 20)
    error = {"RetryTask(delay=30)": lambda: RetryTask(delay=30),
             "CancelExecution(retry=True)": lambda: CancelExecution(retry=True)}[raised]

    @redis_huey.task(retries=2)
    def poll_upstream(x):
        raise error()

    with jobsim.Simulation(redis_huey, start=START) as sim:
        poll_upstream(1)
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
    said = str(info.value)
    assert said.startswith("task 'poll_upstream' (id ") and "asked to retry after 20 attempts, the last at " in said
    assert f"; 20 of them ended in {named}, which retries a task whatever its retries= (RetryTask adds 1 to " in said
    assert "a huge retries" not in said and "fewer retries" not in said
    assert said.endswith("or raise jobsim_huey.MAX_ATTEMPTS_PER_RUN (now 20) if that many retries are the point.")


def test_a_run_that_ends_within_the_budget_is_not_stopped(redis_huey, monkeypatch):
    monkeypatch.setattr(jobsim_huey, "MAX_ATTEMPTS_PER_RUN", 3)

    @redis_huey.task(retries=2, retry_delay=1)
    def poll():
        raise ConnectionError("not yet")

    with jobsim.Simulation(redis_huey, start=START) as sim:
        poll()
        sim.run_until_idle()
        (run,) = sim.runs(poll)
        assert run.status == "failed" and len(run.attempts) == 3


def test_the_budget_is_10_000_attempts():
    assert jobsim_huey.MAX_ATTEMPTS_PER_RUN == 10_000


def test_run_until_idle_past_max_time_names_the_task_waiting_in_the_schedule_and_its_eta(redis_huey):
    """An eta computed in test code from the real clock (``datetime.now()`` between driving calls) lands far
    ahead of the simulation; the budget error said only "scheduler: next at ...", not what it waited for."""
    import datetime as dt

    @redis_huey.task()
    def remind():
        pass

    with jobsim.Simulation(redis_huey, start=START) as sim:
        remind.schedule(eta=dt.datetime(2026, 12, 2, 14, 35, tzinfo=dt.timezone.utc))
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time="2h")
        assert ("huey test-redis/consumer scheduler, moving remind (eta 2026-12-02T14:35:00.000Z) to the queue: "
                "next at 2025-03-01T02:01:00.000Z") in str(info.value)


def test_a_periodic_task_outlasting_its_interval_on_one_worker_stops_run_until_idle_in_two_weeks():
    """Every minute a task of 150 s, one worker: the queue only grows. run_until_idle() simulated the whole default
    year (2 min here), then blamed the sleep of the task running at its end."""
    import time

    from huey import MemoryHuey, crontab

    huey = MemoryHuey("pile-up")

    @huey.periodic_task(crontab(minute="*"))
    def slow():
        time.sleep(150)

    with jobsim.Simulation(huey, start=START) as sim, pytest.raises(jobsim.BudgetExceeded) as info:
        sim.run_until_idle()
    assert "14d after it began, never having been idle" in str(info.value)
    assert "Work piles up: the runs not finished grew from 0 to " in str(info.value)
    assert "(most: 'slow' " in str(info.value)
