"""Live conformance: one scenario run by a real arq ``Worker`` on Debian's redis-server (127.0.0.1, a free port,
stopped by pid) and by the simulation from the same instant; outcomes must match, every job must start at the
same poll, and instants agree within ``TOLERANCE`` once the real poll grid's drift is subtracted (what a real
worker adds on top: Redis round trips and event-loop latency; see the test's docstring)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

import arq_live_jobs as scenario
import pytest
from arq.connections import RedisSettings, create_pool
from arq.jobs import Job
from arq.worker import Worker

import jobsim

pytestmark = pytest.mark.live

TOLERANCE = 0.1  # seconds, between a real instant re-timed onto the ideal poll grid and its simulated one
PER_START = 0.04  # seconds more for each job the real worker started before it at the same poll (measured 25-30 ms)
LOAD = 0.1  # seconds more a start or a duration may be late: CI runs this on a loaded 2-core machine (see below)
JITTER = 0.05  # seconds: the median lateness of one real poll step; measured 12-24 ms a step under load
RUN_FOR = 6.0
POLLS: list[float] = []  # time.time() at each poll of the real worker


class _Recording(Worker):
    """A real arq Worker that notes when each of its polls starts (nothing else changes)."""

    async def _poll_iteration(self) -> None:
        POLLS.append(time.time())
        await super()._poll_iteration()


async def _outcomes(pool):
    out = {}
    for job_id in scenario.IDS:
        info = await Job(job_id, pool).result_info()
        out[job_id] = None if info is None else (info.success, repr(info.result), info.job_try,
                                                 info.start_time.timestamp(), info.finish_time.timestamp())
    return out


async def _real(url):
    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings)
    await pool.flushdb()
    while not time.time() % 1 < 0.05:  # polls at .0x/.5x: 0.45 s after each cron instant (.000)
        await asyncio.sleep(1 - time.time() % 1)
    t0 = time.time()
    await scenario.enqueue(pool, t0)
    worker = _Recording(functions=scenario.FUNCTIONS, cron_jobs=scenario.CRON, redis_settings=settings,
                        handle_signals=False, **scenario.OPTIONS)  # fmt: skip
    task = worker.main_task = asyncio.create_task(worker.main())
    await asyncio.sleep(RUN_FOR)
    stopped = time.time()
    worker.handle_sig(2)
    await asyncio.gather(task, return_exceptions=True)
    out = await _outcomes(pool)
    await worker.close()
    await pool.aclose()
    return t0, scenario.STARTED[-1], stopped, list(scenario.SEEN), out


def _simulated(t0, polled, until):
    """From the instant the real worker first polled (its poll grid's origin), the same enqueues (their
    ``_defer_until`` instants are the real run's), for ``until`` seconds."""
    start = dt.datetime.fromtimestamp(round(polled, 6), dt.timezone.utc)
    settings = {"functions": scenario.FUNCTIONS, "cron_jobs": scenario.CRON, **scenario.OPTIONS}
    with jobsim.Simulation(settings, start=start) as sim:
        pool = asyncio.run(create_pool(RedisSettings(port=1)))
        asyncio.run(scenario.enqueue(pool, t0))
        sim.advance(dt.timedelta(seconds=until))
        out = asyncio.run(_outcomes(pool))
    return list(scenario.SEEN), out


def test_a_real_worker_and_the_simulation_agree(redis_url):
    """The real worker polls every ``poll_delay`` after the end of its last sleep (``utils.py:101-109``), so each
    sleep's wake-up latency delays every later poll: measured 12-24 ms a poll with four busy loops on two cores (a
    130-200 ms drift 5 s in), where a fixed 0.1 s on raw instants failed 1 run in 4 and a cut-off 5.7 s after t0
    could keep an event on one side only. And it starts the jobs one poll found one after another, each after a
    few Redis round trips (``worker.py:440-474``): under that load the fifth started 140 ms after the poll. So:

    * each real poll is recorded; a step is never short of ``poll_delay`` and its median lateness is under
      ``JITTER`` (the simulation's grid, every 0.5 s from the first poll, is right);
    * a real start is re-timed onto that grid (the lateness of the last real poll before it is subtracted) and must
      come at or after its simulated instant (a poll of the simulation's) and within ``TOLERANCE`` + ``PER_START``
      per job the real worker started before it at that poll: a job taken at another poll is 0.5 s off and fails;
    * a job's end ("slow done", a result's finish time) is compared as the time since its start, within
      ``TOLERANCE`` plus the latest the real loop woke for a poll in this run (its sleep and ``timeout`` are timers
      of that loop: a 0.7 s timeout measured 0.85 s under load, next to a poll step 150 ms late); outcomes
      (success, result, ``job_try``) are equal;
    * the simulation runs 1 s past the real worker's stop; every real event must be one it predicted, and every
      simulated event more than ``TOLERANCE`` before the real stop (re-timed) must have happened on the real worker.
      The scenario's due instants lie 0.25 s or more from a poll on either side (``arq_live_jobs.enqueue``).

    Measured under that load (16 runs): poll steps 500.7-574 ms, 50-200 ms of drift by the last poll; the largest
    difference per run 45-305 ms on raw instants, 19-85 ms re-timed (per-start allowance included). 85 ms is close
    to ``TOLERANCE``; CI runs the plugin stages next to the core's (load 4-8 on two cores), so starts and durations
    get ``LOAD`` more. A start at the wrong poll is still 0.5 s off: the most a start may be late, with four jobs
    started before it at its poll, is 0.1 + 0.1 + 4 x 0.04 = 0.36 s. The ``missed`` check keeps ``TOLERANCE``.
    """
    scenario.SEEN.clear()
    POLLS.clear()
    t0, polled, stopped, real_seen, real_out = asyncio.run(_real(redis_url))
    polls = list(POLLS)
    scenario.SEEN.clear()
    sim_seen, sim_out = _simulated(t0, polled, stopped - polled + 1.0)

    step = scenario.OPTIONS["poll_delay"]
    steps = sorted(b - a for a, b in itertools.pairwise(polls))
    print(f"\nreal polls: {len(polls)}, steps {steps[0] * 1000:.1f}-{steps[-1] * 1000:.1f} ms, "
          f"drift at the last {(polls[-1] - polled - step * (len(polls) - 1)) * 1000:.1f} ms")
    assert steps[0] >= step - 0.002 and steps[len(steps) // 2] - step <= JITTER, steps
    wake = steps[-1] - step  # the latest a timer of the real worker's loop fired in this run

    def last_poll(at):
        return max((k for k, p in enumerate(polls) if p <= at), default=0)

    def retimed(at):
        """``at`` on the simulated grid: minus the lateness of the last real poll at or before it."""
        k = last_poll(at)
        return at - (polls[k] - (polled + k * step))

    starts = sorted(at for name, *_, at in real_seen if name != "slow done")

    def allowed(at):
        """``TOLERANCE`` plus ``PER_START`` for each job the real worker started after its last poll before ``at``."""
        return TOLERANCE + LOAD + PER_START * sum(1 for t in starts if last_poll(t) == last_poll(at) and t < at)

    real = {(name, job_id, job_try): at - t0 for name, job_id, job_try, at in real_seen}
    simulated = {(name, job_id, job_try): at - t0 for name, job_id, job_try, at in sim_seen}
    end = retimed(stopped) - t0
    assert set(real) <= set(simulated), sorted(set(real) - set(simulated))
    missed = sorted(key for key, at in simulated.items() if at < end - TOLERANCE and key not in real)
    assert not missed, (missed, end)
    late, worst = {}, 0.0
    for key, at in real.items():
        name, job_id, job_try = key
        if name == "slow done":  # since its start
            gap = (at - real[("slow", job_id, job_try)]) - (simulated[key] - simulated[("slow", job_id, job_try)])
            ok = abs(gap) <= TOLERANCE + LOAD + wake
        else:
            gap = retimed(at + t0) - t0 - simulated[key]
            ok = -0.002 <= gap <= allowed(at + t0)
        worst = max(worst, abs(gap))
        if not ok:
            late[key] = (round(at, 3), round(simulated[key], 3), round(gap, 3))
    print(f"live vs simulated: {len(real)} job events, max gap {worst * 1000:.1f} ms (re-timed); raw max "
          f"{max(abs(at - simulated[key]) for key, at in real.items()) * 1000:.1f} ms")  # -s shows what was measured
    assert not late, late  # (real, simulated, gap) after t0
    for job_id in scenario.IDS:
        r, s = real_out[job_id], sim_out[job_id]
        assert s is not None and s[4] - t0 < end - TOLERANCE, (job_id, s)  # the scenario ends well before the stop
        assert r is not None, job_id
        assert r[:3] == s[:3], job_id
        assert -0.002 <= retimed(r[3]) - s[3] <= allowed(r[3]), (job_id, r, s)
        assert abs((r[4] - r[3]) - (s[4] - s[3])) <= TOLERANCE + LOAD + wake, (job_id, r, s, wake)
    assert sim_out["e-capped"][:2] == (False, "TimeoutError()")
    assert sim_out["b-retried"][:3] == (True, "'third time'", 3)
    assert sim_out["h-expired"][:2] == (False, "JobExecutionFailed('job expired')")
