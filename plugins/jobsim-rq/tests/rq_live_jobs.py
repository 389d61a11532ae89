"""Job functions for the live conformance test, importable by a real RQ worker (``tests/`` is on its PYTHONPATH).

Each attempt and each failure callback appends one JSON line: to the Redis list
``LOG_KEY`` when ``JOBSIM_LIVE_REDIS`` is set (the real worker), else to ``LOCAL``
(the simulation, where ``time.time()`` reads the virtual clock).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from rq import get_current_job

LOG_KEY = "jobsim-live-log"
LIVE_QUEUE = "jobsim-live"
LOCAL: list[dict[str, Any]] = []


def _log(entry: dict[str, Any]) -> None:
    url = os.environ.get("JOBSIM_LIVE_REDIS")
    if url is None:
        LOCAL.append(entry)
        return
    import redis

    redis.Redis.from_url(url).rpush(LOG_KEY, json.dumps(entry))


def always_fails(label: str) -> None:
    job = get_current_job()
    assert job is not None
    _log(
        {
            "kind": "attempt",
            "label": label,
            "t": time.time(),
            "status": str(job.get_status(refresh=False).value),
            "retries_left": job.retries_left,
        }
    )
    raise ValueError(f"{label} failed")


def on_failure(job: Any, connection: Any, typ: type, value: BaseException, tb: Any) -> None:
    _log(
        {
            "kind": "on_failure",
            "label": job.args[0],
            "t": time.time(),
            "error": f"{typ.__name__}: {value}",
            "retries_left": job.retries_left,
        }
    )


def asks_for_retry(label: str) -> Any:
    """Returns ``Retry`` (RQ >= 2.1): the other interval rule, ``Retry.get_interval``."""
    from rq import Retry

    job = get_current_job()
    assert job is not None
    _log({"kind": "attempt", "label": label, "t": time.time(), "number_of_retries": job.number_of_retries})
    return Retry(max=2, interval=[1, 2])


def sleeps(label: str, seconds: float) -> None:
    job = get_current_job()
    assert job is not None
    _log({"kind": "attempt", "label": label, "t": time.time(), "retries_left": job.retries_left})
    time.sleep(seconds)
    _log({"kind": "woke", "label": label, "t": time.time()})


async def async_sleeps(label: str, seconds: float) -> None:
    """An ``async def`` job: RQ runs it with ``asyncio.run`` (``rq/job.py:1540-1541``)."""
    import asyncio

    job = get_current_job()
    assert job is not None
    _log({"kind": "attempt", "label": label, "t": time.time(), "retries_left": job.retries_left})
    try:
        await asyncio.sleep(seconds)
        _log({"kind": "woke", "label": label, "t": time.time()})
    finally:
        _log({"kind": "finally", "label": label, "t": time.time()})


def on_stopped(job: Any, connection: Any) -> None:
    _log({"kind": "on_stopped", "label": job.args[0], "t": time.time(),
          "status": str(job.get_status(refresh=False).value)})  # fmt: skip


def pid_sleeps(label: str, seconds: float) -> str:
    """Like ``sleeps``, and says which process runs it (the work horse) and its parent (the worker), for a test
    that kills them."""
    job = get_current_job()
    assert job is not None
    _log({"kind": "attempt", "label": label, "t": time.time(), "retries_left": job.retries_left,
          "pid": os.getpid(), "ppid": os.getppid(), "worker": job.worker_name})  # fmt: skip
    time.sleep(seconds)
    _log({"kind": "woke", "label": label, "t": time.time()})
    return label


def fails_once(label: str) -> str:
    """Fails on its first execution, succeeds on any later one (remembered in ``job.meta``, so a requeued job,
    fetched again by the worker, knows)."""
    job = get_current_job()
    assert job is not None
    first = not job.meta.get("tried")
    job.meta["tried"] = True
    job.save_meta()
    _log({"kind": "attempt", "label": label, "t": time.time()})
    if first:
        raise ValueError(f"{label} failed once")
    return f"{label} ok"


def saves_meta(label: str) -> str:
    """Counts its executions in ``meta["saved"]`` (saved at once), then sets ``meta["unsaved"]`` without saving
    it; fails on its first execution. Logs the ``meta`` each execution starts with."""
    job = get_current_job()
    assert job is not None
    _log({"kind": "attempt", "label": label, "meta": dict(job.meta)})
    job.meta["saved"] = job.meta.get("saved", 0) + 1
    job.save_meta()
    job.meta["unsaved"] = job.meta["saved"]
    if job.meta["saved"] == 1:
        raise ValueError(f"{label} failed once")
    return label


def returns(label: str) -> str:
    _log({"kind": "attempt", "label": label, "t": time.time()})
    return f"{label} ok"
