"""The live conformance scenario, shared by the simulation and the real worker (``bullmq_live_worker.py``).

``produce`` adds: a job failing twice (``attempts: 3``, exponential backoff of 250 ms), a job delayed 1.2 s,
two prioritized jobs (priority 5 and 1), a plain one, and a job scheduler every 2 s limited to 2 jobs.
Each processing appends ``{"name", "attempt", "t"}`` to ``LOG`` (``t``: ``time.time()``, virtual in the
simulation); successful jobs take 100 ms (``asyncio.sleep``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

QUEUE = "jobsim-live"
LOG: list[dict[str, Any]] = []
WORK = 0.1  # seconds a successful job takes
LATENCY: list[float] = []  # the live test's measured real latencies (see ``process``); empty: none
BEFORE_FETCH = True  # where ``process`` spends a gap after a success: before the next fetch, or after it


def fails(entry: dict[str, Any]) -> bool:
    """Whether the processing logged as ``entry`` failed (``flaky``'s first two attempts)."""
    return entry["name"] == "flaky" and entry["attempt"] < 2


async def process(job: Any, token: str) -> Any:
    """Logs the processing; ``flaky`` fails its first two attempts, the others take ``WORK``. With ``LATENCY`` (set
    only when the live test replays a real run's Redis round trips, which cost no virtual time), the gap before the
    n-th processing, ``LATENCY[n]``, is spent at the end of the one before when it succeeded (the real worker's next
    fetch comes after it; with ``BEFORE_FETCH`` false, at the start of the n-th, after its fetch), else at the start
    of the n-th (a failure is recorded, and its retry's due time taken, before the real worker's round trips)."""
    n = len(LOG)
    if n < len(LATENCY) and (n == 0 or fails(LOG[-1]) or not BEFORE_FETCH):
        await asyncio.sleep(LATENCY[n])
    LOG.append({"name": job.name, "attempt": job.attemptsMade, "t": time.time()})
    if fails(LOG[-1]):
        raise ValueError(f"flaky failed on attempt {job.attemptsMade + 1}")
    await asyncio.sleep(WORK + (LATENCY[n + 1] if n + 1 < len(LATENCY) and BEFORE_FETCH else 0.0))
    return {"done": job.name}


async def produce(queue: Any) -> None:
    await queue.add("flaky", {}, {"attempts": 3, "backoff": {"type": "exponential", "delay": 250}})
    await queue.add("delayed", {}, {"delay": 1200})
    await queue.add("low", {}, {"priority": 5})
    await queue.add("high", {}, {"priority": 1})
    await queue.add("plain", {})
    await queue.upsertJobScheduler("tick", {"every": 2000, "limit": 2}, "tick", {})
