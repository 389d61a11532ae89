"""The scheduler's wait across a DST change, as each APScheduler version computes it.

APScheduler 3.11.2 and older wait ``(next_wakeup_time - now).total_seconds()``: both datetimes carry
the scheduler's zone, so Python subtracts their wall clocks. Spring forward: the wait is an hour too
long, the run is missed. Fall back: the next run can be earlier on the clock than now though later
in time -- the wait is 0 and the real loop spins until the clocks turn back. 3.11.3 subtracts
timestamps (agronholm/apscheduler#1114). CI installs 3.11.2 (lowest) and the newest: both branches run.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import apscheduler
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

import jobsim

CLOCK_WAIT = tuple(int(part) for part in apscheduler.__version__.split(".")[:3]) < (3, 11, 3)
UTC = dt.timezone.utc
# a fall-back night per zone: (zone, window start, window end) -- Lord Howe turns back 30 minutes
NIGHTS = [("America/New_York", "2025-11-02T04:00:00Z", "2025-11-02T08:00:00Z"),
          ("Europe/London", "2025-10-25T23:00:00Z", "2025-10-26T03:00:00Z"),
          ("Australia/Lord_Howe", "2025-04-05T13:00:00Z", "2025-04-05T17:00:00Z")]  # fmt: skip


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _turns_back(zone: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The instants in [start, end) where the zone's offset drops, by stepping a minute at a time."""
    tz, found, at = ZoneInfo(zone), [], start
    while at < end:
        after = at + dt.timedelta(minutes=1)
        if after.astimezone(tz).utcoffset() < at.astimezone(tz).utcoffset():
            found.append(after)
        at = after
    return found


