"""Where Celery's ``task_always_eager`` gives the wrong answer and the simulation the right one.

Eager mode runs ``apply()`` in the caller: ``countdown``/``eta`` are ignored and a retry
is ``retval.sig.apply(retries=retries + 1)`` at once (``celery/app/task.py``), so a
retry schedule of minutes "passes" in milliseconds, and with
``task_eager_propagates`` the ``Retry`` escapes to the caller (celery#4661).
"""

from __future__ import annotations

import datetime as dt

import pytest
from celery.exceptions import Retry

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def define(app, clock):
    @app.task(name="sync_invoice", bind=True, autoretry_for=(ConnectionError,), retry_backoff=60,
              retry_jitter=False, max_retries=3)  # fmt: skip
    def sync_invoice(self, invoice):
        clock.append(dt.datetime.now(dt.timezone.utc))
        if self.request.retries < 2:
            raise ConnectionError("ERP is down")
        return invoice

    return sync_invoice


def test_eager_mode_ignores_countdown_and_retries_instantly(app):
    clock: list = []
    task = define(app, clock)
    app.conf.task_always_eager = True
    before = dt.datetime.now(dt.timezone.utc)
    result = task.apply_async(("inv-1",), countdown=3600)
    assert result.get() == "inv-1"
    spent = (clock[-1] - before).total_seconds()
    assert len(clock) == 3 and spent < 5  # wrong: an hour's countdown and 60 s + 120 s of backoff, all skipped


def test_eager_mode_with_propagation_raises_retry_to_the_caller(app):
    task = define(app, [])
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    with pytest.raises(Retry, match="Retry in 60s"):
        task.delay("inv-1")


def test_the_simulation_runs_the_same_task_on_celerys_schedule(app):
    clock: list = []
    task = define(app, clock)
    app.conf.task_always_eager = True  # the test suite's setting; the simulation replaces eager mode
    with jobsim.Simulation(app, start=START) as sim:
        result = task.apply_async(("inv-1",), countdown=3600)
        sim.advance("59m")
        assert clock == []
        sim.run_until_idle()
        assert result.get() == "inv-1"
    assert [(t - T0).total_seconds() for t in clock] == [3600, 3660, 3780]  # countdown, then 60 s, then 120 s
