"""The actors of the live conformance test, declared on the broker of the process that imports them.

In the worker subprocess (``JOBSIM_LIVE_REDIS`` set) the broker is a ``RedisBroker`` on that server
and each actor logs to a Redis list; in the test process the broker is a ``RedisBroker`` pointing
nowhere, which only the simulation uses, and actors log to ``LOCAL``. Each log entry carries
``time.time()``: the real clock in the worker, the virtual one in the simulation.
"""

from __future__ import annotations

import json
import os
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
    TimeLimitExceeded,
)

LIVE = os.environ.get("JOBSIM_LIVE_REDIS")
LOG_KEY = "jobsim-live-log"
WORKER_TIMEOUT = 100  # ms: how long an idle consumer may sleep between polls (Worker(worker_timeout=...))
TIME_LIMIT_INTERVAL = 50  # ms: how often TimeLimit's thread checks deadlines (TimeLimit(interval=...))
SLEEP_CHUNK = 0.02  # s: the time-limited actor sleeps in chunks: the async exception lands after a chunk ends

HEARTBEAT_TIMEOUT = 3000  # ms: a worker silent that long is dead to the others' maintenance
MAINTENANCE = {"heartbeat_timeout": HEARTBEAT_TIMEOUT, "maintenance_chance": 1_000_000}  # maintenance on each command

LOCAL: list[dict] = []
broker = RedisBroker(url=LIVE, **MAINTENANCE) if LIVE else RedisBroker(host="127.0.0.1", port=1, **MAINTENANCE)
broker.middleware.clear()  # Dramatiq's defaults, with a TimeLimit that checks every 50 ms, plus CurrentMessage
for middleware in (AgeLimit(), TimeLimit(interval=TIME_LIMIT_INTERVAL), ShutdownNotifications(), Callbacks(),
                   Pipelines(), Retries(), CurrentMessage()):  # fmt: skip
    broker.add_middleware(middleware)
dramatiq.set_broker(broker)


def log(**entry: object) -> None:
    entry["t"] = time.time()
    if LIVE:
        broker.client.rpush(LOG_KEY, json.dumps(entry))
    else:
        LOCAL.append(entry)


def retries() -> int:
    message = CurrentMessage.get_current_message()
    assert message is not None
    return int(message.options.get("retries", 0))


@dramatiq.actor(max_retries=3, min_backoff=200, max_backoff=1000)
def flaky(tag: str) -> str:
    """Fails its first two attempts, then succeeds."""
    n = retries()
    log(event="flaky", tag=tag, retries=n)
    if n < 2:
        raise ConnectionError(f"attempt {n} of {tag} fails")
    return tag


@dramatiq.actor
def delayed(tag: str) -> None:
    log(event="delayed", tag=tag)


@dramatiq.actor(time_limit=300, max_retries=0, on_failure="failed")
def limited(tag: str) -> None:
    """Works in small chunks for 2 s, far past its 300 ms time limit."""
    log(event="limited", tag=tag)
    try:
        for _ in range(100):
            time.sleep(SLEEP_CHUNK)
    except TimeLimitExceeded:
        log(event="time limit", tag=tag)
        raise


CRASHY = 1.0  # s: how long crashy works (was 2 s; the test kills its worker 0.3 s in)


@dramatiq.actor(max_retries=3)
def crashy(tag: str) -> None:
    """Works for ``CRASHY`` seconds in small chunks; the crash test kills its worker process part-way."""
    log(event="crashy", tag=tag, retries=retries(), pid=os.getpid())
    for _ in range(round(CRASHY / SLEEP_CHUNK)):
        time.sleep(SLEEP_CHUNK)
    log(event="crashy done", tag=tag, retries=retries())


@dramatiq.actor
def failed(message: dict, exception: dict) -> None:
    """The on_failure callback: gets the failed message and its exception's type and text."""
    log(event="failed", tag=message["args"][0], type=exception["type"])
