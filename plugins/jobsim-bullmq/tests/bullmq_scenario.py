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
SPENT: list[float] = []  # the live test's replay: how much longer than predicted each processing took (``process``)
CALLS: list[dict[str, Any]] = []  # the job scheduler's upsert, then the watched worker's Redis calls (``watch``)
PRE_CALL: list[float] = []  # the live test's replay: the real worker's time before each call (``watch``)
WAKE: list[float] = []  # the live test's replay: how late each real call returned after its timeout (``watch``)
WATCHED = ("moveToActive", "moveToCompleted", "moveToFailed", "moveToDelayed", "retryJob", "waitForJob")


def fails(entry: dict[str, Any]) -> bool:
    """Whether the processing logged as ``entry`` failed (``flaky``'s first two attempts)."""
    return entry["name"] == "flaky" and entry["attempt"] < 2


async def process(job: Any, token: str) -> Any:
    """Logs the processing; ``flaky`` fails its first two attempts, the others take ``WORK``. With ``LATENCY`` (set
    only when the live test replays a real run's Redis round trips, which cost no virtual time), the gap before the
    n-th processing, ``LATENCY[n]``, is spent at the end of the one before when it succeeded (the real worker's next
    fetch comes after it; with ``BEFORE_FETCH`` false, at the start of the n-th, after its fetch), else at the start
    of the n-th (a failure is recorded, and its retry's due time taken, before the real worker's round trips). With
    ``SPENT``, the n-th takes ``SPENT[n]`` longer (before it fails: a retry's backoff counts from then)."""
    n = len(LOG)
    if n < len(LATENCY) and (n == 0 or fails(LOG[-1]) or not BEFORE_FETCH):
        await asyncio.sleep(LATENCY[n])
    LOG.append({"name": job.name, "attempt": job.attemptsMade, "t": time.time()})
    spent = SPENT[n] if n < len(SPENT) else 0.0
    if fails(LOG[-1]):
        if spent:
            await asyncio.sleep(spent)
        raise ValueError(f"flaky failed on attempt {job.attemptsMade + 1}")
    await asyncio.sleep(WORK + spent + (LATENCY[n + 1] if n + 1 < len(LATENCY) and BEFORE_FETCH else 0.0))
    return {"done": job.name}


async def produce(queue: Any) -> None:
    await queue.add("flaky", {}, {"attempts": 3, "backoff": {"type": "exponential", "delay": 250}})
    await queue.add("delayed", {}, {"delay": 1200})
    await queue.add("low", {}, {"priority": 5})
    await queue.add("high", {}, {"priority": 1})
    await queue.add("plain", {})
    CALLS.append({"call": "upsertJobScheduler", "t": time.time()})  # the scheduler's next job is due 2 s after it
    await queue.upsertJobScheduler("tick", {"every": 2000, "limit": 2}, "tick", {})


def watch(worker: Any) -> None:
    """Record the calls in ``WATCHED`` that ``worker``'s loop makes, one at a time, in ``CALLS``: ``t`` (sent; the
    client's timestamp of a fetch, or of a retry's backoff), ``done`` (returned; a wait cut by ``worker.close()``
    has none), ``job`` (whether a fetch returned one), a wait's ``timeout`` (s, as bullmq computed it) and
    ``marker`` (whether it popped one: else it timed out). With ``PRE_CALL`` and ``WAKE`` (set only when the live
    test replays a real run), the i-th call is delayed by ``PRE_CALL[i]`` (the real worker's time since what came
    before it; a wait's, before bullmq computes its timeout) and ``WAKE[i]`` is spent after it returned (how much
    later the real call returned than its timeout, or than at once: Redis's own latency)."""
    backend = worker.backend

    def watched(name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            i, entry = len(CALLS), {"call": name, "t": time.time()}
            CALLS.append(entry)
            if name == "waitForJob":
                entry["timeout"] = args[0]
            result = await getattr(type(backend), name)(backend, *args, **kwargs)
            entry["done"] = time.time()
            if name == "waitForJob":
                entry["marker"] = result is not None
            if name == "moveToActive":
                entry["job"] = bool(result and result[0])
            if i < len(WAKE):
                await asyncio.sleep(WAKE[i])
            return result

        return call

    def delayed(method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if len(CALLS) < len(PRE_CALL):
                await asyncio.sleep(PRE_CALL[len(CALLS)])
            return await method(*args, **kwargs)

        return call

    for name in WATCHED:
        setattr(backend, name, delayed(watched(name)))
    worker.waitForJob = delayed(lambda: type(worker).waitForJob(worker))  # before bullmq computes the timeout
    backend.waitForJob = watched("waitForJob")
