"""The live conformance scenario: the same jobs, enqueues and cron job run by a real arq Worker against a real
Redis and by the simulation; each function appends (name, job id, job_try, time.time()) to SEEN."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from arq import Retry
from arq.cron import cron
from arq.worker import func

SEEN: list[tuple[str, str, int, float]] = []


def note(ctx: dict[str, Any], name: str) -> None:
    SEEN.append((name, ctx["job_id"], ctx["job_try"], time.time()))


async def add(ctx: dict[str, Any], a: int, b: int) -> int:
    note(ctx, "add")
    return a + b


async def retried(ctx: dict[str, Any]) -> str:
    note(ctx, "retried")
    if ctx["job_try"] < 3:  # due 0.75 s, then 1.25 s, after a start at a poll: halfway between two polls
        raise Retry(defer=0.25 + ctx["job_try"] * 0.5)
    return "third time"


async def slow(ctx: dict[str, Any], seconds: float) -> str:
    note(ctx, "slow")
    await asyncio.sleep(seconds)
    note(ctx, "slow done")
    return "done"


async def boom(ctx: dict[str, Any]) -> None:
    note(ctx, "boom")
    raise ValueError("boom")


async def tick(ctx: dict[str, Any]) -> None:
    note(ctx, "tick")


FUNCTIONS = [add, retried, slow, boom, func(slow, name="capped", timeout=0.7)]
CRON = [cron(tick, second=set(range(0, 60, 2)), microsecond=0)]


async def startup(ctx: dict[str, Any]) -> None:
    """The worker polls for the first time right after this returns (``worker.py:362-366``)."""
    STARTED.append(time.time())


STARTED: list[float] = []


def _at(base: float, seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(base + seconds, dt.timezone.utc)


# max_jobs leaves every job a slot: with fewer, how many jobs one real poll claims depends on Redis latency (a job
# that ends while start_jobs still awaits Redis frees its slot for the same poll); the simulation's Redis answers
# at once, so a poll's batch is claimed before any of its jobs runs (test_arq_worker.py pins max_jobs there)
OPTIONS: dict[str, Any] = {"poll_delay": 0.5, "max_jobs": 10, "keep_result": 60, "on_startup": startup}


async def enqueue(pool: Any, base: float) -> None:
    """What the test enqueues at t0: jobs for every rule the comparison checks. Ids sort in enqueue order: a real
    client may enqueue several in one millisecond, and Redis orders equal scores by member. The worker's first poll
    comes delta = 5-200 ms after t0 and it polls every 0.5 s from there, a real poll only ever late: each due
    instant (1.45, 2.95, 3.45 s after t0) lies 0.45 s - delta after the poll before it, so a real poll must be
    0.25 s late or more to take a job the simulated one leaves for the next poll (the retries' defers, 0.75 s and
    1.25 s after a start at a poll, lie halfway between two polls: 0.25 s either way)."""
    await pool.enqueue_job("add", 1, 2, _job_id="a-add")
    await pool.enqueue_job("retried", _job_id="b-retried")
    await pool.enqueue_job("slow", 1.2, _job_id="c-slow")
    await pool.enqueue_job("add", 3, 4, _job_id="d-deferred", _defer_until=_at(base, 1.45))
    await pool.enqueue_job("capped", 5, _job_id="e-capped")
    await pool.enqueue_job("boom", _job_id="f-boom")
    await pool.enqueue_job("slow", 0.2, _job_id="g-late", _defer_until=_at(base, 2.95))
    await pool.enqueue_job("add", 0, 0, _job_id="h-expired", _defer_until=_at(base, 3.45), _expires=2)


IDS = ["a-add", "b-retried", "c-slow", "d-deferred", "e-capped", "f-boom", "g-late", "h-expired"]
