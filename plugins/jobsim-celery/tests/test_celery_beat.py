"""``beat_schedule`` in virtual time: intervals, crontab in the app's time zone across DST, solar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab, solar
from jobsim_celery import CeleryTarget

import jobsim


def fired(sim, entry, tz):
    return [r.at for r in sim.trace if r.kind == "celery.beat" and r.data["entry"] == entry]


def local(sim, entry, tz):
    from jobsim._time import to_datetime

    return [to_datetime(ns, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S%z") for ns in fired(sim, entry, tz)]


@pytest.fixture
def tick(app):
    @app.task(name="tick")
    def tick(label=None):
        return label

    return tick


def test_intervals_fire_from_the_start_of_beat(app, tick):
    app.conf.beat_schedule = {
        "every-10s": {"task": "tick", "schedule": 10.0, "kwargs": {"label": "fast"}},
        "every-hour": {"task": "tick", "schedule": dt.timedelta(hours=1)},
    }
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("1h")
        assert local(sim, "every-10s", "UTC")[:3] == ["2025-03-01 00:00:10+0000", "2025-03-01 00:00:20+0000",
                                                      "2025-03-01 00:00:30+0000"]  # fmt: skip
        assert len(fired(sim, "every-10s", "UTC")) == 360
        assert local(sim, "every-hour", "UTC") == ["2025-03-01 01:00:00+0000"]
        assert [r.output for r in sim.runs("tick")[:2]] == ["fast", "fast"]
        assert "tick#1 started by beat entry 'every-10s'" in sim.timeline()
        sim.run_until_idle()  # beat is recurring: it does not keep the simulation busy


def test_crontab_in_the_app_time_zone_across_spring_forward(app, tick):
    """Berlin skips 02:00-03:00 on 2026-03-29: Celery 5.7 runs the 02:30 entry at 03:30 CEST that day."""
    app.conf.timezone = "Europe/Berlin"
    app.conf.beat_schedule = {"nightly": {"task": "tick", "schedule": crontab(minute=30, hour=2)},
                              "nine": {"task": "tick", "schedule": crontab(minute=0, hour=9)}}  # fmt: skip
    with jobsim.Simulation(app, start="2026-03-27T12:00:00Z") as sim:
        sim.advance_to("2026-03-31T00:00:00Z")
        assert local(sim, "nightly", "Europe/Berlin") == [
            "2026-03-28 02:30:00+0100", "2026-03-29 03:30:00+0200", "2026-03-30 02:30:00+0200"]
        assert local(sim, "nine", "Europe/Berlin") == [
            "2026-03-28 09:00:00+0100", "2026-03-29 09:00:00+0200", "2026-03-30 09:00:00+0200"]


def test_crontab_across_fall_back(app, tick):
    app.conf.timezone = "America/New_York"
    app.conf.beat_schedule = {"nine": {"task": "tick", "schedule": crontab(minute=0, hour=9)}}
    with jobsim.Simulation(app, start="2025-10-31T12:00:00Z") as sim:
        sim.advance_to("2025-11-04T00:00:00Z")
        assert local(sim, "nine", "America/New_York") == [
            "2025-10-31 09:00:00-0400", "2025-11-01 09:00:00-0400", "2025-11-02 09:00:00-0500",
            "2025-11-03 09:00:00-0500"]


def test_solar_events_fire_at_sunrise(app, tick):
    pytest.importorskip("ephem", reason="solar() schedules need PyEphem: pip install -e 'plugins/jobsim-celery[solar]'")
    app.conf.beat_schedule = {"dawn": {"task": "tick", "schedule": solar("sunrise", 48.8566, 2.3522)}}
    with jobsim.Simulation(app, start="2025-06-20T12:00:00Z") as sim:
        sim.advance("2d")
        times = fired(sim, "dawn", "UTC")
        assert [jobsim._time.iso(t)[:16] for t in times] == ["2025-06-21T03:47", "2025-06-22T03:47"]


def test_beat_can_be_turned_off(app, tick):
    app.conf.beat_schedule = {"every-10s": {"task": "tick", "schedule": 10.0}}
    with jobsim.Simulation(CeleryTarget(app, beat=False), start="2025-03-01T00:00:00Z") as sim:
        sim.advance("1h")
        assert sim.runs("tick") == []


def test_a_malformed_entry_is_named(app, tick):
    app.conf.beat_schedule = {"bad": {"task": "tick", "schedule": 10, "every": 5}}
    with pytest.raises(jobsim.InvalidArgument, match=r"beat_schedule\['bad'\]=.* unknown: \['every'\]"):
        jobsim.Simulation(app).start()


@pytest.mark.parametrize("schedule", ["every 5 minutes", "*/5 * * * *"])
def test_a_schedule_that_is_not_one_is_named_not_an_attribute_error(app, tick, schedule):
    """Celery's ``maybe_schedule`` sets ``.app`` on whatever it is given: a string (a cron line pasted in) ended
    in ``AttributeError: 'str' object has no attribute 'app'`` from inside Celery, as real beat crashes."""
    app.conf.beat_schedule = {"report": {"task": "tick", "schedule": schedule}}
    with pytest.raises(jobsim.InvalidArgument, match=r"^beat_schedule\['report'\]\['schedule'\]=.* is not valid: "
                       r"seconds, a timedelta, or a celery.schedules schedule/crontab/solar"):
        jobsim.Simulation(app).start()


def test_a_crontab_in_the_machine_s_local_time_zone_is_refused_naming_the_setting(app, tick):
    """``enable_utc=False`` and no ``timezone``: Celery uses ``LocalTimezone``, so ``crontab(hour=9)`` fired at
    09:00 UTC on a UTC machine and 15:00 UTC under ``TZ=America/Chicago``, one seed, two histories."""
    app.conf.update(enable_utc=False, timezone=None)
    app.conf.beat_schedule = {"report": {"task": "tick", "schedule": crontab(hour=9, minute=0)}}
    with pytest.raises(jobsim.InvalidArgument, match=r"^beat_schedule\['report'\] is a crontab, and with "
                       r"app.conf.enable_utc=False and no app.conf.timezone Celery reads it in this machine's local "
                       r"time zone \(.*\): .* Set app.conf.timezone"):
        jobsim.Simulation(app).start()
    app.conf.beat_schedule = {"poll": {"task": "tick", "schedule": dt.timedelta(minutes=5)}}
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:  # an interval is the same in any zone
        sim.advance("5m")
        assert len(sim.runs("tick")) == 1


def test_a_timezone_zoneinfo_does_not_know_is_named_at_the_simulation(app):
    """It was a bare ZoneInfoNotFoundError from deep inside Celery's beat, as the simulation started."""
    app.conf.timezone = "Europe/Berlinn"
    app.conf.beat_schedule = {"morning": {"task": "morning", "schedule": crontab(hour=9, minute=0)}}

    @app.task(name="morning")
    def morning():
        return 1

    with pytest.raises(jobsim.InvalidArgument, match=r"^app\.conf\.timezone='Europe/Berlinn' is not valid: an IANA "
                       r"time zone name .*\(a real worker and beat would not start either: ZoneInfoNotFoundError\)"):
        jobsim.Simulation(app, start="2025-03-01T00:00:00Z")
