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


async def process(job: Any, token: str) -> Any:
    """Logs the processing; ``flaky`` fails its first two attempts, the others take ``WORK``. With ``LATENCY`` (set
    only when the live test replays a real run's Redis round trips, which cost no virtual time), the first processing
    starts ``LATENCY[0]`` s late and the n-th ends ``LATENCY[n + 1]`` s later (the real gap before the next one)."""
    n = len(LOG)
    if n == 0 and LATENCY:
        await asyncio.sleep(LATENCY[0])
    LOG.append({"name": job.name, "attempt": job.attemptsMade, "t": time.time()})
    after = LATENCY[n + 1] if n + 1 < len(LATENCY) else 0.0
    if job.name == "flaky" and job.attemptsMade < 2:
        if after:
            await asyncio.sleep(after)
        raise ValueError(f"flaky failed on attempt {job.attemptsMade + 1}")
    await asyncio.sleep(WORK + after)
    return {"done": job.name}


async def produce(queue: Any) -> None:
    await queue.add("flaky", {}, {"attempts": 3, "backoff": {"type": "exponential", "delay": 250}})
    await queue.add("delayed", {}, {"delay": 1200})
    await queue.add("low", {}, {"priority": 5})
    await queue.add("high", {}, {"priority": 1})
    await queue.add("plain", {})
    await queue.upsertJobScheduler("tick", {"every": 2000, "limit": 2}, "tick", {})
