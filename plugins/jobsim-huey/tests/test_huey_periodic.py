"""Periodic tasks: the consumer's scheduler checks every 60 s from its start, in UTC or the process's local time."""

from __future__ import annotations

import time

from huey import RedisHuey, crontab
from huey_support import START, T0_NS

import jobsim
from jobsim._time import HOUR, MINUTE, SECOND


def at(run):
    return jobsim._time.iso(run.start_ns)


def test_a_crontab_fires_at_the_checks_that_match_it_in_utc(redis_huey):
    h = redis_huey

    @h.periodic_task(crontab(minute="*/15"))
    def sweep():
        return "swept"

    with jobsim.Simulation(h, start=START) as sim:
        sim.advance("59m")
        runs = sim.runs(sweep)
        assert [run.start_ns - T0_NS for run in runs] == [0, 15 * MINUTE, 30 * MINUTE, 45 * MINUTE]
        assert all(run.status == "completed" and run.output == "swept" for run in runs)
        assert "started by the periodic check of test-redis/consumer" in sim.timeline()
        assert h.result_count() == 0  # periodic tasks store no result (api.py:511)


def test_checks_are_60_seconds_apart_from_the_consumers_start_not_on_the_minute(redis_huey):
    h = redis_huey

    @h.periodic_task(crontab(minute="*/15"))
    def sweep():
        pass

    with jobsim.Simulation(h, start="2025-03-01T00:00:30Z") as sim:
        sim.advance("1h")  # the first check is at the start: its minute, 0, matches
        assert [at(run) for run in sim.runs(sweep)] == [
            "2025-03-01T00:00:30.000Z", "2025-03-01T00:15:30.000Z", "2025-03-01T00:30:30.000Z",
            "2025-03-01T00:45:30.000Z", "2025-03-01T01:00:30.000Z",
        ]  # fmt: skip


def test_run_until_idle_does_not_wait_for_periodic_tasks_and_advance_runs_them(redis_huey):
    h = redis_huey

    @h.periodic_task(crontab(minute="0"))
    def hourly():
        time.sleep(5)

    with jobsim.Simulation(h, start="2025-03-01T00:30:10Z") as sim:
        sim.run_until_idle()
        assert sim.now_ns() == T0_NS + 30 * MINUTE + 10 * SECOND and sim.runs(hourly) == []
        sim.advance("3h")
        assert [at(run) for run in sim.runs(hourly)] == [
            "2025-03-01T01:00:10.000Z", "2025-03-01T02:00:10.000Z", "2025-03-01T03:00:10.000Z",
        ]  # fmt: skip
        assert [run.end_ns - run.start_ns for run in sim.runs(hourly)] == [5 * SECOND] * 3


def test_a_consumer_without_periodic_tasks_never_enqueues_them(redis_huey):
    h = redis_huey

    @h.periodic_task(crontab())
    def every_minute():
        pass

    with jobsim.Simulation(h.create_consumer(periodic=False), start=START) as sim:
        sim.advance("10m")
        assert sim.runs(every_minute) == []


def test_two_consumers_with_periodic_tasks_enqueue_each_tick_twice(redis_huey):
    """Huey's docs: run periodic tasks on one consumer only (``-n`` on the others); two both enqueue."""
    h = redis_huey

    @h.periodic_task(crontab(minute="*/5"))
    def tick():
        pass

    with jobsim.Simulation(h.create_consumer(), h.create_consumer(periodic=False), start=START) as sim:
        sim.advance("10m")
        assert len(sim.runs(tick)) == 3
    with jobsim.Simulation(h.create_consumer(), h.create_consumer(), start=START) as sim:
        sim.advance("10m")
        assert len(sim.runs(tick)) == 6


