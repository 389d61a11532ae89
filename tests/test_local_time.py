"""Job code's local time zone is UTC, whatever the machine's zone and the simulation's ``tz=``.

time-machine, travelling to an instant in ``datetime.timezone.utc``, sets ``TZ=UTC`` (and
``time.tzset()``) for as long as it travels: during each driving call. So a naive
``datetime.now()`` or ``time.localtime()`` in job code reads UTC wall time, as on the UTC servers
most job workers run on, and a test gives the same answer on a laptop in Paris and on CI.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

import jobsim


@pytest.fixture
def machine_in_new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_naive_now_in_job_code_is_utc_wall_time(machine_in_new_york, tz):
    app = jobsim.App("t")
    seen = []

    @app.function("f", on="go")
    def f(ctx):
        local = time.localtime()
        seen.append((dt.datetime.now().isoformat(timespec="seconds"), local.tm_hour, local.tm_zone))

    with jobsim.Simulation(app, start="2026-03-02T12:00:00Z", tz=tz) as sim:
        sim.send("go")
        sim.advance("1s")
        assert os.environ["TZ"] == "America/New_York"  # test code between driving calls: the machine's zone
    assert seen == [("2026-03-02T12:00:00", 12, "UTC")]
    assert time.localtime(0).tm_zone == "EST"  # restored after the simulation
