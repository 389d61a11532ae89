"""Changing the schedule from the test and from job code: pause/resume, remove, add, replace, decorators."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from apscheduler.jobstores.base import ConflictingIdError

import jobsim
from jobsim.errors import UnsupportedFeature


def starts(runs):
    """Each run's start as an ISO instant in UTC (``2025-03-01T09:00:00Z``)."""
    return [r.started_at.strftime("%Y-%m-%dT%H:%M:%S.%f").removesuffix(".000000") + "Z" for r in runs]


def _noop():
    return None


def test_pause_job_and_resume_job_from_the_test(scheduler):
    """``resume_job`` recomputes the next fire time from the (virtual) now (``schedulers/base.py:622-639``)."""
    scheduler.add_job(_noop, "interval", minutes=10, id="poll")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("25min")
        scheduler.pause_job("poll")
        assert scheduler.get_job("poll").next_run_time is None
        sim.advance("30min")
        scheduler.resume_job("poll")
        sim.advance("20min")
        assert starts(sim.runs("poll")) == [
            "2025-03-01T00:10:00Z", "2025-03-01T00:20:00Z", "2025-03-01T01:00:00Z", "2025-03-01T01:10:00Z",
        ]  # fmt: skip


def test_a_paused_scheduler_runs_nothing_until_resumed(scheduler):
    scheduler.add_job(_noop, "cron", minute="*/15", id="quarter", misfire_grace_time=None, coalesce=True)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        scheduler.pause()
        sim.advance("1h")
        assert sim.runs("quarter") == []
        scheduler.resume()  # the four missed run times coalesce into one run, now
        sim.advance("10min")
        assert starts(sim.runs("quarter")) == ["2025-03-01T01:00:00Z"]
        assert sim.runs("quarter")[0].event.data["run_time"] == "2025-03-01T01:00:00+00:00"


