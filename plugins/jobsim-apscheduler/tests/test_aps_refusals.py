"""What jobsim-apscheduler refuses, each with a message naming the problem and the fix."""

from __future__ import annotations

import asyncio
import sys

import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ProcessPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

import jobsim
from jobsim.errors import JobsimError, UnsupportedFeature
from jobsim.hooks import ClassGuard


def _noop():
    return None


def test_a_running_scheduler_is_refused():
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)  # a real thread, for a moment
    try:
        with pytest.raises(jobsim.InvalidArgument, match=r"already running \(scheduler.start\(\) was called\).*"
                                                         r"Pass it before starting it"):  # fmt: skip
            jobsim.Simulation(scheduler)
    finally:
        scheduler.shutdown(wait=False)


def test_starting_a_scheduler_before_its_simulation_starts_is_refused_not_run_for_real():
    # an unstarted simulation guarded nothing: the test's scheduler.start() ran a real thread (the other backends'
    # calls were refused so, APScheduler's were not)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    sim = jobsim.Simulation(scheduler)
    with pytest.raises(JobsimError, match=r"^BackgroundScheduler.start\(\) was called while a jobsim.Simulation that "
                                          r"runs this apscheduler code \(built at .*test_aps_refusals.py:\d+ in "
                                          r"test_starting_.*\) has not started: .* Start the simulation first"):
        scheduler.start(paused=True)
    assert not scheduler.running
    with sim:
        sim.advance("1min")
        assert len(sim.runs(_noop)) == 1
    unused = jobsim.Simulation(BackgroundScheduler(timezone="UTC"))
    assert getattr(BaseScheduler.start, "_jobsim_guard", False)  # held (ClassGuard marks its wrappers)
    unused.close()  # built and closed, never started: APScheduler's own start() again
    assert not getattr(BaseScheduler.start, "_jobsim_guard", False)


def test_a_scheduler_started_after_its_simulation_was_built_is_refused_at_the_simulations_start():
    # once the hold is let go of (the pytest plugin does after each test), start() runs a real thread, and
    # `with sim:` failed with APScheduler's own SchedulerAlreadyRunningError
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    sim = jobsim.Simulation(scheduler)
    ClassGuard.release_unstarted()
    scheduler.start(paused=True)
    try:
        with pytest.raises(JobsimError, match=r"^the APScheduler BackgroundScheduler of this simulation was started "
                                              r"\(scheduler.start\(\)\) after the Simulation was built .* shut it "
                                              r"down \(scheduler.shutdown\(\)\)$"):  # fmt: skip
            sim.start()
        assert repr(sim).endswith(" closed>")
    finally:
        scheduler.shutdown(wait=False)


def test_a_process_pool_or_debug_executor_is_refused_naming_the_fix():
    pool = ProcessPoolExecutor(max_workers=2)
    try:
        scheduler = BackgroundScheduler(timezone="UTC", executors={"default": pool})
        with pytest.raises(
            UnsupportedFeature,
            match=r"executor 'default' .* is a ProcessPoolExecutor.*"
            r"executors=\{'default': ThreadPoolExecutor\(max_workers\)\}",
        ):
            jobsim.Simulation(scheduler)
    finally:
        pool.shutdown(wait=False)
    scheduler = BackgroundScheduler(timezone="UTC", executors={"inline": DebugExecutor()})
    scheduler.add_job(_noop, "interval", seconds=1, id="inline-job", executor="inline")
    with pytest.raises(UnsupportedFeature, match=r"APScheduler job 'inline-job' runs on executor 'inline' .* is a "
                                                 r"DebugExecutor"):  # fmt: skip
        jobsim.Simulation(scheduler)


def test_a_process_pool_beside_the_threads_is_refused_only_for_the_jobs_that_use_it():
    # APScheduler's user guide configures {'default': ThreadPoolExecutor(20), 'processpool': ProcessPoolExecutor(5)}:
    # the whole scheduler was refused although no job ran on the process pool
    from apscheduler.executors.pool import ThreadPoolExecutor

    pool = ProcessPoolExecutor(max_workers=1)
    try:
        scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(20),
                                                                   "processpool": pool})  # fmt: skip
        scheduler.add_job(_noop, "interval", minutes=1, id="sync")
        refused = r"APScheduler job '{}' runs on executor 'processpool' .* is a ProcessPoolExecutor"
        with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
            sim.advance("2m")
            assert [r.status for r in sim.runs("sync")] == ["completed", "completed"]
            with pytest.raises(UnsupportedFeature, match=refused.format("crunch")):  # added while simulating
                scheduler.add_job(_noop, "interval", minutes=1, id="crunch", executor="processpool")
            scheduler.modify_job("sync", executor="processpool")  # APScheduler would only log the submit error
            with pytest.raises(UnsupportedFeature, match=refused.format("sync")):
                sim.advance("1m")
        assert scheduler._executors["processpool"] is pool  # given back as it came, never started
        scheduler.add_job(_noop, "interval", minutes=1, id="crunch", executor="processpool")
        with pytest.raises(UnsupportedFeature, match=refused.format("crunch")):  # a job on it when given
            jobsim.Simulation(scheduler)
    finally:
        pool.shutdown(wait=False)


