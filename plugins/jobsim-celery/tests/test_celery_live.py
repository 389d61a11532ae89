"""Live conformance: the same scenario on a real Celery worker with a real Redis, against the simulation's prediction.

Run with the rest of the suite (marker ``live``); skipped, with the reason, when
``redis-server`` or the ``redis`` client is not installed. The worker is
``celery worker --pool=solo`` in a subprocess; Redis is started on a free loopback
port and stopped by pid (fixtures in ``conftest.py``).

Checked: every task runs as many times as predicted, with the same
``request.retries`` sequence, in the predicted order (for events predicted at
least ``ORDER_GAP`` apart), and each execution happens ``TOLERANCE`` seconds or
less from its predicted offset after the first execution. Jitter is off in this
scenario: the real worker draws from an unseeded generator.
"""

from __future__ import annotations

import json
import time

import celery_live_app
import pytest

import jobsim

pytestmark = pytest.mark.live

TOLERANCE = 0.5  # seconds, per execution, relative to the first execution
ORDER_GAP = 0.5  # events predicted this far apart must happen in that order
EXPECTED = 8


def predicted() -> list[dict]:
    log: list[dict] = []
    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=log.append)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        celery_live_app.scenario(app)
        sim.run_until_idle()
    return log


def observed(redis_url: str, celery_worker) -> list[dict]:
    import redis

    client = redis.Redis.from_url(redis_url)
    app = celery_live_app.make_app(redis_url)
    celery_live_app.scenario(app)
    deadline = time.monotonic() + 30
    while client.llen(celery_live_app.LOG_KEY) < EXPECTED and time.monotonic() < deadline:
        celery_worker.check()
        time.sleep(0.05)
    time.sleep(0.5)  # nothing more should arrive
    return [json.loads(raw) for raw in client.lrange(celery_live_app.LOG_KEY, 0, -1)]


def relative(log: list[dict]) -> list[tuple[str, int, float]]:
    t0 = min(entry["t"] for entry in log)
    return sorted(((e["label"], e["retries"], round(e["t"] - t0, 3)) for e in log), key=lambda x: (x[2], x[0]))


def test_the_real_worker_does_what_the_simulation_predicts(redis_url, celery_worker):
    expected = relative(predicted())
    assert [(label, retries) for label, retries, _ in expected] == [
        ("a", 0), ("c", 0), ("d", 0), ("a", 1), ("b", 0), ("e", 0), ("c", 1), ("a", 2)]
    assert [at for *_, at in expected] == [0, 0, 0, 1, 1, 1, 1.5, 3]
    real = relative(observed(redis_url, celery_worker))
    print("observed", real)
    assert sorted((label, retries) for label, retries, _ in real) == sorted((label, r) for label, r, _ in expected)
    when = {(label, retries): at for label, retries, at in real}
    for label, retries, at in expected:
        assert abs(when[label, retries] - at) <= TOLERANCE, (label, retries, at, when[label, retries], real)
    for first in expected:
        for second in expected:
            if second[2] - first[2] >= ORDER_GAP:
                assert when[first[:2]] < when[second[:2]], (first, second, real)
