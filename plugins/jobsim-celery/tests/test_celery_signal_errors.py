"""A jobsim error raised in a Celery signal receiver stops the test.

``Signal.send`` logs what a receiver raises and goes on (``utils/dispatch/signal.py``). A jobsim error there -- a
call the simulation refuses, virtual time spent outside job code -- was a log line, and the test went on green.
"""

from __future__ import annotations

import re
import time

import pytest
from celery import signals

import jobsim
from jobsim.errors import InvalidArgument, JobsimError

START = "2025-03-01T00:00:00Z"
SLEEP = "virtual time can only be spent by job code while it runs; use sim.advance() in tests"


def test_a_task_failure_receiver_that_sends_a_bad_task_stops_the_test(app):
    @app.task(name="alert")
    def alert(task_id):
        return task_id

    def on_failure(sender=None, task_id=None, **kwargs):
        alert.apply_async((task_id,), countdown="soon")

    @app.task(name="charge")
    def charge():
        raise ConnectionError("gateway down")

    signals.task_failure.connect(on_failure, weak=False)
    try:
        with jobsim.Simulation(app, start=START) as sim:
            charge.delay()
            with pytest.raises(InvalidArgument, match="countdown"):
                sim.run_until_idle()
    finally:
        signals.task_failure.disconnect(on_failure)


def test_a_task_received_receiver_that_sleeps_stops_the_driving_call(app):
    def throttle(sender=None, request=None, **kwargs):
        time.sleep(1)  # the worker's consumer is no task: no virtual time to spend there

    @app.task(name="work")
    def work():
        return 1

    signals.task_received.connect(throttle, weak=False)
    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = work.delay()
            with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
                sim.run_until_idle()
            sim.run_until_idle()  # raised once; Celery went on: the task ran
            assert result.get() == 1
    finally:
        signals.task_received.disconnect(throttle)


def test_a_receivers_own_error_is_still_only_logged(app):
    def broken(**kwargs):
        raise ValueError("metrics backend down")

    @app.task(name="work")
    def work():
        return 1

    for signal in (signals.task_prerun, signals.task_postrun, signals.task_received):
        signal.connect(broken, weak=False)
    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = work.delay()
            sim.run_until_idle()
            assert result.get() == 1 and sim.runs("work")[0].status == "completed"
    finally:
        for signal in (signals.task_prerun, signals.task_postrun, signals.task_received):
            signal.disconnect(broken)
