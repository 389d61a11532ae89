"""A jobsim error raised in an APScheduler listener stops the test.

``_dispatch_event`` calls each listener in ``try``/``except BaseException`` and logs "Error notifying listener"
(``schedulers/base.py:1037-1042``). A jobsim error there -- ``time.sleep`` where no job runs, a call the
simulation refuses, ``sim.advance`` from the listener -- was that log line, and the test went on green.
"""

from __future__ import annotations

import re
import time

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED

import jobsim
from jobsim.errors import JobsimError

START = "2025-03-01T00:00:00Z"
SLEEP = "virtual time can only be spent by job code while it runs; use sim.advance() in tests"


def sync_reports():
    return "synced"


def test_a_listener_that_sleeps_stops_the_driving_call_at_the_first_event(scheduler):
    seen = []

    def backoff_on_error(event):
        seen.append(event.job_id)
        time.sleep(30)  # a listener runs in no job's time

    scheduler.add_listener(backoff_on_error, EVENT_JOB_EXECUTED)
    scheduler.add_job(sync_reports, "interval", minutes=10, id="sync")
    with jobsim.Simulation(scheduler, start=START) as sim:
        with pytest.raises(JobsimError, match="^" + re.escape(SLEEP)):
            sim.advance("1h")
        assert sim.now.strftime("%H:%M") == "00:10"  # the first run's event, not the hour's end
        assert seen == ["sync"] and [run.status for run in sim.runs("sync")] == ["completed"]


def test_a_listener_that_drives_the_simulation_is_refused(scheduler):
    sims = []

    def on_error(event):
        sims[0].advance("1m")  # "retry later" from a listener: the test drives time

    def flaky():
        raise ConnectionError("down")

    scheduler.add_listener(on_error, EVENT_JOB_ERROR)
    scheduler.add_job(flaky, "interval", minutes=5, id="flaky")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sims.append(sim)
        with pytest.raises(JobsimError, match=r"^sim\.advance\(\) was called while the simulation was running"):
            sim.advance("1h")
        assert [run.status for run in sim.runs("flaky")] == ["failed"]


def test_a_submitted_listener_on_an_asyncio_scheduler_stops_the_driving_call(aio):
    sims = []

    def settle(event):  # on the event loop a listener's time.sleep blocks the loop, in virtual time
        sims[0].advance("1s")

    async def poll():
        return 1

    aio.add_listener(settle, EVENT_JOB_SUBMITTED)
    aio.add_job(poll, "interval", seconds=30, id="poll")
    with jobsim.Simulation(aio, start=START) as sim:
        sims.append(sim)
        with pytest.raises(JobsimError, match=r"^sim\.advance\(\) was called "):
            sim.advance("5m")
        assert sim.now.strftime("%M:%S") == "00:30"


def test_a_listeners_own_error_is_still_only_logged(scheduler):
    def broken(event):
        raise ValueError("metrics backend down")

    scheduler.add_listener(broken, EVENT_JOB_EXECUTED | EVENT_JOB_SUBMITTED)
    scheduler.add_job(sync_reports, "interval", minutes=10, id="sync")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance("1h")
        assert [run.status for run in sim.runs("sync")] == ["completed"] * 6
