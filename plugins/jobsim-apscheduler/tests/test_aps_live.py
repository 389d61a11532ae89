"""Live conformance: a real BackgroundScheduler in real time against the simulation, event by event.

One pool thread; ``slow`` (interval 1 s) sleeps 2.5 s, so it holds the thread and its next fires
hit max_instances=1; ``even`` (cron ``second='*/2'``) waits for the thread and misfires when it
waited past misfire_grace_time=1 s; ``broken`` raises once. Both runs start 0.1 s past an even
second, so the cron's instants fall at the same offsets. The sequence of (event, job, run time)
must be the same, and each event's instant within ``TOLERANCE`` of the simulation's.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

import jobsim

pytestmark = pytest.mark.live

NAMES = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed",
         EVENT_JOB_MAX_INSTANCES: "max_instances"}  # fmt: skip
WATCH = 6.8  # seconds of schedule compared
TOLERANCE = 0.2  # real-time scheduling latency allowed, in seconds


def _slow():
    time.sleep(2.5)


def _even():
    return "tick"


def _broken():
    raise ValueError("boom")


def _build(t0: dt.datetime, now: callable) -> tuple[BackgroundScheduler, list]:
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_job(_slow, "interval", seconds=1, start_date=t0 + dt.timedelta(seconds=1), id="slow")
    scheduler.add_job(_even, "cron", second="*/2", id="even")
    scheduler.add_job(_broken, "date", run_date=t0 + dt.timedelta(seconds=0.5), id="broken")
    seen: list = []

    def listener(event):
        run = getattr(event, "scheduled_run_time", None) or event.scheduled_run_times[-1]
        seen.append(((now() - t0).total_seconds(), NAMES[event.code], event.job_id,
                     round((run - t0).total_seconds(), 1)))  # fmt: skip

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler, seen


def _simulated() -> list:
    t0 = dt.datetime(2025, 3, 1, 0, 0, 0, 100_000, tzinfo=dt.timezone.utc)
    scheduler, seen = _build(t0, lambda: dt.datetime.now(dt.timezone.utc))
    with jobsim.Simulation(scheduler, start=t0) as sim:
        sim.advance(f"{int(WATCH * 1000)}ms")
    return seen


def _real() -> list:
    now = time.time()
    even = (int(now) // 2 + 1) * 2  # the next even second, then 0.1 s past it
    t0 = dt.datetime.fromtimestamp(even + 0.1, dt.timezone.utc)
    scheduler, seen = _build(t0, lambda: dt.datetime.now(dt.timezone.utc))
    time.sleep(max(0.0, even + 0.05 - time.time()))
    scheduler.start()
    try:
        time.sleep(max(0.0, (t0 - dt.datetime.now(dt.timezone.utc)).total_seconds() + WATCH))
    finally:
        scheduler.shutdown(wait=True)
    return [event for event in seen if event[0] <= WATCH]


def test_the_simulation_matches_a_real_scheduler_event_by_event():
    simulated = _simulated()
    assert [(name, job, run) for _, name, job, run in simulated] == [
        ("error", "broken", 0.5),
        ("max_instances", "slow", 2.0),
        ("max_instances", "slow", 3.0),
        ("executed", "slow", 1.0),
        ("missed", "even", 1.9),  # waited for the pool thread from 1.9 to 3.5: 1.6 s > misfire_grace_time=1
        ("executed", "even", 3.9),
        ("max_instances", "slow", 5.0),
        ("max_instances", "slow", 6.0),
        ("executed", "slow", 4.0),
        ("executed", "even", 5.9),  # waited from 5.9 to 6.5: 0.6 s, within the grace time
    ]
    assert [round(at, 3) for at, *_ in simulated] == [0.5, 2.0, 3.0, 3.5, 3.5, 3.9, 5.0, 6.0, 6.5, 6.5]

    real = _real()
    assert [event[1:] for event in real] == [event[1:] for event in simulated], real
    late = [(r, s) for r, s in zip(real, simulated, strict=True) if abs(r[0] - s[0]) > TOLERANCE]
    assert not late, late
