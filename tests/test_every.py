"""Interval schedules, ``every=`` (jobsim/_every.py): BullMQ 6 job schedulers' ``every``, at exact virtual times.

Each rule is read from taskforcesh/bullmq 6.2.0 (352d3c72): ``getJobSchedulerEveryNextMillis.lua``
(first job, phase, catch-up), ``addJobScheduler-11.lua`` / ``updateJobScheduler-12.lua`` (one pending
job, made by the current one as it moves to active), ``job-scheduler.ts`` (limit, endDate) and
``queue.ts`` (an endDate already passed is refused). Several cases replay BullMQ's own tests
(``tests/job_scheduler.test.ts``) in virtual time.
"""

from __future__ import annotations

import itertools
import re
import time

import pytest
from _readme import run_block
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import traces
from jobsim._every import first_job, next_job
from jobsim._profiles import Profile
from jobsim._systems import SEVEN
from jobsim._time import MS, SECOND, instant_ns, iso

START = "2026-03-02T00:00:00Z"


def hms(ns: int) -> str:
    return iso(ns)[11:23]


def app_every(every, seconds=0.0, concurrency=1, fails=0, retries=None):
    """``sync`` on an interval; each job spends ``seconds`` (its first ``fails`` attempts then raise)."""
    app = jobsim.App("ops")
    options = {} if concurrency is None else {"concurrency": concurrency}
    left = [fails]

    @app.function("sync", every=every, retries=retries, **options)
    def sync(ctx):
        time.sleep(seconds)
        if left[0]:
            left[0] -= 1
            raise RuntimeError("ERP is down")
        return ctx.event.data["scheduledAt"]

    return app


def story(sim):
    """Each job as 'scheduled@started' (hh:mm:ss.mmm)."""
    return [f"{r.event.data['scheduledAt'][11:23]}@{hms(r.start_ns)}" for r in sim.runs("sync")]


def simulate(app, start=START, advance="10m", drive=None):
    with jobsim.Simulation(app, start=start, profile="bullmq") as sim:
        if drive is not None:
            drive(sim)
        sim.advance(advance)
    return sim


def skips(sim):
    return [(r.data["scheduled"][11:19], r.data["count"], r.data["last"][11:19], r.data["next"][11:19])
            for r in sim.trace.of("cron.missed") if r.data["outcome"] == "skipped"]  # fmt: skip


# -- the first job ----------------------------------------------------------------------------------------


def test_the_first_job_runs_at_once_and_sets_the_phase():
    """No prevMillis, no startDate, no offset: nextMillis = now (5.19+; BullMQ test "when using 'every' and
    time is one millisecond after iteration time ... start immediately"). The stored offset is
    first mod every, so the schedule keeps the first job's phase: 00:00:30, 00:05:30, ... — not the
    multiples of 5 minutes that BullMQ 5's legacy repeat: {every} aligned to."""
    sim = simulate(app_every("5m", concurrency=None), start="2026-03-02T00:00:30Z", advance="15m")
    assert story(sim) == ["00:00:30.000@00:00:30.000", "00:05:30.000@00:05:30.000", "00:10:30.000@00:10:30.000",
                          "00:15:30.000@00:15:30.000"]  # fmt: skip
    assert [r.event.data for r in sim.runs("sync")][:2] == [
        {"every": 300_000, "offset": 30_000, "count": 1, "scheduledAt": "2026-03-02T00:00:30.000Z"},
        {"every": 300_000, "offset": 30_000, "count": 2, "scheduledAt": "2026-03-02T00:05:30.000Z"},
    ]
    assert [r.event.name for r in sim.runs("sync")] == ["inngest/scheduled.timer"] * 4
    first = sim.trace.of("cron")[0].data
    assert first == {"function": "sync", "cron": "every 5m", "scheduled": "2026-03-02T00:00:30.000Z"}


