"""Job runs in virtual time: long jobs, max_instances, misfires and coalescing, errors, listeners, control."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from aps_log import listen as _listen
from apscheduler.events import EVENT_ALL, EVENT_JOB_ERROR
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

import jobsim


def test_a_job_that_outlasts_its_interval_is_skipped_by_max_instances_until_it_ends(scheduler):
    """interval 1 min, the job sleeps 150 s, max_instances=1 (the default): the fires at 00:02 and
    00:03 find it running -- ``submit_job`` raises ``MaxInstancesReachedError`` (``executors/base.py:69-72``)
    and the scheduler emits EVENT_JOB_MAX_INSTANCES (``schedulers/base.py:1198-1211``)."""

    def slow():
        time.sleep(150)
        return "done"

    scheduler.add_job(slow, "interval", minutes=1, id="slow")
    seen = _listen(scheduler)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("5min")
        assert seen == [
            ("00:02:00.000", "max_instances", "slow", "00:02:00"),
            ("00:03:00.000", "max_instances", "slow", "00:03:00"),
            ("00:03:30.000", "executed", "slow", "00:01:00"),
            ("00:05:00.000", "max_instances", "slow", "00:05:00"),
        ]
        runs = sim.runs("slow")
        assert [(r.status, r.event.data.get("skipped")) for r in runs] == [
            ("completed", None), ("skipped", "max_instances"), ("skipped", "max_instances"), ("running", None),
            ("skipped", "max_instances"),
        ]  # fmt: skip
        assert runs[3].started_at == dt.datetime(2025, 3, 1, 0, 4, tzinfo=dt.timezone.utc)
        assert runs[0].output == "done"
        assert runs[0].finished_at == dt.datetime(2025, 3, 1, 0, 3, 30, tzinfo=dt.timezone.utc)
        assert runs[1].event.data["reason"] == "skipped: maximum number of running instances reached (1)"
        assert "max_instances=1 still running (EVENT_JOB_MAX_INSTANCES)" in sim.timeline()


def test_max_instances_two_lets_runs_overlap(scheduler):
    scheduler.add_job(lambda: time.sleep(150), "interval", minutes=1, id="slow", max_instances=2)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("4min")
        runs = sim.runs("slow")
        assert [(r.status, r.started_at.strftime("%H:%M"), r.finished_at and r.finished_at.strftime("%H:%M:%S"))
                for r in runs] == [("completed", "00:01", "00:03:30"), ("running", "00:02", None),
                                   ("skipped", "00:03", "00:03:00"), ("running", "00:04", None)]  # fmt: skip


def test_a_job_waiting_for_a_busy_pool_thread_misfires_past_its_grace_time():
    """One pool thread: ``nightly`` (due 00:02) waits for ``report``, which holds the thread until
    00:04. ``run_job`` then finds it 120 s late, past misfire_grace_time=60: EVENT_JOB_MISSED, and
    the job is not run (``executors/base.py:115-127``). ``hourly`` (grace 300 s) still runs."""
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)})
    ran = []
    scheduler.add_job(lambda: time.sleep(180), "date", run_date="2025-03-01 00:01:00", id="report")
    scheduler.add_job(ran.append, "date", run_date="2025-03-01 00:02:00", args=["nightly"], id="nightly",
                      misfire_grace_time=60)  # fmt: skip
    scheduler.add_job(ran.append, "date", run_date="2025-03-01 00:02:30", args=["hourly"], id="hourly",
                      misfire_grace_time=300)  # fmt: skip
    seen = _listen(scheduler)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.run_until_idle()
        assert seen == [
            ("00:04:00.000", "executed", "report", "00:01:00"),
            ("00:04:00.000", "missed", "nightly", "00:02:00"),
            ("00:04:00.000", "executed", "hourly", "00:02:30"),
        ]
        assert ran == ["hourly"]
        (missed,) = sim.runs("nightly")
        assert missed.status == "skipped"
        assert missed.event.data["reason"] == (
            "missed: started 120 s after its run time 2025-03-01T00:02:00.000Z, past misfire_grace_time=60 s"
        )
        assert "missed its run time 2025-03-01 00:02:00: 120 s late, misfire_grace_time=60 s" in sim.timeline()


@pytest.mark.parametrize(
    ("coalesce", "grace", "expected"),
    [
        (True, 60, [("00:05:30.000", "executed", "tick", "00:05:00")]),
        (False, 60, [("00:05:30.000", "missed", "tick", "00:01:00"), ("00:05:30.000", "missed", "tick", "00:02:00"),
                     ("00:05:30.000", "missed", "tick", "00:03:00"), ("00:05:30.000", "missed", "tick", "00:04:00"),
                     ("00:05:30.000", "executed", "tick", "00:05:00")]),
        (False, None, [("00:05:30.000", "executed", "tick", f"00:0{m}:00") for m in range(1, 6)]),
        (True, 10, [("00:05:30.000", "missed", "tick", "00:05:00")]),
    ],
)  # fmt: skip
def test_run_times_piled_up_while_paused_are_coalesced_or_missed(scheduler, coalesce, grace, expected):
    """Paused from 00:00:30 to 00:05:30: on resume ``_get_run_times`` returns 00:01..00:05
    (``job.py:141-155``); ``coalesce`` keeps the last (``schedulers/base.py:1191-1193``), and
    ``run_job`` checks each against ``misfire_grace_time`` (None: run however late)."""
    scheduler.add_job(lambda: None, "interval", minutes=1, id="tick", coalesce=coalesce, misfire_grace_time=grace)
    seen = _listen(scheduler)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("30s")
        scheduler.pause()
        sim.advance("5min")
        assert seen == []
        scheduler.resume()
        sim.advance("0s")
        assert seen == expected
        assert scheduler.get_job("tick").next_run_time == dt.datetime(2025, 3, 1, 0, 6, tzinfo=dt.timezone.utc)


def test_an_error_is_event_job_error_and_never_retried(scheduler):
    calls = []

    def flaky():
        calls.append(dt.datetime.now(dt.timezone.utc).strftime("%H:%M"))
        if len(calls) == 1:
            raise RuntimeError("disk full")

    scheduler.add_job(flaky, "interval", minutes=10, id="flaky")
    errors = []
    scheduler.add_listener(lambda e: errors.append((type(e.exception).__name__, str(e.exception))), EVENT_JOB_ERROR)
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("25min")
        assert calls == ["00:10", "00:20"]  # the next run is the trigger's next fire, not a retry
        assert errors == [("RuntimeError", "disk full")]
        first, second = sim.runs("flaky")
        assert (first.status, repr(first.error), len(first.attempts)) == ("failed", "RuntimeError('disk full')", 1)
        assert second.status == "completed"


def test_sim_fail_makes_one_run_raise(scheduler):
    scheduler.add_job(lambda: "ok", "interval", minutes=1, id="tick")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.fail("tick", error=TimeoutError("upstream"))
        sim.advance("2min")
        assert [r.status for r in sim.runs("tick")] == ["failed", "completed"]
        assert isinstance(sim.runs("tick")[0].error, TimeoutError)


def test_a_listener_sees_every_event_in_order_at_its_virtual_instant(scheduler):
    def work():
        time.sleep(20)

    scheduler.add_job(work, "interval", seconds=30, id="work", end_date="2025-03-01 00:01:00")
    seen = []
    scheduler.add_listener(lambda e: seen.append((dt.datetime.now(dt.timezone.utc).strftime("%M:%S"), e.code,
                                                  getattr(e, "job_id", None))), EVENT_ALL)  # fmt: skip
    from apscheduler import events as ev

    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("2min")
    assert seen == [
        ("00:00", ev.EVENT_EXECUTOR_ADDED, None),  # start() adds the default executor and job store
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


def test_sim_fail_is_not_used_up_by_a_run_that_misses_its_grace_time():
    """A missed run never calls the job's function (``executors/base.py:117-127``), so the fault waits for the
    next run that does; it was taken before ``run_job`` and lost with the miss (found by the review)."""

    def hog():
        time.sleep(150)

    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_job(hog, "date", run_date="2025-03-01T00:00:00Z", id="hog")
    scheduler.add_job(lambda: "ok", "interval", minutes=1, id="tick", start_date="2025-03-01T00:01:00Z")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.fail("tick", error=TimeoutError("upstream"))
        sim.advance("4min")
        assert [(r.started_at.strftime("%M:%S"), r.status, r.event.data.get("skipped")) for r in sim.runs("tick")] == [
            ("02:00", "skipped", "max_instances"),  # the 00:01 run waits for the pool thread: one instance
            ("02:30", "skipped", "missed"),  # the 00:01 run, 90 s late
            ("03:00", "failed", None),
            ("04:00", "completed", None),
        ]
        assert isinstance(sim.runs("tick")[2].error, TimeoutError)


def test_an_errors_traceback_is_the_jobs_own(scheduler):
    """``event.traceback`` starts at ``run_job``'s call of the job's function, as on a scheduler: no jobsim frame."""
    tracebacks = []
    scheduler.add_listener(lambda event: tracebacks.append(event.traceback), EVENT_JOB_ERROR)

    def broken():
        raise KeyError("customer")

    scheduler.add_job(broken, "date", run_date="2025-03-01T00:01:00Z", id="broken")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.run_until_idle()
    (tb,) = tracebacks
    assert [line.split(", in ")[-1] for line in tb.splitlines() if line.startswith("  File ")] == ["run_job", "broken"]


def _sync(region):
    return region


def test_a_function_run_by_several_jobs_is_named_by_job_id(scheduler):
    # one function added twice with other args: sim.runs(func) gave the first job's runs for both
    scheduler.add_job(_sync, "interval", minutes=1, id="sync-eu", args=("eu",))
    scheduler.add_job(_sync, "interval", minutes=2, id="sync-us", args=("us",))
    scheduler.add_job(time.monotonic, "interval", minutes=1, id="clock")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("2m")
        assert [r.output for r in sim.runs("sync-eu")] == ["eu", "eu"]
        assert [r.output for r in sim.runs("sync-us")] == ["us"]
        for call in (sim.runs, sim.fail):
            with pytest.raises(jobsim.InvalidArgument, match=r"_sync is the function of several APScheduler jobs in "
                                                             r"this simulation \('sync-eu', 'sync-us'\): name the job "
                                                             r"by its id, e.g. sim.runs\('sync-eu'\)"):  # fmt: skip
                call(_sync)
        assert len(sim.runs(time.monotonic)) == 2  # a function of one job is still found by it


def test_a_job_on_an_executor_the_scheduler_does_not_have_is_removed_and_the_timeline_says_so(scheduler):
    # _process_jobs logs "Executor lookup failed" and removes the job (schedulers/base.py:1178-1188): it never ran,
    # with nothing in the simulation to say why
    scheduler.add_job(_sync, "interval", minutes=1, id="crunch", args=("x",), executor="processpool")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of job 'crunch'\) were due on executor "
                     r"'processpool', which the scheduler does not have"),  # and the close says so too
        jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim,
    ):
        sim.advance("2m")
        assert sim.runs("crunch") == [] and scheduler.get_jobs() == []  # as APScheduler does
        assert ("aps       job 'crunch' is due on executor 'processpool', which does not exist (executors: "
                "'default'): APScheduler logs it and removes the job") in sim.timeline()  # fmt: skip


def test_a_run_time_in_the_repeated_hour_names_its_zone_on_the_timeline():
    """01:30 happens twice in New York on 2025-11-02: the miss of the first names EDT, as the line's stamp does."""
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_job(lambda: time.sleep(5400), "cron", hour=0, minute=50, timezone="America/New_York", id="backup")
    scheduler.add_job(lambda: None, "cron", hour=1, minute=30, timezone="America/New_York", id="late",
                      misfire_grace_time=60)  # fmt: skip
    with jobsim.Simulation(scheduler, start="2025-11-02T04:00:00Z", tz="America/New_York") as sim:
        sim.advance_to("2025-11-02T07:00:00Z")
        assert [r.status for r in sim.runs("late")] == ["skipped", "completed"]
        assert ("01:20:00.000 EST  aps       late#1 missed its run time 2025-11-02 01:30:00 EDT: 3000 s late, "
                "misfire_grace_time=60 s (EVENT_JOB_MISSED)") in sim.timeline()  # fmt: skip


