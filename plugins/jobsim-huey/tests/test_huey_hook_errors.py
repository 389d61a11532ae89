"""A jobsim error raised in a Huey signal receiver or hook stops the test, as in any job code.

Huey catches every ``Exception`` a receiver (``Signal.send``, ``signals.py:44-53``), a ``pre_execute`` /
``post_execute`` hook (``api.py:587-607``) or an ``on_startup`` / ``on_shutdown`` hook (``consumer.py:104-118``)
raises, and only logs it. A jobsim error there (virtual time spent outside a task, a storage internal
refused, ``sim.advance`` called from the hook) was logged the same way and the test went on green. It is now
kept and raised at the driving call (or the test's enqueue) that ran the receiver; the receiver's own errors
are still only logged, as Huey does.
"""

from __future__ import annotations

import itertools
import re
import time

import pytest
from huey import crontab
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ENQUEUED, SIGNAL_INTERRUPTED
from huey_support import START

import jobsim
from jobsim.errors import JobsimError, UnsupportedFeature

SLEEP = "virtual time can only be spent by job code while it runs; use sim.advance() in tests"


def test_a_receiver_that_sleeps_stops_the_driving_call(redis_huey):
    h = redis_huey
    seen = []

    @h.signal(SIGNAL_COMPLETE)
    def throttle_metrics(signal, task):
        time.sleep(0.5)  # back-pressure on a metrics endpoint: no virtual time outside a task
        seen.append(task.name)

    @h.task()
    def charge(order_id):
        return f"charged {order_id}"

    with jobsim.Simulation(h, start=START) as sim:
        result = charge("o-1")
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            sim.run_until_idle()
        # Huey went on after its receiver failed: the task completed and its result is stored
        assert sim.runs(charge)[0].status == "completed" and result.get() == "charged o-1"
        assert seen == []
        sim.run_until_idle()  # raised once: the next driving call goes on


def test_a_receiver_of_the_tests_own_enqueue_stops_that_call(memory_huey):
    h = memory_huey

    @h.signal(SIGNAL_ENQUEUED)
    def audit(signal, task):
        time.sleep(1)

    @h.task()
    def ping():
        return "pong"

    with jobsim.Simulation(h, start=START) as sim:
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            ping()
        assert [run.status for run in sim.runs(ping)] == ["queued"]  # enqueued all the same, as Huey does


def test_a_pre_execute_hook_that_drives_the_simulation_is_refused(redis_huey):
    h = redis_huey
    sims = []

    @h.pre_execute()
    def wait_for_quiet(task):
        sims[0].advance("10s")  # the simulation is driven by the test, not from its own hooks

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        sims.append(sim)
        work()
        with pytest.raises(JobsimError, match=r"^sim\.advance\(\) was called while the simulation was running "):
            sim.run_until_idle()
        assert sim.runs(work)[0].status == "completed"  # Huey went on: the hook only logged as failed


def test_a_post_execute_hook_reaching_the_storage_stops_the_test(redis_huey):
    h = redis_huey

    @h.post_execute()
    def count_done(task, value, exc):
        h.storage.conn.incr("done")  # Redis internals: not simulated

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        work()
        with pytest.raises(UnsupportedFeature, match="conn"):
            sim.run_until_idle()
        assert sim.runs(work)[0].status == "completed"


def test_an_on_startup_hook_that_sleeps_stops_the_first_driving_call(redis_huey):
    h = redis_huey

    @h.on_startup()
    def warm_up():
        time.sleep(2)

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim, pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
        sim.advance(0)


def test_an_on_shutdown_hook_that_sleeps_stops_the_call_that_reaches_the_stop(redis_huey):
    h = redis_huey

    @h.on_shutdown()
    def flush_metrics():
        time.sleep(1)

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        sim.huey.stop_consumer(at="2025-03-01T00:01:00Z")
        sim.advance("30s")
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            sim.advance("1m")


def test_a_receiver_of_the_periodic_check_stops_the_driving_call(redis_huey):
    h = redis_huey

    @h.signal(SIGNAL_ENQUEUED)
    def audit(signal, task):
        time.sleep(1)

    @h.periodic_task(crontab(minute="*"))
    def beat():
        return "beat"

    with jobsim.Simulation(h, start=START) as sim, pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
        sim.advance("30s")


def test_a_receiver_of_an_interrupted_task_stops_the_driving_call(redis_huey):
    h = redis_huey

    @h.signal(SIGNAL_INTERRUPTED)
    def page_someone(signal, task):
        time.sleep(1)

    @h.task()
    def export():
        time.sleep(600)

    with jobsim.Simulation(h, start=START) as sim:
        sim.huey.stop_consumer(at="2025-03-01T00:01:00Z", graceful=False)
        export()
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            sim.advance("2m")
        assert sim.runs(export)[0].status == "lost"


def test_a_receivers_own_error_is_still_only_logged(redis_huey):
    h = redis_huey

    @h.signal(SIGNAL_COMPLETE)
    def broken(signal, task):
        raise ValueError("metrics backend down")

    @h.pre_execute()
    def broken_hook(task):
        raise KeyError("tenant")

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        result = work()
        sim.run_until_idle()  # Huey logs them and goes on, as a real consumer does
        assert sim.runs(work)[0].status == "completed" and result.get() == 1

        @h.post_execute()
        def added_inside(task, value, exc):
            pass

    import huey.signals

    # the hooks are the Huey's own again, those registered inside the simulation kept; Signal.send is Huey's
    assert type(h._pre_execute) is dict and h._pre_execute == {"broken_hook": broken_hook}
    assert h._post_execute == {"added_inside": added_inside} and type(h._post_execute) is dict
    assert huey.signals.itertools.chain is itertools.chain