@pytest.mark.parametrize(("start", "first"), [
    ("2026-03-02T09:10:00Z", "09:18:00"),  # BullMQ: "aligns the first job to the next offset slot after now"
    ("2026-03-02T09:16:00Z", "09:18:00"),  # "... when offset slot is in the future": the base slot itself
    ("2026-03-02T09:24:00Z", "09:33:00"),  # "should respect offset when upserting ... with every"
    ("2026-03-02T09:18:00Z", "09:33:00"),  # on the slot: `if nextMillis <= now` takes the next one
])  # fmt: skip
def test_an_offset_puts_the_first_job_on_the_next_slot_strictly_after_now(start, first):
    sim = simulate(app_every(jobsim.Every("15m", offset="3m"), concurrency=None), start=start, advance="35m")
    runs = sim.runs("sync")
    assert runs[0].event.data["scheduledAt"][11:19] == first and runs[0].event.data["offset"] == 180_000
    assert {(r.start_ns // MS - 180_000) % 900_000 for r in runs} == {0}  # :03, :18, :33, :48


@pytest.mark.parametrize(("start_date", "first"), [
    ("2026-03-02T00:07:00.250Z", "00:07:00.250"),  # in the future: the first job waits for it
    ("2026-03-01T00:00:00Z", "00:00:00.000"),  # passed: now
])  # fmt: skip
def test_a_start_date_delays_the_first_job_and_sets_the_phase(start_date, first):
    sim = simulate(app_every(jobsim.Every("10m", start=start_date), concurrency=None), advance="30m")
    times = [instant_ns(r.event.data["scheduledAt"]) for r in sim.runs("sync")]
    assert iso(times[0])[11:23] == first and len(times) >= 3
    assert [b - a for a, b in itertools.pairwise(times)] == [10 * 60 * SECOND] * (len(times) - 1)


def test_start_dates_phase_is_kept_when_an_offset_is_given_too():
    """With startDate the first job is at startDate whatever the offset; the given offset still rules the
    catch-up grid (getJobSchedulerEveryNextMillis: the offset is recomputed only when it is 0)."""
    every = jobsim.Every("10m", offset="1m", start="2026-03-02T00:04:00Z")
    sim = simulate(app_every(every, seconds=14 * 60), advance="50m")
    # 00:04 runs to 00:18; the 00:14 job starts then: 00:24 is still ahead -> 00:24; it runs to 00:32, the
    # 00:24 job starts at 00:32 and 00:34 is ahead; at 00:46 the 00:34 job finds 00:44 passed: the grid's
    # next slot is floor(00:46 / 10m) * 10m + 1m = 00:41 <= now -> 00:51
    assert story(sim)[:4] == ["00:04:00.000@00:04:00.000", "00:14:00.000@00:18:00.000",
                              "00:24:00.000@00:32:00.000", "00:34:00.000@00:46:00.000"]  # fmt: skip
    assert skips(sim) == [("00:44:00", 1, "00:44:00", "00:51:00")]


def test_a_sub_millisecond_start_still_counts_whole_milliseconds():
    sim = simulate(app_every("1s", concurrency=None), start="2026-03-02T00:00:00.000250Z", advance="2s")
    assert [r.event.data["scheduledAt"] for r in sim.runs("sync")] == [
        "2026-03-02T00:00:00.000Z", "2026-03-02T00:00:01.000Z", "2026-03-02T00:00:02.000Z"]  # Date.now() is ms
    assert hms(sim.runs("sync")[0].start_ns) == "00:00:00.000" and sim.runs("sync")[0].start_ns % MS == 250_000


# -- one pending job: the next is made when the current one starts ------------------------------------------


def test_a_busy_worker_thins_the_schedule_and_the_lost_slots_are_recorded():
    """every 1m, 150 s jobs, one worker slot. A job starting late computes prevMillis + every; if that has
    passed, the grid's next slot strictly after now. At 00:05:00 the 00:03 job finds 00:04 passed and the
    slot 00:05 == now, so the next is 00:06: two slots lost in one decision."""
    sim = simulate(app_every("1m", seconds=150), advance="12m")
    assert story(sim)[:5] == ["00:00:00.000@00:00:00.000", "00:01:00.000@00:02:30.000", "00:03:00.000@00:05:00.000",
                              "00:06:00.000@00:07:30.000", "00:08:00.000@00:10:00.000"]  # fmt: skip
    last = sim.runs("sync")[-1]  # made at 00:10:00, due 00:11:00: the 00:08 job holds the worker until 00:12:30
    assert last.event.data["scheduledAt"][11:19] == "00:11:00" and last.status == "queued"
    assert skips(sim) == [("00:02:00", 1, "00:02:00", "00:03:00"), ("00:04:00", 2, "00:05:00", "00:06:00"),
                          ("00:07:00", 1, "00:07:00", "00:08:00"), ("00:09:00", 2, "00:10:00", "00:11:00")]  # fmt: skip
    missed = sim.trace.of("cron.missed")
    assert [hms(r.at) for r in missed] == ["00:02:30.000", "00:05:00.000", "00:07:30.000", "00:10:00.000"]
    assert missed[1].data == {"function": "sync", "cron": "every 1m", "scheduled": "2026-03-02T00:04:00.000Z",
                              "outcome": "skipped", "behind": "2026-03-02T00:03:00.000Z", "started": True,
                              "count": 2, "last": "2026-03-02T00:05:00.000Z", "next": "2026-03-02T00:06:00.000Z"}
    timeline = sim.timeline()
    assert ("cron      sync skips 2 ticks, 03-02 00:04:00 to 03-02 00:05:00: its 03-02 00:03:00 job started late; "
            "the next is 03-02 00:06:00 (every 1m)") in timeline
    assert ("cron      sync skips its 03-02 00:02:00 tick: its 03-02 00:01:00 job started late; the next is "
            "03-02 00:03:00 (every 1m)") in timeline


def test_a_job_exactly_one_interval_late_makes_the_next_due_at_once():
    """prevMillis + every == now is not in the past (`if nextMillis < now`): the next job is due now — where
    a cron pattern's next is strictly after now (tests/test_profile_fidelity.py). The 00:01 job starts at
    00:02 and makes the 00:02 job at once; it waits for the worker until 00:04."""
    sim = simulate(app_every("1m", seconds=120), advance="9m")
    assert story(sim) == ["00:00:00.000@00:00:00.000", "00:01:00.000@00:02:00.000", "00:02:00.000@00:04:00.000",
                          "00:05:00.000@00:06:00.000", "00:06:00.000@00:08:00.000", "00:09:00.000@00:09:00.000"]
    assert skips(sim) == [("00:03:00", 2, "00:04:00", "00:05:00"), ("00:07:00", 2, "00:08:00", "00:09:00")]


def test_free_workers_run_every_slot_on_time_and_jobs_overlap():
    sim = simulate(app_every("1m", seconds=150, concurrency=None), advance="4m")
    assert story(sim) == [f"00:0{m}:00.000@00:0{m}:00.000" for m in range(5)]
    assert sim.trace.of("cron.missed") == []


def test_retries_of_a_job_make_no_second_next_job():
    """updateJobScheduler-12.lua makes the next job only for producerId == repeat:<id>:<prevMillis>: a retry
    moving to active again (after its backoff) finds the next job already made. The 00:00 job fails at once
    and is retried at 00:00:40 and 00:01:20 (fixed 40 s); the jobs stay one a minute."""
    sim = simulate(app_every("1m", fails=2, retries=jobsim.BullMQBackoff(3, "fixed", "40s"), concurrency=None),
                   advance="3m")  # fmt: skip
    first, *rest = sim.runs("sync")
    assert [hms(a.start_ns) for a in first.attempts] == ["00:00:00.000", "00:00:40.000", "00:01:20.000"]
    assert first.status == "completed"
    assert [r.event.data["scheduledAt"][11:19] for r in rest] == ["00:01:00", "00:02:00", "00:03:00"]
    assert [r.event.data["count"] for r in sim.runs("sync")] == [1, 2, 3, 4]


def test_a_crashed_job_is_re_run_and_its_next_job_was_made_when_it_first_started():
    """The next job exists as soon as the current one moves to active (nextJobFromJobData runs before the
    processor), so a worker dying mid-job does not delay it. The stalled 00:00 job (lock 30 s, renewed at
    15 s and 30 s; checker every 30 s, two passes) is re-run at 00:01:00, a scheduler job being exempt
    from maxStalledCount."""
    sim = simulate(app_every("1m", seconds=45, concurrency=None), advance="2m",
                   drive=lambda s: s.crash_worker(at="2026-03-02T00:00:40Z", function="sync"))  # fmt: skip
    first = sim.runs("sync")[0]
    assert [(hms(a.start_ns), hms(a.end_ns)) for a in first.attempts] == [
        ("00:00:00.000", "00:00:40.000"), ("00:01:00.000", "00:01:45.000")]
    assert story(sim)[1:] == ["00:01:00.000@00:01:00.000", "00:02:00.000@00:02:00.000"]


# -- limit, endDate -----------------------------------------------------------------------------------------


def test_limit_counts_every_job_of_the_schedule(tmp_path):
    """job-scheduler.ts: iterationCount = count + 1 > limit makes no next job: limit jobs in all."""
    sim = simulate(app_every(jobsim.Every("15m", offset="3m", limit=3), concurrency=None),
                   start="2026-03-02T09:10:00Z", advance="2h")  # fmt: skip
    assert [r.event.data["scheduledAt"][11:16] for r in sim.runs("sync")] == ["09:18", "09:33", "09:48"]
    (end,) = sim.trace.of("cron.end")
    assert (hms(end.at), end.data) == ("09:48:00.000", {"function": "sync", "cron": "every 15m offset 3m",
                                                        "reason": "limit", "limit": 3})  # fmt: skip
    assert ("cron      sync ends its schedule: the job just started is its last (limit 3)") in sim.timeline()
    loaded = traces.load(sim.trace.save(tmp_path / "limit.jobsim.jsonl"), strict=True)  # a kind jobsim declares
    assert [r.data for r in loaded.of("cron.end")] == [end.data]


def test_limit_one_is_a_single_job():
    sim = simulate(app_every(jobsim.Every("1m", limit=1), concurrency=None), advance="1h")
    assert story(sim) == ["00:00:00.000@00:00:00.000"]


def test_end_date_is_checked_when_a_job_is_made_so_the_last_one_may_fall_after_it():
    """`now > endDate` makes no job; the next job's own time is not compared. The 12:00 job is made at 11:50
    and starts at 12:00 <= 12:05, so it makes the 12:10 job, which runs; at 12:10 nothing more."""
    sim = simulate(app_every(jobsim.Every("10m", end="2026-03-02T12:05:00Z"), concurrency=None),
                   start="2026-03-02T11:40:00Z", advance="2h")  # fmt: skip
    assert [r.event.data["scheduledAt"][11:16] for r in sim.runs("sync")] == ["11:40", "11:50", "12:00", "12:10"]
    (end,) = sim.trace.of("cron.end")
    assert hms(end.at) == "12:10:00.000" and end.data["reason"] == "end"
    assert "cron      sync ends its schedule: its end 03-02 12:05:00 has passed (every 10m)" in sim.timeline()


def test_bullmqs_stop_repeating_after_end_date_test_in_virtual_time():
    """tests/job_scheduler.test.ts "it should stop repeating after endDate": every 100 ms, endDate now + 1 s,
    the worker starts 101 ms late and each job takes 100 ms: 10 jobs, then nothing delayed."""
    t0 = "2026-03-02T00:00:00Z"
    every = jobsim.Every("100ms", end="2026-03-02T00:00:01Z")
    sim = simulate(app_every(every, seconds=0.1), start=t0, advance="5s",
                   drive=lambda s: s.downtime(t0, "2026-03-02T00:00:00.101Z"))  # fmt: skip
    runs = sim.runs("sync")
    assert len(runs) == 10 and {r.status for r in runs} == {"completed"}
    assert [r.event.data["scheduledAt"][17:23] for r in runs] == ["00.000", *(f"00.{k}00" for k in range(2, 10)),
                                                                  "01.000"]  # fmt: skip
    assert [hms(r.start_ns)[6:] for r in runs] == ["00.101", *(f"00.{k}01" for k in range(2, 10)), "01.001"]


def test_an_end_before_the_start_of_the_simulation_is_refused():
    app = app_every(jobsim.Every("10m", end="2026-03-01T23:59:59.999Z"))
    with pytest.raises(jobsim.InvalidArgument, match=r"end 2026-03-01T23:59:59\.999Z is before the simulation's "
                       r"start 2026-03-02T00:00:00\.000Z; BullMQ's upsertJobScheduler refuses it"):  # fmt: skip
        jobsim.Simulation(app, start=START, profile="bullmq")
    sim = simulate(app_every(jobsim.Every("10m", end=START), concurrency=None), advance="1h")
    # end == now is allowed; the first job starts at end (not after it) and so still makes the 00:10 one
    assert story(sim) == ["00:00:00.000@00:00:00.000", "00:10:00.000@00:10:00.000"]


# -- downtime, duplicates, replay, compare --------------------------------------------------------------------


def test_the_pending_job_runs_late_once_after_a_downtime_and_the_grid_resumes():
    every = jobsim.Every("10m", start="2026-03-02T12:07:00Z")
    sim = simulate(app_every(every), start="2026-03-02T11:40:00Z", advance="80m",
                   drive=lambda s: s.downtime("2026-03-02T12:20:00Z", "2026-03-02T12:44:00Z"))  # fmt: skip
    assert story(sim) == ["12:07:00.000@12:07:00.000", "12:17:00.000@12:17:00.000", "12:27:00.000@12:44:00.000",
                          "12:47:00.000@12:47:00.000", "12:57:00.000@12:57:00.000"]  # fmt: skip
    down = [r for r in sim.trace.of("cron.missed") if r.data["outcome"] == "down"]
    assert [(hms(r.at), r.data["scheduled"][11:19]) for r in down] == [("12:27:00.000", "12:27:00")]
    assert skips(sim) == [("12:37:00", 1, "12:37:00", "12:47:00")]
    late = [r for r in sim.trace.of("cron") if r.data.get("late")]
    assert [(hms(r.at), r.data["scheduled"][11:19]) for r in late] == [("12:44:00.000", "12:27:00")]


def test_a_duplicated_delivery_is_dropped():
    sim = simulate(app_every("5m", concurrency=None), advance="10m",
                   drive=lambda s: s.duplicate_delivery("sync", at="2026-03-02T00:04:00Z", times=2))  # fmt: skip
    assert len(sim.runs("sync")) == 3
    (fault,) = [r.data for r in sim.trace.of("fault") if r.data.get("fault") == "duplicate"]
    assert fault["scheduled"] == "2026-03-02T00:05:00.000Z" and fault["outcome"].startswith("BullMQ moves a job")


def test_a_recorded_every_schedule_replays_the_same(tmp_path):
    app = app_every("1m", seconds=150)
    sim = simulate(app, advance="12m", drive=lambda s: s.downtime("2026-03-02T00:05:30Z", "2026-03-02T00:06:10Z"))
    result = jobsim.Simulation.replay(sim.trace, app_every("1m", seconds=150))
    assert result.same, result.report()
    assert story(result.simulation) == story(sim)
    path = sim.trace.save(tmp_path / "every.jobsim.jsonl")
    loaded = traces.load(path)
    assert [r.data for r in loaded.of("cron.missed")] == [r.data for r in sim.trace.of("cron.missed")]
    again = jobsim.Simulation.replay(path, app_every("1m", seconds=150))
    assert again.same, again.report()
    free = simulate(app_every("5m", concurrency=None), advance="30m")
    changed = jobsim.Simulation.replay(free.trace, app_every("6m", concurrency=None), compare="timing")
    assert not changed.same and changed.first("sync").label == "run.start of run #2"


def test_a_saved_trace_with_each_kind_of_fault_loads(tmp_path):
    """A crash, a downtime and a duplicate delivery each write a 'fault' record of their own shape; loading
    required sim.fail's fields (function, error) of all of them, so such a trace could be saved but not
    loaded ("a 'fault' record needs the field(s) function, error")."""
    def drive(sim):
        sim.crash_worker(at="2026-03-02T00:00:40Z", function="sync")
        sim.downtime("2026-03-02T00:05:30Z", "2026-03-02T00:06:10Z")
        sim.duplicate_delivery("sync", at="2026-03-02T00:08:00Z")
        sim.fail("sync", times=1)

    sim = simulate(app_every("1m", seconds=45, concurrency=None), advance="10m", drive=drive)
    shapes = {r.data.get("fault", "fail") for r in sim.trace.of("fault")}
    assert shapes == {"crash", "downtime", "duplicate", "fail"}
    loaded = traces.load(sim.trace.save(tmp_path / "faults.jobsim.jsonl"))
    assert [r.data.get("fault", "fail") for r in loaded.of("fault")] == [r.data.get("fault", "fail")
                                                                          for r in sim.trace.of("fault")]
    again = jobsim.Simulation.replay(loaded, app_every("1m", seconds=45, concurrency=None))
    assert again.same, again.report()


def test_compare_counts_every_skipped_slot_as_lost():
    scenario = jobsim.Scenario(name="slow", description="a 150 s job every minute, one worker",
                               build=lambda: app_every("1m", seconds=150), play=lambda s: s.advance("12m"),
                               start=START)  # fmt: skip
    result = jobsim.compare(scenario, profiles=["bullmq", "inngest"])
    bullmq = result.of("bullmq")
    # lost: 00:02, 00:04-05, 00:07, 00:09-10 (the 00:11 job has not started by 00:12: nothing decided after it)
    assert (bullmq.runs, bullmq.completed, bullmq.lost) == (6, 5, 6)
    assert result.of("inngest").unsupported.startswith("it uses an interval schedule (every=), which Inngest")


# -- the other systems, and bad input -----------------------------------------------------------------------

REASONS = {
    "inngest": "its registration refuses robfig's '@every <duration>' as it refuses every @descriptor",
    "trigger.dev": "schedules.task takes a cron pattern only",
    "quirrel": "is an option of queue.enqueue",
    "agenda": "lastRunAt + interval",
    "node-cron": "it schedules cron expressions only",
    "vercel-cron": "it schedules cron expressions only",
}


@pytest.mark.parametrize("profile", [p for p in SEVEN if p != "bullmq"])
def test_systems_without_interval_schedules_refuse_every_saying_why(profile):
    with pytest.raises(jobsim.UnsupportedFeature) as info:
        jobsim.Simulation(app_every("5m", concurrency=None), profile=profile)
    assert info.value.feature == "every"
    assert "cannot run function 'sync': it uses an interval schedule (every=), which" in str(info.value)
    assert REASONS[profile] in str(info.value) and "cron=" in str(info.value)


def test_a_plugin_profile_without_an_interval_rule_refuses_every():
    bare = Profile(name="acme-queue", description="d", default_retries=jobsim.Retries(attempts=1))
    with pytest.raises(jobsim.UnsupportedFeature, match=r"^acme-queue cannot run function 'sync': it uses an "
                       r"interval schedule \(every=\), which acme-queue does not have$"):  # fmt: skip
        jobsim.Simulation(app_every("5m", concurrency=None), profile=bare)


@pytest.mark.parametrize(("options", "message"), [
    ({"every": 0}, "every=0 is not valid: expected a duration"),
    ({"every": -5}, "every=-5 is not valid: expected a duration"),
    ({"every": "soon"}, "every='soon' is not valid: expected a duration"),
    ({"every": "1500us"}, "every='1500us' is not valid: a whole number of milliseconds"),
    ({"every": ["5m", "10m"]}, "every=['5m', '10m'] is not valid: a duration such as '30s'"),
    ({"every": "5m", "cron": "*/5 * * * *"},
     "function 'f' has cron='*/5 * * * *' and every='5m': a schedule is a cron pattern or an interval, not both"),
    ({"every": "5m", "tz": "Europe/Paris"}, "tz='Europe/Paris' is not valid: tz= applies to cron=; an every= "
                                            "interval has no time zone; drop tz="),
])  # fmt: skip
def test_bad_every_on_app_function(options, message):
    with pytest.raises(jobsim.InvalidArgument, match="^" + re.escape(message)):
        jobsim.App("a").function("f", **options)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("15m",), {"offset": "15m"}, "offset='15m' is not valid: an offset shorter than the interval (15m)"),
    (("15m",), {"offset": "-1s"}, "offset='-1s' is not valid: expected a duration"),
    (("15m",), {"offset": "0.5ms"}, "offset='0.5ms' is not valid: a whole number of milliseconds"),
    (("15m",), {"limit": 0}, "limit=0 is not valid: an int >= 1"),
    (("15m",), {"limit": True}, "limit=True is not valid: an int >= 1"),
    (("15m",), {"limit": 2.0}, "limit=2.0 is not valid: an int >= 1"),
    (("15m",), {"start": "2026-03-02T09:00:00+01:00", "end": "2026-03-02T07:59:59Z"},
     "end='2026-03-02T07:59:59Z' is not valid: an end at or after start='2026-03-02T09:00:00+01:00'"),
    (("15m",), {"end": "tomorrow"}, "end='tomorrow' is not valid: expected an aware datetime"),
    ((jobsim.Every("1m"),), {}, "every=Every(interval='1m'"),
])  # fmt: skip
def test_bad_every_values(args, kwargs, message):
    with pytest.raises(jobsim.InvalidArgument, match="^" + re.escape(message)):
        jobsim.Every(*args, **kwargs)


