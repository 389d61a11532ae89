"""A task that retries forever stops the simulation with a clear budget error, never a hang."""

from __future__ import annotations

import subprocess
import sys

import jobsim_celery
import pytest

import jobsim


def test_retrying_forever_stops_at_the_attempt_budget(app, monkeypatch):
    monkeypatch.setattr(jobsim_celery, "MAX_ATTEMPTS_PER_RUN", 50)

    @app.task(name="poll", bind=True, max_retries=None)
    def poll(self):
        raise self.retry(countdown=1)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        poll.delay()
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        assert str(info.value).startswith("task 'poll' (id ")
        assert "retry after 50 attempts, the last at 2025-03-01T00:00:49.000Z" in str(info.value)
        assert "(max_retries=None)" in str(info.value)
        assert "raise jobsim_celery.MAX_ATTEMPTS_PER_RUN (now 50)" in str(info.value)
        assert len(sim.runs("poll")[0].attempts) == 50


def test_the_entry_point_imports_no_celery():
    code = "import sys, jobsim_celery.plugin; print('celery' in sys.modules, 'kombu' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_task_that_queues_itself_forever_stops_after_max_chain_runs(app):
    @app.task(name="poll")
    def poll():
        poll.apply_async(countdown=1)  # "reschedule myself": each message a new task id, a new run

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", max_chain=20) as sim:
        poll.delay()
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_items=5_000)  # bounded even if the chain were not caught
        assert str(info.value).startswith("run-away simulation: a chain of 21 runs, each started by the run before")
        assert "... -> poll -> poll" in str(info.value)
        assert len(sim.runs("poll")) == 22
