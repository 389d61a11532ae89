"""Live conformance of the visibility timeout: a long countdown held by a real worker on a real Redis comes back.

The worker runs with ``visibility_timeout=4``, ``unacked_restore_interval=1`` and
``unacked_restore_throttle=1`` (``celery_live_app.VT_TRANSPORT``): kombu scans its unacknowledged index
every second and restores what was fetched 4 s or more ago. ``live.remind`` is sent with
``countdown=11``. The simulation predicts copies received at 0, 5 and 10 s (the first scan
strictly after each fetch + 4 s, its scans aligned with the send) and three executions at 11 s.
The real worker's scans fall anywhere in each second, so a copy comes 4 to 5 s after the one
before it: checked are the number of receptions and executions, the ``redelivered`` flags, each
reception within that window of the previous one, and every execution at the ETA.
"""

from __future__ import annotations

import itertools
import json
import time

import celery_live_app
import pytest
from celery_live_app import VT_TRANSPORT
from celery_live_wait import wait_until

import jobsim

pytestmark = pytest.mark.live

COUNTDOWN = 11
TOLERANCE = 0.5  # seconds


def timeline(log: list[dict], sent: float) -> tuple[list[tuple[float, bool]], list[float]]:
    received = [(e["t"] - sent, e["redelivered"]) for e in log if e["task"] == "received"]
    ran = [e["t"] - sent for e in log if e["task"] == "live.remind"]
    return received, ran


def test_a_real_worker_runs_a_countdown_once_per_copy_as_the_simulation_predicts(redis_url, celery_vt_worker):
    import redis

    log: list[dict] = []
    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=log.append, transport=VT_TRANSPORT)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        app.tasks["live.remind"].apply_async(("r",), countdown=COUNTDOWN)
        sim.run_until_idle()
        sent = sim.trace.records[0].at / 1e9
    received, ran = timeline(log, sent)
    assert received == [(0, False), (5, True), (10, True)]
    assert ran == [COUNTDOWN] * 3

    client = redis.Redis.from_url(redis_url)
    app = celery_live_app.make_app(redis_url, transport=VT_TRANSPORT)
    sent = time.time()
    app.tasks["live.remind"].apply_async(("r",), countdown=COUNTDOWN)

    def entries() -> list[dict]:
        return [json.loads(raw) for raw in client.lrange(celery_live_app.LOG_KEY, 0, -1)]

    wait_until("three executions", lambda: sum(e["task"] == "live.remind" for e in entries()) >= 3,
               celery_vt_worker, seconds=COUNTDOWN + 10)  # fmt: skip
    time.sleep(1.5)  # no fourth copy, no fourth run
    real_received, real_ran = timeline(entries(), sent)
    print("observed", real_received, real_ran)
    assert [flag for _, flag in real_received] == [flag for _, flag in received]
    assert real_received[0][0] <= TOLERANCE
    for (before, _), (after, _) in itertools.pairwise(real_received):
        assert 4 <= after - before <= 5 + TOLERANCE, real_received
    assert len(real_ran) == len(ran) == 3
    assert all(abs(at - COUNTDOWN) <= TOLERANCE for at in real_ran), real_ran
    assert client.hlen("unacked") == 0  # acknowledged: nothing left to restore
