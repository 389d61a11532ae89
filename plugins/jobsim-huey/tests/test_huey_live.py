"""Live conformance: the same Huey scenario on a real consumer and Redis, and in the simulation.

The scenario (``huey_live_app.scenario``): a plain task, a task that fails twice with
``retry_delay=1.4`` and then succeeds, one that fails with ``retries=1`` (re-enqueued at once) and then
for good, a pipeline ``slow(0.5 s) -> add``, a task scheduled with ``delay=2``, and a periodic task
that matches every minute. The real side is ``huey_consumer -w 2 -s 1`` (``huey_live_consumer.py``)
on a throwaway ``redis-server`` (``conftest.py``); skipped, with the reason, only when ``redis-server``
is not installed.

Both sides log every signal Huey sends with its wall-clock time. The simulation starts at the real
consumer's start and enqueues at the same offset after it as the test did, so its scheduler ticks and
periodic checks fall at the same phase. Then the test checks that each task sees the same signals in
the same order on both sides, and that each real signal comes within ``TOLERANCE`` of its simulated
instant. The simulation predicts no latency; the real consumer adds:

* a hop through Redis (``LPUSH`` to a worker blocked in ``BRPOP``, ``storage.py:531-539``): about a
  millisecond;
* the scheduler thread's wake-up: it sleeps to its next whole interval from its start
  (``sleep_for_interval``, ``consumer.py:51-68``), so a due task is moved within milliseconds of the tick;
* ``time.sleep(0.5)`` in a task: a millisecond or two;

a few milliseconds in all, which ``TOLERANCE`` = 0.25 s covers with room for a loaded machine (two cores
shared by the test suite) -- while it is well under the 1-second scheduler interval, so a retry or
schedule moved at the wrong tick would fail it. The whole run takes about 5 s.

No due instant lies near a tick: the test enqueues 0.3 s after the consumer's start, the retries fall due
at about 1.7 s and 3.4 s, ``later`` at 2.3 s. With ``retry_delay=1`` the second retry fell due a hair after
the tick at 3 s, and which tick took it hung on the scheduler thread's wake-up latency: with four busy loops on
two cores a real retry came a whole second early in 1 run of 4 (a retry due exactly on a tick is pinned in
the simulation by ``test_huey_retries.py``).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import jobsim
from jobsim._time import SECOND, instant_ns

pytestmark = pytest.mark.live

START = "2025-03-01T00:00:00Z"
TOLERANCE = 0.25  # s, see the module docstring
HERE = Path(__file__).parent


def by_task(entries: list[dict]) -> dict[tuple, list[str]]:
    """Each task's signals in order (the periodic task and pipeline steps by their name and first argument)."""
    out: dict[tuple, list[str]] = defaultdict(list)
    for entry in entries:
        out[(entry["task"], entry["tag"])].append(entry["signal"])
    return dict(out)


def simulate(app, offset: float) -> list[dict]:
    """The scenario in a simulation whose consumer starts at ``START``; the test enqueues ``offset`` s later.
    Entry times are seconds after the consumer's start."""
    app.LOG.sink = sink = []
    try:
        with jobsim.Simulation(app.huey.create_consumer(workers=2, scheduler_interval=1), start=START) as sim:
            sim.advance(f"{round(offset * 1000)}ms")
            results = app.scenario()
            sim.run_until_idle()
            assert results["add"].get() == 3 and results["flaky"].get() == "f"
            assert results["pipeline"].get() == [7, 107] and results["later"].get() == "s"
    finally:
        app.LOG.sink = None
    t0 = instant_ns(START) / SECOND
    return [dict(entry, t=entry["t"] - t0) for entry in sink]


@pytest.fixture
def live_app(redis_url, monkeypatch):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    monkeypatch.setenv("JOBSIM_LIVE_REDIS", redis_url)
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("huey_live_app", None)
    app = importlib.import_module("huey_live_app")
    yield app, client
    app.LOG.close()
    sys.modules.pop("huey_live_app", None)
    client.close()


def test_the_simulation_matches_a_real_consumer_on_redis(live_app, redis_url):
    import os

    from jobsim.testing import worker_process

    app, client = live_app
    expected_count = len(simulate(app, 0.3))
    env = dict(os.environ, JOBSIM_LIVE_REDIS=redis_url, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get(
        "PYTHONPATH", "")]))  # fmt: skip
    with worker_process([sys.executable, str(HERE / "huey_live_consumer.py")], ready="consumer ready", env=env,
                        cwd=str(HERE)) as consumer:  # fmt: skip
        line = next(line for line in consumer.lines if "consumer ready" in line)
        started = float(line.split("consumer ready ")[1])
        time.sleep(max(0.0, started + 0.3 - time.time()))
        enqueued = time.time()
        results = app.scenario()
        deadline = time.monotonic() + 10
        while client.llen(app.LOG_KEY) < expected_count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # anything the simulation did not predict would show up now
        real = [json.loads(raw) for raw in client.lrange(app.LOG_KEY, 0, -1)]
        assert results["add"].get() == 3 and results["flaky"].get() == "f"
        assert results["pipeline"].get() == [7, 107] and results["later"].get() == "s"
    real = [dict(entry, t=entry["t"] - started) for entry in real]
    real.sort(key=lambda entry: entry["t"])
    simulated = simulate(app, enqueued - started)
    assert by_task(real) == by_task(simulated), "the tasks' signals differ between the real consumer and jobsim"
    assert by_task(simulated)[("flaky", "'f'")] == [
        "enqueued", "executing", "error", "retrying", "scheduled",
        "enqueued", "executing", "error", "retrying", "scheduled",
        "enqueued", "executing", "complete",
    ]  # fmt: skip
    # match each real signal to its simulated one (the n-th of that signal of that task) and compare instants
    sim_at: dict[tuple, float] = {}
    counts: dict[tuple, int] = defaultdict(int)
    for entry in simulated:
        key = (entry["task"], entry["tag"], entry["signal"])
        sim_at[(*key, counts[key])] = entry["t"]
        counts[key] += 1
    counts.clear()
    gaps = []
    for entry in real:
        key = (entry["task"], entry["tag"], entry["signal"])
        predicted = sim_at[(*key, counts[key])]
        counts[key] += 1
        gaps.append((entry["t"] - predicted, key))
    worst = max(gaps, key=lambda gap: abs(gap[0]))
    print(f"worst gap {worst[0]:+.4f} s ({worst[1]}), {len(gaps)} signals")
    assert abs(worst[0]) <= TOLERANCE, f"real signal {worst[1]} came {worst[0]:+.3f} s from its simulated instant"
