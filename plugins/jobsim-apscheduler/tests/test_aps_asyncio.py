"""AsyncIOScheduler: coroutine jobs on jobsim's loop in virtual time -- max_instances, misfires, coalescing, errors,
listeners, jobs that await each other, the loop's default executor, budgets, and the scheduler given back.

APScheduler 3.11.3 line numbers: ``schedulers/asyncio.py`` (the scheduler on its loop),
``executors/asyncio.py:31-52`` (a task of ``run_coroutine_job`` per submission, ``run_in_executor(None, run_job)``
for a plain function, events dispatched from the future's done callback), ``executors/base.py:161-197``
(``run_coroutine_job``: the misfire check, ``await job.func()``, ``except BaseException``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import gc
import itertools
import logging
import sys
import time
import weakref

import pytest
from aps_log import listen
from aps_own import ZONES, assert_runs_are_schedulers_own
from apscheduler import events as ev
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler

import jobsim
from jobsim.errors import BudgetExceeded, UnsupportedFeature

START = "2025-03-01T00:00:00Z"


def hms() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")


def starts(runs):
    return [(r.status, r.started_at.strftime("%H:%M:%S"), r.finished_at and r.finished_at.strftime("%H:%M:%S"))
            for r in runs]  # fmt: skip


# -- long coroutine jobs, max_instances, a blocked loop -------------------------------------------------
def test_await_asyncio_sleep_spends_virtual_time_and_holds_the_instance(aio):
    """interval 1 min, the job awaits ``asyncio.sleep(150)``: its task holds its ``max_instances=1`` slot until
    the done callback frees it (``executors/asyncio.py:32-39``), so the fires at 00:02 and 00:03 are
    EVENT_JOB_MAX_INSTANCES (``schedulers/base.py:1198-1211``) -- in no real time."""

    async def slow():
        await asyncio.sleep(150)
        return "done"

    aio.add_job(slow, "interval", minutes=1, id="slow")
    seen = listen(aio)
    with jobsim.Simulation(aio, start=START) as sim:
        real = time.monotonic()
        sim.advance("5min")
        assert time.monotonic() - real < 10  # not a real 150 s sleep; generous: 2 shared CI cores
        assert seen == [
            ("00:02:00.000", "max_instances", "slow", "00:02:00"),
            ("00:03:00.000", "max_instances", "slow", "00:03:00"),
            ("00:03:30.000", "executed", "slow", "00:01:00"),
            ("00:05:00.000", "max_instances", "slow", "00:05:00"),
        ]
        assert starts(sim.runs(slow)) == [
            ("completed", "00:01:00", "00:03:30"), ("skipped", "00:02:00", "00:02:00"),
            ("skipped", "00:03:00", "00:03:00"), ("running", "00:04:00", None), ("skipped", "00:05:00", "00:05:00"),
        ]  # fmt: skip
        assert sim.runs("slow")[0].output == "done"
        assert sim.runs("slow")[1].event.data["reason"] == "skipped: maximum number of running instances reached (1)"
        sim.run_until_idle()  # waits for the running job's sleep, not for the next fires
        assert sim.now == dt.datetime(2025, 3, 1, 0, 6, 30, tzinfo=dt.timezone.utc)
        assert sim.runs("slow")[3].status == "completed"


def test_max_instances_two_lets_coroutine_runs_overlap(aio):
    async def slow():
        await asyncio.sleep(150)

    aio.add_job(slow, "interval", minutes=1, id="slow", max_instances=2)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("4min")
        assert starts(sim.runs("slow")) == [
            ("completed", "00:01:00", "00:03:30"), ("running", "00:02:00", None), ("skipped", "00:03:00", "00:03:00"),
            ("running", "00:04:00", None),
        ]  # fmt: skip


def test_a_job_that_sleeps_exactly_its_interval_is_still_running_when_it_fires_again(aio):
    """Its sleep ends at the instant of the next fire. On a real loop the task started a little after the
    scheduler set its next wakeup, so the wakeup comes first and finds the job running: max_instances,
    then executed, at every fire (seen on a real loop with a 0.2 s interval: ``M x M x ...``). Here the
    two timers are due at the same instant and fire in the order they were set."""

    async def job():
        await asyncio.sleep(60)

    aio.add_job(job, "interval", minutes=1, id="job")
    seen = listen(aio)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("4min")
        assert seen == [
            ("00:02:00.000", "max_instances", "job", "00:02:00"), ("00:02:00.000", "executed", "job", "00:01:00"),
            ("00:04:00.000", "max_instances", "job", "00:04:00"), ("00:04:00.000", "executed", "job", "00:03:00"),
        ]  # fmt: skip


def test_sleeps_ending_at_one_instant_wake_in_the_order_they_began(aio):
    """Six jobs due at 00:00 start in the job store's order (run time, then id) and each sleeps 60 s: on a
    real loop each began a little after the one before, so they wake in that order. asyncio's timer heap
    alone would wake them as ``a c f e b d``."""
    woke = []

    async def job(name):
        await asyncio.sleep(60)
        woke.append(name)

    for name in "fedcba":
        aio.add_job(job, "date", run_date=START, args=[name], id=name)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("2min")
        assert woke == list("abcdef")


def test_a_coroutine_that_blocks_the_loop_delays_every_other_job_into_a_misfire(aio):
    """``time.sleep(180)`` in a coroutine job blocks the loop from 00:01 to 00:04, as on a real loop: the sleep
    of ``napper`` (due 00:01:30) and the scheduler's wakeups (00:02, 00:02:30) wait for it. At 00:04
    ``run_coroutine_job`` finds ``nightly`` 120 s late, past its grace time: EVENT_JOB_MISSED, not run
    (``executors/base.py:167-179``); ``hourly`` is within its 300 s."""
    ran = []

    async def hog():
        time.sleep(180)  # a blocking call in async code: the whole loop waits

    async def napper():
        await asyncio.sleep(60)
        ran.append(("napper woke", hms()))

    async def record(name):
        ran.append((name, hms()))

    aio.add_job(napper, "date", run_date="2025-03-01 00:00:30", id="napper")
    aio.add_job(hog, "date", run_date="2025-03-01 00:01:00", id="hog")
    aio.add_job(record, "date", run_date="2025-03-01 00:02:00", args=["nightly"], id="nightly", misfire_grace_time=60)
    aio.add_job(record, "date", run_date="2025-03-01 00:02:30", args=["hourly"], id="hourly", misfire_grace_time=300)
    seen = listen(aio)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert seen == [
            ("00:04:00.000", "executed", "hog", "00:01:00"),
            ("00:04:00.000", "executed", "napper", "00:00:30"),
            ("00:04:00.000", "missed", "nightly", "00:02:00"),
            ("00:04:00.000", "executed", "hourly", "00:02:30"),
        ]
        assert ran == [("napper woke", "00:04:00"), ("hourly", "00:04:00")]
        (missed,) = sim.runs("nightly")
        assert missed.event.data["reason"] == (
            "missed: started 120 s after its run time 2025-03-01T00:02:00.000Z, past misfire_grace_time=60 s"
        )
        assert starts(sim.runs("napper")) == [("completed", "00:00:30", "00:04:00")]


NEXT = [("00:06:10.000", "executed", "tick", "00:06:00")]  # the 00:06 fire, once the backlog has run


@pytest.mark.parametrize(
    ("coalesce", "grace", "expected"),
    [
        (True, 60, [("00:05:40.000", "executed", "tick", "00:05:00"), *NEXT]),
        (False, 60, [("00:05:40.000", "missed", "tick", f"00:0{m}:00") for m in range(1, 5)]
                    + [("00:05:40.000", "executed", "tick", "00:05:00"), *NEXT]),
        (False, None, [("00:06:00.000", "max_instances", "tick", "00:06:00")]  # the backlog's task still runs
                      + [("00:06:20.000", "executed", "tick", f"00:0{m}:00") for m in range(1, 6)]),
        (True, 10, [("00:05:30.000", "missed", "tick", "00:05:00"), *NEXT]),
    ],
)  # fmt: skip
def test_run_times_piled_up_while_paused_are_coalesced_or_missed_one_after_another(aio, coalesce, grace, expected):
    """Paused from 00:00:30 to 00:05:30: ``coalesce`` keeps the last run time (``schedulers/base.py:1191-1193``);
    otherwise one task runs them in turn (``run_coroutine_job`` loops over them, each checked against
    ``misfire_grace_time`` when its turn comes) and its events are dispatched together when it ends."""
    starts_ = []

    async def tick():
        starts_.append(hms())
        await asyncio.sleep(10)

    aio.add_job(tick, "interval", minutes=1, id="tick", coalesce=coalesce, misfire_grace_time=grace)
    seen = listen(aio)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("30s")
        aio.pause()
        sim.advance("5min")
        aio.resume()
        sim.advance("1min")
        assert seen == expected
        if grace is None:  # each run time runs when the one before it has ended
            assert starts_ == ["00:05:30", "00:05:40", "00:05:50", "00:06:00", "00:06:10"]


# -- triggers, jitter, determinism -----------------------------------------------------------------------------
def test_cron_coroutine_job_follows_new_york_time_across_dst(aio):
    async def report():
        return hms()

    aio.add_job(report, "cron", hour=9, minute=0, timezone="America/New_York", id="report")
    with jobsim.Simulation(aio, start="2025-03-07T00:00:00Z") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
        sim.advance_to("2025-11-01T00:00:00Z")
        sim.advance_to("2025-11-04T00:00:00Z")
        runs = sim.runs("report")
        days = [r.started_at.strftime("%m-%d %H:%M") for r in runs]
        assert days[:4] == ["03-07 14:00", "03-08 14:00", "03-09 13:00", "03-10 13:00"]
        assert days[-3:] == ["11-01 13:00", "11-02 14:00", "11-03 14:00"]
        assert [r.output for r in runs[-3:]] == ["13:00:00", "14:00:00", "14:00:00"]  # the job's own clock
        assert len(runs) == (dt.date(2025, 11, 4) - dt.date(2025, 3, 7)).days


async def _tick():
    await asyncio.sleep(1)


def test_an_asyncio_scheduler_fires_where_the_triggers_say_across_every_dst_change(aio):
    """Coroutine jobs on cron and calendar-interval triggers in four zones for a year: every run is at the instant,
    and with the run time, that APScheduler's own trigger and run-time loop give (``aps_own.schedulers_own``), as
    on the thread scheduler (``test_aps_triggers.py``): the AsyncIOScheduler wakes on jobsim's loop, not on the
    kernel's timers."""
    start = dt.datetime(2024, 12, 31, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for zone in ZONES:
        city = zone.split("/")[1].lower()
        aio.add_job(_tick, "cron", hour="1,2", minute=30, timezone=zone, id=f"night-{city}")
        aio.add_job(_tick, "calendarinterval", days=1, hour=2, minute=30, start_date="2025-01-01", timezone=zone,
                    id=f"daily-{city}")  # fmt: skip
    with jobsim.Simulation(aio, start=start) as sim:
        sim.advance_to(end)
        assert_runs_are_schedulers_own(sim, aio, start, end)
        assert {r.status for job in aio.get_jobs() for r in sim.runs(job.id)} == {"completed"}
        ny = [t for r in sim.runs("night-new_york") if (t := r.event.data["run_time"]).startswith("2025-11-02")]
        assert ny == ["2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00", "2025-11-02T02:30:00-05:00"]


def _jittered(seed):
    scheduler = AsyncIOScheduler(timezone="UTC", executors={"default": AsyncIOExecutor(),
                                                            "threads": ThreadPoolExecutor(2)})  # fmt: skip

    async def poll():
        await asyncio.sleep(30)

    def export():
        time.sleep(90)

    async def nightly():
        await asyncio.gather(asyncio.sleep(5), asyncio.to_thread(time.sleep, 8))

    scheduler.add_job(poll, "interval", minutes=10, jitter=120, id="poll")
    scheduler.add_job(export, "cron", minute="*/15", jitter=60, executor="threads", id="export-threads")
    scheduler.add_job(nightly, "cron", minute=30, jitter=300, id="nightly")
    with jobsim.Simulation(scheduler, start=START, seed=seed) as sim:
        scheduler.add_job(export, "interval", minutes=7, jitter=30)  # no id: uuid4() drawn from the seed
        sim.advance("3h")
        return [r.started_at.isoformat() for r in sim.runs("poll")], sim.timeline()


def test_jitter_is_drawn_from_the_seed_and_the_same_seed_gives_the_same_timeline():
    """An interval trigger's next fire is the last (jittered) fire + interval + ``uniform(0, jitter)``
    (``triggers/interval.py:75-88``): the jitter accumulates, each gap is 600 to 720 s. Everything else
    -- cron jitter, ids drawn for jobs added without one, threads, ``to_thread`` -- is the same run after run."""
    first, timeline = _jittered(7)
    times = [dt.datetime.fromisoformat(at) for at in first]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(first) >= 14 and all(600 <= gap <= 720 for gap in gaps) and len(set(gaps)) == len(gaps)
    assert _jittered(7) == (first, timeline)
    other, other_timeline = _jittered(8)
    assert other != first and other_timeline != timeline
    assert timeline.count(" started ") == 55


# -- errors, faults, listeners ---------------------------------------------------------------------------------
def test_an_exception_in_a_coroutine_job_is_event_job_error_with_its_own_traceback(aio):
    errors = []
    aio.add_listener(lambda e: errors.append((hms(), type(e.exception).__name__, e.traceback)), ev.EVENT_JOB_ERROR)

    async def broken():
        await asyncio.sleep(5)
        raise KeyError("customer")

    aio.add_job(broken, "interval", minutes=10, id="broken")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("25min")
        assert [(at, kind) for at, kind, _ in errors] == [("00:10:05", "KeyError"), ("00:20:05", "KeyError")]
        frames = [line.split(", in ")[-1] for line in errors[0][2].splitlines() if line.startswith("  File ")]
        assert frames == ["run_coroutine_job", "broken"]  # no jobsim frame
        first, second = sim.runs("broken")
        assert (first.status, repr(first.error), len(first.attempts)) == ("failed", "KeyError('customer')", 1)
        assert first.finished_at.strftime("%H:%M:%S") == "00:10:05" and second.status == "failed"
        assert "broken#1 failed: KeyError: 'customer'" in sim.timeline()


def test_sim_fail_makes_one_coroutine_run_raise(aio):
    async def ok():
        return "ok"

    aio.add_job(ok, "interval", minutes=1, id="tick")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.fail(ok, error=TimeoutError("upstream"))
        sim.advance("2min")
        assert [r.status for r in sim.runs("tick")] == ["failed", "completed"]
        assert isinstance(sim.runs("tick")[0].error, TimeoutError) and sim.runs("tick")[1].output == "ok"


def test_a_listener_sees_every_event_in_order_at_its_virtual_instant(aio):
    async def work():
        await asyncio.sleep(20)

    aio.add_job(work, "interval", seconds=30, id="work", end_date="2025-03-01 00:01:00")
    seen = []
    aio.add_listener(lambda e: seen.append((dt.datetime.now(dt.timezone.utc).strftime("%M:%S"), e.code,
                                            getattr(e, "job_id", None))), ev.EVENT_ALL)  # fmt: skip
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("2min")
    assert seen == [
        ("00:00", ev.EVENT_EXECUTOR_ADDED, None),  # start() adds the default executor (an AsyncIOExecutor)
        ("00:00", ev.EVENT_JOBSTORE_ADDED, None),
        ("00:00", ev.EVENT_JOB_ADDED, "work"),
        ("00:00", ev.EVENT_SCHEDULER_STARTED, None),
        ("00:30", ev.EVENT_JOB_SUBMITTED, "work"),
        ("00:50", ev.EVENT_JOB_EXECUTED, "work"),
        ("01:00", ev.EVENT_JOB_REMOVED, "work"),  # end_date reached: no next fire time
        ("01:00", ev.EVENT_JOB_SUBMITTED, "work"),
        ("01:20", ev.EVENT_JOB_EXECUTED, "work"),
        ("02:00", ev.EVENT_SCHEDULER_SHUTDOWN, None),  # the simulation closes: shutdown(wait=False)
    ]


def test_shutdown_from_the_test_cancels_running_coroutine_jobs_as_a_real_loop_does(aio):
    """``shutdown()`` is queued on the loop (``schedulers/asyncio.py:40-50``); there ``AsyncIOExecutor.shutdown``
    cancels the pending tasks (``executors/asyncio.py:23-29``) and ``run_coroutine_job`` reports the
    ``CancelledError`` as EVENT_JOB_ERROR, after EVENT_SCHEDULER_SHUTDOWN (seen on a real loop, 3.11.3)."""

    async def long():
        await asyncio.sleep(3600)

    aio.add_job(long, "date", run_date=START, id="long")
    seen = []
    aio.add_listener(lambda e: seen.append((hms(), e.code)), ev.EVENT_SCHEDULER_SHUTDOWN | ev.EVENT_JOB_ERROR)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("1min")
        aio.shutdown()
        assert aio.running  # queued: the loop runs it at the next driving call
        sim.advance("0s")
        assert not aio.running
        (run,) = sim.runs("long")
        assert (run.status, type(run.error).__name__, run.finished_at.strftime("%H:%M")) == (
            "failed", "CancelledError", "00:01",
        )  # fmt: skip
        assert seen == [("00:01:00", ev.EVENT_SCHEDULER_SHUTDOWN), ("00:01:00", ev.EVENT_JOB_ERROR)]


# -- coroutines that wait for each other, gather, spawn tasks, time out -------------------------------------------
def test_jobs_await_each_other_gather_spawn_tasks_and_time_out_on_virtual_time(aio):
    log = []
    ready = asyncio.Event()  # bound to the loop that first waits on it: the simulation's

    async def consumer():
        await ready.wait()
        log.append(("consumer got it", hms()))

    async def producer():
        await asyncio.sleep(90)
        ready.set()

    async def fan_out():
        async def one(minutes):
            await asyncio.sleep(minutes * 60)
            return hms()

        child = asyncio.create_task(one(4))
        ends = await asyncio.gather(one(3), one(1), one(2))
        log.append(("gathered", list(ends), hms()))
        log.append(("child", await child, hms()))

    async def impatient():
        try:
            await asyncio.wait_for(asyncio.sleep(600), timeout=5)
        except asyncio.TimeoutError:
            log.append(("gave up", hms()))

    aio.add_job(consumer, "date", run_date="2025-03-01 00:01:00", id="consumer")
    aio.add_job(producer, "date", run_date="2025-03-01 00:02:00", id="producer")
    aio.add_job(fan_out, "date", run_date="2025-03-01 00:10:00", id="fan_out")
    aio.add_job(impatient, "date", run_date="2025-03-01 00:20:00", id="impatient")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert log == [
            ("consumer got it", "00:03:30"),
            ("gathered", ["00:13:00", "00:11:00", "00:12:00"], "00:13:00"),
            ("child", "00:14:00", "00:14:00"),
            ("gave up", "00:20:05"),
        ]
        assert starts(sim.runs("consumer")) == [("completed", "00:01:00", "00:03:30")]
        assert starts(sim.runs("fan_out")) == [("completed", "00:10:00", "00:14:00")]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in Python 3.11")
def test_asyncio_timeout_fires_at_its_virtual_deadline(aio):
    async def bounded():
        try:
            async with asyncio.timeout(45):
                await asyncio.sleep(3600)
        except TimeoutError:
            return f"timed out at {hms()}"

    aio.add_job(bounded, "date", run_date=START, id="bounded")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert sim.runs("bounded")[0].output == "timed out at 00:00:45"


def test_a_task_a_job_leaves_behind_runs_on_without_keeping_run_until_idle_busy(aio):
    """The job returns; the task it spawned goes on on the loop, as in an app, until the simulation closes and
    cancels it. Its timers belong to no running job, so ``run_until_idle`` does not wait for them."""
    beats = []

    async def heartbeat():
        while True:
            await asyncio.sleep(60)
            beats.append(hms())

    async def launcher():
        launcher.task = asyncio.create_task(heartbeat())  # keep a reference, as asyncio's docs ask
        return "launched"

    aio.add_job(launcher, "date", run_date=START, id="launcher")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert sim.now == dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
        assert sim.runs("launcher")[0].status == "completed"
        sim.advance("3min")
        assert beats == ["00:01:00", "00:02:00", "00:03:00"]
    assert launcher.task.cancelled()  # cancelled when the simulation closed, no warning left behind


def test_a_task_error_nobody_retrieved_is_logged_as_the_jobs_run_ends_or_as_the_task_ends_after_it(aio, caplog):
    """asyncio logs "Task exception was never retrieved" (logger ``asyncio``) when the task is collected: for
    ``failing``'s task, kept alive by the run's error (its traceback holds the job's frame), and ``leaving``'s,
    kept in a list, that was whenever a collection came, maybe in another test. jobsim logs the same record
    as the job's run ends, or, for a task still running then, as the task ends; an error a done callback
    retrieved is not logged."""
    kept = []

    async def boom(after, what):
        await asyncio.sleep(after)
        raise ValueError(what)

    async def failing():
        task = asyncio.create_task(boom(0, "lost before the job failed"))  # the job's frame keeps it
        await asyncio.sleep(30)
        raise RuntimeError(f"the job failed, and {task.get_name()} before it")

    async def leaving():
        kept.append(asyncio.create_task(boom(600, "lost after the job returned")))
        retrieved = asyncio.create_task(boom(60, "seen"))
        retrieved.add_done_callback(lambda task: task.exception())
        kept.append(retrieved)

    aio.add_job(failing, "date", run_date="2025-03-01 00:01:00", id="failing")
    aio.add_job(leaving, "date", run_date="2025-03-01 00:02:00", id="leaving")
    with caplog.at_level(logging.ERROR, "asyncio"), jobsim.Simulation(aio, start=START) as sim:
        sim.advance("1h")
        logged = [(dt.datetime.fromtimestamp(r.created, dt.timezone.utc).strftime("%H:%M:%S"), r.getMessage(),
                   repr(r.exc_info[1])) for r in caplog.records if r.name == "asyncio"]  # fmt: skip
        assert [run.status for run in sim.runs()] == ["failed", "completed"]
    assert [(when, message.split("\n")[0], error) for when, message, error in logged] == [
        ("00:01:30", "Task exception was never retrieved", "ValueError('lost before the job failed')"),
        ("00:12:00", "Task exception was never retrieved", "ValueError('lost after the job returned')"),
    ]
    assert all(message.split("\n")[1].startswith("future: <Task finished name=") for _, message, _ in logged)
    kept.clear()
    gc.collect()
    assert len([r for r in caplog.records if r.name == "asyncio"]) == 2  # retrieved by the report: logged once


def test_a_running_job_does_not_keep_the_tasks_it_started_that_ended_well(aio):
    """A consumer that starts a task per message runs for as long as the app: the tasks that ended without an
    error are not kept for the report at its run's end (only an error can be reported)."""
    tasks, alive = [], []

    async def handle(n):
        await asyncio.sleep(1)
        return n

    async def consumer():
        for n in range(3):
            tasks.append(weakref.ref(asyncio.create_task(handle(n))))
            await asyncio.sleep(10)
            gc.collect()
            alive.append(sum(task() is not None for task in tasks))

    aio.add_job(consumer, "date", run_date=START, id="consumer")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert sim.runs("consumer")[0].status == "completed"
    assert alive == [0, 0, 0]


def test_a_task_that_outlived_its_jobs_run_whose_error_a_waiting_task_retrieves_is_not_logged(aio, caplog):
    """A supervisor a job left behind waits for its worker with ``asyncio.wait`` and reads the error once it
    wakes: that is after the worker's done callbacks (``asyncio.wait`` only wakes it from one), at the same
    instant. asyncio logs nothing (the error was retrieved); neither does jobsim, whose report of such a task
    waits until nothing more is ready at the instant it ended."""
    handled, kept = [], []

    async def work():
        await asyncio.sleep(10)
        raise ValueError("handled")

    async def supervise(worker):
        done, _ = await asyncio.wait([worker])
        handled.extend((dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S"), repr(task.exception()))
                       for task in done)  # fmt: skip

    async def launcher():
        kept.append(asyncio.create_task(supervise(asyncio.create_task(work()))))

    aio.add_job(launcher, "date", run_date=START, id="launcher")
    with caplog.at_level(logging.ERROR, "asyncio"), jobsim.Simulation(aio, start=START) as sim:
        sim.advance("1min")
        assert sim.runs("launcher")[0].status == "completed"
    assert handled == [("00:00:10", "ValueError('handled')")]
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_a_running_job_does_not_keep_the_tasks_it_started_whose_error_it_retrieved(aio, caplog):
    """A consumer that awaits a task per message and handles its error: the failed tasks (each holding its
    traceback, and so its frames and the message) are not kept until its run ends, only those whose error
    nobody had retrieved at the instant they ended, for the report."""
    tasks, alive = [], []

    async def handle(n):
        await asyncio.sleep(1)
        raise ValueError(n)

    async def consumer():
        for n in range(3):
            task = asyncio.create_task(handle(n))
            tasks.append(weakref.ref(task))
            with contextlib.suppress(ValueError):
                await task
            del task
            await asyncio.sleep(10)
            gc.collect()
            alive.append(sum(task() is not None for task in tasks))

    aio.add_job(consumer, "date", run_date=START, id="consumer")
    with caplog.at_level(logging.ERROR, "asyncio"), jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert sim.runs("consumer")[0].status == "completed"
    assert alive == [0, 0, 0]
    assert [r for r in caplog.records if r.name == "asyncio"] == []


def test_a_task_error_of_a_job_cut_short_by_the_close_is_not_logged_later(aio, caplog):
    """A job waiting forever when the simulation closes, whose task failed unseen: at close leftovers are not
    reported, and the error counts as retrieved, so asyncio does not log it either when the task is collected,
    whenever the loop lets go of it (in whatever test that falls in)."""
    never, kept = asyncio.Event(), []

    async def boom():
        raise ValueError("lost at close")

    async def waiting():
        kept.append(asyncio.create_task(boom()))
        await never.wait()

    aio.add_job(waiting, "date", run_date=START, id="waiting")
    with caplog.at_level(logging.ERROR, "asyncio"), jobsim.Simulation(aio, start=START) as sim:
        sim.advance("1min")
        assert [run.status for run in sim.runs("waiting")] == ["running"]
        assert kept[0].done() and kept[0]._log_traceback  # asyncio would log it when collected
    assert not kept[0]._log_traceback
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


# -- jobs that never end, budgets --------------------------------------------------------------------------------
def test_a_job_waiting_forever_stays_running_and_is_cancelled_quietly_at_close(aio):
    never = asyncio.Event()
    seen = listen(aio)

    async def stuck():
        await never.wait()

    aio.add_job(stuck, "date", run_date=START, id="stuck")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()  # nothing will ever wake it: no pending work, so it returns at once
        assert sim.now == dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
        sim.advance("1d")
        assert sim.runs("stuck")[0].status == "running"
    assert seen == []  # cut short by the end of the simulation: no EVENT_JOB_ERROR, the run stays "running"
    assert sim.runs("stuck")[0].status == "running"


def test_a_coroutine_spinning_at_one_instant_stops_with_a_budget(aio):
    async def spin():
        while True:
            await asyncio.sleep(0)

    aio.add_job(spin, "date", run_date=START, id="spin")
    runaway = (r"run-away event loop: 201 rounds of ready callbacks at 2025-03-01T00:00:00.000Z without virtual time "
               r"moving \(code of 'spin'\).*Simulation\(max_chain=...\)")  # fmt: skip
    with jobsim.Simulation(aio, start=START, max_chain=200) as sim, pytest.raises(BudgetExceeded, match=runaway):
        sim.advance("1s")


def test_a_coroutine_polling_forever_stops_with_a_budget(aio, monkeypatch):
    """A job that awaits ``asyncio.sleep(1)`` forever for what never comes: jobsim's ``MAX_SPENDS`` budget
    (250,000 resumptions of one run; 50 here) stops it, naming it, instead of ``run_until_idle`` ticking for a
    virtual year."""
    from jobsim_apscheduler import _loop

    monkeypatch.setattr(_loop, "MAX_SPENDS", 50)

    async def poll():
        while True:
            await asyncio.sleep(1)

    aio.add_job(poll, "date", run_date=START, id="poll")
    endless = (r"APScheduler job 'poll' \(run poll#1\) resumed more than 50 times on the event loop .* from "
               r"2025-03-01T00:00:00.000Z to 2025-03-01T00:00:51.000Z: a loop waiting for something")  # fmt: skip
    with jobsim.Simulation(aio, start=START) as sim, pytest.raises(BudgetExceeded, match=endless):
        sim.run_until_idle()


def test_a_blocking_loop_in_a_coroutine_stops_with_jobsims_budget(aio):
    async def busy_wait():
        while True:
            time.sleep(1)

    aio.add_job(busy_wait, "date", run_date=START, id="busy")
    endless = r"job code of function 'busy' \(run busy#1\) spent virtual time 250,000 times in one attempt"
    with jobsim.Simulation(aio, start=START) as sim, pytest.raises(BudgetExceeded, match=endless):
        sim.run_until_idle()


def test_sim_http_latency_is_awaited_so_gathered_calls_overlap_and_the_loop_runs_on(aio):
    """``jobsim.delayed("2s", ...)`` on an ``httpx.AsyncClient`` call is awaited on the loop, as jobsim's
    HTTP sink does on its own virtual loop: four gathered calls take 2 s, and a ticker is not held up."""
    import httpx

    log = []

    async def fetch_all():
        async with httpx.AsyncClient() as client:
            answers = await asyncio.gather(*(client.get(f"https://api.test/{n}") for n in range(4)))
        log.append(("fetched", [a.status_code for a in answers], hms()))

    async def ticker():
        await asyncio.sleep(1)
        log.append(("ticker", hms()))

    aio.add_job(fetch_all, "date", run_date=START, id="fetch_all")
    aio.add_job(ticker, "date", run_date=START, id="ticker")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.http.get(url__startswith="https://api.test/").mock(side_effect=[jobsim.delayed("2s", 200)] * 4)
        sim.run_until_idle()
        assert log == [("ticker", "00:00:01"), ("fetched", [200, 200, 200, 200], "00:00:02")]
        assert [call.elapsed.total_seconds() for call in sim.http.calls] == [2.0] * 4
        assert [record.data["run"] for record in sim.trace.of("http")] == ["fetch_all#1"] * 4  # named after the job


# -- real network I/O ------------------------------------------------------------------------------------------------
@pytest.fixture
def tcp_server():
    """A real TCP server on loopback, in a thread: it answers a line after 50 ms of real time, or never ("mute")."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    clients = []

    def serve():
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            clients.append(conn)
            line = conn.makefile("rb").readline()
            if line.strip() != b"mute":
                time.sleep(0.05)  # real time: this thread is not the simulation's
                conn.sendall(b"pong " + line)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in clients:
        conn.close()
    server.close()


async def _ask(port, message):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(message + b"\n")
        await writer.drain()
        return (await reader.readline()).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()


def test_real_network_io_in_a_coroutine_job_takes_no_virtual_time(aio, tcp_server):
    """With nothing else to wait for, the loop waits for the socket in real time (as jobsim's ``VirtualLoop``):
    the answer arrives at the job's virtual instant."""

    async def ping():
        return [await _ask(tcp_server, b"ping"), hms()]

    aio.add_job(ping, "date", run_date="2025-03-01 00:05:00", id="ping")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        (run,) = sim.runs("ping")
        assert (run.status, run.output, run.finished_at.strftime("%H:%M:%S")) == (
            "completed", ["pong ping", "00:05:00"], "00:05:00",
        )  # fmt: skip


def test_a_real_network_wait_that_never_ends_stops_the_simulation(aio, tcp_server, monkeypatch):
    from jobsim_apscheduler import _loop

    monkeypatch.setattr(_loop, "REAL_IO_WAIT", 0.3)

    async def hang():
        await _ask(tcp_server, b"mute")

    aio.add_job(hang, "date", run_date=START, id="hang")
    waited = (r"APScheduler job\(s\) 'hang' waited 0.3 s of real time for network I/O with no virtual timer pending; "
              r"jobsim cannot advance virtual time past a real network wait")  # fmt: skip
    with jobsim.Simulation(aio, start=START) as sim, pytest.raises(jobsim.JobsimError, match=waited):
        sim.run_until_idle()


# -- plain functions: the loop's default executor, a ThreadPoolExecutor side by side, asyncio.to_thread -------------
def test_plain_functions_run_on_the_loops_default_executor_and_a_thread_pool_side_by_side():
    """A plain function on ``AsyncIOExecutor`` runs in the loop's default executor (``executors/asyncio.py:46-49``):
    here the explicit loop's ``ThreadPoolExecutor(2)``, so the third 10-minute report waits for a thread and
    misfires (grace 60 s). ``threads`` is a ``ThreadPoolExecutor(1)`` of the scheduler itself."""
    loop = asyncio.new_event_loop()
    pool = concurrent.futures.ThreadPoolExecutor(2)
    loop.set_default_executor(pool)
    executors = {"default": AsyncIOExecutor(), "threads": ThreadPoolExecutor(1)}
    scheduler = AsyncIOScheduler(timezone="UTC", event_loop=loop, executors=executors)

    def report(name):
        time.sleep(600)
        return name

    for name in ("a", "b", "c"):
        scheduler.add_job(report, "date", run_date=START, args=[name], id=name, misfire_grace_time=60)
    scheduler.add_job(report, "date", run_date=START, args=["t"], id="t", executor="threads")
    scheduler.add_job(report, "date", run_date="2025-03-01 00:05:00", args=["u"], id="u", executor="threads",
                      misfire_grace_time=None)  # fmt: skip
    seen = listen(scheduler)
    try:
        with jobsim.Simulation(scheduler, start=START) as sim:
            sim.run_until_idle()
            assert sorted(seen) == [
                ("00:10:00.000", "executed", "a", "00:00:00"), ("00:10:00.000", "executed", "b", "00:00:00"),
                ("00:10:00.000", "executed", "t", "00:00:00"), ("00:10:00.000", "missed", "c", "00:00:00"),
                ("00:20:00.000", "executed", "u", "00:05:00"),
            ]  # fmt: skip
            assert [starts(sim.runs(n)) for n in "abctu"] == [
                [("completed", "00:00:00", "00:10:00")], [("completed", "00:00:00", "00:10:00")],
                [("skipped", "00:10:00", "00:10:00")], [("completed", "00:00:00", "00:10:00")],
                [("completed", "00:10:00", "00:20:00")],
            ]  # fmt: skip
        assert scheduler._eventloop is loop and not loop.is_closed() and loop._default_executor is pool
    finally:
        loop.close()


def test_to_thread_runs_blocking_code_off_the_loop_on_its_own_virtual_clock(aio):
    log = []

    def fetch():
        time.sleep(30)  # in a thread of the default executor: the loop is free meanwhile
        return hms()

    async def job():
        log.append(("fetched", await asyncio.to_thread(fetch), hms()))

    async def ticker():
        await asyncio.sleep(10)
        log.append(("ticker", hms()))

    aio.add_job(job, "date", run_date=START, id="job")
    aio.add_job(ticker, "date", run_date=START, id="ticker")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.run_until_idle()
        assert log == [("ticker", "00:00:10"), ("fetched", "00:00:30", "00:00:30")]


def test_an_executor_of_the_jobs_own_is_refused(aio):
    mine = concurrent.futures.ThreadPoolExecutor(1)

    async def job():
        await asyncio.get_running_loop().run_in_executor(mine, time.sleep, 1)

    aio.add_job(job, "date", run_date=START, id="job")
    try:
        with jobsim.Simulation(aio, start=START) as sim, pytest.raises(
            UnsupportedFeature, match=r"loop.run_in_executor\(<concurrent.futures.thread.ThreadPoolExecutor .*\) "
                                      r"in APScheduler job code: a pool of your own runs in real threads"):  # fmt: skip
            sim.advance("1s")
    finally:
        mine.shutdown()


# -- the schedule changed from coroutine code ----------------------------------------------------------------------
def test_a_coroutine_job_changes_the_schedule_after_awaiting(aio):
    """Unlike a thread's body, which runs in one go when it starts, a coroutine resumes at its instant: a change
    after ``await`` takes effect then (an ``interval`` job it adds counts from that instant)."""

    async def setup():
        await asyncio.sleep(30)
        aio.add_job(beat, "interval", hours=1, id="beat")
        aio.remove_job("setup")

    async def beat():
        return hms()

    aio.add_job(setup, "interval", minutes=5, id="setup")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("3h")
        assert starts(sim.runs("setup")) == [("completed", "00:05:00", "00:05:30")]
        assert [r.output for r in sim.runs("beat")] == ["01:05:30", "02:05:30"]


def test_two_asyncio_schedulers_share_the_simulations_loop():
    first, second = AsyncIOScheduler(timezone="UTC"), AsyncIOScheduler(timezone="UTC")
    handoff = asyncio.Queue()

    async def put():
        await handoff.put(hms())

    async def take():
        return [await handoff.get(), hms()]

    first.add_job(take, "date", run_date=START, id="take")
    second.add_job(put, "date", run_date="2025-03-01 00:07:00", id="put")
    with jobsim.Simulation([first, second], start=START) as sim:
        sim.run_until_idle()
        assert sim.runs("take")[0].output == ["00:07:00", "00:07:00"]


# -- given back as it came ------------------------------------------------------------------------------------------
def test_the_scheduler_is_given_back_with_no_loop_and_a_real_start_takes_the_running_loop(aio):
    async def tick():
        return None

    aio.add_job(tick, "interval", minutes=1, id="tick")
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("3min")
        assert type(aio._eventloop).__name__ == "SchedulerLoop"
        assert len(sim.runs("tick")) == 3
    assert aio._eventloop is None and not aio.running
    assert not {"start", "shutdown", "wakeup", "_start_timer", "_stop_timer", "_timeout", "add_job"} & set(vars(aio))
    assert [job.id for job, _, _ in aio._pending_jobs] == ["tick"] and "default" not in aio._executors
    import apscheduler.executors.asyncio as aps_asyncio
    from apscheduler.executors.base import run_coroutine_job

    assert aps_asyncio.run_coroutine_job is run_coroutine_job

    async def app():  # the app's lifespan, later: a real start on the real running loop
        aio.start(paused=True)
        assert aio._eventloop is asyncio.get_running_loop()
        assert aio.get_job("tick").next_run_time is not None
        aio.shutdown(wait=False)
        await asyncio.sleep(0)

    asyncio.run(app())
    assert not aio.running


@pytest.mark.asyncio
async def test_from_an_async_test_with_the_tests_own_loop_given_to_the_scheduler():
    """A FastAPI app builds its scheduler in the lifespan, on the running loop (``event_loop=``). The simulation
    runs it on jobsim's loop, leaves the test's loop running as it was, and gives the scheduler its loop back."""
    loop = asyncio.get_running_loop()
    scheduler = AsyncIOScheduler(timezone="UTC", event_loop=loop)
    woke = []

    async def nap():
        await asyncio.sleep(3600)
        woke.append(hms())

    scheduler.add_job(nap, "date", run_date=START, id="nap")
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance("30min")
        assert asyncio.get_running_loop() is loop
        await asyncio.sleep(0)  # the test's loop runs between driving calls, in real time
        sim.advance("30min")
        assert woke == ["01:00:00"] and sim.runs("nap")[0].status == "completed"
    assert scheduler._eventloop is loop and asyncio.get_running_loop() is loop and not scheduler.running


class TestTheJobsimFixture:
    """The pytest plugin's ``jobsim`` fixture takes the scheduler from ``jobsim_app``, in an async test too."""

    @pytest.fixture
    def jobsim_app(self):
        scheduler = AsyncIOScheduler(timezone="UTC")

        async def reminder():
            await asyncio.sleep(90)
            return hms()

        scheduler.add_job(reminder, "cron", minute="*/30", id="reminder")
        return scheduler

    @pytest.mark.asyncio
    @pytest.mark.jobsim(start="2025-03-01T08:00:00Z")
    async def test_an_async_test_drives_the_fixtures_simulation(self, jobsim):
        jobsim.advance("2h")  # a cron time equal to the start fires at once: 08:00, then every 30 min
        runs = jobsim.runs("reminder")
        assert [r.output for r in runs] == ["08:01:30", "08:31:30", "09:01:30", "09:31:30", None]
        assert (runs[-1].status, runs[-1].started_at.strftime("%H:%M")) == ("running", "10:00")