def test_an_executor_added_while_simulating_is_checked(scheduler):
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z"):
        with pytest.raises(UnsupportedFeature, match=r"executor 'inline' .* is a DebugExecutor"):
            scheduler.add_executor(DebugExecutor(), "inline")
        scheduler.add_executor("threadpool", "wide", max_workers=3)  # a plugin alias: built, then simulated
        assert type(scheduler._executors["wide"]).__name__ == "SimulatedPoolExecutor"
        assert scheduler._executors["wide"].max_workers == 3


def test_a_database_job_store_is_refused():
    class SqlStore(MemoryJobStore):  # stands in for SQLAlchemyJobStore & co: anything but the memory store
        pass

    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": SqlStore()})
    with pytest.raises(UnsupportedFeature, match=r"job store 'default' .* is a SqlStore.*in-memory job store only"):
        jobsim.Simulation(scheduler)


@pytest.mark.parametrize(
    ("module", "name", "base", "runs_on"),
    [
        ("gevent", "GeventScheduler", "blocking", "gevent hub"),  # a BlockingScheduler subclass, as in 3.11.3
        ("tornado", "TornadoScheduler", "base", "Tornado IOLoop"),
        ("twisted", "TwistedScheduler", "base", "Twisted reactor"),
        ("qt", "QtScheduler", "base", "Qt event loop"),
    ],
)
def test_schedulers_of_other_event_loops_are_refused_by_name(module, name, base, runs_on):
    """Stand-ins with the real classes' modules and bases (gevent, tornado, twisted and Qt are not installed)."""
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    parent = BlockingScheduler if base == "blocking" else BaseScheduler
    body = {"__module__": f"apscheduler.schedulers.{module}", "shutdown": lambda self, wait=True: None,
            "wakeup": lambda self: None}  # fmt: skip
    scheduler = type(name, (parent,), body)(timezone="UTC")
    refused = rf"drives BackgroundScheduler, BlockingScheduler and AsyncIOScheduler; got a {name}, whose {runs_on} it"
    with pytest.raises(UnsupportedFeature, match=refused):
        jobsim.Simulation(scheduler)


def test_an_asyncio_executor_on_a_thread_scheduler_and_a_process_pool_on_an_asyncio_one_are_refused():
    from apscheduler.executors.asyncio import AsyncIOExecutor

    with pytest.raises(UnsupportedFeature, match=r"executor 'default' .* is a AsyncIOExecutor: jobsim-apscheduler "
                                                 r"simulates ThreadPoolExecutor \(the default\) only"):  # fmt: skip
        jobsim.Simulation(BackgroundScheduler(timezone="UTC", executors={"default": AsyncIOExecutor()}))
    pool = ProcessPoolExecutor(max_workers=1)
    try:
        scheduler = AsyncIOScheduler(timezone="UTC", executors={"cpu": pool})
        scheduler.add_job(_noop, "interval", seconds=1, id="hash", executor="cpu")
        refused = (r"job 'hash' runs on executor 'cpu' .* is a ProcessPoolExecutor: jobsim-apscheduler simulates "
                   r"ThreadPoolExecutor and AsyncIOExecutor \(the defaults\) only .*"
                   r"ThreadPoolExecutor\(max_workers\)\} or AsyncIOExecutor\(\)")  # fmt: skip
        with pytest.raises(UnsupportedFeature, match=refused):
            jobsim.Simulation(scheduler)
    finally:
        pool.shutdown(wait=False)


def test_a_running_asyncio_scheduler_is_refused():
    async def main():
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.start(paused=True)  # on the real running loop
        try:
            with pytest.raises(jobsim.InvalidArgument, match=r"already running \(scheduler.start\(\) was called\): its "
                                                             r"event loop would fire jobs in real time"):  # fmt: skip
                jobsim.Simulation(scheduler)
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    asyncio.run(main())


