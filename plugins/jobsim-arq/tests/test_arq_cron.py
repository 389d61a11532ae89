"""arq's cron loop at its own instants: enqueued by the heartbeat up to two windows ahead, deferred to
``next_run`` (microsecond 123456 by default), started by the first poll at or after it (worker.py:729-771)."""

from __future__ import annotations

import asyncio
import zoneinfo

import pytest
from arq import Retry
from arq.cron import cron
from arq_jobs import LOG, NOWHERE, START, clock, slow, tick

import jobsim


def settings(*cron_jobs, **options):
    return {"cron_jobs": list(cron_jobs), "redis_settings": NOWHERE, **options}


def enqueued(sim):
    records = sim.trace.of("arq.enqueued")
    return [(r.data["run"], jobsim_time(sim, r.at), jobsim_time(sim, r.data["due"])) for r in records]


def jobsim_time(sim, ns):
    from jobsim._time import to_datetime

    return to_datetime(ns, sim.tz).strftime("%H:%M:%S.%f")[:-3]


def test_a_cron_job_is_enqueued_a_window_ahead_and_runs_at_the_poll_after_its_microsecond():
    with jobsim.Simulation(settings(cron(tick, minute={0, 30})), start=START) as sim:
        sim.advance("1h1s")
    assert enqueued(sim) == [("cron:tick:1740821400123", "09:29:59.500", "09:30:00.123"),
                             ("cron:tick:1740823200123", "09:59:59.500", "10:00:00.123")]  # fmt: skip
    assert LOG == [("tick", "09:30:00.500", "cron:tick:1740821400123"),
                   ("tick", "10:00:00.500", "cron:tick:1740823200123")]  # fmt: skip


def test_second_zero_microsecond_zero_runs_on_a_poll_exactly():
    with jobsim.Simulation(settings(cron(tick, second={0, 20, 40}, microsecond=0)), start=START) as sim:
        sim.advance("61s")
    # the first heartbeat (09:00:00.0) only computes next_run (09:00:20); from then on each is enqueued at the
    # first poll within 1 s of it and starts at its own instant, a poll
    assert [t for _, t, _ in LOG] == ["09:00:20.000", "09:00:40.000", "09:01:00.000"]


def test_run_at_startup_is_enqueued_by_the_first_heartbeat_and_runs_at_the_second_poll():
    with jobsim.Simulation(settings(cron(tick, hour=3, minute=0, run_at_startup=True)), start=START) as sim:
        sim.advance("1d")
    assert [(t, j) for _, t, j in LOG] == [("09:00:00.500", "cron:tick:1740819600000"),
                                           ("03:00:00.500", "cron:tick:1740884400123")]  # fmt: skip


def test_a_long_poll_delay_widens_the_window_and_delays_the_start_to_the_next_poll():
    with jobsim.Simulation(settings(cron(tick, minute=0), poll_delay=5), start=START) as sim:
        sim.advance("1h1m")
    # window 2 * max(5, 0.5) = 10 s: enqueued at 09:59:55, due 10:00:00.123, started by the 10:00:05 poll
    assert enqueued(sim) == [("cron:tick:1740823200123", "09:59:55.000", "10:00:00.123")]
    assert [t for _, t, _ in LOG] == ["10:00:05.000"]


def test_unique_cron_jobs_run_once_across_two_workers_and_non_unique_ones_twice():
    a = settings(cron(tick, minute=5, name="u"), cron(tick, minute=5, name="n", unique=False))
    b = settings(cron(tick, minute=5, name="u"), cron(tick, minute=5, name="n", unique=False))
    with jobsim.Simulation(a, b, start=START) as sim:
        sim.advance("10m")
    assert sorted(r.function.id for r in sim.runs() if r.status == "completed") == ["n", "n", "u"]
    assert [r.data["job_id"] for r in sim.trace.of("arq.duplicate")] == ["u:1740819900123"]


