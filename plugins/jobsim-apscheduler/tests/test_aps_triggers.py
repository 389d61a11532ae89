"""APScheduler's own triggers, fired in virtual time: cron and calendar intervals across DST, jitter, date,
start/end dates."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from aps_own import ZONES, assert_runs_are_schedulers_own
from apscheduler.triggers.cron import CronTrigger

import jobsim

NY = ZoneInfo("America/New_York")


def starts(runs):
    """Each run's start as an ISO instant in UTC (``2025-03-01T09:00:00Z``)."""
    return [r.started_at.strftime("%Y-%m-%dT%H:%M:%S.%f").removesuffix(".000000") + "Z" for r in runs]


def _noop():
    return None


def test_cron_at_nine_new_york_follows_the_wall_clock_across_both_dst_changes(scheduler):
    """hour=9 in New York is 14:00Z in EST and 13:00Z in EDT (2025-03-09 to 2025-11-02)."""
    scheduler.add_job(_noop, "cron", hour=9, minute=0, timezone="America/New_York", id="report")
    with jobsim.Simulation(scheduler, start="2025-03-07T00:00:00Z") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
        assert starts(sim.runs("report")) == [
            "2025-03-07T14:00:00Z", "2025-03-08T14:00:00Z", "2025-03-09T13:00:00Z", "2025-03-10T13:00:00Z",
        ]  # fmt: skip
        sim.advance_to("2025-10-31T00:00:00Z")
        before = len(sim.runs("report"))
        sim.advance_to("2025-11-04T00:00:00Z")
        assert starts(sim.runs("report")[before:]) == [
            "2025-10-31T13:00:00Z", "2025-11-01T13:00:00Z", "2025-11-02T14:00:00Z", "2025-11-03T14:00:00Z",
        ]  # fmt: skip
        assert all(r.status == "completed" for r in sim.runs("report"))
        assert len(sim.runs("report")) == 4 + (dt.date(2025, 11, 4) - dt.date(2025, 3, 11)).days


def test_a_wall_time_in_the_spring_forward_gap_fires_once_an_hour_later_on_the_wall(scheduler):
    """2025-03-09 02:30 does not exist in New York. APScheduler 3.11 builds the candidate with
    ``datetime(..., tzinfo=zone, fold=0)`` (``triggers/cron/__init__.py:199-210``); zoneinfo reads a
    gap time with fold=0 at the offset before the change (-05:00), so the run time is 02:30-05:00 =
    07:30Z = 03:30 EDT on the wall: the job runs that day, one wall-clock hour late."""
    scheduler.add_job(_noop, "cron", hour=2, minute=30, timezone="America/New_York", id="nightly")
    with jobsim.Simulation(scheduler, start="2025-03-07T00:00:00Z") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
        runs = sim.runs("nightly")
        assert starts(runs) == [
            "2025-03-07T07:30:00Z", "2025-03-08T07:30:00Z", "2025-03-09T07:30:00Z", "2025-03-10T06:30:00Z",
        ]  # fmt: skip
        assert runs[2].event.data["run_time"] == "2025-03-09T02:30:00-05:00"
        assert runs[2].started_at.astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"


def test_a_wall_time_in_the_repeated_hour_fires_twice(scheduler):
    """2025-11-02 01:30 happens twice in New York (EDT, then EST). After the first run,
    ``get_next_fire_time`` searches from the previous fire time + 1 µs converted to the zone
    (``triggers/cron/__init__.py:212-221``), which lands in the second 01:00-02:00 (fold=1):
    01:30 matches again, so the job runs at 05:30Z and 06:30Z -- the 3.x docs' "wall clock"
    caveat (cron.rst: periods "may not exist at all, or be repeated ... This is not a bug")."""
    scheduler.add_job(_noop, "cron", hour=1, minute=30, timezone="America/New_York", id="nightly")
    with jobsim.Simulation(scheduler, start="2025-10-31T00:00:00Z") as sim:
        sim.advance_to("2025-11-04T00:00:00Z")
        runs = sim.runs("nightly")
        assert starts(runs) == [
            "2025-10-31T05:30:00Z", "2025-11-01T05:30:00Z", "2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z",
            "2025-11-03T06:30:00Z",
        ]  # fmt: skip
        assert [r.event.data["run_time"] for r in runs[2:4]] == [
            "2025-11-02T01:30:00-04:00",
            "2025-11-02T01:30:00-05:00",
        ]