def test_job_code_removes_itself_and_adds_another_job(scheduler):
    """Job code calls the scheduler at its own instant; the change takes effect at once."""
    countdown = [3]

    def tick():
        countdown[0] -= 1
        if countdown[0] == 0:
            scheduler.remove_job("tick")
            scheduler.add_job(_noop, "interval", hours=1, id="after")

    scheduler.add_job(tick, "interval", minutes=5, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("3h")
        assert starts(sim.runs("tick")) == ["2025-03-01T00:05:00Z", "2025-03-01T00:10:00Z", "2025-03-01T00:15:00Z"]
        assert starts(sim.runs("after")) == ["2025-03-01T01:15:00Z", "2025-03-01T02:15:00Z"]
        assert scheduler.get_job("tick") is None


def test_job_code_changing_the_schedule_after_sleeping_is_refused(scheduler):
    """Its body runs in one go at its start: a change after ``time.sleep`` would land too early."""

    def late():
        time.sleep(30)
        scheduler.pause_job("late")

    scheduler.add_job(late, "interval", minutes=5, id="late")
    # a jobsim error is not the job's EVENT_JOB_ERROR: it stops the test, naming the call and the fix
    refused = (r"scheduler.pause_job\(\) was called from job code of 'late' after it spent virtual time .* "
               r"Call scheduler.pause_job\(\) before the job sleeps")  # fmt: skip
    with (
        jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim,
        pytest.raises(UnsupportedFeature, match=refused),
    ):
        sim.advance("5min")


def test_replace_existing_swaps_the_job_and_a_duplicate_id_is_apschedulers_error(scheduler):
    scheduler.add_job(_noop, "interval", minutes=10, id="sync")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("15min")
        with pytest.raises(ConflictingIdError):
            scheduler.add_job(_noop, "interval", minutes=1, id="sync")
        scheduler.add_job(_noop, "interval", minutes=1, id="sync", replace_existing=True)
        sim.advance("3min")
        assert starts(sim.runs("sync")) == [
            "2025-03-01T00:10:00Z", "2025-03-01T00:16:00Z", "2025-03-01T00:17:00Z", "2025-03-01T00:18:00Z",
        ]  # fmt: skip


def test_the_scheduled_job_decorator_and_reschedule_job(scheduler):
    @scheduler.scheduled_job("cron", hour="*/6", id="sixhourly")
    def sixhourly():
        return "ok"

    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("13h")
        scheduler.reschedule_job("sixhourly", trigger="cron", minute=0)  # now hourly, from 13:00 itself
        sim.advance("3h")
        # a cron time equal to now fires now (get_next_fire_time(None, now) may return now): 00:00 is the first
        assert starts(sim.runs(sixhourly.__name__)) == [
            "2025-03-01T00:00:00Z", "2025-03-01T06:00:00Z", "2025-03-01T12:00:00Z", "2025-03-01T13:00:00Z",
            "2025-03-01T14:00:00Z", "2025-03-01T15:00:00Z", "2025-03-01T16:00:00Z",
        ]  # fmt: skip
        assert sim.runs("sixhourly")[0].output == "ok"


def test_shutdown_from_the_test_stops_the_schedule(scheduler):
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("2min")
        scheduler.shutdown()
        sim.advance("1h")
        assert len(sim.runs("tick")) == 2
        assert sim.apscheduler.driven[0].wake is None


def test_sim_apscheduler_job_and_a_blocking_scheduler():
    """A BlockingScheduler's ``start()`` would block in ``_main_loop``: the simulation never calls it."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    blocking = BlockingScheduler(timezone="UTC")
    blocking.add_job(_noop, "interval", seconds=30, id="half")
    with jobsim.Simulation(blocking, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("2min")
        assert len(sim.runs("half")) == 4
        assert sim.apscheduler.job("half").id == "half"
        with pytest.raises(jobsim.InvalidArgument, match="job_id='nope'"):
            sim.apscheduler.job("nope")
        with pytest.raises(jobsim.InvalidArgument, match=r"\(did you mean 'half'\?\); the scheduled jobs now: 'half'"):
            sim.apscheduler.job("hlaf")


def test_sim_apscheduler_job_of_a_job_that_fired_its_date_says_it_is_gone(scheduler):
    """A date job is removed once it fired (``schedulers/base.py:1224-1233``): the error said it was never
    scheduled in this simulation, which sent the user looking for a typo."""
    scheduler.add_job(_noop, "date", run_date="2025-03-01T00:01:00Z", id="once")
    scheduler.add_job(_noop, "interval", minutes=10, id="poll")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        assert sim.apscheduler.job("once").id == "once"
        sim.advance("2min")
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.apscheduler.job("once")
        assert "was scheduled in this simulation but is no longer in its scheduler" in str(info.value)
        assert "its runs are in sim.runs('once'); the scheduled jobs now: 'poll'" in str(info.value)


def test_a_misspelt_keyword_of_sim_apscheduler_job_names_the_one_meant(scheduler):
    scheduler.add_job(_noop, "interval", minutes=10, id="poll")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim, \
            pytest.raises(jobsim.InvalidArgument) as info:  # fmt: skip
        sim.apscheduler.job(jobid="poll")
    assert str(info.value).startswith("sim.apscheduler.job() got an unknown keyword argument jobid='poll'")
    assert "(did you mean job_id=?); accepted: job_id" in str(info.value)


def test_a_scheduler_is_given_back_as_it_was_so_the_next_test_can_use_it():
    """A module-level scheduler with ``@scheduled_job`` jobs serves one test after another: each
    simulation starts it from the jobs it had before ``start()``, whatever the last one did."""
    from apscheduler.schedulers.background import BackgroundScheduler

    module_level = BackgroundScheduler(timezone="UTC")

    @module_level.scheduled_job("interval", minutes=10, id="poll")
    def poll():
        return None

    for start in ("2025-03-01T00:00:00Z", "2026-01-01T12:00:00Z"):
        with jobsim.Simulation(module_level, start=start) as sim:
            sim.advance("25min")
            module_level.add_job(_noop, "interval", minutes=1, id="added-in-the-test")
            module_level.pause_job("poll")
            sim.advance("1min")
            assert [r.started_at.strftime("%H:%M") for r in sim.runs("poll")] == (
                ["00:10", "00:20"] if start.startswith("2025") else ["12:10", "12:20"]
            )
        assert [job.id for job, _, _ in module_level._pending_jobs] == ["poll"]
        assert module_level._executors == {} and module_level._jobstores == {}


def _ids_of_jobs_added_without_one(seed):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")

    def beat():
        return "beat"

    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z", seed=seed) as sim:
        job = scheduler.add_job(beat, "interval", minutes=1)  # id: uuid4().hex (job.py:65), from the seed
        sim.advance("2min")
        assert [r.output for r in sim.runs(beat)] == ["beat", "beat"]  # found by its function too
        assert sim.runs(job.id) == sim.runs(beat)
        return job.id


def test_a_job_added_without_an_id_gets_one_drawn_from_the_seed():
    first = _ids_of_jobs_added_without_one(3)
    assert first == _ids_of_jobs_added_without_one(3)
    assert first != _ids_of_jobs_added_without_one(4)
    assert len(first) == 32 and first[12] == "4"  # a version-4 uuid's hex, as APScheduler makes it


def test_a_job_a_test_adds_before_its_simulation_is_replaced_by_the_next_tests_job_of_that_id():
    """Given back after the first simulation, the first test's ``oneoff`` met the second test's at ``start()``:
    ``ConflictingIdError`` from inside the memory job store (found by the review). The job added last wins."""
    from apscheduler.schedulers.background import BackgroundScheduler

    module_level = BackgroundScheduler(timezone="UTC")

    @module_level.scheduled_job("cron", minute=0, id="hourly")
    def hourly():
        return None

    for run_date, expected in (("2025-03-01T00:30:00Z", "00:30"), ("2025-03-01T00:45:00Z", "00:45")):
        module_level.add_job(_noop, "date", run_date=run_date, id="oneoff")  # each test's own set-up
        with jobsim.Simulation(module_level, start="2025-03-01T00:00:00Z") as sim:
            sim.advance("1h")
            assert [r.started_at.strftime("%H:%M") for r in sim.runs("oneoff")] == [expected]
            assert [r.started_at.strftime("%H:%M") for r in sim.runs("hourly")] == ["00:00", "01:00"]
        assert [job.id for job, _, _ in module_level._pending_jobs] == ["hourly", "oneoff"]


def test_a_module_level_interval_job_counts_from_each_simulations_start_however_long_the_test_run(monkeypatch):
    """Its ``start_date`` is the real clock at import + interval (``triggers/interval.py:69``); the first
    simulation rebases it, the one given back has the import-time date again. Once the test run was 10
    minutes old that date was taken for the user's own: the job counted from the real import day, and never
    ran in a simulation of 2025 (found by the review)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from jobsim._wallclock import WallClock

    module_level = BackgroundScheduler(timezone="UTC")
    module_level.add_job(_noop, "interval", minutes=10, id="poll")
    module_level.add_job(_noop, "date", id="at-start")  # run_date: the real now (triggers/date.py:24)
    real_now = WallClock.real_now
    for minutes_later in (0, 25, 90):
        later = dt.timedelta(minutes=minutes_later)
        monkeypatch.setattr(WallClock, "real_now", staticmethod(lambda later=later: real_now() + later))
        with jobsim.Simulation(module_level, start="2025-03-01T00:00:00Z") as sim:
            sim.advance("25min")
            assert starts(sim.runs("poll")) == ["2025-03-01T00:10:00Z", "2025-03-01T00:20:00Z"], minutes_later
            assert starts(sim.runs("at-start")) == ["2025-03-01T00:00:00Z"], minutes_later