def test_the_same_scheduler_twice_is_refused(scheduler):
    with pytest.raises(jobsim.InvalidArgument, match="passed to this Simulation twice"):
        jobsim.Simulation([scheduler, scheduler])


def test_a_job_id_in_two_schedulers_is_refused(scheduler):
    other = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", minutes=1, id="same")
    other.add_job(_noop, "interval", minutes=1, id="same")
    with pytest.raises(jobsim.InvalidArgument, match="job id 'same' is used by two schedulers"):
        jobsim.Simulation([scheduler, other])


def test_crash_worker_naming_a_job_is_refused(scheduler):
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    with (
        jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim,
        pytest.raises(UnsupportedFeature, match=r"crash_worker.*not simulated for APScheduler jobs"),
    ):
        sim.crash_worker(at="2025-03-01T00:05:00Z", function="tick")


def test_crash_worker_without_a_function_is_refused_when_only_jobs_could_be_hit(scheduler):
    """It was armed on jobsim's engine, which runs no APScheduler job: accepted, never fired, no warning."""
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        with pytest.raises(UnsupportedFeature) as info:
            sim.crash_worker(at="2025-03-01T00:05:00Z")
        assert str(info.value).startswith(
            "sim.crash_worker() without function= kills an attempt of a function jobsim's engine runs, and this "
            "simulation has none: its functions are run by the own worker of apscheduler")
        assert "; for a scheduler that was down, call scheduler.pause()" in str(info.value)
    app = jobsim.App("mixed")

    @app.function("engine-job", cron="*/5 * * * *")
    def engine_job(ctx):
        return None

    with jobsim.Simulation([scheduler, app], start="2025-03-01T00:00:00Z") as sim:
        sim.crash_worker(at="2025-03-01T00:05:00Z")  # the engine's function can take it


def test_downtime_is_refused_with_the_scheduler_outage_to_play_instead(scheduler):
    """The refusal pointed at sim.crash_worker(...), which jobsim-apscheduler refuses too."""
    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        with pytest.raises(UnsupportedFeature) as info:
            sim.downtime("2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z")
        assert str(info.value).startswith(
            "sim.downtime() is not simulated for apscheduler functions (their worker is the plugin's own); for a "
            "scheduler that was down, call scheduler.pause() at the outage's start and scheduler.resume() at its end")
        assert "crash_worker" not in str(info.value)


def test_two_simulations_with_schedulers_at_once_are_refused(scheduler):
    other = BackgroundScheduler(timezone="UTC")
    other.add_job(_noop, "interval", minutes=1, id="b")
    scheduler.add_job(_noop, "interval", minutes=1, id="a")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z"):
        second = jobsim.Simulation(other, start="2025-03-01T00:00:00Z")
        with pytest.raises(JobsimError, match="another simulation with an APScheduler scheduler is running"):
            second.start()
    with jobsim.Simulation(other, start="2025-03-01T00:00:00Z") as sim:  # after the first closed: fine
        sim.advance("1min")
        assert len(sim.runs("b")) == 1


def test_the_scheduler_is_left_stopped_and_unpatched_after_the_simulation(scheduler):
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.base import STATE_STOPPED

    scheduler.add_job(_noop, "interval", minutes=1, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("1min")
    assert scheduler.state == STATE_STOPPED
    assert "wakeup" not in vars(scheduler) and "add_job" not in vars(scheduler)
    assert "default" not in scheduler._executors  # the simulation's start() made it: a real start() makes its own
    assert [job.id for job, _, _ in scheduler._pending_jobs] == ["tick"]

    pooled = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(4)})
    user_pool = pooled._executors["default"]
    with jobsim.Simulation(pooled, start="2025-03-01T00:00:00Z"):
        assert pooled._executors["default"].max_workers == 4
    assert pooled._executors["default"] is user_pool


def test_a_job_passed_as_the_target_is_refused_naming_its_scheduler(scheduler):
    """``Simulation(job)`` (what ``add_job`` returns) got the generic "a jobsim.App or a target a backend
    plugin adapts" with every plugin's install line, though jobsim-apscheduler is installed."""
    job = scheduler.add_job(print, "interval", minutes=5, id="poll")
    with pytest.raises(jobsim.InvalidArgument, match=r"targets=<Job \(id=poll name=print\)> is not valid: an "
                       r"APScheduler job; jobsim-apscheduler drives a whole scheduler: pass the scheduler its "
                       r"add_job\(\) was called on"):
        jobsim.Simulation(job)


