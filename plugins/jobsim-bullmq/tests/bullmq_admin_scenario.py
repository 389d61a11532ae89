"""The live conformance scenario of the queue-wide admin calls, shared by the simulation and the real worker.

``produce`` adds (ids in brackets) plain jobs a [1] and b [2], priority-5 jobs p5 [3] and p5b [4], a priority-2 job
p2 [5], jobs delayed 60 s (d60 [6]) and 30 s (d30 [7]) and a job f [8] that fails its first processing; then it calls
``job.changePriority`` (4 -> 1, 3 -> 2 with ``lifo``, 2 -> 3 out of the wait list, a missing job),
``getCountsPerPriority``, ``clean(0, 1, "wait")`` (the oldest waiting job: 1), ``promoteJobs({"count": 1})`` (both
delayed jobs, in due order, in batches of one) and ``clean(0, 0, "delayed")`` (nothing left). The processors, once
each: d30 retries the failed jobs (``retryJobs``: f again), d60 tries ``obliterate()`` while itself active (refused,
but the queue is paused by then; it resumes it), p5b cleans every completed job, and b cleans the completed jobs
that finished 0.39 s or more before (p5b, 0.4 s before; p5 finished 0.2 s before) and retries the completed ones
(``retryJobs({"state": "completed"})``: p5 and p2 run again). ``finish`` (after the worker and the
``QueueEvents`` closed) obliterates the queue, adds a job and trims the new
stream (``trimEvents``). Each processing takes 0.2 s, one at a time; nothing depends on
timing closer than that.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bullmq_events import record_events

QUEUE = "jobsim-live-admin"
JOB_IDS = [str(n) for n in range(1, 9)]
WORK = 0.2

LOG: list[Any] = []  # [job name, attemptsMade] per processing
ADDS: list[Any] = []  # [label, what the admin call returned or raised]
EVENTS: list[Any] = []  # [event, payload] as QueueEvents emits them
QUEUES: list[Any] = []
DONE: set[str] = set()


def reset() -> None:
    for store in (LOG, ADDS, EVENTS, QUEUES, DONE):
        store.clear()


async def _try(label: str, call: Any) -> None:
    try:
        ADDS.append([label, await call])
    except Exception as error:  # what bullmq raises, by its message
        ADDS.append([label, f"{type(error).__name__}: {error}"])


async def process(job: Any, token: str) -> Any:
    LOG.append([job.name, job.attemptsMade])
    queue = QUEUES[0]
    first = job.name not in DONE
    DONE.add(job.name)
    if job.name == "f" and job.attemptsMade == 0:
        raise ValueError("f fails once")
    if job.name == "d30" and first:
        await _try("retryJobs failed", queue.retryJobs({"count": 1}))
    if job.name == "d60" and first:
        await _try("obliterate while active", queue.obliterate())
        ADDS.append(["paused after the refusal", await queue.isPaused()])
        await queue.resume()
    if job.name == "p5b" and first:
        await _try("clean completed", queue.clean(0, 0, "completed"))
    if job.name == "b" and first:  # p5b, p5 and p2 finished 0.4, 0.2 and 0 s ago
        await _try("clean completed, grace 0.39 s", queue.clean(390, 0, "completed"))
        await _try("retryJobs completed", queue.retryJobs({"state": "completed"}))
    await asyncio.sleep(WORK)
    return {"done": job.name}


def listen(events: Any) -> None:
    """Record what a QueueEvents emits (``bullmq_events.record_events``)."""
    names = ("added", "waiting", "delayed", "active", "completed", "failed", "retries-exhausted", "cleaned", "removed",
             "paused", "resumed", "drained")  # fmt: skip
    record_events(events, names, EVENTS)


async def produce(queue: Any) -> None:
    QUEUES.append(queue)
    jobs = {}
    for name, opts in (("a", {}), ("b", {}), ("p5", {"priority": 5}), ("p5b", {"priority": 5}), ("p2", {"priority": 2}),
                       ("d60", {"delay": 60_000}), ("d30", {"delay": 30_000}), ("f", {})):  # fmt: skip
        jobs[name] = await queue.add(name, {}, opts)
    await jobs["p5b"].changePriority({"priority": 1})
    await jobs["p5"].changePriority({"priority": 2, "lifo": True})
    await jobs["b"].changePriority({"priority": 3})
    gone = await queue.add("gone", {})
    await gone.remove()
    await _try("changePriority of a removed job", gone.changePriority({"priority": 1}))
    counts = await queue.getCountsPerPriority([5, 3, 2, 1, 0])
    ADDS.append(["getCountsPerPriority", dict(sorted(counts.items()))])
    await _try("clean wait, limit 1", queue.clean(0, 1, "wait"))
    await _try("promoteJobs", queue.promoteJobs({"count": 1}))
    await _try("clean delayed", queue.clean(0, 0, "delayed"))


async def finish(queue: Any) -> None:
    await queue.obliterate()
    ADDS.append(["counts after obliterate", await queue.getJobCounts()])
    ADDS.append(["paused after obliterate", await queue.isPaused()])
    ADDS.append(["add after obliterate", (await queue.add("again", {})).id])
    ADDS.append(["trimEvents(5) of 2 entries", await queue.trimEvents(5)])
    ADDS.append(["trimEvents(0)", await queue.trimEvents(0)])