def test_a_fixed_job_id_spans_schedules_while_its_result_is_kept():
    with jobsim.Simulation(settings(cron(tick, second=0, job_id="the-tick", keep_result=90)), start=START) as sim:
        sim.advance("5m1s")
    # the result of the 09:01 run is kept 90 s: the 09:02 enqueue is refused, 09:03's goes through
    assert [t for _, t, _ in LOG] == ["09:01:00.500", "09:03:00.500", "09:05:00.500"]
    assert len(sim.trace.of("arq.duplicate")) == 2


def test_cron_timeout_and_its_single_try():
    async def stuck(ctx):
        LOG.append(("stuck", clock(), ctx["job_try"]))
        await asyncio.sleep(600)

    async def again(ctx):
        LOG.append(("again", clock(), ctx["job_try"]))
        raise Retry(defer=1)

    with jobsim.Simulation(settings(cron(stuck, minute=1, timeout=2), cron(again, minute=1)), start=START) as sim:
        sim.advance("2m1s")
    [s] = sim.runs("cron:test_cron_timeout_and_its_single_try.<locals>.stuck")
    assert s.status == "failed" and isinstance(s.error, asyncio.TimeoutError)
    assert [jobsim_time(sim, a.end_ns) for a in s.attempts] == ["09:01:02.500"]
    [g] = sim.runs("cron:test_cron_timeout_and_its_single_try.<locals>.again")
    assert g.status == "failed" and "max 1 retries exceeded" in str(g.error)  # cron's max_tries=1 (cron.py:145)
    # the retry is due at 09:01:01.5, but a cron job's in-progress key outlives it by 60 s (keep_cronjob_progress,
    # worker.py:537-543, 695-698): polls skip it as "running elsewhere" while it exists; set at 09:01:00.5, it
    # is still there at 09:02:00.5 (Redis expires a key when now > its time) and gone at the 09:02:01 poll
    assert [jobsim_time(sim, r.at) for r in sim.trace.of("retry")] == ["09:01:00.500"]
    assert jobsim_time(sim, g.end_ns) == "09:02:01.000"
    # one score: the poll takes them in id order ("cron:...again:..." first); again's second try never runs
    assert [(w, t) for w, t, _ in LOG] == [("again", "09:01:00.500"), ("stuck", "09:01:00.500")]


def test_cron_hours_are_read_in_the_workers_timezone():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    with jobsim.Simulation(settings(cron(tick, hour=8, minute=0), timezone=paris), start=START) as sim:
        sim.advance("2d")
    assert [t for _, t, _ in LOG] == ["07:00:00.500", "07:00:00.500"]  # 08:00 in Paris is 07:00Z in March


def test_cron_runs_as_arq_enqueues_them_over_a_week_quickly():
    import time

    began = time.perf_counter()
    with jobsim.Simulation(settings(cron(tick, minute=0)), start=START) as sim:
        sim.advance("7d")
    assert len(LOG) == 167 and LOG[-1][1] == "08:00:00.500"
    assert time.perf_counter() - began < 20  # idle polls are skipped: a week is ~170 jobs, not 1.2 M polls


def test_the_cron_job_of_a_slow_function_runs_alongside_the_queue():
    async def enqueue(sim):
        from arq import create_pool

        pool = await create_pool(NOWHERE)
        await pool.enqueue_job("slow", 90)

    with jobsim.Simulation(settings(cron(tick, second=30), functions=[slow]), start=START) as sim:
        asyncio.run(enqueue(sim))
        sim.advance("2m")
    assert [(w, t) for w, t, _ in LOG] == [("slow start", "09:00:00.000"), ("tick", "09:00:30.500"),
                                           ("slow end", "09:01:30.000"), ("tick", "09:01:30.500")]  # fmt: skip