def test_a_run_names_its_run_time_in_its_triggers_zone_on_the_timeline():
    """The timeline is in New York; the Sydney job's runs name the wall time their trigger matched, with its
    offset, as ``run.event.data["run_time"]`` holds it: 02:30 twice on 2025-04-06 (AEDT, then AEST)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: None, "cron", hour=2, minute=30, timezone="Australia/Sydney", id="cleanup")
    with jobsim.Simulation(scheduler, start="2025-04-05T12:00:00Z", tz="America/New_York") as sim:
        sim.advance("6h")
        started = [line for line in sim.timeline().splitlines() if "started by" in line]
        assert started == [
            "2025-04-05 11:30:00.000 EDT  run       cleanup#1 started by run time 2025-04-06T02:30:00+11:00",
            "2025-04-05 12:30:00.000 EDT  run       cleanup#2 started by run time 2025-04-06T02:30:00+10:00",
        ]
        assert [r.event.data["run_time"] for r in sim.runs("cleanup")] == [line[-25:] for line in started]


def test_a_job_id_misspelt_is_told_the_id_meant(scheduler):
    """``sim.runs("daily_digest")`` for the job ``id="daily-digest"`` said "apscheduler functions are only known
    once user code has used them ...; do that first", though the job was added and ran: it is a typo, and the
    error names the id meant."""
    scheduler.add_job(lambda: "sent", "cron", hour=9, id="daily-digest")
    with jobsim.Simulation(scheduler, start="2025-03-01T00:00:00Z") as sim:
        sim.advance("1d")
        for call in (lambda: sim.runs("daily_digest"), lambda: sim.fail("daily_digest")):
            with pytest.raises(jobsim.InvalidArgument) as info:
                call()
            assert str(info.value) == ("function_id='daily_digest' is not valid: did you mean 'daily-digest'? "
                                       "(apscheduler names a function by its job's id); the simulated function ids: "
                                       "'daily-digest'")