def _an_app():
    app = jobsim.App("other")

    @app.function("noop", on="noop")
    def noop(ctx):
        return None

    return app


def test_starting_a_scheduler_the_simulation_was_not_given_is_refused():
    # a test that forgot jobsim.Simulation(scheduler) and starts it: a real thread firing jobs in real time
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", seconds=1, id="noop")
    with jobsim.Simulation(_an_app()):
        refused = r"BackgroundScheduler.start\(\) was called while a simulation that runs no APScheduler scheduler "
        with pytest.raises(JobsimError, match=refused + r".*jobsim.Simulation\(scheduler\)"):
            scheduler.start()
        assert not scheduler.running
    given, other = BackgroundScheduler(timezone="UTC"), BackgroundScheduler(timezone="UTC")
    other.add_job(_noop, "interval", seconds=1, id="other-noop")
    with jobsim.Simulation(given) as sim:
        with pytest.raises(JobsimError, match=r"runs other schedulers but not this one"):
            other.start()
        given.pause()  # the given one is driven as before
        given.resume()
        sim.advance("1s")
    assert not other.running and not given.running
    other.start(paused=True)  # with no simulation running, APScheduler's own start
    other.shutdown(wait=False)


def test_a_negative_interval_is_refused_not_a_hang():
    """``IntervalTrigger`` adds its interval to the last fire time: a negative one makes each next fire time
    earlier, and ``Job._get_run_times`` never leaves its loop (the simulation hung in ``advance``)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", seconds=-5, id="backwards")
    with pytest.raises(jobsim.InvalidArgument, match=r"job 'backwards' has an interval trigger of -5 s: .*loop "
                                                     r"for ever. Give the interval trigger a positive interval"):
        jobsim.Simulation(scheduler)
    scheduler = BackgroundScheduler(timezone="UTC")
    with jobsim.Simulation(scheduler, start="2026-03-28T12:00:00Z") as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"job 'late' has an interval trigger of -60 s"):
            scheduler.add_job(_noop, "interval", minutes=-1, id="late")  # added while it runs, too
        sim.advance("1m")
    assert sim.runs() == []


def test_a_negative_interval_given_by_reschedule_or_modify_is_refused_too():
    """``reschedule_job``, ``modify_job`` and ``job.reschedule`` never pass ``_real_add_job``: a negative interval
    given there hung the simulation in ``Job._get_run_times`` as one given to ``add_job`` did."""
    from apscheduler.triggers.combining import AndTrigger, OrTrigger
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "interval", seconds=5, id="tick")
    with jobsim.Simulation(scheduler, start="2026-03-28T12:00:00Z") as sim:
        sim.advance("12s")
        with pytest.raises(jobsim.InvalidArgument, match=r"job 'tick' has an interval trigger of -5 s"):
            scheduler.reschedule_job("tick", trigger="interval", seconds=-5)
        with pytest.raises(jobsim.InvalidArgument, match=r"job 'tick' has an interval trigger of -60 s"):
            scheduler.get_job("tick").reschedule("interval", minutes=-1)
        nested = OrTrigger([CronTrigger(hour=3), AndTrigger([CronTrigger(minute="*"), IntervalTrigger(seconds=-1)])])
        with pytest.raises(jobsim.InvalidArgument, match=r"job 'tick' has an interval trigger of -1 s"):
            scheduler.modify_job("tick", trigger=nested)
        sim.advance("12s")
    assert len(sim.runs()) == 4  # still every 5 s: at 5, 10, 15 and 20 s


@pytest.mark.parametrize("options", [{"days": -1}, {"weeks": 1, "days": -7}, {"months": 1, "days": -28}])
def test_a_calendar_interval_that_does_not_move_forward_is_refused(options):
    """``CalendarIntervalTrigger`` steps by years, months, weeks and days from the last fire date: a step that is
    not forward (a month is 28 days at least) made ``Job._get_run_times`` loop for ever (a zero step) or walk back
    to the year 1, where it ended in a bare ``OverflowError`` out of ``sim.advance``."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "calendarinterval", id="monthly", **options)
    with pytest.raises(jobsim.InvalidArgument, match=r"job 'monthly' has a calendar interval trigger of "
                                                     r".* each next fire date would not be later than the last"):
        jobsim.Simulation(scheduler)


