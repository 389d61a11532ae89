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


def _retried(app, name, times):
    """A task retried ``times`` times (``self.retry``), and the traceback text of each retry (``task_retry``)."""
    from celery import signals

    @app.task(name=name, bind=True, max_retries=times - 1)
    def poll(self):
        raise self.retry(exc=OSError("not ready"), countdown=1)

    texts = []

    def keep(sender=None, einfo=None, **_):
        texts.append(einfo.traceback)

    signals.task_retry.connect(keep, weak=False)
    try:
        with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
            poll.delay()
            sim.run_until_idle()
    finally:
        signals.task_retry.disconnect(keep)
    assert len(sim.runs(name)[0].attempts) == times
    return texts


def test_a_retry_copies_each_code_object_of_its_traceback_once(app, monkeypatch):
    """billiard's ExceptionInfo copied every frame's code object at each retry, on Python 3.11+ with all its
    positions (Celery's tracer has thousands): most of a retry's 2.6 ms, 25 s for a task retried for ever."""
    import billiard.einfo

    made = []
    original = billiard.einfo._Frame.Code

    def counted(code):
        made.append(code)
        return original(code)

    monkeypatch.setattr(billiard.einfo._Frame, "Code", staticmethod(counted))
    _retried(app, "poll-30", 30)
    assert 0 < len(made) == len({id(code) for code in made}) < 30  # once per code object, not once per retry
    assert billiard.einfo._Frame.__dict__["Code"].__func__ is counted  # given back when the simulation closed


def test_the_remembered_positions_change_no_traceback_text(app, monkeypatch):
    import traceback

    from jobsim_celery import _patches

    remembered = _retried(app, "memo-on", 3)
    get_code_position = traceback.__dict__.get("_get_code_position")
    monkeypatch.setattr(_patches, "_memo_tracebacks", lambda: None)  # as before: nothing remembered
    assert _retried(app, "memo-off", 3) == remembered
    assert remembered[0].endswith("celery.exceptions.Retry: Retry in 1s: OSError('not ready')\n")
    assert len(set(remembered)) == 1
    assert traceback.__dict__.get("_get_code_position") is get_code_position  # given back
