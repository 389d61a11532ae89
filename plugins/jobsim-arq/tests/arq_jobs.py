"""Job functions the tests (and the live worker) run: each appends (what, wall clock, ...) to LOG."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from arq import Retry
from arq.connections import RedisSettings

START = "2025-03-01T09:00:00Z"
LOG: list[tuple[Any, ...]] = []
NOWHERE = RedisSettings(host="127.0.0.1", port=1, conn_timeout=0.2)  # nothing listens: nothing may reach it


def clock() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


async def add(ctx: dict[str, Any], a: int, b: int) -> int:
    LOG.append(("add", clock(), ctx["job_try"]))
    return a + b


async def slow(ctx: dict[str, Any], seconds: float) -> str:
    LOG.append(("slow start", clock(), ctx["job_id"]))
    await asyncio.sleep(seconds)
    LOG.append(("slow end", clock(), ctx["job_id"]))
    return f"slept {seconds}"


async def boom(ctx: dict[str, Any]) -> None:
    LOG.append(("boom", clock(), ctx["job_try"]))
    raise ValueError("boom")


async def retried(ctx: dict[str, Any], defer: float | None = 5) -> str:
    LOG.append(("retried", clock(), ctx["job_try"]))
    if ctx["job_try"] < 3:
        raise Retry(defer=defer)
    return "third time"


async def always_retry(ctx: dict[str, Any]) -> None:
    LOG.append(("always_retry", clock(), ctx["job_try"]))
    raise Retry(defer=1)


async def spawn(ctx: dict[str, Any]) -> str:
    job = await ctx["redis"].enqueue_job("add", 1, 2, _defer_by=10)
    return job.job_id


async def tick(ctx: dict[str, Any]) -> None:
    LOG.append(("tick", clock(), ctx["job_id"]))


async def nightly(ctx: dict[str, Any]) -> None:
    await ctx["redis"].enqueue_job("retried", 30)


class CliSettings:
    """What ``jobsim run arq_jobs:CliSettings`` simulates (the CLI calls the class: an instance is accepted)."""

    from arq.cron import cron as _cron

    functions = (retried,)
    cron_jobs = (_cron(nightly, hour=2, minute=0),)
