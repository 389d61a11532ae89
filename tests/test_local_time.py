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
from zoneinfo import ZoneInfo

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


def test_ctime_and_asctime_in_job_code_read_the_virtual_clock_across_dst(machine_in_new_york):
    # time.ctime() and time.asctime() with no argument read the C clock and localtime() themselves, which
    # time-machine does not patch: job code writing "generated at {time.ctime()}" got the real date
    app = jobsim.App("t")
    seen = []

    @app.function("cleanup", cron="30 2 * * *", tz="Australia/Sydney")
    def cleanup(ctx):
        sydney = dt.datetime.now(ZoneInfo("Australia/Sydney")).isoformat()
        seen.append((time.ctime(), time.asctime(), time.ctime(0), sydney))

    real_ctime = time.ctime
    with jobsim.Simulation(app, start="2025-04-05T15:00:00Z") as sim:
        sim.advance("2h")  # 02:30 happens twice in Sydney: AEDT (15:30Z), then AEST (16:30Z)
    assert seen == [
        ("Sat Apr  5 15:30:00 2025", "Sat Apr  5 15:30:00 2025", "Thu Jan  1 00:00:00 1970",
         "2025-04-06T02:30:00+11:00"),
        ("Sat Apr  5 16:30:00 2025", "Sat Apr  5 16:30:00 2025", "Thu Jan  1 00:00:00 1970",
         "2025-04-06T02:30:00+10:00"),
    ]  # fmt: skip
    assert time.ctime is real_ctime and time.ctime(0) == "Wed Dec 31 19:00:00 1969"  # given back: the machine's zone
