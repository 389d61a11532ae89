"""A jobsim error raised in a Dramatiq middleware hook stops the test.

``Broker.emit_before``/``emit_after`` call each middleware's hook in ``try``/``except Exception`` and log
"Unexpected failure in ..." (``broker.py:111-129``). A jobsim error there -- ``time.sleep`` where no actor runs,
a call the simulation refuses, ``sim.advance`` from the hook -- was that log line, and the test went on green.
"""

from __future__ import annotations

import logging
import re
import time

import dramatiq
import pytest
from dramatiq.middleware import Middleware
from dramatiq_support import START

import jobsim
from jobsim.errors import JobsimError, UnsupportedFeature

SLEEP = "virtual time can only be spent by job code while it runs; use sim.advance() in tests"


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


class Throttle(Middleware):
    """Slows producers down after each enqueue (a real one sleeps in the sending process)."""

    def after_enqueue(self, broker, message, delay):
        time.sleep(0.2)


class QueueGauge(Middleware):
    """Reports the queue's backlog after each message, reading it from the broker."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        broker.consume(message.queue_name)  # a real consumer on the real broker: refused in a simulation


def test_a_hook_of_the_tests_send_that_sleeps_stops_the_next_driving_call(broker):
    broker.add_middleware(Throttle())

    @dramatiq.actor
    def work():
        return 1

    with jobsim.Simulation(broker, start=START) as sim:
        work.send()  # Dramatiq logged the hook's error and enqueued the message
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            sim.run_until_idle()
        assert [run.status for run in sim.runs(work)] == ["queued"]  # stopped before the worker took it
        sim.run_until_idle()
        assert [run.status for run in sim.runs(work)] == ["completed"]


def test_an_after_process_message_hook_refused_by_the_simulation_stops_the_test(broker):
    broker.add_middleware(QueueGauge())

    @dramatiq.actor
    def work():
        return 1

    with jobsim.Simulation(broker, start=START) as sim:
        work.send()
        with pytest.raises(UnsupportedFeature, match=r"broker\.consume\('default'\) while a simulation runs"):
            sim.run_until_idle()


def test_a_before_process_message_hook_that_drives_the_simulation_stops_the_test(broker):
    sims = []

    class WaitForQuiet(Middleware):
        def before_process_message(self, broker, message):
            sims[0].advance("1s")

    broker.add_middleware(WaitForQuiet())

    @dramatiq.actor
    def work():
        return 1

    with jobsim.Simulation(broker, start=START) as sim:
        sims.append(sim)
        work.send()
        with pytest.raises(JobsimError, match=r"^sim\.advance\(\) was called from job code \(function 'work'\)"):
            sim.run_until_idle()


def test_a_hooks_own_error_is_still_only_logged(broker):
    class Broken(Middleware):
        def before_process_message(self, broker, message):
            raise ValueError("metrics backend down")

        def after_enqueue(self, broker, message, delay):
            raise KeyError("tenant")

    broker.add_middleware(Broken())

    @dramatiq.actor
    def work():
        return 1

    with jobsim.Simulation(broker, start=START) as sim:
        work.send()
        sim.run_until_idle()
        assert [run.status for run in sim.runs(work)] == ["completed"]