def _fires(trigger: CronTrigger, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """APScheduler's own trigger, asked directly: its run times in [start, end] (advance_to runs the end's)."""
    fires, fire = [], trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return fires


@pytest.mark.parametrize("kind", [BackgroundScheduler, AsyncIOScheduler])
@pytest.mark.parametrize(("zone", "start", "end"), NIGHTS, ids=[night[0] for night in NIGHTS])
def test_a_fall_back_night_runs_every_run_time_and_says_where_the_loop_spins(kind, zone, start, end):
    scheduler = kind(timezone=zone)
    scheduler.add_job(lambda: None, "cron", minute="*/20", id="tick")
    begin, finish = _utc(start), _utc(end)
    with jobsim.Simulation(scheduler, start=begin) as sim:
        sim.advance_to(finish)
        assert [r.started_at for r in sim.runs("tick")] == _fires(CronTrigger(minute="*/20", timezone=zone),
                                                                 begin, finish)  # fmt: skip
        spins = re.findall(r"^(\S+ \S+) UTC  aps       scheduler spins at full CPU until (\S+ \S+):", sim.timeline(),
                           re.M)  # fmt: skip
    if not CLOCK_WAIT:
        assert spins == []
        return
    (turn,) = _turns_back(zone, begin, finish)
    # the loop spins from the last run before the turn (the next is earlier on the clock) to the turn itself
    assert spins and {until for _, until in spins} == {turn.strftime("%Y-%m-%d %H:%M:%S")}
    assert all(_utc(at.replace(" ", "T") + "Z") < turn for at, _ in spins)


def test_the_spin_line_names_the_version_the_zone_and_both_clock_times():
    if not CLOCK_WAIT:
        pytest.skip(f"APScheduler {apscheduler.__version__} waits by timestamps: nothing spins")
    scheduler = BackgroundScheduler(timezone="America/New_York")
    scheduler.add_job(lambda: None, "cron", hour=1, minute=30, id="repeat")
    with jobsim.Simulation(scheduler, start="2025-11-01T12:00:00Z") as sim:
        sim.advance_to("2025-11-03T12:00:00Z")
        assert [r.started_at.isoformat() for r in sim.runs("repeat")] == [
            "2025-11-02T05:30:00+00:00", "2025-11-02T06:30:00+00:00", "2025-11-03T06:30:00+00:00"]
        line = next(line for line in sim.timeline().splitlines() if "spins" in line)
    assert line == (
        "2025-11-02 05:30:00.000 UTC  aps       scheduler spins at full CPU until 2025-11-02 06:00:00: its next run "
        "time (01:30:00 EST) is not later on America/New_York's clock than now (01:30:00 EDT), and APScheduler "
        f"{apscheduler.__version__} waits the clock difference, 0 s (3.11.3 subtracts instants: "
        "agronholm/apscheduler#1114)")


def test_spring_forward_an_interval_run_is_missed_only_where_the_wait_is_by_the_clock():
    """interval hours=24 from 09:00 EST: the run 24 hours later is 10:00 EDT; a clock wait of 25 h misses it."""
    scheduler = BackgroundScheduler(timezone="America/New_York")
    scheduler.add_job(lambda: None, "interval", hours=24, start_date="2025-03-08 09:00:00", id="daily")
    with jobsim.Simulation(scheduler, start="2025-03-08T00:00:00Z") as sim:
        sim.advance("3d")
        runs = [(r.started_at.isoformat(), r.status) for r in sim.runs("daily")]
    # by the clock it wakes an hour late: past misfire_grace_time (1 s), the run is skipped (EVENT_JOB_MISSED)
    second = ("2025-03-09T15:00:00+00:00", "skipped") if CLOCK_WAIT else ("2025-03-09T14:00:00+00:00", "completed")
    assert runs == [("2025-03-08T14:00:00+00:00", "completed"), second, ("2025-03-10T14:00:00+00:00", "completed")]


def _clock_wait(scheduler):
    """The wait as APScheduler 3.11.2 and older compute it on any installed version (``base.py`` before
    agronholm/apscheduler#1114): ``next_wakeup_time`` (the stores' earliest run time, in the scheduler's zone)
    minus ``datetime.now(self.timezone)``, wall clocks subtracted, at least 0. On 3.11.2 it is the same value."""
    from apscheduler.schedulers.base import TIMEOUT_MAX

    process = scheduler._process_jobs

    def process_jobs():
        wait = process()
        due = [d for d in (store.get_next_run_time() for store in scheduler._jobstores.values()) if d]
        if wait is None or not due:
            return wait
        clock_wait = (min(due).astimezone(scheduler.timezone) - dt.datetime.now(scheduler.timezone)).total_seconds()
        return min(max(clock_wait, 0), TIMEOUT_MAX)

    scheduler._process_jobs = process_jobs


@pytest.mark.parametrize("kind", [BackgroundScheduler, AsyncIOScheduler])
@pytest.mark.parametrize("wait", ["installed", "3.11.2"])
def test_a_trigger_in_another_zone_than_the_schedulers_spins_until_the_schedulers_clocks_turn_back(kind, wait):
    """A New York scheduler (its jobs' default zone) with one report pinned to UTC: the wait subtracts New York
    wall clocks, so after the 05:30 UTC run (01:30 EDT) the next, 06:30 UTC (01:30 EST), waits 0 s until the
    clocks turn back at 06:00. The spin was measured with the store's run time in the trigger's zone (UTC), whose
    difference with a New York time is between instants: it saw no spin, woke one microsecond later, again and
    again -- 1.8e9 wakes for the half hour (here: the max_items budget)."""
    scheduler = kind(timezone="America/New_York")
    scheduler.add_job(lambda: None, CronTrigger(minute=30, timezone="UTC"), id="report")
    if wait == "3.11.2":
        _clock_wait(scheduler)
    with jobsim.Simulation(scheduler, start="2025-11-02T05:00:00Z") as sim:
        sim.advance_to("2025-11-02T07:00:00Z", max_items=1_000)
        assert [r.started_at.isoformat() for r in sim.runs("report")] == [
            "2025-11-02T05:30:00+00:00", "2025-11-02T06:30:00+00:00"]
        spins = [line for line in sim.timeline().splitlines() if "spins" in line]
    if wait == "installed" and not CLOCK_WAIT:
        assert spins == []
        return
    assert len(spins) == 1 and spins[0].startswith(
        "2025-11-02 05:30:00.000 UTC  aps       scheduler spins at full CPU until 2025-11-02 06:00:00: its next run "
        "time (01:30:00 EST) is not later on America/New_York's clock than now (01:30:00 EDT), and APScheduler ")