def test_jobsim_run_prints_the_timeline_of_a_worker_settings_class(capsys):
    from jobsim._cli import main

    assert main(["run", "arq_jobs:CliSettings", "--days", "1", "--start", "2025-03-01T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "2025-03-01 02:00:00.500 UTC  run       retried#1 started by cron:nightly#1" in out
    # enqueued by the cron job at 02:00:00.5, after that instant's poll: taken by the 02:00:01 poll
    assert "2025-03-01 02:00:31.000 UTC  retry     retried#1 attempt 2 at 02:01:01 (+30s)" in out
    assert "retried          1          1       0      0        2" in out


# arq compares next_run with now + window as aware datetimes of one ZoneInfo: by wall clock, not by instant
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def cron_story(minute, start, end):
    with jobsim.Simulation(settings(cron(tick, minute=minute), timezone=NEW_YORK), start=start) as sim:
        sim.advance_to(end)
    return [(r.id[-13:], jobsim_time(sim, r.start_ns), [jobsim_time(sim, a.start_ns) for a in r.attempts])
            for r in sim.runs(tick)]  # fmt: skip


def test_spring_forward_a_skipped_half_hour_is_enqueued_when_the_wall_clock_passes_it():
    # 01:30 EST runs; next_run is 02:30 (skipped by the clocks; its instant 07:30Z, as 03:30 EDT). At 03:00:00 EDT
    # (07:00Z) the wall reading 03:00:01 is past 02:30: enqueued then, without _defer_until (02:30 > 03:00 is false
    # by wall time too), run at the next poll. next_run then is 03:30 EDT, the same instant and job id, free again
    # once the first ran (keep_result=0): a second run at 07:30:00.5. Before, the idle polls were skipped to 07:29:59
    # (by instant) and one run started then.
    assert cron_story(30, "2026-03-08T05:10:00Z", "2026-03-08T07:45:00Z") == [  # health checks at :10, no poll at :00
        ("1772947800123", "05:29:59.500", ["05:30:00.500"]),
        ("1772951400123", "06:29:59.500", ["06:30:00.500"]),
        ("1772955000123", "07:00:00.000", ["07:00:00.500"]),
        ("1772955000123", "07:29:59.500", ["07:30:00.500"])]  # fmt: skip


def test_fall_back_the_first_standard_hour_is_enqueued_an_hour_ahead_by_wall_time():
    # 01:00 EDT runs; next_run is 02:00 EST (07:00Z). At 01:59:59.5 EDT (05:59:59.5Z) the wall reading 02:00:00.5 is
    # past it: enqueued then, deferred to 07:00:00.123Z; the repeated 01:00 EST hour has no run (as in arq)
    assert cron_story(0, "2026-11-01T04:30:00Z", "2026-11-01T08:30:00Z") == [
        ("1793509200123", "04:59:59.500", ["05:00:00.500"]),
        ("1793516400123", "05:59:59.500", ["07:00:00.500"]),
        ("1793520000123", "07:59:59.500", ["08:00:00.500"])]  # fmt: skip


def test_a_worker_started_in_the_repeated_hour_skips_its_idle_polls(monkeypatch):
    # started at 01:10 EST (06:10Z): next_cron gives 01:30 with fold 0, whose instant (05:30Z) is past; arq enqueues it
    # when the wall clock reaches 01:29:59.5 again (06:29:59.5Z), "deferred" to that past instant: the next poll runs
    # it. The polls between are skipped, not run one by one.
    from arq.worker import Worker

    polls = []
    poll = Worker._poll_iteration

    async def counted(self):
        polls.append(1)
        await poll(self)

    monkeypatch.setattr(Worker, "_poll_iteration", counted)
    assert cron_story(30, "2026-11-01T06:10:00Z", "2026-11-01T06:45:00Z") == [
        ("1793511000123", "06:29:59.500", ["06:30:00.000"])]  # fmt: skip
    assert len(polls) < 20  # one by one from 06:10 to 06:45: 4,200


def test_a_pytz_zone_keeps_the_offset_next_run_was_computed_with():
    # pytz: datetime.now(tz) carries a fixed-offset tzinfo, which next_cron's arithmetic keeps (cron.py:35-99), so
    # the 09:00 of a worker started in EST stays 14:00Z after spring forward, as on a real arq worker
    pytz = pytest.importorskip("pytz")

    with jobsim.Simulation(settings(cron(tick, hour=9, minute=0), timezone=pytz.timezone("America/New_York")),
                           start="2026-03-06T12:00:00Z") as sim:
        sim.advance_to("2026-03-10T15:00:00Z")
    assert [jobsim_time(sim, r.attempts[0].start_ns) for r in sim.runs(tick)] == ["14:00:00.500"] * 5


async def every_quarter(ctx):
    return 1


@pytest.mark.parametrize("start, end", [("2026-03-08T06:50:00Z", "2026-03-08T07:35:00Z"),   # 02:00 EST -> 03:00 EDT
                                        ("2026-11-01T05:50:00Z", "2026-11-01T07:05:00Z")])  # 02:00 EDT -> 01:00 EST
def test_skipping_idle_polls_changes_nothing_across_dst(start, end, monkeypatch):
    # the same night with every 0.5 s poll run (idle skipping off): each cron job enqueued and run at the same instants
    from jobsim_arq._loop import WorkerLoop

    def story():
        jobs = [cron(tick, minute=0), cron(slow, name="half", minute=30),
                cron(every_quarter, minute={0, 15, 30, 45}, second=30, microsecond=0)]
        with jobsim.Simulation(settings(*jobs, timezone=NEW_YORK), start=start) as sim:
            sim.advance_to(end)
        return [(r.id, r.start_ns, [a.start_ns for a in r.attempts]) for r in sim.runs()]

    skipped = story()
    monkeypatch.setattr(WorkerLoop, "_skip_idle_polls", lambda self: None)
    assert story() == skipped and len(skipped) >= 2


SPRING = ({15, 45}, {1, 59})  # minutes inside the skipped half hour, nothing at :00 to wake the worker at the jump
FALL = ({0, 30}, {0, 1, 15, 59})


@pytest.mark.parametrize("zone, start, end, poll_delay, minutes", [
    ("Australia/Lord_Howe", "2026-04-04T14:01:03.25Z", "2026-04-04T16:15:00Z", 1.0, FALL),  # 02:00 +11 -> 01:30 +10:30
    ("Australia/Lord_Howe", "2026-10-03T14:03:19.5Z", "2026-10-03T16:45:00Z", 1.0, SPRING),  # 02:00 +10:30 -> 02:30 +11
    ("Europe/London", "2026-03-28T23:51:52.25Z", "2026-03-29T02:15:00Z", 0.3, SPRING),  # 01:00 GMT -> 02:00 BST
    ("Europe/Dublin", "2026-10-24T23:57:57.25Z", "2026-10-25T02:15:00Z", 2.5, FALL)])  # negative DST in tzdata
def test_skipping_idle_polls_changes_nothing_in_other_zones_and_poll_delays(zone, start, end, poll_delay, minutes,
                                                                            monkeypatch):  # fmt: skip
    # a half-hour DST shift, a poll_delay off the 0.5 s grid or over it: every poll run (arq's own run_cron at each)
    # and idle polls skipped give the same runs at the same instants (each case failed before the wall-clock fix)
    from jobsim_arq._loop import WorkerLoop

    def story():
        jobs = [cron(tick, minute=minutes[0]), cron(every_quarter, minute=minutes[1], second=0, microsecond=0)]
        with jobsim.Simulation(settings(*jobs, timezone=zoneinfo.ZoneInfo(zone), poll_delay=poll_delay),
                               start=start) as sim:
            sim.advance_to(end)
        return [(r.id, r.start_ns, [a.start_ns for a in r.attempts]) for r in sim.runs()]

    skipped = story()
    monkeypatch.setattr(WorkerLoop, "_skip_idle_polls", lambda self: None)
    assert story() == skipped and len(skipped) >= 4