def test_every_alone_is_a_trigger_and_a_trigger_less_function_names_it():
    fn = jobsim.App("a").function("f", every="90s")(lambda ctx: None)
    assert fn.every == jobsim.Every("90s") and fn.every.expr == "every 1m30s" and fn.crons == ()
    with pytest.raises(jobsim.InvalidArgument, match=r"and/or cron='0 9 \* \* \*' \(or every='5m'\)"):
        jobsim.App("a").function("f")


# -- the arithmetic, against a brute-force reading of the Lua -------------------------------------------------


def _slot_after(now, every, offset):
    """The smallest t > now with t = offset (mod every), by search."""
    t = now + 1
    while (t - offset) % every:
        t += 1
    return t


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(every=st.integers(1, 500), now=st.integers(0, 5_000), offset=st.integers(0, 499),
       start=st.none() | st.integers(0, 6_000), gap=st.integers(-1_000, 1_000))  # fmt: skip
def test_first_and_next_job_match_a_brute_force_reading(every, now, offset, start, gap):
    offset %= every
    first, phase = first_job(every, now, offset, start)
    if start is not None:
        assert first == max(start, now)
    elif offset:
        assert first == _slot_after(now, every, offset)
    else:
        assert first == now
    assert phase == (offset or first % every) and 0 <= phase < every
    prev = max(0, now + gap)
    after = next_job(every, prev, now, phase)
    assert after == (prev + every if prev + every >= now else _slot_after(now, every, phase))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(every_s=st.integers(1, 120), work_s=st.integers(0, 300), start_ms=st.integers(0, 59_999))