def test_utc_false_reads_local_time_in_the_simulations_zone_across_a_dst_change():
    h = RedisHuey("local", host="127.0.0.1", port=1, utc=False)
    utc = RedisHuey("utc", host="127.0.0.1", port=1)

    @h.periodic_task(crontab(minute="0", hour="9"))
    def morning_local():
        pass

    @utc.periodic_task(crontab(minute="0", hour="9"))
    def morning_utc():
        pass

    # New York moves from EST (UTC-5) to EDT (UTC-4) on 2025-03-09
    with jobsim.Simulation(h, utc, start="2025-03-07T00:00:00Z", tz="America/New_York") as sim:
        sim.advance("4d")
        assert [at(run) for run in sim.runs(morning_local)] == [
            "2025-03-07T14:00:00.000Z", "2025-03-08T14:00:00.000Z", "2025-03-09T13:00:00.000Z",
            "2025-03-10T13:00:00.000Z",
        ]  # fmt: skip
        assert [at(run) for run in sim.runs(morning_utc)] == [
            "2025-03-07T09:00:00.000Z", "2025-03-08T09:00:00.000Z", "2025-03-09T09:00:00.000Z",
            "2025-03-10T09:00:00.000Z",
        ]  # fmt: skip


def test_a_schedule_with_local_eta_is_read_in_local_time():
    import datetime as dt

    h = RedisHuey("local-eta", host="127.0.0.1", port=1, utc=False)

    @h.task()
    def remind():
        pass

    with jobsim.Simulation(h, start="2025-03-01T00:00:00Z", tz="America/New_York") as sim:
        remind.schedule(eta=dt.datetime(2025, 3, 1, 8, 0))  # naive: New York local time, 13:00 UTC
        remind.schedule(eta=dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc))  # aware: 04:00 local
        remind.schedule(delay=90)
        sim.run_until_idle()
        assert [jobsim._time.iso(run.attempts[0].start_ns) for run in sim.runs(remind)] == [
            "2025-03-01T13:00:00.000Z", "2025-03-01T09:00:00.000Z", "2025-03-01T00:01:30.000Z",
        ]  # fmt: skip


def test_a_naive_eta_of_a_utc_huey_is_read_in_the_simulations_zone_too():
    """README: Huey converts it from the machine's zone (``local_to_utc``, ``utils.py:74-78``); the simulation
    reads it in its ``tz``, so the answer is 17:00Z on every machine (13:00Z on a UTC one without the patch)."""
    import datetime as dt

    h = RedisHuey("utc-naive-eta", host="127.0.0.1", port=1)

    @h.task()
    def remind():
        pass

    with jobsim.Simulation(h, start="2025-06-01T12:00:00Z", tz="America/New_York") as sim:
        remind.schedule(eta=dt.datetime(2025, 6, 1, 13, 0))
        sim.run_until_idle()
        assert [jobsim._time.iso(run.attempts[0].start_ns) for run in sim.runs(remind)] == ["2025-06-01T17:00:00.000Z"]


def test_a_simulated_week_of_checks_costs_little_real_time(redis_huey, monkeypatch):
    """A week is Huey's 10,080 periodic checks (one a minute, and the one at the start), not its scheduler's
    604,800 one-second loops: counted, and its cost read as CPU time. It was real time under 5 s, which a loaded
    machine stretches (2.6 s at load 10 on 2 cores, for 0.3 s of CPU)."""
    from huey.consumer import Scheduler

    h = redis_huey
    loops = []
    loop = Scheduler.loop
    monkeypatch.setattr(Scheduler, "loop", lambda self, *args: loops.append(1) or loop(self, *args))

    @h.periodic_task(crontab(minute="0"))
    def hourly():
        pass

    with jobsim.Simulation(h, start=START) as sim:
        began = time.process_time()
        sim.advance("7d")
        spent = time.process_time() - began
        assert len(sim.runs(hourly)) == 7 * 24 + 1  # 00:00 of the first day to 00:00 of the eighth, both included
        assert len(loops) == 7 * 24 * 60 + 1
        assert spent < 5  # CPU seconds: 0.3 measured
        assert sim.now_ns() == T0_NS + 7 * 24 * HOUR