def test_the_simulated_fire_times_are_the_triggers_own():
    """The same instants as calling APScheduler's trigger directly, from the same ``now``."""
    trigger = CronTrigger(hour=1, minute=30, timezone="America/New_York")
    now = dt.datetime(2025, 11, 1, 12, tzinfo=dt.timezone.utc)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first)
    third = trigger.get_next_fire_time(second, second)
    assert [t.astimezone(dt.timezone.utc).isoformat() for t in (first, second, third)] == [
        "2025-11-02T05:30:00+00:00", "2025-11-02T06:30:00+00:00", "2025-11-03T06:30:00+00:00",
    ]  # fmt: skip


def test_from_crontab_reads_day_of_week_1_as_tuesday(scheduler):
    """APScheduler 3 numbers weekdays from Monday=0 (``triggers/cron/__init__.py:129-134``): crontab's
    ``0 9 * * 1`` (Monday in cron) fires on Tuesdays. 2025-03-03 is a Monday."""
    scheduler.add_job(_noop, CronTrigger.from_crontab("0 9 * * 1", timezone="UTC"), id="weekly")
    with jobsim.Simulation(scheduler, start="2025-03-03T00:00:00Z") as sim:
        sim.advance("14d")
        assert starts(sim.runs("weekly")) == ["2025-03-04T09:00:00Z", "2025-03-11T09:00:00Z"]
        assert {r.started_at.strftime("%A") for r in sim.runs("weekly")} == {"Tuesday"}


def _jittered(seed):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", minutes=10, jitter=60, id="poll")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z", seed=seed) as sim:
        sim.advance("2h")
        return [r.start_ns for r in sim.runs("poll")]


