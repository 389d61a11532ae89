"""Trial 38's wall-clock findings: pytz/dateutil zones as tz=, the clock of threads job code starts, what the
test's own threads see during a driving call, sched.scheduler in job code."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

import jobsim
from jobsim import InvalidArgument, _time
from jobsim._time import instant_ns, zone, zone_name

pytz = pytest.importorskip("pytz")
dateutil_tz = pytest.importorskip("dateutil.tz")

NY_SKIPPED = re.escape("does not exist in America/New_York: the clocks skip it that day, going from UTC-05:00 to "
                       "UTC-04:00; give the instant with its offset, e.g. '2025-03-09T03:30:00-04:00'")
NY_TWICE = re.escape("happens twice in America/New_York (the clocks go back that day): give the instant with its "
                     "offset, '2025-11-02T01:30:00-04:00' for the first or '2025-11-02T01:30:00-05:00' for the second")


def _app() -> jobsim.App:
    app = jobsim.App("t")
    app.function("f", on="go")(lambda ctx: None)
    return app


@pytest.mark.parametrize("tz", [pytz.timezone("America/New_York"), dateutil_tz.gettz("America/New_York")],
                         ids=["pytz", "dateutil"])
def test_a_pytz_or_dateutil_zone_reads_naive_times_as_zoneinfo_does(tz):
    # pytz's zone attached by replace(tzinfo=) is its local mean time, -04:56: start was 13:56Z, shown 09:56 EDT
    with jobsim.Simulation(_app(), start="2025-03-10T09:00:00", tz=tz) as sim:
        assert sim.now == dt.datetime(2025, 3, 10, 13, tzinfo=dt.timezone.utc)
        assert sim.tz == ZoneInfo("America/New_York")
        sim.advance_to("2025-03-10T10:00:00")
        assert sim.now == dt.datetime(2025, 3, 10, 14, tzinfo=dt.timezone.utc)
        with pytest.raises(InvalidArgument, match="at='2025-03-09T02:30:00' " + NY_SKIPPED):
            sim.advance_to("2025-03-09T02:30:00")  # dateutil took it as 06:30Z
        with pytest.raises(InvalidArgument, match="at='2025-11-02T01:30:00' " + NY_TWICE):
            sim.advance_to("2025-11-02T01:30:00")
    with pytest.raises(InvalidArgument, match="start='2025-03-09T02:30:00' " + NY_SKIPPED):
        jobsim.Simulation(_app(), start="2025-03-09T02:30:00", tz=tz)


def test_pytz_and_dateutil_zones_become_the_standard_librarys():
    assert zone(pytz.timezone("Europe/Paris")) == ZoneInfo("Europe/Paris")
    assert zone(pytz.timezone("America/New_York").localize(dt.datetime(2025, 7, 1)).tzinfo) == ZoneInfo(
        "America/New_York")  # a localized one: its zone, not its one offset
    assert zone(pytz.utc) is zone(dateutil_tz.UTC) is dt.timezone.utc
    assert zone(pytz.FixedOffset(330)) == zone(dateutil_tz.tzoffset(None, 19800)) == dt.timezone(
        dt.timedelta(minutes=330))
    assert zone_name(zone(dateutil_tz.gettz("Asia/Tokyo"))) == "Asia/Tokyo"  # was "tzfile('/usr/share/zoneinfo/...')"
    local = dateutil_tz.tzlocal()
    assert zone(local) is local  # no IANA name: kept, and read through astimezone


def test_a_zone_kept_as_given_still_reads_naive_times_right_and_refuses_gaps_and_folds(monkeypatch):
    eastern = dateutil_tz.tzstr("EST5EDT,M3.2.0,M11.1.0")  # POSIX rules, no IANA name: kept
    assert zone(eastern) is eastern
    assert instant_ns("2025-03-10T09:00:00", tz=eastern) == instant_ns("2025-03-10T13:00:00Z")
    with pytest.raises(InvalidArgument, match=r"does not exist in .*going from UTC-05:00 to UTC-04:00"):
        instant_ns("2025-03-09T02:30:00", "at", tz=eastern)
    with pytest.raises(InvalidArgument, match=r"happens twice in .*'2025-11-02T01:30:00-04:00' for the first"):
        instant_ns("2025-11-02T01:30:00", "at", tz=eastern)

    def missing(key: str) -> ZoneInfo:
        raise _time.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(_time, "ZoneInfo", missing)  # a machine whose zoneinfo lacks it: pytz's own zone is used
    ny = pytz.timezone("America/New_York")
    assert zone(ny) is ny
    assert instant_ns("2025-03-10T09:00:00", tz=ny) == instant_ns("2025-03-10T13:00:00Z")
    assert instant_ns(dt.datetime(2025, 1, 10, 9, 0, 0, 5), tz=ny) == instant_ns("2025-01-10T14:00:00.000005Z")
    with pytest.raises(InvalidArgument, match="at='2025-03-09T02:30:00' " + NY_SKIPPED):
        instant_ns("2025-03-09T02:30:00", "at", tz=ny)
    with pytest.raises(InvalidArgument, match="at='2025-11-02T01:30:00' " + NY_TWICE):
        instant_ns("2025-11-02T01:30:00", "at", tz=ny)


def test_naive_times_at_the_ends_of_the_calendar_still_read():
    assert instant_ns("0001-01-01T05:00:00", tz=ZoneInfo("America/New_York")) == instant_ns("0001-01-01T09:56:02Z")
    assert instant_ns("9999-12-31T18:00:00", tz=ZoneInfo("America/New_York")) == instant_ns("9999-12-31T23:00:00Z")


def test_a_thread_job_code_starts_sees_the_jobs_time_moving_on_so_a_deadline_there_comes():
    import threading
    import time

    app, seen = jobsim.App("t"), {}

    def poller() -> None:
        seen["first"] = dt.datetime.now(dt.timezone.utc)
        deadline, polls = time.time() + 0.3, 0
        while time.time() < deadline and polls < 50:  # the clock stood still: 50 polls, then the test fails
            polls += 1
            time.sleep(0.02)
        seen["polls"] = polls

    @app.function("f", on="go")
    def f(ctx):
        thread = threading.Thread(target=poller)
        thread.start()
        thread.join()
        seen["job"] = dt.datetime.now(dt.timezone.utc)

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.send("go")
        sim.run_until_idle()
    start = dt.datetime(2025, 3, 1, 9, tzinfo=dt.timezone.utc)
    assert start <= seen["first"] < start + dt.timedelta(seconds=5)  # the job's time, not 2026
    assert seen["polls"] < 50
    assert seen["job"] == start  # job code's own clock stays virtual


def test_the_tests_own_loop_reads_the_real_clock_while_a_thread_drives_the_simulation():
    import asyncio
    import time

    app = jobsim.App("t")

    @app.function("f", on="go")
    def f(ctx):
        time.sleep(3600)
        began = time.perf_counter()
        while time.perf_counter() - began < 0.3:  # real time for the test's loop to look
            pass

    async def main() -> list[int]:
        years = []
        with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
            sim.send("go")

            async def watch() -> None:
                for _ in range(10):
                    years.append(dt.datetime.now(dt.timezone.utc).year)
                    years.append(time.gmtime(time.time()).tm_year)
                    await asyncio.sleep(0.03)

            watcher = asyncio.create_task(watch())
            await asyncio.to_thread(sim.run_until_idle)
            await watcher
        return years

    assert set(asyncio.run(main())) == {dt.datetime.now(dt.timezone.utc).year}


def test_a_thread_of_the_test_reads_the_tests_own_travelled_time_during_a_driving_call():
    import threading

    time_machine = pytest.importorskip("time_machine")
    app, asked, answered, seen = jobsim.App("t"), threading.Event(), threading.Event(), []

    def test_thread() -> None:  # started by the test, before the driving call
        asked.wait(10)
        seen.append(dt.datetime.now(dt.timezone.utc))
        answered.set()

    @app.function("f", on="go")
    def f(ctx):
        asked.set()
        answered.wait(10)
        seen.append(dt.datetime.now(dt.timezone.utc))

    travelled = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    with time_machine.travel(travelled, tick=False), jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        thread = threading.Thread(target=test_thread)
        thread.start()
        sim.send("go")
        sim.run_until_idle()
        thread.join()
    assert seen == [travelled, dt.datetime(2025, 3, 1, 9, tzinfo=dt.timezone.utc)]


def test_a_sched_scheduler_in_job_code_waits_in_virtual_time():
    import sched
    import time

    app, fired = jobsim.App("t"), []

    @app.function("f", on="go", retries=0)
    def f(ctx):
        scheduler = sched.scheduler()
        scheduler.enter(20, 1, lambda: fired.append(dt.datetime.now(dt.timezone.utc)))
        scheduler.run()  # waited 20 s of real time

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go")
        began = time.perf_counter()
        sim.run_until_idle()
        assert time.perf_counter() - began < 5
    assert fired == [dt.datetime(2025, 3, 1, 0, 0, 20, tzinfo=dt.timezone.utc)]
    assert sched.scheduler.__init__.__defaults__ == (time.monotonic, time.sleep)  # the test's, given back


def test_a_pytz_zone_attached_without_localize_is_refused_naming_the_minutes_and_the_fix():
    """``datetime(..., tzinfo=pytz.timezone(name))`` is pytz's local mean time, New York's -04:56: the instant
    was 4 minutes off, silently."""
    ny = pytz.timezone("America/New_York")
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(_app(), start=dt.datetime(2025, 3, 1, 9, tzinfo=ny))
    said = str(info.value)
    assert "pytz reads it as America/New_York's local mean time, UTC-04:56, not the UTC-05:00 its clocks " in said
    assert "off by 4m; build it with pytz.timezone('America/New_York').localize(datetime(...)), or use " in said
    with pytest.raises(InvalidArgument, match=r"Asia/Kolkata's local mean time, UTC\+05:53, not the UTC\+05:30"):
        instant_ns(dt.datetime(2025, 3, 1, 9).replace(tzinfo=pytz.timezone("Asia/Kolkata")), "at")
    with jobsim.Simulation(_app(), start=ny.localize(dt.datetime(2025, 3, 1, 9))) as sim:
        assert sim.now == dt.datetime(2025, 3, 1, 14, tzinfo=dt.timezone.utc)
        with pytest.raises(InvalidArgument, match=re.escape("at=datetime.datetime(2025, 7, 1, 9, 0, tzinfo=<")):
            sim.advance_to(dt.datetime(2025, 7, 1, 9, tzinfo=ny))
        sim.advance_to(ny.localize(dt.datetime(2025, 7, 1, 9)))  # EDT
        assert sim.now == dt.datetime(2025, 7, 1, 13, tzinfo=dt.timezone.utc)
    # a time really in local mean time (before 1883's standard time), and pytz's fixed zones, are taken as given
    assert instant_ns(dt.datetime(1850, 3, 1, 9, tzinfo=ny)) == instant_ns("1850-03-01T13:56:00Z")
    assert instant_ns(dt.datetime(2025, 3, 1, 9, tzinfo=pytz.FixedOffset(60))) == instant_ns("2025-03-01T08:00:00Z")
    assert instant_ns(dt.datetime(2025, 3, 1, 9, tzinfo=pytz.utc)) == instant_ns("2025-03-01T09:00:00Z")
