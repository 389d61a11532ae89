"""Live conformance: a real scheduler in real time against the simulation, event by event.

BackgroundScheduler: one pool thread; ``slow`` (interval 1 s) sleeps 2.5 s, so it holds the thread
and its next fires hit max_instances=1; ``even`` (cron ``second='*/2'``) waits for the thread and
misfires when it waited past misfire_grace_time=1 s; ``broken`` raises once.

AsyncIOScheduler, on a real ``asyncio.run`` loop: ``slow`` awaits ``asyncio.sleep(2.5)``; ``blocker``
blocks the whole loop with ``time.sleep(1.9)``, so the scheduler wakes late, ``even`` misfires and
``slow``'s fires coalesce into one max_instances; ``fan`` gathers a sleep and ``asyncio.to_thread``;
``threaded`` is a plain function in the loop's default executor.

Both runs start 0.1 s past an even second, so the cron's instants fall at the same offsets. The
sequence of (event, job, run time) must be the same, and each event's instant no more than ``EARLY``
before the simulation's and ``LATE`` after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler

import jobsim

pytestmark = pytest.mark.live

NAMES = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed",
         EVENT_JOB_MAX_INSTANCES: "max_instances"}  # fmt: skip
WATCH = 6.8  # seconds of schedule compared (the BackgroundScheduler's)
WATCH_AIO = 5.6  # the AsyncIOScheduler's
EARLY = 0.05  # seconds a real event may come before the simulation's: none came early in the runs measured
LATE = 0.3  # seconds it may come after: latency, measured up to 8 ms at load 8 and 91 ms at load 11 plus three
# busy loops (was 0.2 s both ways); distinct predicted instants are 0.4 s apart or more, or ordered by the sequence


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
    _listen(scheduler, t0, now, seen)
    return scheduler, seen


def _listen(scheduler, t0: dt.datetime, now: callable, seen: list) -> None:
    def listener(event):
        run = getattr(event, "scheduled_run_time", None) or event.scheduled_run_times[-1]
        seen.append(((now() - t0).total_seconds(), NAMES[event.code], event.job_id,
                     round((run - t0).total_seconds(), 1)))  # fmt: skip

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)


def _simulated() -> list:
    t0 = dt.datetime(2025, 3, 1, 0, 0, 0, 100_000, tzinfo=dt.timezone.utc)
    scheduler, seen = _build(t0, lambda: dt.datetime.now(dt.timezone.utc))
    with jobsim.Simulation(scheduler, start=t0) as sim:
        sim.advance(f"{int(WATCH * 1000)}ms")
    return seen


def _next_even() -> tuple[float, dt.datetime]:
    """The next even second of the real clock, and t0 0.1 s past it."""
    even = (int(time.time()) // 2 + 1) * 2
    return even, dt.datetime.fromtimestamp(even + 0.1, dt.timezone.utc)


def _real() -> list:
    even, t0 = _next_even()
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

    _compare(_real, simulated)


ATTEMPTS = 3  # real runs tried: a semantic difference repeats in every one; a run the machine's load made late does not


def _compare(run_real: callable, simulated: list) -> None:
    """The real scheduler's events equal the simulation's, each within EARLY/LATE of its instant.

    A real run is tried again when it fails, up to ATTEMPTS times: on a loaded 2-core CI machine a pool thread
    once woke from its 2.5 s sleep more than LATE after it was due, so its event fell past the window (CI, Python
    3.13 stage, every other event within 1 ms). Every attempt's events are in the failure.
    """
    failures = []
    for _ in range(ATTEMPTS):
        real = run_real()
        same = [event[1:] for event in real] == [event[1:] for event in simulated]
        off = [(r, s) for r, s in zip(real, simulated, strict=False) if not -EARLY <= r[0] - s[0] <= LATE]
        if same and not off:
            return
        failures.append(real)
    assert [event[1:] for event in failures[-1]] == [event[1:] for event in simulated], failures
    pytest.fail(f"events off their instants by more than -{EARLY}/+{LATE} s in every attempt: {failures}")


# -- AsyncIOScheduler ------------------------------------------------------------------------------------------------
async def _aslow():
    await asyncio.sleep(2.5)


async def _aeven():
    return "tick"


async def _abroken():
    raise ValueError("boom")


async def _blocker():
    time.sleep(1.9)  # blocks the whole loop: the scheduler's wakeups and every other job wait


async def _fan():
    await asyncio.gather(asyncio.sleep(1.0), asyncio.to_thread(time.sleep, 0.6))


def _threaded():
    time.sleep(0.4)  # in the loop's default executor
    return "done"


def _build_aio(t0: dt.datetime, now: callable) -> tuple[AsyncIOScheduler, list]:
    scheduler = AsyncIOScheduler(timezone="UTC")  # no loop: start() takes the running one
    at = {name: t0 + dt.timedelta(seconds=offset) for name, offset in (("broken", 0.3), ("blocker", 1.2), ("fan", 3.3),
                                                                       ("threaded", 4.5), ("slow", 1.0))}  # fmt: skip
    scheduler.add_job(_aslow, "interval", seconds=1, start_date=at["slow"], id="slow")
    scheduler.add_job(_aeven, "cron", second="*/2", id="even")
    scheduler.add_job(_abroken, "date", run_date=at["broken"], id="broken")
    scheduler.add_job(_blocker, "date", run_date=at["blocker"], id="blocker")
    scheduler.add_job(_fan, "date", run_date=at["fan"], id="fan")
    scheduler.add_job(_threaded, "date", run_date=at["threaded"], id="threaded")
    seen: list = []
    _listen(scheduler, t0, now, seen)
    return scheduler, seen


def _real_aio() -> list:
    even, t0 = _next_even()
    scheduler, seen = _build_aio(t0, lambda: dt.datetime.now(dt.timezone.utc))

    async def app():
        scheduler.start()
        await asyncio.sleep(max(0.0, (t0 - dt.datetime.now(dt.timezone.utc)).total_seconds() + WATCH_AIO))
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)

    time.sleep(max(0.0, even + 0.05 - time.time()))
    asyncio.run(app())
    return [event for event in seen if event[0] <= WATCH_AIO]


def test_the_simulation_matches_a_real_asyncio_scheduler_event_by_event():
    t0 = dt.datetime(2025, 3, 1, 0, 0, 0, 100_000, tzinfo=dt.timezone.utc)
    scheduler, simulated = _build_aio(t0, lambda: dt.datetime.now(dt.timezone.utc))
    with jobsim.Simulation(scheduler, start=t0) as sim:
        sim.advance(f"{int(WATCH_AIO * 1000)}ms")
    assert [(name, job, run) for _, name, job, run in simulated] == [
        ("error", "broken", 0.3),
        ("executed", "blocker", 1.2),  # the loop was blocked from 1.2 to 3.1: the scheduler wakes at 3.1
        ("max_instances", "slow", 3.0),  # 2.0 and 3.0 coalesced into one submission; slow runs until 3.5
        ("missed", "even", 1.9),  # 1.2 s late > misfire_grace_time=1
        ("executed", "slow", 1.0),
        ("executed", "even", 3.9),
        ("executed", "fan", 3.3),  # gathered a 1 s sleep and a 0.6 s thread
        ("executed", "threaded", 4.5),
        ("max_instances", "slow", 5.0),  # the run of 4.0 sleeps until 6.5
    ]
    assert [round(at, 3) for at, *_ in simulated] == [0.3, 3.1, 3.1, 3.1, 3.5, 3.9, 4.3, 4.9, 5.0]
    _compare(_real_aio, simulated)
