"""Live conformance of time limits: a real prefork worker and Redis against the simulation.

``live.limited`` (``soft_time_limit=1, time_limit=2``) logs ``start`` and sleeps 3 s;
``SoftTimeLimitExceeded`` interrupts the sleep 1 s in, the handler logs ``soft`` and
sleeps 3 s more, and the pool process is killed at the hard limit, 2 s in: ``end`` is
never logged, the state is FAILURE with ``TimeLimitExceeded(2)``, and ``task_failure``
is sent twice (billiard's ``on_hard_timeout`` calls ``Request.on_failure``, then
``Request.on_timeout(soft=False)`` sends it again).
"""

from __future__ import annotations

import json
import time

import celery_live_app
import pytest
from celery_live_wait import process_gone, wait_until

import jobsim

pytestmark = pytest.mark.live


def summary(log: list[dict], result) -> dict:
    start = next(e["t"] for e in log if e["label"] == "x:start")
    return {
        "log": [(e["task"], e["label"], round(e["t"] - start)) for e in log
                if e["task"] in ("live.limited", "failure")],
        "state": result.state,
        "result": repr(result.result),
    }


def test_time_limits_on_a_real_prefork_worker_match_the_simulation(redis_url, celery_prefork_worker):
    import redis

    log: list[dict] = []
    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=log.append)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        result = app.tasks["live.limited"].delay("x")
        sim.run_until_idle()
        predicted = summary(log, result)
        assert sim.runs("live.limited")[0].finished_at.isoformat() == "2025-03-01T00:00:02+00:00"
    assert predicted == {
        "log": [("live.limited", "x:start", 0), ("live.limited", "x:soft", 1), ("failure", "TimeLimitExceeded", 2),
                ("failure", "TimeLimitExceeded", 2)],
        "state": "FAILURE", "result": "TimeLimitExceeded(2)",
    }  # fmt: skip

    client = redis.Redis.from_url(redis_url)
    real_app = celery_live_app.make_app(redis_url)
    real = real_app.tasks["live.limited"].delay("x")
    deadline = time.monotonic() + 20
    while real.state != "FAILURE" and time.monotonic() < deadline:
        celery_prefork_worker.check()
        time.sleep(0.05)
    # no "end" can come once the pool process killed at the hard limit has ended (polled; was a fixed 2.5 s wait)
    pid = json.loads(client.lindex(celery_live_app.LOG_KEY, 0))["pid"]
    wait_until("the killed pool process to end", lambda: process_gone(pid), celery_prefork_worker)
    entries = len(predicted["log"])
    wait_until(f"{entries} log entries", lambda: client.llen(celery_live_app.LOG_KEY) >= entries, celery_prefork_worker)
    time.sleep(0.3)  # nothing more should arrive
    observed = summary([json.loads(raw) for raw in client.lrange(celery_live_app.LOG_KEY, 0, -1)], real)
    print("observed", observed)
    assert observed == predicted
