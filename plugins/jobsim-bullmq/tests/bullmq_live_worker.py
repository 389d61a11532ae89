"""``python bullmq_live_worker.py REDIS_URL SECONDS``: the scenario on a real bullmq Worker and Redis.

Empties the queue, runs ``produce``, then starts a real ``Worker`` (concurrency 1, bullmq's defaults)
and lets it run for SECONDS; prints ``t0`` (the worker's start) and the processor's log as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import bullmq_scenario as scenario
from bullmq import Queue, Worker


async def main(url: str, seconds: float) -> None:
    queue = Queue(scenario.QUEUE, {"connection": url})
    await queue.obliterate(force=True)
    await scenario.produce(queue)
    t0 = time.time()
    worker = Worker(scenario.QUEUE, scenario.process, {"connection": url})
    await asyncio.sleep(seconds)
    await worker.close()
    states = {job_id: await queue.getJobState(job_id) for job_id in ("1", "2", "3", "4", "5")}
    await queue.close()
    print(json.dumps({"t0": t0, "log": scenario.LOG, "states": states}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
