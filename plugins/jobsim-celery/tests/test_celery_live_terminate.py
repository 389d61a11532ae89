"""Live conformance of ``revoke(terminate=True)``: a real prefork worker and Redis against the simulation.

``live.export`` (``acks_late=True, reject_on_worker_lost=True``) logs ``fetch``,
sleeps 0.5 s, logs ``render``, sleeps 4 s, logs ``upload``. It is revoked with
``terminate=True`` 1.5 s after it starts. Both the worker and the simulation must
show: ``fetch`` and ``render`` but no ``upload``; state REVOKED with
``TaskRevokedError('terminated')``; ``task_revoked(terminated=True, signum=15,
expired=False)``; and the message acknowledged (nothing left in kombu's ``unacked``
hash), so it is never redelivered in spite of ``acks_late``.
"""

from __future__ import annotations

import json
import time

import celery_live_app
import pytest
from celery.exceptions import TaskRevokedError
from celery_live_wait import process_gone, wait_until

import jobsim

pytestmark = pytest.mark.live

KILL_AFTER = 1.5


def summary(log: list[dict], result) -> dict:
    return {
        "steps": [e["label"] for e in log if e["task"] == "live.export"],
        "signal": [(e["terminated"], e["signum"], e["expired"]) for e in log if e["task"] == "signal"],
        "state": result.state,
        "result": (type(result.result).__name__, str(result.result)),
    }


def test_revoke_terminate_on_a_real_prefork_worker_matches_the_simulation(redis_url, celery_prefork_worker):
    import redis

    log: list[dict] = []
    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=log.append)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        result = app.tasks["live.export"].delay("x")
        sim.celery.revoke(result, at=f"2025-03-01T00:00:0{KILL_AFTER}Z", terminate=True)
        sim.run_until_idle()
        predicted = summary(log, result)
        assert isinstance(result.result, TaskRevokedError)
    assert predicted == {"steps": ["x:fetch", "x:render"], "signal": [(True, 15, False)], "state": "REVOKED",
                         "result": ("TaskRevokedError", "terminated")}  # fmt: skip

    client = redis.Redis.from_url(redis_url)
    real_app = celery_live_app.make_app(redis_url)
    real = real_app.tasks["live.export"].delay("x")
    deadline = time.monotonic() + 20
    while not client.llen(celery_live_app.LOG_KEY) and time.monotonic() < deadline:
        celery_prefork_worker.check()
        time.sleep(0.02)
    time.sleep(KILL_AFTER)
    real_app.control.revoke(real.id, terminate=True)
    deadline = time.monotonic() + 10
    while real.state != "REVOKED" and time.monotonic() < deadline:
        time.sleep(0.05)
    # no "upload" can come once the pool process running the task has ended (polled; was a fixed 4.5 s wait,
    # past the moment "upload" would have been logged)
    pid = json.loads(client.lindex(celery_live_app.LOG_KEY, 0))["pid"]
    wait_until("the terminated pool process to end", lambda: process_gone(pid), celery_prefork_worker)
    entries = len(predicted["steps"]) + len(predicted["signal"])
    wait_until(f"{entries} log entries", lambda: client.llen(celery_live_app.LOG_KEY) >= entries, celery_prefork_worker)
    wait_until("the ack", lambda: client.hlen("unacked") == 0, celery_prefork_worker)
    time.sleep(0.3)  # nothing more should arrive
    observed = summary([json.loads(raw) for raw in client.lrange(celery_live_app.LOG_KEY, 0, -1)], real)
    print("observed", observed)
    assert observed == predicted
    assert client.hlen("unacked") == 0  # acknowledged: no redelivery after the visibility timeout
