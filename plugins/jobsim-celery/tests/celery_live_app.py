"""The Celery app of the live conformance suite, shared by the real worker and the simulation.

The real worker imports it (``celery -A celery_live_app worker``) with
``JOBSIM_LIVE_REDIS`` pointing at the test's Redis; each task execution is logged
to a Redis list with ``time.time()``. In the simulation the same tasks log to a
Python list, and ``time.time()`` reads virtual time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, chain, signals
from celery.exceptions import SoftTimeLimitExceeded

LOG_KEY = "jobsim:live:log"
VT_TRANSPORT = {"visibility_timeout": 4, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}


def make_app(url: str, sink: Callable[[dict[str, Any]], None] | None = None,
             transport: dict[str, Any] | None = None) -> Celery:  # fmt: skip
    app = Celery("live", broker=url, backend=url, set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True, worker_prefetch_multiplier=1, task_acks_late=False,
                    broker_connection_retry_on_startup=True)  # fmt: skip
    if transport:  # the worker's: JOBSIM_LIVE_TRANSPORT (test_celery_live_visibility.py)
        app.conf.broker_transport_options = transport
    log = sink or _redis_sink(url)

    def record(task: Any, label: str) -> None:
        log({"task": task.name, "label": label, "retries": task.request.retries, "t": time.time(), "pid": os.getpid()})

    @app.task(name="live.flaky", bind=True, autoretry_for=(OSError,), retry_backoff=1, retry_jitter=False,
              max_retries=3, shared=False)  # fmt: skip
    def flaky(self: Any, label: str) -> str:
        record(self, label)
        if self.request.retries < 2:
            raise OSError("flaky")
        return label

    @app.task(name="live.explicit", bind=True, max_retries=2, shared=False)
    def explicit(self: Any, label: str) -> str:
        record(self, label)
        if self.request.retries == 0:
            raise self.retry(countdown=1.5, exc=RuntimeError("once"))
        return label

    @app.task(name="live.ping", bind=True, shared=False)
    def ping(self: Any, label: str) -> str:
        record(self, label)
        return label

    @app.task(name="live.export", bind=True, acks_late=True, reject_on_worker_lost=True, shared=False)
    def export(self: Any, label: str) -> str:
        record(self, label + ":fetch")
        time.sleep(0.5)
        record(self, label + ":render")
        time.sleep(4)
        record(self, label + ":upload")
        return label

    @app.task(name="live.limited", bind=True, soft_time_limit=1, time_limit=2, shared=False)
    def limited(self: Any, label: str) -> str:
        record(self, label + ":start")
        try:
            time.sleep(3)
        except SoftTimeLimitExceeded:
            record(self, label + ":soft")
            time.sleep(3)  # killed 1 s in, at the hard limit
        record(self, label + ":end")
        return label

    @app.task(name="live.nap", bind=True, shared=False)
    def nap(self: Any, label: str, seconds: float) -> str:
        record(self, label + ":start")
        time.sleep(seconds)
        record(self, label + ":end")
        return label

    @app.task(name="live.remind", bind=True, shared=False)
    def remind(self: Any, label: str) -> str:
        record(self, label)
        return label

    def received(sender: Any = None, request: Any = None, **_: Any) -> None:
        if request is not None and request.name == "live.remind" and request.task.app is app:
            log({"task": "received", "label": request.id, "retries": 0, "t": time.time(),
                 "redelivered": bool(request.delivery_info.get("redelivered"))})  # fmt: skip

    signals.task_received.connect(received, weak=False)

    @app.task(name="live.quiet", bind=True, ignore_result=True, shared=False)
    def quiet(self: Any, label: str) -> str:
        record(self, label)
        return label

    @app.task(name="live.gather", bind=True, shared=False)
    def gather(self: Any, labels: list[str]) -> list[str]:
        record(self, "+".join(labels))
        return labels

    def failed(sender: Any = None, exception: Any = None, **_: Any) -> None:
        if getattr(sender, "name", None) == "live.limited" and sender.app is app:
            log({"task": "failure", "label": type(exception).__name__, "retries": 0, "t": time.time()})

    signals.task_failure.connect(failed, weak=False)

    def revoked(sender: Any = None, request: Any = None, terminated: Any = None, signum: Any = None,
                expired: Any = None, **_: Any) -> None:  # fmt: skip
        if getattr(sender, "name", None) == "live.export" and sender.app is app:  # each app logs its own
            log({"task": "signal", "label": "task_revoked", "retries": 0, "t": time.time(),
                 "terminated": terminated, "signum": int(signum) if signum else signum, "expired": expired})

    signals.task_revoked.connect(revoked, weak=False)
    return app


def scenario(app: Celery) -> None:
    """The calls the test makes, identical for the real worker and the simulation."""
    t = app.tasks
    t["live.flaky"].delay("a")  # fails twice: retry_backoff=1 -> +1 s, +2 s
    t["live.ping"].apply_async(("b",), countdown=1)
    t["live.explicit"].delay("c")  # self.retry(countdown=1.5) once
    chain(t["live.ping"].si("d"), t["live.ping"].si("e").set(countdown=1)).apply_async()


def _redis_sink(url: str) -> Callable[[dict[str, Any]], None]:
    client: Any = None

    def sink(entry: dict[str, Any]) -> None:
        nonlocal client
        if client is None:
            import redis

            client = redis.Redis.from_url(url)
        client.rpush(LOG_KEY, json.dumps(entry))

    return sink


app = make_app(os.environ.get("JOBSIM_LIVE_REDIS", "redis://127.0.0.1:6379/0"),
               transport=json.loads(os.environ.get("JOBSIM_LIVE_TRANSPORT", "null")))  # fmt: skip