def test_a_busy_worker_never_runs_two_jobs_closer_than_the_interval(every_s, work_s, start_ms):
    """One worker slot, jobs of work_s: every job starts at or after its time; consecutive jobs are a whole
    number of intervals apart, and the skip records account for exactly the slots between them."""
    start = instant_ns(START) + start_ms * MS
    with jobsim.Simulation(app_every(every_s, seconds=work_s), start=iso(start), profile="bullmq") as sim:
        sim.advance("20m")
    times = [instant_ns(r.event.data["scheduledAt"]) for r in sim.runs("sync")]
    assert times[0] == start
    assert all(r.start_ns >= t for r, t in zip(sim.runs("sync"), times, strict=True))
    gaps = [(b - a) // (every_s * SECOND) for a, b in itertools.pairwise(times)]
    assert all((b - a) % (every_s * SECOND) == 0 for a, b in itertools.pairwise(times))
    # the slots between the jobs that ran (a decision after the last one may point past the end)
    skipped = [r.data["count"] for r in sim.trace.of("cron.missed") if instant_ns(r.data["next"]) <= times[-1]]
    assert sum(gaps) - len(gaps) == sum(skipped)
    for run, nxt in zip(sim.runs("sync"), times[1:], strict=False):  # made when the job before started
        assert nxt <= max(run.start_ns + every_s * SECOND, instant_ns(run.event.data["scheduledAt"]) + every_s * SECOND)


def test_the_readme_block_runs_as_written():
    run_block("jobsim.Every(")


def test_a_plugin_profile_with_the_interval_rule_runs_it_whatever_its_other_rules():
    """The one-pending-job runtime comes with ``Profile.interval``, even on a profile with durable steps and
    cron on the clock (which otherwise needs no runtime, and would re-schedule the first job at its own instant
    forever)."""
    durable = Profile(name="acme-queue", description="d", default_retries=jobsim.Retries(attempts=1),
                      interval="bullmq")  # fmt: skip
    with jobsim.Simulation(app_every("1m", seconds=150), start=START, profile=durable) as sim:
        sim.advance("5m")
    assert story(sim)[:3] == ["00:00:00.000@00:00:00.000", "00:01:00.000@00:02:30.000", "00:03:00.000@00:05:00.000"]


def test_run_until_idle_runs_the_first_job_which_the_scheduler_makes_at_once():
    """``upsertJobScheduler`` adds the first job to the wait list at once (no startDate, no offset): it is
    work a test waits for, not a recurring tick; the next job (made as it starts, due later) is not."""
    with jobsim.Simulation(app_every("5m", seconds=30), start=START, profile="bullmq") as sim:
        sim.run_until_idle()
        assert story(sim) == ["00:00:00.000@00:00:00.000"]
        assert [r.status for r in sim.runs("sync")] == ["completed"]
        assert iso(sim.now_ns()) == "2026-03-02T00:00:30.000Z"
    with jobsim.Simulation(app_every("5m", seconds=30), start=START, profile="bullmq") as sim:
        sim.downtime(START, "2026-03-02T00:02:00Z")  # the first job waits in Redis; it is still work
        sim.run_until_idle()
        assert story(sim) == ["00:00:00.000@00:02:00.000"]
    with jobsim.Simulation(app_every(jobsim.Every("5m", offset="1m")), start=START, profile="bullmq") as sim:
        sim.run_until_idle()  # a delayed first job (on its offset's slot) is a tick like the later ones
        assert story(sim) == [] and sim.now_ns() == instant_ns(START)
