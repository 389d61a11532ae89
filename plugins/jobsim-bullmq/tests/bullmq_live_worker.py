"""``python bullmq_live_worker.py REDIS_URL SECONDS [SCENARIO]``: a scenario on a real bullmq Worker and Redis.

Empties the queue, starts a QueueEvents reading its stream from the start if the scenario ``listen``s, runs
``produce``, then starts a real ``Worker`` (concurrency 1, bullmq's defaults) and lets it run for SECONDS; reads the
final states, closes the QueueEvents, runs the scenario's ``finish`` if it has one; prints ``t0`` (the worker's
start), the processor's log, the final states (and the scenario's ``ADDS`` and ``EVENTS``) as JSON. SCENARIO is
a module name, ``bullmq_scenario`` by default.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time

from bullmq import Queue, QueueEvents, Worker


async def main(url: str, seconds: float, name: str) -> None:
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
    await asyncio.sleep(seconds)
    await worker.close()
    states = {job_id: await queue.getJobState(job_id) for job_id in getattr(scenario, "JOB_IDS", "12345")}
    if events is not None:
        await asyncio.sleep(0.2)  # the last entries reach the XREAD
        await events.close()
    if hasattr(scenario, "finish"):
        await scenario.finish(queue)
    await queue.close()
    print(json.dumps({"t0": t0, "log": scenario.LOG, "states": states, "adds": getattr(scenario, "ADDS", None),
                      "events": getattr(scenario, "EVENTS", None)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "bullmq_scenario"))