def test_interval_jitter_is_drawn_from_the_simulations_seed():
    """``IntervalTrigger.get_next_fire_time`` adds ``random.uniform(0, jitter)`` to the previous
    (jittered) fire time + interval (``triggers/interval.py:75-91``): the gaps are 600-660 s and
    drift accumulates. The draws come from the seed: same seed, same history."""
    first, again, other = _jittered(7), _jittered(7), _jittered(8)
    assert first == again
    assert first != other
    start = int(dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    assert 600 * 10**9 <= first[0] - start <= 660 * 10**9
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert all(600 * 10**9 <= gap <= 660 * 10**9 for gap in gaps), gaps
    assert len(set(gaps)) == len(gaps)  # really drawn, not a constant offset
    assert all(t % 1000 == 0 for t in first)  # datetimes are whole microseconds


def _other():
    return None


def _poll_and_nameless(with_others):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", minutes=10, jitter=60, id="poll")
    if with_others:  # jobs of another callable: one firing (and drawing jitter) more often, one without an id
        scheduler.add_job(_other, "interval", minutes=3, jitter=30, id="busy")
        scheduler.add_job(_other, "cron", minute="*/5", jitter=20)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z", seed=4) as sim:
        nameless = scheduler.add_job(_noop, "cron", minute="*/20", jitter=10).id
        sim.advance("1h")
        scheduler.reschedule_job("poll", trigger="interval", minutes=10, jitter=60)  # a new trigger, drawn at once
        sim.advance("1h")
        assert not with_others or len(sim.runs("busy")) > 30
        return [r.start_ns for r in sim.runs("poll")], nameless, [r.start_ns for r in sim.runs(nameless)]


def test_another_job_drawing_jitter_or_an_id_moves_none_of_this_jobs():
    # every job's jitter came from one generator of the plugin, and every id-less job's id from another:
    # a job that fires more often (or one more job without an id) moved every other job's fire times and ids
    alone = _poll_and_nameless(False)
    assert _poll_and_nameless(True) == alone
    assert len(alone[0]) == 10 and len(alone[2]) == 6


def test_a_date_job_runs_once_at_its_instant_and_run_until_idle_waits_for_it(scheduler):
    scheduler.add_job(_noop, "date", run_date=dt.datetime(2025, 3, 2, 8, 15, tzinfo=dt.timezone.utc), id="once")
    scheduler.add_job(_noop, "interval", minutes=1, id="busy")  # recurring: does not keep run_until_idle going
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.run_until_idle()
        assert starts(sim.runs("once")) == ["2025-03-02T08:15:00Z"]
        assert sim.now == dt.datetime(2025, 3, 2, 8, 15, tzinfo=dt.timezone.utc)
        assert scheduler.get_job("once") is None  # its trigger has no next fire time: removed (base.py:1232-1233)
        sim.advance("1d")
        assert len(sim.runs("once")) == 1
        scheduler.add_job(_noop, "date", run_date="2025-03-05 00:00:00", id="later")  # from the test, mid-run
        sim.run_until_idle()
        assert starts(sim.runs("later")) == ["2025-03-05T00:00:00Z"]


def test_an_interval_job_stops_at_its_end_date_and_is_removed(scheduler):
    scheduler.add_job(_noop, "interval", hours=1, id="hourly",
                      start_date="2025-03-01 00:30:00", end_date="2025-03-01 03:30:00")  # fmt: skip
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("6h")
        assert starts(sim.runs("hourly")) == [
            "2025-03-01T00:30:00Z", "2025-03-01T01:30:00Z", "2025-03-01T02:30:00Z", "2025-03-01T03:30:00Z",
        ]  # fmt: skip
        assert scheduler.get_job("hourly") is None


def test_a_job_added_before_the_simulation_counts_its_interval_from_the_simulations_start(scheduler):
    """``IntervalTrigger`` defaults ``start_date`` to ``datetime.now() + interval`` when it is built
    (``triggers/interval.py:69``), here on the real clock: the simulation moves it to its start."""
    scheduler.add_job(_noop, "interval", minutes=15, id="quarterly")
    scheduler.add_job(_noop, id="at-once")  # no trigger: a date trigger at "now"
    # the idiom for "run once at start, then hourly"; and a date the user chose, left alone
    scheduler.add_job(_noop, "interval", hours=1, next_run_time=dt.datetime.now(dt.timezone.utc), id="hourly")
    scheduler.add_job(_noop, "date", run_date="2025-03-01 00:20:00", id="chosen")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("31min")
        assert starts(sim.runs("quarterly")) == ["2025-03-01T00:15:00Z", "2025-03-01T00:30:00Z"]
        assert starts(sim.runs("at-once")) == ["2025-03-01T00:00:00Z"]
        assert starts(sim.runs("hourly")) == ["2025-03-01T00:00:00Z"]  # then 01:00 (start_date = start + 1 h)
        assert starts(sim.runs("chosen")) == ["2025-03-01T00:20:00Z"]
        sim.advance("30min")
        assert starts(sim.runs("hourly")) == ["2025-03-01T00:00:00Z", "2025-03-01T01:00:00Z"]


def test_jobs_added_from_the_test_read_the_virtual_clock(scheduler):
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("1h")
        scheduler.add_job(_noop, "interval", minutes=20, id="late")  # start_date = virtual now + 20 min
        sim.advance("1h")
        assert starts(sim.runs("late")) == ["2025-03-01T01:20:00Z", "2025-03-01T01:40:00Z", "2025-03-01T02:00:00Z"]


def test_a_run_after_a_wakeup_at_a_fraction_of_a_second_starts_on_its_run_time_to_the_microsecond(scheduler):
    """3.11's wait is ``next.timestamp() - now.timestamp()`` (``base.py:1256-1259``): from 00:00:00.123457 to
    01:00 it is 3599.876543045 s, which rounded up started the 01:00 run at 01:00:00.000001 (found by the review)."""
    scheduler.add_job(_noop, "date", run_date="2025-03-01T00:00:00.123457+00:00", id="once")
    scheduler.add_job(_noop, "cron", minute=0, id="hourly")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("2h30min")
        assert starts(sim.runs("once")) == ["2025-03-01T00:00:00.123457Z"]
        assert starts(sim.runs("hourly")) == ["2025-03-01T00:00:00Z", "2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z"]


def test_run_until_idle_waits_for_a_date_job_to_the_microsecond(scheduler):
    """``run_until_idle`` waits for a one-time job's instant; computed as ``int(timestamp() * 1e6)`` it was a
    microsecond early for this one (floats past 2038), and stopped with the job not run (found by the review)."""
    scheduler.add_job(_noop, "date", run_date="2039-01-04T16:16:18.714009+00:00", id="once")
    scheduler.add_job(_noop, "interval", minutes=7, id="busy")
    with jobsim.Simulation(scheduler, start="2039-01-04T00:00:00Z") as sim:
        sim.run_until_idle()
        assert starts(sim.runs("once")) == ["2039-01-04T16:16:18.714009Z"]


def test_a_calendar_interval_job_added_before_the_simulation_counts_from_the_simulations_day(scheduler):
    """``CalendarIntervalTrigger`` defaults ``start_date`` to ``date.today()`` when it is built
    (``triggers/calendarinterval.py:103``), here the real day: the job's first run was that day at
    03:00, so a simulation of another day never ran it. The simulation moves it to its start's day,
    as for ``IntervalTrigger``; a ``start_date`` the user gave is left alone."""
    scheduler.add_job(_noop, "calendarinterval", days=1, hour=3, timezone="UTC", id="nightly")
    scheduler.add_job(_noop, "calendarinterval", weeks=1, hour=3, start_date="2025-03-03", timezone="UTC", id="mine")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("3d")
        assert starts(sim.runs("nightly")) == ["2025-03-01T03:00:00Z", "2025-03-02T03:00:00Z", "2025-03-03T03:00:00Z"]
        assert starts(sim.runs("mine")) == ["2025-03-03T03:00:00Z"]


def test_a_year_in_four_zones_fires_where_the_triggers_say_across_every_dst_change(scheduler):
    """New York and London spring forward in March and fall back in October/November, Sydney (southern
    hemisphere) falls back on 2025-04-06 and springs forward on 2025-10-05, Kolkata has no DST: 01:30 and
    02:30 fall in each gap or repeated hour once. Every run is at the instant, and with the run time, that
    APScheduler's own trigger and run-time loop give."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for zone in ZONES:
        city = zone.split("/")[1].lower()
        scheduler.add_job(_noop, "cron", hour="1,2", minute=30, timezone=zone, id=f"night-{city}")
        scheduler.add_job(_noop, "cron", hour="1,2", minute=30, timezone=zone, id=f"each-{city}", coalesce=False)
        scheduler.add_job(_noop, "cron", day="last", hour=0, minute=30, timezone=zone, id=f"billing-{city}")
    with jobsim.Simulation(scheduler, start=start) as sim:
        sim.advance_to(end)
        assert_runs_are_schedulers_own(sim, scheduler, start, end)
        def night(city, day):
            return [t[11:] for r in sim.runs(f"night-{city}") if (t := r.event.data["run_time"]).startswith(day)]

        # a repeated 01:30 (or 02:30 in Sydney) runs twice; but a gap time does NOT run when the trigger reaches it
        # from the night's 01:30: get_next_fire_time steps from 01:30:01 to the next hour by adding in UTC
        # (_increment_field_value, datetime_utc_add), lands on 03:00, and hour 3 is not in "1,2" -- while
        # hour=2 alone reaches the gap day through the day field and builds 02:30 at fold=0 (it runs, 03:30
        # on the wall: test_a_wall_time_in_the_spring_forward_gap_fires_once_an_hour_later_on_the_wall)
        assert night("new_york", "2025-03-09") == ["01:30:00-05:00"]
        assert night("new_york", "2025-11-02") == ["01:30:00-04:00", "01:30:00-05:00", "02:30:00-05:00"]
        assert night("sydney", "2025-04-06") == ["01:30:00+11:00", "02:30:00+11:00", "02:30:00+10:00"]
        assert night("sydney", "2025-10-05") == ["01:30:00+10:00"]
        # London's gap is 01:00-02:00: reached from the day before, 01:30 is built at fold=0, 01:30 GMT, the
        # instant of 02:30 BST, which the trigger then gives too: coalescing (the default) runs it once, with
        # the later run time; coalesce=False runs both, at 01:30Z
        assert night("london", "2025-03-30") == ["02:30:00+01:00"]
        assert [t for r in sim.runs("each-london") if (t := r.event.data["run_time"]).startswith("2025-03-30")] == [
            "2025-03-30T01:30:00+00:00", "2025-03-30T02:30:00+01:00",
        ]  # fmt: skip
        assert night("london", "2025-10-26") == ["01:30:00+01:00", "01:30:00+00:00", "02:30:00+00:00"]
        assert len(sim.runs("night-kolkata")) == 730
        assert len(sim.runs("billing-kolkata")) == 12


def test_a_name_with_a_suffix_apscheduler_does_not_read_fires_as_the_bare_name(scheduler):
    """APScheduler 3.11's weekday and month name patterns have no end anchor (``triggers/cron/expressions.py``
    ``WeekdayRangeExpression``/``MonthRangeExpression.value_re``, read with ``re.match``): ``day_of_week="mon#2"``
    is read as ``"mon"``, every Monday, in production too. The simulation runs APScheduler's reading; the second
    Monday of the month is ``day="2nd mon"``."""
    scheduler.add_job(_noop, "cron", day_of_week="mon#2", hour=9, id="misread")
    scheduler.add_job(_noop, "cron", day="2nd mon", hour=9, id="second-monday")
    with jobsim.Simulation(scheduler, start="2025-01-01T00:00:00Z") as sim:
        sim.advance("31d")
        assert str(scheduler.get_job("misread").trigger) == "cron[day_of_week='mon', hour='9']"
        assert starts(sim.runs("misread")) == [
            "2025-01-06T09:00:00Z", "2025-01-13T09:00:00Z", "2025-01-20T09:00:00Z", "2025-01-27T09:00:00Z",
        ]  # fmt: skip
        assert starts(sim.runs("second-monday")) == ["2025-01-13T09:00:00Z"]


def test_a_cron_trigger_that_never_fires_leaves_its_job_paused_without_a_word(scheduler):
    """``day=31`` in 30-day months: ``get_next_fire_time`` finds nothing up to year 9999 and returns None, and
    ``_real_add_job`` stores the job with ``next_run_time=None`` -- paused, no error, no log
    (``schedulers/base.py``), as in production; ``get_job(id).next_run_time is None`` tells."""
    scheduler.add_job(_noop, "cron", month="4,6,9,11", day=31, id="never")
    with jobsim.Simulation(scheduler, start="2025-01-01T00:00:00Z") as sim:
        sim.advance("366d")
        assert sim.runs("never") == []
        assert sim.apscheduler.job("never").next_run_time is None


def test_calendar_intervals_in_four_zones_fire_where_the_triggers_say_across_every_dst_change(scheduler):
    """``CalendarIntervalTrigger.get_next_fire_time`` combines the next date with the wall time and normalizes it
    through a timestamp (``triggers/calendarinterval.py:138-146``): a time in the spring-forward gap comes back
    as another wall time, and that date is skipped (the interval counts on from it); a time in the repeated hour
    is its first occurrence (``combine`` makes fold=0). Every run is where the trigger itself, driven by
    APScheduler's run-time loop, puts it. (The simulation starts a day early: Sydney's first 01:30 is
    2024-12-31 in UTC.)"""
    start = dt.datetime(2024, 12, 31, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for zone in ZONES:
        city = zone.split("/")[1].lower()
        for hour in (1, 2):
            scheduler.add_job(_noop, "calendarinterval", days=1, hour=hour, minute=30, start_date="2025-01-01",
                              timezone=zone, id=f"daily-{hour}-{city}")  # fmt: skip
        scheduler.add_job(_noop, "calendarinterval", weeks=1, hour=2, minute=30, start_date="2025-01-05",
                          timezone=zone, id=f"sundays-{city}")  # fmt: skip
        scheduler.add_job(_noop, "calendarinterval", months=1, hour=2, minute=30, start_date="2025-01-30",
                          timezone=zone, id=f"monthly-{city}")  # fmt: skip
    with jobsim.Simulation(scheduler, start=start) as sim:
        sim.advance_to(end)
        assert_runs_are_schedulers_own(sim, scheduler, start, end)

        def days(job_id, prefix):
            return [t for r in sim.runs(job_id) if (t := r.event.data["run_time"]).startswith(prefix)]

        # 03-09's 02:30 does not exist: that day is skipped
        assert days("daily-2-new_york", "2025-03-0") == [f"2025-03-0{d}T02:30:00-05:00" for d in range(1, 9)]
        assert days("daily-2-new_york", "2025-03-10") == ["2025-03-10T02:30:00-04:00"]
        assert days("daily-1-new_york", "2025-11-02") == ["2025-11-02T01:30:00-04:00"]  # the first 01:30 only
        assert days("sundays-new_york", "2025-03-") == ["2025-03-02T02:30:00-05:00", "2025-03-16T02:30:00-04:00",
                                                        "2025-03-23T02:30:00-04:00", "2025-03-30T02:30:00-04:00"]
        assert days("daily-2-sydney", "2025-10-05") == [] and days("daily-2-sydney", "2025-04-06") == [
            "2025-04-06T02:30:00+11:00"]  # fmt: skip
        assert [r.event.data["run_time"][:10] for r in sim.runs("monthly-london")][:3] == [
            "2025-01-30", "2025-03-30", "2025-04-30"]  # no February 30; March 30's 02:30 BST exists
        assert len(sim.runs("daily-2-kolkata")) == 366  # to 2026-01-01 02:30 IST, 2025-12-31 21:00 UTC
