"""``python bullmq_live_worker.py REDIS_URL SECONDS [SCENARIO]``: a scenario on a real bullmq Worker and Redis.

Empties the queue, starts a QueueEvents reading its stream from the start if the scenario ``listen``s, runs
``produce``, then starts a real ``Worker`` (concurrency 1, bullmq's defaults) and lets it run for SECONDS; reads the
final states, closes the QueueEvents, runs the scenario's ``finish`` if it has one; prints ``t0`` (the worker's
start), the processor's log, the final states (and the scenario's ``ADDS``, ``EVENTS`` and, where it ``watch``es
the worker, its ``CALLS``) as JSON. SCENARIO is a module name, ``bullmq_scenario`` by default.

SECONDS ``settled`` runs the worker until no job is left to run (no job waiting, active, delayed, prioritized,
paused or waiting for children) instead, for at most ``DEADLINE`` s, so a loaded machine makes the run longer, not
shorter than the scenario; and a scenario with ``EVENT_NAMES`` is read until its QueueEvents has emitted every entry
of those events in the stream (at most ``DEADLINE`` s), instead of for 0.2 s. Past a deadline it prints what it has:
the caller's comparison then fails on what is missing.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time

from bullmq import Queue, QueueEvents, Worker

DEADLINE = 30.0  # s
UNFINISHED = ("waiting", "active", "delayed", "prioritized", "paused", "waiting-children")


async def settled(queue: Queue) -> None:
    """Until no job of the queue is left to run (or ``DEADLINE``)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        counts = await queue.getJobCounts(*UNFINISHED)
        if not any(counts.values()):
            return
        await asyncio.sleep(0.05)


async def caught_up(queue: Queue, names: tuple[str, ...], recorded: list) -> None:
    """Until the scenario recorded one event per entry of ``names`` in the queue's events stream (or ``DEADLINE``)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        entries = await queue.client.xrange(queue.keys["events"])
        if len(recorded) >= sum(1 for _, fields in entries if fields.get("event") in names):
            return
        await asyncio.sleep(0.05)


async def main(url: str, seconds: str, name: str) -> None:
    scenario = importlib.import_module(name)
    queue = Queue(scenario.QUEUE, {"connection": url})
    await queue.obliterate(force=True)
    events = None
    if hasattr(scenario, "listen"):
        events = QueueEvents(scenario.QUEUE, {"connection": url, "lastEventId": "0"})
        scenario.listen(events)
    await scenario.produce(queue)
    t0 = time.time()
    worker = Worker(scenario.QUEUE, scenario.process, {"connection": url})
    if hasattr(scenario, "watch"):
        scenario.watch(worker)
    if seconds == "settled":
        await settled(queue)
    else:
        await asyncio.sleep(float(seconds))
    await worker.close()
    states = {job_id: await queue.getJobState(job_id) for job_id in getattr(scenario, "JOB_IDS", "12345")}
    if events is not None:
        if hasattr(scenario, "EVENT_NAMES"):
            await caught_up(queue, scenario.EVENT_NAMES, scenario.EVENTS)
        else:
            await asyncio.sleep(0.2)  # the last entries reach the XREAD
        await events.close()
    if hasattr(scenario, "finish"):
        await scenario.finish(queue)
    await queue.close()
    extra = {name.lower(): getattr(scenario, name, None) for name in ("ADDS", "EVENTS", "CALLS")}
    print(json.dumps({"t0": t0, "log": scenario.LOG, "states": states, **extra}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "bullmq_scenario"))