def test_a_calendar_interval_with_a_day_back_from_each_month_still_runs():
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "calendarinterval", months=1, days=-1, id="eve", start_date="2026-04-01")
    with jobsim.Simulation(scheduler, start="2026-03-28T12:00:00Z") as sim:
        sim.advance("70d")
    assert [run.started_at.date().isoformat() for run in sim.runs()] == ["2026-04-01", "2026-04-30", "2026-05-29"]


@pytest.mark.parametrize("options", [
    {"months": -1, "days": 31},  # 15 April -> 15 March + 31 days = 15 April, for ever
    {"years": 1, "months": -12},  # no step at all
    {"years": 1, "months": -11, "days": -28},  # a month back from a year on: 3 Feb -> 3 Mar - 28 days in 2027
    {"months": -1, "days": 32},  # 31 March -> 31 January (no 31 February) + 32 days = 4 March
])  # fmt: skip
def test_a_calendar_interval_going_back_by_months_is_refused_too(options):
    """Months going back are as long as 31 days each (and a day past the target month's end goes back another
    step); counting them as 28 days let a step that is no step at all through, and ``advance`` hung."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "calendarinterval", id="monthly", **options)
    with pytest.raises(jobsim.InvalidArgument, match=r"job 'monthly' has a calendar interval trigger of "
                                                     r".* each next fire date would not be later than the last"):
        jobsim.Simulation(scheduler)


@pytest.mark.parametrize(("options", "dates"), [
    ({"months": 2, "days": -57}, ["2026-04-15", "2026-04-19", "2026-04-23", "2026-04-27"]),  # 2 months: 59 days or more
    ({"months": 3, "days": -85}, ["2026-04-15", "2026-04-21", "2026-04-27", "2026-05-03"]),  # 3 months: 89 days or more
    ({"months": -1, "days": 62}, ["2026-04-15", "2026-05-16", "2026-06-17", "2026-07-18"]),  # back: 61 days at most
])  # fmt: skip
def test_a_calendar_interval_whose_every_step_is_forward_runs(options, dates):
    """Several months are longer than 28 days each: 2 months are 59 days at the least, so months=2, days=-57 moves
    2 days on at the least, and APScheduler runs it; it was refused as not forward."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_noop, "calendarinterval", id="drift", start_date="2026-04-15", **options)
    with jobsim.Simulation(scheduler, start="2026-04-14T12:00:00Z") as sim:
        sim.advance("100d")
    assert [run.started_at.date().isoformat() for run in sim.runs()][:4] == dates


def test_a_scheduler_a_running_simulation_drives_is_refused_naming_where_that_one_was_started(scheduler):
    """A module-scoped fixture's simulation started the scheduler, not the test: the refusal says so (it once
    said "scheduler.start() was called"), and a second simulation of another scheduler names it too."""
    other = BackgroundScheduler(timezone="UTC")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z"):
        started = _started_here()
        with pytest.raises(JobsimError) as same:
            jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z")
        with pytest.raises(JobsimError) as second:
            jobsim.Simulation(other, start="2025-03-01T00:00:00Z").start()
    assert str(same.value).startswith(
        "the APScheduler BackgroundScheduler passed to jobsim.Simulation is already driven by another simulation "
        "(<Simulation at ")
    assert f"running>, {started}), which started it in virtual time; close that one first" in str(same.value)
    assert "scheduler.start() was called" not in str(same.value)
    assert f"running>, {started}); close it before starting this one" in str(second.value)


def _started_here(back: int = 1) -> str:
    """``started at FILE:LINE in FUNCTION`` of the caller's line ``back`` lines up (where it started a simulation)."""
    frame = sys._getframe(1)
    return f"started at {frame.f_code.co_filename}:{frame.f_lineno - back} in {frame.f_code.co_name}"


def test_a_thread_job_waiting_with_no_timeout_for_another_jobs_event_is_refused_not_a_hang(monkeypatch):
    """Thread jobs run one after another: the second job, which would set the event, never runs while the first
    waits. The wait is refused at once (no other thread could set it), as the driving call's UnsupportedFeature."""
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)  # as in a plain pytest run (xdist adds a thread)
    ready = threading.Event()

    def consumer() -> None:
        ready.wait()

    def producer() -> None:
        ready.set()

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(consumer, "interval", minutes=1, id="consumer")
    scheduler.add_job(producer, "interval", minutes=1, id="producer")
    refused = r"^job code of function 'consumer' waits with no timeout in threading.Event.wait\(\), and no other "
    with jobsim.Simulation(scheduler) as sim, pytest.raises(UnsupportedFeature, match=refused + r"thread exists"):
        sim.advance("1min")
    assert threading.Condition.wait.__module__ == "threading"
